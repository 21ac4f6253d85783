"""Search by example (alwidget.search.similar): exact, approximate, errors."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alwidget import ActiveLearner, search
from alwidget.errors import (
    AlwidgetWarning,
    IndexOutOfRangeError,
    InvalidInputError,
    MissingDependencyError,
)

CLASSES = ["bird", "bell"]


def clustered(n=300, d=8, k=6, seed=0, spread=1.0, centre_scale=2.0, offset=5.0):
    """Gaussian clusters away from the origin (so standardisation matters)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * centre_scale + offset
    y = rng.integers(0, k, n)
    return (centres[y] + rng.normal(size=(n, d)) * spread).astype(np.float32)


def reference(learner, q_rows, n, *, excluded=(), exclude_labeled=True):
    """Brute force in float64: (indices, scores) ordered by score desc, index asc."""
    Z = (learner.embeddings.astype(np.float64) - learner.pool.mean) / learner.pool.scale
    Z /= np.linalg.norm(Z, axis=1, keepdims=True)
    Q = (np.atleast_2d(q_rows).astype(np.float64) - learner.pool.mean) / learner.pool.scale
    Q /= np.linalg.norm(Q, axis=1, keepdims=True)
    c = Q.mean(axis=0)
    c /= np.linalg.norm(c)
    s = Z @ c
    ok = np.ones(learner.n_pool, dtype=bool)
    if exclude_labeled:
        ok &= learner._codes == -1
    ok[np.asarray(excluded, dtype=np.int64)] = False
    idx = np.flatnonzero(ok)
    order = np.lexsort((idx, -s[idx]))[:n]
    return idx[order], s[idx][order]


@pytest.fixture
def learner():
    return ActiveLearner(clustered(300), CLASSES)


# ---------------------------------------------------------------- exact search
def test_single_index_matches_brute_force(learner):
    for q in (0, 17, 299):
        got = search.similar(learner, q, 10)
        ref_idx, ref_s = reference(learner, learner.embeddings[q], 10, excluded=[q])
        assert got.indices.tolist() == ref_idx.tolist()
        np.testing.assert_allclose(got.scores, ref_s, atol=1e-5)
        assert got.indices.dtype == np.int64 and got.scores.dtype == np.float32
        assert got.indices.shape == got.scores.shape == (10,)
        assert q not in got.indices


def test_result_unpacks_and_is_frozen(learner):
    result = search.similar(learner, 3, 4)
    indices, scores = result
    assert indices is result.indices and scores is result.scores
    with pytest.raises(AttributeError):
        result.indices = np.arange(4)


@pytest.mark.parametrize("chunk", [1, 7, 64, 299, 300, 1000])
def test_chunk_boundaries(monkeypatch, chunk):
    learner = ActiveLearner(clustered(301, seed=3), CLASSES)
    learner.teach([5, 6, 150], "bird")
    monkeypatch.setattr(search, "_CHUNK_ROWS", chunk)
    for q, n in ((0, 1), (42, 9), (300, 25), (7, 301)):
        got = search.similar(learner, q, n)
        ref_idx, ref_s = reference(learner, learner.embeddings[q], n, excluded=[q])
        assert got.indices.tolist() == ref_idx.tolist()
        np.testing.assert_allclose(got.scores, ref_s, atol=1e-5)


@pytest.mark.parametrize("chunk", [3, 8, 65_536])
def test_sparse_path_when_most_clips_are_labelled(monkeypatch, chunk):
    learner = ActiveLearner(clustered(200, seed=4), CLASSES)
    learner.teach(list(range(0, 180)), "bell")  # 20 eligible: exact search gathers them
    monkeypatch.setattr(search, "_CHUNK_ROWS", chunk)
    got = search.similar(learner, 3, 8)
    ref_idx, _ = reference(learner, learner.embeddings[3], 8, excluded=[3])
    assert got.indices.tolist() == ref_idx.tolist()
    assert (got.indices >= 180).all()


@pytest.mark.parametrize("chunk", [2, 5, 65_536])
def test_exact_ties_go_to_the_lower_index(monkeypatch, chunk):
    X = clustered(60, seed=5)
    twins = [4, 11, 12, 29, 30, 47]
    X[twins] = X[4]
    learner = ActiveLearner(X, CLASSES)
    monkeypatch.setattr(search, "_CHUNK_ROWS", chunk)
    got = search.similar(learner, 4, 3)
    assert got.indices.tolist() == [11, 12, 29]  # three of five tied clips: the lowest indices
    assert got.scores[0] == got.scores[1] == got.scores[2]
    got = search.similar(learner, 4, 5)
    assert got.indices.tolist() == [11, 12, 29, 30, 47]
    again = search.similar(learner, 4, 5)
    assert again.indices.tolist() == got.indices.tolist()
    np.testing.assert_array_equal(again.scores, got.scores)


def test_exclude_labeled_leaves_out_labelled_and_skipped(learner):
    first = search.similar(learner, 0, 20).indices
    learner.teach(first[:3].tolist(), "bird")
    learner.skip(first[3:5].tolist())
    got = search.similar(learner, 0, 20)
    assert not set(got.indices) & set(first[:5])
    ref_idx, _ = reference(learner, learner.embeddings[0], 20, excluded=[0])
    assert got.indices.tolist() == ref_idx.tolist()
    everything = search.similar(learner, 0, 20, exclude_labeled=False)
    assert everything.indices.tolist() == first.tolist()  # labelled clips come back, the query never


def test_labelled_query_clip_is_allowed(learner):
    learner.teach(8, "bell")
    got = search.similar(learner, 8, 5)
    ref_idx, _ = reference(learner, learner.embeddings[8], 5, excluded=[8])
    assert got.indices.tolist() == ref_idx.tolist()


def test_several_indices_use_the_centroid_and_never_return_themselves(learner):
    q = [3, 40, 41, 200]
    got = search.similar(learner, q, 15)
    ref_idx, ref_s = reference(learner, learner.embeddings[q], 15, excluded=q)
    assert got.indices.tolist() == ref_idx.tolist()
    np.testing.assert_allclose(got.scores, ref_s, atol=1e-5)
    as_array = search.similar(learner, np.array(q, dtype=np.uint32), 15)
    assert as_array.indices.tolist() == got.indices.tolist()
    as_tuple = search.similar(learner, tuple(q), 15)
    assert as_tuple.indices.tolist() == got.indices.tolist()
    pair = search.similar(learner, (3, 40), 15)  # two ints: indices, not (waveform, sr)
    assert pair.indices.tolist() == reference(learner, learner.embeddings[[3, 40]], 15, excluded=[3, 40])[0].tolist()


def test_embedding_queries(learner):
    row = learner.embeddings[21].copy()
    got = search.similar(learner, row, 3)
    assert got.indices[0] == 21  # an embedding is not a pool index: its own clip is found
    assert got.scores[0] == pytest.approx(1.0, abs=1e-5)
    rows = learner.embeddings[[21, 22, 90]].astype(np.float64)
    got = search.similar(learner, rows, 12)
    ref_idx, ref_s = reference(learner, rows, 12)
    assert got.indices.tolist() == ref_idx.tolist()
    np.testing.assert_allclose(got.scores, ref_s, atol=1e-5)
    one_row = search.similar(learner, row[None, :], 3)
    assert one_row.indices.tolist() == search.similar(learner, row, 3).indices.tolist()


def test_audio_query_goes_through_embed(learner, tmp_path):
    calls = []

    def embed(audio, sr=None):
        calls.append((audio, sr))
        return learner.embeddings[7] if sr is None else learner.embeddings[[7, 8]]

    path = tmp_path / "query.wav"
    for query in (str(path), path):
        got = search.similar(learner, query, 4, embed=embed)
        assert got.indices[0] == 7
        assert calls[-1] == (query, None)
    wave = np.zeros(1600, dtype=np.float32)
    got = search.similar(learner, (wave, 16000), 4, embed=embed)
    assert calls[-1][0] is wave and calls[-1][1] == 16000
    ref_idx, _ = reference(learner, learner.embeddings[[7, 8]], 4)
    assert got.indices.tolist() == ref_idx.tolist()


def test_n_larger_than_the_eligible_clips(learner):
    learner.teach(list(range(290)), "bird")
    got = search.similar(learner, 0, 50)
    assert sorted(got.indices.tolist()) == list(range(290, 300))
    learner.teach(list(range(290, 300)), "bell")
    empty = search.similar(learner, 0, 5)
    assert empty.indices.shape == (0,) and empty.scores.shape == (0,)
    assert empty.indices.dtype == np.int64 and empty.scores.dtype == np.float32
    assert len(search.similar(learner, 0, 500, exclude_labeled=False).indices) == 299


def test_read_only_memory_mapped_pool(tmp_path):
    X = clustered(5_000, d=12, seed=15)
    np.save(tmp_path / "pool.npy", X)
    pool = np.load(tmp_path / "pool.npy", mmap_mode="r")
    learner = ActiveLearner(pool, CLASSES)
    assert not learner.pool.X.flags.writeable  # a view of the mapped file, not a copy
    got = search.similar(learner, [10, 11], 7)
    in_memory = search.similar(ActiveLearner(X, CLASSES), [10, 11], 7)
    assert got.indices.tolist() == in_memory.indices.tolist()
    np.testing.assert_array_equal(got.scores, in_memory.scores)
    if search._load_voyager() is not None:
        approx = search.similar(learner, [10, 11], 7, approximate=True)
        assert len(np.intersect1d(approx.indices, got.indices)) >= 6


def test_search_while_another_thread_labels():
    learner = ActiveLearner(clustered(2_000, seed=13), CLASSES)
    start = threading.Barrier(2)
    errors = []

    def label():
        start.wait()
        try:
            for i in range(1_000, 1_400):
                learner.teach(i, "bird")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    worker = threading.Thread(target=label)
    worker.start()
    start.wait()
    for _ in range(30):
        got = search.similar(learner, [0, 1], 20)
        assert len(got.indices) == 20 == len(set(got.indices.tolist()))
        assert 0 not in got.indices and 1 not in got.indices
    worker.join()
    assert errors == []
    assert not set(search.similar(learner, [0, 1], 50).indices.tolist()) & set(range(1_000, 1_400))


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("query", "error", "text"),
    [
        (300, IndexOutOfRangeError, "300"),
        (-1, IndexOutOfRangeError, "-1"),
        ([1, 2, 1000], IndexOutOfRangeError, "1000"),
        (np.array([5, 2**40]), IndexOutOfRangeError, str(2**40)),
        ([1, 2**70], IndexOutOfRangeError, str(2**70)),
        (True, InvalidInputError, "True"),
        ([1, True], InvalidInputError, "True"),
        (2.0, InvalidInputError, "2.0"),
        (None, InvalidInputError, "None"),
        (b"abc", InvalidInputError, "abc"),
        ([], InvalidInputError, "empty"),
        (np.zeros((0, 8)), InvalidInputError, "empty"),
        (np.array([[1, 2], [3, 4]]), InvalidInputError, "(2, 2)"),
        (np.ones(5), InvalidInputError, "(waveform, sr)"),
        (np.ones((2, 5)), InvalidInputError, "(2, 5)"),
        (np.ones((2, 2, 8)), InvalidInputError, "(2, 2, 8)"),
        (np.array([1.0, np.nan, 0, 0, 0, 0, 0, 0]), InvalidInputError, "nan"),
        (np.full((2, 8), np.inf), InvalidInputError, "inf"),
        (np.array(["a", "b"]), InvalidInputError, "'a'"),
    ],
)
def test_bad_queries_name_the_value(learner, query, error, text):
    with pytest.raises(error) as info:
        search.similar(learner, query, 3)
    assert text in str(info.value)


@pytest.mark.parametrize("n", [0, -1, 1.5, True, "3", None])
def test_bad_n(learner, n):
    with pytest.raises(InvalidInputError, match="n must be a positive integer"):
        search.similar(learner, 0, n)


def test_bad_flags(learner):
    with pytest.raises(InvalidInputError, match="exclude_labeled"):
        search.similar(learner, 0, 3, exclude_labeled="yes")
    with pytest.raises(InvalidInputError, match="approximate"):
        search.similar(learner, 0, 3, approximate="fast")


def test_audio_errors(learner, tmp_path):
    with pytest.raises(InvalidInputError, match=r"embed=dataset\.embed_query"):
        search.similar(learner, str(tmp_path / "a.wav"), 3)
    with pytest.raises(InvalidInputError, match=r"embed=dataset\.embed_query"):
        search.similar(learner, (np.zeros(100), 16000), 3)
    with pytest.raises(InvalidInputError, match="callable"):
        search.similar(learner, tmp_path / "a.wav", 3, embed="embedder")
    with pytest.raises(InvalidInputError, match=r"got \(7,\)"):
        search.similar(learner, tmp_path / "a.wav", 3, embed=lambda p: np.ones(7))
    with pytest.raises(InvalidInputError, match="nan"):
        search.similar(learner, tmp_path / "a.wav", 3, embed=lambda p: np.full(8, np.nan))
    with pytest.raises(InvalidInputError, match="str"):
        search.similar(learner, tmp_path / "a.wav", 3, embed=lambda p: "vector")


def test_undefined_direction_is_an_error():
    X = clustered(50, seed=6)
    learner = ActiveLearner(X, CLASSES)
    with pytest.raises(InvalidInputError, match="no direction"):
        search.similar(learner, learner.pool.mean.astype(np.float64), 3)
    mirrored = 2 * learner.pool.mean.astype(np.float64) - X[0]
    with pytest.raises(InvalidInputError, match="no direction"):
        search.similar(learner, np.stack([X[0], mirrored]), 3)
    # pool clips as the query: named by their pool index (the session adds the file name)
    X2 = np.vstack([X, 2 * X.mean(0) - X[0]])
    learner = ActiveLearner(X2, CLASSES)
    with pytest.raises(InvalidInputError, match=r"clips at pool indices \[0, 50\] has no direction"):
        search.similar(learner, [0, 50], 3)


# ---------------------------------------------------------------- optional dependency
def test_missing_library(monkeypatch, learner):
    monkeypatch.setattr(search, "_load_voyager", lambda: None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'alwidget\[search\]'"):
        search.similar(learner, 0, 3, approximate=True)
    with pytest.raises(MissingDependencyError):
        search.build_index(learner)
    # approximate=None on a pool above the threshold: exact, with one warning for the session
    monkeypatch.setattr(search, "_EXACT_MAX_ROWS", 100)
    monkeypatch.setattr(search, "_warned_missing", False)
    with pytest.warns(AlwidgetWarning, match=r"alwidget\[search\]"):
        got = search.similar(learner, 0, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = search.similar(learner, 0, 5)
    exact = search.similar(learner, 0, 5, approximate=False)
    assert got.indices.tolist() == again.indices.tolist() == exact.indices.tolist()


def test_small_pools_stay_exact_by_default(monkeypatch, learner):
    def fail(*a, **k):
        raise AssertionError("the index must not be built")

    monkeypatch.setattr(search, "_build", fail)
    search.similar(learner, 0, 5)
    search.similar(learner, 0, 5, approximate=False)
    assert search._cached_index(learner) is None


# ---------------------------------------------------------------- approximate search
voyager_needed = pytest.mark.skipif(search._load_voyager() is None, reason="needs voyager (alwidget[search])")


@pytest.fixture(scope="module")
def big_learner():
    X = clustered(20_000, d=64, k=40, seed=7, centre_scale=1.0, offset=0.0)
    learner = ActiveLearner(X, CLASSES)
    rng = np.random.default_rng(8)
    learner.teach(rng.choice(len(X), 50, replace=False).tolist(), "bird")
    learner.skip(rng.choice(learner.unlabeled_idx, 30, replace=False).tolist())
    return learner


@voyager_needed
def test_approximate_recall_against_exact(big_learner):
    rng = np.random.default_rng(9)
    d = big_learner.embeddings.shape[1]
    queries = [int(i) for i in rng.choice(big_learner.n_pool, 60, replace=False)]
    queries += list(big_learner.embeddings[rng.choice(big_learner.n_pool, 40)] + rng.normal(size=(40, d)))
    queries.append(big_learner.labeled_idx[:10])  # a labelled centroid: its labelled neighbours are excluded
    recalls = []
    for q in queries:
        approx = search.similar(big_learner, q, 10, approximate=True)
        exact = search.similar(big_learner, q, 10, approximate=False)
        assert len(approx.indices) == 10 == len(set(approx.indices.tolist()))
        assert (big_learner._codes[approx.indices] == -1).all()
        assert np.all(np.diff(approx.scores) <= 0)
        common = np.intersect1d(approx.indices, exact.indices)
        recalls.append(len(common) / 10)
        # candidates are re-scored exactly: a clip found by both has the same score
        a = dict(zip(approx.indices.tolist(), approx.scores.tolist()))
        e = dict(zip(exact.indices.tolist(), exact.scores.tolist()))
        assert all(a[i] == e[i] for i in common.tolist())
    assert np.mean(recalls) >= 0.95, f"recall@10 {np.mean(recalls):.3f}"


@voyager_needed
def test_index_is_reused_and_rebuilt_for_another_pool(big_learner, monkeypatch):
    search.build_index(big_learner)
    index = search._cached_index(big_learner)
    builds = []
    real_build = search._build

    def counting_build(*a, **k):
        builds.append(1)
        return real_build(*a, **k)

    monkeypatch.setattr(search, "_build", counting_build)
    search.similar(big_learner, 5, 10, approximate=True)
    search.similar(big_learner, [6, 7], 10, approximate=True)
    assert builds == [] and search._cached_index(big_learner) is index
    X = big_learner.pool.X
    big_learner.pool.X = X.copy()  # another pool object (same content)
    try:
        got = search.similar(big_learner, 5, 10, approximate=True)
        assert builds == [1] and search._cached_index(big_learner) is not index
        assert got.indices.tolist() == search.similar(big_learner, 5, 10, approximate=False).indices.tolist()
        search.similar(big_learner, 5, 10, approximate=True)
        assert builds == [1]
    finally:
        big_learner.pool.X = X
        search._INDEXES[big_learner.pool] = index


@voyager_needed
def test_sharded_build_is_deterministic(monkeypatch):
    monkeypatch.setattr(search, "_SHARD_ROWS", 2_500)  # 4 shards, built on parallel threads
    monkeypatch.setattr(search, "_CHUNK_ROWS", 1_000)
    X = clustered(9_000, d=16, k=10, seed=10, centre_scale=1.0)
    first, second = ActiveLearner(X, CLASSES), ActiveLearner(X.copy(), CLASSES)
    first.teach(list(range(0, 9_000, 97)), "bell")
    second.teach(list(range(0, 9_000, 97)), "bell")
    assert len(search.similar(first, 3, 5, approximate=True).indices) == 5
    assert [lo for lo, _, _ in search._cached_index(first).shards] == [0, 2_500, 5_000, 7_500]
    rng = np.random.default_rng(11)
    for q in rng.choice(9_000, 25, replace=False):
        a = search.similar(first, int(q), 10, approximate=True)
        b = search.similar(second, int(q), 10, approximate=True)
        assert a.indices.tolist() == b.indices.tolist()
        np.testing.assert_array_equal(a.scores, b.scores)
        for graph_a, graph_b in zip(search._cached_index(first).shards, search._cached_index(second).shards):
            qa = graph_a[2].query(X[int(q)] / np.linalg.norm(X[int(q)]), k=20, num_threads=1, query_ef=64)[0]
            qb = graph_b[2].query(X[int(q)] / np.linalg.norm(X[int(q)]), k=20, num_threads=1, query_ef=64)[0]
            assert qa.tolist() == qb.tolist()


@voyager_needed
@pytest.mark.parametrize(("max_k", "falls_back"), [(64, True), (4_096, False)])
def test_labelled_neighbourhood_grows_the_request_or_falls_back(monkeypatch, max_k, falls_back):
    monkeypatch.setattr(search, "_MAX_K", max_k)
    X = clustered(6_000, d=8, seed=12)
    learner = ActiveLearner(X, CLASSES)
    near = search.similar(learner, 0, 300).indices
    learner.teach(near[:250].tolist(), "bird")  # the whole neighbourhood of clip 0 is labelled
    exact = search.similar(learner, 0, 10, approximate=False)
    calls = []
    real_exact = search._exact
    monkeypatch.setattr(search, "_exact", lambda *a: calls.append(1) or real_exact(*a))
    got = search.similar(learner, 0, 10, approximate=True)
    assert got.indices.tolist() == exact.indices.tolist()
    np.testing.assert_array_equal(got.scores, exact.scores)
    assert calls == ([1] if falls_back else [])


@voyager_needed
def test_recall_error_falls_back_to_exact(monkeypatch):
    voyager = search._load_voyager()
    learner = ActiveLearner(clustered(5_000, d=8, seed=14), CLASSES)
    search.build_index(learner)

    class Failing:
        def query(self, *a, **k):
            raise voyager.RecallError("only found 3 of 10 requested neighbors")

    lo, hi, _ = search._cached_index(learner).shards[0]
    monkeypatch.setattr(search._cached_index(learner), "shards", [(lo, hi, Failing())])
    got = search.similar(learner, 9, 10, approximate=True)
    assert got.indices.tolist() == search.similar(learner, 9, 10, approximate=False).indices.tolist()


# ---------------------------------------------------------------- invariant
@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n_pool=st.integers(1, 120),
    d=st.integers(1, 6),
    n=st.integers(1, 130),
    n_teach=st.integers(0, 60),
    n_skip=st.integers(0, 30),
    chunk=st.sampled_from([1, 3, 16, 65_536]),
    exclude_labeled=st.booleans(),
    duplicates=st.booleans(),
)
def test_results_are_ranked_distinct_and_eligible(
    seed, n_pool, d, n, n_teach, n_skip, chunk, exclude_labeled, duplicates
):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_pool, d)).astype(np.float32)
    if duplicates:
        X = X[rng.integers(0, max(1, n_pool // 3), n_pool)]  # many exact ties
    learner = ActiveLearner(X, CLASSES)
    perm = rng.permutation(n_pool)
    taught, skipped = perm[:n_teach], perm[n_teach : n_teach + n_skip]
    if len(taught):
        learner.teach(taught.tolist(), "bird")
    if len(skipped):
        learner.skip(skipped.tolist())
    query = [int(i) for i in rng.choice(n_pool, min(n_pool, 1 + seed % 3), replace=False)]
    old = search._CHUNK_ROWS
    search._CHUNK_ROWS = chunk
    try:
        got = search.similar(learner, query, n, exclude_labeled=exclude_labeled)
    except InvalidInputError as exc:  # a centroid with no direction (pool mean, cancelling rows)
        assert "no direction" in str(exc)
        return
    finally:
        search._CHUNK_ROWS = old
    idx, s = got
    eligible = np.ones(n_pool, dtype=bool)
    if exclude_labeled:
        eligible &= learner._codes == -1
    eligible[query] = False
    assert len(idx) == min(n, int(eligible.sum()))
    assert len(set(idx.tolist())) == len(idx)
    assert eligible[idx].all()
    assert np.all((s >= -1) & (s <= 1))
    for a in range(len(idx) - 1):  # score desc, then index asc
        assert s[a] > s[a + 1] or (s[a] == s[a + 1] and idx[a] < idx[a + 1])
    if len(idx):
        ref_idx, ref_s = reference(learner, X[query], n, excluded=query, exclude_labeled=exclude_labeled)
        np.testing.assert_allclose(s, ref_s, atol=1e-5)
        sure = ref_idx[ref_s > ref_s[-1] + 1e-5]  # clearly inside the top k, whatever the rounding
        assert set(sure.tolist()) <= set(idx.tolist())


def test_build_false_searches_exactly_until_an_index_is_built(monkeypatch):
    import alwidget.search as search

    rng = np.random.default_rng(2)
    X = rng.normal(size=(6000, 8)).astype(np.float32)
    learner = ActiveLearner(X, ["a", "b"])
    monkeypatch.setattr(search, "_EXACT_MAX_ROWS", 1000)  # "a pool of millions": approximate by default
    exact = search.similar(learner, 0, 5, approximate=False).indices.tolist()
    assert search.similar(learner, 0, 5, build=False).indices.tolist() == exact
    assert not search.index_ready(learner)  # nothing was built
    search.similar(learner, 0, 5)  # the default builds the index
    assert search.index_ready(learner)
    with monkeypatch.context() as m:  # once built, build=False uses the index: no exact scan
        m.setattr(search, "_exact", lambda *a, **k: pytest.fail("searched exactly although an index is built"))
        assert len(learner.similar(0, 5, build=False).indices) == 5
    with pytest.raises(InvalidInputError, match="build must be True or False"):
        search.similar(learner, 0, 5, build="no")
