"""Detection review: strata of one class's scores, a stratified sample to check, and the estimates.

The arithmetic behind :mod:`alwidget.review`'s detection review (see that
module's docstring for the method, after perch-hoplite's ``CallDensityATB``).
Every public name here is re-exported from :mod:`alwidget.review`; import it
from there.
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
from alwidget.errors import InvalidInputError

__all__ = [
    "ScoreBin",
    "ReviewSample",
    "BinEstimate",
    "OverallEstimate",
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

_DEFAULT_TOP = 10
_BIN_KINDS = ("quantile", "uniform")


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
    detected : bool
        Whether the bin's windows are detections (``detected`` given to
        :func:`detection_bins`); False without that split.
    """

    name: str
    lo: float
    hi: float
    indices: np.ndarray
    weight: float
    detected: bool = False

    def __len__(self) -> int:
        return len(self.indices)


def detection_bins(
    scores,
    *,
    bins: str = "quantile",
    n_bins: int = 5,
    top: int | None = None,
    detected=None,
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
    combined into one estimate (:func:`detection_estimate`), as in
    perch-hoplite's ``CallDensityATB`` (see the module docstring).

    With ``detected`` (one bool per window: the model's detections), the
    detections and the other windows are binned apart, so that the detections
    are exactly the union of the bins flagged ``detected`` and their precision
    can be estimated from those bins alone. The top bin is then the ``top``
    highest-scoring detections, and the ``n_bins`` bins are shared:
    ``max(1, n_bins // 2)`` for the other detections (fewer when fewer of
    them are left), the rest (at least one) for the other windows. When
    every window or none is a detection, the bins are as without
    ``detected``, all flagged alike. Bins are named "top", "bin 1",
    "bin 2", ... in that order (detections first).

    Parameters
    ----------
    scores : array-like ``(n,)`` of float
        One score per window, e.g. the probability of the chosen class.
    bins : ``"quantile"`` or ``"uniform"``, default ``"quantile"``
    n_bins : int, default 5
        Bins below the top bin, at least 1.
    top : int, optional
        Size of the top bin (default 10; 0 for none). Capped at ``n`` (at the
        number of detections with ``detected``).
    detected : array-like ``(n,)`` of bool, optional
        Which windows are detections (e.g. predicted as the class, or scored
        at least a threshold).

    Returns
    -------
    list of ScoreBin
        Highest scores first: ``"top"`` (if any), then ``"bin 1"`` ... ; the
        ranges are monotone (each bin's ``lo`` >= the next bin's ``hi``)
        within the detections and within the other windows.

    Raises
    ------
    InvalidInputError
        Empty, non-1-D or non-finite scores, ``n_bins < 1``, ``top < 0``, an
        unknown ``bins`` or a ``detected`` that is not one bool per window.
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
    if detected is None:
        return _bin_group(s, order, bins, n_bins, int(top), n, False, [])
    mask = _check_detected(detected, n)
    is_det = mask[order]
    det, other = order[is_det], order[~is_det]  # each still highest score first
    if len(det) == 0 or len(other) == 0:
        return _bin_group(s, order, bins, n_bins, int(top), n, bool(len(det)), [])
    out = _bin_group(s, det, bins, max(1, n_bins // 2), int(top), n, True, [])
    used = sum(b.name != "top" for b in out)  # fewer when the top bin holds (nearly) all the detections
    return _bin_group(s, other, bins, max(1, n_bins - used), 0, n, False, out)


def _bin_group(
    s: np.ndarray, order: np.ndarray, bins: str, n_bins: int, top: int, n: int, detected: bool, out: list
) -> list[ScoreBin]:
    """Append to ``out`` the bins of the windows ``order`` (highest score first): a top bin, then ``n_bins``."""
    number = sum(b.name != "top" for b in out)
    n_top = min(top, len(order))
    if n_top:
        head = order[:n_top]
        out.append(_make_bin("top", float(s[head[-1]]), float(s[head[0]]), head, n, detected))
    rest = order[n_top:]
    if len(rest) == 0:
        return out
    if bins == "quantile":
        # rest is in descending order: equal-count chunks from the top down
        for chunk in np.array_split(rest, min(n_bins, len(rest))):
            number += 1
            out.append(_make_bin(f"bin {number}", float(s[chunk[-1]]), float(s[chunk[0]]), chunk, n, detected))
        return out
    lo, hi = float(s[rest[-1]]), float(s[rest[0]])
    edges = np.linspace(lo, hi, n_bins + 1)
    edges[0], edges[-1] = lo, hi
    # bin b holds edges[b] <= s < edges[b + 1]; the highest score goes in the last bin
    which = np.clip(np.searchsorted(edges, s[rest], side="right") - 1, 0, n_bins - 1)
    for b in range(n_bins - 1, -1, -1):
        members = rest[which == b]  # still highest score first
        if len(members):
            number += 1
            out.append(_make_bin(f"bin {number}", float(edges[b]), float(edges[b + 1]), members, n, detected))
    return out


def _check_detected(detected, n: int) -> np.ndarray:
    mask = np.asarray(detected)
    if mask.dtype != np.bool_ or mask.shape != (n,):
        msg = (
            f"detected must be one bool per score ({n},), got dtype {mask.dtype} and shape {mask.shape}; "
            "e.g. scores >= threshold"
        )
        raise InvalidInputError(msg)
    return mask


def _make_bin(name: str, lo: float, hi: float, indices: np.ndarray, n: int, detected: bool = False) -> ScoreBin:
    idx = np.asarray(indices, dtype=np.int64)
    idx.flags.writeable = False
    return ScoreBin(name=name, lo=lo, hi=hi, indices=idx, weight=len(idx) / n, detected=bool(detected))


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
    """Stratified estimate of the precision over the given bins, with a conservative interval.

    :func:`detection_estimate` gives the two figures a detection review
    reports (precision of the detections, call density) with intervals of
    about 95% coverage; this function keeps the older, much wider bound.

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


# ---------------------------------------------------------------------- precision of detections, call density
_DRAWS = 4000
_EXACT_REST = 1000  # unanswered windows of a bin up to which their positives are drawn exactly


class ShareEstimate(NamedTuple):
    """The share of the class among the windows of some bins (see :func:`detection_estimate`).

    Attributes
    ----------
    value : float
        ``sum_b N_b yes_b / (yes_b + no_b) / sum_b N_b`` over the bins (``N_b``
        windows each); NaN while one of them has no yes/no answer, or when
        there is no bin.
    lo, hi : float
        The 95% interval (or the ``level`` asked for); NaN when there is no bin.
    windows : int
        Windows in the bins.
    weight : float
        Their share of all the windows binned.
    yes, no, unsure : int
        Answers in the bins.
    """

    value: float
    lo: float
    hi: float
    windows: int
    weight: float
    yes: int
    no: int
    unsure: int


class DetectionEstimate(NamedTuple):
    """What a detection review found (see :func:`detection_estimate`).

    Attributes
    ----------
    precision : ShareEstimate
        Precision of the detections: the share of the class among the windows
        of the bins flagged ``detected``.
    density : ShareEstimate
        Call density: the share of the class among all the windows binned.
    bins : list of BinEstimate
        Each bin's answers, precision and 95% Wilson interval (:func:`bin_precision`).
    """

    precision: ShareEstimate
    density: ShareEstimate
    bins: list


def detection_estimate(bins, answers, *, level: float = 0.95, draws: int = _DRAWS, seed: int = 0) -> DetectionEstimate:
    """Precision of the detections and call density, with intervals, from per-bin answers.

    Both are shares of a finite set of windows (the detections; all the
    windows binned) estimated from a uniform sample of each bin
    (:func:`review_sample`): with ``N_b`` windows in bin ``b``, of which
    ``yes_b`` were answered as the class and ``no_b`` as not,
    ``value = sum_b N_b p_b / sum_b N_b`` with ``p_b = yes_b / (yes_b + no_b)``
    (perch-hoplite's ``density_ev`` over all bins; over the detected bins,
    the precision of the detections). "Unsure" answers are left out.

    The interval is a seeded Monte Carlo one, as hoplite draws from each
    bin's beta distribution, with two changes that keep its coverage near the
    nominal level (measured in tests/test_review.py against known truth):

    * each bin's ``p_b`` is drawn from the **mid-p confidence distribution**
      of ``yes_b`` in ``yes_b + no_b``: half the draws from
      ``Beta(yes_b, no_b + 1)``, half from ``Beta(yes_b + 1, no_b)`` (a shape
      0 is a point mass at 0 or 1). Its equal-tailed quantiles are the mid-p
      Clopper-Pearson interval of the bin; unlike a beta posterior with a
      fixed prior it does not push the share of a bin answered 0 of ``n``
      above a truth far below ``1 / n``, which would put the lower bound of
      a rare class's density above its true value. A bin with no yes/no
      answer draws 0 or 1: nothing is known of it;
    * the windows of the bin not answered yes or no are drawn
      ``Binomial(N_b - yes_b - no_b, p_b)``, so a bin answered whole (e.g. a
      top bin of 10 with ``per_bin=10``) is known exactly.

    The draws of the bins are summed (weighted by ``N_b``) and the
    ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the sums give the
    interval, widened if needed to hold the point estimate. The same
    ``seed`` and answers give the same interval.

    Parameters
    ----------
    bins : sequence of ScoreBin, of mappings or of ``(size, detected)`` pairs
        The strata from :func:`detection_bins` (their length and ``detected``
        flag), or mappings with ``"size"`` and ``"detected"``, or pairs.
    answers : iterable of ``(yes, no, unsure)`` or of mappings
        One entry per bin, as for :func:`bin_precision`.
    level : float, default 0.95
        Confidence level of the intervals, in (0, 1).
    draws : int, default 4000
        Monte Carlo draws (about 2 ms for 6 bins).
    seed : int, default 0
        Seed of the Monte Carlo draws.

    Returns
    -------
    DetectionEstimate
        ``precision`` (over the detected bins; NaN figures when no bin is
        flagged detected), ``density`` (over all bins) and per-bin ``bins``.

    Raises
    ------
    InvalidInputError
        Malformed bins or answers, different lengths, more yes/no answers in
        a bin than it has windows, a bad ``level``, ``draws`` or ``seed``.
    """
    sizes, det = _bin_sizes(bins)
    estimates = bin_precision(answers)
    if len(estimates) != len(sizes):
        msg = f"got {len(sizes)} bins but {len(estimates)} answers; pass one (yes, no, unsure) entry per bin"
        raise InvalidInputError(msg)
    if isinstance(level, (bool, np.bool_)) or not isinstance(level, numbers.Real) or not 0 < level < 1:
        msg = f"level must be a number in (0, 1), e.g. 0.95, got {level!r}"
        raise InvalidInputError(msg)
    draws = check_positive_int(draws, "draws")
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral) or seed < 0:
        msg = f"seed must be a non-negative integer, got {seed!r}"
        raise InvalidInputError(msg)
    yes = np.array([e.yes for e in estimates], dtype=np.int64)
    no = np.array([e.no for e in estimates], dtype=np.int64)
    unsure = np.array([e.unsure for e in estimates], dtype=np.int64)
    rest = sizes - yes - no
    if (rest < 0).any():
        j = int(np.flatnonzero(rest < 0)[0])
        msg = f"bin {j} has {int(sizes[j])} windows but {int(yes[j] + no[j])} yes/no answers"
        raise InvalidInputError(msg)
    positives = _draw_positives(yes, no, rest, draws, np.random.default_rng(int(seed)))
    q = ((1 - float(level)) / 2, (1 + float(level)) / 2)
    every = np.ones(len(sizes), dtype=bool)
    total = int(sizes.sum())

    def share(which: np.ndarray) -> ShareEstimate:
        n_win = int(sizes[which].sum())
        counts = (int(yes[which].sum()), int(no[which].sum()), int(unsure[which].sum()))
        weight = n_win / total if total else 0.0
        if n_win == 0:
            return ShareEstimate(math.nan, math.nan, math.nan, 0, weight, *counts)
        decided = yes[which] + no[which]
        used = sizes[which] > 0
        if (decided[used] == 0).any():
            value = math.nan
        else:
            value = float(np.sum(sizes[which][used] * yes[which][used] / decided[used]) / n_win)
        lo, hi = (float(v) for v in np.quantile(positives[which].sum(axis=0) / n_win, q))
        if not math.isnan(value):  # Monte Carlo noise must not leave the estimate outside its interval
            lo, hi = min(lo, value), max(hi, value)
        return ShareEstimate(value, max(0.0, lo), min(1.0, hi), n_win, weight, *counts)

    return DetectionEstimate(precision=share(det), density=share(every), bins=estimates)


def _draw_positives(yes, no, rest, draws: int, rng: np.random.Generator) -> np.ndarray:
    """Positives per bin, ``(b, draws)`` float: the yes answers plus draws for the windows not answered."""
    b = len(yes)
    upper = rng.random((b, draws)) < 0.5  # the mid-p mixture: Beta(yes, no + 1) or Beta(yes + 1, no)
    # Beta(a, c) as G(a) / (G(a) + G(c)); a gamma of shape 0 is 0, so Beta(0, c) = 0 and Beta(a, 0) = 1
    g_yes = rng.standard_gamma(yes[:, None] + upper)
    g_no = rng.standard_gamma(no[:, None] + (~upper))
    p = g_yes / (g_yes + g_no)  # a + c = yes + no + 1 >= 1: never 0 / 0
    n_rest = np.broadcast_to(rest[:, None], (b, draws))
    out = np.empty((b, draws))
    small = rest < _EXACT_REST
    if small.any():  # the exact binomial for small remainders (the top bin, small pools)
        out[small] = rng.binomial(n_rest[small], p[small])
    if not small.all():  # its normal approximation: exact enough when thousands of windows remain, and faster
        m = n_rest[~small]
        pl = p[~small]
        k = m * pl + np.sqrt(m * pl * (1 - pl)) * rng.standard_normal(pl.shape)
        out[~small] = np.clip(k, 0, m)
    return yes[:, None] + out


def _bin_sizes(bins) -> tuple[np.ndarray, np.ndarray]:
    """Window counts ``(b,)`` int64 and detected flags ``(b,)`` bool of ScoreBins, mappings or pairs."""
    if isinstance(bins, (str, bytes, Mapping)) or not isinstance(bins, Iterable):
        msg = f"bins must be a sequence of ScoreBin (from detection_bins), got {type(bins).__name__}"
        raise InvalidInputError(msg)
    sizes, det = [], []
    for j, b in enumerate(bins):
        if isinstance(b, ScoreBin):
            size, flag = len(b), b.detected
        elif isinstance(b, Mapping) and "size" in b:
            size, flag = b["size"], b.get("detected", False)
        elif isinstance(b, (tuple, list)) and len(b) == 2:
            size, flag = b
        else:
            msg = (
                f"bins[{j}] must be a ScoreBin, a mapping with 'size' and 'detected', "
                f"or a (size, detected) pair, got {b!r}"
            )
            raise InvalidInputError(msg)
        if isinstance(size, (bool, np.bool_)) or not isinstance(size, numbers.Integral) or size < 0:
            msg = f"bins[{j}] size must be a non-negative integer (its number of windows), got {size!r}"
            raise InvalidInputError(msg)
        if not isinstance(flag, (bool, np.bool_)):
            msg = f"bins[{j}] detected must be True or False, got {flag!r}"
            raise InvalidInputError(msg)
        sizes.append(int(size))
        det.append(bool(flag))
    return np.asarray(sizes, dtype=np.int64), np.asarray(det, dtype=bool)


DETECTION_COLUMNS = (
    "class", "bin", "detected", "score_lo", "score_hi", "windows", "weight",
    "yes", "no", "unsure", "estimate", "low", "high",
)  # fmt: skip
_DETECTION_DTYPE = np.dtype(
    [
        ("class", object), ("bin", object), ("detected", object), ("score_lo", np.float64),
        ("score_hi", np.float64), ("windows", np.int64), ("weight", np.float64), ("yes", np.int64),
        ("no", np.int64), ("unsure", np.int64), ("estimate", np.float64), ("low", np.float64), ("high", np.float64),
    ]
)  # fmt: skip
PRECISION_ROW = "precision of detections"
DENSITY_ROW = "call density"


def detection_table(
    bins, answers, *, name, level: float = 0.95, draws: int = _DRAWS, seed: int = 0, as_frame: bool | None = None
):
    """The result of a detection review as a table (to export with :func:`alwidget.export.write_csv`).

    One row per bin, then a row ``"precision of detections"`` (the bins
    flagged detected together) and a row ``"call density"`` (every bin), the
    figures of :func:`detection_estimate`.

    Parameters
    ----------
    bins : sequence of ScoreBin, or of mappings with ``name, lo, hi, size, detected``
    answers : iterable of ``(yes, no, unsure)`` or of mappings, one per bin
    name : str
        The class reviewed (the ``class`` column).
    level, draws, seed : as in :func:`detection_estimate`
    as_frame : True for a DataFrame (needs pandas), False for a numpy
        structured array, None for a DataFrame when pandas can be imported.

    Returns
    -------
    DataFrame or structured array with the columns :data:`DETECTION_COLUMNS`:

    ``class``, ``bin`` (the bin's name, or the figure's), ``detected`` (True
    for the detections' bins, None on the call density row), ``score_lo`` and
    ``score_hi`` (the score range), ``windows`` and ``weight`` (their number
    and share of all windows), ``yes``, ``no``, ``unsure`` (answers),
    ``estimate`` (the share answered yes of a bin, the precision of the
    detections, or the call density; NaN while unknown) and ``low``, ``high``
    (its 95% interval: Wilson for a bin, as in :func:`detection_estimate` for
    the two figures).
    """
    from alwidget.export import _make_table, _pandas_for  # noqa: PLC0415 (export imports pandas lazily too)

    pd = _pandas_for(as_frame)
    records = _bin_records(bins)
    est = detection_estimate(
        [(size, det) for _, _, _, size, det in records], answers, level=level, draws=draws, seed=seed
    )
    total = sum(r[3] for r in records)
    rows = []
    for (bin_name, lo, hi, size, det), e in zip(records, est.bins):
        value = e.precision if e.yes + e.no else math.nan
        rows.append((name, bin_name, det, lo, hi, size, size / total if total else 0.0,
                     e.yes, e.no, e.unsure, value, e.lo, e.hi))  # fmt: skip
    for row_name, share, which in (
        (PRECISION_ROW, est.precision, True),
        (DENSITY_ROW, est.density, None),
    ):
        member = [r for r in records if which is None or r[4]]
        lo = min((r[1] for r in member), default=math.nan)
        hi = max((r[2] for r in member), default=math.nan)
        rows.append((name, row_name, which, lo, hi, share.windows, share.weight,
                     share.yes, share.no, share.unsure, share.value, share.lo, share.hi))  # fmt: skip
    columns = {c: [r[j] for r in rows] for j, c in enumerate(DETECTION_COLUMNS)}
    return _make_table(columns, _DETECTION_DTYPE, pd)


def _bin_records(bins) -> list[tuple[str, float, float, int, bool]]:
    """``(name, lo, hi, size, detected)`` of ScoreBins or of mappings with those keys."""
    if isinstance(bins, (str, bytes, Mapping)) or not isinstance(bins, Iterable):
        msg = f"bins must be a sequence of ScoreBin (from detection_bins), got {type(bins).__name__}"
        raise InvalidInputError(msg)
    out = []
    for j, b in enumerate(bins):
        if isinstance(b, ScoreBin):
            out.append((b.name, float(b.lo), float(b.hi), len(b), bool(b.detected)))
            continue
        keys = ("name", "lo", "hi", "size", "detected")
        if not isinstance(b, Mapping) or any(k not in b for k in keys):
            msg = f"bins[{j}] must be a ScoreBin or a mapping with the keys {keys}, got {b!r}"
            raise InvalidInputError(msg)
        out.append((str(b["name"]), float(b["lo"]), float(b["hi"]), b["size"], b["detected"]))
    _bin_sizes([(size, det) for *_, size, det in out])  # checks the sizes and flags
    return out
