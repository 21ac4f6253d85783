"""Persistence for :class:`~alwidget.ActiveLearner`: clip ids, the journal link, export and import.

The learner holds a :class:`JournalLink` (the journal it writes, what is not
yet on disk, and why) and a :class:`ClipIds`; its labels live in a
:class:`~alwidget._labels.LabelBook`, which the link replays journals into
and whose new events it writes. Nothing here reads the learner itself.
"""

from __future__ import annotations

import csv
import json
import math
import numbers
import os
import re
import tempfile
import time
import warnings
import weakref
from pathlib import Path

import numpy as np

from alwidget import _journal
from alwidget._labels import LabelBook
from alwidget._ledger import Event
from alwidget._validation import LABEL_MODES, check_class_name
from alwidget.errors import (
    AlwidgetError,
    ExportError,
    InvalidInputError,
    JournalError,
    JournalLockedError,
    JournalWarning,
)

_CLIP_EVENTS = ("teach", "relabel", "skip", "unsure")


def journal_classes(path: Path) -> list:
    """The classes recorded in the header of the journal at ``path``, or a JournalError saying to pass them."""
    header = _journal.read(path).header if path.exists() else None
    if header is None:
        msg = f"{path} has no readable journal header; pass classes= explicitly"
        raise JournalError(msg)
    return header["classes"]


class ClipIds:
    """The stable id of each pool row: given ids, or the row index when there are none.

    Parameters
    ----------
    ids : list of str or int (checked by the caller), or None
    n_pool : int, number of rows
    """

    def __init__(self, ids: list | None, n_pool: int):
        self.given = ids
        self.n_pool = n_pool
        self._index_of_id: dict | None = None

    @property
    def kind(self) -> str:
        """``"index"`` (no ids given) or ``"clip"``, as a journal header says."""
        return "index" if self.given is None else "clip"

    @property
    def ids(self) -> list:
        """The stable id of each clip (the row index when none were given)."""
        return list(range(self.n_pool)) if self.given is None else list(self.given)

    def of(self, i: int):
        """The id of row ``i``."""
        return int(i) if self.given is None else self.given[i]

    def lookup(self, ids) -> tuple[list[int], list]:
        """Pool indices of ``ids`` that exist, and the ids that do not."""
        if self.given is None:
            found = [int(i) for i in ids if isinstance(i, int) and 0 <= i < self.n_pool]
            return found, [i for i in ids if not (isinstance(i, int) and 0 <= i < self.n_pool)]
        if self._index_of_id is None:
            self._index_of_id = {c: i for i, c in enumerate(self.given)}
        found = [self._index_of_id[i] for i in ids if i in self._index_of_id]
        return found, [i for i in ids if i not in self._index_of_id]


class JournalLink:
    """A learner's link to its journal: the writer, the lines not yet on disk and the last problem.

    It replays journals into the learner's :class:`~alwidget._labels.LabelBook`
    and writes the book's new events (its ``on_record`` hook, which holds the
    link weakly). The public methods are the learner's own (it forwards them).

    Parameters
    ----------
    book : the learner's labels
    ids : ClipIds of the pool
    dim : int, features per pool row (recorded in, and checked against, journal headers)

    Attributes
    ----------
    error : str or None, why events are not being saved (disk full, taken over), as ``journal_error``
    """

    def __init__(self, book: LabelBook, ids: ClipIds, dim: int):
        self.error: str | None = None
        self._book = book
        self._ids = ids
        self._dim = int(dim)
        self._lock = book.lock
        book.on_record = _record_callback(weakref.ref(self))
        self._writer: _journal.JournalWriter | None = None  # while journaling
        self._pending: list[bytes] = []  # journal lines not yet on disk (disk full, read-only, ...)

    @property
    def journal(self) -> Path | None:
        """The journal file events are appended to, or None."""
        return None if self._writer is None or self._writer.closed else self._writer.path

    def header(self, classes: list) -> dict:
        """The header record of a new journal of this pool."""
        return {
            "kind": "header",
            "format": _journal.FORMAT,
            "v": _journal.VERSION,
            "n_pool": self._ids.n_pool,
            "dim": self._dim,
            "ids": self._ids.kind,
            "classes": list(classes),
            "t": round(time.time(), 3),
        }

    def record_of(self, event: Event, seq: int, target_seq: int | None = None) -> dict:
        """The journal record of ``event``, numbered ``seq`` (an undo names its event's number)."""
        record = {"kind": event.kind, "seq": seq, "t": round(event.time, 3)}
        if event.kind in _CLIP_EVENTS:
            record["idx"] = list(event.indices)
            record["ids"] = [self._ids.of(i) for i in event.indices]
        if event.kind in ("teach", "relabel", "add_class"):
            record["labels"] = list(event.labels)
        if event.kind in _CLIP_EVENTS and event.mode != "active":
            record["mode"] = event.mode  # absent = "active" (journals written before modes existed)
        if event.kind == "undo":
            record["target"] = target_seq
        return record

    # ------------------------------------------------------------------ open and close
    def open_journal(self, path, *, takeover: bool = True, timeout: float = 5.0) -> None:
        """Append every event to the journal at ``path`` from now on.

        If the file already holds events, they are replayed first (resume):
        labels, skips, undo history and classes come back exactly, clips
        matched by id. This needs a learner with no events of its own. A
        learner that already has events writes them into a new, empty journal
        so nothing is lost. Damaged records are reported (JournalWarning) and
        skipped; labels whose clip is no longer in the pool are listed in a
        warning. Re-opening the journal this learner already writes to (the
        same file, under any name) does nothing. A refused open changes
        nothing: the learner keeps its current journal, and the file is left
        as it was.

        Parameters
        ----------
        path : path of the journal (created if missing)
        takeover : bool, default True
            If another running process holds the journal (e.g. the kernel of
            a Voila page that was reloaded, or a notebook opened in a second
            tab), ask it to hand the journal over: it finishes any write in
            progress, releases the journal, and from then on refuses teach,
            skip, undo and add_class with
            :class:`~alwidget.errors.JournalLockedError`, saying where to
            continue. This learner then replays every event the other one
            wrote. So there is never more than one writer, and the newest
            session always resumes. ``False`` refuses instead (raises
            :class:`~alwidget.errors.JournalLockedError`). An older learner
            of this same process on the same journal (a re-run cell) is
            always superseded the same way.
        timeout : float, default 5.0
            Seconds to wait for the other process to hand the journal over.

        Raises
        ------
        JournalLockedError
            Another running process holds the journal (and ``takeover`` is
            False, or it did not release the journal within ``timeout``).
        JournalError
            A journal of another pool, a file that is not an alwidget journal,
            or a journal with events while this learner has events of its own.
        """
        book = self._book
        if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or not 0 <= timeout < math.inf:
            msg = f"timeout must be a number of seconds (0 or more), got {timeout!r}"
            raise InvalidInputError(msg)
        if not isinstance(takeover, (bool, np.bool_)):
            msg = f"takeover must be True or False, got {takeover!r}"
            raise InvalidInputError(msg)
        path = _journal.check_path(path)
        if self._writer is not None and not self._writer.closed and _journal.file_key(path) == self._writer.key:
            return  # the journal already in use: nothing to do
        ref = weakref.ref(self)
        writer = _journal.JournalWriter(
            path,
            takeover=bool(takeover),
            timeout=timeout,
            on_takeover=_takeover_callback(ref),
            on_superseded=_superseded_callback(ref),
        )
        try:
            contents = _journal.read(path)
            with self._lock:
                self._check_contents(contents, path)
                writer.commit()
                for name in (contents.header or {}).get("classes", []):
                    book.add_header_class(name)  # a class of the header, not an event of its own
                problems = list(contents.problems)
                has_events = bool(contents.records)
                if has_events:
                    problems += self._replay(contents, path)
                writer.start(contents.torn_tail)
                previous, self._writer = self._writer, writer
                if previous is not None and previous is not writer:
                    previous.close()
                if has_events:
                    pending = []
                else:  # events given before this journal was opened are copied into it
                    pending = [self.record_of(e, pos, e.target) for pos, e in enumerate(book.ledger.events)]
                    # renumber: in the copy an event's number is its position in the history
                    book.renumber()
                self._pending = [_journal.encode(r) for r in pending]
                if contents.header is None and not contents.records:
                    self._pending.insert(0, _journal.encode(self.header(book.classes)))  # a new (or empty) journal
                self._flush(stacklevel=4)
        except BaseException:
            if self._writer is not writer:
                writer.close()
            raise
        for problem in problems:
            warnings.warn(problem, JournalWarning, stacklevel=3)

    def close_journal(self) -> None:
        """Stop journaling and release the journal's lock."""
        with self._lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None

    # ------------------------------------------------------------------ handing over
    def taken_over(self, writer, pid: int, token: str) -> None:
        """Another process asked for the journal: write what is pending, then release it (watcher thread)."""
        with self._lock:  # waits for a teach, skip, ... in progress
            if writer.closed:
                return
            mine = self._writer is writer
            if mine and self._pending:
                self._flush(stacklevel=2, warn=False)
            if writer.close_for_takeover(pid, token) and mine:
                self.error = self._taken_over_message(writer, len(self._pending))

    def superseded(self, writer) -> None:
        """A newer learner of this process opened the journal (its commit holds the file now)."""
        if self._writer is writer:
            self.error = self._taken_over_message(writer, len(self._pending))

    def _taken_over_message(self, writer, unsaved: int = 0) -> str:
        lost = (
            f" {unsaved} event(s) given here could not be saved before (disk full): export_labels() them."
            if unsaved
            else " Every label given here is in the journal."
        )
        if writer.taken_over_by == os.getpid():  # a newer learner of this kernel (a re-run cell) writes it now
            return (
                f"this learner no longer writes its journal {writer.path}: a newer learner in this kernel opened "
                f"it (a re-run cell, or a new widget).{lost} Nothing was changed here: continue labelling in the "
                "newest cell's widget (or with the newest learner)"
            )
        other = (
            f"{writer.taken_over_name}, pid {writer.taken_over_by}"
            if writer.taken_over_name
            else (f"pid {writer.taken_over_by}")
        )
        return (
            f"this session's journal {writer.path} was taken over by another session ({other}), "
            f"e.g. after a page reload or a new tab.{lost} Nothing was changed here: continue labelling in the "
            "newest session, or re-run the cell here to take the journal back"
        )

    # ------------------------------------------------------------------ writing
    def write(self, event: Event, seq: int, target_seq: int | None) -> None:
        """Journal ``event`` (just recorded in the book) durably, or keep it pending and say so.

        Called through the book's ``on_record`` hook. Nothing happens while no
        journal is open. If another session took the journal over, the event
        is reverted in the book and :class:`~alwidget.errors.JournalLockedError`
        raised: no event is ever accepted that cannot be saved there.
        """
        if self._writer is None:
            return
        record = self.record_of(event, seq, target_seq)
        if self._writer.taken_over_by is not None:
            self._book.revert_last(record["seq"], record.get("target"))
            raise JournalLockedError(self._taken_over_message(self._writer, len(self._pending)))
        self._pending.append(_journal.encode(record))
        self._flush(stacklevel=6)

    def _flush(self, stacklevel: int, warn: bool = True) -> None:
        try:
            while self._pending:
                self._writer.append(self._pending[0])
                self._pending.pop(0)
        except OSError as exc:
            first = self.error is None
            self.error = (
                f"labels are NOT being saved to {self._writer.path}: {exc.strerror or exc}. "
                f"{len(self._pending)} event(s) are kept in memory and will be written when the disk accepts them; "
                "free space or fix permissions, or export_labels() elsewhere"
            )
            if first and warn:
                warnings.warn(self.error, JournalWarning, stacklevel=stacklevel)
        else:
            self.error = None

    # ------------------------------------------------------------------ export and import
    def export_labels(self, path) -> None:
        """Write every label to ``path``: CSV (``id,index,label,mode``) or, for ``.json``, JSON.

        ``mode`` says how each clip was found (active learning, search,
        review or import; see :attr:`label_modes`); clips answered "unsure"
        are listed with an empty label and mode ``unsure``.

        The file is written atomically (a temporary file, then renamed). A new
        file gets the permissions ``open()`` would give it (``0o666 & ~umask``),
        a replaced one keeps its own, as with the other writers
        (:mod:`alwidget.export`).
        """
        book = self._book
        with self._lock:
            labels = book.labels
            modes = book.label_modes
            unsure = book.unsure_idx.tolist()
        _write_labels(path, labels, modes, unsure, self._ids, book.classes)

    def import_labels(self, path) -> int:
        """Teach the labels in a CSV or JSON export (a warm start); returns how many.

        Clips are matched by id; ids not in the pool and clips that already
        have a (different) label are listed in a warning and left alone.
        Unknown class names are added. All imported labels form one
        :meth:`teach` call, so one :meth:`undo` reverts the import. Rows
        answered "unsure" (mode ``unsure``) are not labels and are left out.
        """
        pairs = _read_labels(path, self._ids, self._book.classes)
        with self._lock:
            n, gone, conflicts = _apply_labels(pairs, self._ids, self._book)
        if gone or conflicts:
            msg = (
                f"import from {path}: {len(gone)} id(s) not in the pool (e.g. {gone[:3]!r}), "
                f"{len(conflicts)} clip(s) already labelled differently (e.g. {conflicts[:3]!r}); those were skipped"
            )
            warnings.warn(msg, JournalWarning, stacklevel=3)
        return n

    # ------------------------------------------------------------------ checks and replay
    def _check_contents(self, contents, path) -> None:
        """Refuse (before anything changes) a journal this learner must not use or resume from."""
        if contents.foreign:
            msg = (
                f"{path} is not an alwidget journal (it holds no journal record); it was left unchanged. "
                "Pass the path of a new or existing journal file (e.g. labels.jsonl), not a data file"
            )
            raise JournalError(msg)
        if contents.records and len(self._book.ledger):
            msg = (
                f"the journal {path} already holds {len(contents.records)} events and this learner has "
                f"{len(self._book.ledger)} of its own; resume with a fresh learner, or use a new journal file"
            )
            raise JournalError(msg)
        if contents.header is not None:
            self._check_header(contents.header, path)
        elif contents.records:
            self._check_headless(contents.records, path)
        self._check_ids(contents.records, path)

    def _check_header(self, header: dict, path) -> None:
        id_kind, n_pool = self._ids.kind, self._ids.n_pool
        if header.get("ids") != id_kind:
            msg = f"the journal {path} identifies clips by {header.get('ids')!r} but this learner by {id_kind!r}; " + (
                "pass ids=dataset.clip_ids" if id_kind == "index" else "build the learner without ids"
            )
            raise JournalError(msg)
        if header.get("dim") != self._dim or (id_kind == "index" and header.get("n_pool") != n_pool):
            msg = (
                f"the journal {path} was written for a pool of {header.get('n_pool')} clips x {header.get('dim')} "
                f"features, but this learner has {n_pool} x {self._dim}: a journal from a different "
                "dataset? Use the same embeddings, or pass ids= to match clips by id"
            )
            raise JournalError(msg)

    def _check_ids(self, records: list[dict], path) -> None:
        """Refuse a journal none of whose clips are in this pool (before changing anything)."""
        ids = [i for r in records if r.get("kind") in _CLIP_EVENTS for i in r.get("ids", [])]
        found, missing = self._ids.lookup(ids)
        if ids and not found:
            msg = (
                f"none of the {len(ids)} clips in the journal {path} are in this pool "
                f"(e.g. {missing[0]!r}): a journal from a different dataset?"
            )
            raise JournalError(msg)

    def _check_headless(self, records: list[dict], path) -> None:
        """A journal without a readable header: check its clips against the pool as far as they allow."""
        if self._ids.given is not None:
            return  # clip ids: a folder may change; _check_ids refuses a journal with none of them
        n_pool = self._ids.n_pool
        for r in records:
            if r.get("kind") not in _CLIP_EVENTS:
                continue
            for i in r.get("ids", []):
                if type(i) is not int or not 0 <= i < n_pool:
                    msg = (
                        f"the journal {path} has no readable header, and it refers to clip {i!r}, which this pool "
                        f"of {n_pool} clips does not have: a journal from a different dataset? Use the same "
                        "embeddings, or another journal file"
                    )
                    raise JournalError(msg)

    def _replay(self, contents, path) -> list[str]:
        """Apply the journal's records to the book (a fresh learner's); return problems found."""
        book = self._book
        problems: list[str] = []
        missing: list = []
        applied: set[int] = set()
        for rec in contents.records:
            kind, seq, t = rec.get("kind"), rec.get("seq"), rec.get("t")
            try:
                if kind in _CLIP_EVENTS:
                    found, gone = self._ids.lookup(rec["ids"])
                    missing += gone
                    if not found:
                        continue
                    mode = rec.get("mode", "active")
                    if mode not in LABEL_MODES:  # a newer alwidget's mode: keep the label, call it active
                        problems.append(f"{path}: event {seq} has an unknown mode {mode!r}; it was read as 'active'")
                        mode = "active"
                    if kind in ("teach", "relabel"):
                        keep = [i for i, c in enumerate(rec["ids"]) if c not in gone]
                        names = [rec["labels"][i] for i in keep]
                        for name in names:
                            if name not in book.code:
                                book.add_class(name, t=t, seq=seq)
                        apply = book.teach if kind == "teach" else book.relabel
                        apply(np.asarray(found, dtype=np.int64), names, t=t, seq=seq, mode=mode)
                    elif kind == "skip":
                        book.skip(np.asarray(found, dtype=np.int64), t=t, seq=seq, mode=mode)
                    else:
                        book.unsure(np.asarray(found, dtype=np.int64), t=t, seq=seq, mode=mode)
                    applied.add(seq)
                elif kind == "undo":
                    target = rec["target"]
                    if target not in applied:
                        continue  # its event was lost or its clips are gone: nothing to revert
                    if book.ledger.last_undoable_seq() != target:
                        problems.append(f"{path}: undo of event {target} does not match the history; it was skipped")
                        continue
                    book.undo(t=t, seq=seq)
                    applied.discard(target)
                elif kind == "add_class":
                    if rec["labels"][0] not in book.code:
                        book.add_class(rec["labels"][0], t=t, seq=seq)
                else:
                    problems.append(f"{path}: unknown event kind {kind!r} (event {seq}); it was skipped")
            except (AlwidgetError, KeyError, TypeError, IndexError) as exc:
                problems.append(f"{path}: event {seq} ({kind}) could not be applied and was skipped: {exc}")
        if missing:
            shown = ", ".join(repr(m) for m in missing[:10]) + (" ..." if len(missing) > 10 else "")
            problems.append(f"{path}: {len(missing)} labelled or skipped clip(s) are no longer in the pool: {shown}")
        return problems


def _record_callback(ref: weakref.ref):
    """The book's ``on_record`` hook: journal each new event (holds the link weakly, so no cycle keeps it)."""

    def on_record(event: Event, seq: int, target_seq: int | None) -> None:
        link = ref()
        if link is not None:
            link.write(event, seq, target_seq)

    return on_record


def _takeover_callback(ref: weakref.ref):
    """What a journal's watcher calls when another process asks for it (holds the link weakly)."""

    def on_takeover(writer, pid: int, token: str) -> None:
        link = ref()
        if link is None:
            writer.close_for_takeover(pid, token)
        else:
            link.taken_over(writer, pid, token)

    return on_takeover


def _superseded_callback(ref: weakref.ref):
    """What a journal calls when a newer writer of this process adopts it (holds the link weakly)."""

    def on_superseded(writer) -> None:
        link = ref()
        if link is not None:
            link.superseded(writer)

    return on_superseded


# ---------------------------------------------------------------------- export and import
def _write_labels(path, labels: dict, modes: dict, unsure: list, ids: ClipIds, classes: list) -> None:
    """Write ``labels`` (``{index: name}``), their ``modes`` and the ``unsure`` clips to ``path`` atomically.

    See :meth:`ActiveLearner.export_labels <alwidget.ActiveLearner.export_labels>`.
    """
    from alwidget.export import _check_path, _file_mode, _unencodable

    path = _check_path(path)
    rows = [{"id": ids.of(i), "index": i, "label": c, "mode": modes.get(i, "active")} for i, c in labels.items()]
    rows += [{"id": ids.of(i), "index": i, "label": "", "mode": "unsure"} for i in unsure]
    rows.sort(key=lambda r: r["index"])
    if not path.parent.is_dir():
        msg = (
            f"cannot export labels to {path}: the folder {path.parent} does not exist (or is not a folder); "
            "create it first, or choose another path"
        )
        raise ExportError(msg)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    except UnicodeEncodeError as exc:  # a lone surrogate in the path
        raise _unencodable(exc, f"labels to {path}") from None
    except OSError as exc:
        msg = f"cannot export labels to {path}: {exc.strerror or exc} in the folder {path.parent}"
        raise ExportError(msg) from None
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            if path.suffix.lower() == ".json":
                json.dump({"classes": list(classes), "labels": rows}, f, indent=1)
            else:
                w = csv.DictWriter(f, fieldnames=["id", "index", "label", "mode"])
                w.writeheader()
                w.writerows(rows)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _file_mode(path))  # mkstemp creates 0600
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        msg = f"cannot export labels to {path}: {exc.strerror or exc}; nothing was written there"
        raise ExportError(msg) from None
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, UnicodeEncodeError):  # an id or a class name with a lone surrogate, in CSV
            raise _unencodable(exc, f"labels to {path}") from None
        raise


def _read_labels(path, ids: ClipIds, classes: list) -> list[tuple]:
    """``[(clip id, class name)]`` of an export_labels file, checked, unsure rows left out, last row per id kept."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".json":
            rows = json.loads(path.read_text(encoding="utf-8"))["labels"]
        else:
            with open(path, newline="", encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
        pairs = [(r["id"], r["label"]) for r in rows if r.get("mode") != "unsure"]  # answers, not labels
    except (OSError, ValueError, KeyError, TypeError) as exc:
        msg = f"cannot read labels from {path}: {exc}; expected an export_labels() CSV (id,label) or JSON"
        raise InvalidInputError(msg) from None
    for clip, name in pairs:  # before anything changes: ids and labels must be plain values
        if isinstance(clip, bool) or not isinstance(clip, (str, int)):
            msg = f"cannot import labels from {path}: clip id {clip!r} is not a string or an integer"
            raise InvalidInputError(msg)
        try:
            check_class_name(name, what="label")
        except InvalidInputError as exc:
            msg = f"cannot import labels from {path} (clip {clip!r}): {exc}"
            raise InvalidInputError(msg) from None
    ints = ids.given is None or all(isinstance(i, int) for i in ids.given)
    return list(dict((_coerce(i, ints), _coerce(c, classes)) for i, c in pairs).items())


def _apply_labels(pairs: list[tuple], ids: ClipIds, book: LabelBook) -> tuple[int, list, list]:
    """Teach ``pairs`` of :func:`_read_labels` in ``book`` as one event (the caller locks).

    Returns ``(number taught, ids not in the pool, ids of clips labelled otherwise)``;
    clips already labelled are left alone, unknown class names added.
    """
    found, gone = ids.lookup([i for i, _ in pairs])
    gone_set = set(gone)
    idx, names, conflicts = [], [], []
    for (clip, name), i in zip([p for p in pairs if p[0] not in gone_set], found):
        if book.codes[i] >= 0:
            if book.classes[book.codes[i]] != name:
                conflicts.append(clip)
            continue
        idx.append(i)
        names.append(check_class_name(name, what="label"))
    for name in dict.fromkeys(names):
        if name not in book.code:
            book.add_class(name)
    if idx:
        book.teach(np.asarray(idx, dtype=np.int64), names, mode="import")
    return len(idx), gone, conflicts


_ASCII_INTEGER = re.compile(r"-?[0-9]+")  # as export_labels writes an integer; str.isdigit() also takes "²"


def _coerce(value, known):
    """CSV cells are strings: turn ``"12"`` into ``12`` where the names are integers.

    ``known`` is True (ids are integers), False, or a list of class names.
    Only ASCII digits make an integer: ``"²"``, ``"①"`` or ``"٣"`` stay names.
    """
    if not isinstance(value, str) or not _ASCII_INTEGER.fullmatch(value):
        return value
    if known is True or (isinstance(known, list) and value not in known and int(value) in known):
        return int(value)
    return value
