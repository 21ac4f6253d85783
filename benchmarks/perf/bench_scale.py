"""Ten million windows: the ActiveLearner on a memory-mapped float16 pool.

Run by hand from the repository root (figures are printed, never asserted)::

    df -h /tmp                                             # 10M x 192 float16 needs 3.84 GB free
    python -m benchmarks.perf.bench_scale                  # 1M and 10M windows x 192, float16 on disk
    python -m benchmarks.perf.bench_scale --sizes 1000000  # quicker
    python -m benchmarks.perf.bench_scale --session        # the same through LabelingSession (the widget's engine)
    python -m benchmarks.perf.bench_scale --efficiency     # label efficiency: exhaustive vs subset scoring
    python -m benchmarks.perf.bench_scale --float16        # float16 vs float32 pools: accuracy, query agreement

Scale (default): synthetic clustered embeddings (10 classes, 4 Gaussian
sub-clusters each of unequal weight, 192 dims) are written block by block
to a float16 ``.npy`` file in ``--dir`` (default: the system temp folder),
through the file API, so the writer never maps it. Each size then runs in a
fresh Python process, which opens the file with ``np.load(mmap_mode="r")``
and measures:

* ``build``: ``ActiveLearner(X, classes)`` (finiteness check and pool
  statistics, one streaming pass each);
* ``cold start``: ``query(10)`` with no labels (k-means++ on a sample of
  20,000 candidates), repeated until two classes have labels;
* ``teach -> query``: one ``teach`` (the window just queried, its true class)
  then ``query(1)``, ``--rounds`` times after two untimed rounds: p50, p95
  and max, the wait between a label and the next window;
* ``predict_proba()``: the whole pool's table once (what an export does);
* ``peak RSS``: the process's ``ru_maxrss`` after the loop and at the end,
  and after the imports (torch, numpy), for reference.

The file is deleted at the end (``--keep`` keeps it). The per-query time
against modAL at 100,000 clips comes from ``benchmarks.evidence.compare_peers``::

    python -m benchmarks.evidence.compare_peers --skip-accuracy --sizes 100000 --plot "" \\
        --methods "alwidget margin" "modAL margin"

Session (``--session``): the same pools through ``LabelingSession``, the
widget's engine, driven as the front end drives it (a synthetic dataset
makes each clip's audio on demand): ``label`` -> the next clip on screen
(the click path), ``label`` -> the worker has retrained and queued the next
picks, one search by example (exact: no index built), one detection review
(one class scored over the whole pool), and peak RSS.

Efficiency (``--efficiency``): ``alwidget.simulate`` with margin sampling,
cold start, batches of 5 to 150 labels, 5 seeds, exhaustive scoring against
``ActiveLearner(candidates=m)`` on a synthetic pool of 1M points (the
``subclusters`` pool of compare_peers; ``m`` = 2 % of the pool, the
fraction 200,000 is of 10M, and 0.2 %) and on the pools of real recordings
of ``benchmarks.evidence.real_audio`` (``m`` = 50 to 400; their Debian
packages are downloaded on first use). Prints the paired difference of the area under the learning curve
(AULC) per seed.

Float16 (``--float16``): the same pools stored as float16 and as float32:
``simulate`` curves (margin, 5 seeds) and, after the same random labels, the
overlap of ``query(10)`` and the largest difference of the probabilities.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import _common as C

DIM = 192
N_CLASSES = 10
PER_CLASS = 4
BLOCK = 262_144


# ----------------------------------------------------------------------------- data
def write_pool(path: Path, n: int, *, dim: int = DIM, seed: int = 0) -> np.ndarray:
    """Write ``n x dim`` float16 clustered embeddings to ``path`` (.npy); return the labels (int8)."""
    import torch

    rng = np.random.default_rng(seed)
    k = N_CLASSES * PER_CLASS
    centres = rng.normal(size=(k, dim)).astype(np.float32) * 0.35 + 2.0  # offset: raw embeddings are not centred
    weights = rng.dirichlet(np.full(k, 2.0))
    y = np.empty(n, dtype=np.int8)
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f2", "fortran_order": False, "shape": (n, dim)})
        for start in range(0, n, BLOCK):
            stop = min(n, start + BLOCK)
            sub = rng.choice(k, size=stop - start, p=weights)
            block = rng.standard_normal((stop - start, dim), dtype=np.float32)
            block += centres[sub]
            f.write(torch.from_numpy(block).to(torch.float16).numpy().tobytes())
            y[start:stop] = sub // PER_CLASS
    return y


# ----------------------------------------------------------------------------- one size, in a fresh process
def run_one(path: str, labels: str, rounds: int, full_predict: bool, candidates: int | None = None) -> dict:
    import torch

    from alwidget import ActiveLearner

    torch.set_num_threads(1)
    y = np.load(labels)
    out = {"rss_imports_mb": C.peak_rss_mb()}
    X = np.load(path, mmap_mode="r")
    t0 = time.perf_counter()
    learner = ActiveLearner(X, list(range(N_CLASSES)), candidates=candidates)
    out["build_s"] = time.perf_counter() - t0
    out["rss_build_mb"] = C.peak_rss_mb()

    cold = []
    while len(set(y[learner.labeled_idx].tolist())) < 2:
        t0 = time.perf_counter()
        q = learner.query(10)
        cold.append(time.perf_counter() - t0)
        learner.teach(q, y[q])
    out["cold_start_ms"] = [c * 1000 for c in cold]

    q = learner.query(1)
    times = []
    for r in range(rounds + 2):  # two untimed warm-up rounds (torch's first calls)
        t0 = time.perf_counter()
        learner.teach(q, y[q])
        q = learner.query(1)
        dt = time.perf_counter() - t0
        if r >= 2:
            times.append(dt)
    times_ms = np.array(times) * 1000
    out["teach_query_ms"] = {
        "p50": float(np.percentile(times_ms, 50)),
        "p95": float(np.percentile(times_ms, 95)),
        "max": float(times_ms.max()),
        "all": times_ms.round(1).tolist(),
    }
    out["n_labels"] = learner.n_labeled
    out["rss_loop_mb"] = C.peak_rss_mb()
    if full_predict:
        t0 = time.perf_counter()
        proba = learner.predict_proba()
        out["predict_proba_s"] = time.perf_counter() - t0
        out["predict_proba_mb"] = proba.nbytes / 2**20
        del proba
    out["rss_peak_mb"] = C.peak_rss_mb()
    return out


class SynthClips:
    """A dataset of ``n`` half-second noise clips made on demand: the session only decodes what it shows."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        return np.random.default_rng(int(i)).standard_normal(4000).astype(np.float32) * 0.1, 8000

    def wav_bytes(self, i) -> bytes:
        import io

        import soundfile as sf

        buf = io.BytesIO()
        sf.write(buf, self[i][0], 8000, format="WAV")
        return buf.getvalue()


def run_session(path: str, labels: str, rounds: int, candidates: int | None = None) -> dict:
    """The widget's engine on the pool: ``LabelingSession`` driven as the front end drives it."""
    import torch

    from alwidget import ActiveLearner
    from alwidget.session import LabelingSession

    torch.set_num_threads(1)
    y = np.load(labels)
    names = [str(c) for c in range(N_CLASSES)]
    out = {"rss_imports_mb": C.peak_rss_mb()}
    X = np.load(path, mmap_mode="r")
    t0 = time.perf_counter()
    learner = ActiveLearner(X, names, candidates=candidates)
    session = LabelingSession(learner, SynthClips(len(X)), prefetch=4)
    if not session.wait_idle(600):
        raise SystemExit("the first cycle did not finish")
    out["build_s"] = time.perf_counter() - t0
    shown, ready = [], []
    for r in range(rounds + 3):  # three untimed rounds: the cold start and torch's first calls
        i = session.current
        t0 = time.perf_counter()
        session.label(names[int(y[i])])  # returns when the next clip is on screen
        t1 = time.perf_counter()
        session.wait_idle(600)  # the worker has retrained and queued the next picks
        t2 = time.perf_counter()
        if r >= 3:
            shown.append(t1 - t0)
            ready.append(t2 - t0)
        if session.error:
            raise SystemExit(session.error)

    def pct(v):
        v = np.array(v) * 1000
        return {"p50": float(np.percentile(v, 50)), "p95": float(np.percentile(v, 95)), "max": float(v.max())}

    out["shown_ms"], out["ready_ms"] = pct(shown), pct(ready)
    out["rss_loop_mb"] = C.peak_rss_mb()
    t0 = time.perf_counter()
    session.search(session.current, 20)  # no index built: an exact scan of the pool
    session.wait_idle(600)
    out["search_s"] = time.perf_counter() - t0
    session.set_mode("active")
    session.wait_idle(600)
    t0 = time.perf_counter()
    session.review_detections(names[3], per_bin=10, n_bins=4, top=10)
    session.wait_idle(600)
    out["detections_s"] = time.perf_counter() - t0
    out["mode"] = session.mode
    if session.error:
        raise SystemExit(session.error)
    out["n_labels"] = learner.n_labeled
    out["rss_peak_mb"] = C.peak_rss_mb()
    session.close()
    return out


def session_table(rows: list[dict]) -> None:
    print(
        "| windows x 192 | label -> next clip shown p50 / p95 / max (ms) | label -> retrained, next picks queued "
        "p50 / p95 / max (ms) | search, exact (s) | detection review (s) | peak RSS, loop (MB) | peak RSS, end (MB) |"
    )
    print("|---:" * 7 + "|")
    for r in rows:
        a, b = r["shown_ms"], r["ready_ms"]
        print(
            f"| {r['n']:,} | {a['p50']:.1f} / {a['p95']:.1f} / {a['max']:.1f} | {b['p50']:.0f} / {b['p95']:.0f} / "
            f"{b['max']:.0f} | {r['search_s']:.1f} | {r['detections_s']:.1f} | {r['rss_loop_mb']:.0f} "
            f"| {r['rss_peak_mb']:.0f} |"
        )


def scale(args) -> None:
    folder = Path(args.dir or tempfile.gettempdir()).resolve()
    rows = []
    for n in args.sizes:
        need = n * DIM * 2
        free = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
        if free < need * 1.2:
            print(f"skip {n:,}: {need / 1e9:.2f} GB needed in {folder}, {free / 1e9:.2f} GB free", file=sys.stderr)
            continue
        path = folder / f"alwidget-bench-scale-{n}.npy"
        labels = folder / f"alwidget-bench-scale-{n}.labels.npy"
        try:
            t0 = time.perf_counter()
            y = write_pool(path, n)
            np.save(labels, y)
            print(f"{n:,}: wrote {need / 1e9:.2f} GB in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
            # a fresh process per size, this module run from the repository root
            cmd = [sys.executable, "-m", "benchmarks.perf.bench_scale", "--one", str(path), str(labels)]
            cmd += ["--rounds", str(args.rounds)]
            if args.session:
                cmd.append("--session")
            if args.no_predict:
                cmd.append("--no-predict")
            if args.candidates:
                cmd += ["--candidates", str(args.candidates)]
            res = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=C.ROOT)
            if res.returncode:
                print(res.stdout, res.stderr, file=sys.stderr)
                raise SystemExit(f"the run for {n:,} failed")
            r = json.loads(res.stdout.strip().splitlines()[-1])
            r["n"], r["gb"] = n, need / 1e9
            rows.append(r)
            print(json.dumps(r), file=sys.stderr, flush=True)
        finally:
            if not args.keep:
                path.unlink(missing_ok=True)
                labels.unlink(missing_ok=True)
    print(f"Machine: {C.machine()}\n")
    if args.session:
        session_table(rows)
        return
    print(
        "| windows x 192 | float16 file (GB) | build (s) | cold start query(10) (ms) | teach->query p50 (ms) "
        "| p95 (ms) | max (ms) | predict_proba() whole pool (s) | peak RSS, loop (MB) | peak RSS, end (MB) "
        "| RSS after imports (MB) |"
    )
    print("|---:" * 11 + "|")
    for r in rows:
        tq = r["teach_query_ms"]
        cold = ", ".join(f"{c:.0f}" for c in r["cold_start_ms"])
        pp = f"{r['predict_proba_s']:.1f}" if "predict_proba_s" in r else "-"
        print(
            f"| {r['n']:,} | {r['gb']:.2f} | {r['build_s']:.1f} | {cold} | {tq['p50']:.0f} | {tq['p95']:.0f} "
            f"| {tq['max']:.0f} | {pp} | {r['rss_loop_mb']:.0f} | {r['rss_peak_mb']:.0f} | {r['rss_imports_mb']:.0f} |"
        )


# ----------------------------------------------------------------------------- label efficiency
def load_pools(which: list[str]) -> dict:
    """name -> pool for the pools asked for and available (``classes=None``: simulate takes them from y)."""
    pools = {}
    for name, n in (("subclusters-100k", 100_000), ("subclusters-1m", 1_000_000)):
        if name in which:
            X, y = C.subclusters(n + 20_000, seed=3)
            pools[name] = C.Pool(name, None, X[:n], y[:n], X[n:], y[n:], None)
    for name in ("asterisk-lang", "megaglest-unit"):
        if name not in which:
            continue
        try:
            pools[name] = C.real_pool(name)
            pools[name].classes = None
        except Exception as exc:  # not downloadable here: skip, say why
            print(f"pool {name} skipped: {type(exc).__name__}: {exc}", file=sys.stderr)
    return pools


def curves_for(pool, seeds, candidates=None) -> tuple[np.ndarray, np.ndarray]:
    """Margin sampling's curves (seeds, steps) with the default model, exhaustive or with ``candidates``."""
    kw = {} if candidates is None else {"candidates": candidates}
    steps, curves = C.alwidget_curves(pool, {"margin": ("margin", "spread")}, seeds, learner_kwargs=kw)
    return steps, curves["margin"]


def efficiency(args) -> None:
    seeds = list(range(args.seeds))
    pools = load_pools(args.pools)
    print(f"Machine: {C.machine()}\n")
    print("| pool | scoring | acc@20 | acc@50 | acc@150 | AULC 5-150 | AULC minus exhaustive, per seed | mean ± std |")
    print("|---|---|---|---|---|---|---|---|")
    for name, pool in pools.items():
        n = len(pool.X)
        sizes = [None] + [m for m in args.subset_sizes(n) if m < n]
        base = None
        for m in sizes:
            t0 = time.perf_counter()
            steps, acc = curves_for(pool, seeds, candidates=n if m is None else m)  # n: exhaustive
            dt = time.perf_counter() - t0
            a = C.aulc(acc, steps)
            at = {k: acc[:, list(steps).index(k)] for k in (20, 50, 150)}
            label = "exhaustive" if m is None else f"sample {m:,} ({100 * m / n:.1f} %)"
            if base is None:
                base = a
                diff, summary = "", ""
            else:
                d = C.paired(a, base)
                diff = ", ".join(f"{v:+.3f}" for v in d)
                summary = C.mean_std(d, signed=True)
            print(
                f"| {name} ({n:,}) | {label} | {C.mean_std(at[20])} | {C.mean_std(at[50])} | {C.mean_std(at[150])} | "
                f"{C.mean_std(a)} | {diff} | {summary} |",
                flush=True,
            )
            print(f"  ({name}, {label}: {dt:.0f} s)", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- float16 against float32
def float16_check(args) -> None:
    from alwidget import ActiveLearner

    seeds = list(range(args.seeds))
    pools = load_pools(args.pools)
    print(f"Machine: {C.machine()}\n")
    print(
        "| pool | largest value | AULC float32 | AULC float16 | float16 minus float32, per seed "
        "| query(10) overlap after 20 / 50 / 150 random labels | max abs difference of probabilities |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, pool in pools.items():
        y = pool.y
        X32 = np.ascontiguousarray(pool.X, dtype=np.float32)
        X16 = X32.astype(np.float16)
        Xt16 = np.asarray(pool.X_test, dtype=np.float16)
        steps, a32 = curves_for(C.Pool(name, None, X32, y, pool.X_test, pool.y_test, None), seeds)
        _, a16 = curves_for(C.Pool(name, None, X16, y, Xt16, pool.y_test, None), seeds)
        A32, A16 = C.aulc(a32, steps), C.aulc(a16, steps)
        overlaps, worst = {20: [], 50: [], 150: []}, 0.0
        classes = sorted(set(np.asarray(y).tolist()), key=str)
        for s in seeds:
            for n_lab in overlaps:
                lab = np.random.default_rng([s, n_lab]).choice(len(X32), n_lab, replace=False)
                picks, probs = [], []
                for Xp in (X32, X16):
                    learner = ActiveLearner(Xp, classes, seed=s)
                    learner.teach(lab, np.asarray(y, dtype=object)[lab])
                    picks.append(set(learner.query(10).tolist()))
                    probs.append(learner.predict_proba())
                overlaps[n_lab].append(len(picks[0] & picks[1]) / 10)
                worst = max(worst, float(np.abs(probs[0] - probs[1]).max()))
        d = C.paired(A16, A32)
        ov = " / ".join(f"{np.mean(v):.2f}" for v in overlaps.values())
        print(
            f"| {name} ({len(X32):,}) | {np.abs(X32).max():.1f} | {C.mean_std(A32)} | "
            f"{C.mean_std(A16)} | {', '.join(f'{v:+.3f}' for v in d)} "
            f"(mean {d.mean():+.3f}) | {ov} | {worst:.1e} |",
            flush=True,
        )


# ----------------------------------------------------------------------------- main
def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--rounds", type=int, default=30, help="timed teach -> query rounds per size")
    ap.add_argument("--dir", default=None, help="where the float16 file goes (default: the temp folder)")
    ap.add_argument("--keep", action="store_true", help="keep the files")
    ap.add_argument("--no-predict", action="store_true", help="skip predict_proba() of the whole pool")
    ap.add_argument("--candidates", type=int, default=None, help="ActiveLearner(candidates=...) (default: its own)")
    ap.add_argument("--session", action="store_true", help="the widget's LabelingSession instead of the learner")
    ap.add_argument("--efficiency", action="store_true", help="label efficiency: exhaustive vs subset scoring")
    ap.add_argument("--float16", action="store_true", help="float16 vs float32 pools")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument(
        "--pools",
        nargs="+",
        default=["subclusters-1m", "asterisk-lang", "megaglest-unit"],
        help="pools for --efficiency / --float16",
    )
    ap.add_argument(
        "--fractions",
        type=float,
        nargs="+",
        default=[0.02, 0.002],
        help="sample sizes as fractions of a large pool (--efficiency; 0.02 = 200k of 10M)",
    )
    ap.add_argument(
        "--subsets", type=int, nargs="+", default=[50, 100, 200, 400], help="sample sizes for the small pools"
    )
    ap.add_argument("--one", nargs=2, metavar=("NPY", "LABELS"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.subset_sizes = lambda n: (
        [int(f * n) for f in args.fractions] if n >= 100_000 else [m for m in args.subsets if m < n]
    )
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # BLAS and OpenMP on one thread, as in the other benchmarks
        if args.one and args.session:
            print(json.dumps(run_session(args.one[0], args.one[1], args.rounds, args.candidates)))
        elif args.one:
            print(json.dumps(run_one(args.one[0], args.one[1], args.rounds, not args.no_predict, args.candidates)))
        elif args.efficiency:
            efficiency(args)
        elif args.float16:
            float16_check(args)
        else:
            scale(args)


if __name__ == "__main__":
    main()
