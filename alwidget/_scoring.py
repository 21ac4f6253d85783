"""Scoring the pool and picking queries: the part of :class:`~alwidget.ActiveLearner` that reads rows.

:class:`PoolScorer` keeps what scoring reuses between calls: the pool's
probability table per model, the last candidate subset's probabilities, the
candidate window of a large pool, the bagged committee and the k-NN graphs
of ``"spread"`` models. It chooses a query's candidates and runs the
strategy (or the cold-start pick) on them. It reads the learner's labels (a
LabelBook) and is given the model, its version and the learner's settings
(seed, limits) at each call, so a setting changed on the learner counts at
once.
"""

from __future__ import annotations

import numpy as np

from alwidget import strategies as _strategies
from alwidget._graph import PoolGraph, sample_rows
from alwidget._labels import UNLABELED, LabelBook
from alwidget._learner_checks import check_finite_proba, check_picks
from alwidget._pool import (
    _EXACT_SCORE_VALUES,
    _SCORE_CHUNK,
    _SUBSET_STREAM,
    CandidateWindow,
    Pool,
    gather_rows,
    pool_blocks,
    sample_candidates,
)
from alwidget.errors import NotEnoughLabelsError, PoolExhaustedError
from alwidget.models import fit_model, predict_proba_with

COLD_START_SAMPLE = 20_000  # cold-start diversity is computed on a random sample of this many candidates


class PoolScorer:
    """Probabilities of a pool's rows, with the caches, candidate window, committee and graphs behind them.

    Parameters
    ----------
    pool : Pool
    book : LabelBook, the learner's labels (read under its lock)

    Attributes
    ----------
    proba_cache : ``(model version, table)`` of the whole pool, or None
    window : CandidateWindow or None, the candidates of a large pool (built at its first query)
    committee : ``(label version, members)`` or None
    graphs : ``{(n_neighbors, max_nodes): PoolGraph}`` for ``"spread"`` models
    """

    def __init__(self, pool: Pool, book: LabelBook):
        self.pool = pool
        self.book = book
        self.proba_cache: tuple[int, np.ndarray] | None = None
        self.window: CandidateWindow | None = None
        self.committee: tuple[int, list] | None = None
        self.graphs: dict[tuple[int, int], PoolGraph] = {}
        self._subset_cache: tuple[int, np.ndarray, np.ndarray] | None = None  # (fit version, rows, proba)

    # ------------------------------------------------------------------ rows
    def features(self, idx) -> np.ndarray:
        """Standardised rows ``(X[idx] - mean) / scale`` (``idx`` valid)."""
        return (self.pool.X[idx] - self.pool.mean) / self.pool.scale

    def rows_features(self, idx: np.ndarray) -> np.ndarray:
        """:meth:`features` of many scattered rows: from the candidate window, or from the pool in runs."""
        raw = None
        if self.window is not None:
            with self.window.lock:
                raw = self.window.rows(idx)
        if raw is None:
            raw = gather_rows(self.pool.X, idx)
        return (raw - self.pool.mean) / self.pool.scale

    def candidate_rows(self, rows: np.ndarray) -> np.ndarray:
        """Raw embeddings ``X[rows]``: from the candidate window when ``rows`` are its candidates."""
        window = self.window
        if window is not None:
            with window.lock:
                where = window.positions(rows)
                if where is not None:
                    return window.buffer[where]
        return gather_rows(self.pool.X, rows)

    # ------------------------------------------------------------------ probabilities
    def proba(self, model, k: int, X: np.ndarray, **kwargs) -> np.ndarray:
        """Checked probabilities ``(m, k)`` of raw rows ``X`` (keywords go to :func:`predict_proba_with`)."""
        return check_finite_proba(model, predict_proba_with(model, X, k, self.pool.stats, **kwargs))

    def cached_table(self, version: int) -> np.ndarray | None:
        """The pool table of model ``version`` if it was computed, else None."""
        cache = self.proba_cache
        return cache[1] if cache is not None and cache[0] == version else None

    def table(self, model, version: int, k: int) -> np.ndarray:
        """The read-only probability table of the whole pool under ``model`` (cached per version)."""
        cached = self.cached_table(version)
        if cached is not None:
            return cached
        proba = self.proba(model, k, self.pool.X)
        proba.flags.writeable = False
        self.proba_cache = (version, proba)
        return proba

    def candidate_proba(self, model, version: int, k: int, rows: np.ndarray, whole: bool) -> np.ndarray:
        """Read-only probabilities of pool rows ``rows``: from the pool table when it is cached or ``whole``.

        Otherwise only these rows are read and scored (the last subset is cached).
        """
        if whole or self.cached_table(version) is not None:
            out = self.table(model, version, k)[rows]
            out.flags.writeable = False
            return out
        sub = self._subset_cache
        if sub is not None and sub[0] == version and np.array_equal(sub[1], rows):
            return sub[2]  # the same query again (another exclude, a prefetch): same subset, same model
        # the pool's own precision (as the table): float64 up to _EXACT_SCORE_VALUES values, float32 above
        exact = self.pool.X.size <= _EXACT_SCORE_VALUES
        window = self.window
        proba = None
        if window is not None:
            with window.lock:  # another thread's query may not refill the buffer meanwhile
                where = window.positions(rows)
                if where is not None:  # the query's own candidates: the window's rows, in memory, scored in one call
                    proba = predict_proba_with(model, window.buffer, k, self.pool.stats, exact=exact)[where]
        if proba is None:
            proba = predict_proba_with(model, self.pool.X, k, self.pool.stats, rows=rows, exact=exact)
        proba = check_finite_proba(model, proba)
        proba.flags.writeable = False
        self._subset_cache = (version, rows, proba)
        return proba

    def class_scores(self, model, version: int, k: int, code: int, whole: bool) -> tuple[np.ndarray, np.ndarray]:
        """Column ``code`` of the pool's probabilities, and where it is the largest.

        From the pool table when it is cached or ``whole``; otherwise scored in
        blocks, keeping only this column.
        """
        if whole or self.cached_table(version) is not None:
            proba = self.table(model, version, k)
            return np.array(proba[:, code]), proba.argmax(axis=1) == code
        n = len(self.pool)
        scores = np.empty(n, dtype=np.float32)
        predicted = np.empty(n, dtype=bool)
        for start, block in pool_blocks(self.pool.X, chunk=_SCORE_CHUNK):
            proba = self.proba(model, k, block, exact=False)
            scores[start : start + len(block)] = proba[:, code]
            predicted[start : start + len(block)] = proba.argmax(axis=1) == code
        return scores, predicted

    def committee_proba(self, rows, make, n_committee: int, seed: int) -> np.ndarray:
        """Probabilities ``(n_committee, m, k)`` of rows ``rows`` (None: the pool) from a bagged committee.

        Member ``m`` is ``make(seed=seed + m)`` fitted on a seeded bootstrap
        resample of the labels; the members are kept until the labels change.
        """
        book = self.book
        with book.lock:
            version = book.label_version
            lab = book.labeled_idx
            y = book.codes[lab].copy()
            k = len(book.classes)
        if len(lab) == 0:
            msg = "no labels yet: a committee needs at least one labelled clip"
            raise NotEnoughLabelsError(msg)
        if self.committee is None or self.committee[0] != version:
            Xl = self.features(lab)
            members = []
            for m in range(n_committee):
                boot = np.random.default_rng([seed, m, len(lab)]).integers(0, len(lab), len(lab))
                model = make(seed=seed + m)
                pool = self.pool_for(model, lab[boot], seed)
                members.append(fit_model(model, Xl[boot], y[boot], k, pool=pool))
            self.committee = (version, members)
        members = self.committee[1]
        # candidates are read once for all members (from the window or, in runs, the pool); the whole pool is streamed
        X = self.pool.X if rows is None else self.candidate_rows(rows)
        return np.stack([self.proba(m, k, X) for m in members])

    # ------------------------------------------------------------------ graphs
    def pool_for(self, model, rows: np.ndarray, seed: int) -> tuple[PoolGraph, np.ndarray] | None:
        """``(graph, rows)`` for a model that uses the pool (and may on this pool's size), else None."""
        if not getattr(model, "uses_pool", False):
            return None
        if len(self.pool) > int(model.max_nodes) and not model.sample:
            return None
        return self.pool_graph(model, seed), rows

    def pool_graph(self, model, seed: int) -> PoolGraph:
        """The k-NN graph of the pool (or of a seeded sample of it) for ``model``, built once and kept."""
        key = (int(model.n_neighbors), int(model.max_nodes))
        graph = self.graphs.get(key)
        if graph is None:
            rows = sample_rows(len(self.pool), key[1], seed)
            graph = PoolGraph(rows, self.rows_features(rows), key[0])
            self.graphs[key] = graph  # two threads may both build it: the same graph, one is kept
        return graph

    # ------------------------------------------------------------------ queries
    def query(self, learner, n: int, exclude: np.ndarray | None, limit: int, strategy, seed: int) -> np.ndarray:
        """:meth:`ActiveLearner.query <alwidget.ActiveLearner.query>` with checked arguments.

        ``strategy`` is called as ``strategy(learner, candidates, n, rng)``,
        after a diverse cold-start pick while fewer than two classes have labels.
        """
        book = self.book
        with book.lock:  # the counts come from the tally: one pass over the pool's codes, not three
            allowed = book.codes == UNLABELED
            n_labelled, n_skipped, n_seen = book.n_labeled, book.n_skipped, book.n_seen
            rng = np.random.default_rng([seed, n_labelled, n_skipped])
        if exclude is not None:
            allowed[exclude] = False
        cand = self.candidates(allowed, limit, seed, n_labelled, n_skipped)
        if len(cand) == 0:
            msg = f"the pool is exhausted: all {len(allowed)} clips are labelled, skipped or excluded"
            raise PoolExhaustedError(msg)
        n = min(n, len(cand))
        fn = _strategies.get(strategy)
        if getattr(fn, "needs_model", True) and n_seen < 2:
            picks = self.cold_start(cand, n, rng, book.labeled_idx)
        else:
            picks = fn(learner, cand, n, rng)
        picks = check_picks(picks, allowed, n, fn)
        with book.lock:  # drop clips labelled by another thread meanwhile
            return picks[book.codes[picks] == UNLABELED]

    def candidates(self, allowed: np.ndarray, limit: int, seed: int, n_labelled: int, n_skipped: int) -> np.ndarray:
        """The clips a query scores: every allowed one up to ``limit``, else a seeded sample of ``limit``.

        A pool of at least twice ``limit`` clips gives the window after this
        many labels and skips; a smaller one a random subset drawn from its
        own stream (the strategy's generator is left unchanged).
        """
        n_allowed = int(np.count_nonzero(allowed))
        if n_allowed <= limit:
            return np.flatnonzero(allowed)
        X = self.pool.X
        if len(X) >= 2 * limit:
            window = self.window
            if window is None or not window.fits(X, seed, limit):
                window = self.window = CandidateWindow(X, seed, limit)
            return window.candidates(n_labelled + n_skipped, allowed)
        subset_rng = np.random.default_rng([seed, n_labelled, n_skipped, _SUBSET_STREAM])
        return sample_candidates(allowed, n_allowed, limit, subset_rng)

    def cold_start(self, cand: np.ndarray, n: int, rng: np.random.Generator, lab: np.ndarray) -> np.ndarray:
        """k-means++ picks among at most 20,000 candidates, away from at most 20,000 labelled clips ``lab``.

        Memory is bounded whatever the pool: two samples of ``COLD_START_SAMPLE``
        rows (about 30 MB each in float64) and distances taken in blocks
        (:func:`alwidget.strategies.kmeans_pp`), never an ``n x n`` matrix.
        """
        if len(cand) > COLD_START_SAMPLE:
            cand = np.sort(rng.choice(cand, COLD_START_SAMPLE, replace=False))
        if len(lab) > COLD_START_SAMPLE:
            lab = rng.choice(lab, COLD_START_SAMPLE, replace=False)
        centers = self.rows_features(lab) if len(lab) else None
        return cand[_strategies.kmeans_pp(self.rows_features(cand), n, rng, centers=centers)]
