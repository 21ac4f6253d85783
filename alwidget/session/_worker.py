"""The session's background worker: one thread that runs typed jobs, one at a time.

A job is a small frozen dataclass saying what to do; the session runs it
(``run_job``). Searches and reviews are requested explicitly
(:meth:`Worker.submit`); a retraining cycle, an auto-labelling step and the
curve rebuild on resume are chosen by the worker from its flags, in that
order of priority: a request first, then a pending cycle, then an audit
estimate asked for by a cycle, then an auto step, then the rebuild when
nothing else waits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Union

__all__ = ["AuditEstimate", "AutoStep", "Cycle", "DetectionReview", "Job", "LabelReview", "Rebuild", "Search", "Worker"]


@dataclass(frozen=True)
class Cycle:
    """Retrain, re-score, re-query and decode the next clips."""


@dataclass(frozen=True)
class AutoStep:
    """Demo mode: label the clip on screen from the oracle, then retrain."""


@dataclass(frozen=True)
class AuditEstimate:
    """Estimate the current model's accuracy from the audit clips (cross-fitted; see ``curves``)."""


@dataclass(frozen=True)
class Rebuild:
    """Resume: recompute the curves of the events replayed from the journal."""


@dataclass(frozen=True)
class Search:
    """Find the clips most like ``query`` and show them next."""

    query: Any
    n: int
    description: str


@dataclass(frozen=True)
class LabelReview:
    """Order the labels given so far by how doubtful they are, and show them (``n``: at most that many)."""

    n: int | None


@dataclass(frozen=True)
class DetectionReview:
    """Bin the clips by their score for ``cls`` and show a sample of each bin."""

    cls: Any
    per_bin: int
    n_bins: int
    top: int
    threshold: float | None = None


Job = Union[Cycle, AutoStep, AuditEstimate, Rebuild, Search, LabelReview, DetectionReview]  # noqa: UP007
Request = Union[Search, LabelReview, DetectionReview]  # noqa: UP007


class Worker:
    """The thread and its flags; every flag is read and written holding :attr:`cond`.

    ``run_job(job)`` runs one job; ``on_error(exc)`` hears of a job that
    raised (auto-labelling is stopped first); ``on_idle()`` is called when a
    job leaves nothing to do.
    """

    def __init__(self, run_job: Callable[[Job], None], on_error: Callable[[BaseException], None],
                 on_idle: Callable[[], None], *, rebuild: bool):  # fmt: skip
        self.cond = threading.Condition()
        self.pending = True  # the first cycle queries the first clips
        self.busy = False
        self.closed = False
        self.rebuild = rebuild
        self.estimate = False  # an audit estimate is due (set by a cycle that saw new labels)
        self.request: Request | None = None
        self.auto_left = 0
        self.auto_total = 0
        self.auto_stop = False
        self._run_job, self._on_error, self._on_idle = run_job, on_error, on_idle
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="alwidget-labeling", daemon=True)
            self._thread.start()

    # ------------------------------------------------------------------ requests
    def wake(self) -> None:
        """Run a cycle soon (retrain and re-query)."""
        with self.cond:
            self.pending = True
            self.cond.notify_all()

    def submit(self, job: Request) -> None:
        """Run a search or review next (a newer request replaces one not started yet)."""
        with self.cond:
            self.request = job
            self.cond.notify_all()

    def request_estimate(self) -> None:
        """Run an audit estimate once no cycle is pending."""
        with self.cond:
            self.estimate = True
            self.cond.notify_all()

    def newer_work(self) -> bool:
        """Whether the worker is closing or a cycle or request waits (an audit estimate gives way to them)."""
        with self.cond:
            return self.closed or self.pending or self.request is not None

    def start_auto(self, n: int) -> None:
        with self.cond:
            self.auto_left = n
            self.auto_total = n
            self.auto_stop = False
            self.cond.notify_all()

    def stop_auto(self) -> None:
        with self.cond:
            self.auto_stop = True
            self.cond.notify_all()

    def _waiting(self) -> bool:
        return bool(self.pending or self.auto_left or self.rebuild or self.request or self.estimate)

    # ------------------------------------------------------------------ the thread
    def _next(self) -> Job | None:
        """The next job (None: closed), waiting for one; marks the worker busy."""
        with self.cond:
            while not (self._waiting() or self.closed):
                self.busy = False
                self.cond.notify_all()
                self.cond.wait()
            if self.closed:
                self.busy = False
                self.cond.notify_all()
                return None
            self.busy = True
            request, self.request = self.request, None
            if request is not None:
                return request
            if self.estimate and not self.pending:
                self.estimate = False
                return AuditEstimate()
            auto = self.auto_left > 0
            rebuild = self.rebuild and not (self.pending or auto)
            self.pending = False
            return Rebuild() if rebuild else AutoStep() if auto else Cycle()

    def _loop(self) -> None:
        while True:
            job = self._next()
            if job is None:
                return
            try:
                self._run_job(job)
            except Exception as exc:  # the worker must survive and say what went wrong
                with self.cond:
                    self.auto_left = 0
                self._on_error(exc)
            finally:
                with self.cond:
                    if isinstance(job, Rebuild):
                        self.rebuild = False
                    idle = not (self.pending or self.auto_left or self.request)
                if idle:
                    self._on_idle()

    def wait_idle(self, timeout: float | None = 60.0) -> bool:
        """Block until nothing is left to do (True), or ``timeout`` seconds passed (False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.cond:
            while (self._waiting() or self.busy) and not self.closed:
                if self._thread is None:
                    return False
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self.cond.wait(remaining)
        return True

    def close(self) -> None:
        """Stop the thread (after the job under way)."""
        with self.cond:
            self.closed = True
            self.auto_stop = True
            self.cond.notify_all()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)
