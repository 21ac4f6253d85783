"""A k-nearest-neighbour graph of the pool, and label spreading over it.

The ``"spread"`` model (:class:`alwidget.models.SpreadRegression`) turns the
labels into pseudo-labels of unlabelled clips by spreading them over this
graph (Zhou et al., "Learning with local and global consistency", NIPS 2003).
The graph's nodes are the whole pool (or, with ``SpreadRegression(sample=True)``
on a pool above ``max_nodes`` clips, a seeded random sample of that many; a
labelled clip outside the sample joins as an extra node linked to its nearest
sample clips). The graph is built once per learner and reused by every fit.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

# rows of the distance matrix computed at once: 512, or fewer where the pool is larger than
# 8,192 clips, so that a block holds at most 4M distances (32 MB of float64)
_BLOCK = 512
_BLOCK_CELLS = 1 << 22


def _sq_dist(X: np.ndarray, C: np.ndarray, c_sq: np.ndarray | None = None) -> np.ndarray:
    """Squared Euclidean distances ``(len(X), len(C))``, clipped at zero.

    ``c_sq``: ``(C * C).sum(1)``, when the caller reuses it across blocks of ``X``.
    """
    c_sq = (C * C).sum(1) if c_sq is None else c_sq
    d = (X * X).sum(1)[:, None] - 2.0 * X @ C.T + c_sq[None, :]
    return np.maximum(d, 0.0)


def _nearest(A: np.ndarray, B: np.ndarray, k: int, self_offset: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest rows of ``B`` to each row of ``A``: indices and squared distances, ``(len(A), k)``.

    ``self_offset``: ``A`` is ``B[self_offset:]`` and a row is not its own
    neighbour. Ties break towards the lower index (a stable sort), so equal
    clips give the same graph on every machine.
    """
    b_sq = (B * B).sum(1)
    idx = np.empty((len(A), k), dtype=np.int64)
    dist = np.empty((len(A), k))
    block = max(16, min(_BLOCK, _BLOCK_CELLS // max(len(B), 1)))
    for start in range(0, len(A), block):
        D = _sq_dist(A[start : start + block], B, b_sq)
        if self_offset is not None:
            own = np.arange(len(D))
            D[own, self_offset + start + own] = np.inf
        # the k-th smallest distance of each row (a partial sort: 20x quicker than sorting the row)
        kth = np.take_along_axis(D, np.argpartition(D, k - 1, axis=1)[:, k - 1 : k], axis=1)
        closer = D < kth
        tied = D == kth
        # every clip closer than the k-th, then the tied ones with the lowest indices
        chosen = closer | (tied & (np.cumsum(tied, axis=1) <= k - closer.sum(axis=1, keepdims=True)))
        near = np.nonzero(chosen)[1].reshape(len(D), k)  # ascending index within each row
        d = np.take_along_axis(D, near, axis=1)
        order = np.argsort(d, axis=1, kind="stable")  # by distance; equal distances keep the index order
        idx[start : start + len(D)] = np.take_along_axis(near, order, axis=1)
        dist[start : start + len(D)] = np.take_along_axis(d, order, axis=1)
    return idx, dist


class PoolGraph:
    """The k-NN graph of ``nodes`` (standardised rows of the pool).

    Parameters
    ----------
    rows : int array ``(N,)``
        Sorted pool indices of the nodes.
    features : float array ``(N, d)``
        Their standardised embeddings.
    n_neighbors : int
        Edges per node before symmetrising.
    """

    def __init__(self, rows: np.ndarray, features: np.ndarray, n_neighbors: int):
        self.rows = np.asarray(rows, dtype=np.int64)
        self.features = np.asarray(features, dtype=np.float64)
        self.n_neighbors = int(min(n_neighbors, max(len(self.rows) - 1, 1)))
        if len(self.rows) > 1:
            self._nn, d = _nearest(self.features, self.features, self.n_neighbors, self_offset=0)
            positive = d[d > 0]
            self._width = float(np.median(positive)) if len(positive) else 1.0
        else:
            self._nn, self._width = np.zeros((len(self.rows), 0), dtype=np.int64), 1.0
            d = np.zeros((len(self.rows), 0))
        self._weights = np.exp(-d / self._width)

    def affinity(self, rows: np.ndarray, features: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
        """The graph with the pool rows ``rows`` added as nodes where they are not in it.

        ``features`` ``(len(rows), d)`` are those rows' standardised embeddings.
        Returns the symmetric normalised affinity ``D^-1/2 A D^-1/2`` of all
        nodes (the sample first, then the added rows), the node of each of
        ``rows``, and the features of the added nodes ``(e, d)``.
        """
        rows = np.asarray(rows, dtype=np.int64)
        n = len(self.rows)
        pos = np.searchsorted(self.rows, rows)
        inside = (pos < n) & (self.rows[np.minimum(pos, n - 1)] == rows) if n else np.zeros(len(rows), dtype=bool)
        extra_rows, first = np.unique(rows[~inside], return_index=True)
        extra_features = np.asarray(features, dtype=np.float64)[~inside][first]
        node = np.empty(len(rows), dtype=np.int64)
        node[inside] = pos[inside]
        node[~inside] = n + np.searchsorted(extra_rows, rows[~inside])
        src = [np.repeat(np.arange(n), self._nn.shape[1])]
        dst = [self._nn.ravel()]
        wts = [self._weights.ravel()]
        if len(extra_rows) and n:
            k = min(self.n_neighbors, n)
            nn, d = _nearest(extra_features, self.features, k, self_offset=None)
            src.append(np.repeat(n + np.arange(len(extra_rows)), k))
            dst.append(nn.ravel())
            wts.append(np.exp(-d / self._width).ravel())
        size = n + len(extra_rows)
        A = sp.csr_matrix((np.concatenate(wts), (np.concatenate(src), np.concatenate(dst))), shape=(size, size))
        A = A.maximum(A.T)
        degree = np.asarray(A.sum(axis=1)).ravel()
        inv = sp.diags(np.where(degree > 0, 1.0 / np.sqrt(np.where(degree > 0, degree, 1.0)), 0.0))
        return (inv @ A @ inv).tocsr(), node, extra_features


def spread(W: sp.csr_matrix, nodes: np.ndarray, codes: np.ndarray, k: int, alpha: float, n_iter: int) -> np.ndarray:
    """Label spreading: class scores ``(N, k)`` of every node, rows summing to 1 (or 0 where no label reaches).

    ``nodes``/``codes``: the labelled nodes and their class codes in
    ``0 .. k-1``. Every class seeds the same total mass, so a class with few
    labels is not drowned by a frequent one; ``alpha`` is the weight of the
    neighbours against the seeds, ``n_iter`` the number of steps.
    """
    Y = np.zeros((W.shape[0], k))
    Y[nodes, codes] = 1.0
    Y /= np.maximum(Y.sum(axis=0, keepdims=True), 1.0)
    F = Y.copy()
    for _ in range(int(n_iter)):
        F = alpha * (W @ F) + (1.0 - alpha) * Y
    total = F.sum(axis=1, keepdims=True)
    return np.where(total > 1e-12, F / np.where(total > 1e-12, total, 1.0), 0.0)


def pseudo_labels(P: np.ndarray, exclude: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pseudo-labels from spread class scores ``P`` ``(N, k)``: nodes, classes and weights.

    Each node's weight is its confidence (1 - normalised entropy), 0 for the
    nodes ``exclude`` and for nodes no label reaches; weights are then
    scaled so that every class has the same total. Returns the nodes with a
    weight, their most likely class and that weight (summing to the number
    of classes given a pseudo-label).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.where(P > 0, P * np.log(P), 0.0).sum(axis=1)
    conf = np.where(P.sum(axis=1) > 0, 1.0 - entropy / np.log(k), 0.0)  # a node no label reaches: no weight
    conf[exclude] = 0.0
    pseudo = P.argmax(axis=1)
    per_class = np.bincount(pseudo, weights=conf, minlength=k)
    conf = np.where(conf > 0, conf / np.maximum(per_class[pseudo], 1e-300), 0.0)  # every class the same total
    keep = np.flatnonzero(conf > 1e-12)
    return keep, pseudo[keep], conf[keep]


def sample_rows(n_pool: int, max_nodes: int, seed: int) -> np.ndarray:
    """The pool rows that are the graph's nodes: all of them, or a seeded sample of ``max_nodes``."""
    if n_pool <= max_nodes:
        return np.arange(n_pool, dtype=np.int64)
    return np.sort(np.random.default_rng([seed, 0x5EED]).choice(n_pool, size=max_nodes, replace=False))
