"""Append-only, checksummed JSON Lines journal of labelling events.

Line format: one JSON object per line, always starting with its checksum::

    {"crc":"1a2b3c4d","kind":"teach","seq":3,"idx":[5],"ids":["a/b.wav"],"labels":["bird"],"t":1764040000.5}

``crc`` is the CRC-32 (hex) of the same object without the ``crc`` key, dumped
with sorted keys and no spaces. The first record is a header (``kind":
"header"``) describing the pool. Every append is flushed and fsync'ed before
returning. Reading never trusts a line whose checksum fails: it is reported
and skipped. Since every record starts with ``{"crc":"``, a line break lost to
a corrupted byte is repaired by splitting at the next record's start, so one
bad byte costs at most one record.
"""

from __future__ import annotations

import json
import os
import weakref
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from alwidget.errors import JournalError, JournalLockedError

try:  # POSIX: a kernel lock, released automatically when the process dies
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

FORMAT = "alwidget-journal"
VERSION = 1
_PREFIX = '{"crc":"'
_OPEN_IN_THIS_PROCESS: dict[str, weakref.ref] = {}


def encode(record: dict) -> bytes:
    """One journal line (with checksum and trailing newline) for ``record``."""
    body = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    crc = zlib.crc32(body.encode("ascii"))
    sep = "," if len(body) > 2 else ""
    return f'{_PREFIX}{crc:08x}"{sep}{body[1:]}\n'.encode("ascii")


def _decode(text: str) -> dict | None:
    """The record in one line, or None if it is not a valid checksummed record."""
    if not text.startswith(_PREFIX) or len(text) < len(_PREFIX) + 10:
        return None
    crc_hex = text[len(_PREFIX) : len(_PREFIX) + 8]
    rest = text[len(_PREFIX) + 9 :]  # after the closing quote
    body = "{" + rest[1:] if rest.startswith(",") else "{" + rest
    try:
        crc = int(crc_hex, 16)
        record = json.loads(body)
    except ValueError:
        return None
    if not isinstance(record, dict) or zlib.crc32(body.encode("ascii", "replace")) != crc:
        return None
    return record


@dataclass
class JournalContents:
    """What :func:`read` found: the header, the good records, and the problems."""

    header: dict | None = None
    records: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    torn_tail: int = 0  # bytes of an incomplete last line


def read(path) -> JournalContents:
    """Read every valid record of the journal at ``path``; report the rest."""
    out = JournalContents()
    data = Path(path).read_bytes()
    lines = data.decode("ascii", errors="replace").split("\n")
    tail = lines.pop()  # "" when the file ends with a newline
    for number, line in enumerate([*lines, tail], start=1):
        if not line:
            continue
        record = _decode(line)
        if record is not None:
            out.records.append(record)
            continue
        found, lost = _repair(line)
        out.records.extend(found)
        if line is tail and not found:
            out.torn_tail = len(tail.encode("ascii", "replace"))
            out.problems.append(
                f"{path}: the last line is incomplete (the process stopped while writing it); it was ignored"
            )
        elif found:
            out.problems.append(
                f"{path}, line {number}: a damaged line break was repaired "
                f"({len(found)} records kept, {lost} skipped)"
            )
        else:
            out.problems.append(f"{path}, line {number}: bad checksum or unreadable record; it was skipped")
    if out.records and out.records[0].get("kind") == "header":
        out.header = out.records.pop(0)
        if out.header.get("format") != FORMAT:
            msg = f"{path} is not an alwidget journal (format {out.header.get('format')!r})"
            raise JournalError(msg)
    elif data:
        out.problems.append(f"{path}: the header record is missing or damaged; the pool could not be checked")
    return out


def _repair(line: str) -> tuple[list[dict], int]:
    """Records in a line whose break was lost or replaced by one stray byte.

    Splits at each record start; each piece may end with one stray byte.
    Returns the records found and the number of pieces that stayed unreadable.
    """
    starts = [i for i in range(len(line)) if line.startswith(_PREFIX, i)]
    found, lost = [], 0
    for a, b in zip(starts, [*starts[1:], None]):
        piece = line[a:b]
        record = _decode(piece) or _decode(piece[:-1])
        if record is None:
            lost += 1
        else:
            found.append(record)
    return found, lost


class JournalWriter:
    """Appends records to a journal file, holding an exclusive lock on it.

    Open it (which takes the lock), :func:`read` what is there, then
    :meth:`start` and :meth:`append`.

    Opening a journal that another live process holds raises
    :class:`JournalLockedError`. Within one process, the newest writer takes
    the journal over (re-running a notebook cell must not lock you out) and
    the older one is closed.
    """

    def __init__(self, path):
        self.path = Path(path)
        self._lock_file = None
        self._file = None
        key = str(self.path.resolve())
        previous = _OPEN_IN_THIS_PROCESS.get(key)
        if previous is not None and previous() is not None:
            previous().close()
        self._acquire_lock()
        _OPEN_IN_THIS_PROCESS[key] = weakref.ref(self)
        try:
            self._file = open(self.path, "ab")
        except OSError as exc:
            self.close()
            msg = f"cannot open the journal {self.path} for writing: {exc}"
            raise JournalError(msg) from None

    def start(self, header: dict, torn_tail: int = 0) -> None:
        """Write ``header`` into a new journal, or make an existing one ready for appends."""
        if self._file.seek(0, os.SEEK_END) == 0:
            self._write(encode(header))
        else:
            self._end_with_newline(torn_tail)

    def _acquire_lock(self) -> None:
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            self._lock_file = open(lock_path, "a+")
        except OSError as exc:
            msg = f"cannot create the lock file {lock_path}: {exc}"
            raise JournalError(msg) from None
        if fcntl is None:  # pragma: no cover - Windows: best effort, no kernel lock
            return
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_file.close()
            self._lock_file = None
            msg = (
                f"the journal {self.path} is open in another running session (lock {lock_path} is held); "
                "close that notebook or script first, or use another journal file"
            )
            raise JournalLockedError(msg) from None
        self._lock_file.seek(0)
        self._lock_file.truncate()
        self._lock_file.write(f"{os.getpid()}\n")
        self._lock_file.flush()

    def _end_with_newline(self, torn_tail: int) -> None:
        """Cut an incomplete last line (``torn_tail`` bytes, as :func:`read`
        measured it) and end the file with a newline, so the next record starts
        on a line of its own."""
        size = self._file.seek(0, os.SEEK_END)
        if torn_tail:
            self._file.truncate(size - torn_tail)
            size -= torn_tail
        if size:
            with open(self.path, "rb") as f:
                f.seek(size - 1)
                last = f.read(1)
            if last != b"\n":
                self._file.write(b"\n")
        self._sync()

    def append(self, line: bytes) -> None:
        """Write one encoded line and make it durable (flush + fsync)."""
        if self._file is None:
            msg = f"the journal {self.path} was closed (another learner in this process opened it)"
            raise OSError(msg)
        self._write(line)

    def _write(self, line: bytes) -> None:
        start = self._file.seek(0, os.SEEK_END)
        try:
            self._file.write(line)
            self._sync()
        except OSError:
            try:  # do not leave half a line behind
                self._file.truncate(start)
                self._sync()
            except OSError:
                pass  # the reader reports and skips a torn line
            raise

    def _sync(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())

    @property
    def closed(self) -> bool:
        return self._file is None

    def close(self) -> None:
        """Release the file and the lock (idempotent)."""
        for f in (self._file, self._lock_file):
            if f is not None:
                try:
                    f.close()
                except OSError:
                    pass
        self._file = self._lock_file = None

    def __del__(self):
        self.close()
