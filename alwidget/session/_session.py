"""LabelingSession: the public API, the table of front-end actions and the action rules.

The session's other jobs live beside it: the observable state in
:mod:`._store`, what is shown next in :mod:`._queue`, the worker thread and
its typed jobs in :mod:`._worker`, and the audit plan and accuracy curves in
:mod:`.curves`. Imports run one way: this module uses them, they never use it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from alwidget.errors import AlwidgetWarning, InvalidInputError
from alwidget.session._queue import AudioBytes, ClipQueue, describe
from alwidget.session._rules import _LOADING, ActionRules
from alwidget.session._store import Store
from alwidget.session._worker import (
    AuditEstimate,
    AutoStep,
    Cycle,
    DetectionReview,
    LabelReview,
    Rebuild,
    Search,
    Worker,
)
from alwidget.session.curves import Curves, check_eval_set, check_oracle
from alwidget.session.media import MediaCache

__all__ = ["LabelingSession", "MODES"]

MODES = ("active", "search", "review")
_SEARCH_N = 20  # results of one search by example


class LabelingSession(ActionRules):
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
        Recent labels a point of the prequential curve is averaged over.
    audit_rate : float, default 0.1
        Share of the clips shown that are drawn uniformly at random from the
        unlabelled pool (audit clips), to estimate accuracy honestly when
        there is no ``eval_set``; 0 disables auditing. The estimate is
        shown once 8 audit clips are labelled (see :attr:`curves`).
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
        _hint_views(learner, dataset)
        self._oracle = check_oracle(oracle, learner.n_pool)
        self._eval = check_eval_set(eval_set, self._oracle, learner)
        self._seed = int(getattr(learner, "seed", 0))
        if journal is not None:
            _open_journal(learner, journal)

        self._store = Store(self._keep_traceback, mode=mode, demo=self._oracle is not None)
        # audit clips whenever there is no test set; in demo mode the true accuracy on the pool is plotted beside
        # the estimate, which shows how well the estimate tracks it
        self._curves = Curves(
            learner, oracle=self._oracle, eval_=self._eval, seed=self._seed,
            auditing=eval_set is None and self.audit_rate > 0, audit_rate=self.audit_rate, window=self.window,
            eval_set_given=eval_set is not None, lock=self._store.lock,
        )  # fmt: skip
        media = MediaCache(dataset, self.n_mels, capacity=4 * self.prefetch + 8, context=context)
        self._clips = ClipQueue(
            learner, dataset, self._store, self._curves, eval_=self._eval, seed=self._seed, media=media,
            top_k=self.top_k, prefetch=self.prefetch, report=self._report,
        )  # fmt: skip
        self._n_history0 = len(learner.history)  # events replayed from a journal: rebuilt in the background
        self._worker = Worker(self._run_job, self._on_job_error, self._on_idle, rebuild=self._n_history0 > 0)
        self._jobs: dict[type, Callable[[Any], None]] = {
            Cycle: lambda job: self._cycle(),
            AutoStep: lambda job: self._auto_step(),
            Rebuild: lambda job: self._rebuild_curves(),
            AuditEstimate: lambda job: self._estimate_accuracy(),
            Search: lambda job: self._clips.run_search(job.query, job.n, job.description),
            LabelReview: lambda job: self._clips.run_label_review(job.n),
            DetectionReview: lambda job: self._clips.run_detection_review(
                job.cls, job.per_bin, job.n_bins, job.top, job.threshold
            ),
        }
        with self._batch():
            self._set(classes=[str(c) for c in learner.classes], message=_LOADING, credits=_credits(dataset))
            self._clips.publish_progress()
            self._publish_plot()
            if journal is not None:  # a detection review saved beside the journal: its report, and its clips left
                self._clips.resume_review(journal)
        if start:
            self.start()

    def start(self) -> None:
        """Start the background worker (done by the constructor unless ``start=False``)."""
        self._worker.start()

    # ------------------------------------------------------------------ observable state
    def snapshot(self) -> dict[str, Any]:
        """The whole state a front end shows, as ``{field: value}`` (see ``FIELDS``)."""
        return self._store.snapshot()

    def __getitem__(self, field: str) -> Any:
        return self._store[field]

    def on_change(self, callback: Callable[[dict], None]) -> Callable[[], None]:
        """Call ``callback(changes)`` with ``{field: new value}`` after every change; returns an unsubscribe function.

        Callbacks run in the thread that made the change (the caller's or the
        background worker's), with the session's lock held: keep them short.
        """
        return self._store.on_change(callback)

    def _batch(self):
        """Group changes: listeners hear about them once, at the end."""
        return self._store.batch()

    def _set(self, **fields: Any) -> None:
        self._store.set(**fields)

    def _show(self, i: int | None, *, audit: bool = False, mode: str = "active") -> None:
        self._clips.show(i, audit=audit, mode=mode)

    # read by tests and when debugging
    _busy = property(lambda self: self._worker.busy)
    _current_mode = property(lambda self: self._clips.current_mode)
    _detect = property(lambda self: self._clips.detect)
    _baseline = property(lambda self: self._curves.baseline)

    @property
    def mode(self) -> str:
        """What the session shows next: ``"active"`` (the learner's queries) or ``"search"`` (search results)."""
        return self._store["mode"]

    @property
    def results(self) -> tuple[int, ...]:
        """Search results still to show after the clip on screen (search mode)."""
        with self._store.lock:
            return tuple(self._clips.results)

    @property
    def message(self) -> str:
        return self._store["message"]

    @property
    def error(self) -> str:
        return self._store["error"]

    @property
    def blocked(self) -> str:
        """Why labelling is refused (the journal was taken over elsewhere), or ``""``."""
        return self._store["blocked"]

    # ------------------------------------------------------------------ public API
    @property
    def current(self) -> int | None:
        """Pool index of the clip on screen (None while loading or when the pool is finished)."""
        return self._clips.current

    @property
    def current_is_audit(self) -> bool:
        """Whether the clip on screen is an audit clip (drawn at random from the pool)."""
        return self._clips.current_audit

    @property
    def queue(self) -> tuple[int, ...]:
        """The next clips, in the order they will be shown."""
        with self._store.lock:
            return tuple(self._clips.queue)

    @property
    def curves(self) -> dict[str, tuple[list[int], list[float]]]:
        """The accuracy curves: ``{name: (labels used, accuracy)}``.

        ``"active"``: accuracy of the learner's model on the eval set (or on
        the oracle-labelled pool); ``"random"``: the random-sampling baseline
        (demo mode); ``"audit"`` (without an eval set): the estimated accuracy
        of the model trained on that many labels, on clips of the pool it has
        not seen, from the audit clips labelled so far, each scored by a model
        of the same kind trained on all the other labels (cross-fitting, in
        the background after each retraining; slightly low, as those models
        have a few labels fewer). No point before 8 audit clips are
        labelled; see :attr:`audit_interval` for the 95% interval.
        ``"prequential"`` (without an eval set): share of the last
        ``window`` clips the model guessed right before they were labelled.
        The clips asked for are the hardest ones, so this is *not* an
        estimate of accuracy and is not plotted.
        """
        return self._curves.curves()

    @property
    def audit_interval(self) -> tuple[list[int], list[float], list[float]]:
        """The audit curve's 95% Wilson interval: ``(labels used, low, high)``."""
        return self._curves.audit_interval()

    def plot_curves(self, ax=None):
        """Draw the plot the front end shows with matplotlib (e.g. to keep it in a notebook); returns the axes."""
        from alwidget.session.plot import draw_payload

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

    def answer(self, value: str, clip: int | None = None) -> None:
        """Answer "is this a <class>?" in a detection review (:meth:`review_detections`); show the next clip.

        ``"yes"`` labels the clip the reviewed class; ``"no"`` records that it
        is not (a skip in mode ``"review"``; press its class instead to label
        it); ``"unsure"`` as :meth:`unsure`. Journalled before the call
        returns; :meth:`undo` reverts it. Raises InvalidInputError for another
        ``value``, or for yes / no outside a detection review.
        """
        with self._batch():
            self._answer(value, clip)

    def undo(self) -> None:
        """Revert the learner's last label or skip and bring that clip back on screen."""
        with self._batch():
            self._undo()

    def add_class(self, name: str) -> None:
        """Add a class to the learner (and a button to the front end).

        A name that only spells an existing class another way (case, spaces,
        punctuation, a plural "s": ``"Speech"`` beside ``"speech"``) raises
        InvalidInputError naming that class.
        """
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
            self._worker.start_auto(n)
            self._set(auto={"running": True, "left": n, "done": 0})

    def stop_auto(self) -> None:
        """Stop a running :meth:`auto_label` after the current step."""
        self._worker.stop_auto()

    def search(self, query, n: int | None = None) -> None:
        """Find the clips most like ``query`` and show them next (search mode), in the background.

        ``query`` is anything :meth:`ActiveLearner.similar` takes: a pool
        index (e.g. :attr:`current`), several indices, an embedding, an audio
        file or ``(waveform, sr)`` (embedded with ``dataset.embed_query``).
        Labelled and skipped clips (and the query clips) are left out. The
        first result replaces the clip on screen (a query of the learner's
        goes back to its queue): every clip under the search banner is a
        result, labelled with mode ``"search"``. When the results run out, or
        after ``set_mode("active")``, the learner's queries come back.
        """
        n = self.search_n if n is None else _positive_int(n, "n")
        with self._batch():
            if self._refuse():
                return
            self._queue_search(query, n, describe(query, self.dataset))

    def search_audio(self, data: bytes, name: str = "query") -> None:
        """Search with an encoded audio file's bytes (e.g. uploaded from the browser); see :meth:`search`.

        Bytes that are not audio raise InvalidInputError at once, naming the
        file ``name``; a file that fails later, when decoded in the
        background, is named in the ``error`` field.
        """
        if not isinstance(data, (bytes, bytearray, memoryview)) or len(data) == 0:
            size = len(data) if hasattr(data, "__len__") else "?"
            msg = f"search_audio needs the bytes of an audio file, got {type(data).__name__} of length {size}"
            raise InvalidInputError(msg)
        query = AudioBytes(bytes(data), str(name))
        query.check()
        with self._batch():
            if self._refuse():
                return
            self._queue_search(query, self.search_n, f"file {name}")

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
            self._worker.submit(LabelReview(n))
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
        the seed and the labels, never on the clip on screen. Answer "is this
        a ``name``?" with :meth:`answer` (keys y, n, ?), or press the clip's
        class: a label (mode ``"review"``), *yes* when it is ``name``, *no*
        otherwise; "unsure" is left out, skip journals nothing. The counts are
        read from the learner's labels (a replayed journal gives the same).

        The ``search`` field then holds each bin's answers and precision
        (95% Wilson interval), and two figures with 95% intervals
        (:func:`alwidget.review.detection_estimate`): ``"precision"``, the
        precision of the detections, and ``"density"``, the call density
        (the share of all those clips that hold ``name``). After the last
        clip the session stays in review mode with the final figures
        (``"done": True``) until another mode starts;
        :meth:`detection_report` exports them. With a ``journal``, the sample
        is saved beside it (``<journal>.review.json``): after a restart the
        session resumes the review on its clips left, and the report.
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
            self._worker.submit(DetectionReview(cls, per_bin, n_bins, top, threshold))
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

        detect = self._clips.detect_last
        if detect is None:
            msg = "no detection review yet: start one with review_detections(name)"
            raise InvalidInputError(msg)
        table = detection_table(
            detect["bins"],
            self._clips.detection_counts(detect),
            name=detect["class"],
            seed=detect["seed"],
            as_frame=as_frame,
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
        self._worker.submit(Search(query, n, description))
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
        self._clips.results.clear()
        self._set(mode="active", search={}, message="back to active learning")
        if self._clips.current_mode != "active":  # the result on screen gives way to the learner's next query
            self._clips.advance()
        self._clips.publish_progress()
        self._worker.wake()

    def refresh(self) -> None:
        """Retrain and re-query in the background (e.g. after labelling from code)."""
        self._worker.wake()

    def dismiss(self) -> None:
        """Clear the message and the error line (not a blocked state)."""
        with self._batch():
            self._set(error=self.blocked, message="")

    # the front-end actions: kind -> the method that runs it (handle looks it up here)
    ACTIONS = {
        "label": "_act_label", "skip": "_act_skip", "unsure": "_act_unsure", "undo": "_act_undo",
        "add_class": "_act_add_class", "auto": "_act_auto", "stop": "_act_stop", "dismiss": "_act_dismiss",
        "search": "_act_search", "mode": "_act_mode", "review": "_act_review", "answer": "_act_answer",
    }  # fmt: skip

    def handle(self, command: dict) -> None:
        """Run an action as a front end sends it: ``{"kind": ..., "value": ..., "clip": ...}``.

        Kinds: ``label``, ``skip``, ``unsure``, ``undo``, ``add_class``, ``auto``, ``stop``, ``dismiss``,
        ``search`` (``clip``: find more like it), ``mode`` (``value``: ``"active"`` leaves a search),
        ``review`` (``value``: ``"labels"`` or a class whose detections to check) and ``answer``
        (``value``: see :meth:`answer`). Other keys (such as ``view``) are ignored. Errors are shown in
        the state, never raised.
        """
        cmd = command or {}
        kind = cmd.get("kind")
        try:
            with self._batch():
                name = self.ACTIONS.get(kind) if isinstance(kind, str) else None
                if name is None:
                    msg = f"unknown command {kind!r} from the front end"
                    raise InvalidInputError(msg)
                getattr(self, name)(cmd)
        except Exception as exc:  # shown in the state, kept in self.errors
            with self._batch():
                self._report(exc)

    def _act_label(self, cmd: dict) -> None:
        self._label(cmd.get("value"), cmd.get("clip"))

    def _act_skip(self, cmd: dict) -> None:
        self._skip(cmd.get("clip"))

    def _act_unsure(self, cmd: dict) -> None:
        self._skip(cmd.get("clip"), unsure=True)

    def _act_undo(self, cmd: dict) -> None:
        self._undo()

    def _act_add_class(self, cmd: dict) -> None:
        self._add_class(cmd.get("value"))

    def _act_auto(self, cmd: dict) -> None:
        self.auto_label(cmd.get("value"))

    def _act_stop(self, cmd: dict) -> None:
        self.stop_auto()

    def _act_dismiss(self, cmd: dict) -> None:
        self.dismiss()

    def _act_mode(self, cmd: dict) -> None:
        self._set_mode(cmd.get("value"))

    def _act_review(self, cmd: dict) -> None:
        value = cmd.get("value")
        self.review_labels() if value in (None, "labels") else self.review_detections(value)

    def wait_idle(self, timeout: float | None = 60.0) -> bool:
        """Block until the background worker has nothing left to do.

        Returns True when idle, False if ``timeout`` seconds passed first.
        """
        return self._worker.wait_idle(timeout)

    def close(self) -> None:
        """Stop the background worker (the learner and its journal stay open)."""
        self._worker.close()
        self._store.clear_listeners()

    # ------------------------------------------------------------------ curves
    def _evaluate(self, epoch: int) -> None:
        self._curves.evaluate(epoch)
        if self._curves.wants_estimate():  # after the cycle, unless newer labels wait
            self._worker.request_estimate()

    def _estimate_accuracy(self) -> None:
        """Worker: the audit estimate of the current model (see :meth:`Curves.estimate`); given up for new labels."""
        if self._curves.estimate(stop=self._worker.newer_work):
            with self._batch():
                self._clips.publish_progress()
                self._publish_plot()

    def _rebuild_curves(self) -> None:
        """Resume: recompute the curves of the events replayed from the journal (see :meth:`Curves.rebuild`)."""

        def closed() -> bool:
            with self._worker.cond:
                return self._worker.closed

        rebuilt = self._curves.rebuild(self._n_history0, closed)
        if rebuilt is None:
            return
        with self._batch():
            self._curves.merge(rebuilt, is_open=self._clips.is_open)
            self._publish_plot()
        if self._curves.wants_estimate():  # the newest model's point, from the audit clips found
            self._worker.request_estimate()

    def _publish_plot(self) -> None:
        """Send the plot's data (drawn by the front end) when a curve changed."""
        plot = self._curves.plot()
        if plot is not None:
            self._set(plot=plot)


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


def _credits(dataset) -> str:
    """Licence and attribution of the embedder behind the pool's rows (``dataset.last_embedder``), or ''."""
    return str(getattr(getattr(dataset, "last_embedder", None), "credits", "") or "")


def _hint_views(learner, dataset) -> None:
    """Warn when the pool's rows hold several views (``dataset.last_views``) that the linear model fits as one."""
    from alwidget._learner_checks import check_model_views

    if learner.model != "linear" or learner.model_views is not None:
        return
    views = check_model_views(None, dataset, learner.embeddings.shape[1])  # as ActiveLearner(dataset=) would
    if views is not None:
        msg = (
            f"the pool's rows hold {len(views[0])} feature sets side by side (widths {views[0]}), "
            "and the learner fits one model on all of them, which learned more slowly in the benchmarks; "
            "build it with ActiveLearner(X, classes, dataset=ds) to fit one model per set"
        )
        warnings.warn(msg, AlwidgetWarning, stacklevel=4)
