"""Checking and listing the inputs of :class:`~alwidget.audio.AudioDataset`'s constructors.

Parameter checks (sample rate, duration, offset, window and hop, labels),
finding audio files in folders, clip ids relative to a root folder, and the
one warning that lists skipped files. No decoding here (see
:mod:`alwidget.audio_io`), and nothing imports :mod:`alwidget.audio`.
"""

from __future__ import annotations

import numbers
import os
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from alwidget._recordings import MAX_WINDOW_SAMPLES
from alwidget.errors import InvalidInputError

__all__ = [
    "AUDIO_EXTENSIONS",
    "check_labels",
    "check_params",
    "check_window_params",
    "check_window_size",
    "list_audio",
    "recording_files",
    "relative_id",
    "subfolder_labels",
    "warn_bad",
]

#: File name endings that :meth:`AudioDataset.from_folder` treats as audio.
AUDIO_EXTENSIONS = frozenset(
    {".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".aifc", ".au", ".w64", ".caf"}
)


def check_params(sr: Any, duration: Any, offset: Any) -> tuple[int, float | None, float]:
    if isinstance(sr, bool) or not isinstance(sr, numbers.Integral) or sr <= 0:
        msg = f"sr must be a positive integer sample rate in Hz (e.g. 16000), got {sr!r}"
        raise InvalidInputError(msg)
    if duration is not None and (not isinstance(duration, numbers.Real) or not np.isfinite(duration) or duration <= 0):
        msg = f"duration must be None or a positive number of seconds, got {duration!r}"
        raise InvalidInputError(msg)
    if not isinstance(offset, numbers.Real) or not np.isfinite(offset) or offset < 0:
        msg = f"offset must be a non-negative number of seconds, got {offset!r}"
        raise InvalidInputError(msg)
    return int(sr), None if duration is None else float(duration), float(offset)


def check_labels(labels: Sequence | None, n: int, what: str) -> list | None:
    if labels is None:
        return None
    labels = list(labels)
    if len(labels) != n:
        msg = f"labels has {len(labels)} entries but there are {n} {what}; give one label per clip (or None)"
        raise InvalidInputError(msg)
    return labels


def warn_bad(errors: Sequence[tuple[str, str]], n_total: int, stacklevel: int) -> None:
    """One warning for the ``(path, reason)`` files skipped out of ``n_total``; ``stacklevel`` as the caller's."""
    shown = "; ".join(f"{e.path}: {e.reason}" for e in errors[:3])
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    msg = f"{len(errors)} of {n_total} audio files were skipped: {shown}{more}. See ds.errors for the full list."
    warnings.warn(msg, UserWarning, stacklevel=stacklevel + 1)


def list_audio(root: Path, recursive: bool) -> list[str]:
    """Audio files under ``root`` (absolute paths, sorted by relative posix path), hidden ones skipped."""
    found, n_other = [], 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")) if recursive else []
        for fname in filenames:
            if fname.startswith("."):
                continue
            if Path(fname).suffix.lower() in AUDIO_EXTENSIONS:
                found.append(os.path.join(dirpath, fname))
            else:
                n_other += 1
    if not found:
        msg = (
            f"no audio files found in {os.fspath(root)!r}{' or its subfolders' if recursive else ''} "
            f"({n_other} other files ignored); expected extensions: {', '.join(sorted(AUDIO_EXTENSIONS))}"
        )
        raise InvalidInputError(msg)
    found.sort(key=lambda p: Path(p).relative_to(root).as_posix())
    return found


def subfolder_labels(paths: list[str], root: str) -> list[str | None]:
    """Top-level subfolder of each path below ``root`` (None for files directly in it)."""
    labels = []
    for p in paths:
        rel = Path(os.path.relpath(p, root))
        labels.append(rel.parts[0] if len(rel.parts) > 1 and not rel.parts[0] == ".." else None)
    return labels


def relative_id(path: str, root: str) -> str:
    """``path`` relative to ``root`` as posix (absolute posix when outside ``root``)."""
    rel = os.path.relpath(path, root)
    return Path(path).as_posix() if rel.startswith("..") else Path(rel).as_posix()


def _positive_seconds(value: Any, name: str, hint: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) or value <= 0:
        msg = f"{name} must be a positive, finite number of seconds, got {value!r}; {hint}"
        raise InvalidInputError(msg)
    return float(value)


def check_window_params(
    window: Any, hop: Any, sr: Any, min_window: Any
) -> tuple[float, float, int | None, float | None]:
    """Validate :meth:`AudioDataset.from_recordings` arguments; ``hop=None`` becomes ``window``."""
    window = _positive_seconds(window, "window", "e.g. window=5.0 cuts 5-second windows")
    hop = window if hop is None else _positive_seconds(hop, "hop", "e.g. hop=2.5 with window=5.0 overlaps by half")
    if hop < 0.001:
        msg = f"hop={hop!r} s is below 1 ms, the resolution of window ids (rec.wav@12.5); use hop >= 0.001"
        raise InvalidInputError(msg)
    if sr is not None and (isinstance(sr, bool) or not isinstance(sr, numbers.Integral) or sr <= 0):
        msg = f"sr must be None (the first recording's rate) or a positive integer in Hz (e.g. 16000), got {sr!r}"
        raise InvalidInputError(msg)
    if min_window is not None:
        min_window = _positive_seconds(min_window, "min_window", "or None to keep every partial last window")
        if min_window > window:
            msg = f"min_window={min_window!r} s exceeds window={window!r} s; give a value in (0, window] or None"
            raise InvalidInputError(msg)
    return window, hop, None if sr is None else int(sr), min_window


def check_window_size(window: float, sr: int) -> None:
    """A window must hold at least one sample and at most ``MAX_WINDOW_SAMPLES`` at ``sr``."""
    win_n = int(round(window * sr))
    if win_n < 1:
        msg = f"window={window!r} s is shorter than one sample at {sr} Hz; use a longer window"
        raise InvalidInputError(msg)
    if win_n > MAX_WINDOW_SAMPLES:
        msg = (
            f"window={window!r} s is {win_n:,} samples at {sr} Hz, more than the {MAX_WINDOW_SAMPLES:,} "
            f"(one hour at 48 kHz, {MAX_WINDOW_SAMPLES * 4 / 1e6:.0f} MB as float32) a window may hold, since "
            f"every window is decoded whole into memory; use window <= {MAX_WINDOW_SAMPLES / sr:g} s at this "
            "rate (windows of seconds to minutes are typical)"
        )
        raise InvalidInputError(msg)


def recording_files(path_or_files: Any) -> tuple[list[str], str]:
    """Files of :meth:`AudioDataset.from_recordings`: (absolute paths, root folder of the ids)."""
    if isinstance(path_or_files, (str, os.PathLike)):
        path = Path(path_or_files).expanduser()
        if path.is_dir():
            root = path.resolve()
            return list_audio(root, True), str(root)
        if not path.exists():
            msg = f"{os.fspath(path)!r} does not exist; pass a folder of recordings, one audio file or a list of files"
            raise InvalidInputError(msg)
        path = os.path.abspath(path)
        return [path], os.path.dirname(path)
    if isinstance(path_or_files, np.ndarray) or not isinstance(path_or_files, Iterable):
        msg = (
            f"from_recordings takes a folder, a file or a list of files, got {type(path_or_files).__name__}; "
            "for in-memory audio use AudioDataset.from_arrays"
        )
        raise InvalidInputError(msg)
    paths = []
    for p in path_or_files:
        if not isinstance(p, (str, os.PathLike)):
            msg = f"from_recordings got {p!r} in its list of files; give file paths (str or Path)"
            raise InvalidInputError(msg)
        paths.append(os.path.abspath(os.path.expanduser(os.fspath(p))))
    if not paths:
        msg = "from_recordings got an empty list of files; pass at least one audio file"
        raise InvalidInputError(msg)
    return paths, os.path.commonpath([os.path.dirname(p) for p in paths])
