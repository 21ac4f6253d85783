"""The action rules of a labelling session: label, skip, undo, add a class; the worker's cycle and auto step.

:class:`ActionRules` is the part of :class:`~alwidget.session.LabelingSession`
that decides what an action does to the learner and to what is shown next;
the session's public API and its table of front-end actions call it. It
works on the session's parts: ``_store`` (the view state), ``_clips`` (a
:class:`~alwidget.session._queue.ClipQueue`), ``_curves`` (a
:class:`~alwidget.session.curves.Curves`) and ``_worker`` (a
:class:`~alwidget.session._worker.Worker`).
"""

from __future__ import annotations

import time
import traceback
from collections import deque

from alwidget._validation import check_new_class
from alwidget.errors import (
    AlwidgetError,
    InvalidInputError,
    JournalLockedError,
    NotEnoughLabelsError,
    NothingToUndoError,
    PoolExhaustedError,
)
from alwidget.session._queue import a_class
from alwidget.session._worker import Job
from alwidget.session.curves import Guess
from alwidget.session.media import clip_name

__all__ = ["ActionRules", "ANSWERS"]

_LOADING = "loading the first clips..."
ANSWERS = ("yes", "no", "unsure")  # the answers to "is this a <class>?" in a detection review
_MAX_ERRORS = 20  # full tracebacks kept in session.errors


class ActionRules:
    """What each action does (mixed into LabelingSession; see the module docstring)."""

    def _clip_name(self, i) -> str:
        """Clip ``i`` as the user knows it: its file name, ``file@start`` for a window."""
        return clip_name(self.dataset, int(i))

    def _quoted(self, i) -> str:
        """Clip ``i``'s name in quotes, for the status line: ``'dog_03.wav'``."""
        return f"'{self._clip_name(i)}'"

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
        if self._worker.auto_left:
            self._set(message="auto-labelling is running: press stop first")
            return True
        return False

    def _on_screen(self, clip) -> int | None:
        """The clip on screen, or None (with a message) if ``clip`` names another one."""
        if self._clips.current is None:
            open_ = self._store["progress"].get("open")
            self._set(message="no clip on screen" if open_ else "the pool is finished")
            return None
        if clip is not None and int(clip) != self._clips.current:
            self._set(message=f"ignored an action for {self._clip_name(clip)}: it is no longer on screen")
            return None
        if not self._clips.valid(self._clips.current, self._clips.current_mode):  # labelled or skipped from code
            stale = self._clips.current
            self._clips.advance()
            self._clips.publish_progress()
            self._worker.wake()
            self._set(message=f"{self._clip_name(stale)} was labelled or skipped elsewhere; here is the next one")
            return None
        return self._clips.current

    def _label(self, name, clip=None, *, auto: bool = False) -> None:
        if not auto and self._busy_with_auto():
            return
        i = self._on_screen(clip)
        if i is None:
            return
        cls = self._resolve_class(name)
        if self._clips.in_label_review():
            self._review_answer(i, cls)
            return
        guess = self._clips.model_guess(i)
        n_before = self.learner.n_labeled
        mode = self._clips.current_mode
        audit = mode == "active" and self._clips.is_audit(i, self._clips.n_done())
        try:
            self.learner.teach(i, cls, **_mode_kw(mode))
        except JournalLockedError as exc:  # another session took the journal over
            self._block(exc)
            return
        self._curves.record_label(
            None if guess is None else Guess(i, guess == cls, n_before, audit),
            auto=auto,
            now=time.time(),
            audit_clip=i if audit else None,
        )
        self._set(message="" if auto else f"saved {self._quoted(i)} as {cls}")
        if auto:
            with self._worker.cond:
                done = self._worker.auto_total - self._worker.auto_left + 1
                left = max(self._worker.auto_left - 1, 0)
            self._set(auto={"running": left > 0, "left": left, "done": done})
        self._after_action()

    def _review_answer(self, i: int, cls) -> None:
        """Label review: the same class confirms the label, another one relabels the clip."""
        given = self.learner.label_of(i)
        if cls == given:
            self._set(message=f"kept the label {given} of {self._quoted(i)}")
        else:
            try:
                self.learner.relabel(i, cls, mode="review")
            except JournalLockedError as exc:
                self._block(exc)
                return
            self._set(message=f"relabelled {self._quoted(i)}: {given} \u2192 {cls}")
        self._after_action()

    def _skip(self, clip=None, *, auto: bool = False, unsure: bool = False) -> None:
        if not auto and self._busy_with_auto():
            return
        i = self._on_screen(clip)
        if i is None:
            return
        if self._clips.in_label_review() and not unsure:  # leave the label
            self._set(message=f"left the label of {self._quoted(i)} as it is")
            self._after_action()
            return
        if self._clips.in_detection_review() and not unsure:  # no answer: a journalled skip would read as "no"
            self._set(message=f"left {self._quoted(i)} unanswered: it stays open")
            self._after_action()
            return
        try:
            if unsure:
                self.learner.unsure(i, **_mode_kw(self._clips.current_mode))
            else:
                self.learner.skip(i, **_mode_kw(self._clips.current_mode))
        except JournalLockedError as exc:
            self._block(exc)
            return
        self._set(message=f"{self._quoted(i)} marked unsure" if unsure else f"skipped {self._quoted(i)}")
        self._after_action()

    def _act_search(self, cmd: dict) -> None:
        """Find more like this: search by the clip the command names (the one on screen)."""
        clip = cmd.get("clip", cmd.get("value"))
        if clip is None:
            clip = self._clips.current
        if clip is None:
            self._set(message="no clip on screen to search by")
        else:
            self.search(int(clip))

    def _act_answer(self, cmd: dict) -> None:
        self._answer(cmd.get("value"), cmd.get("clip"))

    def _answer(self, value, clip=None) -> None:
        """Detection review: "yes" labels the clip the reviewed class, "no" records that it is not, "unsure"."""
        if value not in ANSWERS:
            msg = f"an answer is one of {ANSWERS}, got {value!r}"
            raise InvalidInputError(msg)
        if value == "unsure":
            self._skip(clip, unsure=True)
            return
        if not self._clips.in_detection_review():
            cls = self._clips.detect["class"] if self._clips.detect is not None else None
            what = f"is this {a_class(cls)}?" if cls is not None else "is this a <class>?"
            msg = (
                f"{value!r} answers {what!r} in a detection review, which is not on screen: "
                "start one with review_detections(name) ('check detections'), or label with a class"
            )
            raise InvalidInputError(msg)
        cls = self._clips.detect["class"]
        if value == "yes":
            self._label(cls, clip)
            return
        if self._busy_with_auto():
            return
        i = self._on_screen(clip)
        if i is None:
            return
        try:  # "no": journalled as a skip found in review mode; the detection counts read it as "no"
            self.learner.skip(i, mode="review")
        except JournalLockedError as exc:
            self._block(exc)
            return
        self._set(message=f"{self._quoted(i)}: not {a_class(cls)} (u undoes it; then a class key labels it)")
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
        self._curves.epoch += 1
        back = [int(i) for i in event.indices]
        if event.kind == "teach":
            self._curves.undo_teach(back, self.learner.n_labeled)
            for i in back:  # the model on hand was trained with these labels: no honest guess for them
                self._clips.guess_blocked[i] = self.learner.version
        if back:
            clips = self._clips
            if clips.current is not None and clips.current not in back:
                (clips.results if clips.current_mode != "active" else clips.queue).appendleft(clips.current)
            searching = event.mode == self.mode != "active"  # a result of this search or review comes back
            if not searching and self.mode == "active" and self._label_review_answer(event):
                # an answer of a label review that has ended (a relabel, or an "unsure" that withdrew a
                # label): the clip comes back on screen in a label review, with its label, as undo promises
                self._clips.review_kind, self._clips.detect = "labels", None
                self._clips.results = deque()
                self._clips.search_total = len(back)
                self._clips.search_query = "the undone review answer"
                self._set(mode="review")
                searching = True
            (self._clips.results if searching else self._clips.queue).extendleft(reversed(back[1:]))
            audit = not searching and self._clips.is_audit(back[0], self._clips.n_done())
            self._show(back[0], audit=audit, mode=self.mode if searching else "active")
        what = {"teach": "label", "skip": "skip", "unsure": '"unsure" answer'}.get(event.kind, event.kind)
        self._set(message=f"undid the {what} of {self._quoted(back[0])}" if back else f"undid {event.kind}")
        self._clips.publish_progress()
        self._publish_plot()
        self._check_journal()
        self._worker.wake()

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
        check_new_class(text, self.learner.classes)
        try:
            self.learner.add_class(text)
        except JournalLockedError as exc:
            self._block(exc)
            return
        k = len(self.learner.classes)
        key = f" (key {k})" if k <= 9 else " (press / and type its name)"
        self._set(classes=[str(c) for c in self.learner.classes], message=f"added class {text!r}{key}")
        self._clips.publish_progress()
        self._check_journal()
        self._worker.wake()

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
        self._clips.advance()
        self._clips.publish_progress()
        self._publish_plot()
        self._check_journal()
        self._worker.wake()

    def _block(self, exc: BaseException) -> None:
        """The journal was taken over by another session: refuse every further action, say why."""
        text = str(exc) or "this session's journal was taken over by another session"
        if "reload" not in text and "re-run" not in text:
            text += " (this page or cell is stale: use the newest one, or re-run the cell to take the journal back)"
        with self._worker.cond:
            self._worker.auto_left = 0
        self._set(blocked=text, error=text, message="", auto=dict(self._store["auto"], running=False, left=0))

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

    # ------------------------------------------------------------------ the worker
    def _run_job(self, job: Job) -> None:
        self._jobs[type(job)](job)

    def _on_job_error(self, exc: BaseException) -> None:
        with self._batch():
            self._report(exc)
        self._set_auto_stopped()

    def _on_idle(self) -> None:
        with self._batch():
            self._set(training=False)

    def _cycle(self) -> None:
        """Retrain, re-score, re-query, decode the next clips; publish the results."""
        learner = self.learner
        with self._batch():
            start_version = learner.version
            epoch = self._curves.epoch
            exclude = self._clips.exclude()
            n_query = self.prefetch + (self._clips.current is None)  # one more when the first clip is taken from it
            self._set(training=learner.n_labeled > 0)
        if learner.n_labeled:
            try:  # fit on the new labels (and score the clip on screen: its guess); never the whole large pool
                learner.candidate_proba([] if self._clips.current is None else [self._clips.current])
            except NotEnoughLabelsError:
                pass
        try:
            queue = [int(i) for i in learner.query(n_query, exclude=exclude)]
        except PoolExhaustedError:
            queue = []
        self._clips.prefetch(queue)
        self._evaluate(epoch)
        with self._batch():
            self._clips.guess_blocked = {i: v for i, v in self._clips.guess_blocked.items() if v > start_version}
            self._clips.queue = deque(i for i in queue if i != self._clips.current)
            if self._clips.current is None or not self._clips.valid(self._clips.current, self._clips.current_mode):
                self._clips.advance()
                if self.message == _LOADING:
                    self._set(message="")
            else:
                self._set(guess=self._clips.guess_list(self._clips.current))
            self._set(classes=[str(c) for c in learner.classes])
            self._clips.publish_progress()
            self._publish_plot()

    def _auto_step(self) -> None:
        """Demo mode: label the clip on screen from the oracle, then retrain (one step)."""
        with self._worker.cond:
            stop = self._worker.auto_stop or self._worker.closed
        if not stop:
            with self._batch():
                i = self._clips.current
                if i is None or self.blocked:
                    stop = True
                else:
                    truth = self._oracle[i]
                    if truth is None:
                        self._skip(i, auto=True)
                        with self._worker.cond:
                            left = max(self._worker.auto_left - 1, 0)
                        self._set(auto={"running": left > 0, "left": left, "done": self._worker.auto_total - left})
                    else:
                        if truth not in self.learner.classes:
                            self._add_class(truth)
                        self._label(truth, i, auto=True)
        if stop:
            with self._worker.cond:
                self._worker.auto_left = 0
                self._worker.auto_stop = False
                self._worker.pending = False
            self._set_auto_stopped()
            self._cycle()
            return
        with self._worker.cond:
            self._worker.pending = False
            self._worker.auto_left = max(self._worker.auto_left - 1, 0)
        self._cycle()

    def _set_auto_stopped(self) -> None:
        with self._batch():
            self._set(auto=dict(self._store["auto"], running=False, left=0))


def _mode_kw(mode: str) -> dict:
    """``mode=`` for teach / skip, left out for active labels (learners from before modes keep working)."""
    return {} if mode == "active" else {"mode": mode}
