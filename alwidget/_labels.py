"""The learner's labels: every clip's state, the classes, the history and the counters that move with them.

:class:`LabelBook` is the part of :class:`~alwidget.ActiveLearner` that
changes when a label is given, skipped, answered "unsure", undone or a class
added. It checks each change against the current state, applies it, records
it in the :class:`~alwidget._ledger.LabelLedger` and hands new events to its
``on_record`` hook (the journal). The learner holds its ``lock`` around every change;
the reading methods take it themselves.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from alwidget._ledger import Event, LabelLedger, UndoEntry
from alwidget._validation import check_index
from alwidget.errors import AlreadyLabeledError, InvalidInputError

UNLABELED = -1
SKIPPED = -2
UNSURE = -3  # answered "unsure": never trained on, never asked again (until taught)


class LabelBook:
    """Every clip's code with the class names, the ledger and the version counters.

    Parameters
    ----------
    n_pool : int, number of clips
    classes : list of class names (checked by the caller); the book grows it in place

    Attributes
    ----------
    codes : int32 ``(n_pool,)``: a class code (>= 0), or UNLABELED, SKIPPED, UNSURE
    classes : the class names, in code order
    code : ``{class name: code}``
    ledger : the history and its undo stack
    label_version : bumps whenever the training set or the classes change
    version : bumps on every change
    next_seq : the journal number of the next new event
    lock : RLock, held by every reader here and by the learner around every change
    on_record : callable ``(event, seq, target_seq)`` or None, given every new event (not replayed ones)
    """

    def __init__(self, n_pool: int, classes: list):
        self.codes = np.full(n_pool, UNLABELED, dtype=np.int32)
        self.classes = classes
        self.code = {c: i for i, c in enumerate(classes)}
        self.ledger = LabelLedger()
        self.label_version = 0
        self.version = 0
        self.next_seq = 0
        self.on_record = None
        self.lock = threading.RLock()
        self._tally: dict[int, int] = {}  # code -> number of clips with it, for every code but UNLABELED

    # ------------------------------------------------------------------ changing codes
    def set_codes(self, idx: np.ndarray, codes) -> None:
        """``codes[idx] = codes``, keeping the per-code tally (``idx`` distinct)."""
        idx = np.asarray(idx, dtype=np.int64)
        old = self.codes[idx]
        self.codes[idx] = codes
        for values, sign in ((old, -1), (self.codes[idx], 1)):
            found, counts = np.unique(values, return_counts=True)
            for c, k in zip(found.tolist(), counts.tolist()):
                if c != UNLABELED:
                    left = self._tally.get(c, 0) + sign * k
                    if left:
                        self._tally[c] = left
                    else:
                        self._tally.pop(c, None)

    # ------------------------------------------------------------------ reading (ActiveLearner forwards these)
    @property
    def n_pool(self) -> int:
        """Number of clips."""
        return len(self.codes)

    def label_codes(self) -> np.ndarray:
        """A copy of every clip's state, int32 ``(n_pool,)``: a class code (>= 0, an index into
        :attr:`classes`), -1 open, -2 skipped, -3 unsure. Taken under the learner's lock, so it is
        one consistent snapshot while other threads label."""
        with self.lock:
            return self.codes.copy()

    def labeled_snapshot(self) -> tuple[np.ndarray, np.ndarray, list]:
        """``(indices, codes, classes)`` of the labelled clips, taken together under the lock.

        ``indices`` int64 ``(m,)`` ascending, ``codes`` int64 ``(m,)`` into ``classes``.
        """
        with self.lock:
            lab = np.flatnonzero(self.codes >= 0)
            return lab, self.codes[lab].astype(np.int64), list(self.classes)

    @property
    def labeled_idx(self) -> np.ndarray:
        """Indices of labelled clips, ascending, int64."""
        return np.flatnonzero(self.codes >= 0)

    @property
    def unlabeled_idx(self) -> np.ndarray:
        """Indices of clips neither labelled nor skipped, ascending, int64."""
        return np.flatnonzero(self.codes == UNLABELED)

    @property
    def skipped_idx(self) -> np.ndarray:
        """Indices of skipped clips, ascending, int64."""
        return np.flatnonzero(self.codes == SKIPPED)

    @property
    def unsure_idx(self) -> np.ndarray:
        """Indices of clips answered "unsure" (:meth:`unsure`), ascending, int64."""
        return np.flatnonzero(self.codes == UNSURE)

    def is_labeled(self, i: int) -> bool:
        """Whether clip ``i`` has a label (O(1), for click paths)."""
        return bool(self.codes[check_index(i, self.n_pool)] >= 0)

    def is_unlabeled(self, i: int) -> bool:
        """Whether clip ``i`` is neither labelled nor skipped (O(1), for click paths)."""
        return bool(self.codes[check_index(i, self.n_pool)] == UNLABELED)

    def is_unsure(self, i: int) -> bool:
        """Whether clip ``i`` was answered "unsure" (O(1), for click paths)."""
        return bool(self.codes[check_index(i, self.n_pool)] == UNSURE)

    @property
    def labels(self) -> dict:
        """``{index: class name}`` for every labelled clip."""
        with self.lock:
            idx = self.labeled_idx
            codes = self.codes[idx]
        return {int(i): self.classes[c] for i, c in zip(idx, codes)}

    @property
    def n_labeled(self) -> int:
        """Number of labelled clips (O(classes): no scan of the pool)."""
        return sum(k for c, k in self._tally.items() if c >= 0)

    @property
    def n_skipped(self) -> int:
        """Number of skipped clips (O(1))."""
        return self._tally.get(SKIPPED, 0)

    @property
    def n_unsure(self) -> int:
        """Number of clips answered "unsure" (O(1))."""
        return self._tally.get(UNSURE, 0)

    @property
    def answered_idx(self) -> np.ndarray:
        """Indices of clips labelled, skipped or answered "unsure", ascending, int64."""
        return np.flatnonzero(self.codes != UNLABELED)

    def label_of(self, i: int):
        """The class name of clip ``i``, or None if it has no label (O(1), for click paths)."""
        code = int(self.codes[check_index(i, self.n_pool)])
        return self.classes[code] if code >= 0 else None

    @property
    def n_seen(self) -> int:
        """Number of classes with at least one label."""
        return sum(1 for c, k in self._tally.items() if c >= 0 and k)

    def label_counts(self) -> dict:
        """``{class name: number of labelled clips}`` over all classes (O(classes))."""
        return {c: self._tally.get(k, 0) for k, c in enumerate(self.classes)}

    @property
    def history(self) -> tuple[Event, ...]:
        """Every teach, skip, undo and add_class so far, oldest first."""
        return self.ledger.events

    def live_events(self, upto: int | None = None) -> list[tuple[int, Event]]:
        """``[(position in history, event)]`` of the events in force among the first ``upto`` (default all).

        Undo resolved: undo events and the events they reverted are left out
        (:meth:`alwidget._ledger.LabelLedger.live`); ``add_class`` events stay.
        """
        with self.lock:
            return self.ledger.live(upto)

    @property
    def label_modes(self) -> dict:
        """``{index: mode}`` for every labelled clip: how it was found (see :data:`LABEL_MODES`)."""
        with self.lock:
            modes = self.ledger.label_modes()
            labelled = set(self.labeled_idx.tolist())
        return {i: m for i, m in modes.items() if i in labelled}

    # ------------------------------------------------------------------ events
    def teach(self, idx: np.ndarray, names: list, t: float | None = None, seq: int | None = None, mode: str = "active"):
        """Label unlabelled (or skipped, unsure) clips ``idx`` with class ``names``."""
        prev = self.codes[idx].copy()
        done = prev >= 0
        if done.any():
            i = int(idx[done][0])
            msg = (
                f"clip {i} is already labelled {self.classes[prev[done][0]]!r}; "
                "call undo() to revert the last label first"
            )
            raise AlreadyLabeledError(msg)
        self.set_codes(idx, np.array([self.code[c] for c in names], dtype=np.int32))
        event = Event("teach", tuple(int(i) for i in idx), tuple(names), time=t or time.time(), mode=mode)
        self.record(event, idx, prev, seq=seq)

    def skip(self, idx: np.ndarray, t: float | None = None, seq: int | None = None, mode: str = "active") -> None:
        """Set clips ``idx`` aside (none labelled or skipped)."""
        prev = self.codes[idx].copy()
        if (prev >= 0).any():
            i = int(idx[prev >= 0][0])
            msg = f"clip {i} is already labelled {self.classes[prev[prev >= 0][0]]!r} and cannot be skipped"
            raise AlreadyLabeledError(msg)
        if (prev == SKIPPED).any():
            msg = f"clip {int(idx[prev == SKIPPED][0])} is already skipped"
            raise InvalidInputError(msg)
        self.set_codes(idx, SKIPPED)
        event = Event("skip", tuple(int(i) for i in idx), time=t or time.time(), mode=mode)
        self.record(event, idx, prev, seq=seq)

    def relabel(
        self, idx: np.ndarray, names: list, t: float | None = None, seq: int | None = None, mode: str = "review"
    ):
        """Change the labels of labelled clips ``idx``."""
        prev = self.codes[idx].copy()
        if (prev < 0).any():
            i = int(idx[prev < 0][0])
            msg = f"clip {i} has no label to change; give it one with teach({i}, ...)"
            raise InvalidInputError(msg)
        self.set_codes(idx, np.array([self.code[c] for c in names], dtype=np.int32))
        event = Event("relabel", tuple(int(i) for i in idx), tuple(names), time=t or time.time(), mode=mode)
        self.record(event, idx, prev, seq=seq)

    def unsure(self, idx: np.ndarray, t: float | None = None, seq: int | None = None, mode: str = "active") -> None:
        """Answer "unsure" for clips ``idx`` (labelled ones only in a review)."""
        prev = self.codes[idx].copy()
        if (prev >= 0).any() and mode != "review":
            i = int(idx[prev >= 0][0])
            msg = (
                f"clip {i} is already labelled {self.classes[prev[prev >= 0][0]]!r}; undo() that label first, "
                "or withdraw it in a label review (mode='review')"
            )
            raise AlreadyLabeledError(msg)
        if (prev == UNSURE).any():
            msg = f"clip {int(idx[prev == UNSURE][0])} is already answered 'unsure'"
            raise InvalidInputError(msg)
        self.set_codes(idx, UNSURE)
        event = Event("unsure", tuple(int(i) for i in idx), time=t or time.time(), mode=mode)
        self.record(event, idx, prev, seq=seq)

    def undo(self, t: float | None = None, seq: int | None = None) -> Event:
        """Revert the most recent event in force (the caller checks there is one); return it."""
        pos, idx, prev, target_seq = self.ledger.pop_undoable()
        event = self.ledger[pos]
        self.set_codes(idx, prev)
        undo = Event("undo", event.indices, event.labels, target=pos, time=t or time.time())
        self.record(undo, target_seq=target_seq, seq=seq)
        return event

    def add_class(self, name, t: float | None = None, seq: int | None = None) -> None:
        """Add class ``name`` (not yet a class) as an event."""
        self.code[name] = len(self.classes)
        self.classes.append(name)
        self.record(Event("add_class", (), (name,), time=t or time.time()), seq=seq)

    def add_header_class(self, name) -> None:
        """Add class ``name`` from a journal's header: a class, not an event."""
        if name not in self.code:
            self.code[name] = len(self.classes)
            self.classes.append(name)
            self.label_version += 1

    def record(self, event: Event, idx=None, prev=None, *, target_seq=None, seq=None) -> None:
        """Append ``event`` to the history (and the undo stack), bump versions and hand it to ``on_record``.

        ``seq`` is given when replaying a journal (the event is already on disk).
        """
        replaying = seq is not None
        if not replaying:
            seq = self.next_seq
        self.next_seq = max(self.next_seq, seq + 1)
        self.ledger.append(event, idx, prev, seq)
        reverted = self.ledger[event.target] if event.kind == "undo" else None
        withdrawn = event.kind == "unsure" and prev is not None and bool((prev >= 0).any())
        if (
            event.kind in ("teach", "relabel", "add_class")
            or withdrawn
            or (reverted is not None and reverted.kind in ("teach", "relabel", "unsure"))
        ):
            self.label_version += 1
        self.version += 1
        if not replaying and self.on_record is not None:
            self.on_record(event, seq, target_seq)

    def revert_last(self, seq: int, target_seq: int | None) -> None:
        """Undo the effect of the event just recorded as number ``seq`` (an undo's ``target_seq``)."""
        event = self.ledger.pop_last()
        self.next_seq = seq
        if event.kind in ("teach", "relabel", "skip", "unsure"):
            _, idx, prev, _ = self.ledger.pop_undoable()
            self.set_codes(idx, prev)
        elif event.kind == "undo":
            reverted = self.ledger[event.target]
            idx = np.asarray(reverted.indices, dtype=np.int64)
            prev = self.codes[idx].copy()
            if reverted.kind in ("teach", "relabel"):
                self.set_codes(idx, np.array([self.code[c] for c in reverted.labels], dtype=np.int32))
            else:
                self.set_codes(idx, SKIPPED if reverted.kind == "skip" else UNSURE)
            self.ledger.push_undoable(UndoEntry(event.target, idx, prev, target_seq))
        elif event.kind == "add_class":
            del self.code[self.classes.pop()]
        self.label_version += 1  # counters only grow: caches see "changed" and recompute the same state
        self.version += 1

    def renumber(self) -> None:
        """Journal numbers become history positions (the history was copied into a new journal)."""
        self.ledger.renumber()
        self.next_seq = len(self.ledger)
