"""Long recordings cut into fixed-length windows: window arithmetic and bounded decoding.

A recording of ``length`` samples (at the dataset rate ``sr``) is cut into
windows of ``round(window * sr)`` samples. Window ``k`` starts at sample
``round(k * hop * sr)``; windows continue while their start lies inside the
recording, and the series stops after the first window that reaches the end.
The last window may be partial (shorter than ``window``): it is kept, and
zero-padded when decoded, unless ``min_window`` is given and it is shorter
than that.

Resampled recordings (native rate != ``sr``) are decoded so that a window is
the same slice of the whole recording resampled at once: a decode starts a
little before the window (``_MARGIN`` seconds) at a sample where the native
and target sample grids coincide, and ends a little after it, so soxr's filter
never sees the cut. :func:`read_span` (one window, one seek) and
:func:`stream_windows` (many windows, one sequential pass with
``soxr.ResampleStream``) therefore agree to float32 rounding (about 1e-6);
without resampling they return identical samples.

Nothing here imports :mod:`alwidget.audio`; it imports this module.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from alwidget._resample import resample

# A decoder may return a little less than the header promises (mp3 frame
# counts are estimates); a window missing more than this fraction of its
# samples counts as truncated. Same rule as for clips in alwidget.audio.
SHORT_READ_TOLERANCE = 0.02

# Extra audio decoded on each side of a span when resampling, in seconds: more
# than soxr HQ's filter reaches (measured: under 20 ms down to an 8 kHz rate),
# so a cut never shows in the samples kept.
_MARGIN = 0.1

# Native frames read per block while streaming.
_BLOCK_FRAMES = 1 << 17


@dataclass(frozen=True)
class Recording:
    """One long audio file as the windows of a dataset see it.

    Attributes
    ----------
    rec_id : str
        Relative posix path (the windows' clip ids without ``@start``).
    path : str
        Absolute file path.
    native_sr : int
        The file's sample rate in Hz.
    frames : int
        Frames in the file (from its header when the dataset was built).
    sr : int
        Dataset sample rate in Hz.
    """

    rec_id: str
    path: str
    native_sr: int
    frames: int
    sr: int

    @property
    def length(self) -> int:
        """Length in samples at ``sr`` (what soxr returns for the whole file)."""
        if self.native_sr == self.sr:
            return self.frames
        return int(round(self.frames * self.sr / self.native_sr))

    @property
    def seconds(self) -> float:
        """Length in seconds (from the header)."""
        return self.frames / self.native_sr


def start_sample(k: int, hop: float, sr: int) -> int:
    """First sample (at ``sr``) of window ``k``: ``round(k * hop * sr)``."""
    return int(round(k * hop * sr))


def window_spans(length: int, sr: int, window: float, hop: float, min_window: float | None = None) -> np.ndarray:
    """Sample bounds of the windows of a recording.

    Parameters
    ----------
    length : int
        Recording length in samples at ``sr``.
    sr : int
        Sample rate in Hz.
    window, hop : float
        Window length and hop in seconds (``hop > window`` leaves gaps).
    min_window : float or None
        Drop the last window if it is partial and shorter than this (seconds).

    Returns
    -------
    ndarray, shape (n_windows, 2), int64
        ``[start, stop)`` of each window in samples; ``stop`` is clipped to
        ``length``, so only the last window can be shorter than
        ``round(window * sr)``. Window ``k`` is row ``k``.
    """
    win_n = int(round(window * sr))
    if length <= 0:
        return np.zeros((0, 2), dtype=np.int64)
    n_max = int(math.ceil(length / (hop * sr))) + 2
    # np.rint rounds half to even like round(): the same samples as start_sample(k, hop, sr)
    starts = np.rint(np.arange(n_max, dtype=np.float64) * hop * sr).astype(np.int64)
    starts = starts[starts < length]
    reaches = np.flatnonzero(starts + win_n >= length)
    n = int(reaches[0]) + 1 if len(reaches) else len(starts)
    starts = starts[:n]
    stops = np.minimum(starts + win_n, length)
    if n and min_window is not None and stops[-1] - starts[-1] < min(win_n, int(round(min_window * sr))):
        starts, stops = starts[:-1], stops[:-1]
    return np.stack([starts, stops], axis=1)


def _native_range(rec: Recording, a: int, b: int) -> tuple[int, int, int]:
    """Native frames ``[lo, hi)`` to decode for output samples ``[a, b)``, and the output index of ``lo``.

    Without resampling this is ``(a, b, a)``. With resampling the range grows
    by ``_MARGIN`` on each side and starts on a frame where both sample grids
    meet, so the output index of ``lo`` is an integer.
    """
    if rec.native_sr == rec.sr:
        return a, min(b, rec.frames), a
    g = math.gcd(rec.native_sr, rec.sr)
    step_in, step_out = rec.native_sr // g, rec.sr // g
    margin = int(math.ceil(_MARGIN * rec.sr))
    first = max(0, (a - margin) // step_out)
    last = -(-(b + margin) // step_out)
    return first * step_in, min(rec.frames, last * step_in), first * step_out


def _sf_error(exc: Exception, path: str) -> str:
    """libsndfile's message without its ``Error opening '<path>': `` prefix and final period."""
    return str(exc).replace(f"Error opening {path!r}: ", "").strip().rstrip(".")


def _mono(y: np.ndarray) -> np.ndarray:
    return y.mean(axis=1) if y.shape[1] > 1 else y[:, 0]


def read_span(rec: Recording, a: int, b: int) -> np.ndarray:
    """Samples ``[a, b)`` of ``rec`` at ``rec.sr``, mono float32, seeking to them.

    Returns fewer than ``b - a`` samples when the file ends early (truncated
    since the dataset was built, or ``b`` past the end).

    Raises
    ------
    ValueError
        The decoder's reason when the file cannot be opened or read.
    """
    lo, hi, base = _native_range(rec, a, b)
    try:
        with sf.SoundFile(rec.path) as f:
            hi = min(hi, f.frames)
            if lo >= hi:
                return np.zeros(0, dtype=np.float32)
            if lo:
                f.seek(lo)
            y = _mono(f.read(frames=hi - lo, dtype="float32", always_2d=True))
    except (RuntimeError, OSError) as exc:
        raise ValueError(_sf_error(exc, rec.path)) from None
    if len(y):
        y = resample(y, rec.native_sr, rec.sr)
    return np.ascontiguousarray(y[a - base : b - base], dtype=np.float32)


def _finish_window(rec: Recording, start: int, win_n: int, y: np.ndarray) -> np.ndarray:
    """Check a decoded window ``y`` (``start``: its first sample) and zero-pad it to ``win_n``.

    Raises
    ------
    ValueError
        If it lacks more than ``SHORT_READ_TOLERANCE`` of its samples
        (truncated file) or holds NaN or infinite samples.
    """
    wanted = min(win_n, rec.length - start)
    if len(y) < wanted * (1 - SHORT_READ_TOLERANCE) or (wanted > 0 and len(y) == 0):
        msg = (
            f"truncated: the window at {start / rec.sr:.3f} s needs {wanted} samples but only {len(y)} "
            f"could be decoded (the header promised {rec.seconds:.3f} s)"
        )
        raise ValueError(msg)
    finite = np.isfinite(y)
    if not finite.all():
        first = (start + int(np.argmin(finite))) / rec.sr
        msg = (
            f"non-finite audio: {y.size - int(np.count_nonzero(finite))} of the window's {y.size} samples "
            f"are NaN or infinite (first at {first:.3f} s), so its float audio data is corrupt"
        )
        raise ValueError(msg)
    if len(y) < win_n:
        y = np.pad(y, (0, win_n - len(y)))
    return y


def read_window(rec: Recording, start: int, win_n: int) -> np.ndarray:
    """One window: ``win_n`` samples from ``start`` (zero-padded past the end), float32.

    Raises
    ------
    ValueError
        Undecodable, truncated or non-finite audio (the reason).
    """
    return _finish_window(rec, start, win_n, read_span(rec, start, start + win_n))


def stream_windows(
    rec: Recording, starts: Sequence[int], win_n: int, *, block: int = _BLOCK_FRAMES
) -> Iterator[tuple[int, np.ndarray | str]]:
    """Decode windows of one recording in a single sequential pass.

    Parameters
    ----------
    rec : Recording
    starts : sequence of int, ascending
        First sample of each window at ``rec.sr`` (overlaps and gaps allowed).
    win_n : int
        Window length in samples.
    block : int
        Native frames decoded per read.

    Yields
    ------
    (position, waveform or reason)
        ``position`` indexes ``starts``; the waveform is float32 of ``win_n``
        samples (zero-padded past the end), the same as :func:`read_window`;
        a window that cannot be decoded (file truncated or corrupt part-way,
        non-finite samples) yields the reason instead. Every position is
        yielded once, in order. Memory holds about ``win_n + block``
        samples, never the whole recording.
    """
    if not len(starts):
        return
    a, b = int(starts[0]), min(int(starts[-1]) + win_n, rec.length)
    lo, hi, base = _native_range(rec, a, max(a, b))
    resample = rec.native_sr != rec.sr
    buf = np.zeros(0, dtype=np.float32)
    buf_start = base  # output index of buf[0]
    j, error = 0, None
    try:
        f = sf.SoundFile(rec.path)
    except (RuntimeError, OSError) as exc:
        error = _sf_error(exc, rec.path)
    else:
        with f:
            if resample:
                import soxr

                stream = soxr.ResampleStream(rec.native_sr, rec.sr, 1, dtype="float32", quality="HQ")
            pos = lo
            try:
                if lo:
                    f.seek(lo)
            except (RuntimeError, OSError) as exc:
                error, pos = _sf_error(exc, rec.path), hi
            while pos < hi:
                want = min(block, hi - pos)
                try:
                    chunk = _mono(f.read(frames=want, dtype="float32", always_2d=True))
                except (RuntimeError, OSError) as exc:  # keep what decodes before the damage
                    error, chunk = _sf_error(exc, rec.path), _salvage(rec.path, pos, want)
                pos += len(chunk)
                done = error is not None or len(chunk) < want or pos >= hi
                if resample:
                    chunk = stream.resample_chunk(chunk, last=done)
                buf = np.concatenate([buf, chunk]) if len(buf) else np.ascontiguousarray(chunk, dtype=np.float32)
                buf_end = buf_start + len(buf)
                while j < len(starts) and min(int(starts[j]) + win_n, rec.length) <= buf_end:
                    s = int(starts[j])
                    yield j, _window_or_reason(rec, s, win_n, buf[s - buf_start : s - buf_start + win_n])
                    j += 1
                if j < len(starts):  # keep only what the next windows still need
                    drop = min(int(starts[j]) - buf_start, len(buf))
                    if drop > 0:
                        buf, buf_start = buf[drop:], buf_start + drop
                if done:
                    break
    buf_end = buf_start + len(buf)
    for k in range(j, len(starts)):  # the file ended early, or could not be read
        s = int(starts[k])
        if error is not None and s + min(win_n, rec.length - s) > buf_end:
            yield k, f"decoding stopped at {buf_end / rec.sr:.3f} s ({error})"
            continue
        y = buf[max(0, s - buf_start) : max(0, s - buf_start + win_n)] if s >= buf_start else buf[:0]
        yield k, _window_or_reason(rec, s, win_n, y)


def _salvage(path: str, pos: int, want: int, piece: int = 4096) -> np.ndarray:
    """Mono frames ``[pos, pos + want)`` that decode before the first error, read in small pieces."""
    parts: list[np.ndarray] = []
    try:
        with sf.SoundFile(path) as f:
            f.seek(pos)
            got = 0
            while got < want:
                y = f.read(frames=min(piece, want - got), dtype="float32", always_2d=True)
                if not len(y):
                    break
                parts.append(_mono(y))
                got += len(y)
    except (RuntimeError, OSError):
        pass
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def _window_or_reason(rec: Recording, start: int, win_n: int, y: np.ndarray) -> np.ndarray | str:
    try:
        return _finish_window(rec, start, win_n, np.array(y, dtype=np.float32))
    except ValueError as exc:
        return str(exc)


def probe_recording(path: str, offset: float = 0.0, duration: float | None = None) -> tuple[int, int]:
    """``(native_sr, frames)`` of a file whose segment (``offset`` s, ``duration`` s or to the end) ends decodably.

    Raises
    ------
    ValueError
        Missing, unreadable, empty or truncated file (the reason).
    """
    if not os.path.isfile(path):
        msg = "file not found" if not os.path.exists(path) else "not a regular file"
        raise ValueError(msg)
    try:
        f = sf.SoundFile(path)
    except (RuntimeError, OSError) as exc:
        msg = f"not a readable audio file ({_sf_error(exc, path)})"
        raise ValueError(msg) from None
    with f:
        native_sr, total = f.samplerate, f.frames
        if total <= 0:
            msg = "zero-length: the file holds no audio frames"
            raise ValueError(msg)
        start = int(round(offset * native_sr))
        if start >= total:
            msg = f"offset={offset} s is beyond the end of the {total / native_sr:.3f} s file"
            raise ValueError(msg)
        end = total if duration is None else min(total, start + int(np.ceil(duration * native_sr)))
        try:
            f.seek(end - 1)
            n_read = len(f.read(frames=1))
        except (RuntimeError, OSError) as exc:
            n_read, detail = 0, f" ({_sf_error(exc, path)})"
        else:
            detail = ""
        if n_read != 1:
            msg = f"truncated or corrupt: the end of its audio data cannot be decoded{detail}"
            raise ValueError(msg)
    return int(native_sr), int(total)
