"""Path checks, file reading and atomic text writes for :mod:`alwidget.export` and the other writers.

A file written here (tables, label exports, the app's settings) gets the
permission bits of the file it replaces, else ``0o666 & ~umask``, as a plain
``open(path, "w")`` would (:func:`file_mode`).
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

from alwidget.errors import ExportError, InvalidInputError


def check_path(path) -> Path:
    """``path`` as a Path; InvalidInputError unless it is a non-empty str or os.PathLike."""
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        msg = f"path must be a file or folder path (str or os.PathLike), got {path!r}"
        raise InvalidInputError(msg)
    return Path(path)


def read_bytes(path: Path, what: str) -> bytes:
    """The bytes of the file ``path``; InvalidInputError naming ``what`` and the reason when it cannot be read."""
    if path.is_dir():
        msg = f"cannot read the {what} {path}: it is a folder; pass the path of a file in it"
        raise InvalidInputError(msg)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        msg = f"cannot read the {what} {path}: it does not exist; check the path (relative to {Path.cwd()})"
        raise InvalidInputError(msg) from None
    except OSError as exc:
        msg = f"cannot read the {what} {path}: {exc.strerror or exc}"
        raise InvalidInputError(msg) from None


def write_files(files: list[tuple[Path, str]], what: str) -> None:
    """Write each ``(path, text)`` atomically; on failure remove every temporary file and new file."""
    for target, _ in files:
        if not target.parent.is_dir():
            msg = (
                f"cannot write the {what} {target}: the folder {target.parent} does not exist "
                "(or is not a folder); create it first, or choose another path"
            )
            raise ExportError(msg)
        if target.is_dir():
            msg = f"cannot write the {what} {target}: it is a folder; pass a file path"
            raise ExportError(msg)
    temps: list[str] = []
    created: list[Path] = []
    replaced: list[Path] = []
    target = files[0][0] if files else None
    try:
        for target, text in files:
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
            temps.append(tmp)
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, file_mode(target))
        for (target, _), tmp in zip(files, temps):
            existed = target.exists()
            os.replace(tmp, target)
            (replaced if existed else created).append(target)
        for folder in {t.parent for t, _ in files}:
            fsync_folder(folder)
    except BaseException as exc:
        for tmp in temps:
            Path(tmp).unlink(missing_ok=True)
        for done in created:
            done.unlink(missing_ok=True)
        if isinstance(exc, UnicodeEncodeError):
            raise unencodable(exc, f"the {what} {target}") from None
        if not isinstance(exc, OSError):
            raise
        left = f"; {len(replaced)} existing file(s) were already replaced" if replaced else "; nothing was written"
        msg = f"cannot write the {what} {target}: {exc.strerror or exc}{left}"
        raise ExportError(msg) from None


def unencodable(exc: UnicodeEncodeError, what: str) -> InvalidInputError:
    """The error for text that UTF-8 cannot encode (a lone surrogate, e.g. from an undecodable file name)."""
    text = exc.object
    a = text.rfind("\n", 0, exc.start) + 1
    b = text.find("\n", exc.start)
    line = text[a : b if b >= 0 else len(text)]
    shown = line if len(line) <= 120 else line[:117] + "..."
    msg = (
        f"cannot write {what}: the text {shown!r} holds {text[exc.start]!r}, a lone surrogate that UTF-8 cannot "
        "encode (a file name that was not valid UTF-8?); replace it, e.g. with "
        "name.encode('utf-8', 'replace').decode('utf-8'), and write again; nothing was written"
    )
    return InvalidInputError(msg)


def file_mode(target: Path) -> int:
    """Permission bits for ``target``: those of the file it replaces, else what ``open()`` would give.

    A new file gets ``0o666 & ~umask`` (0644 under the usual umask 022), as a
    plain ``open(path, "w")`` would: ``tempfile.mkstemp`` alone creates 0600.
    """
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~umask()


def umask() -> int:
    """The process umask, read without changing it where the platform allows (Linux), else set and restored."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


_UMASK_LOCK = threading.Lock()


def fsync_folder(folder: Path) -> None:
    """Make the renames durable where the platform allows it (not on Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
