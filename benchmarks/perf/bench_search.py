"""Benchmark search by example (alwidget.search.similar): exact vs approximate.

Run by hand from the repository root (figures are printed, never asserted)::

    python -m benchmarks.perf.bench_search                  # 100k and 1M x 192
    python -m benchmarks.perf.bench_search --quick          # 20k, 50 queries: a smoke run
    python -m benchmarks.perf.bench_search --sizes 300000 --queries 100

Pools are clustered synthetic embeddings (192 float32 dims): 100 clusters,
each spread along its own 16-d subspace, plus isotropic noise, offset from the
origin so that standardisation matters. ~100 clips are labelled, and every
query is a single pool clip with ``exclude_labeled=True``. Per pool size:

* ``shards`` - the index's shards (fixed rows per shard);
* ``build`` - building the approximate (voyager HNSW) index, all shards;
* ``exact p50 / p95`` and ``approx p50 / p95`` - latency of one ``similar``
  call, ``n=10``, over ``--queries`` queries (the index already built);
* ``recall@10`` - of the approximate top 10 against the exact top 10, mean
  and worst query;
* ``peak RSS`` - the process's peak resident memory so far (sizes run in
  increasing order, so each line includes everything before it).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import time

import numpy as np

from alwidget import ActiveLearner, search
from benchmarks import _common as C

DIM = 192
N_CLUSTERS = 100
SUBSPACE = 16


def make_pool(n: int, seed: int = 0) -> np.ndarray:
    """Clustered float32 embeddings ``(n, DIM)``, built in chunks (no float64 copy)."""
    rng = np.random.default_rng(seed)
    centres = (rng.normal(size=(N_CLUSTERS, DIM)) + 3.0).astype(np.float32)
    bases = (rng.normal(size=(N_CLUSTERS, SUBSPACE, DIM)) * 0.35).astype(np.float32)
    X = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, 50_000):
        stop = min(n, start + 50_000)
        y = rng.integers(0, N_CLUSTERS, stop - start)
        coords = rng.standard_normal((stop - start, SUBSPACE), dtype=np.float32)
        X[start:stop] = centres[y] + np.einsum("ni,nid->nd", coords, bases[y])
        X[start:stop] += rng.standard_normal((stop - start, DIM), dtype=np.float32) * 0.3
    return X


def bench(n: int, n_queries: int, n_labels: int) -> dict:
    X = make_pool(n)
    learner = ActiveLearner(X, ["a", "b"])
    rng = np.random.default_rng(1)
    learner.teach(rng.choice(n, n_labels, replace=False).tolist(), "a")
    queries = [int(i) for i in rng.choice(n, n_queries, replace=False)]

    t0 = time.perf_counter()
    search.build_index(learner)
    build = time.perf_counter() - t0

    t_exact, t_approx, recalls = [], [], []
    for q in queries:
        t0 = time.perf_counter()
        exact = search.similar(learner, q, 10, approximate=False)
        t1 = time.perf_counter()
        approx = search.similar(learner, q, 10, approximate=True)
        t2 = time.perf_counter()
        t_exact.append(t1 - t0)
        t_approx.append(t2 - t1)
        recalls.append(len(np.intersect1d(exact.indices, approx.indices)) / 10)
    return {
        "n": n,
        "shards": -(-n // C.search_settings()["shard_rows"]),
        "build": build,
        "exact": np.percentile(t_exact, [50, 95]),
        "approx": np.percentile(t_approx, [50, 95]),
        "recall": (float(np.mean(recalls)), float(np.min(recalls))),
        "rss": C.peak_rss_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--labels", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="20k clips, 50 queries")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.queries = [20_000], 50
    if importlib.util.find_spec("voyager") is None:
        raise SystemExit("this benchmark needs voyager: pip install 'alwidget[search]'")

    print(f"Machine: {C.machine('voyager')} at start")
    h = C.search_settings()
    print(
        f"HNSW M={h['hnsw_m']}, ef_construction={h['ef_construction']}, ef_search>={h['ef_search']}, "
        f"shards of {h['shard_rows']:,} rows; exact chunks of {h['chunk_rows']:,} rows"
    )
    header = (
        "| clips     | shards | build (s) | exact p50 (ms) | exact p95 (ms) | approx p50 (ms) | approx p95 (ms) "
        "| recall@10 mean / min | peak RSS (MB) |"
    )
    print(header)
    print("|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|")
    for n in sorted(args.sizes):
        r = bench(n, args.queries, args.labels)
        print(
            f"| {r['n']:>9,} | {r['shards']:>6} | {r['build']:>9.1f} "
            f"| {r['exact'][0] * 1e3:>14.1f} | {r['exact'][1] * 1e3:>14.1f} "
            f"| {r['approx'][0] * 1e3:>15.2f} | {r['approx'][1] * 1e3:>15.2f} "
            f"| {r['recall'][0]:>10.4f} / {r['recall'][1]:.1f}    | {r['rss']:>13.0f} |",
            flush=True,
        )
    print(f"load average {os.getloadavg()[0]:.1f} at the end ({args.queries} queries per size)")


if __name__ == "__main__":
    main()
