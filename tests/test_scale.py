"""Large pools: memory-mapped float16/float32 embeddings and candidate subsets (issue 14)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from alwidget import ActiveLearner
from alwidget import learner as learner_module
from alwidget import _pool as pool_module
from alwidget import strategies
from alwidget._validation import check_embeddings, release_pages
from alwidget.errors import InvalidInputError


def _pool(n=1500, d=12, k=4, seed=7):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * 1.5
    y = rng.integers(0, k, n)
    return (centres[y] + rng.normal(size=(n, d))).astype(np.float32), y


def _run(learner, y, rounds=4, n=4):
    picks = []
    for _ in range(rounds):
        q = learner.query(n)
        picks.append(q.tolist())
        learner.teach(q, y[q])
    return picks


# ---------------------------------------------------------------- a pool on disk, never loaded
_HWM = """
def hwm():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads VmHWM from /proc (Linux)")
def test_memory_mapped_pool_is_never_loaded_whole(tmp_path):
    # 2M windows x 192 float16 = 768 MB (732 MiB) on disk. Peak RSS growth (VmHWM
    # after the work minus after the imports and one tiny fit), measured on the
    # 2-core VM with this script: about 165 MiB, mostly fixed costs (torch's first
    # fits, the cold start's 20,000 x 192 float64 features). Loading numba's
    # compiled solver is a fixed cost of the libraries, paid before the baseline
    # (it added 100 MiB to the growth when it was loaded during the work). Loading the pool (np.load without
    # mmap_mode): +880 MiB. Reading it through the map without releasing pages
    # (release_pages a no-op): +900 MiB, as the scans and the scattered candidates
    # map the whole file. The code before this test (float32 copy in
    # check_embeddings, whole-pool scoring per query): +2,410 MiB. Exact search
    # (learner.similar) scans the whole map too, releasing each chunk. The learner
    # holds its candidates' rows in float32 (candidates x d x 4 bytes: 37 MiB
    # here, 15 MiB at the default 20,000), whatever the size of the pool.
    # The bound below is 40 % of the file.
    n, d, k = 2_000_000, 192, 4
    path, labels = tmp_path / "pool.npy", tmp_path / "labels.npy"
    rng = np.random.default_rng(0)
    block = 65_536
    centres = rng.normal(size=(k, d)).astype(np.float32) * 0.5 + 3.0
    y_block = rng.integers(0, k, block)
    rows = (centres[y_block] + rng.standard_normal((block, d), dtype=np.float32)).astype(np.float16)
    with open(path, "wb") as f:  # through the file API: this process never maps it
        np.lib.format.write_array_header_1_0(f, {"descr": "<f2", "fortran_order": False, "shape": (n, d)})
        for start in range(0, n, block):
            f.write(rows[: min(block, n - start)].tobytes())
    np.save(labels, np.resize(y_block, n))
    code = (
        _HWM
        + f"""
import json
import numpy as np
import torch
from alwidget import ActiveLearner
from alwidget.models import SoftmaxRegression
torch.set_num_threads(1)
SoftmaxRegression().fit(np.eye(6), np.arange(6) % 2)  # one-time library costs (numba's compiled solver) first
base = hwm()
X = np.load({str(path)!r}, mmap_mode="r")
y = np.load({str(labels)!r})
learner = ActiveLearner(X, list(range({k})), candidates=50_000)
assert learner.embeddings.dtype == np.float16 and np.shares_memory(learner.embeddings, X)
for _ in range(3):
    q = learner.query(5)
    learner.teach(q, y[q])
picks = learner.query(3)
few = learner.predict_proba(X[:10])
table = learner.predict_proba()  # the whole pool, streamed in chunks: 2M x 4 float32 = 32 MB
found = learner.similar(int(picks[0]), n=10, approximate=False)  # exact search: a scan of the whole map
print(json.dumps({{"base": base, "peak": hwm(), "labels": learner.n_labeled, "picks": picks.tolist(),
                   "subset": not learner._scores_whole_pool(), "rows": len(table), "few": few.shape[0],
                   "found": len(found.indices)}}))
"""
    )
    try:
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    finally:
        path.unlink(missing_ok=True)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["labels"] == 15 and len(out["picks"]) == 3 and out["subset"]
    assert out["rows"] == n and out["few"] == 10 and out["found"] == 10
    file_mb = n * d * 2 / 2**20
    grown = out["peak"] - out["base"]
    assert grown < file_mb * 0.4, f"peak RSS grew by {grown:.0f} MiB for a {file_mb:.0f} MiB memory-mapped pool"


# ---------------------------------------------------------------- float16 / float32, mapped or not
@pytest.mark.parametrize("candidates", [None, 500])
def test_memmaps_give_the_queries_of_an_in_memory_float32_copy(tmp_path, candidates):
    X, y = _pool(3000, 16)
    X16 = X.astype(np.float16)
    X32 = X16.astype(np.float32)  # the same numbers, in memory
    np.save(tmp_path / "x16.npy", X16)
    np.save(tmp_path / "x32.npy", X32)
    pools = {
        "float32 in memory": X32,
        "float16 in memory": X16,
        "float16 memmap": np.load(tmp_path / "x16.npy", mmap_mode="r"),
        "float32 memmap": np.load(tmp_path / "x32.npy", mmap_mode="r"),
    }
    results = {}
    for name, pool in pools.items():
        learner = ActiveLearner(pool, list(range(4)), candidates=candidates, seed=2)
        picks = _run(learner, y, rounds=5, n=3)
        pool_ = learner.pool
        results[name] = (picks, learner.predict_proba(), pool_.mean, pool_.scale, learner.embeddings.dtype)
    ref = results["float32 in memory"]
    for name, (picks, proba, mean, scale, dtype) in results.items():
        assert picks == ref[0], name
        assert np.array_equal(proba, ref[1]), name
        assert np.array_equal(mean, ref[2]) and np.array_equal(scale, ref[3]), name
        assert dtype == (np.float16 if "float16" in name else np.float32), name


def test_float16_pool_on_the_float32_scoring_path_matches_its_float32_copy():
    # 30,000 x 160 = 4.8M values: above _EXACT_SCORE_VALUES, so scored in float32 chunks
    X, y = _pool(30_000, 160, k=5, seed=3)
    X16 = X.astype(np.float16)
    a = ActiveLearner(X16, list(range(5)), candidates=20_000)
    b = ActiveLearner(X16.astype(np.float32), list(range(5)), candidates=20_000)
    assert _run(a, y, rounds=3) == _run(b, y, rounds=3)
    assert np.array_equal(a.predict_proba(), b.predict_proba())


def test_check_embeddings_keeps_float16_and_memmaps_without_copy(tmp_path):
    X16 = np.ones((10, 3), dtype=np.float16)
    assert check_embeddings(X16, allow_float16=True) is X16
    widened = check_embeddings(X16)  # other callers still get float32
    assert widened.dtype == np.float32 and not np.shares_memory(widened, X16)
    np.save(tmp_path / "a.npy", np.arange(12, dtype=np.float32).reshape(4, 3))
    M = np.load(tmp_path / "a.npy", mmap_mode="r")
    assert check_embeddings(M) is M
    np.save(tmp_path / "b.npy", np.arange(12, dtype=np.float64).reshape(4, 3))
    B = check_embeddings(np.load(tmp_path / "b.npy", mmap_mode="r"))
    assert B.dtype == np.float32 and B[3, 2] == 11


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_float16_is_found_with_its_row_and_column(tmp_path, bad):
    X = np.zeros((70_000, 4), dtype=np.float16)  # more than one block
    X[66_000, 2] = bad
    np.save(tmp_path / "x.npy", X)
    for pool in (X, np.load(tmp_path / "x.npy", mmap_mode="r")):
        with pytest.raises(InvalidInputError, match="at row 66000, column 2"):
            ActiveLearner(pool, ["a", "b"])
    X[66_000, 2] = 65504  # the largest float16 is finite
    ActiveLearner(X, ["a", "b"])


def test_release_pages_leaves_the_data_and_other_arrays_alone(tmp_path):
    X = np.arange(40_000, dtype=np.float32).reshape(10_000, 4)
    np.save(tmp_path / "x.npy", X)
    for mode in ("r", "r+", "c"):
        M = np.load(tmp_path / "x.npy", mmap_mode=mode)
        total = float(M.sum())
        release_pages(M)
        release_pages(M[100:200], 10, 50)
        release_pages(M[::3])
        assert float(M.sum()) == total
    C = np.load(tmp_path / "x.npy", mmap_mode="c")  # copy-on-write: a private change must survive
    C[5, 1] = -1.0
    release_pages(C)
    assert C[5, 1] == -1.0
    A = X.copy()
    release_pages(A)  # an in-memory array: nothing happens
    assert np.array_equal(A, X)


# ---------------------------------------------------------------- exhaustive below the limit, subsets above
# Picks of the code before candidate subsets (commit dc81868), same pool and calls:
# exhaustive scoring of pools up to `candidates` rows must keep giving them.
_BEFORE = {
    "margin": [[128, 339, 1188, 853], [188, 471, 717, 1281], [1225, 1057, 620, 274], [1141, 1400, 527, 621]],
    "entropy": [[128, 339, 1188, 853], [979, 144, 682, 535], [360, 398, 590, 1057], [765, 274, 356, 999]],
    "least_confidence": [[128, 339, 1188, 853], [979, 144, 430, 621], [524, 186, 765, 1245], [811, 1404, 924, 1156]],
    "diverse": [[128, 339, 1188, 853], [1310, 471, 404, 592], [1278, 524, 723, 662], [502, 443, 974, 1073]],
    "random": [[355, 128, 268, 1214], [876, 1346, 684, 13], [1410, 187, 526, 630], [973, 312, 512, 582]],
}


@pytest.mark.parametrize("strategy", sorted(_BEFORE))
@pytest.mark.parametrize("candidates", [None, 1500, 10**9])
def test_exhaustive_below_the_limit_picks_as_before(strategy, candidates):
    X, y = _pool()
    # the picks were recorded with the linear model (the default then)
    learner = ActiveLearner(X, list(range(4)), strategy=strategy, seed=3, candidates=candidates, model="linear")
    assert learner._scores_whole_pool()
    assert _run(learner, y) == _BEFORE[strategy]


def _recording_strategy(seen):
    def strategy(learner, candidates, n, rng):
        seen.append(np.array(candidates))
        return candidates[:n]

    return strategy


def test_subset_is_seeded_sized_and_only_unlabelled():
    X, y = _pool(5000, 8)
    seen: list = []
    learner = ActiveLearner(X, list(range(4)), strategy=_recording_strategy(seen), seed=1, candidates=700)
    learner.teach([0, 1, 2, 3, 4, 5], y[:6])
    learner.skip([6, 7])
    learner.query(3, exclude=[8, 9])
    learner.query(3, exclude=[8, 9])
    first, again = seen
    assert np.array_equal(first, again)  # same calls, same subset
    assert 690 <= len(first) <= 700 and len(np.unique(first)) == len(first)  # 700 rows but those set aside
    assert not np.isin(first, np.arange(10)).any()  # labelled, skipped and excluded rows are never candidates
    learner.teach(int(first[0]), y[first[0]])
    learner.query(3)
    assert not np.array_equal(seen[-1], first)  # a new label, a new subset
    seen.clear()
    other = ActiveLearner(X, list(range(4)), strategy=_recording_strategy(seen), seed=2, candidates=700)
    other.teach([0, 1, 2, 3, 4, 5], y[:6])
    other.skip([6, 7])
    other.query(3, exclude=[8, 9])
    assert not np.array_equal(seen[0], first)  # another seed, another subset
    twin: list = []
    same = ActiveLearner(X, list(range(4)), strategy=_recording_strategy(twin), seed=1, candidates=700)
    same.teach([0, 1, 2, 3, 4, 5], y[:6])
    same.skip([6, 7])
    same.query(3, exclude=[8, 9])
    assert np.array_equal(twin[0], first)  # the same seed in another learner


def test_the_window_moves_one_slice_per_label_and_holds_the_rows_it_scores(tmp_path):
    X, y = _pool(20_000, 6)
    np.save(tmp_path / "x.npy", X.astype(np.float16))
    M = np.load(tmp_path / "x.npy", mmap_mode="r")
    seen: list = []
    learner = ActiveLearner(M, list(range(4)), strategy=_recording_strategy(seen), candidates=1_600, seed=4)
    learner.teach([0, 1], y[:2].tolist())
    learner.teach(2, y[2])
    learner.query(2)
    learner.teach(3, y[3])
    learner.query(2)
    learner.teach(4, y[4])
    learner.query(2)
    a, b, c = seen
    window = learner._window
    assert window is not None and window.per == 100 and window.n_slices == 16
    perm = pool_module.permute(np.arange(20_000), 20_000, window.keys)
    assert np.array_equal(a, perm[0:1600][~np.isin(perm[0:1600], [0, 1, 2])])  # t = 3: slice 0
    assert np.array_equal(b, perm[100:1700][~np.isin(perm[100:1700], [0, 1, 2, 3])])  # t = 4: one slice on
    assert np.array_equal(c, perm[100:1700][~np.isin(perm[100:1700], [0, 1, 2, 3, 4])])  # t = 5: same slices
    assert len(np.intersect1d(a, b)) >= 1_500 - 5  # 15 of 16 slices kept
    some = b[[5, 0, 1200, 77, 5]]
    assert np.array_equal(window.rows(some), M[some].astype(np.float32))
    assert window.rows(np.array([0, 1, 2])) is None  # labelled rows are not candidates
    assert np.array_equal(window.buffer[window.positions(b)], M[b].astype(np.float32))
    assert window.positions(a) is None  # only the last candidates are held
    assert window.table is not None and np.array_equal(window.table, perm)  # a small pool's permutation table
    p = learner.candidate_proba(b)
    np.testing.assert_allclose(p, learner.predict_proba()[b], atol=1e-6)


def test_subset_queries_are_reproducible_and_use_the_subset():
    X, y = _pool(4000, 10)
    a = _run(ActiveLearner(X, list(range(4)), candidates=300, seed=5), y, rounds=6)
    b = _run(ActiveLearner(X, list(range(4)), candidates=300, seed=5), y, rounds=6)
    assert a == b
    full = _run(ActiveLearner(X, list(range(4)), seed=5), y, rounds=6)
    assert a != full  # 300 of 4000 rows: other picks than exhaustive scoring


@pytest.mark.parametrize("n", [1, 2, 3, 7, 1000, 4097, 65_536, 100_003])
def test_permute_is_a_seeded_permutation(n):
    keys = np.random.default_rng(n).integers(0, 2**63, size=4, dtype=np.uint64)
    p = pool_module.permute(np.arange(n), n, keys)
    assert np.array_equal(np.sort(p), np.arange(n))
    assert np.array_equal(pool_module.permute(np.arange(n)[::-1].copy(), n, keys), p[::-1])
    if n >= 1000:  # no trace of the order it came from
        assert abs(np.corrcoef(np.arange(n), p)[0, 1]) < 0.1


def test_sample_candidates_is_uniform_and_exact():
    rng = np.random.default_rng(0)
    allowed = np.ones(100_000, dtype=bool)
    allowed[rng.choice(100_000, 5_000, replace=False)] = False
    counts = np.zeros(100_000)
    for s in range(40):
        rows = pool_module.sample_candidates(allowed, int(allowed.sum()), 2_000, np.random.default_rng(s))
        assert len(rows) == 2_000 and np.all(np.diff(rows) > 0) and allowed[rows].all()
        counts[rows] += 1
    # each allowed row is drawn with probability 2000 / 95000 per draw: no region is favoured
    assert abs(counts[:50_000].sum() - counts[50_000:].sum()) < 0.05 * counts.sum()
    few = np.zeros(100_000, dtype=bool)
    few[::50] = True  # mostly disallowed: the flatnonzero path
    rows = pool_module.sample_candidates(few, 2_000, 1_500, np.random.default_rng(1))
    assert len(rows) == 1_500 and few[rows].all() and len(np.unique(rows)) == 1_500


def test_candidate_proba_scores_only_the_rows_asked_for():
    X, y = _pool(3000, 10)
    learner = ActiveLearner(X, list(range(4)), candidates=400)
    learner.teach(np.arange(40), y[:40])
    rows = np.array([5, 2999, 17, 17, 1000])
    p = learner.candidate_proba(rows)
    assert learner._proba_cache is None  # the pool table was never computed
    assert p.shape == (5, 4) and not p.flags.writeable
    assert learner.candidate_proba(rows) is p  # cached for the same rows and model
    np.testing.assert_allclose(p, learner.predict_proba()[rows], atol=1e-6)
    np.testing.assert_allclose(learner.candidate_proba(rows), learner.predict_proba()[rows], atol=0)


def test_committee_on_a_subset_matches_the_whole_pool_rows(tmp_path):
    X, y = _pool(2000, 10)
    np.save(tmp_path / "x.npy", X.astype(np.float16))
    M = np.load(tmp_path / "x.npy", mmap_mode="r")
    learner = ActiveLearner(M, list(range(4)), strategy="vote_entropy", candidates=300)
    learner.teach(np.arange(30), y[:30])
    rows = np.array([7, 3, 1999, 3])
    whole = learner.committee_proba()
    np.testing.assert_array_equal(learner.committee_proba(rows), whole[:, rows])
    assert len(learner.query(4)) == 4


def test_invalid_candidates_are_refused():
    X, _ = _pool(100, 4)
    for bad in (0, -5, 2.5, True, "all"):
        with pytest.raises(InvalidInputError, match="candidates"):
            ActiveLearner(X, [0, 1], candidates=bad)


# ---------------------------------------------------------------- the streaming pieces
def _stats_reference(X):
    block = X.astype(np.float64)
    mean = block.sum(axis=0) / len(X)
    var = np.maximum((block * block).sum(axis=0) / len(X) - mean * mean, 0.0)
    scale = np.sqrt(var)
    scale[scale <= 1e-12 * np.maximum(1.0, np.abs(mean))] = 1.0
    return mean.astype(np.float32), scale.astype(np.float32)


@pytest.mark.parametrize("shape", [(1, 3), (7, 1), (500, 2), (1600, 192), (4096, 13)])
def test_pool_stats_of_one_block_are_bit_identical_to_before(shape):
    rng = np.random.default_rng(sum(shape))
    X = (rng.normal(size=shape) * 3 + 5).astype(np.float32)
    mean, scale = pool_module.pool_stats(X)
    ref_mean, ref_scale = _stats_reference(X)
    assert np.array_equal(mean, ref_mean) and np.array_equal(scale, ref_scale)


def test_pool_stats_in_many_blocks(monkeypatch, tmp_path):
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(5000, 6)) * 2 + 100).astype(np.float16)
    np.save(tmp_path / "x.npy", X)
    monkeypatch.setattr(pool_module, "_CHUNK_ROWS", 512)
    monkeypatch.setattr(pool_module, "_STATS_CHUNK", 700)
    ref_mean, ref_scale = _stats_reference(X.astype(np.float32))
    for pool in (X, X.astype(np.float32), np.load(tmp_path / "x.npy", mmap_mode="r")):
        mean, scale = pool_module.pool_stats(pool)
        np.testing.assert_allclose(mean, ref_mean, rtol=1e-6)
        np.testing.assert_allclose(scale, ref_scale, rtol=1e-5)


@pytest.mark.parametrize("mapped", [False, True])
@pytest.mark.parametrize("fault_around", [64, 1 << 20])  # through the map in runs / with pread
def test_gather_rows(monkeypatch, tmp_path, mapped, fault_around):
    X = np.arange(60_000, dtype=np.float32).reshape(20_000, 3)
    np.save(tmp_path / "x.npy", X)
    pool = np.load(tmp_path / "x.npy", mmap_mode="r") if mapped else X
    monkeypatch.setattr(pool_module, "_GATHER_BYTES", 4096)  # many runs
    monkeypatch.setattr(pool_module, "_FAULT_AROUND", fault_around)
    rows = np.random.default_rng(0).integers(0, 20_000, 500)  # unsorted, with repeats
    assert np.array_equal(pool_module.gather_rows(pool, rows), X[rows])
    assert np.array_equal(pool_module.gather_rows(pool, np.sort(rows)), X[np.sort(rows)])
    assert np.array_equal(pool_module.gather_rows(pool[100:], rows[rows < 19_900]), X[100:][rows[rows < 19_900]])
    assert pool_module.gather_rows(pool, np.empty(0, dtype=np.int64)).shape == (0, 3)
    if mapped:
        assert pool_module._file_rows(pool[100:]) == (str(tmp_path / "x.npy"), pool.offset + 100 * 12, 12)


def test_gather_rows_reads_a_copy_on_write_map_through_the_map(tmp_path, monkeypatch):
    X = np.arange(30_000, dtype=np.float32).reshape(10_000, 3)
    np.save(tmp_path / "x.npy", X)
    C = np.load(tmp_path / "x.npy", mmap_mode="c")
    C[9_000] = -1.0  # a private change the file does not have
    monkeypatch.setattr(pool_module, "_FAULT_AROUND", 1 << 20)
    assert pool_module._file_rows(C) is None
    assert np.array_equal(pool_module.gather_rows(C, np.array([5, 9_000])), [X[5], [-1.0, -1.0, -1.0]])


def test_margin_is_the_gap_between_the_top_two():
    rng = np.random.default_rng(0)
    for k in (2, 3, 10):
        P = rng.dirichlet(np.ones(k), size=1000).astype(np.float32)
        P[5, :2] = P[5].max()  # a tie at the top: margin 0
        top2 = np.partition(P, k - 2, axis=1)[:, -2:]
        assert np.array_equal(strategies.margin(P), top2[:, 1] - top2[:, 0])
    assert np.array_equal(strategies.margin(np.array([[0.3], [1.0]])), [0.3, 1.0])


def test_kmeans_pp_with_many_centres_in_blocks(monkeypatch):
    rng = np.random.default_rng(0)
    X, C = rng.normal(size=(300, 5)), rng.normal(size=(250, 5))
    expected = strategies.kmeans_pp(X, 6, np.random.default_rng(1), centers=C)
    monkeypatch.setattr(strategies, "_DIST_VALUES", 1000)  # 3 centres per block
    assert np.array_equal(strategies.kmeans_pp(X, 6, np.random.default_rng(1), centers=C), expected)


def test_cold_start_memory_does_not_grow_with_the_labels(monkeypatch):
    # 20,000 sampled candidates x 20,000 sampled labelled clips would be a 3.2 GB
    # distance matrix; distances are taken in blocks of _DIST_VALUES instead
    X, _ = _pool(3000, 6)
    learner = ActiveLearner(X, ["a", "b"])
    learner.teach(np.arange(2000), "a")  # one class: still the cold start
    sizes = []
    real = strategies._sq_dist
    monkeypatch.setattr(strategies, "_DIST_VALUES", 50_000)
    monkeypatch.setattr(strategies, "_sq_dist", lambda A, B: sizes.append(len(A) * len(B)) or real(A, B))
    assert len(learner.query(5)) == 5
    assert max(sizes) <= 50_000


def test_check_ids_fast_paths_and_errors():
    check = learner_module._check_ids
    assert check(np.arange(5), 5) == [0, 1, 2, 3, 4]
    assert all(type(i) is int for i in check(np.arange(5, dtype=np.uint32), 5))
    assert check(np.array(["a", "b"]), 2) == ["a", "b"]
    assert check(("x", 3, np.int64(4)), 3) == ["x", 3, 4]
    with pytest.raises(InvalidInputError, match="blank"):
        check(["a", "  "], 2)
    with pytest.raises(InvalidInputError, match="more than once"):
        check(["a", "b", "a"], 3)
    with pytest.raises(InvalidInputError, match="more than once"):
        check(np.array([1, 2, 2]), 3)
    with pytest.raises(InvalidInputError, match="3 ids for 2 clips"):
        check([1, 2, 3], 2)
    with pytest.raises(InvalidInputError, match="boolean"):
        check([1, True], 2)
    with pytest.raises(InvalidInputError, match="boolean"):
        check(np.array([True, False]), 2)
