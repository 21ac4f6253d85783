"""Synthetic demo sounds: six classes of everyday-ish sounds, no download.

:func:`make_sounds` synthesises bird chirps, struck bells, engine hum,
knocks, noise bursts and vowel-like voices with random pitch, length,
loudness and timing over coloured background noise. Some clips are quiet
against the background and some carry a faint sound of another class, so the
classes overlap a little: a linear model on the default embeddings gets most
but not all clips right, which makes learning curves instructive.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import scipy.fft
import scipy.signal
import soundfile as sf

from alwidget.audio import AudioDataset
from alwidget.errors import InvalidInputError

__all__ = ["SOUND_CLASSES", "make_sounds"]


def _env(n: int, attack: float, rng: np.random.Generator) -> np.ndarray:
    """Fast attack, exponential-ish release envelope of ``n`` samples."""
    a = max(1, int(attack * n))
    return np.concatenate([np.linspace(0, 1, a), np.linspace(1, 0, n - a) ** rng.uniform(1, 3)])


def _place(out: np.ndarray, event: np.ndarray, start: int) -> None:
    end = min(len(out), start + len(event))
    if end > start:
        out[start:end] += event[: end - start]


def _bird(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(n)
    f_base = rng.uniform(1800, 5500)
    t0 = rng.integers(0, n // 3)
    for _ in range(rng.integers(1, 6)):
        m = int(rng.uniform(0.04, 0.2) * sr)
        t = np.arange(m) / sr
        sweep = rng.uniform(-1500, 1500) * t / t[-1]
        trill = rng.uniform(0, 300) * np.sin(2 * np.pi * rng.uniform(10, 40) * t)
        phase = 2 * np.pi * np.cumsum(f_base * rng.uniform(0.9, 1.1) + sweep + trill) / sr
        chirp = np.sin(phase) + rng.uniform(0, 0.3) * np.sin(2 * phase)
        _place(out, chirp * np.hanning(m), t0)
        t0 += m + int(rng.uniform(0.02, 0.25) * sr)
    return out


def _bell(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(n)
    f0 = rng.uniform(250, 1400)
    ratios = np.array([1.0, 2.0, 2.4, 3.0, 4.2, 5.4]) * rng.uniform(0.98, 1.02, 6)
    ratios = ratios[ratios * f0 < sr / 2 - 200]
    for _ in range(rng.integers(1, 3)):
        start = rng.integers(0, n // 2)
        t = np.arange(n - start, dtype=np.float32) / sr
        decay = rng.uniform(0.2, 1.2)
        partials = [
            rng.uniform(0.2, 1)
            / k
            * np.sin(2 * np.pi * f0 * r * t + rng.uniform(0, 2 * np.pi))
            * np.exp(-t * k / decay)
            for k, r in enumerate(ratios.tolist(), start=1)
        ]
        _place(out, np.sum(partials, axis=0), start)
    return out


def _engine(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n, dtype=np.float32) / sr
    f0 = rng.uniform(25, 100) * (1 + rng.uniform(0, 0.08) * np.sin(2 * np.pi * rng.uniform(0.2, 2) * t))
    phase = (2 * np.pi * np.cumsum(f0) / sr).astype(np.float32)
    k = np.arange(1, 21, dtype=np.float32)[:, None]
    amps = rng.uniform(0.3, 1, (20, 1)).astype(np.float32) / k ** rng.uniform(0.5, 1.2)
    hum = (amps * np.sin(k * phase)).sum(axis=0)
    b, a = scipy.signal.butter(2, rng.uniform(150, 600), fs=sr)
    rumble = scipy.signal.lfilter(b, a, rng.standard_normal(n)) * rng.uniform(0.5, 3)
    return (hum + rumble) * (1 + 0.3 * np.sin(2 * np.pi * rng.uniform(1, 8) * t))


def _knock(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(n)
    modes = rng.uniform(150, 2500, rng.integers(1, 4))
    t = np.arange(int(0.15 * sr)) / sr
    period = rng.uniform(0.08, 0.4)
    start = rng.uniform(0, 0.3)
    for _ in range(rng.integers(2, 9)):
        hit = sum(np.sin(2 * np.pi * f * t) * np.exp(-t / rng.uniform(0.008, 0.05)) for f in modes)
        hit[: int(0.004 * sr)] += rng.standard_normal(int(0.004 * sr)) * rng.uniform(0.2, 1.5)
        _place(out, hit * rng.uniform(0.5, 1), int(start * sr))
        start += period * rng.uniform(0.7, 1.3)
    return out


def _noise(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(n)
    for _ in range(rng.integers(1, 4)):
        m = int(rng.uniform(0.1, 0.7) * sr)
        lo = rng.uniform(200, 4000)
        b, a = scipy.signal.butter(2, [lo, min(lo * rng.uniform(1.5, 4), sr / 2 - 100)], btype="band", fs=sr)
        burst = scipy.signal.lfilter(b, a, rng.standard_normal(m)) * _env(m, rng.uniform(0.05, 0.5), rng)
        _place(out, burst, rng.integers(0, max(1, n - m // 2)))
    return out


_VOWELS = np.array([[730, 1090, 2440], [530, 1840, 2480], [270, 2290, 3010], [570, 840, 2410], [300, 870, 2240]])


def _voice(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(n)
    f0 = rng.uniform(90, 300)
    start = rng.integers(0, n // 4)
    for _ in range(rng.integers(1, 4)):
        m = int(rng.uniform(0.15, 0.6) * sr)
        t = np.arange(m) / sr
        f = f0 * (1 + rng.uniform(-0.15, 0.15) * t / t[-1] + 0.02 * np.sin(2 * np.pi * rng.uniform(4, 7) * t))
        phase = np.cumsum(f) / sr
        pulses = (np.diff(np.floor(phase), prepend=0) > 0).astype(float)  # glottal pulse train
        y = scipy.signal.lfilter([1.0], [1.0, -0.95], pulses)  # spectral tilt
        for formant, bw in zip(_VOWELS[rng.integers(len(_VOWELS))] * rng.uniform(0.9, 1.15), (80, 100, 140)):
            r = np.exp(-np.pi * bw / sr)
            y = scipy.signal.lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * formant / sr), r * r], y)
        _place(out, y * _env(m, 0.15, rng), start)
        start += m + int(rng.uniform(0.05, 0.2) * sr)
    return out


_GENERATORS: dict[str, Callable[[int, int, np.random.Generator], np.ndarray]] = {
    "bird": _bird,
    "bell": _bell,
    "engine": _engine,
    "knock": _knock,
    "noise": _noise,
    "voice": _voice,
}
#: Names of the classes :func:`make_sounds` can synthesise.
SOUND_CLASSES: tuple[str, ...] = tuple(_GENERATORS)


def _background(n: int, rng: np.random.Generator) -> np.ndarray:
    """Coloured noise (1/f^alpha, alpha in [0, 2]), unit RMS."""
    m = scipy.fft.next_fast_len(n, real=True)
    spec = scipy.fft.rfft(rng.standard_normal(m).astype(np.float32))
    spec[1:] /= np.arange(1, len(spec), dtype=np.float32) ** (rng.uniform(0, 2) / 2)
    y = scipy.fft.irfft(spec, m)[:n]
    return y / _rms(y)


def _rms(y: np.ndarray) -> float:
    return float(np.sqrt(np.mean(y**2)) + 1e-12)


def _clip(label: str, sr: int, rng: np.random.Generator, lengths: tuple[float, float]) -> np.ndarray:
    n = int(rng.uniform(*lengths) * sr)
    event = _GENERATORS[label](n, sr, rng)
    event /= _rms(event)
    if rng.random() < 0.3:  # a faint sound of another class in the background
        other = rng.choice([c for c in SOUND_CLASSES if c != label])
        distractor = _GENERATORS[other](n, sr, rng)
        event += distractor / _rms(distractor) * 10 ** (rng.uniform(-20, -6) / 20)
    snr_db = rng.uniform(-6, 25)
    y = event * 10 ** (snr_db / 20) + _background(n, rng)
    return (y / np.abs(y).max() * 10 ** (rng.uniform(-26, -1) / 20)).astype(np.float32)


def make_sounds(
    n_per_class: int = 100,
    classes: Sequence[str] | None = None,
    sr: int = 16000,
    seed: int = 0,
    path: str | os.PathLike | None = None,
    *,
    lengths: tuple[float, float] = (1.0, 2.0),
    layout: str = "subfolder",
) -> AudioDataset:
    """Synthesise a labelled demo dataset (deterministic for a given seed).

    Parameters
    ----------
    n_per_class : int
        Clips per class.
    classes : sequence of str or None
        Subset of :data:`SOUND_CLASSES` (``bird``, ``bell``, ``engine``,
        ``knock``, ``noise``, ``voice``); None for all six.
    sr : int
        Sample rate in Hz.
    seed : int
        Random seed.
    path : str, PathLike or None
        Folder to write 16-bit WAV files into (created if needed), with a
        ``labels.csv`` (columns ``file,label``, paths relative to ``path``).
        None keeps the clips in memory.
    lengths : (float, float)
        Range of clip lengths in seconds.
    layout : {"subfolder", "flat"}
        ``"subfolder"``: ``path/<class>/<class>_0000.wav`` (so
        ``AudioDataset.from_folder(path, labels_from="subfolder")`` works);
        ``"flat"``: ``path/clip_00000.wav``, labels only in ``labels.csv``.

    Returns
    -------
    AudioDataset
        Clips in shuffled class order, with true labels in ``ds.labels``.

    Examples
    --------
    >>> ds = make_sounds(n_per_class=50, seed=1)
    >>> len(ds), sorted(set(ds.labels))[:2]
    (300, ['bell', 'bird'])
    """
    classes = list(SOUND_CLASSES if classes is None else classes)
    unknown = [c for c in classes if c not in _GENERATORS]
    if unknown or not classes:
        msg = f"unknown sound classes {unknown}; choose from {list(SOUND_CLASSES)}"
        raise InvalidInputError(msg)
    if isinstance(n_per_class, bool) or not isinstance(n_per_class, (int, np.integer)) or n_per_class <= 0:
        msg = f"n_per_class must be a positive integer, got {n_per_class!r}"
        raise InvalidInputError(msg)
    if layout not in ("subfolder", "flat"):
        msg = f'layout must be "subfolder" or "flat", got {layout!r}'
        raise InvalidInputError(msg)
    if not 0 < lengths[0] <= lengths[1]:
        msg = f"lengths must be (min, max) seconds with 0 < min <= max, got {lengths!r}"
        raise InvalidInputError(msg)
    rng = np.random.default_rng(seed)
    labels = [classes[k] for k in rng.permutation(np.repeat(np.arange(len(classes)), n_per_class))]
    clips = [_clip(label, sr, rng, lengths) for label in labels]
    if path is None:
        return AudioDataset.from_arrays(clips, sr, labels=labels)
    root = Path(path).expanduser()
    counts = dict.fromkeys(classes, 0)
    files = []
    for k, (y, label) in enumerate(zip(clips, labels)):
        if layout == "subfolder":
            rel = f"{label}/{label}_{counts[label]:04d}.wav"
            counts[label] += 1
        else:
            rel = f"clip_{k:05d}.wav"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        sf.write(root / rel, y, sr, subtype="PCM_16")
        files.append(rel)
    with open(root / "labels.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "label"])
        writer.writerows(zip(files, labels))
    return AudioDataset.from_files([root / rel for rel in files], labels, sr=sr, root=root)
