"""Label efficiency of query strategies on REAL recordings (issue 12, part 1).

Pools are built from Debian packages of real recordings, downloaded with
``apt-get download`` and unpacked with ``dpkg-deb -x`` into a cache folder
(default ``~/.cache/alwidget-bench``; nothing is written into the repository):

* ``asterisk-lang``: spoken-language ID (en, es, fr, it, ru) on the Asterisk
  telephony prompts (``asterisk-core-sounds-<lang>-wav``, 8 kHz, one voice per
  language). Split by prompt type: the pool holds the sentence prompts, the
  test set the single-word prompts (digits, letters, phonetic alphabet), so
  the model must carry what it learnt on sentences over to isolated words.
  (A split by prompt name instead gives a 0.97 ceiling: too easy.)
* ``megaglest-unit``: kind of a unit's sound in the strategy game MegaGlest
  (``megaglest-data``): ``attack`` (weapon / spell sound), ``die`` (death
  cry) or ``voice`` (spoken acknowledgement or reply, ``*_ack``/``*_select``;
  kept apart the two voice kinds put the ceiling at 0.46). Split by faction:
  the pool and the test set come from different factions (other voice actors,
  other weapons). Byte-identical files are kept once.
* ``0ad-sound``: kind of a sound in the strategy game 0 A.D. (``0ad-data``;
  1.4 GB download, the sounds are read out of its ``public.zip`` once):
  ``voice`` (spoken unit commands, ``audio/voice/<language>``), ``death``
  (human and animal death cries), ``weapon`` (attack sounds: sword, spear,
  pike, bow, sling, ...), ``work`` (gathering, mining, lumbering, building,
  farming) or ``footsteps``. Split by sub-folder / sound family: the test set
  holds the Persian voices, the animal death cries, mining and farming, the
  footstep recordings outside ``actor/singlesteps`` and the ranged weapons
  (bow, arrow flight, javelin); the pool holds the rest (other languages and
  voice actors, human deaths, other work and weapons). Byte-identical files are
  kept once. The arrow/sling/shield impacts (``attack/impact``) are left out:
  as a sixth class they overlap with ``weapon`` and put the ceiling near 0.5.

Tried and left out (ceiling outside 0.6-0.95 or below the majority class):
Hedgewars voice lines split by voice pack (0.74 against a 0.78 majority;
effort / hurt / attack-shout / laugh / speech, 3 packs held out: median 0.69
against 0.74), MegaGlest attack vs death cry tested on Wesnoth (0.69 against
0.70), Asterisk prompt type split by language (0.49-0.64 against a 0.64
majority), Fish Fillets small vs big fish split by language (Czech vs Dutch
voices, ``fillets-ng-data-cs``/``-nl``: 0.50 against 0.52; split by level
instead: 0.99, too easy), Wesnoth unit sounds (die / hit / weapon / magic / miss
split by sound family, 255 clips: 0.41-0.59). Too few real sound effects
(about 100-300 each): Tux Paint stamps (108 outside the spoken descriptions),
FreedroidRPG, Warzone 2100, Widelands, Nexuiz, GCompris.

Features: alwidget's log-mel embedder (``AudioDataset.from_files(...).embed("logmel")``,
log-mel statistics of 128 bands, 384 dims) at 16 kHz; the ceiling is also
reported at the files' native sample rate. The former default, 64 bands (192
dims), runs beside it with margin and random sampling (``[64 bands]`` rows),
the evidence for the change.

Every method starts cold (no labels), picks batches of 5 up to 150 labels, and
is scored after each batch on the held-out set with alwidget's linear model
(``SoftmaxRegression``, the learner's own model for the l2 variants), or with
``--model spread`` with the default model, ``"spread"``, which the alwidget
strategies then also pick with (curves saved apart, ``curves-<pool>-spread.npz``). alwidget
strategies and the candidate defaults run through :func:`alwidget.simulate`
(``n_initial=0``: the learner's k-means++ cold start until two classes have
labels). Peers (modAL, scikit-activeml) get random picks until two classes
have labels (they have no cold start of their own), except TypiClust and
CoreSet (``benchmarks.evidence.views --peers``), which pick from the data alone.

Run from the repository root::

    pip install "modAL-python==0.4.2.1" "scikit-activeml==1.0.1" "setuptools<82"   # peers, optional
    python -m benchmarks.evidence.real_audio            # all pools, all methods, 5 seeds
    python -m benchmarks.evidence.real_audio --model spread --all-peers   # the default pipeline, ~20 min a pool
    python -m benchmarks.evidence.real_audio --quick    # 2 pools, main strategies, 2 seeds
    python -m benchmarks.evidence.real_audio --report   # reprint the tables from the saved curves
    python -m benchmarks.evidence.real_audio --add "skactiveml margin"   # add one method to the saved curves

The pools, the embeddings and the simulate loop are in ``benchmarks/_common.py``
(shared with default_screen, feature_screen and bench_scale); the candidate
strategies and the peers below are shared with default_screen.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections import Counter

import numpy as np

warnings.filterwarnings("ignore", message=".*pkg_resources.*")
warnings.filterwarnings("ignore", module="skorch")
# the peers' LogisticRegression() keeps scikit-learn's default max_iter=100 (as their users would)
warnings.filterwarnings("ignore", message="lbfgs failed to converge")

import torch  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from alwidget import ActiveLearner  # noqa: E402
from alwidget import strategies as S  # noqa: E402
from alwidget.features import LogMelEmbedder  # noqa: E402
from benchmarks import _common as C  # noqa: E402
from benchmarks._common import BATCH, BUDGET, CACHE, SOURCES, Pool, Source  # noqa: E402

CHECKPOINTS = (20, 50, 150)


# ----------------------------------------------------------------------------- candidate strategies
def margin_after(cover, n_cover: int):
    """Strategy: ``cover`` picks while fewer than ``n_cover`` labels (or < 2 classes), then margin."""

    def strategy(learner, candidates, n, rng):
        lab = learner.labeled_idx
        if len(lab) < n_cover or len(set(learner.labels.values())) < 2:
            return cover(learner, candidates, n, rng)
        return S.margin_sampling(learner, candidates, n, rng)

    strategy.needs_model = False  # we handle the cold start ourselves
    return strategy


def kpp_cover(learner, candidates, n, rng):
    lab = learner.labeled_idx
    centers = learner.features(lab) if len(lab) else None
    return candidates[S.kmeans_pp(learner.features(candidates), n, rng, centers=centers)]


def typiclust_cover(learner, candidates, n, rng, k_nn: int = 20):
    """TypiClust (Hacohen et al., 2022): k-means with |labelled| + n clusters; from the largest
    clusters with no label, the most typical point (inverse mean distance to its k_nn neighbours)."""
    from sklearn.cluster import KMeans

    X = learner.features(np.arange(learner.n_pool)).astype(np.float64)
    lab = learner.labeled_idx
    k = len(lab) + n
    assign = KMeans(n_clusters=k, n_init=1, random_state=int(rng.integers(2**31))).fit_predict(X)
    covered = set(assign[lab].tolist())
    sizes = np.bincount(assign, minlength=k)
    is_cand = np.zeros(learner.n_pool, bool)
    is_cand[candidates] = True
    picks = []
    for c in sorted(range(k), key=lambda c: -sizes[c]):
        if len(picks) == n:
            break
        if c in covered:
            continue
        members = np.flatnonzero((assign == c) & is_cand)
        if not len(members):
            continue
        Xm = X[assign == c]
        d = np.sqrt(C.sq_dist(X[members], Xm))
        kk = min(k_nn, len(Xm) - 1)
        typ = 1.0 / (np.sort(d, axis=1)[:, 1 : kk + 1].mean(axis=1) + 1e-8) if kk > 0 else np.ones(len(members))
        picks.append(int(members[np.argmax(typ)]))
    if len(picks) < n:  # fewer uncovered clusters than picks: fill with k-means++
        rest = np.setdiff1d(candidates, picks)
        picks += list(kpp_cover(learner, rest, n - len(picks), rng))
    return np.asarray(picks, dtype=np.int64)


def margin_random(p: float):
    """Margin, with each pick replaced by a uniformly random clip with probability ``p``."""

    def strategy(learner, candidates, n, rng):
        k = int(rng.binomial(n, p))
        rand = rng.choice(candidates, size=k, replace=False) if k else np.empty(0, np.int64)
        rest = np.setdiff1d(candidates, rand)
        return np.concatenate([rand, S.margin_sampling(learner, rest, n - k, rng)]).astype(np.int64)

    return strategy


def candidate_strategies() -> dict:
    """name -> (strategy, l2) for the candidate defaults run through simulate."""
    out = {}
    for name, fn in {
        "margin+kpp20": margin_after(kpp_cover, 20),
        "margin+typiclust20": margin_after(typiclust_cover, 20),
        "margin+rand10%": margin_random(0.10),
        "margin+rand20%": margin_random(0.20),
    }.items():
        fn.__name__ = name
        out[name] = (fn, 1.0)
    for l2 in (0.1, 10.0, 100.0):
        out[f"margin l2={l2:g}"] = ("margin", l2)
    out["entropy l2=10"] = ("entropy", 10.0)
    out["margin [spread]"] = ("margin", "spread")  # the default model since the fifth session of issue 12
    return out


ALWIDGET = ("random", "least_confidence", "margin", "entropy", "diverse", "vote_entropy", "bald")
QUICK_ALWIDGET = ("random", "margin", "entropy", "diverse")


# ----------------------------------------------------------------------------- peers
def peer_selector(method: str, Xs: np.ndarray, y_codes: np.ndarray, n_classes: int, seed: int):
    """A function (labelled pool indices, n) -> n new pool indices for a peer method."""
    from sklearn.linear_model import LogisticRegression

    if method.startswith("modAL"):
        from modAL.models import ActiveLearner as ModalLearner
        from modAL.uncertainty import margin_sampling, uncertainty_sampling

        fn = margin_sampling if method.endswith("margin") else uncertainty_sampling

        def select(lab, n):
            # modAL 0.4.2.1's teach() fails with scikit-learn >= 1.8 (force_all_finite); rebuild on all labels
            learner = ModalLearner(
                estimator=LogisticRegression(), query_strategy=fn, X_training=Xs[lab], y_training=y_codes[lab]
            )
            unl = np.setdiff1d(np.arange(len(Xs)), lab)
            idx, _ = learner.query(Xs[unl], n_instances=n)
            return unl[np.asarray(idx)]

        return select
    from skactiveml.classifier import SklearnClassifier
    from skactiveml.pool import Badge, CoreSet, TypiClust, UncertaintySampling

    clf = SklearnClassifier(LogisticRegression(), classes=np.arange(n_classes), random_state=seed)
    y_q = np.full(len(Xs), np.nan)
    kind = method.split()[1]
    if kind in ("TypiClust", "CoreSet"):  # no classifier: picks by the data alone
        qs = TypiClust(random_state=seed) if kind == "TypiClust" else CoreSet(random_state=seed)

        def select(lab, n):
            y_q[lab] = y_codes[lab]
            return qs.query(Xs, y_q, batch_size=n)

        return select
    if kind == "Badge":
        qs = Badge(random_state=seed)
    else:
        qs = UncertaintySampling(method="margin_sampling" if kind == "margin" else "least_confident", random_state=seed)

    def select(lab, n):
        y_q[lab] = y_codes[lab]
        return qs.query(Xs, y_q, clf=clf, batch_size=n)

    return select


# scikit-activeml's least-confident and margin rules are the same as modAL's (identical curves up to
# rounding in benchmarks.evidence.compare_peers); they are left out to save time (--all-peers adds them)
PEERS = ("modAL least_confident", "modAL margin", "skactiveml TypiClust", "skactiveml Badge")
ALL_PEERS = PEERS + ("skactiveml least_confident", "skactiveml margin")
COMMITTEE = ("vote_entropy", "bald")


def peer_step(method: str, select, lab: list, n: int, y_codes: np.ndarray, rng) -> np.ndarray:
    """``n`` new pool indices from a peer's ``select``: random picks until two classes have labels (except for
    TypiClust and CoreSet, which pick from the data alone); a peer that repeats or misses a pick stops the run."""
    if len(set(y_codes[lab].tolist())) < 2 and "TypiClust" not in method and "CoreSet" not in method:
        picks = rng.choice(np.setdiff1d(np.arange(len(y_codes)), lab), size=n, replace=False)
    else:
        picks = np.asarray(select(np.asarray(lab, dtype=np.int64), n), dtype=np.int64)
    if len(picks) != n or len(set(picks.tolist()) | set(lab)) != len(lab) + n:
        raise RuntimeError(f"{method} returned {picks.tolist()}")
    return picks


def peer_curves(method: str, pool: Pool, seeds, steps, model="linear") -> np.ndarray:
    """Held-out accuracy ``(seeds, steps)`` of the clips ``method`` picks, scored by an ActiveLearner with ``model``."""
    code = {c: i for i, c in enumerate(pool.classes)}
    y_codes = np.array([code[v] for v in pool.y])
    (Xs,) = C.standardise(pool.X)
    out = np.zeros((len(seeds), len(steps)))
    for j, seed in enumerate(seeds):
        rng = np.random.default_rng([seed, 31])
        select = peer_selector(method, Xs, y_codes, len(pool.classes), seed)
        evaluator = ActiveLearner(pool.X, pool.classes, seed=seed, model=model)
        lab: list[int] = []
        for k, target in enumerate(steps):
            picks = peer_step(method, select, lab, int(target - len(lab)), y_codes, rng)
            lab.extend(picks.tolist())
            evaluator.teach(picks, pool.y[picks])
            out[j, k] = evaluator.score(pool.X_test, pool.y_test)
    return out


# ----------------------------------------------------------------------------- tables
def table(curves: dict[str, np.ndarray], steps: np.ndarray, ceil: float) -> str:
    target = float(curves["random"][:, -1].mean())
    cols = [f"acc@{c}" for c in CHECKPOINTS]
    lines = [
        f"| method | {' | '.join(cols)} | AULC 5-150 | labels to reach random@150 ({target:.3f}) |",
        "|---|" + "---|" * (len(cols) + 2),
    ]
    n_max = max(len(c) for c in curves.values())
    for name, c in curves.items():
        if len(c) < n_max:
            name = f"{name} ({len(c)} seeds)"
        cells = []
        for cp in CHECKPOINTS:
            k = int(np.flatnonzero(steps == cp)[0])
            cells.append(C.mean_std(c[:, k]))
        per_seed = [C.labels_to_reach(c[s], steps, target, tol=1e-12) for s in range(len(c))]
        lines.append(
            f"| {name} | {' | '.join(cells)} | {C.mean_std(C.aulc(c, steps))} | "
            f"{C.labels_to_reach(c.mean(0), steps, target, tol=1e-12)} (seeds: {', '.join(per_seed)}) |"
        )
    lines.append(f"| *ceiling: linear model, all pool labels* | | | {ceil:.3f} | | |")
    return "\n".join(lines)


def paired(curves: dict[str, np.ndarray], steps: np.ndarray, ref: str) -> str:
    """AULC difference to ``ref`` per seed (same seeds): mean, std, min..max."""
    base = C.aulc(curves[ref], steps)
    lines = [
        f"| method | AULC − {ref} (mean ± std over seeds) | min .. max | every seed better? |",
        "|---|---|---|---|",
    ]
    verdict = {1: "yes", -1: "no, every seed worse", 0: "no"}
    for name, c in sorted(curves.items(), key=lambda kv: -C.aulc(kv[1], steps).mean()):
        if name == ref:
            continue
        d = C.paired(C.aulc(c, steps), base)
        lines.append(
            f"| {name} | {C.mean_std(d, signed=True)} | {d.min():+.3f} .. {d.max():+.3f} | {verdict[C.same_sign(d)]} |"
        )
    return "\n".join(lines)


def across(results: dict) -> str:
    """One row per method: paired AULC difference to entropy (today's default) and to margin, per pool."""
    names = [n for n in next(iter(results.values()))[1] if all(n in c for _, c in results.values())]
    head = " | ".join(f"{p}: − {ref}" for ref in ("entropy", "margin") for p in results)
    lines = [
        "\n## Across pools: paired AULC difference (mean ± std over seeds; * = same sign on every seed)\n",
        f"| method | {head} |",
        "|---|" + "---|" * (2 * len(results)),
    ]
    for n in names:
        cells = []
        for ref in ("entropy", "margin"):
            for steps, c in results.values():
                if n == ref or ref not in c:
                    cells.append("")
                    continue
                d = C.paired(C.aulc(c[n], steps), C.aulc(c[ref], steps))
                cells.append(f"{C.mean_std(d, signed=True)}{'*' if C.same_sign(d) else ''}")
        lines.append(f"| {n} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


def describe(pool: Pool, X_all: np.ndarray, src: Source) -> str:
    pkgs = ", ".join(f"`{p}` {C.deb_version(p)}" for p in src.packages)
    cp, ct = Counter(pool.y.tolist()), Counter(pool.y_test.tolist())
    gp = sorted(set(np.asarray(src.groups, dtype=object)[~src.test].tolist()))
    gt = sorted(set(np.asarray(src.groups, dtype=object)[src.test].tolist()))
    counts = ", ".join(f"{c} {cp[c]}/{ct[c]}" for c in pool.classes)
    lines = [
        f"- packages: {pkgs}",
        f"- {len(pool.X)} pool clips, {len(pool.X_test)} test clips, {len(pool.classes)} classes; "
        f"per class pool/test: {counts}",
        f"- split: {src.split_rule} ({len(gp)} groups in the pool, {len(gt)} in the test set)",
    ]
    if len(gp) <= 12:
        lines.append(f"- pool groups: {', '.join(gp)}; test groups: {', '.join(gt)}")
    lines += [f"- {n}" for n in src.notes]
    return "\n".join(lines)


TAG = ""  # "-quick" for --quick runs, so a smoke run never overwrites the full run's curves


def save(name: str, steps, curves: dict) -> None:
    """Keep the curves so far in the cache folder (``curves-<pool>.npz``, one array per method)."""
    np.savez(
        CACHE / f"curves-{name}{TAG}.npz",
        steps=steps,
        names=np.array(list(curves)),
        **{f"m{i}": c for i, c in enumerate(curves.values())},
    )


def load(name: str) -> tuple[np.ndarray, dict]:
    d = np.load(CACHE / f"curves-{name}{TAG}.npz")
    names = [str(n) for n in d["names"]]
    if "acc" in d:
        return d["steps"], dict(zip(names, d["acc"]))
    return d["steps"], {n: d[f"m{i}"] for i, n in enumerate(names)}


def report(curves: dict, steps, ceil: float) -> None:
    n = {len(c) for c in curves.values()}
    print(
        f"\n### Accuracy on the held-out set (mean ± std over {max(n)} seeds"
        f"{'' if len(n) == 1 else '; methods marked (k seeds) ran on the first k only'})\n"
    )
    print(table(curves, steps, ceil))
    for ref in ("random", "entropy", "margin"):
        if ref in curves:
            print(f"\nPaired AULC difference to `{ref}` (same seeds):\n")
            print(paired(curves, steps, ref))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 pools, main strategies, 2 seeds")
    ap.add_argument("--pools", nargs="*", default=None, help=f"subset of {list(SOURCES)}")
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--all-peers", action="store_true", help="also scikit-activeml least-confident and margin")
    ap.add_argument("--no-native", action="store_true", help="skip the native-sample-rate ceiling")
    ap.add_argument(
        "--committee-seeds",
        type=int,
        default=None,
        help="run vote_entropy and bald (the slowest) on the first N seeds only",
    )
    ap.add_argument("--report", action="store_true", help="print the tables from the curves saved by an earlier run")
    ap.add_argument(
        "--add",
        nargs="+",
        metavar="METHOD",
        help='run only these methods (e.g. "skactiveml margin") and add them to the curves saved by an earlier run',
    )
    ap.add_argument(
        "--model",
        default="linear",
        choices=["linear", "spread"],
        help='score every method with this model: "spread" is the default pipeline (margin + "spread"); '
        "without the candidates and the 64-band rows",
    )
    args = ap.parse_args(argv)
    global TAG
    TAG = ("-quick" if args.quick else "") + ("-spread" if args.model == "spread" else "")
    spec = 1.0 if args.model == "linear" else args.model  # the linear model with l2 = 1, or "spread"
    pools = args.pools or (["asterisk-lang", "megaglest-unit"] if args.quick else list(SOURCES))
    seeds = list(range(args.seeds or (2 if args.quick else 5)))
    torch.set_num_threads(1)
    t_start = time.perf_counter()
    print(
        f"# Label efficiency on real recordings\n\nseeds {seeds}, batch {BATCH}, budget {BUDGET}, cold start; "
        f"one thread\n\nMachine: {C.machine('scikit-learn', 'modAL-python', 'scikit-activeml')}\n"
    )
    results: dict = {}
    with threadpool_limits(1):
        for name in pools:
            t0 = time.perf_counter()
            src = SOURCES[name]()
            X, keep = C.embed(src, 16000)
            pool = C.make_pool(src, X, keep)
            ceil = C.ceiling(pool)
            print(f"## Pool `{name}`\n\n{describe(pool, X, src)}")
            line = f"- ceiling (linear model, all pool labels, 16 kHz): {ceil:.3f}"
            if not args.no_native:
                Xn, keepn = C.embed(src, src.native_sr)
                line += f"; at the native {src.native_sr} Hz: {C.ceiling(C.make_pool(src, Xn, keepn)):.3f}"
            print(line + f"; l2=0.1: {C.ceiling(pool, 0.1):.3f}, l2=10: {C.ceiling(pool, 10.0):.3f}", flush=True)
            if args.report:
                steps, curves = load(name)
                report(curves, steps, ceil)
                results[name] = (steps, curves)
                continue
            if args.add:
                steps, curves = load(name)
                cands = candidate_strategies()
                for m in args.add:
                    if m in ALL_PEERS:
                        curves[m] = peer_curves(m, pool, seeds, steps, model=C.model_spec(spec))
                    elif m in cands or m in S.available():
                        curves.update(C.alwidget_curves(pool, {m: cands.get(m, (m, spec))}, seeds)[1])
                    else:
                        raise SystemExit(f"unknown method {m!r}; use a strategy, a candidate or one of {ALL_PEERS}")
                    save(name, steps, curves)
                    print(f"- {m}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
                report(curves, steps, ceil)
                results[name] = (steps, curves)
                continue
            names = QUICK_ALWIDGET if args.quick else ALWIDGET
            strategies = {s: (s, spec) for s in names if s not in COMMITTEE}
            if args.model == "linear":
                strategies.update(
                    candidate_strategies()
                    if not args.quick
                    else {k: v for k, v in candidate_strategies().items() if k in ("margin+kpp20",)}
                )
            steps, curves = C.alwidget_curves(pool, strategies, seeds)
            if not args.quick and args.model == "linear":  # the former default features (64 mel bands)
                old = C.make_pool(src, *C.embed(src, 16000, LogMelEmbedder(n_mels=64)))
                _, more = C.alwidget_curves(old, {"margin": ("margin", 1.0), "random": ("random", 1.0)}, seeds)
                curves.update({f"{k} [64 bands]": v for k, v in more.items()})
                print(f"- ceiling with 64 mel bands (192 dims): {C.ceiling(old):.3f}", flush=True)
            save(name, steps, curves)
            print(f"- alwidget runs: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
            if not args.no_peers:
                peers = PEERS[1:3] if args.quick else ALL_PEERS if args.all_peers else PEERS
                for peer in peers:
                    try:
                        curves[peer] = peer_curves(peer, pool, seeds, steps, model=C.model_spec(spec))
                    except ImportError as exc:
                        print(f"- peer {peer} skipped: {exc}")
                    save(name, steps, curves)
                    print(f"- {peer}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
            committee = {s: (s, spec) for s in names if s in COMMITTEE}
            if committee:  # slowest (a committee of 5 refits per query): last
                _, more = C.alwidget_curves(pool, committee, seeds[: args.committee_seeds or len(seeds)])
                curves.update(more)
                save(name, steps, curves)
            report(curves, steps, ceil)
            results[name] = (steps, curves)
            print(f"\n(pool `{name}`: {time.perf_counter() - t0:.0f} s)\n", flush=True)
    if len(results) > 1:
        print(across(results))
    print(f"Total runtime: {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
