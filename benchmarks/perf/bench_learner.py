"""Benchmark the ActiveLearner: fit, query and teach -> next-query latency.

Run by hand from the repository root (figures are printed, never asserted)::

    python -m benchmarks.perf.bench_learner                 # 10k, 100k, 1M x 128 on CPU
    python -m benchmarks.perf.bench_learner --sizes 10000   # quicker
    python -m benchmarks.perf.bench_learner --device cuda   # when a GPU is present
    python -m benchmarks.perf.bench_learner --models linear spread   # both models, same run

Pools are Gaussian blobs (10 classes, 128 float32 dims). For each pool size:

* ``graph`` - (``"spread"`` only) building the k-NN graph of the pool (or of
  its 2,000-clip sample), once per learner;
* ``fit`` - training the model from scratch on 1,000 labels (median of 5);
* ``refit`` - the same after 10 more labels, warm-started from the previous
  fit as the learner does (median of 5; "n/a" for versions without warm starts);
* ``query`` - ``query(10)`` right after new labels (fit + score the pool +
  entropy + select), median of 5;
* ``teach->query`` - one ``teach`` followed by ``query(1)``, repeated
  ``--steps`` times from 100 labels: p50 and p95, the latency a person feels
  between giving a label and seeing the next clip chosen by a fresh model;
* ``peak RSS`` - the process's peak resident memory after the run.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from alwidget import ActiveLearner
from alwidget.models import make_model
from benchmarks import _common as C

N_CLASSES = 10
DIM = 128


def make_pool(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Blobs built in float32 chunks so the 1M pool costs 512 MB, not 1 GB."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(N_CLASSES, DIM)).astype(np.float32) * 0.35
    y = rng.integers(0, N_CLASSES, n)
    X = np.empty((n, DIM), dtype=np.float32)
    for s in range(0, n, 100_000):
        e = min(n, s + 100_000)
        X[s:e] = rng.standard_normal((e - s, DIM), dtype=np.float32)
        X[s:e] += centres[y[s:e]]
    return X, y


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f}"


def bench(n: int, device: str, steps: int, model: str = "linear") -> dict:
    X, y = make_pool(n)
    names = np.array([f"c{i}" for i in range(N_CLASSES)], dtype=object)
    t0 = time.perf_counter()
    learner = ActiveLearner(X, list(names), strategy="entropy", device=device, model=model)
    init = time.perf_counter() - t0

    rng = np.random.default_rng(1)
    first = rng.choice(n, 1000, replace=False)
    learner.teach(first, names[y[first]])
    graph_s = None
    if model == "spread":
        t0 = time.perf_counter()
        graph = C.pool_graph(learner, model)
        graph_s = time.perf_counter() - t0
    learner.fit()  # warm-up (torch's first call is slow)
    codes = y[first]
    rows = learner.features(first)
    fits, refits = [], []
    more = np.concatenate([first, rng.choice(np.setdiff1d(np.arange(n), first), 10, replace=False)])
    more_rows, more_codes = learner.features(more), y[more]
    pools = ({}, {}) if model != "spread" else ({"pool": (graph, first)}, {"pool": (graph, more)})
    for _ in range(5):
        t = time.perf_counter()
        fitted = make_model(model, device=device).fit(rows, codes, n_classes=N_CLASSES, **pools[0])
        fits.append(time.perf_counter() - t)
        try:
            t = time.perf_counter()
            warm = make_model(model, device=device)
            warm.fit(more_rows, more_codes, n_classes=N_CLASSES, init=fitted.params_, **pools[1])
            refits.append(time.perf_counter() - t)
        except TypeError:  # a version without warm starts
            pass

    queries = []
    for _ in range(5):
        new = learner.query(10)
        learner.teach(new, names[y[new]])
        t = time.perf_counter()
        learner.query(10)
        queries.append(time.perf_counter() - t)

    small = ActiveLearner(X, list(names), strategy="entropy", device=device, model=model)
    start = rng.choice(n, 100, replace=False)
    small.teach(start, names[y[start]])
    q = small.query(1)
    loop = []
    for _ in range(steps):
        t = time.perf_counter()
        small.teach(q, names[y[q]])
        q = small.query(1)
        loop.append(time.perf_counter() - t)
    return {
        "n": n,
        "model": model,
        "init": init,
        "graph": graph_s,
        "fit": float(np.median(fits)),
        "refit": float(np.median(refits)) if refits else None,
        "query": float(np.median(queries)),
        "p50": float(np.percentile(loop, 50)),
        "p95": float(np.percentile(loop, 95)),
        "rss_mb": C.peak_rss_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=40, help="teach -> query repetitions")
    parser.add_argument("--models", nargs="+", default=["linear"], choices=["linear", "spread", "mlp"])
    args = parser.parse_args()

    print(f"# alwidget learner benchmark: {torch.get_num_threads()} torch threads, device {args.device}")
    print(f"Machine: {C.machine()}\n")
    print(
        "| pool x 128 | model | init (ms) | graph (ms) | fit 1k labels (ms) | refit +10, warm (ms) | query(10) (ms) "
        "| teach->query p50 (ms) | p95 (ms) | peak RSS (MB) |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in args.sizes:
        for model in args.models:
            r = bench(n, args.device, args.steps, model)
            refit = "n/a" if r["refit"] is None else ms(r["refit"])
            graph = "" if r["graph"] is None else ms(r["graph"])
            print(
                f"| {r['n']:,} | {model} | {ms(r['init'])} | {graph} | {ms(r['fit'])} | {refit} | {ms(r['query'])} "
                f"| {ms(r['p50'])} | {ms(r['p95'])} | {r['rss_mb']:8.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
