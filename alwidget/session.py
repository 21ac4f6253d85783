"""A labelling session: the logic behind :class:`~alwidget.widget.LabelingWidget`, without any front end.

:class:`LabelingSession` owns the queue of clips to show, the prefetch of their
audio and spectrograms, the background retraining, label / skip / undo /
add-class, demo auto-labelling, the accuracy curves and the random-sampling
baseline. It is plain Python (no ipywidgets, anywidget or traitlets), so tests
and scripts drive it directly; a front end reads :meth:`LabelingSession.snapshot`
and subscribes with :meth:`LabelingSession.on_change`.

Honest accuracy without a test set: a share ``audit_rate`` of the clips shown
are *audit* clips, drawn uniformly at random from the unlabelled pool instead
of by the query strategy. The model's guess on an audit clip, made before its
label is given, is an unbiased sample of the model's accuracy on the pool, so
the ``"audit"`` curve estimates that accuracy (with a 95% Wilson interval).
Whether the clip shown at a given point is an audit clip, and which one, is a
deterministic function of the learner's seed, the number of clips labelled or
skipped so far and the open clips, so the curve is rebuilt from the learner's
history (its journal) when a session is resumed.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from alwidget._widget_media import MediaCache
from alwidget._widget_plot import plot_payload, wilson_interval
from alwidget.errors import (
    AlwidgetError,
    InvalidInputError,
    JournalLockedError,
    NotEnoughLabelsError,
    NothingToUndoError,
    PoolExhaustedError,
)

__all__ = ["LabelingSession", "MODES", "audit_slot", "audit_pick"]

MODES = ("active", "search", "review")
FIELDS = (
    "mode", "clip", "audio", "spectrogram", "guess", "classes", "progress", "training",
    "plot", "message", "error", "blocked", "demo", "auto", "search",
)  # fmt: skip
_SEARCH_N = 20  # results of one search by example
_MAX_ERRORS = 20  # full tracebacks kept in session.errors
_RATE_WINDOW = 20  # labels per minute over the last this many labels
_BREAK_S = 120.0  # a longer gap between two labels is a break, not labelling time
_AUDIT_KEY = 0xA0D17  # separates the audit's random stream from the learner's
_LOADING = "loading the first clips..."
_REBUILD_CHECKPOINTS = 12  # eval-set points recomputed on resume


@dataclass(frozen=True)
class _Eval:
    """Where and against what accuracy is measured."""

    y: np.ndarray  # object array of true labels
    idx: np.ndarray | None  # pool rows (held-out indices, or the oracle-labelled pool)
    X: np.ndarray | None  # embeddings outside the pool
    name: str  # the metric, as shown in the plot title
    held_out: bool  # True for eval_set pool indices: never queried


@dataclass(frozen=True)
class _Guess:
    """The model's guess on a clip, recorded when the clip was labelled."""

    clip: int
    right: bool
    n_before: int  # labels given before this one
    audit: bool  # the clip was an audit clip (drawn at random)


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

    Walks the history as the learner applied it (teach, skip, undo) and applies
    the same rule as a live session: a one-clip teach is an audit label when its
    slot is an audit slot and its clip is that slot's audit pick. Reverted
    teaches are left out.
    """
    state = np.zeros(n_pool, dtype=np.int8)  # 0 open, 1 labelled, 2 skipped, 3 unsure
    prev: dict[int, np.ndarray] = {}
    out: dict[int, tuple[int, int]] = {}
    n_labeled = 0
    for pos, ev in enumerate(history):
        idx = np.asarray(ev.indices, dtype=np.int64)
        if ev.kind in ("teach", "skip", "unsure"):
            if ev.kind == "teach" and len(idx) == 1 and getattr(ev, "mode", "active") == "active":
                n = int(np.count_nonzero(state))
                if audit_slot(seed, n, rate) and audit_pick(seed, n, np.flatnonzero(state == 0)) == int(idx[0]):
                    out[pos] = (int(idx[0]), n_labeled)
            prev[pos] = state[idx].copy()
            state[idx] = {"teach": 1, "skip": 2, "unsure": 3}[ev.kind]
        elif ev.kind == "undo" and ev.target in prev:
            back = prev.pop(ev.target)
            target = history[ev.target]
            state[np.asarray(target.indices, dtype=np.int64)] = back
            out.pop(ev.target, None)
        n_labeled = int(np.count_nonzero(state == 1))
    return out


def _plain(values: Sequence) -> list:
    """Labels as plain Python objects (numpy scalars -> str / int)."""
    return [v.item() if isinstance(v, np.generic) else v for v in values]


class LabelingSession:
    """Label the clips an :class:`~alwidget.learner.ActiveLearner` asks for (no front end needed).

    Parameters
    ----------
    learner : ActiveLearner
        The pool to label; the session calls only its public API.
    dataset : AudioDataset
        The clips, one per pool row (``len(dataset) == learner.n_pool``); any
        object with ``len``, ``ds[i] -> (waveform, sr)``, ``wav_bytes(i)`` and
        ``names`` works.
    eval_set : (indices or embeddings, labels), optional
        Held-out clips to measure accuracy on: pool indices (1-D ints; they
        are never queried) or an ``(m, d)`` embedding array, with one label
        each. Without it accuracy is estimated from audit clips.
    oracle : sequence, optional
        The true label of every pool clip (None = unknown). Demo mode:
        :meth:`auto_label`, accuracy on the whole pool and the
        random-sampling baseline curve.
    journal : path, optional
        Passed to ``learner.open_journal(journal, takeover=True)``: every
        label, skip, undo and new class is saved before the call returns, an
        existing journal is replayed first (resume), and a session still
        holding it in another process (an old Voila page) hands it over.
    prefetch : int, default 8
        Clips queried, decoded and queued ahead of time.
    n_mels : int, default 64
        Mel bands of the spectrogram shown.
    top_k : int, default 3
        Classes shown in the model's guess.
    window : int, default 20
        Recent audit clips (and recent labels, for the prequential curve) an
        accuracy point is averaged over.
    audit_rate : float, default 0.1
        Share of the clips shown that are drawn uniformly at random from the
        unlabelled pool (audit clips), to estimate accuracy honestly when
        there is no ``eval_set``; 0 disables auditing.
    mode : str, default "active"
        What the session shows next: ``"active"`` (the learner's queries);
        ``"search"`` starts with :meth:`search`.
    context : float or (float, float), default 1.0
        Seconds of audio played and drawn before and after each window of a
        long recording (``AudioDataset.from_recordings``); the window itself
        is highlighted. Clips of other datasets are shown as they are.
    search_n : int, default 20
        Results of one search by example.
    start : bool, default True
        Start the background worker now.

    Attributes
    ----------
    errors : list of str
        Full tracebacks of the last unexpected errors (the state shows one line).
    """

    def __init__(
        self,
        learner,
        dataset,
        *,
        eval_set: tuple | None = None,
        oracle: Sequence | None = None,
        journal: str | Path | None = None,
        prefetch: int = 8,
        n_mels: int = 64,
        top_k: int = 3,
        window: int = 20,
        audit_rate: float = 0.1,
        mode: str = "active",
        context: float | tuple[float, float] = 1.0,
        search_n: int = _SEARCH_N,
        start: bool = True,
    ):
        self.learner = learner
        self.dataset = dataset
        self.eval_set = eval_set
        self.oracle = oracle
        self.journal = journal
        self.prefetch = _positive_int(prefetch, "prefetch")
        self.n_mels = _positive_int(n_mels, "n_mels")
        self.top_k = _positive_int(top_k, "top_k")
        self.window = _positive_int(window, "window")
        self.audit_rate = _rate(audit_rate)
        self.context = context
        self.search_n = _positive_int(search_n, "search_n")
        if mode != "active":
            what = "start a search with session.search(query)" if mode == "search" else f"modes are {MODES}"
            msg = f"a session starts in mode 'active', got mode={mode!r}: {what}"
            raise InvalidInputError(msg)
        self.errors: list[str] = []
        if len(dataset) != learner.n_pool:
            msg = (
                f"the dataset has {len(dataset)} clips but the learner's pool has {learner.n_pool} rows; "
                "build the learner from this dataset's embeddings (one row per clip)"
            )
            raise InvalidInputError(msg)
        self._oracle = self._check_oracle(oracle)
        self._eval = self._check_eval_set(eval_set)
        self._seed = int(getattr(learner, "seed", 0))
        # audit clips whenever there is no test set; in demo mode the true accuracy on the pool is plotted beside
        # the estimate, which shows how well the estimate tracks it
        self._auditing = eval_set is None and self.audit_rate > 0
        if journal is not None:
            _open_journal(learner, journal)

        # state shared with the worker thread; every write holds self._state
        self._state = threading.RLock()
        self._fields: dict[str, Any] = {
            "mode": mode, "clip": {}, "audio": b"", "spectrogram": b"", "guess": [], "classes": [],
            "progress": {}, "training": False, "plot": {}, "message": "", "error": "", "blocked": "",
            "demo": self._oracle is not None, "auto": {"running": False, "left": 0, "done": 0}, "search": {},
        }  # fmt: skip
        self._listeners: list[Callable[[dict], None]] = []
        self._batch_depth = 0
        self._changed: dict[str, Any] = {}
        self._current: int | None = None
        self._current_audit = False
        self._queue: deque[int] = deque()
        self._guess_blocked: dict[int, int] = {}  # clip -> learner.version at its undo
        self._guesses: list[_Guess] = []
        self._label_times: list[float | None] = []  # None marks a break (auto-labelling)
        self._points: dict[int, float] = {}  # labels the model used -> accuracy
        self._baseline_points: dict[int, float] = {}
        self._epoch = 0  # bumps on undo: results computed before it are dropped
        self._rng = np.random.default_rng(self._seed)
        self._media = MediaCache(dataset, self.n_mels, capacity=4 * self.prefetch + 8, context=context)
        self._results: deque[int] = deque()  # search results still to show
        self._search_total = 0
        self._search_query = ""
        self._review_kind = "labels"  # review mode: "labels" (label review) or "detections"
        self._detect: dict | None = None  # detection review: class, bins, the bin of each sampled clip
        self._detect_last: dict | None = None  # the last detection review's, kept for detection_report
        self._search_request: tuple | None = None  # (query, n, description) for the worker
        self._current_mode = "active"  # the mode the clip on screen was shown in
        self._plot_key: tuple | None = None
        self._baseline = None
        self._baseline_order: np.ndarray | None = None
        self._eval_model_version = -1
        self._n_history0 = len(learner.history)  # events replayed from a journal: rebuilt in the background
        self._rebuild = self._n_history0 > 0
        self._label_times = self._times_from_history(learner.history)

        # the worker
        self._work = threading.Condition()
        self._pending = True  # the first cycle queries the first clips
        self._busy = False
        self._closed = False
        self._auto_left = 0
        self._auto_total = 0
        self._auto_stop = False
        self._thread: threading.Thread | None = None

        with self._batch():
            self._set(classes=[str(c) for c in learner.classes], message=_LOADING)
            self._publish_progress()
            self._publish_plot()
        if start:
            self.start()

    def start(self) -> None:
        """Start the background worker (done by the constructor unless ``start=False``)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="alwidget-labeling", daemon=True)
            self._thread.start()

    # ------------------------------------------------------------------ checks
    def _check_oracle(self, oracle: Sequence | None) -> np.ndarray | None:
        if oracle is None:
            return None
        values = _plain(list(oracle))
        if len(values) != self.learner.n_pool:
            msg = f"oracle has {len(values)} labels but the pool has {self.learner.n_pool} clips; give one per clip"
            raise InvalidInputError(msg)
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out

    def _check_eval_set(self, eval_set: tuple | None) -> _Eval | None:
        n_pool = self.learner.n_pool
        if eval_set is None:
            if self._oracle is None:
                return None
            idx = np.flatnonzero([v is not None for v in self._oracle])
            return _Eval(self._oracle[idx], idx, None, "accuracy on the whole pool (oracle labels)", held_out=False)
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
            d = self.learner.embeddings.shape[1]
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
        return _Eval(y, idx, X, f"held-out accuracy ({m} clips)", held_out=idx is not None)

    # ------------------------------------------------------------------ observable state
    def snapshot(self) -> dict[str, Any]:
        """The whole state a front end shows, as ``{field: value}`` (see ``FIELDS``)."""
        with self._state:
            return dict(self._fields)

    def __getitem__(self, field: str) -> Any:
        return self._fields[field]

    def on_change(self, callback: Callable[[dict], None]) -> Callable[[], None]:
        """Call ``callback(changes)`` with ``{field: new value}`` after every change; returns an unsubscribe function.

        Callbacks run in the thread that made the change (the caller's or the
        background worker's), with the session's lock held: keep them short.
        """
        self._listeners.append(callback)

        def unsubscribe() -> None:
            if callback in self._listeners:
                self._listeners.remove(callback)

        return unsubscribe

    @contextmanager
    def _batch(self):
        """Group changes: listeners hear about them once, at the end."""
        with self._state:
            self._batch_depth += 1
            try:
                yield
            finally:
                self._batch_depth -= 1
                if self._batch_depth == 0 and self._changed:
                    changes, self._changed = self._changed, {}
                    for callback in list(self._listeners):
                        try:
                            callback(changes)
                        except Exception as exc:  # a broken listener must not break labelling
                            self._keep_traceback(exc)

    def _set(self, **fields: Any) -> None:
        with self._batch():
            for name, value in fields.items():
                if self._fields[name] != value or type(self._fields[name]) is not type(value):
                    self._fields[name] = value
                    self._changed[name] = value

    @property
    def mode(self) -> str:
        """What the session shows next: ``"active"`` (the learner's queries) or ``"search"`` (search results)."""
        return self._fields["mode"]

    @property
    def results(self) -> tuple[int, ...]:
        """Search results still to show after the clip on screen (search mode)."""
        with self._state:
            return tuple(self._results)

    @property
    def message(self) -> str:
        return self._fields["message"]

    @property
    def error(self) -> str:
        return self._fields["error"]

    @property
    def blocked(self) -> str:
        """Why labelling is refused (the journal was taken over elsewhere), or ``""``."""
        return self._fields["blocked"]

    # ------------------------------------------------------------------ public API
    @property
    def current(self) -> int | None:
        """Pool index of the clip on screen (None while loading or when the pool is finished)."""
        return self._current

    @property
    def current_is_audit(self) -> bool:
        """Whether the clip on screen is an audit clip (drawn at random from the pool)."""
        return self._current_audit

    @property
    def queue(self) -> tuple[int, ...]:
        """The next clips, in the order they will be shown."""
        with self._state:
            return tuple(self._queue)

    @property
    def curves(self) -> dict[str, tuple[list[int], list[float]]]:
        """The accuracy curves: ``{name: (labels used, accuracy)}``.

        ``"active"``: accuracy of the learner's model on the eval set (or on
        the oracle-labelled pool); ``"random"``: the random-sampling baseline
        (demo mode); ``"audit"`` (without an eval set): estimated accuracy on
        the clips not labelled yet (on a large pool: the pool's accuracy), from
        the model's guesses on the last ``window`` audit clips before they were
        labelled (see :attr:`audit_interval` for the 95%
        interval); ``"prequential"`` (without an eval set): share of the last
        ``window`` clips the model guessed right before they were labelled.
        The clips asked for are the hardest ones, so this is *not* an
        estimate of accuracy and is not plotted.
        """
        with self._state:
            out = {}
            if self._eval is not None:
                out["active"] = _xy(self._points)
            if self._oracle is not None:
                out["random"] = _xy(self._baseline_points)
            if self.eval_set is None:
                out["prequential"] = self._windowed(g for g in self._guesses)[:2]
                if self._auditing:
                    out["audit"] = self._windowed(g for g in self._guesses if g.audit)[:2]
            return out

    @property
    def audit_interval(self) -> tuple[list[int], list[float], list[float]]:
        """The audit curve's 95% Wilson interval: ``(labels used, low, high)``."""
        with self._state:
            xs, _, lo, hi = self._windowed(g for g in self._guesses if g.audit)
            return xs, lo, hi

    def plot_curves(self, ax=None):
        """Draw the plot the front end shows with matplotlib (e.g. to keep it in a notebook); returns the axes."""
        from alwidget._widget_plot import draw_payload

        return draw_payload(self.snapshot()["plot"], ax)

    def label(self, name, clip: int | None = None) -> None:
        """Label the clip on screen ``name`` and show the next one.

        ``clip`` (optional) names the clip meant; a label for a clip no
        longer on screen is ignored, so a double click never labels twice.
        """
        with self._batch():
            self._label(name, clip)

    def skip(self, clip: int | None = None) -> None:
        """Skip the clip on screen and show the next one."""
        with self._batch():
            self._skip(clip)

    def unsure(self, clip: int | None = None) -> None:
        """Answer "unsure" for the clip on screen (journalled, never trained on, not asked again); show the next one."""
        with self._batch():
            self._skip(clip, unsure=True)

    def undo(self) -> None:
        """Revert the learner's last label or skip and bring that clip back on screen."""
        with self._batch():
            self._undo()

    def add_class(self, name: str) -> None:
        """Add a class to the learner (and a button to the front end)."""
        with self._batch():
            self._add_class(name)

    def auto_label(self, n: int) -> None:
        """Demo mode: label the next ``n`` clips from the oracle, in the background."""
        n = _positive_int(n, "n")
        if self._oracle is None:
            msg = "auto-labelling needs an oracle: create the widget with oracle=true_labels"
            raise InvalidInputError(msg)
        with self._batch():
            if self._refuse():
                return
            with self._work:
                self._auto_left = n
                self._auto_total = n
                self._auto_stop = False
                self._work.notify_all()
            self._set(auto={"running": True, "left": n, "done": 0})

    def stop_auto(self) -> None:
        """Stop a running :meth:`auto_label` after the current step."""
        with self._work:
            self._auto_stop = True
            self._work.notify_all()

    def search(self, query, n: int | None = None) -> None:
        """Find the clips most like ``query`` and show them next (search mode), in the background.

        ``query`` is anything :meth:`ActiveLearner.similar` takes: a pool
        index (e.g. :attr:`current`), several indices, an embedding, an audio
        file or ``(waveform, sr)`` (embedded with ``dataset.embed_query``).
        Labelled and skipped clips are left out. The clip on screen stays
        until it is labelled; then the results follow. Labels given to them
        are journalled with mode ``"search"``; when the results run out, or
        after ``set_mode("active")``, the learner's queries come back.
        """
        n = self.search_n if n is None else _positive_int(n, "n")
        with self._batch():
            if self._refuse():
                return
            self._queue_search(query, n, _describe(query))

    def search_audio(self, data: bytes, name: str = "query") -> None:
        """Search with an encoded audio file's bytes (e.g. uploaded from the browser); see :meth:`search`."""
        if not isinstance(data, (bytes, bytearray, memoryview)) or len(data) == 0:
            size = len(data) if hasattr(data, "__len__") else "?"
            msg = f"search_audio needs the bytes of an audio file, got {type(data).__name__} of length {size}"
            raise InvalidInputError(msg)
        with self._batch():
            if self._refuse():
                return
            self._queue_search(_AudioBytes(bytes(data), str(name)), self.search_n, f"file {name}")

    def review_labels(self, n: int | None = None) -> None:
        """Review the labels given so far, most doubtful first (review mode), in the background.

        The order comes from :func:`alwidget.review.label_review_order`: a
        model trained without each clip (k-fold) disagrees most with its
        label. Press the class the clip really is: the same class confirms
        it, another one relabels it (``learner.relabel``: journalled with mode
        ``"review"``, undoable); skip leaves it; "unsure" withdraws the label
        and records the doubt. ``n`` limits the queue (default: every label).
        """
        n = None if n is None else _positive_int(n, "n")
        with self._batch():
            if self._refuse():
                return
            with self._work:
                self._search_request = ("review", n)
                self._work.notify_all()
            self._set(message="ordering the labels by how doubtful they are...")

    def review_detections(
        self, name, *, per_bin: int = 10, n_bins: int = 4, top: int = 10, threshold: float | None = None
    ) -> None:
        """Check the model's detections of class ``name`` by score bin (review mode), in the background.

        The detections are the unlabelled clips the model predicts as
        ``name`` (its most probable class), or with ``threshold`` those whose
        probability of ``name`` is at least ``threshold``. The unlabelled
        clips (all of them, the one on screen included; held-out test clips
        excluded) are split into the detections and the rest, and each part
        by its probability of ``name``: the ``top`` highest detections, then
        quantile bins, ``n_bins`` in all (:func:`alwidget.review.detection_bins`,
        as in perch-hoplite's validation). ``per_bin`` clips drawn at random
        from each bin are shown, bins interleaved; the draw depends only on
        the seed and the labels, never on the clip on screen. Answer with the
        class keys as usual: the clip's class is a label (mode ``"review"``);
        it counts as *yes* when it is ``name``, *no* otherwise, and "unsure"
        is left out.

        The ``search`` field then holds each bin's answers and precision
        (95% Wilson interval), and two figures with 95% intervals
        (:func:`alwidget.review.detection_estimate`): ``"precision"``, the
        precision of the detections, and ``"density"``, the call density
        (the share of all those clips that hold ``name``). After the last
        clip the session stays in review mode with the final figures
        (``"done": True``) until another mode starts;
        :meth:`detection_report` exports them.
        """
        cls = self._resolve_class(name)
        per_bin = _positive_int(per_bin, "per_bin")
        n_bins = _positive_int(n_bins, "n_bins")
        if isinstance(top, bool) or not isinstance(top, int) or top < 0:
            msg = f"top must be a non-negative integer, got {top!r}"
            raise InvalidInputError(msg)
        if threshold is not None:
            if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating, np.integer)):
                msg = f"threshold must be a probability in [0, 1] or None, got {threshold!r}"
                raise InvalidInputError(msg)
            if not 0.0 <= float(threshold) <= 1.0:
                msg = f"threshold must be a probability in [0, 1] or None, got {threshold!r}"
                raise InvalidInputError(msg)
            threshold = float(threshold)
        with self._batch():
            if self._refuse():
                return
            with self._work:
                self._search_request = ("detections", cls, per_bin, n_bins, top, threshold)
                self._work.notify_all()
            self._set(message=f"binning the clips by their score for {cls!r}...")

    def detection_report(self, path=None, *, as_frame: bool | None = None):
        """The last detection review's result as a table; with ``path``, also written there as CSV.

        One row per score bin, then ``"precision of detections"`` and
        ``"call density"`` (:func:`alwidget.review.detection_table`: class,
        bin, detected, score range, windows, weight, yes / no / unsure
        answers, estimate and its 95% interval), from the answers given so
        far to the clips drawn for that review. Available from the start of
        the review, after its end and after leaving it, until the next
        detection review starts.

        Parameters
        ----------
        path : str or Path, optional
            Write the table there (:func:`alwidget.export.write_csv`).
        as_frame : as in :func:`alwidget.export.predictions_table`

        Raises
        ------
        InvalidInputError
            No detection review has been started in this session.
        """
        from alwidget.export import write_csv
        from alwidget.review import detection_table

        detect = self._detect_last
        if detect is None:
            msg = "no detection review yet: start one with review_detections(name)"
            raise InvalidInputError(msg)
        table = detection_table(
            detect["bins"], self._detection_counts(detect), name=detect["class"], seed=detect["seed"], as_frame=as_frame
        )
        if path is not None:
            write_csv(table, path)
        return table

    def set_mode(self, mode: str) -> None:
        """Switch to ``"active"`` (leave a search or a review).

        :meth:`search`, :meth:`review_labels` and :meth:`review_detections` start the other modes.
        """
        with self._batch():
            self._set_mode(mode)

    def _queue_search(self, query, n: int, description: str) -> None:
        with self._work:
            self._search_request = ("search", query, n, description)
            self._work.notify_all()
        self._set(message=f"searching for clips like {description}...")

    def _set_mode(self, mode) -> None:
        if mode not in MODES:
            msg = f"mode must be one of {MODES}, got {mode!r}"
            raise InvalidInputError(msg)
        if mode == "search":
            if self.mode != "search":
                self._set(message="search needs an example: 'find more like this' (f) or a file")
            return
        if mode == "review":
            if self.mode != "review":
                self.review_labels()
            return
        if self.mode == "active":
            return
        self._results.clear()
        self._set(mode="active", search={}, message="back to active learning")
        if self._current_mode != "active":  # the result on screen gives way to the learner's next query
            self._advance()
        self._publish_progress()
        self._request()

    def _run_review(self, n: int | None) -> None:
        """The worker's part of :meth:`review_labels`: order the labels, then show them."""
        from alwidget.review import label_review_order

        order = label_review_order(self.learner, max_items=n)
        self._start_review([int(i) for i in order.indices], "labels", "most doubtful labels first", None)

    def _run_detections(self, cls, per_bin: int, n_bins: int, top: int, threshold: float | None = None) -> None:
        """The worker's part of :meth:`review_detections`: bin, sample, then show the sample.

        The candidates are the unlabelled clips less the held-out test clips, whatever is on screen,
        and the draw is seeded by the session's seed and the labels: the same labels, the same sample.
        """
        from alwidget.review import detection_bins, review_sample

        learner = self.learner
        self._set(message=f"scoring {learner.n_pool:,} clips for {cls}…")
        codes = learner.label_codes()  # the labels the sample is drawn for, in one snapshot
        unlabeled, n_labeled = np.flatnonzero(codes == -1), int(np.count_nonzero(codes >= 0))
        del codes
        if threshold is None:  # one column and one flag per clip: 45 MB at 10M windows, not the whole table
            scores, predicted = learner.class_scores(cls)
        else:
            scores, predicted = learner.class_proba(cls), None
        open_ = np.zeros(learner.n_pool, dtype=bool)
        open_[unlabeled] = True
        if self._eval is not None and self._eval.held_out:
            open_[self._eval.idx] = False
        cand = np.flatnonzero(open_)
        del open_
        if len(cand) == 0:
            self._set(message="no unlabelled clip is left to review")
            return
        s = np.asarray(scores[cand], dtype=np.float64)
        detected = predicted[cand] if threshold is None else s >= threshold
        bins = detection_bins(s, n_bins=n_bins, top=min(top, len(cand)), detected=detected)
        rng = np.random.default_rng([self._seed, _AUDIT_KEY, 0xDE7, n_labeled])
        sample = review_sample(bins, per_bin, rng)
        found = [int(cand[j]) for j in sample.indices]
        rule = f"predicted {cls}" if threshold is None else f"score \u2265 {threshold:g}"
        detect = {
            "class": cls,
            "rule": rule,
            "threshold": threshold,
            "n": len(cand),
            "n_detected": int(np.count_nonzero(detected)),
            "seed": self._seed % 2**32,
            "bins": [
                {"name": b.name, "lo": float(b.lo), "hi": float(b.hi), "size": len(b), "detected": b.detected}
                for b in bins
            ],
            "bin_of": {int(cand[j]): int(b) for j, b in zip(sample.indices, sample.bin_ids)},
        }
        self._start_review(found, "detections", f"detections of {cls} ({rule})", detect)

    def _start_review(self, found: list[int], kind: str, description: str, detect: dict | None) -> None:
        """Show ``found`` next in review mode."""
        self._prefetch(found[: self.prefetch])
        with self._batch():
            if self._current is not None and self._current_mode == "active" and self._is_open(self._current):
                self._queue.appendleft(self._current)  # shown again after the review
            self._review_kind, self._detect = kind, detect
            if detect is not None:
                self._detect_last = detect  # kept for detection_report after the review
            self._results = deque(found)
            self._search_total = len(found)
            self._search_query = description
            if kind == "labels":
                what = f"{len(found)} labels to review: press the right class (the same one keeps it)"
            else:
                what = f"{len(found)} clips to check, by score bin: press their class (? if unsure)"
            self._set(mode="review", message=what)
            self._current = None
            self._advance()
            self._publish_progress()

    def _prefetch(self, indices) -> None:
        """Decode the media of ``indices`` ahead of time; a clip that fails is reported when it is shown."""
        for i in indices:
            try:
                self._media.prefetch([i])
            except Exception:  # reported when the clip is shown
                continue

    def _run_search(self, request: tuple) -> None:
        """The worker's part of :meth:`search` and :meth:`review_labels`: find, prefetch, then show the results."""
        if request[0] == "review":
            self._run_review(request[1])
            return
        if request[0] == "detections":
            self._run_detections(*request[1:])
            return
        _, query, n, description = request
        if isinstance(query, _AudioBytes):
            query = query.decode()
        embed = getattr(self.dataset, "embed_query", None)
        self._set(message=f"searching for clips like {description}…")
        # an approximate index is used once built; building one here would hold the worker for minutes
        held_out = self._eval.idx if self._eval is not None and self._eval.held_out else None
        result = self.learner.similar(query, n, exclude_labeled=True, embed=embed, build=False, exclude=held_out)
        found = [int(i) for i in result.indices]
        self._prefetch(found[: self.prefetch])
        with self._batch():
            found = [i for i in found if self._is_open(i)]
            if not found:
                self._set(message=f"no open clip is like {description}: every close match is labelled or skipped")
                return
            self._results = deque(i for i in found if i != self._current)
            self._search_total = len(self._results)
            self._search_query = description
            self._set(mode="search", message=f"{len(found)} clips like {description}: label them with the same keys")
            if self._current is None or not self._is_open(self._current):
                self._advance()  # else the clip on screen is labelled first, then the results follow
            self._publish_search()
            self._publish_progress()

    def refresh(self) -> None:
        """Retrain and re-query in the background (e.g. after labelling from code)."""
        self._request()

    def dismiss(self) -> None:
        """Clear the message and the error line (not a blocked state)."""
        with self._batch():
            self._set(error=self.blocked, message="")

    def handle(self, command: dict) -> None:
        """Run a command as a front end sends it: ``{"kind": ..., "value": ..., "clip": ...}``.

        Kinds: ``label``, ``skip``, ``unsure``, ``undo``, ``add_class``, ``auto``, ``stop``,
        ``dismiss``, ``search`` (``clip``: find more like it) and ``mode``
        (``value``: ``"active"`` leaves a search). Errors are shown in the
        state, never raised.
        """
        cmd = command or {}
        kind = cmd.get("kind")
        try:
            with self._batch():
                if kind == "label":
                    self._label(cmd.get("value"), cmd.get("clip"))
                elif kind == "skip":
                    self._skip(cmd.get("clip"))
                elif kind == "unsure":
                    self._skip(cmd.get("clip"), unsure=True)
                elif kind == "undo":
                    self._undo()
                elif kind == "add_class":
                    self._add_class(cmd.get("value"))
                elif kind == "auto":
                    self.auto_label(cmd.get("value"))
                elif kind == "stop":
                    self.stop_auto()
                elif kind == "dismiss":
                    self.dismiss()
                elif kind == "search":
                    clip = cmd.get("clip", cmd.get("value"))
                    if clip is None:
                        clip = self._current
                    if clip is None:
                        self._set(message="no clip on screen to search by")
                    else:
                        self.search(int(clip))
                elif kind == "mode":
                    self._set_mode(cmd.get("value"))
                elif kind == "review":
                    value = cmd.get("value")
                    self.review_labels() if value in (None, "labels") else self.review_detections(value)
                else:
                    msg = f"unknown command {kind!r} from the front end"
                    raise InvalidInputError(msg)
        except Exception as exc:  # shown in the state, kept in self.errors
            with self._batch():
                self._report(exc)

    def wait_idle(self, timeout: float | None = 60.0) -> bool:
        """Block until the background worker has nothing left to do.

        Returns True when idle, False if ``timeout`` seconds passed first.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._work:
            while (
                self._pending or self._busy or self._auto_left or self._rebuild or self._search_request
            ) and not self._closed:
                if self._thread is None:
                    return False
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._work.wait(remaining)
        return True

    def close(self) -> None:
        """Stop the background worker (the learner and its journal stay open)."""
        with self._work:
            self._closed = True
            self._auto_stop = True
            self._work.notify_all()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)
        self._listeners.clear()

    # ------------------------------------------------------------------ actions (caller's thread)
    def _refuse(self) -> bool:
        """Whether actions are refused (the journal was taken over): says so."""
        if self.blocked:
            self._set(error=self.blocked)
            return True
        return False

    def _busy_with_auto(self) -> bool:
        if self._refuse():
            return True
        if self._auto_left:
            self._set(message="auto-labelling is running: press stop first")
            return True
        return False

    def _on_screen(self, clip) -> int | None:
        """The clip on screen, or None (with a message) if ``clip`` names another one."""
        if self._current is None:
            open_ = self._fields["progress"].get("open")
            self._set(message="no clip on screen" if open_ else "the pool is finished")
            return None
        if clip is not None and int(clip) != self._current:
            self._set(message=f"ignored an action for clip {int(clip)}: it is no longer on screen")
            return None
        if not self._valid(self._current, self._current_mode):  # labelled or skipped from code meanwhile
            stale = self._current
            self._advance()
            self._publish_progress()
            self._request()
            self._set(message=f"clip {stale} was labelled or skipped elsewhere; here is the next one")
            return None
        return self._current

    def _valid(self, i: int, mode: str) -> bool:
        """Whether clip ``i`` can still be shown in ``mode`` (open; labelled in a label review)."""
        if mode == "review" and self._review_kind == "labels":
            return self.learner.is_labeled(i)
        return self._is_open(i)

    def _is_open(self, i: int) -> bool:
        """Whether clip ``i`` is neither labelled nor skipped (O(1): no scan of the pool)."""
        return self.learner.is_unlabeled(i)

    def _n_done(self) -> int:
        """Clips labelled or skipped: the audit slot of the clip shown next."""
        learner = self.learner
        return learner.n_labeled + learner.n_skipped + _n_unsure(learner)

    def _is_audit(self, i: int, n_done: int) -> bool:
        """Whether clip ``i`` shown at slot ``n_done`` is that slot's audit clip (same rule as replay_audits)."""
        if not self._auditing or not audit_slot(self._seed, n_done, self.audit_rate):
            return False
        learner = self.learner
        return _audit_pick_answered(self._seed, n_done, learner.n_pool, learner.answered_idx) == i

    def _label(self, name, clip=None, *, auto: bool = False) -> None:
        if not auto and self._busy_with_auto():
            return
        i = self._on_screen(clip)
        if i is None:
            return
        cls = self._resolve_class(name)
        if self._current_mode == "review" and self._review_kind == "labels":
            self._review_answer(i, cls)
            return
        guess = self._model_guess(i)
        n_before = self.learner.n_labeled
        mode = self._current_mode
        audit = mode == "active" and self._is_audit(i, self._n_done())
        try:
            self.learner.teach(i, cls, **_mode_kw(mode))
        except JournalLockedError as exc:  # another session took the journal over
            self._block(exc)
            return
        if guess is not None:
            self._guesses.append(_Guess(i, guess == cls, n_before, audit))
        if auto:
            if self._label_times and self._label_times[-1] is not None:
                self._label_times.append(None)
        else:
            self._label_times.append(time.time())
        self._set(message="")
        if auto:
            with self._work:
                done = self._auto_total - self._auto_left + 1
                left = max(self._auto_left - 1, 0)
            self._set(auto={"running": left > 0, "left": left, "done": done})
        self._after_action()

    def _review_answer(self, i: int, cls) -> None:
        """Label review: the same class confirms the label, another one relabels the clip."""
        given = self.learner.label_of(i)
        if cls == given:
            self._set(message=f"kept the label {given!r} of clip {i}")
        else:
            try:
                self.learner.relabel(i, cls, mode="review")
            except JournalLockedError as exc:
                self._block(exc)
                return
            self._set(message=f"relabelled clip {i}: {given!r} -> {cls!r}")
        self._after_action()

    def _skip(self, clip=None, *, auto: bool = False, unsure: bool = False) -> None:
        if not auto and self._busy_with_auto():
            return
        i = self._on_screen(clip)
        if i is None:
            return
        if self._current_mode == "review" and self._review_kind == "labels" and not unsure:  # leave the label
            self._set(message=f"left the label of clip {i} as it is")
            self._after_action()
            return
        try:
            if unsure:
                self.learner.unsure(i, **_mode_kw(self._current_mode))
            else:
                self.learner.skip(i, **_mode_kw(self._current_mode))
        except JournalLockedError as exc:
            self._block(exc)
            return
        self._set(message="")
        self._after_action()

    def _undo(self) -> None:
        if self._busy_with_auto():
            return
        try:
            event = self.learner.undo()
        except NothingToUndoError:
            self._set(message="nothing to undo")
            return
        except JournalLockedError as exc:
            self._block(exc)
            return
        self._epoch += 1
        back = [int(i) for i in event.indices]
        if event.kind == "teach":
            gone = set(back)
            self._guesses = [g for g in self._guesses if g.clip not in gone]
            if self._label_times and self._label_times[-1] is not None:
                self._label_times.pop()
            n = self.learner.n_labeled
            self._points = {k: v for k, v in self._points.items() if k <= n}
            self._baseline_points = {k: v for k, v in self._baseline_points.items() if k <= n}
            for i in back:  # the model on hand was trained with these labels: no honest guess for them
                self._guess_blocked[i] = self.learner.version
        if back:
            if self._current is not None and self._current not in back:
                (self._results if self._current_mode != "active" else self._queue).appendleft(self._current)
            searching = event.mode == self.mode != "active"  # a result of this search or review comes back
            if not searching and self.mode == "active" and self._label_review_answer(event):
                # an answer of a label review that has ended (a relabel, or an "unsure" that withdrew a
                # label): the clip comes back on screen in a label review, with its label, as undo promises
                self._review_kind, self._detect = "labels", None
                self._results = deque()
                self._search_total = len(back)
                self._search_query = "the undone review answer"
                self._set(mode="review")
                searching = True
            (self._results if searching else self._queue).extendleft(reversed(back[1:]))
            audit = not searching and self._is_audit(back[0], self._n_done())
            self._show(back[0], audit=audit, mode=self.mode if searching else "active")
        what = {"teach": "label", "skip": "skip", "unsure": '"unsure" answer'}.get(event.kind, event.kind)
        self._set(message=f"undid the {what} of clip {back[0]}" if back else f"undid {event.kind}")
        self._publish_progress()
        self._publish_plot()
        self._check_journal()
        self._request()

    def _label_review_answer(self, event) -> bool:
        """Whether undone ``event`` was an answer in a label review (its clips are labelled again now)."""
        if event.mode != "review" or event.kind not in ("relabel", "unsure"):
            return False
        return all(self.learner.is_labeled(int(i)) for i in event.indices)

    def _add_class(self, name) -> None:
        if self._refuse():
            return
        text = "" if name is None else str(name).strip()
        if not text:
            self._set(message="type a class name first")
            return
        try:
            self.learner.add_class(text)
        except JournalLockedError as exc:
            self._block(exc)
            return
        k = len(self.learner.classes)
        key = f" (key {k})" if k <= 9 else ""
        self._set(classes=[str(c) for c in self.learner.classes], message=f"added class {text!r}{key}")
        self._publish_progress()
        self._check_journal()
        self._request()

    def _resolve_class(self, name):
        """A class of the learner from a button's text (or the class itself)."""
        classes = self.learner.classes
        if name in classes:
            return name
        by_text = {str(c): c for c in classes}
        if str(name) in by_text:
            return by_text[str(name)]
        msg = f"{name!r} is not a class; classes are {classes!r}; add it with '+ class'"
        raise InvalidInputError(msg)

    def _after_action(self) -> None:
        self._advance()
        self._publish_progress()
        self._publish_plot()
        self._check_journal()
        self._request()

    def _block(self, exc: BaseException) -> None:
        """The journal was taken over by another session: refuse every further action, say why."""
        text = str(exc) or "this session's journal was taken over by another session"
        if "reload" not in text and "re-run" not in text:
            text += " (this page or cell is stale: use the newest one, or re-run the cell to take the journal back)"
        with self._work:
            self._auto_left = 0
        self._set(blocked=text, error=text, message="", auto=dict(self._fields["auto"], running=False, left=0))

    def _check_journal(self) -> None:
        problem = getattr(self.learner, "journal_error", None)
        if problem:
            self._set(error=f"journal: {problem}")
        elif self.error.startswith("journal: "):  # the disk accepts writes again
            self._set(error=self.blocked)

    def _keep_traceback(self, exc: BaseException) -> None:
        self.errors.append("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        del self.errors[:-_MAX_ERRORS]

    def _report(self, exc: BaseException) -> None:
        """Show an error: expected ones as a message, others as an error line."""
        if isinstance(exc, JournalLockedError):
            self._block(exc)
            return
        if isinstance(exc, AlwidgetError):
            self._set(message=str(exc))
            return
        self._keep_traceback(exc)
        self._set(error=f"{type(exc).__name__}: {exc} (full traceback in widget.errors[-1])")

    # ------------------------------------------------------------------ showing clips
    def _exclude(self) -> np.ndarray:
        """Clips never to queue: the one on screen and held-out ones."""
        parts = [np.array([] if self._current is None else [self._current], dtype=np.int64)]
        if self._eval is not None and self._eval.held_out:
            parts.append(self._eval.idx)
        return np.concatenate(parts)

    def _advance(self) -> None:
        """Show the next clip: the slot's audit clip, else the next open clip of the queue (or a random one).

        In search mode: the next open search result; when none is left, back to active learning.
        """
        if self.mode in ("search", "review"):
            mode = self.mode
            while self._results:
                i = self._results.popleft()
                if i != self._current and self._valid(i, mode):
                    self._show(i, mode=mode)
                    return
            if mode == "review" and self._review_kind == "detections" and self._detect is not None:
                # the final estimate stays on screen (search["done"]) until the user leaves the review
                self._show(None, mode=mode)
                self._set(message="detection review done: the final estimate stays here; 'back' leaves it")
                return
            what = f"search done ({self._search_total} results)" if mode == "search" else "review done"
            self._set(mode="active", search={}, message=f"{what}: back to active learning")
        n_done = self._n_done()
        if self._auditing and audit_slot(self._seed, n_done, self.audit_rate):
            pick = _audit_pick_answered(self._seed, n_done, self.learner.n_pool, self.learner.answered_idx)
            if pick is not None:
                if pick in self._queue:
                    self._queue.remove(pick)
                self._show(pick, audit=True)
                return
        while self._queue:  # the click path: O(1) per queued clip, no scan of the pool
            i = self._queue.popleft()
            if i != self._current and self._is_open(i):
                self._show(i)
                return
        pick = self._random_open()
        if pick is None:
            self._show(None)
            self._set(message="the pool is finished: every clip is labelled or skipped")
            return
        self._show(pick)
        if self.learner.n_labeled:
            self._set(message="picked a random clip: the next ones are still being chosen")

    def _random_open(self) -> int | None:
        """A random open clip not excluded (a few draws; a scan of the pool only when most are taken)."""
        learner, exclude = self.learner, set(self._exclude().tolist())
        for i in self._rng.integers(learner.n_pool, size=64).tolist():
            if i not in exclude and learner.is_unlabeled(i):
                return i
        candidates = np.setdiff1d(learner.unlabeled_idx, self._exclude(), assume_unique=True)
        return int(self._rng.choice(candidates)) if len(candidates) else None

    def _show(self, i: int | None, *, audit: bool = False, mode: str = "active") -> None:
        """Put clip ``i`` (or nothing) on screen, found in ``mode``."""
        self._current = i
        self._current_audit = bool(audit and i is not None)
        self._current_mode = mode
        self._publish_search()
        if i is None:
            self._set(clip={}, audio=b"", spectrogram=b"", guess=[])
            return
        info = {"index": i, "name": str(i), "id": "", "duration": 0.0, "n_mels": 0, "frames": 0, "freq_ticks": []}
        audio = spec = b""
        try:
            media = self._media.get(i)
        except Exception as exc:  # a clip that cannot be decoded is shown, with the reason
            self._report(exc)
            self._set(message=f"clip {i} cannot be played; skip it (s)")
        else:
            info.update(
                name=media.name,
                id=media.clip_id,
                duration=media.duration,
                n_mels=media.n_mels,
                frames=media.frames,
                freq_ticks=[list(t) for t in media.freq_ticks],
                window_start=float(media.window_start),
                window_end=float(media.window_end),
                recording=str(media.recording),
                start=float(media.start),
                end=float(media.end),
            )
            audio, spec = media.wav, media.spectrogram
        if mode == "review" and self._review_kind == "labels":
            given = self.learner.label_of(i)
            info["given"] = "" if given is None else str(given)
        self._set(clip=info, audio=audio, spectrogram=spec, guess=self._guess_list(i))

    def _publish_search(self) -> None:
        if self.mode == "active":
            return
        on_screen = self._current is not None and self._current_mode == self.mode
        left = sum(1 for i in self._results if self._valid(i, self.mode)) + on_screen
        if self.mode == "review" and self._review_kind == "detections" and self._detect is not None:
            self._set(search=self._detection_state(left))
            return
        self._set(search={"query": self._search_query, "total": int(self._search_total), "left": int(left)})

    def _detection_state(self, left: int) -> dict:
        """The ``search`` field in a detection review: answers per bin, precision of detections, call density."""
        from alwidget.review import detection_estimate

        detect = self._detect
        counts = self._detection_counts(detect)
        est = detection_estimate(detect["bins"], counts, seed=detect["seed"])

        def sig(x):  # 4 significant digits: a share of 3e-5 must not read 0
            x = float(x)
            return None if not np.isfinite(x) else float(f"{x:.4g}")

        def figure(e) -> dict:
            return {
                "estimate": sig(e.value), "low": sig(e.lo), "high": sig(e.hi), "windows": int(e.windows),
                "weight": sig(e.weight), "yes": e.yes, "no": e.no, "unsure": e.unsure,
            }  # fmt: skip

        rows = [
            {
                "name": b["name"], "detected": bool(b["detected"]), "lo": sig(b["lo"]), "hi": sig(b["hi"]),
                "windows": int(b["size"]), "weight": sig(b["size"] / detect["n"]),
                **c, "precision": _num(e.precision), "low": _num(e.lo), "high": _num(e.hi),
            }
            for b, c, e in zip(detect["bins"], counts, est.bins)
        ]  # fmt: skip
        return {
            "query": self._search_query, "total": int(self._search_total), "left": int(left),
            "done": left == 0, "class": str(detect["class"]), "rule": detect["rule"],
            "threshold": detect["threshold"], "windows": int(detect["n"]), "bins": rows,
            "precision": figure(est.precision), "density": figure(est.density),
        }  # fmt: skip

    def _detection_counts(self, detect: dict) -> list[dict]:
        """Answers per bin of a detection review: yes (labelled its class), no (another class), unsure."""
        cls = detect["class"]
        learner = self.learner
        counts = [{"yes": 0, "no": 0, "unsure": 0} for _ in detect["bins"]]
        for i, b in detect["bin_of"].items():  # O(clips sampled): no scan of the pool
            given = learner.label_of(i)
            if given is not None:
                counts[b]["yes" if given == cls else "no"] += 1
            elif learner.is_unsure(i):
                counts[b]["unsure"] += 1
        return counts

    def _model_row(self, i: int) -> tuple[np.ndarray, list] | None:
        """Clip ``i``'s probabilities under the last fitted model and their classes, or None.

        Scores this one clip (a table slice for small pools), so showing or
        labelling a clip costs the same at 10M windows as at 1,000.
        """
        proba = self.learner.fitted_proba([i])
        if proba is None:
            return None
        return proba[0], self.learner.classes[: proba.shape[1]]

    def _model_guess(self, i: int):
        """The current model's best class for clip ``i``, or None (no model, or not honest)."""
        if i in self._guess_blocked:
            return None
        found = self._model_row(i)
        if found is None:
            return None
        row, classes = found
        return classes[int(np.argmax(row))]

    def _guess_list(self, i: int | None) -> list[dict]:
        found = None if i is None else self._model_row(i)
        if found is None:
            return []
        row, classes = found
        top = np.argsort(-row, kind="stable")[: self.top_k]
        return [{"label": str(classes[k]), "p": round(float(row[k]), 4)} for k in top]

    def _publish_progress(self) -> None:
        learner = self.learner
        counts = learner.label_counts()
        n_eval = len(self._eval.idx) if self._eval is not None and self._eval.held_out else 0
        n_labeled = learner.n_labeled
        n_skipped = learner.n_skipped
        n_unsure = _n_unsure(learner)
        if learner.model_ is None:
            model = "no model yet"
        else:
            model = f"model v{learner.model_version_}, trained on {learner.n_labels_fit_} labels"
            n_pseudo = int(getattr(learner.model_, "n_pseudo_", 0) or 0)
            if n_pseudo:  # the "spread" model: say that unlabelled clips took part
                model += f" + {n_pseudo} pseudo-labels"
        self._set(
            progress={
                "n_labeled": n_labeled,
                "n_skipped": n_skipped,
                "n_unsure": n_unsure,
                "n_pool": learner.n_pool,
                "open": learner.n_pool - n_labeled - n_skipped - n_unsure - n_eval,
                "counts": {str(c): int(k) for c, k in counts.items()},
                "per_minute": _per_minute(self._label_times),
                "model": model,
                "model_version": int(learner.model_version_),
                "n_labels_fit": int(learner.n_labels_fit_),
                "queued": len(self._queue),
            }
        )

    @staticmethod
    def _times_from_history(history) -> list[float | None]:
        """Times of the labels still in force, oldest first (resume: labels/min goes on)."""
        teach: dict[int, float] = {}
        for pos, ev in enumerate(history):
            if ev.kind == "teach":
                teach[pos] = float(ev.time)
            elif ev.kind == "undo":
                teach.pop(ev.target, None)
        times: list[float | None] = [teach[p] for p in sorted(teach)]
        return times + [None] if times else []  # the time away before this session is a break

    # ------------------------------------------------------------------ the worker
    def _request(self) -> None:
        with self._work:
            self._pending = True
            self._work.notify_all()

    def _run(self) -> None:
        while True:
            with self._work:
                while not (self._pending or self._auto_left or self._rebuild or self._search_request or self._closed):
                    self._busy = False
                    self._work.notify_all()
                    self._work.wait()
                if self._closed:
                    self._busy = False
                    self._work.notify_all()
                    return
                self._busy = True
                search, self._search_request = self._search_request, None
                auto = self._auto_left > 0 and search is None
                rebuild = self._rebuild and not (self._pending or auto or search)
                if search is None:
                    self._pending = False
            try:
                if search is not None:
                    self._run_search(search)
                elif rebuild:
                    self._rebuild_curves()
                elif auto:
                    self._auto_step()
                else:
                    self._cycle()
            except Exception as exc:  # the worker must survive and say what went wrong
                with self._batch():
                    self._report(exc)
                with self._work:
                    self._auto_left = 0
                self._set_auto_stopped()
            finally:
                if rebuild:
                    with self._work:
                        self._rebuild = False
                with self._work:
                    idle = not (self._pending or self._auto_left or self._search_request)
                if idle:
                    with self._batch():
                        self._set(training=False)

    def _cycle(self) -> None:
        """Retrain, re-score, re-query, decode the next clips; publish the results."""
        learner = self.learner
        with self._batch():
            start_version = learner.version
            epoch = self._epoch
            exclude = self._exclude()
            n_query = self.prefetch + (self._current is None)  # one more when the first clip is taken from it
            self._set(training=learner.n_labeled > 0)
        if learner.n_labeled:
            try:  # fit on the new labels (and score the clip on screen: its guess); never the whole large pool
                learner.candidate_proba([] if self._current is None else [self._current])
            except NotEnoughLabelsError:
                pass
        try:
            queue = [int(i) for i in learner.query(n_query, exclude=exclude)]
        except PoolExhaustedError:
            queue = []
        self._prefetch(queue)
        self._evaluate(epoch)
        with self._batch():
            self._guess_blocked = {i: v for i, v in self._guess_blocked.items() if v > start_version}
            self._queue = deque(i for i in queue if i != self._current)
            if self._current is None or not self._valid(self._current, self._current_mode):
                self._advance()
                if self.message == _LOADING:
                    self._set(message="")
            else:
                self._set(guess=self._guess_list(self._current))
            self._set(classes=[str(c) for c in learner.classes])
            self._publish_progress()
            self._publish_plot()

    def _auto_step(self) -> None:
        """Demo mode: label the clip on screen from the oracle, then retrain (one step)."""
        with self._work:
            stop = self._auto_stop or self._closed
        if not stop:
            with self._batch():
                i = self._current
                if i is None or self.blocked:
                    stop = True
                else:
                    truth = self._oracle[i]
                    if truth is None:
                        self._skip(i, auto=True)
                        with self._work:
                            left = max(self._auto_left - 1, 0)
                        self._set(auto={"running": left > 0, "left": left, "done": self._auto_total - left})
                    else:
                        if truth not in self.learner.classes:
                            self._add_class(truth)
                        self._label(truth, i, auto=True)
        if stop:
            with self._work:
                self._auto_left = 0
                self._auto_stop = False
                self._pending = False
            self._set_auto_stopped()
            self._cycle()
            return
        with self._work:
            self._pending = False
            self._auto_left = max(self._auto_left - 1, 0)
        self._cycle()

    def _set_auto_stopped(self) -> None:
        with self._batch():
            self._set(auto=dict(self._fields["auto"], running=False, left=0))

    # ------------------------------------------------------------------ curves
    def _evaluate(self, epoch: int) -> None:
        """Add a point to the accuracy curve (and the random baseline) for a new model."""
        learner = self.learner
        if self._eval is None or learner.model_ is None or learner.model_version_ == self._eval_model_version:
            return
        ev = self._eval
        try:
            pred = learner.predict(ev.X) if ev.X is not None else _predict_rows(learner, ev.idx)
        except NotEnoughLabelsError:
            return
        n = int(learner.n_labels_fit_)
        self._eval_model_version = learner.model_version_
        acc = float(np.mean(pred == ev.y))
        base = self._baseline_accuracy(n) if self._oracle is not None else None
        with self._state:
            if epoch != self._epoch:  # an undo came in meanwhile: this point may be stale
                self._eval_model_version = -1
                return
            self._points[n] = acc
            if base is not None:
                self._baseline_points[n] = base

    def _baseline_accuracy(self, n: int) -> float | None:
        """Accuracy after ``n`` labels chosen at random (oracle labels), on the same eval set."""
        if n in self._baseline_points:
            return self._baseline_points[n]
        learner = self.learner
        if self._baseline_order is None:
            known = np.array([v is not None for v in self._oracle])
            if self._eval.held_out:
                known[self._eval.idx] = False
            self._baseline_order = np.random.default_rng(self._seed).permutation(np.flatnonzero(known))
        order = self._baseline_order
        n = min(n, len(order))
        if self._baseline is None or self._baseline.n_labeled > n:
            classes = list(learner.classes)
            classes += [c for c in dict.fromkeys(self._oracle[order].tolist()) if c not in classes]
            self._baseline = self._fresh_learner(classes, strategy="random")
        base = self._baseline
        if n > base.n_labeled:
            new = order[base.n_labeled : n]
            base.teach(new, list(self._oracle[new]))
        if base.n_labeled == 0:
            return None
        ev = self._eval
        pred = base.predict(ev.X) if ev.X is not None else _predict_rows(base, ev.idx)
        return float(np.mean(pred == ev.y))

    def _fresh_learner(self, classes, **kwargs):
        from alwidget.learner import ActiveLearner

        learner = self.learner
        return ActiveLearner(
            learner.embeddings,  # the same rows (a memory-mapped pool stays on disk), never a copy
            list(classes),
            model=learner.model,
            seed=self._seed,
            candidates=learner.candidates,
            **kwargs,
        )

    def _rebuild_curves(self) -> None:
        """Resume: recompute the curves of the events replayed from the journal.

        Replays the history into a private learner; before each audit label it
        fits on the labels given so far and records the model's guess; with an
        eval set it measures accuracy at a few label counts.
        """
        learner = self.learner
        history = learner.history[: self._n_history0]
        audits = replay_audits(history, learner.n_pool, self._seed, self.audit_rate) if self._auditing else {}
        counts, n = [], 0
        for ev in history:
            n += len(ev.indices) if ev.kind == "teach" else 0
            counts.append(n)
        checkpoints: set[int] = set()
        if self._eval is not None and counts and counts[-1]:
            top = counts[-1]
            checkpoints = {int(round(top * k / _REBUILD_CHECKPOINTS)) for k in range(1, _REBUILD_CHECKPOINTS + 1)}
        if not audits and not checkpoints:
            return
        added = {ev.labels[0] for ev in history if ev.kind == "add_class"}
        rb = self._fresh_learner([c for c in learner.classes if c not in added] or learner.classes[:1])
        emb = learner.embeddings
        guesses: list[_Guess] = []
        points: dict[int, float] = {}
        for pos, ev in enumerate(history):
            with self._work:
                if self._closed:
                    return
            if pos in audits and rb.n_labeled:
                clip, n_before = audits[pos]
                try:
                    row = rb.predict_proba(emb[[clip]])[0]
                except AlwidgetError:
                    row = None
                if row is not None:
                    guesses.append(_Guess(clip, rb.classes[int(np.argmax(row))] == ev.labels[0], n_before, True))
            if ev.kind == "teach":
                for name in ev.labels:
                    if name not in rb.classes:
                        rb.add_class(name)
                rb.teach(list(ev.indices), list(ev.labels))
                k = rb.n_labeled
                if k in checkpoints and k not in points:
                    ev_set = self._eval
                    pred = rb.predict(ev_set.X) if ev_set.X is not None else _predict_rows(rb, ev_set.idx)
                    points[k] = float(np.mean(pred == ev_set.y))
            elif ev.kind == "skip":
                rb.skip(list(ev.indices))
            elif ev.kind == "unsure":
                rb.unsure(list(ev.indices), mode=ev.mode)
            elif ev.kind == "relabel":
                rb.relabel(list(ev.indices), list(ev.labels))
            elif ev.kind == "undo":
                rb.undo()
                points = {k: v for k, v in points.items() if k <= rb.n_labeled}
            elif ev.kind == "add_class" and ev.labels[0] not in rb.classes:
                rb.add_class(ev.labels[0])
        base = {k: self._baseline_accuracy(k) for k in points} if self._oracle is not None else {}
        with self._batch():
            still = [g for g in guesses if not self._is_open(g.clip)]  # an undo meanwhile may have reverted some
            self._guesses = still + [g for g in self._guesses if g not in still]
            for k, v in points.items():
                self._points.setdefault(k, v)
                if base.get(k) is not None:
                    self._baseline_points.setdefault(k, base[k])
            self._publish_plot()

    def _windowed(self, guesses) -> tuple[list[int], list[float], list[float], list[float]]:
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

    def _publish_plot(self) -> None:
        """Send the plot's data (drawn by the front end) when a curve changed."""
        curves = self.curves
        key = tuple((k, tuple(x), tuple(y)) for k, (x, y) in curves.items())
        if key == self._plot_key:
            return
        self._plot_key = key
        strategy = self.learner.strategy if isinstance(self.learner.strategy, str) else "custom strategy"
        series = []
        if "active" in curves:
            name = "accuracy on the whole pool" if self.eval_set is None else "held-out accuracy"
            series.append({"key": "active", "label": f"{name}, active learning ({strategy})", "xy": curves["active"]})
        if "random" in curves:
            series.append({"key": "random", "label": "random sampling (baseline)", "xy": curves["random"]})
        if "audit" in curves:
            xs, lo, hi = self.audit_interval
            series.append(
                {
                    "key": "audit",
                    "label": f"estimated accuracy on random clips (audit, last {self.window}), 95% CI",
                    "xy": curves["audit"],
                    "band": (lo, hi),
                }
            )
        if self._eval is not None:
            title = self._eval.name
        elif self._auditing:
            title = "estimated accuracy on random clips (audit), 95% CI"
        else:
            title = "no accuracy estimate: pass eval_set= or keep audit_rate > 0"
        rate = f"1 clip in {round(1 / self.audit_rate)}" if self._auditing else ""
        empty = (
            f"the estimate appears after the first audit clips ({rate} is drawn at random)"
            if self._auditing and self._eval is None
            else "the curve appears after the first labels"
        )
        self._set(plot=plot_payload(series, title=title, empty=empty))


def _open_journal(learner, journal) -> None:
    """``learner.open_journal(journal, takeover=True)``; plain open for learners without takeover."""
    opener = getattr(learner, "open_journal", None)
    if opener is None:
        msg = "this ActiveLearner cannot journal (it has no open_journal method); update alwidget"
        raise RuntimeError(msg)
    try:
        opener(journal, takeover=True)
    except TypeError as exc:
        if "takeover" not in str(exc):
            raise
        opener(journal)


def _per_minute(times: list[float | None]) -> float | None:
    """Labels per minute over the last labels, not counting breaks (gaps over 2 min) and auto-labelling."""
    recent = times[-(_RATE_WINDOW + 1) :]
    gaps = [b - a for a, b in zip(recent, recent[1:]) if a is not None and b is not None]
    gaps = [g for g in gaps if 0 <= g <= _BREAK_S]
    total = sum(gaps)
    if not gaps or total <= 0:
        return None
    return round(len(gaps) / total * 60.0, 1)


def _xy(points: dict[int, float]) -> tuple[list[int], list[float]]:
    xs = sorted(points)
    return xs, [points[x] for x in xs]


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        msg = f"{name} must be a positive integer, got {value!r}"
        raise InvalidInputError(msg)
    return int(value)


def _rate(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not 0 <= value <= 1:
        msg = f"audit_rate must be a number in [0, 1] (0 disables audit clips), got {value!r}"
        raise InvalidInputError(msg)
    return float(value)


class _AudioBytes:
    """An encoded audio file received as bytes (a browser upload), decoded in the worker."""

    def __init__(self, data: bytes, name: str):
        self.data, self.name = data, name

    def decode(self) -> tuple[np.ndarray, int]:
        import io

        import soundfile as sf

        try:
            y, sr = sf.read(io.BytesIO(self.data), dtype="float32", always_2d=True)
        except (RuntimeError, OSError, ValueError) as exc:
            msg = f"cannot decode the file {self.name!r} to search with: {exc}; use a WAV, FLAC or OGG file"
            raise InvalidInputError(msg) from None
        if len(y) == 0:
            msg = f"the file {self.name!r} holds no audio; choose another file to search with"
            raise InvalidInputError(msg)
        return np.ascontiguousarray(y.mean(axis=1)), int(sr)


def _num(x) -> float | None:
    """A float for the front end, None for NaN (JSON has no NaN)."""
    x = float(x)
    return None if not np.isfinite(x) else round(x, 4)


def _n_unsure(learner) -> int:
    """Clips answered "unsure" (0 for learners without that answer)."""
    return int(getattr(learner, "n_unsure", 0))


def _predict_rows(learner, idx: np.ndarray) -> np.ndarray:
    """``learner.predict()[idx]`` without scoring the whole pool (class names, object array)."""
    proba = learner.candidate_proba(idx)
    return np.asarray(learner.classes, dtype=object)[proba.argmax(axis=1)]


def _mode_kw(mode: str) -> dict:
    """``mode=`` for teach / skip, left out for active labels (learners from before modes keep working)."""
    return {} if mode == "active" else {"mode": mode}


def _describe(query) -> str:
    """How a search query is shown to the user."""
    if isinstance(query, (int, np.integer)):
        return f"clip {int(query)}"
    if isinstance(query, (str, Path)):
        return f"file {Path(query).name}"
    if isinstance(query, tuple) and len(query) == 2:
        return "the audio given"
    arr = np.asarray(query)
    if arr.dtype.kind in "iu":
        return f"clips {', '.join(str(int(i)) for i in arr.ravel()[:5])}{' ...' if arr.size > 5 else ''}"
    return "the embedding given"
