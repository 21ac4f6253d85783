"""Review queues: which labels to check again, and how good detections are.

Two kinds of review, as plain functions the labelling session drives (it keeps
the queue and the reviewer's answers; this module gives the orderings and the
arithmetic):

**Label review** (:func:`label_review_order`) re-examines the labels already
given. Every labelled clip is scored by a model that did *not* see it
(K-fold cross-validation over the labelled set): a clip whose held-out model
gives its label a low probability is either mislabelled or unusual, and is
shown first.

**Detection review** (:func:`detection_bins`, :func:`review_sample`,
:func:`bin_precision`, :func:`overall_precision`) validates what the model
finds for one class among the unlabelled windows, following the stratified
validation of Perch's agile modelling tools (perch-hoplite,
``perch_hoplite/agile/call_density.py``, class ``CallDensityATB``, and the
"All Thresholds Barred" paper, Navine et al. 2024, https://arxiv.org/abs/2402.15360;
https://github.com/google-research/perch-hoplite). There the windows' scores
are split into bins by score quantiles (``quantile_bounds``, e.g.
``[0, 0.5, 0.75, 0.875, 1]``, or fixed ``value`` bounds), each bin gets the
weight ``p(bin)`` = its share of all windows, each bin is shuffled with a
seeded generator and its first ``samples_per_bin`` windows are validated
(positive / negative / uncertain; uncertain ones are left out of the counts),
and the class density is ``sum_b p(b) * pos_b / (pos_b + neg_b)``. Here the
same idea, with a "top" bin of the highest scores added (the detections a
user looks at first) and Wilson intervals instead of hoplite's beta-posterior
draws (no random numbers are needed for an interval).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from alwidget._validation import check_positive_int
from alwidget._widget_plot import wilson_interval
from alwidget.errors import InvalidInputError, NotEnoughLabelsError
from alwidget.models import _one_thread, fit_model, make_model, predict_proba_with

__all__ = [
    "ReviewOrder",
    "ScoreBin",
    "ReviewSample",
    "BinEstimate",
    "OverallEstimate",
    "label_review_order",
    "detection_bins",
    "review_sample",
    "bin_precision",
    "overall_precision",
]

_DEFAULT_TOP = 10
_BIN_KINDS = ("quantile", "uniform")


# ---------------------------------------------------------------------- label review
@dataclass(frozen=True)
class ReviewOrder:
    """Labelled clips, most suspicious label first (see :func:`label_review_order`).

    Attributes
    ----------
    indices : int64 ``(m,)``
        Pool indices, most suspicious first; ties go to the lower index.
    given : object ``(m,)``
        The label each clip has now (class names).
    predicted : object ``(m,)``
        The held-out model's most probable class for each clip.
    p_given : float64 ``(m,)``
        Probability of the given label under the model that did not see the clip.
    suspicion : float64 ``(m,)``
        ``1 - p_given``, in ``[0, 1]``, descending.
    n_folds : int
        Number of cross-validation folds used (``n_labeled`` for leave-one-out).
    """

    indices: np.ndarray
    given: np.ndarray
    predicted: np.ndarray
    p_given: np.ndarray
    suspicion: np.ndarray
    n_folds: int

    def __len__(self) -> int:
        return len(self.indices)


def label_review_order(learner, *, n_folds: int = 10, max_items: int | None = None) -> ReviewOrder:
    """Order the labelled clips by how strongly a model trained without them disagrees.

    The labelled set is split into ``K = min(n_folds, n_labeled)`` folds
    (leave-one-out when ``n_labeled <= n_folds``). Folds are stratified by
    class and deterministic: each class's clips are shuffled with a generator
    seeded by ``learner.seed`` and the number of labels, then dealt round-robin
    to the folds. For each fold a fresh model
    (``make_model(learner.model, seed=learner.seed, device=learner.device)``)
    is fitted on the standardised embeddings ``(X - mean) / scale`` of the other
    folds and scores the held-out clips. A clip's suspicion is
    ``1 - p(given label)`` under that held-out model. A class with no example
    in a fold's training set gets a probability of about 0 there (its only
    clip is then maximally suspicious, which is honest: nothing else supports
    that label); a training set with a single class predicts it with
    probability 1.

    The learner's labels are copied under ``learner._lock``, so another
    thread may keep teaching meanwhile; the order reflects the labels at the
    time of the call.

    Cost: K fits on ``(K - 1) / K`` of the labels, on one BLAS thread; a
    convex built-in model warm-starts each fold from the previous fold's
    optimum (the same unique optimum, about half the Newton steps). Measured
    on a shared 2-core CPU machine: 500 labels of 192-d embeddings in 5
    classes, 10 folds, take 0.26-0.29 s with the default linear model (0.55 s
    without the warm starts); the ``"mlp"`` model needs 2.5-3.5 s per fit,
    so 25-35 s: pass a smaller ``n_folds`` (e.g. 3) with it. The default
    ``"spread"`` model is fitted here without its pool (as the linear
    model): its pseudo-labels would make each of the K fits 7-10x slower.

    Parameters
    ----------
    learner : ActiveLearner
    n_folds : int, default 10
        Number of folds, at least 2.
    max_items : int, optional
        Return only the first ``max_items`` clips (all are scored anyway).

    Returns
    -------
    ReviewOrder
        ``indices``, ``given``, ``predicted``, ``p_given``, ``suspicion``, each
        ``(m,)`` with ``m = min(n_labeled, max_items)``, and ``n_folds``.

    Raises
    ------
    NotEnoughLabelsError
        Fewer than 2 labelled clips, or all of them in one class.
    InvalidInputError
        ``n_folds < 2`` or ``max_items < 1``.
    """
    if isinstance(n_folds, (bool, np.bool_)) or not isinstance(n_folds, numbers.Integral) or n_folds < 2:
        msg = f"n_folds must be an integer >= 2, got {n_folds!r}"
        raise InvalidInputError(msg)
    if max_items is not None:
        max_items = check_positive_int(max_items, "max_items")
    with learner._lock:
        lab = np.flatnonzero(learner._codes >= 0)
        y = learner._codes[lab].astype(np.int64)
        classes = list(learner.classes)
    present = np.unique(y)
    if len(lab) < 2 or len(present) < 2:
        msg = (
            f"label review needs at least 2 labelled clips in at least 2 classes, got {len(lab)} "
            f"label(s) in {len(present)} class(es); label clips of another class first"
        )
        raise NotEnoughLabelsError(msg)
    k = len(classes)
    n = len(lab)
    K = min(int(n_folds), n)
    fold = _stratified_folds(y, K, np.random.default_rng([learner.seed, n]))
    X_raw = np.asarray(learner._X[lab], dtype=np.float32)  # a copy of the labelled rows (the pool may be float16)
    stats = (learner._mean, learner._scale)
    Xs = (X_raw - stats[0]) / stats[1]
    proba = np.zeros((n, k), dtype=np.float64)
    previous = None
    with _one_thread():  # one BLAS thread for all K small fits (set up once, not per fit)
        for f in range(K):
            test = fold == f
            train = ~test
            y_train = y[train]
            seen = np.unique(y_train)
            if len(seen) == 1:  # nothing to learn: the only class seen gets probability 1
                proba[np.ix_(test, seen)] = 1.0
                continue
            model = make_model(learner.model, seed=learner.seed, device=learner.device)
            # a convex built-in model starts from the previous fold's optimum (same optimum, fewer steps)
            model = fit_model(model, Xs[train], y_train, k, previous=previous)
            previous = model
            proba[test] = predict_proba_with(model, X_raw[test], k, stats)
    p_given = proba[np.arange(n), y]
    suspicion = np.clip(1.0 - p_given, 0.0, 1.0)
    order = np.lexsort((lab, -suspicion))
    if max_items is not None:
        order = order[:max_items]
    names = np.empty(k, dtype=object)
    names[:] = classes
    return ReviewOrder(
        indices=lab[order].astype(np.int64),
        given=names[y[order]],
        predicted=names[proba[order].argmax(axis=1)],
        p_given=p_given[order],
        suspicion=suspicion[order],
        n_folds=K,
    )


def _stratified_folds(y: np.ndarray, K: int, rng: np.random.Generator) -> np.ndarray:
    """Fold number ``(n,)`` per row: each class shuffled, then dealt round-robin.

    Dealing continues across classes (one running counter), so fold sizes
    differ by at most one and each class is spread over as many folds as it
    has rows (up to ``K``).
    """
    order = np.lexsort((rng.random(len(y)), y))  # by class, random within a class
    fold = np.empty(len(y), dtype=np.int64)
    fold[order] = np.arange(len(y)) % K
    return fold


# ---------------------------------------------------------------------- detection bins
@dataclass(frozen=True)
class ScoreBin:
    """One stratum of windows by score (see :func:`detection_bins`).

    Attributes
    ----------
    name : str
        ``"top"`` for the highest scores, else ``"bin 1"`` (highest) ... ``"bin n"``.
    lo, hi : float
        Score range of the bin: the lowest and highest member scores for
        ``"top"`` and quantile bins, the bin edges ``[lo, hi)`` for uniform
        bins (the last one closed).
    indices : int64 ``(m,)``
        Positions into the ``scores`` given to :func:`detection_bins`,
        highest score first (ties by position).
    weight : float
        ``m / len(scores)``: the bin's share of all windows.
    """

    name: str
    lo: float
    hi: float
    indices: np.ndarray
    weight: float

    def __len__(self) -> int:
        return len(self.indices)


def detection_bins(
    scores,
    *,
    bins: str = "quantile",
    n_bins: int = 5,
    top: int | None = None,
) -> list[ScoreBin]:
    """Split windows' scores for one class into strata to review.

    The ``top`` highest scores form the ``"top"`` bin (the detections one looks
    at first). The remaining windows are split into ``n_bins`` bins:

    * ``"quantile"``: equal-count bins by rank (sizes differ by at most one;
      fewer bins when fewer windows remain). Windows with equal scores at a
      boundary are split by position, so two adjacent bins may share a score.
    * ``"uniform"``: equal-width score intervals between the lowest and the
      highest remaining score; empty intervals are left out.

    Together the bins partition the input: each position is in exactly one
    bin. Their weights (shares of all windows) let per-bin review results be
    combined into one estimate (:func:`overall_precision`), as in
    perch-hoplite's ``CallDensityATB`` (see the module docstring).

    Parameters
    ----------
    scores : array-like ``(n,)`` of float
        One score per window, e.g. the probability of the chosen class.
    bins : ``"quantile"`` or ``"uniform"``, default ``"quantile"``
    n_bins : int, default 5
        Bins below the top bin, at least 1.
    top : int, optional
        Size of the top bin (default 10; 0 for none). Capped at ``n``.

    Returns
    -------
    list of ScoreBin
        Highest scores first: ``"top"`` (if any), then ``"bin 1"`` ... ; the
        ranges are monotone (each bin's ``lo`` >= the next bin's ``hi``).

    Raises
    ------
    InvalidInputError
        Empty, non-1-D or non-finite scores, ``n_bins < 1``, ``top < 0`` or an
        unknown ``bins``.
    """
    s = _check_scores(scores)
    if not isinstance(bins, str) or bins not in _BIN_KINDS:
        msg = f"bins must be one of {_BIN_KINDS}, got {bins!r}"
        raise InvalidInputError(msg)
    n_bins = check_positive_int(n_bins, "n_bins")
    if top is None:
        top = _DEFAULT_TOP
    if isinstance(top, (bool, np.bool_)) or not isinstance(top, numbers.Integral) or top < 0:
        msg = f"top must be a non-negative integer (0 for no top bin), got {top!r}"
        raise InvalidInputError(msg)
    n = len(s)
    order = np.lexsort((np.arange(n), -s))  # highest score first, ties by position
    n_top = min(int(top), n)
    out: list[ScoreBin] = []
    if n_top:
        head = order[:n_top]
        out.append(_make_bin("top", float(s[head[-1]]), float(s[head[0]]), head, n))
    rest = order[n_top:]
    if len(rest) == 0:
        return out
    if bins == "quantile":
        # rest is in descending order: equal-count chunks from the top down
        for i, chunk in enumerate(np.array_split(rest, min(n_bins, len(rest)))):
            out.append(_make_bin(f"bin {i + 1}", float(s[chunk[-1]]), float(s[chunk[0]]), chunk, n))
        return out
    lo, hi = float(s[rest[-1]]), float(s[rest[0]])
    edges = np.linspace(lo, hi, n_bins + 1)
    edges[0], edges[-1] = lo, hi
    # bin b holds edges[b] <= s < edges[b + 1]; the highest score goes in the last bin
    which = np.clip(np.searchsorted(edges, s[rest], side="right") - 1, 0, n_bins - 1)
    number = 0
    for b in range(n_bins - 1, -1, -1):
        members = rest[which == b]  # still highest score first
        if len(members):
            number += 1
            out.append(_make_bin(f"bin {number}", float(edges[b]), float(edges[b + 1]), members, n))
    return out


def _make_bin(name: str, lo: float, hi: float, indices: np.ndarray, n: int) -> ScoreBin:
    idx = np.asarray(indices, dtype=np.int64)
    idx.flags.writeable = False
    return ScoreBin(name=name, lo=lo, hi=hi, indices=idx, weight=len(idx) / n)


def _check_scores(scores) -> np.ndarray:
    try:
        s = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        msg = f"scores must be a 1-D array of numbers, got {type(scores).__name__}: {exc}"
        raise InvalidInputError(msg) from None
    if s.ndim != 1:
        msg = f"scores must be 1-D (one score per window), got shape {s.shape}"
        raise InvalidInputError(msg)
    if len(s) == 0:
        msg = "scores is empty: there are no windows to review"
        raise InvalidInputError(msg)
    bad = ~np.isfinite(s)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        msg = f"scores must be finite; got {s[i]} at position {i} ({int(bad.sum())} non-finite in all)"
        raise InvalidInputError(msg)
    return s


class ReviewSample(NamedTuple):
    """Windows to show, interleaved across bins; unpacks as ``(indices, bin_ids)``.

    Attributes
    ----------
    indices : int64 ``(m,)``
        Positions into the scores the bins were built from, in showing order.
    bin_ids : int64 ``(m,)``
        For each, the position of its bin in the list given to :func:`review_sample`.
    """

    indices: np.ndarray
    bin_ids: np.ndarray


def review_sample(bins: Sequence[ScoreBin], per_bin: int, rng: np.random.Generator) -> ReviewSample:
    """Draw up to ``per_bin`` windows uniformly from each bin, interleaved.

    Each bin is shuffled with ``rng`` (as perch-hoplite shuffles each bin and
    keeps its first ``samples_per_bin``); the first ``per_bin`` of each (all
    of a smaller bin) are then dealt round-robin: first of bin 0, first of
    bin 1, ..., second of bin 0, ... . So a reviewer who stops early has seen
    every bin about equally often. The draws do not depend on ``per_bin``:
    from generators in the same state, a larger ``per_bin`` extends the smaller
    sample's picks in every bin. No window appears twice (bins are disjoint).

    Parameters
    ----------
    bins : sequence of ScoreBin
        From :func:`detection_bins`.
    per_bin : int
        Most windows drawn per bin, at least 1.
    rng : numpy.random.Generator
        Seeded generator (e.g. ``np.random.default_rng(seed)``); the global
        random state is never used.

    Returns
    -------
    ReviewSample
        ``indices`` and ``bin_ids``, each ``(m,)`` int64, ``m = sum(min(per_bin, len(bin)))``.
    """
    per_bin = check_positive_int(per_bin, "per_bin")
    if not isinstance(rng, np.random.Generator):
        msg = f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng).__name__}"
        raise InvalidInputError(msg)
    picks = []
    for j, b in enumerate(bins):
        if not isinstance(b, ScoreBin):
            msg = f"bins[{j}] must be a ScoreBin from detection_bins, got {type(b).__name__}"
            raise InvalidInputError(msg)
        picks.append(np.asarray(b.indices, dtype=np.int64)[rng.permutation(len(b.indices))[:per_bin]])
    indices, bin_ids = [], []
    for r in range(max((len(p) for p in picks), default=0)):
        for j, p in enumerate(picks):
            if r < len(p):
                indices.append(p[r])
                bin_ids.append(j)
    return ReviewSample(np.asarray(indices, dtype=np.int64), np.asarray(bin_ids, dtype=np.int64))


# ---------------------------------------------------------------------- precision
class BinEstimate(NamedTuple):
    """Reviewed precision of one bin (see :func:`bin_precision`).

    Attributes
    ----------
    yes, no, unsure : int
        Reviewer answers: the window is / is not the class / cannot tell.
    n_reviewed : int
        ``yes + no + unsure``: windows answered.
    precision : float
        ``yes / (yes + no)``; NaN when ``yes + no == 0``.
    lo, hi : float
        95% Wilson score interval of the precision (``(0, 1)`` when
        ``yes + no == 0``).
    """

    yes: int
    no: int
    unsure: int
    n_reviewed: int
    precision: float
    lo: float
    hi: float


def bin_precision(answers: Iterable) -> list[BinEstimate]:
    """Estimated precision per bin from the reviewer's answers.

    Unsure answers are left out of the proportion (as perch-hoplite leaves
    ``UNCERTAIN`` labels out of its counts), but counted in ``n_reviewed``.

    Parameters
    ----------
    answers : iterable of ``(yes, no, unsure)`` or of mappings
        One entry per bin: a triple of counts, or a mapping with keys
        ``"yes"``, ``"no"``, ``"unsure"`` (missing keys count 0).

    Returns
    -------
    list of BinEstimate
        One per entry: ``yes / (yes + no)`` with its 95% Wilson interval
        (:func:`alwidget._widget_plot.wilson_interval`).

    Raises
    ------
    InvalidInputError
        A count that is negative or not an integer, or a malformed entry.
    """
    if isinstance(answers, (str, bytes, Mapping)) or not isinstance(answers, Iterable):
        msg = f"answers must be a sequence with one (yes, no, unsure) entry per bin, got {answers!r}"
        raise InvalidInputError(msg)
    out = []
    for j, entry in enumerate(answers):
        yes, no, unsure = _check_counts(entry, j)
        decided = yes + no
        lo, hi = wilson_interval(yes, decided)
        precision = yes / decided if decided else math.nan
        out.append(BinEstimate(yes, no, unsure, decided + unsure, precision, lo, hi))
    return out


def _check_counts(entry, j: int) -> tuple[int, int, int]:
    if isinstance(entry, Mapping):
        unknown = set(entry) - {"yes", "no", "unsure"}
        if unknown:
            msg = f"answers[{j}] has unknown key(s) {sorted(map(str, unknown))}; use 'yes', 'no' and 'unsure'"
            raise InvalidInputError(msg)
        values = [entry.get("yes", 0), entry.get("no", 0), entry.get("unsure", 0)]
    elif isinstance(entry, (str, bytes)) or not isinstance(entry, Iterable):
        msg = f"answers[{j}] must be (yes, no, unsure) counts or a mapping, got {entry!r}"
        raise InvalidInputError(msg)
    else:
        values = list(entry)
        if len(values) != 3:
            msg = f"answers[{j}] must hold 3 counts (yes, no, unsure), got {len(values)}: {values!r}"
            raise InvalidInputError(msg)
    counts = []
    for name, v in zip(("yes", "no", "unsure"), values):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral) or v < 0:
            msg = f"answers[{j}] {name} count must be a non-negative integer, got {v!r}"
            raise InvalidInputError(msg)
        counts.append(int(v))
    return counts[0], counts[1], counts[2]


class OverallEstimate(NamedTuple):
    """Precision over several bins together (see :func:`overall_precision`).

    Attributes
    ----------
    precision : float
        Weighted mean of the bins' precisions; NaN while a bin with weight > 0
        has no yes/no answer.
    lo, hi : float
        Conservative 95% interval (weighted sums of the bins' Wilson bounds).
    n_reviewed : int
        Answers over all bins, unsure included.
    weight : float
        Total weight of the bins (their share of all windows).
    """

    precision: float
    lo: float
    hi: float
    n_reviewed: int
    weight: float


def overall_precision(bins: Sequence, estimates: Sequence[BinEstimate]) -> OverallEstimate:
    """Stratified estimate of the precision over the given bins.

    Each bin's precision is weighted by its share of the windows:
    ``P = sum_b w_b p_b / sum_b w_b``. Over every bin of :func:`detection_bins`
    this is the estimated fraction of all windows that belong to the class
    (perch-hoplite's ``density_ev``); over the bins above a score threshold
    (e.g. the first few in the list) it is the precision of detections above
    that threshold.

    The interval is conservative: ``lo = sum_b w_b lo_b / sum_b w_b`` and
    likewise ``hi``, with each bin's 95% Wilson interval. It contains the true
    value whenever every bin's interval contains its bin's value (a union
    bound), and since the bins' half-widths add linearly rather than in
    quadrature (as in a stratified normal interval, ``sum_b w_b^2 p_b (1 - p_b)
    / n_b``), it is wider than that interval as soon as several bins
    contribute; with a single bin it is that bin's Wilson interval. Unlike the
    normal approximation it stays in ``[0, 1]`` and does not collapse to a
    point at 0/n or n/n. A bin with no yes/no answer contributes ``[0, 1]``
    (nothing is known about it) and makes the point estimate NaN.

    Parameters
    ----------
    bins : sequence of ScoreBin or of float
        The bins (their ``weight``), or the weights themselves, ``(b,)``.
    estimates : sequence of BinEstimate, ``(b,)``
        From :func:`bin_precision`, in the same order.

    Returns
    -------
    OverallEstimate
        ``precision``, ``lo``, ``hi``, ``n_reviewed`` and the total ``weight``.

    Raises
    ------
    InvalidInputError
        Different lengths, a negative or non-finite weight, or weights
        summing to 0.
    """
    weights = []
    for j, b in enumerate(bins):
        w = b.weight if isinstance(b, ScoreBin) else b
        if isinstance(w, (bool, np.bool_)) or not isinstance(w, numbers.Real) or not math.isfinite(w) or w < 0:
            msg = f"bins[{j}] weight must be a finite number >= 0, got {w!r}"
            raise InvalidInputError(msg)
        weights.append(float(w))
    estimates = list(estimates)
    if len(weights) != len(estimates):
        msg = f"got {len(weights)} bins but {len(estimates)} estimates; pass one estimate per bin"
        raise InvalidInputError(msg)
    for j, e in enumerate(estimates):
        if not isinstance(e, BinEstimate):
            msg = f"estimates[{j}] must be a BinEstimate from bin_precision, got {type(e).__name__}"
            raise InvalidInputError(msg)
    total = math.fsum(weights)
    if total <= 0:
        msg = f"the bins' weights sum to {total}; give at least one bin with windows in it"
        raise InvalidInputError(msg)
    w = np.asarray(weights) / total
    p = np.array([e.precision for e in estimates], dtype=np.float64)
    lo = np.array([e.lo for e in estimates], dtype=np.float64)
    hi = np.array([e.hi for e in estimates], dtype=np.float64)
    used = w > 0
    precision = float(np.dot(w[used], p[used])) if not np.isnan(p[used]).any() else math.nan
    return OverallEstimate(
        precision=precision,
        lo=float(min(1.0, max(0.0, np.dot(w, lo)))),
        hi=float(min(1.0, max(0.0, np.dot(w, hi)))),
        n_reviewed=sum(e.n_reviewed for e in estimates),
        weight=total,
    )
