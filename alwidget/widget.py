"""A Jupyter widget to label audio clips as fast as you can listen.

:class:`LabelingWidget` shows the clip the learner asks for (audio player,
log-mel spectrogram, the model's current guess), one button per class, undo,
skip, "+ class", progress, and a live learning curve. Keys (while the widget
has focus): ``1``-``9`` label, ``s`` or right arrow skip, ``u`` or Backspace
undo, space replay.

The widget is a thin shell over :class:`~alwidget.learner.ActiveLearner`: a
label goes straight to ``learner.teach`` and the next clip comes from a
prefetched queue at once; training, scoring, querying, decoding the next clips
and drawing the plot happen in one background thread, which replaces the queue
when the new model is ready. A click never waits for training.

Front end and kernel talk only through traits: the browser writes
``command`` (``{"kind": ..., "value": ..., "clip": ..., "seq": ...}``) and
``autoplay``; everything else flows from Python to the browser.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import traitlets

from alwidget._widget_media import MediaCache
from alwidget.learner import ActiveLearner
from alwidget.errors import (
    AlwidgetError,
    InvalidInputError,
    NotEnoughLabelsError,
    NothingToUndoError,
    PoolExhaustedError,
)

__all__ = ["LabelingWidget"]

_STATIC = Path(__file__).parent / "static"
_MAX_ERRORS = 20  # full tracebacks kept in widget.errors
_RATE_WINDOW = 20  # labels per minute over the last this many labels


@dataclass(frozen=True)
class _Eval:
    """Where and against what accuracy is measured."""

    y: np.ndarray  # object array of true labels
    idx: np.ndarray | None  # pool rows (held-out indices, or the oracle-labelled pool)
    X: np.ndarray | None  # embeddings outside the pool
    name: str  # the metric, as shown in the plot title
    held_out: bool  # True for eval_set pool indices: never queried


def _plain(values: Sequence) -> list:
    """Labels as plain Python objects (numpy scalars -> str / int)."""
    out = []
    for v in values:
        out.append(v.item() if isinstance(v, np.generic) else v)
    return out


class LabelingWidget(anywidget.AnyWidget):
    """Label the clips an :class:`~alwidget.learner.ActiveLearner` asks for, in a notebook.

    Parameters
    ----------
    learner : ActiveLearner
        The pool to label; the widget calls only its public API.
    dataset : AudioDataset
        The clips, one per pool row (``len(dataset) == learner.n_pool``); any
        object with ``len``, ``ds[i] -> (waveform, sr)``, ``wav_bytes(i)`` and
        ``names`` works.
    eval_set : (indices or embeddings, labels), optional
        Held-out clips to measure accuracy on: pool indices (1-D ints; they
        are never queried) or an ``(m, d)`` embedding array, with one label
        each. Without it the plot shows prequential accuracy.
    oracle : sequence, optional
        The true label of every pool clip (None = unknown). Demo mode: shows
        an "auto-label N" control and the random-sampling baseline curve.
    journal : path, optional
        Passed to ``learner.open_journal``: every label, skip, undo and new
        class is saved before the click returns, and an existing journal is
        replayed first (resume).
    autoplay : bool, default True
        Play each clip as soon as it is shown.
    prefetch : int, default 8
        Clips queried, decoded and queued ahead of time.
    n_mels : int, default 64
        Mel bands of the spectrogram shown.
    top_k : int, default 3
        Classes shown in the model's guess.
    window : int, default 20
        Recent labels the prequential accuracy is averaged over.
    **kwargs
        Passed to :class:`anywidget.AnyWidget`.

    Attributes
    ----------
    errors : list of str
        Full tracebacks of the last unexpected errors (the widget shows one line).

    Examples
    --------
    >>> ds = make_sounds(n_per_class=50)                      # doctest: +SKIP
    >>> learner = ActiveLearner(ds.embed(), sorted(set(ds.labels)))  # doctest: +SKIP
    >>> LabelingWidget(learner, ds)                           # doctest: +SKIP
    """

    _esm = _STATIC / "widget.js"
    _css = _STATIC / "widget.css"

    # Python -> browser
    clip = traitlets.Dict().tag(sync=True)
    audio = traitlets.Bytes(b"").tag(sync=True)
    spectrogram = traitlets.Bytes(b"").tag(sync=True)
    guess = traitlets.List().tag(sync=True)
    classes = traitlets.List(traitlets.Unicode()).tag(sync=True)
    progress = traitlets.Dict().tag(sync=True)
    training = traitlets.Bool(False).tag(sync=True)
    plot = traitlets.Bytes(b"").tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    demo = traitlets.Bool(False).tag(sync=True)
    auto = traitlets.Dict({"running": False, "left": 0, "done": 0}).tag(sync=True)
    # browser -> Python
    command = traitlets.Dict().tag(sync=True)
    autoplay = traitlets.Bool(True).tag(sync=True)

    def __init__(
        self,
        learner,
        dataset,
        *,
        eval_set: tuple | None = None,
        oracle: Sequence | None = None,
        journal: str | Path | None = None,
        autoplay: bool = True,
        prefetch: int = 8,
        n_mels: int = 64,
        top_k: int = 3,
        window: int = 20,
        **kwargs: Any,
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
        self.errors: list[str] = []

        if len(dataset) != learner.n_pool:
            msg = (
                f"the dataset has {len(dataset)} clips but the learner's pool has {learner.n_pool} rows; "
                "build the learner from this dataset's embeddings (one row per clip)"
            )
            raise InvalidInputError(msg)
        self._oracle = self._check_oracle(oracle)
        self._eval = self._check_eval_set(eval_set)
        if journal is not None:
            opener = getattr(learner, "open_journal", None)
            if opener is None:
                msg = "this ActiveLearner cannot journal (it has no open_journal method); update alwidget"
                raise RuntimeError(msg)
            opener(journal)
        super().__init__(autoplay=bool(autoplay), **kwargs)  # checks first: no comm for a rejected widget

        # state shared with the worker thread; every write holds self._state
        self._state = threading.RLock()
        self._current: int | None = None
        self._queue: deque[int] = deque()
        self._proba: np.ndarray | None = None
        self._proba_classes: list = []
        self._guess_blocked: dict[int, int] = {}  # clip -> learner.version at its undo
        self._preq: list[tuple[int, bool, int]] = []  # (clip, guess was right, labels given before)
        self._label_times: list[float] = []
        self._points: dict[int, float] = {}  # labels the model used -> accuracy
        self._baseline_points: dict[int, float] = {}
        self._epoch = 0  # bumps on undo: results computed before it are dropped
        self._rng = np.random.default_rng(getattr(learner, "seed", 0))
        self._media = MediaCache(dataset, self.n_mels, capacity=4 * self.prefetch + 8)
        self._plotter = None
        self._plot_key: tuple | None = None
        self._baseline = None
        self._baseline_order: np.ndarray | None = None
        self._eval_model_version = -1

        # the worker
        self._work = threading.Condition()
        self._pending = True  # the first cycle queries the first clips
        self._busy = False
        self._closed = False
        self._auto_left = 0
        self._auto_stop = False

        self.demo = self._oracle is not None
        self.classes = [str(c) for c in learner.classes]
        self.message = "loading the first clips..."
        self._publish_progress()
        self.observe(self._on_command, names=["command"])
        self._thread = threading.Thread(target=self._run, name="alwidget-labeling", daemon=True)
        self._thread.start()

    @classmethod
    def resume(cls, journal: str | Path, learner, dataset, **kwargs: Any) -> LabelingWidget:
        """Continue a labelling session saved in ``journal`` (replayed into ``learner``).

        Parameters
        ----------
        journal : path
            The journal file of the earlier session.
        learner : ActiveLearner
            A fresh learner over the same pool (no labels of its own).
        dataset : AudioDataset
            The clips.
        **kwargs
            Other :class:`LabelingWidget` parameters.
        """
        return cls(learner, dataset, journal=journal, **kwargs)

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

    # ------------------------------------------------------------------ public API
    @property
    def current(self) -> int | None:
        """Pool index of the clip on screen (None while loading or when the pool is finished)."""
        return self._current

    @property
    def queue(self) -> tuple[int, ...]:
        """The next clips, in the order they will be shown."""
        with self._state:
            return tuple(self._queue)

    @property
    def curves(self) -> dict[str, tuple[list[int], list[float]]]:
        """The plotted curves: ``{name: (labels used, accuracy)}``.

        ``"active"``: accuracy of the learner's model on the eval set (or on
        the oracle-labelled pool); ``"random"``: the random-sampling baseline
        (demo mode); ``"prequential"``: share of the last ``window`` clips the
        model guessed right before they were labelled (without an eval set).
        """
        with self._state:
            out = {}
            if self._eval is not None:
                out["active"] = _xy(self._points)
            if self._oracle is not None:
                out["random"] = _xy(self._baseline_points)
            if self.eval_set is None:
                out["prequential"] = self._prequential()
            return out

    def label(self, name, clip: int | None = None) -> None:
        """Label the clip on screen ``name`` (as the class buttons do) and show the next one.

        ``clip`` (optional) names the clip meant; a label for a clip no
        longer on screen is ignored, so a double click never labels twice.
        """
        with self._state:
            self._label(name, clip)

    def skip(self, clip: int | None = None) -> None:
        """Skip the clip on screen and show the next one."""
        with self._state:
            self._skip(clip)

    def undo(self) -> None:
        """Revert the learner's last label or skip and bring that clip back on screen."""
        with self._state:
            self._undo()

    def add_class(self, name: str) -> None:
        """Add a class to the learner (and a button to the widget)."""
        with self._state:
            self._add_class(name)

    def auto_label(self, n: int) -> None:
        """Demo mode: label the next ``n`` clips from the oracle, in the background."""
        n = _positive_int(n, "n")
        if self._oracle is None:
            msg = "auto-labelling needs an oracle: create the widget with oracle=true_labels"
            raise InvalidInputError(msg)
        with self._state:
            with self._work:
                self._auto_left = n
                self._auto_stop = False
                self._work.notify_all()
            self.auto = {"running": True, "left": n, "done": 0}

    def stop_auto(self) -> None:
        """Stop a running :meth:`auto_label` after the current step."""
        with self._work:
            self._auto_stop = True
            self._work.notify_all()

    def refresh(self) -> None:
        """Retrain and re-query in the background (e.g. after labelling from code)."""
        self._request()

    def wait_idle(self, timeout: float | None = 60.0) -> bool:
        """Block until the background worker has nothing left to do.

        Returns True when idle, False if ``timeout`` seconds passed first.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._work:
            while (self._pending or self._busy or self._auto_left) and not self._closed:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._work.wait(remaining)
        return True

    def close(self) -> None:
        """Stop the background worker and close the widget."""
        work = getattr(self, "_work", None)
        if work is not None:
            with work:
                self._closed = True
                self._auto_stop = True
                work.notify_all()
        thread = getattr(self, "_thread", None)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)
        super().close()

    # ------------------------------------------------------------------ commands (kernel thread)
    def _on_command(self, change: dict) -> None:
        """Run a command sent by the front end (a key press or a click)."""
        cmd = change.get("new") or {}
        kind = cmd.get("kind")
        try:
            with self._state:
                if kind == "label":
                    self._label(cmd.get("value"), cmd.get("clip"))
                elif kind == "skip":
                    self._skip(cmd.get("clip"))
                elif kind == "undo":
                    self._undo()
                elif kind == "add_class":
                    self._add_class(cmd.get("value"))
                elif kind == "auto":
                    self.auto_label(cmd.get("value"))
                elif kind == "stop":
                    self.stop_auto()
                elif kind == "dismiss":
                    self.error = ""
                    self.message = ""
                else:
                    msg = f"unknown command {kind!r} from the front end"
                    raise InvalidInputError(msg)
        except Exception as exc:  # shown in the widget, kept in self.errors
            self._report(exc)

    def _busy_with_auto(self) -> bool:
        if self._auto_left:
            self.message = "auto-labelling is running: press stop first"
            return True
        return False

    def _on_screen(self, clip) -> int | None:
        """The clip on screen, or None (with a message) if ``clip`` names another one."""
        if self._current is None:
            self.message = "no clip on screen" if self.progress.get("open") else "the pool is finished"
            return None
        if clip is not None and int(clip) != self._current:
            self.message = f"ignored an action for clip {int(clip)}: it is no longer on screen"
            return None
        if not self._is_open(self._current):  # labelled or skipped from code meanwhile
            stale = self._current
            self._advance()
            self._publish_progress()
            self._request()
            self.message = f"clip {stale} was labelled or skipped elsewhere; here is the next one"
            return None
        return self._current

    def _is_open(self, i: int, unlabeled: np.ndarray | None = None) -> bool:
        """Whether clip ``i`` is neither labelled nor skipped."""
        if unlabeled is None:  # one clip on the click path: O(1), not a scan of the pool
            return self.learner.is_unlabeled(i)
        k = np.searchsorted(unlabeled, i)
        return bool(k < len(unlabeled) and unlabeled[k] == i)

    def _label(self, name, clip=None, *, auto: bool = False) -> None:
        if not auto and self._busy_with_auto():
            return
        i = self._on_screen(clip)
        if i is None:
            return
        cls = self._resolve_class(name)
        guess = self._model_guess(i)
        n_before = self.learner.n_labeled
        self.learner.teach(i, cls)
        if guess is not None:
            self._preq.append((i, guess == cls, n_before))
        self._label_times.append(time.time())
        self.message = ""
        self._after_action()

    def _skip(self, clip=None) -> None:
        if self._busy_with_auto():
            return
        i = self._on_screen(clip)
        if i is None:
            return
        self.learner.skip(i)
        self.message = ""
        self._after_action()

    def _undo(self) -> None:
        if self._busy_with_auto():
            return
        try:
            event = self.learner.undo()
        except NothingToUndoError:
            self.message = "nothing to undo"
            return
        self._epoch += 1
        back = [int(i) for i in event.indices]
        if event.kind == "teach":
            gone = set(back)
            self._preq = [r for r in self._preq if r[0] not in gone]
            if self._label_times:
                self._label_times.pop()
            n = self.learner.n_labeled
            self._points = {k: v for k, v in self._points.items() if k <= n}
            self._baseline_points = {k: v for k, v in self._baseline_points.items() if k <= n}
            for i in back:  # the model on hand was trained with these labels: no honest guess for them
                self._guess_blocked[i] = self.learner.version
        if back:
            if self._current is not None and self._current not in back:
                self._queue.appendleft(self._current)
            self._queue.extendleft(reversed(back[1:]))
            self._show(back[0])
        what = {"teach": "label", "skip": "skip"}.get(event.kind, event.kind)
        self.message = f"undid the {what} of clip {back[0]}" if back else f"undid {event.kind}"
        self._publish_progress()
        self._check_journal()
        self._request()

    def _add_class(self, name) -> None:
        text = "" if name is None else str(name).strip()
        if not text:
            self.message = "type a class name first"
            return
        self.learner.add_class(text)
        self.classes = [str(c) for c in self.learner.classes]
        k = len(self.classes)
        key = f" (key {k})" if k <= 9 else ""
        self.message = f"added class {text!r}{key}"
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
        self._check_journal()
        self._request()

    def _check_journal(self) -> None:
        problem = getattr(self.learner, "journal_error", None)
        if problem:
            self.error = f"journal: {problem}"
        elif self.error.startswith("journal: "):  # the disk accepts writes again
            self.error = ""

    def _report(self, exc: BaseException) -> None:
        """Show an error in the widget: expected ones as a message, others as an error line."""
        if isinstance(exc, AlwidgetError):
            self.message = str(exc)
            return
        self.errors.append("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        del self.errors[:-_MAX_ERRORS]
        self.error = f"{type(exc).__name__}: {exc} (full traceback in widget.errors[-1])"

    # ------------------------------------------------------------------ showing clips
    def _exclude(self) -> np.ndarray:
        """Clips never to queue: the one on screen and held-out ones."""
        parts = [np.array([] if self._current is None else [self._current], dtype=np.int64)]
        if self._eval is not None and self._eval.held_out:
            parts.append(self._eval.idx)
        return np.concatenate(parts)

    def _advance(self) -> None:
        """Show the next open clip of the queue (or a random one if the queue ran dry)."""
        unlabeled = self.learner.unlabeled_idx
        while self._queue:
            i = self._queue.popleft()
            if i != self._current and self._is_open(i, unlabeled):
                self._show(i)
                return
        candidates = np.setdiff1d(unlabeled, self._exclude(), assume_unique=True)
        if len(candidates) == 0:
            self._show(None)
            self.message = "the pool is finished: every clip is labelled or skipped"
            return
        self._show(int(self._rng.choice(candidates)))
        if self.learner.n_labeled:
            self.message = "picked a random clip: the next ones are still being chosen"

    def _show(self, i: int | None) -> None:
        """Put clip ``i`` (or nothing) on screen."""
        self._current = i
        if i is None:
            with self.hold_sync():
                self.clip, self.audio, self.spectrogram, self.guess = {}, b"", b"", []
            return
        info = {"index": i, "name": str(i), "id": "", "duration": 0.0, "n_mels": 0, "frames": 0}
        audio = spec = b""
        try:
            media = self._media.get(i)
        except Exception as exc:  # a clip that cannot be decoded is shown, with the reason
            self._report(exc)
            self.message = f"clip {i} cannot be played; skip it (s)"
        else:
            info.update(
                name=media.name, id=media.clip_id, duration=media.duration, n_mels=media.n_mels, frames=media.frames
            )
            audio, spec = media.wav, media.spectrogram
        with self.hold_sync():
            self.clip = info
            self.audio = audio
            self.spectrogram = spec
            self.guess = self._guess_list(i)

    def _model_guess(self, i: int):
        """The current model's best class for clip ``i``, or None (no model, or not honest)."""
        if self._proba is None or i in self._guess_blocked:
            return None
        row = self._proba[i]
        return self._proba_classes[int(np.argmax(row))]

    def _guess_list(self, i: int | None) -> list[dict]:
        if i is None or self._proba is None:
            return []
        row = self._proba[i]
        top = np.argsort(-row, kind="stable")[: self.top_k]
        return [{"label": str(self._proba_classes[k]), "p": round(float(row[k]), 4)} for k in top]

    def _publish_progress(self) -> None:
        learner = self.learner
        counts = learner.label_counts()
        n_eval = len(self._eval.idx) if self._eval is not None and self._eval.held_out else 0
        n_labeled = learner.n_labeled
        n_skipped = len(learner.skipped_idx)
        times = self._label_times[-_RATE_WINDOW:]
        rate = None
        if len(times) >= 2 and times[-1] > times[0]:
            rate = round((len(times) - 1) / (times[-1] - times[0]) * 60.0, 1)
        if learner.model_ is None:
            model = "no model yet"
        else:
            model = f"model v{learner.model_version_}, trained on {learner.n_labels_fit_} labels"
        self.progress = {
            "n_labeled": n_labeled,
            "n_skipped": n_skipped,
            "n_pool": learner.n_pool,
            "open": learner.n_pool - n_labeled - n_skipped - n_eval,
            "counts": {str(c): int(k) for c, k in counts.items()},
            "per_minute": rate,
            "model": model,
            "model_version": int(learner.model_version_),
            "n_labels_fit": int(learner.n_labels_fit_),
            "queued": len(self._queue),
        }

    # ------------------------------------------------------------------ the worker
    def _request(self) -> None:
        with self._work:
            self._pending = True
            self._work.notify_all()

    def _run(self) -> None:
        while True:
            with self._work:
                while not (self._pending or self._auto_left or self._closed):
                    self._busy = False
                    self._work.notify_all()
                    self._work.wait()
                if self._closed:
                    self._busy = False
                    self._work.notify_all()
                    return
                self._busy = True
                auto = self._auto_left > 0
                self._pending = False
            try:
                if auto:
                    self._auto_step()
                else:
                    self._cycle()
            except Exception as exc:  # the worker must survive and say what went wrong
                with self._state:
                    self._report(exc)
                with self._work:
                    self._auto_left = 0
                self._set_auto(running=False)
            finally:
                with self._work:
                    idle = not (self._pending or self._auto_left)
                if idle:
                    with self._state:
                        self.training = False

    def _cycle(self) -> None:
        """Retrain, re-score, re-query, decode the next clips and redraw the plot; publish the results."""
        learner = self.learner
        with self._state:
            start_version = learner.version
            epoch = self._epoch
            exclude = self._exclude()
            n_query = self.prefetch + (self._current is None)  # one more when the first clip is taken from it
            self.training = learner.n_labeled > 0
        proba, proba_classes = None, []
        if learner.n_labeled:
            try:
                proba = learner.predict_proba()
                proba_classes = learner.classes[: proba.shape[1]]
            except NotEnoughLabelsError:
                proba = None
        try:
            queue = [int(i) for i in learner.query(n_query, exclude=exclude)]
        except PoolExhaustedError:
            queue = []
        for i in queue:
            try:
                self._media.prefetch([i])
            except Exception:  # reported when the clip is shown
                continue
        self._evaluate(epoch)
        png = self._render_plot()
        with self._state:
            self._proba, self._proba_classes = proba, proba_classes
            self._guess_blocked = {i: v for i, v in self._guess_blocked.items() if v > start_version}
            self._queue = deque(i for i in queue if i != self._current)
            with self.hold_sync():
                if self._current is None or not self._is_open(self._current):
                    self._advance()
                    if self.message == "loading the first clips...":
                        self.message = ""
                else:
                    self.guess = self._guess_list(self._current)
                self.classes = [str(c) for c in learner.classes]
                self._publish_progress()
                if png is not None:
                    self.plot = png

    def _auto_step(self) -> None:
        """Demo mode: label the clip on screen from the oracle, then retrain (one step)."""
        with self._work:
            stop = self._auto_stop or self._closed
        if not stop:
            with self._state:
                i = self._current
                if i is None:
                    stop = True
                else:
                    truth = self._oracle[i]
                    if truth is None:
                        self.learner.skip(i)
                        self._after_action()
                    else:
                        if truth not in self.learner.classes:
                            self._add_class(truth)
                        self._label(truth, i, auto=True)
        if stop:
            with self._work:
                self._auto_left = 0
                self._auto_stop = False
                self._pending = False
            self._set_auto(running=False)
            self._cycle()
            return
        with self._work:
            self._pending = False
        self._cycle()
        with self._work:
            self._auto_left = max(self._auto_left - 1, 0)
            left = self._auto_left
        self._set_auto(running=left > 0, left=left, step=True)

    def _set_auto(self, *, running: bool, left: int = 0, step: bool = False) -> None:
        with self._state:
            done = self.auto.get("done", 0) + (1 if step else 0)
            self.auto = {"running": running, "left": left, "done": done}

    # ------------------------------------------------------------------ curves
    def _evaluate(self, epoch: int) -> None:
        """Add a point to the accuracy curve (and the random baseline) for a new model."""
        learner = self.learner
        if self._eval is None or learner.model_ is None or learner.model_version_ == self._eval_model_version:
            return
        ev = self._eval
        try:
            pred = learner.predict(ev.X) if ev.X is not None else learner.predict()[ev.idx]
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
            self._baseline_order = np.random.default_rng(getattr(learner, "seed", 0)).permutation(np.flatnonzero(known))
        order = self._baseline_order
        n = min(n, len(order))
        if self._baseline is None or self._baseline.n_labeled > n:
            classes = list(learner.classes)
            classes += [c for c in dict.fromkeys(self._oracle[order].tolist()) if c not in classes]
            self._baseline = ActiveLearner(
                np.array(learner.embeddings),  # a writable copy: torch warns on read-only arrays
                classes,
                strategy="random",
                model=learner.model,
                seed=getattr(learner, "seed", 0),
            )
        base = self._baseline
        if n > base.n_labeled:
            new = order[base.n_labeled : n]
            base.teach(new, list(self._oracle[new]))
        if base.n_labeled == 0:
            return None
        ev = self._eval
        pred = base.predict(ev.X) if ev.X is not None else base.predict()[ev.idx]
        return float(np.mean(pred == ev.y))

    def _prequential(self) -> tuple[list[int], list[float]]:
        xs, ys, flags = [], [], []
        for _, right, n_before in self._preq:
            flags.append(right)
            recent = flags[-self.window :]
            xs.append(n_before)
            ys.append(round(sum(recent) / len(recent), 4))
        return xs, ys

    def _render_plot(self) -> bytes | None:
        """PNG of the curves, or None when nothing changed since the last one."""
        curves = self.curves
        key = tuple((k, tuple(x), tuple(y)) for k, (x, y) in curves.items())
        if key == self._plot_key:
            return None
        if self._plotter is None:
            from alwidget._widget_plot import CurvePlot

            self._plotter = CurvePlot()
        strategy = self.learner.strategy if isinstance(self.learner.strategy, str) else "custom strategy"
        names = {
            "active": f"active learning ({strategy})",
            "random": "random sampling (baseline)",
            "prequential": f"prequential (guess before label, last {self.window})",
        }
        if self._eval is not None:
            title = self._eval.name
            if "prequential" in curves:
                title += " and prequential accuracy"
        else:
            title = f"prequential accuracy: was the model's guess right, last {self.window} labels"
        png = self._plotter.render(curves, names, title, "the curve appears after the first labels")
        self._plot_key = key
        return png


def _xy(points: dict[int, float]) -> tuple[list[int], list[float]]:
    xs = sorted(points)
    return xs, [points[x] for x in xs]


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        msg = f"{name} must be a positive integer, got {value!r}"
        raise InvalidInputError(msg)
    return int(value)
