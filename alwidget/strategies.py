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

from collections.abc import Callable

import numpy as np

from alwidget.errors import InvalidInputError

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
    top2 = np.partition(p, p.shape[1] - 2, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


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
# selectors: scores -> positions into the candidate list
# --------------------------------------------------------------------------
def select_top(scores, n: int, rng: np.random.Generator) -> np.ndarray:
    """Positions of the ``n`` highest scores, best first.

    Ties are broken by ``rng``, never by position: among equal scores at the
    cut, a seeded random subset is taken, and equal scores are ordered at random.
    """
    s = np.asarray(scores, dtype=np.float64)
    n = min(int(n), len(s))
    if n == 0:
        return np.empty(0, dtype=np.int64)
    threshold = np.partition(s, len(s) - n)[len(s) - n]
    above = np.flatnonzero(s > threshold)
    tied = np.flatnonzero(s == threshold)
    picked = np.concatenate([above, rng.choice(tied, size=n - len(above), replace=False)])
    # order best first; a random key breaks ties in the order as well
    order = np.lexsort((rng.random(len(picked)), -s[picked]))
    return picked[order].astype(np.int64)


def _sq_dist(X: np.ndarray, C: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances ``(len(X), len(C))``, clipped at zero."""
    d = (X * X).sum(1)[:, None] - 2.0 * X @ C.T + (C * C).sum(1)[None, :]
    return np.maximum(d, 0.0)


def kmeans_pp(X, n: int, rng: np.random.Generator, *, weights=None, centers=None) -> np.ndarray:
    """``n`` distinct row positions of ``X`` picked by (weighted) k-means++ seeding.

    Each pick is drawn with probability proportional to ``weight x`` squared
    distance to the nearest point picked so far (or in ``centers``, e.g. clips
    already labelled), so the picks spread over the data instead of piling up.

    Parameters
    ----------
    X : array ``(m, d)``
    n : int, number of picks (at most ``m``)
    rng : numpy Generator
    weights : array ``(m,)`` of non-negative floats, optional
    centers : array ``(c, d)`` of points already covered, optional
    """
    X = np.asarray(X, dtype=np.float64)
    m = len(X)
    n = min(int(n), m)
    w = np.ones(m) if weights is None else np.asarray(weights, dtype=np.float64) + 1e-12
    if centers is not None and len(centers):
        d2 = _sq_dist(X, np.asarray(centers, dtype=np.float64)).min(axis=1)
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
    s = np.asarray(scores, dtype=np.float64)
    n = min(int(n), len(s))
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

    For a learner the measure runs over its cached pool table and the scores
    are then indexed: cheaper than gathering an ``(m, k)`` copy when the
    candidates are most of the pool, which they usually are.
    """
    if hasattr(source, "predict_proba") and not isinstance(source, np.ndarray):
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
    candidates = np.asarray(candidates)
    return rng.choice(candidates, size=min(int(n), len(candidates)), replace=False).astype(np.int64)


@register("least_confidence")
def least_confidence_sampling(source, candidates, n, rng) -> np.ndarray:
    """The ``n`` candidates whose top class is least probable."""
    candidates = np.asarray(candidates)
    return candidates[select_top(_candidate_scores(least_confidence, source, candidates), n, rng)]


@register("margin")
def margin_sampling(source, candidates, n, rng) -> np.ndarray:
    """The ``n`` candidates with the smallest gap between the top two classes."""
    candidates = np.asarray(candidates)
    return candidates[select_top(-_candidate_scores(margin, source, candidates), n, rng)]


@register("entropy")
def entropy_sampling(source, candidates, n, rng) -> np.ndarray:
    """The ``n`` candidates with the most spread-out prediction (highest entropy)."""
    candidates = np.asarray(candidates)
    return candidates[select_top(_candidate_scores(entropy, source, candidates), n, rng)]


@register("diverse")
def diverse_sampling(source, candidates, n, rng) -> np.ndarray:
    """Batch-aware: small-margin candidates spread over the embedding space.

    Scores are ``1 - margin``; :func:`select_diverse` then avoids near-
    duplicates within one batch. Needs the learner (for the embeddings).
    """
    learner = _needs_learner(source, "diverse")
    candidates = np.asarray(candidates)
    scores = 1.0 - _candidate_scores(margin, learner, candidates)
    # standardise only the short list, not the whole pool
    short = select_top(scores, _DIVERSE_PREFILTER * int(n), rng)
    picks = select_diverse(learner.features(candidates[short]), scores[short], n, rng, prefilter=_DIVERSE_PREFILTER)
    return candidates[short[picks]]


@register("vote_entropy")
def vote_entropy_sampling(source, candidates, n, rng) -> np.ndarray:
    """Committee (query by bagging): candidates whose class the members vote on most evenly."""
    learner = _needs_learner(source, "vote_entropy")
    candidates = np.asarray(candidates)
    return candidates[select_top(vote_entropy(learner.committee_proba(candidates)), n, rng)]


@register("bald")
def bald_sampling(source, candidates, n, rng) -> np.ndarray:
    """Committee: candidates with the highest BALD mutual information.

    With bagged linear members this favours outliers (members extrapolate
    differently far from the labels) and trails random sampling on our
    benchmarks; prefer ``"vote_entropy"``.
    """
    learner = _needs_learner(source, "bald")
    candidates = np.asarray(candidates)
    return candidates[select_top(bald(learner.committee_proba(candidates)), n, rng)]
