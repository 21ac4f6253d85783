"""Review queues: which labels to check again, and how good detections are.

Two kinds of review, as plain functions the labelling session drives (it keeps
the queue and the reviewer's answers; this module gives the orderings and the
arithmetic):

**Label review** (:func:`label_review_order`) re-examines the labels already
given. Every labelled clip is scored by a model that did *not* see it
(K-fold cross-validation over the labelled set): a clip whose held-out model
gives its label a low probability is either mislabelled or unusual, and is
shown first.

**Detection review** (the scores of
:meth:`~alwidget.learner.ActiveLearner.class_scores`, then :func:`detection_bins`,
:func:`review_sample`, :func:`bin_precision`, :func:`detection_estimate`,
:func:`detection_table`) validates what the model finds for one class among
the unlabelled windows, following the stratified validation of Perch's agile
modelling tools (perch-hoplite,
``perch_hoplite/agile/call_density.py``, class ``CallDensityATB``, and the
"All Thresholds Barred" paper, Navine et al. 2024, https://arxiv.org/abs/2402.15360;
https://github.com/google-research/perch-hoplite). There the windows' scores
are split into bins by score quantiles (``quantile_bounds``, e.g.
``[0, 0.5, 0.75, 0.875, 1]``, or fixed ``value`` bounds), each bin gets the
weight ``p(bin)`` = its share of all windows, each bin is shuffled with a
seeded generator and its first ``samples_per_bin`` windows are validated
(positive / negative / uncertain; uncertain ones are left out of the counts),
and the class density is ``sum_b p(b) * pos_b / (pos_b + neg_b)``, with an
interval from draws of each bin's beta distribution. Here the same idea, with
two figures, each named for what it is:

* the **precision of the detections**: the share of the class among the
  windows the model detects (by default those it predicts as the class, or
  those whose probability of the class is at least a threshold). The windows
  are split into detections and the rest *before* binning
  (``detection_bins(..., detected=mask)``), so the detections are a union of
  bins and their precision is the weighted mean over those bins alone;
* the **call density**: the share of all the windows that hold the class,
  the weighted mean over every bin (hoplite's ``density_ev``).

A "top" bin of the highest-scoring detections is added (the ones a user looks
at first). The 95% intervals come from a seeded Monte Carlo combination of
per-bin distributions (:func:`detection_estimate`): each bin's share is drawn
from the mid-p confidence distribution of its answers, the class among the
bin's windows not answered is drawn at that share (the targets are shares of
these very windows, a finite set), and the weighted sums give the interval.
Simulated against known truth its coverage is 0.95-0.97
(tests/test_review.py); the sum of the bins' Wilson bounds
(:func:`overall_precision`, kept for compatibility) is far wider.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from alwidget._detection import (
    DETECTION_COLUMNS,
    BinEstimate,
    DetectionEstimate,
    OverallEstimate,
    ReviewSample,
    ScoreBin,
    ShareEstimate,
    bin_precision,
    detection_bins,
    detection_estimate,
    detection_table,
    overall_precision,
    review_sample,
)
from alwidget._validation import check_positive_int
from alwidget.errors import InvalidInputError, NotEnoughLabelsError
from alwidget.models import _one_thread, fit_model, make_model, predict_proba_with, split_views

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
    "ShareEstimate",
    "DetectionEstimate",
    "detection_estimate",
    "detection_table",
    "DETECTION_COLUMNS",
]


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
    p_predicted : float64 ``(m,)``
        Probability of ``predicted`` under that held-out model (why a label
        is doubted: "held-out model says cat (81%)"); None only when built
        by hand without it.
    """

    indices: np.ndarray
    given: np.ndarray
    predicted: np.ndarray
    p_given: np.ndarray
    suspicion: np.ndarray
    n_folds: int
    p_predicted: np.ndarray | None = None

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

    The learner's labels are copied in one snapshot (``learner.labeled_snapshot()``), so another
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
        ``indices``, ``given``, ``predicted``, ``p_given``, ``suspicion`` and
        ``p_predicted``, each ``(m,)`` with ``m = min(n_labeled, max_items)``,
        and ``n_folds``.

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
    lab, y, classes = learner.labeled_snapshot()
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
    X_raw = np.asarray(learner.pool.X[lab], dtype=np.float32)  # a copy of the labelled rows (the pool may be float16)
    stats = learner.pool.stats
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
            model = make_model(
                learner.model, seed=learner.seed, device=learner.device, views=split_views(learner.model_views)
            )
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
        p_predicted=proba[order].max(axis=1),
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
