"""The pool's k-NN graph and label spreading (alwidget/_graph.py), checked against dense references."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alwidget._graph import PoolGraph, _nearest, sample_rows, spread


def dense_knn(A, B, k, exclude_self):
    D = ((A[:, None, :] - B[None, :, :]) ** 2).sum(-1)
    if exclude_self:
        np.fill_diagonal(D, np.inf)
    idx = np.array([sorted(range(len(B)), key=lambda j, r=r: (r[j], j))[:k] for r in D])
    return idx, np.take_along_axis(D, idx, axis=1)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 40), d=st.integers(1, 6), k=st.integers(1, 12), seed=st.integers(0, 2**31), dup=st.booleans())
def test_nearest_matches_a_dense_sort_with_ties_to_the_lower_index(n, d, k, seed, dup):
    g = np.random.default_rng(seed)
    X = g.integers(-2, 3, size=(n, d)).astype(np.float64)  # small integers: many exact ties
    if dup:
        X[n // 2] = X[0]
    k = min(k, n - 1)
    idx, dist = _nearest(X, X, k, self_offset=0)
    ref_idx, ref_dist = dense_knn(X, X, k, exclude_self=True)
    np.testing.assert_allclose(dist, ref_dist, atol=1e-9)
    np.testing.assert_array_equal(idx, ref_idx)


def test_nearest_works_across_blocks(monkeypatch):
    import alwidget._graph as G

    monkeypatch.setattr(G, "_BLOCK", 7)  # several blocks, so the self-exclusion offsets must be right
    X = np.random.default_rng(0).normal(size=(30, 3))
    idx, _ = _nearest(X, X, 4, self_offset=0)
    np.testing.assert_array_equal(idx, dense_knn(X, X, 4, exclude_self=True)[0])
    assert not (idx == np.arange(30)[:, None]).any()


def test_nearest_takes_fewer_rows_at_once_from_a_large_pool(monkeypatch):
    import alwidget._graph as G

    # a block holds at most _BLOCK_CELLS distances: 30 rows of B -> blocks of 600 // 30 = 20 rows
    monkeypatch.setattr(G, "_BLOCK_CELLS", 600)
    seen = []
    original = G._sq_dist
    monkeypatch.setattr(G, "_sq_dist", lambda A, C, c_sq=None: seen.append(len(A)) or original(A, C, c_sq))
    X = np.random.default_rng(1).normal(size=(30, 3))
    idx, _ = _nearest(X, X, 4, self_offset=0)
    np.testing.assert_array_equal(idx, dense_knn(X, X, 4, exclude_self=True)[0])
    assert seen == [20, 10]


def dense_affinity(Z, k):
    idx, d = dense_knn(Z, Z, k, exclude_self=True)
    width = np.median(d[d > 0])
    A = np.zeros((len(Z), len(Z)))
    for i in range(len(Z)):
        A[i, idx[i]] = np.exp(-d[i] / width)
    A = np.maximum(A, A.T)
    s = 1 / np.sqrt(A.sum(1))
    return A * s[:, None] * s[None, :], width


def test_affinity_of_the_pool_is_the_symmetric_normalised_knn_graph():
    Z = np.random.default_rng(1).normal(size=(25, 4))
    graph = PoolGraph(np.arange(25), Z, n_neighbors=5)
    W, node, extra = graph.affinity(np.array([3, 7]), Z[[3, 7]])
    ref, _ = dense_affinity(Z, 5)
    np.testing.assert_allclose(W.toarray(), ref, atol=1e-12)
    np.testing.assert_array_equal(node, [3, 7])
    assert extra.shape == (0, 4)
    assert np.abs(np.linalg.eigvalsh(W.toarray())).max() <= 1 + 1e-9  # so spreading converges


def test_rows_outside_a_sample_join_linked_to_their_nearest_sample_nodes():
    Z = np.random.default_rng(2).normal(size=(40, 3))
    rows = np.arange(0, 40, 2)  # the sample: even rows
    graph = PoolGraph(rows, Z[rows], n_neighbors=4)
    W, node, extra = graph.affinity(np.array([5, 4, 5, 9]), Z[[5, 4, 5, 9]])
    assert W.shape == (22, 22)  # 20 sample nodes + rows 5 and 9, once each
    np.testing.assert_array_equal(node, [20, 2, 20, 21])
    np.testing.assert_array_equal(extra, Z[[5, 9]])
    # the extra node's neighbours: its 4 nearest sample rows, symmetrised
    ref_idx, _ = dense_knn(Z[[5]], Z[rows], 4, exclude_self=False)
    assert set(np.flatnonzero(W.toarray()[20])) == set(ref_idx[0])
    np.testing.assert_allclose(W.toarray(), W.toarray().T)
    assert W[20, 21] == 0  # extra nodes link to the sample only


def test_spreading_follows_the_graph_not_the_label_counts():
    g = np.random.default_rng(3)
    Z = np.concatenate([g.normal(size=(30, 2)), g.normal(size=(30, 2)) + 20, g.normal(size=(5, 2)) - 40])
    graph = PoolGraph(np.arange(65), Z, n_neighbors=4)
    W, node, _ = graph.affinity(np.array([0, 1, 2, 3, 30]), Z[[0, 1, 2, 3, 30]])
    F = spread(W, node, np.array([0, 0, 0, 0, 1]), 2, 0.99, 30)
    assert (F[:30].argmax(1) == 0).all() and (F[30:60].argmax(1) == 1).all()  # four labels do not swamp one
    np.testing.assert_allclose(F[:60].sum(1), 1.0)
    np.testing.assert_array_equal(F[60:], 0.0)  # a component no label reaches gets no class at all


def test_spreading_equals_the_dense_iteration():
    Z = np.random.default_rng(4).normal(size=(30, 3))
    graph = PoolGraph(np.arange(30), Z, n_neighbors=6)
    W, node, _ = graph.affinity(np.array([1, 2, 9]), Z[[1, 2, 9]])
    codes = np.array([0, 0, 1])
    ref, _ = dense_affinity(Z, 6)
    Y = np.zeros((30, 2))
    Y[[1, 2], 0] = 0.5
    Y[9, 1] = 1.0
    F = Y.copy()
    for _ in range(12):
        F = 0.9 * ref @ F + 0.1 * Y
    np.testing.assert_allclose(spread(W, node, codes, 2, 0.9, 12), F / F.sum(1, keepdims=True), atol=1e-12)


def test_sample_rows_are_all_rows_or_a_seeded_sorted_sample():
    np.testing.assert_array_equal(sample_rows(50, 50, seed=3), np.arange(50))
    a, b, c = sample_rows(1000, 100, 3), sample_rows(1000, 100, 3), sample_rows(1000, 100, 4)
    np.testing.assert_array_equal(a, b)
    assert len(np.unique(a)) == 100 and (np.diff(a) > 0).all() and a.max() < 1000
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("n", [1, 2])
def test_tiny_pools_make_a_graph(n):
    graph = PoolGraph(np.arange(n), np.zeros((n, 2)), n_neighbors=10)
    W, node, _ = graph.affinity(np.array([0]), np.zeros((1, 2)))
    assert W.shape == (n, n) and np.isfinite(W.toarray()).all()
    assert spread(W, node, np.array([0]), 1, 0.99, 5)[0, 0] == 1.0
