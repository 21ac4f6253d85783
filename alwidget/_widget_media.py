"""What the labelling widget sends to the browser for one clip: WAV bytes and a spectrogram.

Private helper of :mod:`alwidget.session`. The spectrogram is sent as raw
``uint8`` pixels (``n_mels`` rows, lowest band first) that the front end paints
on a canvas with a colour map, which is much cheaper than a PNG per clip.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

__all__ = ["ClipMedia", "MediaCache", "freq_ticks", "spectrogram_pixels"]

_MAX_FRAMES = 600  # wider spectrograms are averaged down to this many columns
_DYNAMIC_RANGE_DB = 80.0


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


def freq_ticks(sr: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None) -> tuple:
    """Where round frequencies sit on a mel axis: ``((fraction of the height from the bottom, label), ...)``.

    Bands are spaced evenly in mel (librosa's Slaney scale, as
    :func:`~alwidget.features.log_mel_spectrogram` uses), so a frequency's
    place is its mel value's place between ``fmin`` and ``fmax``.
    """
    fmax = sr / 2 if fmax is None else fmax
    lo, hi = _hz_to_mel(fmin), _hz_to_mel(fmax)
    out = []
    for hz in (100, 200, 500, 1000, 2000, 4000, 8000, 16000):
        if fmin < hz < fmax:
            frac = (_hz_to_mel(hz) - lo) / (hi - lo)
            if 0.04 < frac < 0.96 and (not out or frac - out[-1][0] > 0.12):  # labels never overlap
                out.append((round(frac, 4), f"{hz // 1000}k" if hz >= 1000 else str(hz)))
    return tuple(out)


def _hz_to_mel(hz: float) -> float:
    """Slaney's mel scale (librosa's default): linear below 1 kHz, logarithmic above."""
    if hz < 1000.0:
        return hz * 3.0 / 200.0
    return 15.0 + math.log(hz / 1000.0) / (math.log(6.4) / 27.0)


def spectrogram_pixels(waveform: np.ndarray, sr: int, n_mels: int) -> tuple[bytes, int, int]:
    """Log-mel spectrogram as ``uint8`` bytes, shape ``(n_mels, frames)``.

    0 is ``max - 80 dB`` (or quieter), 255 the loudest bin of the clip.
    """
    from alwidget.features import log_mel_spectrogram

    S = log_mel_spectrogram(waveform, sr, n_mels=n_mels)
    if S.shape[1] > _MAX_FRAMES:  # average neighbouring frames so the payload stays small
        edges = np.linspace(0, S.shape[1], _MAX_FRAMES + 1).astype(int)
        S = np.add.reduceat(S, edges[:-1], axis=1) / np.diff(edges)
    top = float(S.max()) if S.size else 0.0
    scaled = (S - (top - _DYNAMIC_RANGE_DB)) * (255.0 / _DYNAMIC_RANGE_DB)
    pixels = np.clip(np.nan_to_num(scaled, nan=0.0), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(pixels).tobytes(), int(S.shape[0]), int(S.shape[1])


def load_media(dataset, index: int, n_mels: int) -> ClipMedia:
    """Decode clip ``index`` of ``dataset`` into a :class:`ClipMedia`.

    Uses only the dataset's public API: ``ds[i]``, ``wav_bytes``, ``names``
    and (when present) ``clip_id`` and ``duration``.
    """
    waveform, sr = dataset[index]
    spec, rows, cols = spectrogram_pixels(waveform, sr, n_mels)
    clip_id = dataset.clip_id(index) if hasattr(dataset, "clip_id") else str(index)
    duration = dataset.duration(index) if hasattr(dataset, "duration") else len(waveform) / sr
    return ClipMedia(
        index=int(index),
        name=str(_name(dataset, index)),
        clip_id=str(clip_id),
        duration=float(duration),
        wav=dataset.wav_bytes(index),
        spectrogram=spec,
        n_mels=rows,
        frames=cols,
        freq_ticks=freq_ticks(int(sr), rows),
    )


def _name(dataset, index: int) -> str:
    names = getattr(dataset, "names", None)
    if names is None:
        return f"clip {index}"
    return names[index]


class MediaCache:
    """A small thread-safe LRU cache of :class:`ClipMedia`, filled ahead of time by the worker."""

    def __init__(self, dataset, n_mels: int, capacity: int):
        self.dataset = dataset
        self.n_mels = n_mels
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
        item = load_media(self.dataset, index, self.n_mels)
        self._put(item)
        return item

    def prefetch(self, indices) -> None:
        """Decode the clips in ``indices`` that are not cached yet."""
        for i in indices:
            with self._lock:
                if int(i) in self._items:
                    continue
            self._put(load_media(self.dataset, int(i), self.n_mels))

    def __contains__(self, index: int) -> bool:
        with self._lock:
            return index in self._items

    def _put(self, item: ClipMedia) -> None:
        with self._lock:
            self._items[item.index] = item
            self._items.move_to_end(item.index)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
