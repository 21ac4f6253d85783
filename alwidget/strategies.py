"""Query strategies: which unlabelled clips to ask a person about next.

Three layers, kept apart so each can be tested and reused on its own:

* **measures** map a probability table ``(m, k)`` to one number per row:
  :func:`least_confidence`, :func:`margin`, :func:`entropy`, and for a
  committee :func:`vote_entropy` and :func:`bald`;
* **selectors** turn scores into picks: :func:`select_top` (best ``n``, ties
  broken by the seeded generator) and :func:`select_diverse` (uncertainty-
  weighted k-means, no near-duplicates in a batch), :func:`kmeans_pp` (diverse
  picks with no model, for the cold start);
* **strategies** are plain functions ``strategy(source, candidates, n, rng)``
  returning ``n`` pool indices taken from ``candidates``. ``source`` is either
  an :class:`~alwidget.ActiveLearner` or, for the strategies that only need
  probabilities, a probability table whose rows match ``candidates``.

Strategies are registered by name (:func:`register`, :func:`get`,
:func:`available`); a user may pass any callable with the same signature to
``ActiveLearner(strategy=...)``.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import numpy as np

from alwidget._graph import _sq_dist
from alwidget.errors import IndexOutOfRangeError, InvalidInputError

__all__ = [
    "least_confidence",
    "margin",
    "entropy",
    "bald",
    "vote_entropy",
    "select_top",
    "select_diverse",
    "kmeans_pp",
    "random_sampling",
    "least_confidence_sampling",
    "margin_sampling",
    "entropy_sampling",
    "diverse_sampling",
    "bald_sampling",
    "vote_entropy_sampling",
    "register",
    "get",
    "available",
]

Strategy = Callable[..., np.ndarray]
_DIVERSE_PREFILTER = 10
_DIST_VALUES = 1 << 22  # distances to many centres are taken in blocks of this many values (32 MB)
_REGISTRY: dict[str, Strategy] = {}


# --------------------------------------------------------------------------
# measures: (m, k) probabilities -> (m,) scores
# --------------------------------------------------------------------------
def _check_proba(proba) -> np.ndarray:
    p = np.asarray(proba)
    if p.ndim != 2 or p.shape[1] == 0 or not np.issubdtype(p.dtype, np.floating):
        msg = f"probabilities must be a float array of shape (n_candidates, n_classes), got {p.dtype} {p.shape}"
        raise InvalidInputError(msg)
    return p


def least_confidence(proba) -> np.ndarray:
    """``1 - max_c p(c)`` per row, shape ``(m,)``; higher = less confident."""
    p = _check_proba(proba)
    return 1.0 - p.max(axis=1)


def margin(proba) -> np.ndarray:
    """Top-1 minus top-2 probability per row, shape ``(m,)``; *smaller* = more uncertain.

    With a single class the margin is the top probability itself.
    """
    p = _check_proba(proba)
    if p.shape[1] == 1:
        return p[:, 0].copy()
    # running top two, one class column at a time: the same two numbers per row
    # as a partial sort (np.partition), 2x faster on 10 classes
    top1 = p[:, 0].copy()
    top2 = np.full(len(p), -np.inf, dtype=p.dtype)
    low = np.empty_like(top1)
    for j in range(1, p.shape[1]):
        col = p[:, j]
        np.minimum(top1, col, out=low)
        np.maximum(top2, low, out=top2)
        np.maximum(top1, col, out=top1)
    return top1 - top2


def entropy(proba) -> np.ndarray:
    """Shannon entropy ``-sum p log p`` per row in nats, shape ``(m,)`` (``0 log 0 = 0``)."""
    p = _check_proba(proba)
    tiny = np.finfo(p.dtype).tiny  # p = 0 gives 0 * log(tiny) = 0: no nan, one temporary
    plogp = np.log(np.maximum(p, tiny))
    plogp *= p
    return -plogp.sum(axis=1)


def bald(member_proba) -> np.ndarray:
    """BALD mutual information from a committee, shape ``(m,)``, in nats.

    ``member_proba`` has shape ``(n_members, m, k)``. The score is the entropy
    of the mean prediction minus the mean entropy of the members: high where
    the members are each confident but disagree.
    """
    P = np.asarray(member_proba)
    if P.ndim != 3:
        msg = f"committee probabilities must have shape (n_members, n_candidates, n_classes), got {P.shape}"
        raise InvalidInputError(msg)
    mean_entropy = np.mean([entropy(p) for p in P], axis=0)
    return np.maximum(entropy(P.mean(axis=0)) - mean_entropy, 0.0)


def vote_entropy(member_proba) -> np.ndarray:
    """Entropy of the committee's hard votes, shape ``(m,)``, in nats.

    ``member_proba`` has shape ``(n_members, m, k)``; each member votes for its
    most probable class. High where the members pick different classes. With
    a bagged committee of linear models it is far less drawn to outliers than
    :func:`bald` (see benchmarks/README.md).
    """
    P = np.asarray(member_proba)
    if P.ndim != 3:
        msg = f"committee probabilities must have shape (n_members, n_candidates, n_classes), got {P.shape}"
        raise InvalidInputError(msg)
    votes = np.zeros(P.shape[1:])
    rows = np.arange(P.shape[1])
    for member in P:
        votes[rows, member.argmax(axis=1)] += 1.0
    return entropy(votes / len(P))


# --------------------------------------------------------------------------
# argument checks shared by the selectors and strategies
# --------------------------------------------------------------------------
def _check_count(n, name: str = "n") -> int:
    """``n`` as an int >= 0 (how many to pick), or raise."""
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral) or n < 0:
        msg = f"{name} must be a non-negative integer (how many to pick), got {n!r}"
        raise InvalidInputError(msg)
    return int(n)


def _check_vector(values, name: str) -> np.ndarray:
    """``values`` as a finite 1-D float64 array, or raise naming the first bad entry."""
    try:
        v = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        msg = f"{name} must be a 1-D array of real numbers: {exc}"
        raise InvalidInputError(msg) from None
    if v.ndim != 1:
        msg = f"{name} must be 1-D (one number per candidate), got shape {v.shape}"
        raise InvalidInputError(msg)
    if not np.isfinite(v).all():
        i = int(np.flatnonzero(~np.isfinite(v))[0])
        msg = f"{name} has a non-finite value ({v[i]}) at position {i}; every entry must be a finite number"
        raise InvalidInputError(msg)
    return v


def _check_points(X, name: str, *, n_features: int | None = None) -> np.ndarray:
    """``X`` as a finite 2-D float64 array, or raise."""
    try:
        A = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        msg = f"{name} must be a 2-D array of real numbers: {exc}"
        raise InvalidInputError(msg) from None
    if A.ndim != 2:
        msg = f"{name} must be 2-D (n_points, n_features), got shape {A.shape}"
        raise InvalidInputError(msg)
    if n_features is not None and A.shape[1] != n_features:
        msg = f"{name} has {A.shape[1]} features per row, expected {n_features} (as in X)"
        raise InvalidInputError(msg)
    if not np.isfinite(A).all():
        row, col = np.argwhere(~np.isfinite(A))[0]
        msg = f"{name} has a non-finite value ({A[row, col]}) at row {row}, column {col}; remove or repair that row"
        raise InvalidInputError(msg)
    return A


def _check_candidates(source, candidates) -> np.ndarray:
    """``candidates`` as a 1-D integer array (within the learner's pool when ``source`` is one)."""
    c = np.asarray(candidates)
    if c.ndim != 1 or (c.size and c.dtype.kind not in "iu"):
        msg = f"candidates must be a 1-D array of pool indices (ints), got {c.dtype} of shape {c.shape}"
        raise InvalidInputError(msg)
    n_pool = getattr(source, "n_pool", None)
    if c.size and isinstance(n_pool, numbers.Integral):
        lo, hi = c.min(), c.max()
        if lo < 0 or hi >= n_pool:
            v = int(lo) if lo < 0 else int(hi)
            msg = f"candidate index {v} is out of range for a pool of {n_pool} clips (valid: 0 .. {n_pool - 1})"
            raise IndexOutOfRangeError(msg)
    return c


# --------------------------------------------------------------------------
# selectors: scores -> positions into the candidate list
# --------------------------------------------------------------------------
def select_top(scores, n: int, rng: np.random.Generator) -> np.ndarray:
    """Positions of the ``n`` highest scores, best first.

    Ties are broken by ``rng``, never by position: among equal scores at the
    cut, a seeded random subset is taken, and equal scores are ordered at random.
    Asking for more than ``len(scores)`` returns every position. Scores must
    be finite (InvalidInputError names the first NaN or inf).
    """
    s = _check_vector(scores, "scores")
    n = min(_check_count(n), len(s))
    if n == 0:
        return np.empty(0, dtype=np.int64)
    threshold = np.partition(s, len(s) - n)[len(s) - n]
    above = np.flatnonzero(s > threshold)
    tied = np.flatnonzero(s == threshold)
    picked = np.concatenate([above, rng.choice(tied, size=n - len(above), replace=False)])
    # order best first; a random key breaks ties in the order as well
    order = np.lexsort((rng.random(len(picked)), -s[picked]))
    return picked[order].astype(np.int64)


def _min_sq_dist(X: np.ndarray, C: np.ndarray) -> np.ndarray:
    """Squared distance ``(len(X),)`` from each row of ``X`` to its nearest row of ``C``.

    Many centres (a cold start after thousands of single-class labels) are
    taken in blocks, so memory stays at ``_DIST_VALUES`` distances, never
    ``len(X) x len(C)``; one block gives the same numbers as a single product.
    """
    step = max(1, _DIST_VALUES // max(1, len(X)))
    if len(C) <= step:
        return _sq_dist(X, C).min(axis=1)
    d2 = np.full(len(X), np.inf)
    for start in range(0, len(C), step):
        np.minimum(d2, _sq_dist(X, C[start : start + step]).min(axis=1), out=d2)
    return d2


def kmeans_pp(X, n: int, rng: np.random.Generator, *, weights=None, centers=None) -> np.ndarray:
    """``n`` distinct row positions of ``X`` picked by (weighted) k-means++ seeding.

    Each pick is drawn with probability proportional to ``weight x`` squared
    distance to the nearest point picked so far (or in ``centers``, e.g. clips
    already labelled), so the picks spread over the data instead of piling up.

    Parameters
    ----------
    X : array ``(m, d)`` of finite floats
    n : int, number of picks; more than ``m`` gives all ``m`` rows
    rng : numpy Generator
    weights : array ``(m,)`` of finite non-negative floats, optional
    centers : array ``(c, d)`` of points already covered, optional
    """
    X = _check_points(X, "X")
    m = len(X)
    n = min(_check_count(n), m)
    if weights is None:
        w = np.ones(m)
    else:
        w = _check_vector(weights, "weights")
        if len(w) != m:
            msg = f"weights has {len(w)} entries but X has {m} rows; pass one weight per row"
            raise InvalidInputError(msg)
        if (w < 0).any():
            i = int(np.flatnonzero(w < 0)[0])
            msg = f"weights must be non-negative, got {w[i]} at position {i}"
            raise InvalidInputError(msg)
        w = w + 1e-12
    if centers is not None and len(centers):
        d2 = _min_sq_dist(X, _check_points(centers, "centers", n_features=X.shape[1]))
    else:
        d2 = np.full(m, np.inf)
    picked: list[int] = []
    for _ in range(n):
        if np.isinf(d2).all():
            p = w / w.sum()
        else:
            mass = w * d2
            mass[picked] = 0.0
            total = mass.sum()
            if total <= 0:  # all remaining points coincide with picks: fall back to weights
                mass = w.copy()
                mass[picked] = 0.0
                total = mass.sum()
            p = mass / total
        i = int(rng.choice(m, p=p))
        picked.append(i)
        d2 = np.minimum(d2, _sq_dist(X, X[i : i + 1])[:, 0])
    return np.asarray(picked, dtype=np.int64)


def select_diverse(X, scores, n: int, rng: np.random.Generator, *, prefilter: int = 10, n_iter: int = 10) -> np.ndarray:
    """Positions of ``n`` informative *and* mutually different rows.

    Diverse mini-batch selection (Zhdanov, 2019): keep the ``prefilter * n``
    highest-scoring rows, cluster them with ``n``-means weighted by score
    (k-means++ start, ``n_iter`` Lloyd steps), and take from each cluster the
    row closest to its centre. With ``n == 1`` this is :func:`select_top`.

    Parameters
    ----------
    X : array ``(m, d)``, features of the candidates (standardised)
    scores : array ``(m,)``, higher = more informative (non-negative)
    n, rng : as in :func:`select_top`
    """
    s = _check_vector(scores, "scores")
    n = min(_check_count(n), len(s))
    if _check_count(prefilter, "prefilter") == 0:
        msg = "prefilter must be a positive integer, got 0"
        raise InvalidInputError(msg)
    n_iter = _check_count(n_iter, "n_iter")
    if np.shape(X)[:1] != (len(s),):
        msg = f"X has shape {np.shape(X)} but there are {len(s)} scores; pass one row of X per score"
        raise InvalidInputError(msg)
    if n <= 1:
        return select_top(s, n, rng)
    pool = select_top(s, min(len(s), prefilter * n), rng)
    Xp = np.asarray(X, dtype=np.float64)[pool]
    w = np.maximum(s[pool], 0.0) + 1e-6
    centres = Xp[kmeans_pp(Xp, n, rng, weights=w)]
    for _ in range(n_iter):
        assign = _sq_dist(Xp, centres).argmin(axis=1)
        new = centres.copy()
        for c in range(n):
            members = assign == c
            if members.any():
                new[c] = np.average(Xp[members], axis=0, weights=w[members])
        if np.allclose(new, centres):
            break
        centres = new
    d2 = _sq_dist(Xp, centres)
    chosen: list[int] = []
    taken = np.zeros(len(pool), dtype=bool)
    for c in np.argsort(-np.bincount(d2.argmin(axis=1), weights=w, minlength=n)):
        order = np.argsort(d2[:, c], kind="stable")
        j = order[~taken[order]][0]
        taken[j] = True
        chosen.append(int(j))
    return pool[np.asarray(chosen, dtype=np.int64)]


# --------------------------------------------------------------------------
# strategies: (source, candidates, n, rng) -> pool indices
# --------------------------------------------------------------------------
def register(name: str, func: Strategy | None = None, *, needs_model: bool = True, overwrite: bool = False):
    """Register ``func`` as strategy ``name`` (usable as a decorator).

    ``needs_model=False`` marks strategies that work without a trained model
    (like ``random``): the learner then skips its diverse cold start for them.
    """

    def deco(f: Strategy) -> Strategy:
        if not isinstance(name, str) or not name:
            msg = f"a strategy name must be a non-empty string, got {name!r}"
            raise InvalidInputError(msg)
        if name in _REGISTRY and not overwrite:
            msg = f"a strategy named {name!r} is already registered; pass overwrite=True to replace it"
            raise InvalidInputError(msg)
        f.needs_model = needs_model
        _REGISTRY[name] = f
        return f

    return deco if func is None else deco(func)


def get(strategy: str | Strategy) -> Strategy:
    """The strategy function for a registered name, or ``strategy`` itself if callable."""
    if callable(strategy):
        return strategy
    if isinstance(strategy, str) and strategy in _REGISTRY:
        return _REGISTRY[strategy]
    msg = f"unknown strategy {strategy!r}; use one of {available()} or pass a callable (source, candidates, n, rng)"
    raise InvalidInputError(msg)


def available() -> list[str]:
    """Names of the registered strategies."""
    return sorted(_REGISTRY)


def _candidate_scores(measure, source, candidates: np.ndarray) -> np.ndarray:
    """``measure`` of each candidate's probabilities, from a learner or a given table.

    For a learner that scores its whole pool (up to its ``candidates`` limit)
    the measure runs over its cached pool table and the scores are then
    indexed: cheaper than gathering an ``(m, k)`` copy when the candidates are
    most of the pool, which they usually are. A larger pool is never scored
    whole for a query: only the candidates' rows are
    (:meth:`~alwidget.ActiveLearner.candidate_proba`).
    """
    if hasattr(source, "predict_proba") and not isinstance(source, np.ndarray):
        whole = getattr(source, "_scores_whole_pool", None)
        if whole is not None and not whole():
            return measure(source.candidate_proba(candidates))
        return measure(source.predict_proba())[candidates]
    p = _check_proba(source)
    if len(p) != len(candidates):
        msg = (
            f"probability table has {len(p)} rows but there are {len(candidates)} candidates; "
            "pass one row per candidate"
        )
        raise InvalidInputError(msg)
    return measure(p)


def _needs_learner(source, name: str):
    if not hasattr(source, "committee_proba"):
        msg = f"strategy {name!r} needs the ActiveLearner (embeddings or a committee), not a probability table"
        raise InvalidInputError(msg)
    return source


@register("random", needs_model=False)
def random_sampling(source, candidates, n, rng) -> np.ndarray:
    """``n`` candidates uniformly at random (the baseline)."""
    candidates = _check_candidates(source, candidates)
    return rng.choice(candidates, size=min(_check_count(n), len(candidates)), replace=False).astype(np.int64)


@register("least_confidence")
def least_confidence_sampling(source, candidates, n, rng) -> np.ndarray:
    """The ``n`` candidates whose top class is least probable."""
    candidates = _check_candidates(source, candidates)
    return candidates[select_top(_candidate_scores(least_confidence, source, candidates), n, rng)]


@register("margin")
def margin_sampling(source, candidates, n, rng) -> np.ndarray:
    """The ``n`` candidates with the smallest gap between the top two classes."""
    candidates = _check_candidates(source, candidates)
    return candidates[select_top(-_candidate_scores(margin, source, candidates), n, rng)]


@register("entropy")
def entropy_sampling(source, candidates, n, rng) -> np.ndarray:
    """The ``n`` candidates with the most spread-out prediction (highest entropy)."""
    candidates = _check_candidates(source, candidates)
    return candidates[select_top(_candidate_scores(entropy, source, candidates), n, rng)]


@register("diverse")
def diverse_sampling(source, candidates, n, rng) -> np.ndarray:
    """Batch-aware: small-margin candidates spread over the embedding space.

    Scores are ``1 - margin``; :func:`select_diverse` then avoids near-
    duplicates within one batch. Needs the learner (for the embeddings).
    """
    learner = _needs_learner(source, "diverse")
    candidates = _check_candidates(source, candidates)
    n = _check_count(n)
    scores = 1.0 - _candidate_scores(margin, learner, candidates)
    # standardise only the short list, not the whole pool
    short = select_top(scores, _DIVERSE_PREFILTER * n, rng)
    picks = select_diverse(learner.features(candidates[short]), scores[short], n, rng, prefilter=_DIVERSE_PREFILTER)
    return candidates[short[picks]]


@register("vote_entropy")
def vote_entropy_sampling(source, candidates, n, rng) -> np.ndarray:
    """Committee (query by bagging): candidates whose class the members vote on most evenly."""
    learner = _needs_learner(source, "vote_entropy")
    candidates = _check_candidates(source, candidates)
    return candidates[select_top(vote_entropy(learner.committee_proba(candidates)), n, rng)]


@register("bald")
def bald_sampling(source, candidates, n, rng) -> np.ndarray:
    """Committee: candidates with the highest BALD mutual information.

    With bagged linear members this favours outliers (members extrapolate
    differently far from the labels) and trails random sampling on our
    benchmarks; prefer ``"vote_entropy"``.
    """
    learner = _needs_learner(source, "bald")
    candidates = _check_candidates(source, candidates)
    return candidates[select_top(bald(learner.committee_proba(candidates)), n, rng)]
