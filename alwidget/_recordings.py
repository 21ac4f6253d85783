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

Lossy codecs are not sample-exact across seeks and reads in libsndfile 1.2:
an MP3 decoded from another seek point differs (the bit reservoir after a
seek, then float rounding for good), and one read in several blocks differs
by up to 30 % around the block edges of MPEG-2 files (16-24 kHz); Opus
differs slightly. Only codecs measured exact (:data:`BLOCK_EXACT_SUBTYPES`:
PCM, float, u-law/A-law in any container, FLAC, Ogg Vorbis) are streamed in
blocks. Any other file is decoded from anchors: a span is decoded by a fresh
open, a seek to the last multiple of ``_ANCHOR_SECONDS`` (MP3) or
``_ANCHOR_SECONDS_OTHER`` at least ``_PREROLL`` seconds before it (so the
decoder has settled) and ONE read up to its end. One read from the same seek gives the same samples whatever its
length, so :func:`stream_windows` (one read per anchor, for all its windows)
and :func:`read_window` (``ds[i]``) agree exactly for these codecs too.

Every decode compares the file's sample rate with the one the dataset was
built with: a file replaced since then (the same audio at another rate, say)
would put every window on the wrong samples, so its windows fail with
:class:`RecordingChangedError` instead.

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
from alwidget.errors import RecordingChangedError

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

#: Largest window in samples at the dataset rate: one hour at 48 kHz (691 MB as
#: float32). Every window is decoded whole into memory (``ds[i]``, a batch of
#: :meth:`~alwidget.audio.AudioDataset.embed`), so a larger one would not fit.
MAX_WINDOW_SAMPLES = 3600 * 48000

#: libsndfile subtypes whose decoding is sample-exact whatever the seek point and
#: read sizes (measured with libsndfile 1.2: windows streamed in 3001-frame blocks
#: equal seeked ones bit for bit, 8-48 kHz). Their windows are streamed in blocks;
#: other codecs (MP3, Opus, ADPCM, GSM, ALAC, ...) are decoded from anchors.
BLOCK_EXACT_SUBTYPES = frozenset(
    {"PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE", "ULAW", "ALAW", "VORBIS"}
)

# Codecs outside BLOCK_EXACT_SUBTYPES: at least this much audio (seconds) is
# decoded and dropped before a span: an MP3 decoder that starts at a seek point
# lacks the bit reservoir (up to 511 bytes: 0.5 s at 8 kbps) and overlap of the
# frames before it (measured settled after 0.25 s at 8 kbps) ...
_PREROLL = 1.0
# ... from a seek to a multiple of this (seconds). Larger: fewer seeks while
# streaming, more audio decoded by ds[i] (up to this + _PREROLL extra). A fresh
# MPEG seek scans the file up to its target (about 0.1 ms per second of audio):
# sparse anchors; other seeks are cheap (Opus: 3 ms, an ogg bisection).
_ANCHOR_SECONDS = 60.0
_ANCHOR_SECONDS_OTHER = 5.0


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
        ``round(window * sr)``. Window ``k`` is row ``k``. Every start lies
        inside the recording, however large ``hop`` is (a hop past the end
        leaves window 0 only).
    """
    if length <= 0:
        return np.zeros((0, 2), dtype=np.int64)
    win_n = min(int(round(window * sr)), length + 1)  # longer acts the same, and stays inside int64
    if float(hop) * sr >= length:  # window 0 only (and no k * hop * sr overflowing int64)
        starts = np.zeros(1, dtype=np.int64)
    else:
        n_max = int(math.ceil(length / (hop * sr))) + 2
        # np.rint rounds half to even like round(): the same samples as start_sample(k, hop, sr)
        starts = np.rint(np.arange(n_max, dtype=np.float64) * hop * sr)
        starts = starts[starts < length].astype(np.int64)  # compared as floats: nothing past the end is cast
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


def block_exact(f: sf.SoundFile) -> bool:
    """Whether libsndfile decodes this open file sample-exactly in any blocks (:data:`BLOCK_EXACT_SUBTYPES`)."""
    return f.subtype in BLOCK_EXACT_SUBTYPES


def _anchor(rec: Recording, lo: int, subtype: str) -> int:
    """Native frame to seek to for a span from native frame ``lo`` of a codec outside ``BLOCK_EXACT_SUBTYPES``."""
    seconds = _ANCHOR_SECONDS if subtype.startswith("MPEG") else _ANCHOR_SECONDS_OTHER
    grid = max(1, int(round(seconds * rec.native_sr)))
    return (max(0, lo - int(math.ceil(_PREROLL * rec.native_sr))) // grid) * grid


def _from_native(rec: Recording, y: np.ndarray, a: int, b: int, base: int) -> np.ndarray:
    """Output samples ``[a, b)`` from native mono ``y`` decoded from the frame whose output index is ``base``."""
    if len(y):
        y = resample(y, rec.native_sr, rec.sr)
    return np.ascontiguousarray(y[a - base : b - base], dtype=np.float32)


def _changed(rec: Recording, f: sf.SoundFile) -> str | None:
    """Why the open file ``f`` no longer matches ``rec`` (another sample rate), or None."""
    if f.samplerate == rec.native_sr:
        return None
    return (
        f"the file changed since the dataset was built: its sample rate is now {f.samplerate} Hz, "
        f"not {rec.native_sr} Hz, so the window positions no longer match its audio; "
        "rebuild the dataset with AudioDataset.from_recordings()"
    )


def read_span(rec: Recording, a: int, b: int) -> np.ndarray:
    """Samples ``[a, b)`` of ``rec`` at ``rec.sr``, mono float32, seeking to them.

    Returns fewer than ``b - a`` samples when the file ends early (truncated
    since the dataset was built, or ``b`` past the end). Codecs outside
    :data:`BLOCK_EXACT_SUBTYPES` are decoded from their anchor (:func:`_anchor`).

    Raises
    ------
    RecordingChangedError
        The file's sample rate is not the one the dataset was built with.
    ValueError
        The decoder's reason when the file cannot be opened or read.
    """
    try:
        with sf.SoundFile(rec.path) as f:
            changed = _changed(rec, f)
            if changed is not None:
                raise RecordingChangedError(changed)
            lo, hi, base = _native_range(rec, a, b)
            hi = min(hi, f.frames)
            if lo >= hi:
                return np.zeros(0, dtype=np.float32)
            start = lo if block_exact(f) else _anchor(rec, lo, f.subtype)
            if start:
                f.seek(start)
            y = _mono(f.read(frames=hi - start, dtype="float32", always_2d=True))[lo - start :]
    except (RuntimeError, OSError) as exc:
        raise ValueError(_sf_error(exc, rec.path)) from None
    return _from_native(rec, y, a, b, base)


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
    RecordingChangedError
        The file's sample rate changed since the dataset was built.
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
        non-finite samples, or the file's sample rate changed since the
        dataset was built) yields the reason instead. Every position is
        yielded once, in order. Memory holds about ``win_n + block``
        samples, never the whole recording.

    Notes
    -----
    Only codecs in :data:`BLOCK_EXACT_SUBTYPES` are decoded in one pass of
    ``block``-frame reads. Other files (MP3, Opus, ...) are decoded from
    anchors as :func:`read_window` decodes them: one fresh open, seek and
    read per anchor (every ``_ANCHOR_SECONDS`` s for MP3) for all the windows
    that start after it, so the windows equal ``ds[i]`` exactly; memory then
    holds up to ``_ANCHOR_SECONDS + _PREROLL`` s of audio plus a window.
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
        changed, exact, subtype = _changed(rec, f), block_exact(f), f.subtype
        if changed is not None or not exact:
            f.close()
            yield from _anchored_windows(rec, starts, win_n, changed, subtype)
            return
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
                    error, chunk = _sf_error(exc, rec.path), _salvage(rec.path, pos, want, native_sr=rec.native_sr)
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


def _anchored_windows(
    rec: Recording, starts: Sequence[int], win_n: int, changed: str | None, subtype: str
) -> Iterator[tuple[int, np.ndarray | str]]:
    """:func:`stream_windows` for codecs outside ``BLOCK_EXACT_SUBTYPES``: every window as :func:`read_window` gives it.

    Windows whose spans share an anchor are cut from one read from it (the
    same samples as a shorter read from it); every window fails with
    ``changed`` if given. If that read fails (a corrupt part), each window
    of the anchor is decoded alone by :func:`read_window`, so the windows
    before the damage are kept, as ``ds[i]`` keeps them.
    """
    if changed is not None:
        for k in range(len(starts)):
            yield k, changed
        return
    spans = [(int(s), *_native_range(rec, int(s), int(s) + win_n)) for s in starts]
    k = 0
    while k < len(spans):
        anchor = _anchor(rec, spans[k][1], subtype)
        end = k + 1
        while end < len(spans) and _anchor(rec, spans[end][1], subtype) == anchor:
            end += 1
        hi = max(span[2] for span in spans[k:end])
        buf, changed, failed = np.zeros(0, dtype=np.float32), None, False
        try:
            with sf.SoundFile(rec.path) as f:
                changed = _changed(rec, f)
                if changed is None and min(hi, f.frames) > anchor:
                    if anchor:
                        f.seek(anchor)
                    buf = _mono(f.read(frames=min(hi, f.frames) - anchor, dtype="float32", always_2d=True))
        except (RuntimeError, OSError):
            failed = True
        for j in range(k, end):
            s, lo, span_hi, base = spans[j]
            if changed is not None:
                y: np.ndarray | str = changed
            elif failed:
                try:
                    y = read_window(rec, s, win_n)
                except ValueError as exc:
                    y = str(exc)
            else:
                y = _from_native(rec, buf[lo - anchor : span_hi - anchor], s, s + win_n, base)
                y = _window_or_reason(rec, s, win_n, y)
            yield j, y
        k = end


def _salvage(path: str, pos: int, want: int, piece: int = 4096, native_sr: int | None = None) -> np.ndarray:
    """Mono frames ``[pos, pos + want)`` that decode before the first error, read in small pieces."""
    parts: list[np.ndarray] = []
    try:
        with sf.SoundFile(path) as f:
            if native_sr is not None and f.samplerate != native_sr:  # replaced meanwhile: nothing is salvaged
                return np.zeros(0, dtype=np.float32)
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
