"""What the labelling widget sends to the browser for one clip: WAV bytes and a spectrogram.

Part of :mod:`alwidget.session`. The spectrogram is sent as raw
``uint8`` pixels (``n_mels`` rows, lowest band first) that the front end paints
on a canvas with a colour map, which is much cheaper than a PNG per clip.

A window of a long recording (a dataset with ``is_windowed`` true and a
``context(i, before=, after=)`` method) is played and drawn with up to
``context`` seconds of the recording around it, so the sound is heard in
its setting; :attr:`ClipMedia.window_start` and :attr:`ClipMedia.window_end`
say where the window itself lies in that audio, and :attr:`ClipMedia.offset`
where that audio starts in the recording (the front end labels the time axis
in the recording's clock).
"""

from __future__ import annotations

import io
import math
import numbers
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from alwidget.errors import InvalidInputError

__all__ = ["ClipMedia", "MediaCache", "check_context", "freq_ticks", "load_media", "spectrogram_pixels", "wav_bytes"]

_MAX_FRAMES = 600  # wider spectrograms are averaged down to this many columns
_DYNAMIC_RANGE_DB = 80.0
_TOP_TICK = 0.84  # frequency ticks stay below this fraction of the height: the top frequency is labelled there


@dataclass(frozen=True)
class ClipMedia:
    """Everything the front end needs to show one clip."""

    index: int
    name: str
    clip_id: str
    duration: float
    wav: bytes
    spectrogram: bytes
    n_mels: int
    frames: int
    freq_ticks: tuple = ()  # ((height fraction from the bottom, "1k"), ...) for the frequency axis
    #: where the labelled window lies in the played audio, in seconds (plain clips: 0 and ``duration``)
    window_start: float = 0.0
    window_end: float | None = None  # None: ``duration``
    #: the recording the window comes from ("" for plain clips), and the window's place in it in seconds
    recording: str = ""
    start: float = 0.0
    end: float | None = None  # None: ``duration``
    #: the spectrogram's top frequency in Hz (half the sample rate; 0: unknown)
    top_hz: float = 0.0
    #: the levels that pixel values 0 and 255 stand for, in dB relative to the clip's loudest bin
    db_range: tuple = (-_DYNAMIC_RANGE_DB, 0.0)

    def __post_init__(self) -> None:
        if self.window_end is None:
            object.__setattr__(self, "window_end", float(self.duration))
        if self.end is None:
            object.__setattr__(self, "end", float(self.start) + float(self.duration))

    @property
    def offset(self) -> float:
        """Where the played audio starts in the recording, in seconds (``start - window_start``; 0 for plain clips)."""
        return float(self.start) - float(self.window_start)


def freq_ticks(sr: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None) -> tuple:
    """Where round frequencies sit on a mel axis: ``((fraction of the height from the bottom, label), ...)``.

    Bands are spaced evenly in mel (librosa's Slaney scale, as
    :func:`~alwidget.features.log_mel_spectrogram` uses), so a frequency's
    place is its mel value's place between ``fmin`` and ``fmax``. The top of
    the axis is left free for a label of ``fmax`` itself.
    """
    fmax = sr / 2 if fmax is None else fmax
    lo, hi = _hz_to_mel(fmin), _hz_to_mel(fmax)
    out = []
    for hz in (100, 200, 500, 1000, 2000, 4000, 8000, 16000):
        if fmin < hz < fmax:
            frac = (_hz_to_mel(hz) - lo) / (hi - lo)
            # labels never overlap each other, nor the top frequency's label that the front end adds
            if 0.04 < frac < _TOP_TICK and (not out or frac - out[-1][0] > 0.12):
                out.append((round(frac, 4), f"{hz // 1000}k" if hz >= 1000 else str(hz)))
    return tuple(out)


def _hz_to_mel(hz: float) -> float:
    """Slaney's mel scale (librosa's default): linear below 1 kHz, logarithmic above."""
    if hz < 1000.0:
        return hz * 3.0 / 200.0
    return 15.0 + math.log(hz / 1000.0) / (math.log(6.4) / 27.0)


def spectrogram_pixels(waveform: np.ndarray, sr: int, n_mels: int) -> tuple[bytes, int, int, tuple[float, float]]:
    """Log-mel spectrogram as ``uint8`` bytes, shape ``(n_mels, frames)``, and the dB range of the pixel values.

    0 is ``max - 80 dB`` (or quieter), 255 the loudest bin of the clip, and
    values in between are spaced evenly in dB: the returned range,
    ``(-80.0, 0.0)``, is the level of 0 and 255 in dB relative to that bin.
    """
    from alwidget.features import log_mel_spectrogram

    S = log_mel_spectrogram(waveform, sr, n_mels=n_mels)
    if S.shape[1] > _MAX_FRAMES:  # average neighbouring frames so the payload stays small
        edges = np.linspace(0, S.shape[1], _MAX_FRAMES + 1).astype(int)
        S = np.add.reduceat(S, edges[:-1], axis=1) / np.diff(edges)
    top = float(S.max()) if S.size else 0.0
    scaled = (S - (top - _DYNAMIC_RANGE_DB)) * (255.0 / _DYNAMIC_RANGE_DB)
    pixels = np.clip(np.nan_to_num(scaled, nan=0.0), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(pixels).tobytes(), int(S.shape[0]), int(S.shape[1]), (-_DYNAMIC_RANGE_DB, 0.0)


def check_context(context) -> tuple[float, float]:
    """``context`` as ``(before, after)`` seconds: one number means both sides."""
    if _is_real(context):
        values = (context, context)
    else:
        try:
            values = tuple(context)
        except TypeError:
            values = None
        if values is None or len(values) != 2 or not all(_is_real(v) for v in values):
            msg = f"context must be a number of seconds or a pair (before, after) of numbers, got {context!r}"
            raise InvalidInputError(msg)
    before, after = (float(v) for v in values)
    for side, v in (("before", before), ("after", after)):
        if not math.isfinite(v) or v < 0:
            msg = f"context must be finite and >= 0 seconds, got {v!r} seconds {side} the window"
            raise InvalidInputError(msg)
    return before, after


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _is_windowed(dataset) -> bool:
    flag = getattr(dataset, "is_windowed", False)
    if callable(flag):
        flag = flag()
    return bool(flag) and hasattr(dataset, "context")


def wav_bytes(waveform: np.ndarray, sr: int) -> bytes:
    """``waveform`` as a complete 16-bit PCM mono WAV file (as :meth:`AudioDataset.wav_bytes` writes it)."""
    import soundfile as sf

    y = np.clip(np.nan_to_num(np.asarray(waveform, dtype=np.float32).ravel()), -1.0, 1.0)
    buf = io.BytesIO()
    sf.write(buf, y, int(sr), format="WAV", subtype="PCM_16")
    return buf.getvalue()


def load_media(dataset, index: int, n_mels: int, context=(1.0, 1.0)) -> ClipMedia:
    """Decode clip ``index`` of ``dataset`` into a :class:`ClipMedia`.

    Uses only the dataset's public API: ``ds[i]``, ``wav_bytes``, ``names``
    and (when present) ``clip_id`` and ``duration``. For a windowed dataset
    (``is_windowed``), also ``recording``, ``start``, ``end`` and, unless
    ``context`` is ``(0, 0)``, ``context(i, before=, after=)``: the audio and
    the spectrogram then cover the window and up to ``context`` seconds
    (``(before, after)``, or one number for both sides) around it.
    """
    before, after = check_context(context)
    windowed = _is_windowed(dataset)
    clip_id = dataset.clip_id(index) if hasattr(dataset, "clip_id") else str(index)
    if windowed and (before > 0 or after > 0):
        waveform, sr, window_start, window_end = dataset.context(index, before=before, after=after)
        waveform = np.asarray(waveform, dtype=np.float32).ravel()
        wav = wav_bytes(waveform, sr)
        duration = len(waveform) / sr
    else:
        waveform, sr = dataset[index]
        wav = dataset.wav_bytes(index)
        duration = dataset.duration(index) if hasattr(dataset, "duration") else len(waveform) / sr
        if not windowed and hasattr(dataset, "start") and hasattr(dataset, "end"):
            real = float(dataset.end(index)) - float(dataset.start(index))  # a short file padded to the duration
            if 0 < real < duration:  # play and show the sound itself, not the padding
                waveform = np.asarray(waveform, dtype=np.float32)[: max(1, int(round(real * sr)))]
                wav, duration = wav_bytes(waveform, sr), real
        window_start, window_end = 0.0, duration
    duration = float(duration)
    window_start = min(max(float(window_start), 0.0), duration)
    window_end = min(max(float(window_end), window_start), duration)
    if windowed:
        recording = str(dataset.recording(index)) if hasattr(dataset, "recording") else ""
        start = float(dataset.start(index)) if hasattr(dataset, "start") else 0.0
        end = float(dataset.end(index)) if hasattr(dataset, "end") else start + (window_end - window_start)
    else:
        recording, start, end = "", 0.0, duration
    spec, rows, cols, db_range = spectrogram_pixels(waveform, sr, n_mels)
    return ClipMedia(
        index=int(index),
        name=str(clip_name(dataset, index)),
        clip_id=str(clip_id),
        duration=duration,
        wav=wav,
        spectrogram=spec,
        n_mels=rows,
        frames=cols,
        freq_ticks=freq_ticks(int(sr), rows),
        window_start=window_start,
        window_end=window_end,
        recording=recording,
        start=start,
        end=end,
        top_hz=float(sr) / 2,
        db_range=db_range,
    )


def clip_name(dataset, index: int) -> str:
    """How clip ``index`` is named to the user: its file name (``file@start`` for a window), else ``clip i``."""
    name = getattr(dataset, "name", None)
    if callable(name):
        try:
            return str(name(int(index)))
        except Exception:  # noqa: BLE001 - a name is only for messages: fall back to the index
            return f"clip {index}"
    names = getattr(dataset, "names", None)
    return f"clip {index}" if names is None else str(names[index])


class MediaCache:
    """A small thread-safe LRU cache of :class:`ClipMedia`, filled ahead of time by the worker."""

    def __init__(self, dataset, n_mels: int, capacity: int, context=(1.0, 1.0)):
        self.dataset = dataset
        self.n_mels = n_mels
        self.context = check_context(context)
        self.capacity = capacity
        self._items: OrderedDict[int, ClipMedia] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, index: int) -> ClipMedia:
        """The media of clip ``index``, decoded now if it is not cached."""
        with self._lock:
            item = self._items.get(index)
            if item is not None:
                self._items.move_to_end(index)
                return item
        item = load_media(self.dataset, index, self.n_mels, self.context)
        self._put(item)
        return item

    def prefetch(self, indices) -> None:
        """Decode the clips in ``indices`` that are not cached yet."""
        for i in indices:
            with self._lock:
                if int(i) in self._items:
                    continue
            self._put(load_media(self.dataset, int(i), self.n_mels, self.context))

    def __contains__(self, index: int) -> bool:
        with self._lock:
            return index in self._items

    def _put(self, item: ClipMedia) -> None:
        with self._lock:
            self._items[item.index] = item
            self._items.move_to_end(item.index)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
