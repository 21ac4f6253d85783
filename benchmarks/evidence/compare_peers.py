"""Compare alwidget's query strategies with other active-learning libraries.

Every method runs in this one process on the same standardised embeddings,
with the same seeds, initial labelled sets, batch size, budget and held-out
set. Accuracy is measured with one evaluator for everyone: scikit-learn's
``LogisticRegression()`` trained on the clips a method picked, scored on the
held-out set. So the numbers compare *which clips* each method picks, not
the classifiers.

Methods
-------
* alwidget: random, least_confidence, margin, entropy, diverse, bald
  (``ActiveLearner`` with the linear model, the default when the tables of
  ``benchmarks/README.md`` were measured; the picks are what is compared);
* modAL: uncertainty / margin / entropy sampling around
  ``LogisticRegression()``;
* scikit-activeml: ``UncertaintySampling()`` and ``Clue()`` (uncertainty-
  weighted k-means) with ``SklearnClassifier(LogisticRegression())``;
* superintendent: its ``entropy`` and ``margin`` acquisition functions
  (default ``shuffle_prop=0.1``) on ``LogisticRegression().predict_proba``.

Peers keep their documented defaults. Install them with::

    pip install "modAL-python==0.4.2.1" "scikit-activeml==1.0.1" "superintendent==0.6.0"

Run from the repository root (prints markdown tables, writes the plot)::

    python -m benchmarks.evidence.compare_peers          # full run, about 4 min on 2 cores
    python -m benchmarks.evidence.compare_peers --quick  # small pools, 2 seeds, ~1 min
    python -m benchmarks.evidence.compare_peers --skip-accuracy --sizes 100000 \
        --methods "alwidget margin" "modAL margin"       # one timing pair (see benchmarks.perf.bench_scale)

Pools
-----
* ``sounds``: ``make_sounds(n_per_class=400)`` embedded with the log-mel
  embedder (``ds.embed("logmel")``), 6 classes, 2,400 clips: 1,600 pool, 800 held out;
* ``subclusters``: synthetic 128-dim embeddings, 10 classes made of 8
  overlapping Gaussian sub-clusters each (80 in all, of unequal size),
  6,000 points: 4,000 pool, 2,000 held out.

Timing: the query cycle (fit + score + select; for alwidget ``teach`` +
``query``) inside one ``time.perf_counter`` pair, identical for every method,
on ``subclusters`` pools of ``--sizes`` points (128 dims) from 100 labels:
one untimed warm-up cycle, then ``--repeats`` timed cycles, each after the
previous picks were labelled; the median is reported.

Threads: BLAS, OpenMP and torch run on ``--threads`` threads (default 1) for
every method. On a small shared machine two spinning thread pools (torch's and
OpenBLAS's) made scikit-learn fits 4-15x slower; one thread keeps the
comparison fair and repeatable.
"""

from __future__ import annotations

import argparse
import inspect
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

warnings.filterwarnings("ignore", module="skorch")  # modAL pins skorch 0.9.0, which imports pkg_resources
warnings.filterwarnings("ignore", message=".*pkg_resources.*")
warnings.filterwarnings("ignore", message=".*certifi.*")

from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from alwidget import ActiveLearner  # noqa: E402
from alwidget.datasets import make_sounds  # noqa: E402
from benchmarks import _common as C  # noqa: E402
from benchmarks._common import standardise, subclusters  # noqa: E402

warnings.filterwarnings("ignore", category=ConvergenceWarning)  # LogisticRegression's default max_iter=100

# Default outputs live in the repository's docs/, wherever the script is run from.
DOCS = C.ROOT / "docs"

ALWIDGET_STRATEGIES = ("random", "least_confidence", "margin", "entropy", "diverse", "bald")
CHECKPOINTS = (20, 50, 100, 200)

# A selector is called with the labelled pool indices (in labelling order)
# and a batch size; it returns that many new, unlabelled pool indices.
Selector = Callable[[np.ndarray, int], np.ndarray]


@dataclass
class Pool:
    name: str
    X: np.ndarray  # (n_pool, d) float32, standardised with the pool's mean and std
    y: np.ndarray  # (n_pool,) int class codes
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int


# ----------------------------------------------------------------------------- pools
def split(name: str, X: np.ndarray, y: np.ndarray, n_test: int) -> Pool:
    """One fixed held-out split (seed 0), the same for every method and seed."""
    perm = np.random.default_rng([0, 99]).permutation(len(X))
    test, pool = perm[:n_test], np.sort(perm[n_test:])
    Xp, Xt = standardise(X[pool], X[test])
    return Pool(name, Xp, y[pool], Xt, y[test], int(y.max()) + 1)


def sound_pool(n_per_class: int, cache_dir: str | None) -> Pool:
    ds = make_sounds(n_per_class=n_per_class, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        X = ds.embed("logmel", progress=False, cache_dir=cache_dir or tmp)
    names = sorted(set(ds.labels))
    y = np.array([names.index(v) for v in ds.labels])
    return split("sounds", X, y, n_test=len(X) // 3)


def subcluster_pool(n: int) -> Pool:
    X, y = subclusters(n, seed=0)
    return split("subclusters", X, y, n_test=n // 3)


# ----------------------------------------------------------------------------- selectors
def _unlabelled(n_pool: int, lab: np.ndarray) -> np.ndarray:
    mask = np.ones(n_pool, dtype=bool)
    mask[lab] = False
    return np.flatnonzero(mask)


ALWIDGET_KWARGS: dict = {"model": "linear"}  # ActiveLearner arguments (--candidates adds one)


def alwidget_selector(pool: Pool, strategy: str, seed: int) -> Selector:
    learner = ActiveLearner(pool.X, list(range(pool.n_classes)), strategy=strategy, seed=seed, **ALWIDGET_KWARGS)
    taught = 0

    def select(lab, n):
        nonlocal taught
        new = lab[taught:]
        learner.teach(new, pool.y[new])
        taught = len(lab)
        return learner.query(n)

    return select


def modal_selector(pool: Pool, strategy: str, seed: int) -> Selector:
    from modAL.models import ActiveLearner as ModalLearner
    from modAL.uncertainty import entropy_sampling, margin_sampling, uncertainty_sampling

    fn = {"uncertainty": uncertainty_sampling, "margin": margin_sampling, "entropy": entropy_sampling}[strategy]

    def select(lab, n):
        # modAL 0.4.2.1's teach() passes force_all_finite to check_X_y, which scikit-learn >= 1.8
        # no longer accepts; a learner built on all labels does the same work (stack + fit on all).
        learner = ModalLearner(
            estimator=LogisticRegression(), query_strategy=fn, X_training=pool.X[lab], y_training=pool.y[lab]
        )
        unl = _unlabelled(len(pool.X), lab)
        idx, _ = learner.query(pool.X[unl], n_instances=n)
        return unl[np.asarray(idx)]

    return select


def skactiveml_selector(pool: Pool, strategy: str, seed: int) -> Selector:
    from skactiveml.classifier import SklearnClassifier
    from skactiveml.pool import Clue, UncertaintySampling

    clf = SklearnClassifier(LogisticRegression(), classes=np.arange(pool.n_classes), random_state=seed)
    y_q = np.full(len(pool.X), np.nan)  # skactiveml marks unlabelled samples with missing_label=nan
    if strategy == "uncertainty":
        qs = UncertaintySampling(random_state=seed)

        def select(lab, n):
            y_q[lab] = pool.y[lab]
            return qs.query(pool.X, y_q, clf=clf, batch_size=n)

    else:
        qs = Clue(random_state=seed)

        def select(lab, n):
            y_q[lab] = pool.y[lab]
            return qs.query(pool.X, y_q, estimator=clf, batch_size=n)

    return select


def superintendent_selector(pool: Pool, strategy: str, seed: int) -> Selector:
    from superintendent import acquisition_functions

    fn = acquisition_functions.functions[strategy]
    np.random.seed(seed)  # superintendent shuffles with numpy's global generator

    def select(lab, n):
        model = LogisticRegression().fit(pool.X[lab], pool.y[lab])
        unl = _unlabelled(len(pool.X), lab)
        priority = fn(model.predict_proba(pool.X[unl]))  # rank per clip, lowest = label first
        return unl[np.argsort(priority, kind="stable")[:n]]

    return select


# (family, strategy) -> factory; the name shown is "family strategy"
METHODS: dict[str, tuple[Callable[[Pool, str, int], Selector], str]] = {
    **{f"alwidget {s}": (alwidget_selector, s) for s in ALWIDGET_STRATEGIES},
    **{f"modAL {s}": (modal_selector, s) for s in ("uncertainty", "margin", "entropy")},
    "skactiveml uncertainty": (skactiveml_selector, "uncertainty"),
    "skactiveml Clue": (skactiveml_selector, "clue"),
    **{f"superintendent {s}": (superintendent_selector, s) for s in ("entropy", "margin")},
}


# ----------------------------------------------------------------------------- shared loop
def evaluate(pool: Pool, lab: np.ndarray) -> float:
    """Held-out accuracy of ``LogisticRegression()`` trained on the labelled clips."""
    y = pool.y[lab]
    if len(np.unique(y)) < 2:
        return float(np.mean(pool.y_test == y[0]))
    return float(LogisticRegression().fit(pool.X[lab], y).score(pool.X_test, pool.y_test))


def learning_curve(select: Selector, pool: Pool, initial: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Accuracy after each step of the loop: start from ``initial``, add batches up to ``steps[-1]``."""
    lab = list(initial)
    acc = [evaluate(pool, np.asarray(lab))]
    for target in steps[1:]:
        picks = np.asarray(select(np.asarray(lab), int(target - len(lab))), dtype=np.int64)
        if len(picks) != target - len(lab) or len(set(picks.tolist()) | set(lab)) != target:
            raise RuntimeError(f"selector returned {picks.tolist()}, not {target - len(lab)} new pool indices")
        lab.extend(picks.tolist())
        acc.append(evaluate(pool, np.asarray(lab)))
    return np.asarray(acc)


def initial_set(pool: Pool, seed: int, n_initial: int) -> np.ndarray:
    return np.random.default_rng([seed, 2024]).choice(len(pool.X), n_initial, replace=False)


def family_curves(family: str, pool: Pool, seeds, steps) -> dict[str, np.ndarray]:
    """Curves ``(n_seeds, n_steps)`` for every method of ``family`` on ``pool``."""
    out = {}
    for name, (factory, strategy) in METHODS.items():
        if name.split()[0] != family:
            continue
        out[name] = np.stack(
            [learning_curve(factory(pool, strategy, s), pool, initial_set(pool, s, steps[0]), steps) for s in seeds]
        )
    return out


FAMILIES = ("alwidget", "modAL", "skactiveml", "superintendent")  # the first word of a method's name


# ----------------------------------------------------------------------------- timing
def time_queries(n: int, repeats: int, batch: int, n_start: int = 100, methods=None) -> dict[str, float]:
    """Median seconds per query cycle for every method (or those named) on a ``subclusters`` pool of ``n`` points."""
    X, y = subclusters(n, seed=1)
    (X,) = standardise(X)
    pool = Pool(f"subclusters-{n}", X, y, X[:0], y[:0], int(y.max()) + 1)
    out = {}
    for name, (factory, strategy) in METHODS.items():
        if methods and name not in methods:
            continue
        select = factory(pool, strategy, 0)
        lab = list(initial_set(pool, 0, n_start))
        times = []
        for r in range(repeats + 1):  # the first cycle is an untimed warm-up
            labelled = np.asarray(lab)
            t0 = time.perf_counter()
            picks = select(labelled, batch)
            dt = time.perf_counter() - t0
            if r:
                times.append(dt)
            lab.extend(np.asarray(picks).tolist())
        out[name] = float(np.median(times))
        print(f"  {n:>7} {name:<28} {out[name] * 1000:9.1f} ms", file=sys.stderr, flush=True)
    return out


# ----------------------------------------------------------------------------- reporting
def accuracy_table(curves: dict[str, np.ndarray], steps: np.ndarray) -> str:
    cps = [c for c in CHECKPOINTS if c in steps]
    cols = [np.flatnonzero(steps == c)[0] for c in cps]
    target = curves["alwidget random"][:, -1].mean()
    head = "| method | " + " | ".join(f"acc @ {c}" for c in cps) + f" | AUC {steps[0]}-{steps[-1]} "
    head += f"| labels to reach random@{steps[-1]} ({target:.3f}) |"
    lines = [head, "|" + "---|" * (len(cps) + 3)]
    for name, c in curves.items():
        cells = [C.mean_std(c[:, k]) for k in cols]
        lines.append(
            f"| {name} | "
            + " | ".join(cells)
            + f" | {C.mean_std(C.aulc(c, steps))} | {C.labels_to_reach(c.mean(0), steps, target)} |"
        )
    return "\n".join(lines)


def goal_check(curves: dict[str, np.ndarray], steps: np.ndarray) -> str:
    """alwidget's best strategy (by mean AUC, random excluded) vs the best peer at each checkpoint.

    'Within noise': the paired per-seed difference is >= -2 standard errors.
    """
    ours = {k: v for k, v in curves.items() if k.startswith("alwidget") and k != "alwidget random"}
    peers = {k: v for k, v in curves.items() if not k.startswith("alwidget")}
    best = max(ours, key=lambda k: C.aulc(ours[k], steps).mean())
    default = inspect.signature(ActiveLearner).parameters["strategy"].default
    lines = [
        f"alwidget's best strategy by AUC: **{best.split()[1]}**",
        "",
        "| labels | alwidget best | best peer | difference (paired, ± 1 s.e.) | at least as accurate? "
        f"| alwidget default ({default}) |",
        "|---|---|---|---|---|---|",
    ]
    for cp in [c for c in CHECKPOINTS if c in steps]:
        k = np.flatnonzero(steps == cp)[0]
        peer = max(peers, key=lambda p: peers[p][:, k].mean())
        d = ours[best][:, k] - peers[peer][:, k]
        se = C.std_err(d)
        ok = "yes" if d.mean() >= 0 else ("within noise" if d.mean() >= -2 * se else "**no**")
        lines.append(
            f"| {cp} | {ours[best][:, k].mean():.3f} | {peers[peer][:, k].mean():.3f} ({peer}) "
            f"| {d.mean():+.3f} ± {se:.3f} | {ok} | {curves[f'alwidget {default}'][:, k].mean():.3f} |"
        )
    return "\n".join(lines)


def timing_table(timings: dict[int, dict[str, float]]) -> str:
    sizes = sorted(timings)
    lines = ["| method | " + " | ".join(f"{n:,} clips (ms)" for n in sizes) + " |", "|---" * (len(sizes) + 1) + "|"]
    timed = [k for k in METHODS if k in timings[sizes[0]]]
    for name in timed:
        lines.append(f"| {name} | " + " | ".join(f"{timings[n][name] * 1000:.1f}" for n in sizes) + " |")
    big = sizes[-1]
    peers = [k for k in timed if not k.startswith("alwidget")]
    if not peers:
        return "\n".join(lines)
    fastest_peer = min(peers, key=lambda k: timings[big][k])
    lines.append("")
    lines.append(
        f"Fastest peer at {big:,} clips: {fastest_peer}, {timings[big][fastest_peer] * 1000:.1f} ms. "
        "Time of each alwidget strategy / that time:"
    )
    lines.append("")
    lines.append(
        ", ".join(
            f"{k.split()[1]} {timings[big][k] / timings[big][fastest_peer]:.2f}"
            for k in timed
            if k.startswith("alwidget")
        )
    )
    return "\n".join(lines)


def plot(results: dict[str, dict[str, np.ndarray]], steps: np.ndarray, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6.2 * len(results), 4.8), squeeze=False)
    styles = {"alwidget": "-", "modAL": "--", "skactiveml": "-.", "superintendent": (0, (1, 1.5))}
    colours = plt.cm.tab20(np.linspace(0, 1, 20))
    for ax, (pool_name, curves) in zip(axes[0], results.items()):
        for i, (name, c) in enumerate(curves.items()):
            fam = name.split()[0]
            if name == "alwidget random":
                style = {"color": "black", "ls": ":", "lw": 2.2}
            else:
                style = {
                    "color": colours[(2 * i) % 20 + (i >= 10)],
                    "ls": styles[fam],
                    "lw": 2.0 if fam == "alwidget" else 1.4,
                }
            ax.plot(steps, c.mean(0), label=name, **style)
        ax.set_title(f"{pool_name}: mean of {len(next(iter(curves.values())))} seeds")
        ax.set_xlabel("labelled clips")
        ax.set_ylabel("held-out accuracy")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7, loc="lower right", ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


# ----------------------------------------------------------------------------- main
def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small pools, 2 seeds, budget 100, one timing size")
    ap.add_argument("--seeds", type=int, default=None, help="number of seeds (default 5, quick 2)")
    ap.add_argument("--sizes", type=int, nargs="+", default=None, help="pool sizes to time (default 10000 100000)")
    ap.add_argument("--repeats", type=int, default=5, help="timed query cycles per method and size")
    ap.add_argument("--batch", type=int, default=10, help="labels per query")
    ap.add_argument("--initial", type=int, default=10, help="random labels to start from")
    ap.add_argument("--budget", type=int, default=None, help="labels at the end (default 200, quick 100)")
    ap.add_argument("--cache-dir", default=None, help="embedding cache (default: a temporary folder)")
    ap.add_argument(
        "--plot", default=str(DOCS / "peers.png"), help="where to write the plot ('' for none; default docs/peers.png)"
    )
    ap.add_argument("--skip-accuracy", action="store_true")
    ap.add_argument("--skip-timing", action="store_true")
    ap.add_argument("--threads", type=int, default=1, help="BLAS / OpenMP / torch threads for everyone (default 1)")
    ap.add_argument(
        "--methods", nargs="+", default=None, metavar="METHOD", help='time only these methods, e.g. "modAL margin"'
    )
    ap.add_argument(
        "--candidates", type=int, default=None, help="ActiveLearner(candidates=...) for alwidget (default: its own)"
    )
    args = ap.parse_args(argv)
    unknown = [m for m in args.methods or () if m not in METHODS]
    if unknown:
        ap.error(f"unknown method(s) {unknown}; choose from {list(METHODS)}")
    if args.candidates is not None:
        ALWIDGET_KWARGS["candidates"] = args.candidates
    if args.plot:  # a missing folder must fail now, not after minutes of computing
        plot_dir = Path(args.plot).expanduser().resolve().parent
        if not plot_dir.is_dir():
            ap.error(f"--plot {args.plot!r}: folder {str(plot_dir)!r} does not exist; create it or pass another path")
        args.plot = str(Path(args.plot).expanduser())
    torch.set_num_threads(args.threads)
    with threadpool_limits(args.threads):
        run(args)


def run(args) -> None:

    seeds = list(range(args.seeds if args.seeds else (2 if args.quick else 5)))
    budget = args.budget or (100 if args.quick else 200)
    sizes = args.sizes or ([10_000] if args.quick else [10_000, 100_000])
    steps = np.arange(args.initial, budget + 1, args.batch)
    if steps[-1] != budget:
        steps = np.append(steps, budget)

    print(f"Machine: {C.machine('alwidget', 'scikit-learn', 'modAL-python', 'scikit-activeml', 'superintendent')}\n")
    print(
        f"seeds {seeds}, initial {args.initial} random clips, batch {args.batch}, budget {budget}, "
        f"{args.threads} thread(s) per library\n"
    )
    t_start = time.perf_counter()
    if not args.skip_accuracy:
        t0 = time.perf_counter()
        pools = [sound_pool(60 if args.quick else 400, args.cache_dir), subcluster_pool(1500 if args.quick else 6000)]
        print(f"(pools built in {time.perf_counter() - t0:.1f} s)\n", file=sys.stderr)
        results = {}
        for pool in pools:
            t0 = time.perf_counter()
            curves = {}
            for family in FAMILIES:
                curves.update(family_curves(family, pool, seeds, steps))
            results[pool.name] = curves
            print(
                f"### Pool `{pool.name}`: {len(pool.X):,} pool clips, {len(pool.X_test):,} held out, "
                f"{pool.n_classes} classes, {pool.X.shape[1]} dims\n"
            )
            print(accuracy_table(curves, steps) + "\n")
            print(goal_check(curves, steps) + "\n", flush=True)
            print(f"(pool {pool.name}: {time.perf_counter() - t0:.1f} s)\n", file=sys.stderr)
        if args.plot:
            plot(results, steps, args.plot)
            print(f"Plot: {args.plot}\n")
    if not args.skip_timing:
        timings = {n: time_queries(n, args.repeats, args.batch, methods=args.methods) for n in sizes}
        print(f"### Time per query (fit + score + select, batch {args.batch}, 128 dims, median of {args.repeats})\n")
        print(timing_table(timings) + "\n")
    print(f"(total {time.perf_counter() - t_start:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
