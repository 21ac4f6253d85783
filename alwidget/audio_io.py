"""Decoding, probing and fingerprinting audio: one clip or file at a time, no dataset.

- :func:`load_audio` / :func:`decode_clip`: decode a segment of a file (or
  cut an array) to mono float32 at a sample rate, reading only what is needed;
- :func:`probe_clip`: check cheaply that a file can be decoded (header and
  last frame of the segment) and read its lengths;
- :func:`file_fingerprint`, :func:`content_hash`, :func:`clip_cache_keys`:
  what keys a clip's rows in the embedding cache.

Layering: imports :mod:`alwidget._resample`, :mod:`alwidget._recordings` and
:mod:`alwidget.errors`; :mod:`alwidget.audio` (the dataset) and
:mod:`alwidget.embedding` (the engine) build on it, never the other way round.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from collections.abc import Iterable

import numpy as np
import soundfile as sf

from alwidget._recordings import probe_recording
from alwidget._resample import resample
from alwidget.errors import AudioLoadError

__all__ = ["clip_cache_keys", "content_hash", "decode_clip", "file_fingerprint", "load_audio", "probe_clip"]

# A decoder may return a little less than the header promises (mp3 frame
# counts are estimates); more missing than this means a truncated file.
_SHORT_READ_TOLERANCE = 0.02

# Content fingerprint of a file for the embedding cache key: CRC-32 of its first,
# middle and last block (of the whole file when it is small).
_FINGERPRINT_BLOCK = 4096
# path -> ((size, mtime_ns, inode, ctime_ns), fingerprint): repeated embed()
# calls in one process re-read a file only when its stat signature changed.
_fingerprints: dict[str, tuple[tuple[int, int, int, int], str]] = {}
_MAX_FINGERPRINTS = 500_000


def load_audio(
    source: str | os.PathLike | np.ndarray, sr: int, *, offset: float = 0.0, duration: float | None = None
) -> np.ndarray:
    """Decode one clip to mono float32 at ``sr``, reading only what is needed.

    Parameters
    ----------
    source : path or ndarray
        An audio file, or a mono array already sampled at ``sr``.
    sr : int
        Target sample rate in Hz; files at another rate are resampled (soxr).
    offset : float
        Start of the segment, in seconds.
    duration : float or None
        Length of the segment in seconds; the result is zero-padded or trimmed
        to exactly ``round(duration * sr)`` samples. None reads to the end.

    Returns
    -------
    ndarray, shape (n_samples,), float32

    Raises
    ------
    AudioLoadError
        If the file cannot be decoded, is shorter than its header says, or
        holds NaN or infinite samples.
    """
    try:
        return decode_clip(source, sr, offset, duration)
    except ValueError as exc:
        what = "the array" if isinstance(source, np.ndarray) else repr(os.fspath(source))
        msg = f"cannot decode {what}: {exc}. Re-encode or remove the file."
        raise AudioLoadError(msg) from None


def decode_clip(source: str | os.PathLike | np.ndarray, sr: int, offset: float, duration: float | None) -> np.ndarray:
    """:func:`load_audio`, raising ``ValueError(reason)`` for undecodable files or non-finite samples.

    The reason is a short sentence without the file's name, for callers that
    report many clips at once (the embedding engine lists them in ``ds.errors``).
    An array is taken as already at ``sr``: only cut at ``offset`` and padded
    or trimmed to ``duration``.
    """
    if isinstance(source, np.ndarray):
        y = source[int(round(offset * sr)) :]
    else:
        y = _read_segment(os.fspath(source), sr, offset, duration)
    if duration is not None:  # pad or trim to the exact length
        size = int(round(duration * sr))
        y = y[:size] if len(y) >= size else np.pad(y, (0, size - len(y)))
    y = np.ascontiguousarray(y, dtype=np.float32)
    finite = np.isfinite(y)
    if not finite.all():
        first = offset + int(np.argmin(finite)) / sr
        msg = (
            f"non-finite audio: {y.size - int(np.count_nonzero(finite))} of its {y.size} samples are NaN or "
            f"infinite (first at {first:.3f} s), so its float audio data is corrupt"
        )
        raise ValueError(msg)
    return y


def _sf_reason(exc: Exception, path: str) -> str:
    """libsndfile's message without its ``Error opening '<path>': `` prefix."""
    return str(exc).replace(f"Error opening {path!r}: ", "")


def _read_segment(path: str, sr: int, offset: float, duration: float | None) -> np.ndarray:
    """Seek to ``offset`` and decode only the frames of the segment."""
    try:
        with sf.SoundFile(path) as f:
            native_sr, total = f.samplerate, f.frames
            start = min(int(round(offset * native_sr)), total)
            wanted = total - start if duration is None else min(int(np.ceil(duration * native_sr)), total - start)
            if start:
                f.seek(start)
            y = f.read(frames=wanted, dtype="float32", always_2d=True)
    except (RuntimeError, OSError) as exc:
        raise ValueError(_sf_reason(exc, path)) from None
    if len(y) < wanted * (1 - _SHORT_READ_TOLERANCE):
        msg = f"truncated: its header promises {wanted} frames from {offset} s but only {len(y)} could be decoded"
        raise ValueError(msg)
    y = y.mean(axis=1) if y.shape[1] > 1 else y[:, 0]
    return resample(y, native_sr, sr)


def probe_clip(path: str, offset: float, duration: float | None) -> tuple[float, float]:
    """Check that a file can be decoded; return the clip length and the file length in seconds.

    Reads the header and decodes the last frame of the wanted segment
    (:func:`~alwidget._recordings.probe_recording`), which catches unreadable,
    empty, unsupported and truncated files cheaply.
    """
    native_sr, total = probe_recording(path, offset, duration)
    start = int(round(offset * native_sr))
    return (duration if duration is not None else (total - start) / native_sr), total / native_sr


def file_fingerprint(path: str, st: os.stat_result) -> str:
    """CRC-32 of a file's first, middle and last 4 KiB (of all of it when small), as hex.

    A cheap content check beside the clip id, size and mtime of the cache key,
    not a cryptographic hash (CRC-32 is chosen for speed; timings of the
    embedding cache are in ``benchmarks/README.md``).
    Remembered per path until the file's size, mtime, inode or ctime changes,
    so repeated calls cost one ``os.stat`` per file.

    Raises
    ------
    OSError
        If the file cannot be read.
    """
    sig = (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
    known = _fingerprints.get(path)
    if known is not None and known[0] == sig:
        return known[1]
    block, size = _FINGERPRINT_BLOCK, st.st_size
    with open(path, "rb") as f:
        if size <= 3 * block:
            crcs = [zlib.crc32(f.read())]
        else:
            crcs = []
            for start in (0, (size - block) // 2, size - block):
                f.seek(start)
                crcs.append(zlib.crc32(f.read(block)))
    if len(_fingerprints) >= _MAX_FINGERPRINTS:
        _fingerprints.clear()
    digest = "".join(f"{c:08x}" for c in crcs)
    _fingerprints[path] = (sig, digest)
    return digest


def content_hash(y: np.ndarray, sr: int) -> str:
    """blake2b (8 bytes, hex) of ``sr`` and the float32 samples of ``y``: the clip id of an in-memory clip."""
    h = hashlib.blake2b(digest_size=8)
    h.update(str(sr).encode())
    h.update(np.ascontiguousarray(y, dtype=np.float32).tobytes())
    return h.hexdigest()


def clip_cache_keys(clips: Iterable[tuple[str, str | None]]) -> list[str | None]:
    """Embedding-cache keys of ``(clip_id, path or None)`` pairs, one per pair.

    An in-memory clip (``path`` None) is keyed by its id (a content hash). A
    file's key is its clip id, size, mtime and content fingerprint
    (:func:`file_fingerprint`) joined by ``\\0``, or None when the file can no
    longer be read. The fingerprint keeps two folders with the same file
    names, sizes and mtimes apart, and stays valid when a folder is moved. A
    window's id holds its start (``rec.wav@12.5``); each file is stat-ed once
    however many windows it has.
    """
    keys: list[str | None] = []
    stamps: dict[str, str | None] = {}
    for clip_id, path in clips:
        if path is None:
            keys.append(clip_id)
            continue
        stamp = stamps.get(path, "")
        if stamp == "":
            try:
                st = os.stat(path)
                stamp = f"{st.st_size}\0{st.st_mtime_ns}\0{file_fingerprint(path, st)}"
            except OSError:
                stamp = None
            stamps[path] = stamp
        keys.append(None if stamp is None else f"{clip_id}\0{stamp}")
    return keys
