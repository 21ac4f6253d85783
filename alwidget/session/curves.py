"""Audit plan and accuracy curves of a labelling session.

Honest accuracy without a test set: a share ``audit_rate`` of the clips shown
are *audit* clips, drawn uniformly at random from the unlabelled pool instead
of by the query strategy, so the labelled audit clips are a uniform sample of
the pool. After each retraining the ``"audit"`` curve estimates the accuracy
of the *current* model by cross-fitting (:func:`cross_fit_audits`): the audit
clips are split into a few folds, and each fold is scored by a fresh model of
the same kind trained on every label except that fold. Each point is the
share of audit clips those held-out models get right, with its 95% Wilson
interval; it errs low, as each of those models has a few labels fewer than
the current one. No point is shown before :data:`MIN_AUDITS` audit clips are
labelled. Whether the clip shown at a given point is an audit clip, and which
one, is a deterministic function of the learner's seed, the number of clips
labelled or skipped so far and the open clips, so the curve is rebuilt from
the learner's history (the events in force, :meth:`ActiveLearner.live_events`)
when a session is resumed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from alwidget._ledger import Event, LabelLedger
from alwidget.errors import AlwidgetError, InvalidInputError, NotEnoughLabelsError
from alwidget.models import _one_thread, fit_model, make_model, predict_proba_with, split_views
from alwidget.session.plot import plot_payload, wilson_interval

__all__ = ["MIN_AUDITS", "Curves", "Eval", "Guess", "audit_pick", "audit_slot", "cross_fit_audits", "replay_audits"]

_AUDIT_KEY = 0xA0D17  # separates the audit's random stream from the learner's
_REBUILD_CHECKPOINTS = 12  # eval-set and audit points recomputed on resume
_RATE_WINDOW = 20  # labels per minute over the last this many labels
_BREAK_S = 120.0  # a longer gap between two labels is a break, not labelling time
_RATE_MIN_LABELS = 10  # the rate is shown once this many labels were timed ...
_RATE_MIN_S = 120.0  # ... over at least this much labelling time
MIN_AUDITS = 8  # audit clips labelled before the accuracy is estimated
_AUDIT_FOLDS = 10  # folds of the audit clips in each estimate (fits per estimate)


@dataclass(frozen=True)
class Eval:
    """Where and against what accuracy is measured."""

    y: np.ndarray  # object array of true labels
    idx: np.ndarray | None  # pool rows (held-out indices, or the oracle-labelled pool)
    X: np.ndarray | None  # embeddings outside the pool
    name: str  # the metric, as shown in the plot title
    held_out: bool  # True for eval_set pool indices: never queried


@dataclass(frozen=True)
class Guess:
    """The model's guess on a clip, recorded when the clip was labelled."""

    clip: int
    right: bool
    n_before: int  # labels given before this one
    audit: bool  # the clip was an audit clip (drawn at random)


@dataclass(frozen=True)
class Rebuilt:
    """What :meth:`Curves.rebuild` recomputes from a journal."""

    guesses: list[Guess]
    points: dict[int, float]  # eval-set accuracy by labels used
    base: dict[int, float | None]  # the random baseline at those points
    audit_clips: list[int]
    audit_points: dict[int, AuditPoint]


# ---------------------------------------------------------------------- the audit plan
def audit_slot(seed: int, n: int, rate: float) -> bool:
    """Whether the clip shown after ``n`` clips were labelled or skipped is an audit clip."""
    if rate <= 0:
        return False
    return bool(np.random.default_rng([int(seed), _AUDIT_KEY, int(n)]).random() < rate)


def audit_pick(seed: int, n: int, open_idx: np.ndarray) -> int | None:
    """The audit clip of slot ``n``: uniform over ``open_idx`` (sorted), fixed by the seed."""
    if len(open_idx) == 0:
        return None
    return int(open_idx[_audit_draw(seed, n, len(open_idx))])


def _audit_draw(seed: int, n: int, n_open: int) -> int:
    return int(np.random.default_rng([int(seed), _AUDIT_KEY, int(n), 1]).integers(n_open))


def _audit_pick_answered(seed: int, n: int, n_pool: int, answered: np.ndarray) -> int | None:
    """:func:`audit_pick` with the open clips given by their complement ``answered`` (sorted).

    The ``k``-th open clip is ``k`` plus the number of answered clips ``a_j``
    with ``a_j - j <= k``: no array of the (millions of) open clips is built.
    """
    n_open = int(n_pool) - len(answered)
    if n_open <= 0:
        return None
    k = _audit_draw(seed, n, n_open)
    return k + int(np.searchsorted(answered - np.arange(len(answered)), k, side="right"))


def replay_audits(history, n_pool: int, seed: int, rate: float) -> dict[int, tuple[int, int]]:
    """Audit labels in a learner's history: ``{history position: (clip, labels before)}``.

    Applies the same rule as a live session to the events in force (undo
    resolved by :meth:`LabelLedger.live`): a one-clip teach is an audit label
    when its slot is an audit slot and its clip is that slot's audit pick.
    Reverted teaches are left out.
    """
    ledger = LabelLedger()
    for ev in history:
        ledger.append(ev)
    return _audits_in_force(ledger.live(), n_pool, seed, rate)


def _audits_in_force(live: Iterable[tuple[int, Event]], n_pool: int, seed: int, rate: float) -> dict:
    state = np.zeros(n_pool, dtype=np.int8)  # 0 open, 1 labelled, 2 skipped, 3 unsure
    out: dict[int, tuple[int, int]] = {}
    n_labeled = 0
    for pos, ev in live:
        if ev.kind not in ("teach", "skip", "unsure"):
            continue
        idx = np.asarray(ev.indices, dtype=np.int64)
        if ev.kind == "teach" and len(idx) == 1 and ev.mode == "active":
            n = int(np.count_nonzero(state))
            if audit_slot(seed, n, rate) and audit_pick(seed, n, np.flatnonzero(state == 0)) == int(idx[0]):
                out[pos] = (int(idx[0]), n_labeled)
        state[idx] = {"teach": 1, "skip": 2, "unsure": 3}[ev.kind]
        n_labeled = int(np.count_nonzero(state == 1))
    return out


# ---------------------------------------------------------------------- the estimate
@dataclass(frozen=True)
class AuditPoint:
    """The current model's estimated accuracy: audit clips right out of audited, after ``n_labels`` labels."""

    n_labels: int
    right: int
    audited: int

    @property
    def accuracy(self) -> float:
        return self.right / self.audited

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.right, self.audited)


def cross_fit_audits(
    learner, clips: Iterable[int], *, n_folds: int = _AUDIT_FOLDS, stop: Callable[[], bool] | None = None
) -> AuditPoint | None:
    """Estimate the accuracy of a model trained on all of ``learner``'s labels from its audit ``clips``.

    The audit clips still labelled are split into ``K = min(n_folds, m)``
    folds, each clip's fold fixed by ``learner.seed`` and the clip (so an
    estimate differs from the one before only by the new labels and audit
    clips, not by a new draw of folds); each fold is scored by a fresh model of the
    learner's kind (``make_model(learner.model, seed=learner.seed)``) fitted
    on every other label, as :func:`alwidget.review.label_review_order` does
    (the ``"spread"`` model without its pool). As the audit clips are a
    uniform sample of the pool, the share right estimates the accuracy of a
    model trained on all the labels on clips of the pool it has not seen;
    slightly low, as each fold's model has that fold's labels fewer.

    Returns None with fewer than :data:`MIN_AUDITS` audit clips labelled, or
    when ``stop()`` turns true between two fits (newer labels are waiting).
    """
    lab, y, classes = learner.labeled_snapshot()
    clips = np.unique(np.asarray(list(clips), dtype=np.int64))
    pos = np.searchsorted(lab, clips)
    pos = pos[(pos < len(lab)) & (lab[np.minimum(pos, len(lab) - 1)] == clips)] if len(lab) else pos[:0]
    m, n, k = len(pos), len(lab), len(classes)
    if m < MIN_AUDITS:
        return None
    K = min(int(n_folds), m)
    fold = _folds(lab[pos], K, learner.seed)
    X_raw = np.asarray(learner.pool.X[lab], dtype=np.float32)  # a copy of the labelled rows (the pool may be float16)
    stats = learner.pool.stats
    Xs = (X_raw - stats[0]) / stats[1]
    right = 0
    previous = None
    with _one_thread():  # one BLAS thread for the K small fits: the front end's thread keeps a core
        for f in range(K):
            if stop is not None and stop():
                return None
            test = pos[fold == f]
            train = np.ones(n, dtype=bool)
            train[test] = False
            seen = np.unique(y[train])
            if len(seen) < 2:  # one class to learn from: it is the guess
                guess = np.full(len(test), seen[0] if len(seen) else -1)
            else:
                model = make_model(
                    learner.model, seed=learner.seed, device=learner.device, views=split_views(learner.model_views)
                )
                model = fit_model(model, Xs[train], y[train], k, previous=previous)
                previous = model
                guess = predict_proba_with(model, X_raw[test], k, stats).argmax(axis=1)
            right += int(np.count_nonzero(guess == y[test]))
    return AuditPoint(n, right, m)


def _folds(clips: np.ndarray, K: int, seed: int) -> np.ndarray:
    """Each audit clip's fold in ``0 .. K-1``: a seeded hash of the clip alone.

    A clip keeps its fold as other audit clips come, so two estimates in a
    row differ by the new labels, not by a new draw of folds (fold sizes
    then differ by chance; an empty fold is left out).
    """
    key = np.uint64(int(np.random.default_rng([int(seed), _AUDIT_KEY, 2]).integers(1, 2**62)) | 1)
    hashed = (clips.astype(np.uint64) * key) >> np.uint64(29)  # wraps modulo 2**64: a multiplicative hash
    return (hashed % np.uint64(K)).astype(np.int64)


# ---------------------------------------------------------------------- label times
def times_from_history(learner) -> list[float | None]:
    """Times of the labels still in force, oldest first (resume: labels/min goes on)."""
    times: list[float | None] = [float(ev.time) for _, ev in learner.live_events() if ev.kind == "teach"]
    return times + [None] if times else []  # the time away before this session is a break


def _per_minute(times: list[float | None]) -> float | None:
    """Labels per minute over the last labels, not counting breaks (gaps over 2 min) and auto-labelling."""
    recent = times[-(_RATE_WINDOW + 1) :]
    gaps = [b - a for a, b in zip(recent, recent[1:]) if a is not None and b is not None]
    gaps = [g for g in gaps if 0 <= g <= _BREAK_S]
    total = sum(gaps)
    if not gaps or total <= 0:
        return None
    return round(len(gaps) / total * 60.0, 1)


def rate_words(times: list[float | None]) -> str:
    """``"12 labels/min"`` once the rate means something (enough labels over enough labelling time), else ``""``."""
    gaps = [b - a for a, b in zip(times, times[1:]) if a is not None and b is not None]
    gaps = [g for g in gaps if 0 <= g <= _BREAK_S]
    rate = _per_minute(times)
    if rate is None or len(gaps) < _RATE_MIN_LABELS or sum(gaps) < _RATE_MIN_S:
        return ""
    return f"{rate:g} labels/min"


# ---------------------------------------------------------------------- checks
def _plain(values: Sequence) -> list:
    """Labels as plain Python objects (numpy scalars -> str / int)."""
    return [v.item() if isinstance(v, np.generic) else v for v in values]


def check_oracle(oracle: Sequence | None, n_pool: int) -> np.ndarray | None:
    if oracle is None:
        return None
    values = _plain(list(oracle))
    if len(values) != n_pool:
        msg = f"oracle has {len(values)} labels but the pool has {n_pool} clips; give one per clip"
        raise InvalidInputError(msg)
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def check_eval_set(eval_set: tuple | None, oracle: np.ndarray | None, learner) -> Eval | None:
    n_pool = learner.n_pool
    if eval_set is None:
        if oracle is None:
            return None
        idx = np.flatnonzero([v is not None for v in oracle])
        return Eval(oracle[idx], idx, None, "accuracy on the whole pool (oracle labels)", held_out=False)
    try:
        data, labels = eval_set
    except (TypeError, ValueError):
        msg = "eval_set must be a pair (pool indices or embeddings, labels)"
        raise InvalidInputError(msg) from None
    arr = np.asarray(data)
    y = np.empty(len(labels), dtype=object)
    y[:] = _plain(list(labels))
    if arr.ndim == 1 and (arr.size == 0 or arr.dtype.kind in "iu"):
        idx = arr.astype(np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= n_pool):
            msg = f"eval_set indices must lie in 0..{n_pool - 1}, got {int(idx.min())}..{int(idx.max())}"
            raise InvalidInputError(msg)
        if len(np.unique(idx)) != len(idx):
            msg = "eval_set indices must be distinct"
            raise InvalidInputError(msg)
        X = None
    elif arr.ndim == 2:
        d = learner.embeddings.shape[1]
        if arr.shape[1] != d or arr.dtype.kind not in "fiu":
            msg = f"eval_set embeddings must be a numeric (m, {d}) array like the pool, got {arr.dtype} {arr.shape}"
            raise InvalidInputError(msg)
        idx, X = None, np.ascontiguousarray(arr, dtype=np.float32)
    else:
        msg = f"eval_set[0] must be 1-D pool indices or 2-D embeddings, got shape {arr.shape}"
        raise InvalidInputError(msg)
    m = len(idx) if idx is not None else len(X)
    if m == 0 or len(y) != m:
        msg = f"eval_set has {m} clips and {len(y)} labels; give one label per clip (at least one)"
        raise InvalidInputError(msg)
    return Eval(y, idx, X, f"held-out accuracy ({m} clips)", held_out=idx is not None)


def _xy(points: dict[int, float]) -> tuple[list[int], list[float]]:
    xs = sorted(points)
    return xs, [points[x] for x in xs]


def _predict_rows(learner, idx: np.ndarray) -> np.ndarray:
    """``learner.predict()[idx]`` without scoring the whole pool (class names, object array)."""
    proba = learner.candidate_proba(idx)
    return np.asarray(learner.classes, dtype=object)[proba.argmax(axis=1)]


# ---------------------------------------------------------------------- the curves
class Curves:
    """The model's guesses, the accuracy points and the random baseline of one session.

    ``lock`` is the session state's lock (the worker adds points while the caller labels).
    """

    def __init__(self, learner, *, oracle, eval_, seed: int, auditing: bool, audit_rate: float, window: int,
                 eval_set_given: bool, lock: threading.RLock):  # fmt: skip
        self.learner = learner
        self.oracle, self.eval, self.seed = oracle, eval_, seed
        self.auditing, self.audit_rate, self.window = auditing, audit_rate, window
        self.eval_set_given = eval_set_given
        self.lock = lock
        self.guesses: list[Guess] = []
        self.label_times: list[float | None] = times_from_history(learner)  # None marks a break
        self.points: dict[int, float] = {}  # labels the model used -> accuracy
        self.baseline_points: dict[int, float] = {}
        self.audit_clips: list[int] = []  # audit clips labelled (in force), oldest first
        self.audit_points: dict[int, AuditPoint] = {}  # labels -> the estimate for the model trained on them
        self._estimated: tuple | None = None  # (learner.version, audit clips) of the last estimate
        self.epoch = 0  # bumps on undo: results computed before it are dropped
        self.baseline = None
        self._baseline_order: np.ndarray | None = None
        self._eval_model_version = -1
        self._plot_key: tuple | None = None

    # ------------------------------------------------------------------ reading
    def curves(self) -> dict[str, tuple[list[int], list[float]]]:
        with self.lock:
            out = {}
            if self.eval is not None:
                out["active"] = _xy(self.points)
            if self.oracle is not None:
                out["random"] = _xy(self.baseline_points)
            if not self.eval_set_given:
                out["prequential"] = self.windowed(g for g in self.guesses)[:2]
                if self.auditing:
                    xs = sorted(self.audit_points)
                    out["audit"] = (xs, [round(self.audit_points[x].accuracy, 4) for x in xs])
            return out

    def audit_interval(self) -> tuple[list[int], list[float], list[float]]:
        with self.lock:
            xs = sorted(self.audit_points)
            bounds = [self.audit_points[x].interval for x in xs]
            return xs, [round(a, 4) for a, _ in bounds], [round(b, 4) for _, b in bounds]

    def n_audited(self) -> int:
        """Audit clips labelled so far (in force)."""
        with self.lock:
            return len(self.audit_clips)

    def last_estimate(self) -> AuditPoint | None:
        """The estimate for the newest model (None before :data:`MIN_AUDITS` audit clips)."""
        with self.lock:
            return self.audit_points[max(self.audit_points)] if self.audit_points else None

    def windowed(self, guesses) -> tuple[list[int], list[float], list[float], list[float]]:
        """Share right over the last ``window`` guesses, after each: (labels before, share, low, high)."""
        xs, ys, lo, hi, flags = [], [], [], [], []
        for g in guesses:
            flags.append(g.right)
            recent = flags[-self.window :]
            k, m = sum(recent), len(recent)
            xs.append(g.n_before)
            ys.append(round(k / m, 4))
            a, b = wilson_interval(k, m)
            lo.append(round(a, 4))
            hi.append(round(b, 4))
        return xs, ys, lo, hi

    def per_minute(self) -> float | None:
        return _per_minute(self.label_times)

    def rate_words(self) -> str:
        """Labels per minute in words, once it means something (see :func:`rate_words`)."""
        return rate_words(self.label_times)

    # ------------------------------------------------------------------ recording
    def record_label(self, guess: Guess | None, *, auto: bool, now: float, audit_clip: int | None = None) -> None:
        """A clip was labelled: its guess, its time, and (for an audit clip) the clip."""
        if guess is not None:
            self.guesses.append(guess)
        if audit_clip is not None:
            self.audit_clips.append(int(audit_clip))
        if auto:
            if self.label_times and self.label_times[-1] is not None:
                self.label_times.append(None)
        else:
            self.label_times.append(now)

    def undo_teach(self, clips: Iterable[int], n_labeled: int) -> None:
        """A label was undone: drop its guess, its time and the points past ``n_labeled`` labels."""
        gone = set(clips)
        self.guesses = [g for g in self.guesses if g.clip not in gone]
        self.audit_clips = [c for c in self.audit_clips if c not in gone]
        if self.label_times and self.label_times[-1] is not None:
            self.label_times.pop()
        self.points = {k: v for k, v in self.points.items() if k <= n_labeled}
        self.baseline_points = {k: v for k, v in self.baseline_points.items() if k <= n_labeled}
        self.audit_points = {k: v for k, v in self.audit_points.items() if k < n_labeled}

    # ------------------------------------------------------------------ the audit estimate (worker)
    def wants_estimate(self) -> bool:
        """Whether the labels changed since the last audit estimate and enough audit clips are labelled."""
        with self.lock:
            if not self.auditing or len(self.audit_clips) < MIN_AUDITS:
                return False
            return self._estimated != (self.learner.version, tuple(self.audit_clips))

    def estimate(self, stop: Callable[[], bool] | None = None) -> bool:
        """Add the audit estimate for a model trained on the current labels (see :func:`cross_fit_audits`).

        Returns True when a point was added; False when there is nothing
        new to estimate, or when ``stop()`` or an undo cut it short.
        """
        with self.lock:
            epoch = self.epoch
            key = (self.learner.version, tuple(self.audit_clips))
            if not self.auditing or key == self._estimated:
                return False
        point = cross_fit_audits(self.learner, key[1], stop=stop)
        with self.lock:
            if epoch != self.epoch:  # an undo came in meanwhile: this point may be stale
                return False
            if point is None:
                if stop is None or not stop():  # too few audit clips still labelled: nothing to estimate
                    self._estimated = key
                return False
            self._estimated = key
            self.audit_points = {k: v for k, v in self.audit_points.items() if k < point.n_labels}
            self.audit_points[point.n_labels] = point
            return True

    def evaluate(self, epoch: int) -> None:
        """Add a point to the accuracy curve (and the random baseline) for a new model."""
        learner = self.learner
        if self.eval is None or learner.model_ is None or learner.model_version_ == self._eval_model_version:
            return
        ev = self.eval
        try:
            pred = learner.predict(ev.X) if ev.X is not None else _predict_rows(learner, ev.idx)
        except NotEnoughLabelsError:
            return
        n = int(learner.n_labels_fit_)
        self._eval_model_version = learner.model_version_
        acc = float(np.mean(pred == ev.y))
        base = self.baseline_accuracy(n) if self.oracle is not None else None
        with self.lock:
            if epoch != self.epoch:  # an undo came in meanwhile: this point may be stale
                self._eval_model_version = -1
                return
            self.points[n] = acc
            if base is not None:
                self.baseline_points[n] = base

    def baseline_accuracy(self, n: int) -> float | None:
        """Accuracy after ``n`` labels chosen at random (oracle labels), on the same eval set."""
        if n in self.baseline_points:
            return self.baseline_points[n]
        learner, oracle = self.learner, self.oracle
        if self._baseline_order is None:
            known = np.array([v is not None for v in oracle])
            if self.eval.held_out:
                known[self.eval.idx] = False
            self._baseline_order = np.random.default_rng(self.seed).permutation(np.flatnonzero(known))
        order = self._baseline_order
        n = min(n, len(order))
        if self.baseline is None or self.baseline.n_labeled > n:
            classes = list(learner.classes)
            classes += [c for c in dict.fromkeys(oracle[order].tolist()) if c not in classes]
            self.baseline = self._fresh_learner(classes, strategy="random")
        base = self.baseline
        if n > base.n_labeled:
            new = order[base.n_labeled : n]
            base.teach(new, list(oracle[new]))
        if base.n_labeled == 0:
            return None
        ev = self.eval
        pred = base.predict(ev.X) if ev.X is not None else _predict_rows(base, ev.idx)
        return float(np.mean(pred == ev.y))

    def _fresh_learner(self, classes, **kwargs):
        from alwidget.learner import ActiveLearner

        learner = self.learner
        return ActiveLearner(
            learner.embeddings,  # the same rows (a memory-mapped pool stays on disk), never a copy
            list(classes),
            model=learner.model,
            seed=self.seed,
            candidates=learner.candidates,
            views=learner.model_views,
            **kwargs,
        )

    # ------------------------------------------------------------------ resume
    def rebuild(self, n_events: int, closed: Callable[[], bool]) -> Rebuilt | None:
        """Resume: the guesses, audit clips and points of the first ``n_events`` events (replayed from the journal).

        Replays the labels in force into a private learner; before each audit
        label it fits on the labels given so far and records the model's
        guess; at a few label counts it measures accuracy on the eval set and
        estimates it from the audit clips labelled by then (the same estimate
        as a live session's for those labels). Returns a :class:`Rebuilt`, or
        None when there is nothing to rebuild or ``closed()`` turned true
        meanwhile.
        """
        learner = self.learner
        live = learner.live_events(n_events)
        audits = _audits_in_force(live, learner.n_pool, self.seed, self.audit_rate) if self.auditing else {}
        top = sum(len(ev.indices) for ev in learner.history[:n_events] if ev.kind == "teach")  # as before the split
        checkpoints: set[int] = set()
        if (self.eval is not None or audits) and top:
            checkpoints = {int(round(top * k / _REBUILD_CHECKPOINTS)) for k in range(1, _REBUILD_CHECKPOINTS + 1)}
        if not audits and not checkpoints:
            return None
        added = {ev.labels[0] for _, ev in live if ev.kind == "add_class"}
        rb = self._fresh_learner([c for c in learner.classes if c not in added] or learner.classes[:1])
        emb = learner.embeddings
        out = Rebuilt([], {}, {}, [], {})
        for pos, ev in live:
            if closed():
                return None
            if pos in audits and rb.n_labeled:
                clip, n_before = audits[pos]
                try:
                    row = rb.predict_proba(emb[[clip]])[0]
                except AlwidgetError:
                    row = None
                if row is not None:
                    out.guesses.append(Guess(clip, rb.classes[int(np.argmax(row))] == ev.labels[0], n_before, True))
            if ev.kind == "teach":
                for name in ev.labels:
                    if name not in rb.classes:
                        rb.add_class(name)
                rb.teach(list(ev.indices), list(ev.labels))
                if pos in audits:
                    out.audit_clips.append(audits[pos][0])
                if not self._rebuild_point(rb, checkpoints, out, closed):
                    return None
            elif ev.kind == "skip":
                rb.skip(list(ev.indices))
            elif ev.kind == "unsure":
                rb.unsure(list(ev.indices), mode=ev.mode)
            elif ev.kind == "relabel":
                rb.relabel(list(ev.indices), list(ev.labels))
            elif ev.kind == "add_class" and ev.labels[0] not in rb.classes:
                rb.add_class(ev.labels[0])
        if self.oracle is not None:
            out.base.update({k: self.baseline_accuracy(k) for k in out.points})
        return out

    def _rebuild_point(self, rb, checkpoints: set[int], out: Rebuilt, closed: Callable[[], bool]) -> bool:
        """At a checkpoint: the eval-set accuracy and the audit estimate of ``rb``'s labels (False: closed)."""
        k = rb.n_labeled
        if k not in checkpoints:
            return True
        if self.eval is not None and k not in out.points:
            e = self.eval
            pred = rb.predict(e.X) if e.X is not None else _predict_rows(rb, e.idx)
            out.points[k] = float(np.mean(pred == e.y))
        if self.auditing and k not in out.audit_points and len(out.audit_clips) >= MIN_AUDITS:
            point = cross_fit_audits(rb, out.audit_clips, stop=closed)
            if point is None and closed():
                return False
            if point is not None:
                out.audit_points[k] = point
        return True

    def merge(self, rebuilt: Rebuilt, is_open: Callable[[int], bool]) -> None:
        """Add rebuilt guesses, audit clips and points (call with the state lock held)."""
        still = [g for g in rebuilt.guesses if not is_open(g.clip)]  # an undo meanwhile may have reverted some
        self.guesses = still + [g for g in self.guesses if g not in still]
        clips = [c for c in rebuilt.audit_clips if not is_open(c)]
        known = set(clips)
        self.audit_clips = clips + [c for c in self.audit_clips if c not in known]
        for k, v in rebuilt.points.items():
            self.points.setdefault(k, v)
            if rebuilt.base.get(k) is not None:
                self.baseline_points.setdefault(k, rebuilt.base[k])
        for k, v in rebuilt.audit_points.items():
            self.audit_points.setdefault(k, v)

    # ------------------------------------------------------------------ the plot
    def audit_words(self) -> str:
        """The audit estimate in words: ``"0.83 (95%: 0.71-0.91), from 24 audit clips"``, or why there is none."""
        point, k = self.last_estimate(), self.n_audited()
        if not self.auditing:
            return ""
        if point is None:
            if k < MIN_AUDITS:
                return f"not enough audits yet ({k} of {MIN_AUDITS})"
            return f"estimating from {k} audit clips\u2026"
        lo, hi = point.interval
        return f"{point.accuracy:.2f} (95%: {lo:.2f}\u2013{hi:.2f}), from {point.audited} audit clips"

    def accuracy_words(self) -> str:
        """The newest accuracy in words (for the end-of-pool summary): measured, estimated, or why there is none."""
        parts = []
        with self.lock:
            last = self.points[max(self.points)] if self.points else None
        if self.eval is not None and last is not None:
            parts.append(f"{self.eval.name}: {last:.2f}")
        if self.auditing:
            parts.append(f"estimated accuracy: {self.audit_words()}")
        if not parts:
            return "no accuracy estimate: pass eval_set= or keep audit_rate > 0"
        return " \u00b7 ".join(parts)

    def plot(self) -> dict | None:
        """The plot's data (drawn by the front end) when a curve changed, else None."""
        curves = self.curves()
        note = ""
        if self.auditing and "audit" in curves and not curves["audit"][0]:
            note = self.audit_words()
        key = (note, *((k, tuple(x), tuple(y)) for k, (x, y) in curves.items()))
        if key == self._plot_key:
            return None
        self._plot_key = key
        strategy = self.learner.strategy if isinstance(self.learner.strategy, str) else "custom strategy"
        series = []
        if "active" in curves:
            truth = "true accuracy, " if not self.eval_set_given else ""
            series.append({"key": "active", "label": f"{truth}active learning ({strategy})", "xy": curves["active"]})
        if "random" in curves:
            series.append({"key": "random", "label": "random sampling (baseline)", "xy": curves["random"]})
        if "audit" in curves and curves["audit"][0]:
            xs, lo, hi = self.audit_interval()
            n = self.last_estimate().audited
            what = "estimate, " if self.eval is not None else ""  # beside true curves; else the title says it
            series.append(
                {
                    "key": "audit",
                    "label": f"{what}cross-checked on {n} random clips you labelled (band: 95% interval)",
                    "xy": curves["audit"],
                    "band": (lo, hi),
                }
            )
        if self.eval is not None:
            title = self.eval.name
        elif self.auditing:
            title = "estimated accuracy of the model on the clips not labelled yet"
        else:
            title = "no accuracy estimate: pass eval_set= or keep audit_rate > 0"
        if self.auditing and self.eval is None:
            rate = f"1 clip in {round(1 / self.audit_rate)} is drawn at random to check the model"
            empty = f"{note}: {rate}" if note else rate
        else:
            empty = "the curve appears after the first labels"
        return plot_payload(series, title=title, empty=empty, note=note if series else "")
