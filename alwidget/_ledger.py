"""The label ledger: one learner's event history, and the one fold that resolves undo.

Every change to the labels is an :class:`Event` appended here (teach, relabel,
skip, unsure, undo, add_class). Undo is a stack: it reverts the most recent
event that is still in force, so the events in force (:meth:`LabelLedger.live`)
are the history with each undone event and its undo removed. The labels just
before any teach, relabel, skip or unsure in force are the same whether one
replays the whole history or only the events in force, so everyone who needs "what happened, undo
resolved" (label modes, label times, audit replay, curve rebuilds, the
journal) reads :meth:`LabelLedger.live` instead of walking the history again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

__all__ = ["Event", "LabelLedger", "UNDOABLE"]

UNDOABLE = ("teach", "relabel", "skip", "unsure")  # the kinds of event undo reverts


@dataclass(frozen=True)
class Event:
    """One entry of :attr:`ActiveLearner.history`.

    Attributes
    ----------
    kind : ``"teach"``, ``"relabel"``, ``"skip"``, ``"unsure"``, ``"undo"`` or ``"add_class"``
    indices : pool indices the event touched (empty for ``add_class``)
    labels : class names given (``teach``), or the new class (``add_class``)
    target : for ``undo``, the position in ``history`` of the event it reverted
    time : wall-clock time of the event, seconds since the epoch
    mode : how the clips of a ``teach`` or ``skip`` were found: ``"active"``
        (the learner's queries, or code), ``"search"`` (search by example),
        ``"review"`` or ``"import"`` (:meth:`ActiveLearner.import_labels`)
    """

    kind: str
    indices: tuple[int, ...] = ()
    labels: tuple = ()
    target: int | None = None
    time: float = field(default_factory=time.time, compare=False)
    mode: str = "active"


class UndoEntry(NamedTuple):
    """What undoing one event in force needs: where it is, its clips and their codes before it."""

    pos: int  # position of the event in the history
    idx: np.ndarray  # (m,) int64 pool indices
    prev: np.ndarray  # (m,) int32 codes of those clips before the event
    seq: int  # the event's number in the journal


class LabelLedger:
    """The history of one learner and the undo stack over it (not thread-safe: the learner locks)."""

    def __init__(self) -> None:
        self._events: list[Event] = []
        self._undo: list[UndoEntry] = []

    # ------------------------------------------------------------------ reading
    def __len__(self) -> int:
        return len(self._events)

    def __getitem__(self, pos: int) -> Event:
        return self._events[pos]

    @property
    def events(self) -> tuple[Event, ...]:
        """Every event, undo events included, oldest first."""
        return tuple(self._events)

    def live(self, upto: int | None = None) -> list[tuple[int, Event]]:
        """``[(position, event)]`` of the events in force among the first ``upto`` (default all).

        Undo events and the events they reverted are left out; ``add_class``
        events are kept (a class is never removed).
        """
        events = self._events if upto is None else self._events[:upto]
        undone = {ev.target for ev in events if ev.kind == "undo"}
        return [(pos, ev) for pos, ev in enumerate(events) if ev.kind != "undo" and pos not in undone]

    def label_modes(self) -> dict[int, str]:
        """``{clip: mode}`` of the last label in force of each clip (a later skip or unsure hides it)."""
        modes: dict[int, str] = {}
        for _, ev in self.live():
            if ev.kind in ("teach", "relabel"):
                modes.update(dict.fromkeys(ev.indices, ev.mode))
            elif ev.kind in ("skip", "unsure"):
                for i in ev.indices:
                    modes.pop(i, None)
        return modes

    def teach_times(self, upto: int | None = None) -> list[float]:
        """Times of the teach events in force, oldest first (seconds since the epoch)."""
        return [float(ev.time) for _, ev in self.live(upto) if ev.kind == "teach"]

    # ------------------------------------------------------------------ the undo stack
    def can_undo(self) -> bool:
        return bool(self._undo)

    def last_undoable_seq(self) -> int | None:
        """The journal number of the event :meth:`pop_undoable` would give, or None."""
        return self._undo[-1].seq if self._undo else None

    def pop_undoable(self) -> UndoEntry:
        """Take the most recent event in force off the undo stack (the caller records its undo)."""
        return self._undo.pop()

    def push_undoable(self, entry: UndoEntry) -> None:
        """Put an entry back (an undo that could not be saved is withdrawn)."""
        self._undo.append(entry)

    # ------------------------------------------------------------------ writing
    def append(self, event: Event, idx=None, prev=None, seq: int = 0) -> int:
        """Append ``event`` and return its position; an undoable one goes on the undo stack.

        ``idx`` and ``prev`` are its clips and their codes before it; ``seq`` its journal number.
        """
        self._events.append(event)
        pos = len(self._events) - 1
        if event.kind in UNDOABLE:
            self._undo.append(UndoEntry(pos, idx, prev, seq))
        return pos

    def pop_last(self) -> Event:
        """Remove the last event (one that could not be saved) and return it.

        The undo stack is the caller's to mend: take the event's own entry off
        (:meth:`pop_undoable`), or put back the entry an undo took
        (:meth:`push_undoable`).
        """
        return self._events.pop()

    def renumber(self) -> None:
        """Journal numbers become history positions (the history was copied into a new journal)."""
        self._undo = [e._replace(seq=e.pos) for e in self._undo]
