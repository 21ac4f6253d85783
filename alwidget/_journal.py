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

Locking: a writer holds an exclusive ``flock`` on the journal file itself, so
every name of the file (symlinks, hard links) shares one lock. A side file
``<journal>.lock`` only records the holder's pid, for messages. Another
process may ask the holder to hand the journal over (``takeover``): it writes
``<journal>.takeover``; a daemon thread in the holder's process (one for all
journals, polling a few times a second) closes the journal and releases the
lock, after any write in progress.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import threading
import time
import uuid
import weakref
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from alwidget.errors import InvalidInputError, JournalError, JournalLockedError

try:  # POSIX: a kernel lock, released automatically when the process dies
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

FORMAT = "alwidget-journal"
VERSION = 1
_PREFIX = '{"crc":"'
_POLL_S = 0.25  # how often a holder looks for a takeover request
_OPEN_IN_THIS_PROCESS: dict[tuple[int, int], weakref.ref] = {}  # (st_dev, st_ino) -> writer
_REGISTRY_LOCK = threading.RLock()


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
    foreign: bool = False  # not empty, yet nothing in it looks like an alwidget journal


def read(path) -> JournalContents:
    """Read every valid record of the journal at ``path``; report the rest."""
    out = JournalContents()
    data = Path(path).read_bytes()
    prefix = _PREFIX.encode("ascii")
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
                f"{path}, line {number}: a damaged line break was repaired ({len(found)} records kept, {lost} skipped)"
            )
        else:
            out.problems.append(f"{path}, line {number}: bad checksum or unreadable record; it was skipped")
    if data and not out.records and not (data.startswith(prefix) or prefix.startswith(data)):
        out.foreign = True  # no valid record, and it does not even start like one
    if out.records and out.records[0].get("kind") == "header":
        out.header = out.records.pop(0)
        if out.header.get("format") != FORMAT:
            msg = f"{path} is not an alwidget journal (format {out.header.get('format')!r})"
            raise JournalError(msg)
    elif out.records:
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


def check_path(path) -> Path:
    """``path`` as a Path, or a clear error for a value that cannot name a journal file.

    Refuses what is not a str or os.PathLike (ints, bytes), an empty name, a
    folder, and anything that exists but is not a regular file (a FIFO would
    block the first write forever, a device would swallow the labels).
    """
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
        msg = (
            f"journal must be a file path (a str or pathlib.Path such as 'labels.jsonl'), "
            f"got {type(path).__name__}: {path!r}"
        )
        raise InvalidInputError(msg)
    raw = os.fspath(path)
    if isinstance(raw, bytes) or not raw.strip():
        msg = f"journal must be a file path such as 'labels.jsonl', got {path!r}"
        raise InvalidInputError(msg)
    p = Path(raw)
    try:
        st = os.stat(p)
    except (OSError, ValueError):
        return p  # created when opened (or the open explains what is wrong)
    if stat.S_ISDIR(st.st_mode):
        msg = f"the journal {p} is a folder; pass a file path inside it, e.g. {p / 'labels.jsonl'}"
        raise JournalError(msg)
    if not stat.S_ISREG(st.st_mode):
        msg = (
            f"the journal {p} is not a regular file (a pipe, socket or device); "
            "pass the path of a normal file, e.g. labels.jsonl"
        )
        raise JournalError(msg)
    return p


def _open_append(path: Path):
    """Open ``path`` for appending without ever blocking (a FIFO created meanwhile is refused, not waited on)."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as exc:
        if exc.errno == errno.EISDIR:
            msg = f"the journal {path} is a folder; pass a file path inside it, e.g. {path / 'labels.jsonl'}"
            raise JournalError(msg) from None
        if exc.errno == errno.ENXIO:  # a FIFO with no reader
            msg = f"the journal {path} is a pipe, not a file; pass the path of a normal file, e.g. labels.jsonl"
            raise JournalError(msg) from None
        msg = (
            f"cannot open the journal {path} for writing: {exc.strerror or exc}; "
            "check that its folder exists, is writable and has free space, or use another journal file"
        )
        raise JournalError(msg) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            msg = (
                f"the journal {path} is not a regular file (a pipe, socket or device); "
                "pass the path of a normal file, e.g. labels.jsonl"
            )
            raise JournalError(msg)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return _wrap_fd(fd)  # opening changes nothing in an existing file
    except BaseException:
        os.close(fd)
        raise


def _wrap_fd(fd: int):
    """An unbuffered binary file over the journal's descriptor (tests swap in a disk that runs full)."""
    return os.fdopen(fd, "ab", buffering=0)


def session_name() -> str:
    """The notebook this kernel runs (``JPY_SESSION_NAME``, set by Jupyter Server), or the script, or ""."""
    name = os.environ.get("JPY_SESSION_NAME", "")
    if not name:
        import sys

        argv0 = sys.argv[0] if sys.argv else ""
        if argv0 and not argv0.endswith(("ipykernel_launcher.py", "-c")) and argv0 != "-c":
            name = argv0
    return name


def file_key(path) -> tuple[int, int] | None:
    """``(st_dev, st_ino)`` of the file at ``path`` (links resolved), or None if it does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. EPERM: it exists, owned by someone else
        return True
    return True


class JournalWriter:
    """Appends records to a journal file, holding an exclusive lock on it.

    Open it (which takes the lock), :func:`read` what is there, then
    :meth:`commit`, :meth:`start` and :meth:`append`. Nothing is written to
    the journal before :meth:`start`, so an open that is then refused leaves
    the file untouched.

    Opening a journal that another live process holds raises
    :class:`JournalLockedError`, unless ``takeover`` is True: then the holder
    is asked to release it, and the opener waits up to ``timeout`` seconds.
    Within one process, the newest writer takes the journal over on
    :meth:`commit` (re-running a notebook cell must not lock you out) and the
    older one is closed.

    ``on_takeover(writer, pid, token)`` is called (in the watcher thread)
    when another process asks for the journal; it should finish what it is
    writing, then call :meth:`close_for_takeover`. Without it the writer
    closes itself.
    """

    def __init__(self, path, *, takeover: bool = False, timeout: float = 5.0, on_takeover=None, on_superseded=None):
        self.path = check_path(path)
        self._file = None
        self._locked = False
        self._inherit: weakref.ref | None = None
        self._on_takeover = on_takeover
        self._on_superseded = on_superseded
        self._good_size = 0  # bytes known to end with a complete record (or 0)
        self._need_newline = False
        self.taken_over_by: int | None = None  # pid of the process that took the journal over
        self.taken_over_name: str = ""  # the notebook (or script) that took it over, where known
        self._file = _open_append(self.path)
        try:
            st = os.fstat(self._file.fileno())
            self.key = (st.st_dev, st.st_ino)
            self.real_path = Path(os.path.realpath(self.path))
            previous = _live_writer(self.key)
            if previous is not None:
                self._inherit = weakref.ref(previous)
            else:
                self._lock(takeover, timeout)
        except BaseException:
            self._file.close()
            self._file = None
            raise

    # ---------------------------------------------------------------- lock
    @property
    def _info_path(self) -> Path:
        return self.real_path.with_name(self.real_path.name + ".lock")

    @property
    def _request_path(self) -> Path:
        return self.real_path.with_name(self.real_path.name + ".takeover")

    def _try_flock(self) -> bool:
        try:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            msg = f"cannot lock the journal {self.path}: {exc.strerror or exc}; use a journal on a local disk"
            raise JournalError(msg) from None
        self._locked = True
        return True

    def _holder(self) -> str:
        try:
            text = self._info_path.read_text()
            pid = int(text.split("\n")[0])
        except (OSError, ValueError, IndexError):
            return "another running session"
        name = text.split("\n", 1)[1].strip() if "\n" in text else ""
        return f"another running session ({name}, pid {pid})" if name else f"another running session (pid {pid})"

    def _lock(self, takeover: bool, timeout: float) -> None:
        if fcntl is None:  # pragma: no cover - Windows: best effort, no kernel lock
            return
        if self._try_flock():
            return
        holder = self._holder()
        if not takeover:
            msg = (
                f"the journal {self.path} is open in {holder}; close that notebook or script first "
                "(or shut down its kernel), take the journal over with learner.open_journal(path, takeover=True), "
                "or use another journal file"
            )
            raise JournalLockedError(msg)
        token = f"{os.getpid()}-{uuid.uuid4().hex}"
        request = self._request_path
        tmp = request.with_name(f"{request.name}.{token}.tmp")
        try:
            tmp.write_text(
                json.dumps(
                    {"pid": os.getpid(), "token": token, "until": time.time() + timeout + 1, "name": session_name()}
                )
            )
            os.replace(tmp, request)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            msg = (
                f"the journal {self.path} is open in {holder}, and the request to take it over could not be "
                f"written ({request}: {exc.strerror or exc}); close that session first, or use another journal file"
            )
            raise JournalLockedError(msg) from None
        end = time.monotonic() + timeout
        try:
            while not self._try_flock():
                if time.monotonic() > end:
                    msg = (
                        f"the journal {self.path} is still open in {holder}, which did not release it within "
                        f"{timeout:g} s (its kernel may be busy running a long cell, or hung). Shut down that "
                        "kernel (or stop that process), then run this cell again; or use another journal file"
                    )
                    raise JournalLockedError(msg)
                time.sleep(0.02)
        finally:
            _remove_request(request, token)

    def commit(self) -> None:
        """Make this the journal's writer: take it over from an older writer in this process, if any."""
        with _REGISTRY_LOCK:
            previous = self._inherit() if self._inherit is not None else None
            if self._inherit is not None:
                handed = previous.hand_over() if previous is not None else None
                if handed is not None:
                    # adopt its locked file descriptor: no moment in which another process could take the lock
                    self._file.close()
                    self._file, self._locked = handed
                else:
                    self._lock(False, 0)
                self._inherit = None
            _OPEN_IN_THIS_PROCESS[self.key] = weakref.ref(self)
        if self._locked:
            try:
                self._info_path.write_text(f"{os.getpid()}\n{session_name()}\n")
            except OSError:
                pass  # only used in messages
            _WATCHER.add(self)

    def hand_over(self) -> tuple | None:
        """Give this writer's open, locked file to a newer writer of this process (called under the registry lock).

        Returns ``(file, locked)``, or None if this writer is closed. From
        then on this writer refuses appends (:attr:`taken_over_by` is this
        process), and its ``on_superseded`` callback is told.
        """
        if self._file is None:
            return None
        handed = (self._file, self._locked)
        self._file, self._locked = None, False
        _WATCHER.remove(self)
        self.taken_over_by = os.getpid()  # later appends here are refused, not kept pending
        self.taken_over_name = "a newer learner in this kernel (a re-run cell)"
        if self._on_superseded is not None:
            try:
                self._on_superseded(self)
            except Exception:  # noqa: BLE001 - a callback must not stop the new writer
                pass
        return handed

    def _read_request(self) -> tuple[int, str] | None:
        """``(pid, token)`` of a live process asking for this journal now, or None."""
        try:
            request = json.loads(self._request_path.read_text())
            pid, token, until = int(request["pid"]), str(request["token"]), float(request["until"])
        except (OSError, ValueError, KeyError, TypeError):
            return None  # none (the usual case), being written, or unreadable
        if pid == os.getpid() or time.time() > until or not _pid_alive(pid):
            return None  # a stale request: its sender gave up or died
        return pid, token

    def check_request(self) -> None:
        """Called by the watcher thread: hand the journal over if a live process asks for it."""
        request = None if self.closed else self._read_request()
        if request is None:
            return
        if self._on_takeover is not None:
            self._on_takeover(self, *request)
        else:
            self.close_for_takeover(*request)

    def close_for_takeover(self, pid: int, token: str) -> bool:
        """Release the journal to process ``pid`` if its request ``token`` still stands; return whether it did.

        Later appends raise, and :attr:`taken_over_by` says who took it.
        """
        if self.closed or self._read_request() != (pid, token):
            return False  # the requester gave up meanwhile: keep the journal
        self.taken_over_by = pid
        try:
            self.taken_over_name = str(json.loads(self._request_path.read_text()).get("name") or "")
        except (OSError, ValueError, AttributeError):
            self.taken_over_name = ""
        self.close()
        return True

    # --------------------------------------------------------------- write
    def start(self, torn_tail: int = 0) -> None:
        """Make the journal ready for appends.

        Cuts an incomplete last line (``torn_tail`` bytes, as :func:`read`
        measured it) and makes sure the next record starts on a line of its
        own. A cut that fails now (disk trouble) is retried before the next
        write, so this never raises for a full disk.
        """
        fd = self._file.fileno()
        size = os.fstat(fd).st_size
        self._good_size = max(size - torn_tail, 0)
        self._need_newline = self._good_size > 0 and self._byte_at(self._good_size - 1) != b"\n"
        if size > self._good_size:
            try:
                self._file.truncate(self._good_size)
                os.fsync(fd)
            except OSError:
                pass

    def _byte_at(self, pos: int) -> bytes:
        with open(self.path, "rb") as f:
            f.seek(pos)
            return f.read(1)

    def append(self, line: bytes) -> None:
        """Write one encoded line and make it durable (flush + fsync).

        On failure (disk full, ...) the file is left as it was: a later retry
        of the same line never duplicates it or leaves half a line behind.
        """
        if self._file is None:
            if self.taken_over_by is not None:
                msg = f"the journal {self.path} was taken over by another session (pid {self.taken_over_by})"
            else:
                msg = f"the journal {self.path} was closed (another learner in this process opened it)"
            raise OSError(msg)
        self._write(line)

    def _write(self, line: bytes) -> None:
        fd = self._file.fileno()
        size = os.fstat(fd).st_size
        if size > self._good_size:  # bytes of a failed write whose cut failed too: cut them now
            self._file.truncate(self._good_size)
            os.fsync(fd)
        elif size < self._good_size:  # changed behind our back: start from what is there
            self._good_size = size
            self._need_newline = size > 0 and self._byte_at(size - 1) != b"\n"
        data = (b"\n" + line) if self._need_newline else line
        try:
            view, done = memoryview(data), 0
            while done < len(data):
                n = self._file.write(view[done:])
                if not n:
                    raise OSError(errno.EIO, "the journal file accepted no bytes")
                done += n
            os.fsync(fd)
        except OSError:
            try:  # do not leave half a line behind
                self._file.truncate(self._good_size)
                os.fsync(fd)
            except OSError:
                pass  # cut before the next write (see above)
            raise
        self._good_size += len(data)
        self._need_newline = False

    # --------------------------------------------------------------- close
    @property
    def closed(self) -> bool:
        return self._file is None

    def close(self) -> None:
        """Release the file and the lock (idempotent)."""
        with _REGISTRY_LOCK:
            f, self._file = self._file, None
            locked, self._locked = self._locked, False
            if f is not None and locked:
                try:  # while still holding the lock, so a new holder's pid is never removed
                    if self._info_path.read_text().split("\n")[0].strip() == str(os.getpid()):
                        self._info_path.unlink()
                except (OSError, ValueError):
                    pass
            if f is not None:
                try:
                    f.close()  # releases the flock
                except OSError:
                    pass
        _WATCHER.remove(self)

    def __del__(self):
        f, self._file = getattr(self, "_file", None), None
        if f is not None:
            try:
                f.close()
            except OSError:
                pass


def _live_writer(key: tuple[int, int]) -> JournalWriter | None:
    with _REGISTRY_LOCK:
        ref = _OPEN_IN_THIS_PROCESS.get(key)
        writer = ref() if ref is not None else None
        if writer is None or writer.closed:
            _OPEN_IN_THIS_PROCESS.pop(key, None)
            return None
        return writer


def _remove_request(request: Path, token: str) -> None:
    try:
        if token in request.read_text():
            request.unlink()
    except OSError:
        pass


class _Watcher:
    """One daemon thread per process that looks for takeover requests of every open journal.

    It runs only while at least one journal is open, and stops as soon as the
    last one is closed.
    """

    def __init__(self):
        self._cond = threading.Condition(threading.Lock())
        self._writers: list[weakref.ref] = []
        self._thread: threading.Thread | None = None

    def add(self, writer: JournalWriter) -> None:
        with self._cond:
            self._writers.append(weakref.ref(writer))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="alwidget-journal-watcher", daemon=True)
                self._thread.start()

    def remove(self, writer: JournalWriter) -> None:
        with self._cond:
            self._writers = [r for r in self._writers if r() is not None and r() is not writer]
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                alive = []
                for ref in self._writers:
                    writer = ref()
                    if writer is not None and not writer.closed:
                        alive.append(ref)
                writer = None
                self._writers = alive
                if not self._writers:
                    self._thread = None
                    return
                self._cond.wait(_POLL_S)
                refs = list(self._writers)
            for ref in refs:
                writer = ref()
                if writer is not None:
                    try:
                        writer.check_request()
                    except Exception:  # noqa: BLE001 - keep watching the other journals
                        pass
                writer = None  # do not keep a writer alive between polls


_WATCHER = _Watcher()
