"""Log-mel spectrograms and frame statistics: the signal processing under the built-in embedders.

Pure functions of numpy arrays, no dataset and no embedder: :func:`log_mel_spectrogram`
(what ``librosa`` computes, in float32), the pieces it is made of
(:func:`mel_filters`, :func:`hann_window`, :func:`log_mel`,
:func:`power_to_db`), the DCT that turns it into MFCCs (:func:`dct_matrix`)
and the per-band statistics the ``"logmel"`` and ``"mfcc"`` embedders return
(:func:`frame_stats`).

Layering: this module imports only numpy, scipy (and librosa, lazily, for its
mel filter bank); :mod:`alwidget.embedders` builds on it.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import scipy.fft

from alwidget.errors import InvalidInputError

__all__ = [
    "AMIN",
    "dct_matrix",
    "frame_stats",
    "hann_window",
    "log_mel",
    "log_mel_spectrogram",
    "mel_filters",
    "power_to_db",
]

#: Smallest power before the logarithm (librosa's ``amin``).
AMIN = 1e-10
_BLOCK_FRAMES = 4096  # frames per STFT block: bounds memory on long clips


@functools.lru_cache(maxsize=16)
def mel_filters(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None) -> tuple[np.ndarray, Any]:
    """librosa's mel filter bank ``(n_mels, n_fft // 2 + 1)``, dense and as a sparse CSR array.

    Cached per argument tuple (treat the arrays as read-only). The sparse
    product in :func:`log_mel` avoids BLAS, whose threads can slow small
    products down a lot on a busy machine, and skips the zeros (about 1,000
    of 33,000 entries are set).
    """
    import librosa
    import scipy.sparse

    dense = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax).astype(np.float32)
    return dense, scipy.sparse.csr_array(dense)


@functools.lru_cache(maxsize=16)
def hann_window(n_fft: int) -> np.ndarray:
    """Periodic Hann window of ``n_fft`` samples, float32, as librosa and ``torch.hann_window`` use (cached)."""
    import scipy.signal

    return scipy.signal.get_window("hann", n_fft, fftbins=True).astype(np.float32)


@functools.lru_cache(maxsize=16)
def dct_matrix(n_mfcc: int, n_mels: int) -> np.ndarray:
    """Orthonormal DCT-II, ``(n_mfcc, n_mels)``: what ``librosa.feature.mfcc`` applies to dB (cached)."""
    return scipy.fft.dct(np.eye(n_mels), type=2, norm="ortho", axis=0)[:n_mfcc].astype(np.float32)


def log_mel_spectrogram(
    waveform: np.ndarray,
    sr: int,
    n_mels: int = 64,
    *,
    n_fft: int = 1024,
    hop_length: int | None = None,
    fmin: float = 0.0,
    fmax: float | None = None,
    top_db: float | None = 80.0,
) -> np.ndarray:
    """Log-mel power spectrogram in dB (ref 1.0), as ``librosa`` computes it.

    Equal to ``librosa.power_to_db(librosa.feature.melspectrogram(y=waveform,
    sr=sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, fmin=fmin,
    fmax=fmax, pad_mode="constant"), top_db=top_db)`` up to float32 rounding,
    computed with one scipy FFT and one sparse matrix product per block of frames.

    Parameters
    ----------
    waveform : ndarray, shape (n_samples,)
        Mono audio; clips shorter than ``n_fft`` are zero-padded to ``n_fft``.
    sr : int
        Sample rate in Hz.
    n_mels : int
        Number of mel bands.
    n_fft : int
        FFT size (Hann window) in samples.
    hop_length : int or None
        Hop in samples; default ``n_fft // 4``.
    fmin, fmax : float
        Mel band edges in Hz; ``fmax=None`` means ``sr / 2``.
    top_db : float or None
        Floor the output at ``max - top_db``.

    Returns
    -------
    ndarray, shape (n_mels, 1 + n_samples // hop_length), float32, dB
    """
    y = np.asarray(waveform, dtype=np.float32)
    if y.ndim != 1:
        msg = f"waveform must be 1-D mono, got shape {y.shape}; mix down with y.mean(axis=0) first"
        raise InvalidInputError(msg)
    hop = n_fft // 4 if hop_length is None else hop_length
    return log_mel(y, mel_filters(sr, n_fft, n_mels, fmin, fmax)[1], hop, top_db)


def log_mel(y: np.ndarray, basis: Any, hop_length: int, top_db: float | None) -> np.ndarray:
    """:func:`log_mel_spectrogram` of float32 mono ``y`` with a given mel basis.

    Parameters
    ----------
    y : ndarray, shape (n_samples,), float32
    basis : sparse or dense array, shape (n_mels, n_fft // 2 + 1)
        A mel filter bank (e.g. the sparse one of :func:`mel_filters`); its
        width sets ``n_fft``.
    hop_length : int
        Hop in samples.
    top_db : float or None
        Floor the output at ``max - top_db``.

    Returns
    -------
    ndarray, shape (n_mels, 1 + max(n_samples, n_fft) // hop_length), float32, dB
    """
    n_mels, n_fft = basis.shape[0], 2 * (basis.shape[1] - 1)
    if len(y) < n_fft:
        y = np.pad(y, (0, n_fft - len(y)))
    frames = np.lib.stride_tricks.sliding_window_view(np.pad(y, n_fft // 2), n_fft)[::hop_length]
    win = hann_window(n_fft)
    mel = np.empty((n_mels, len(frames)), dtype=np.float32)
    for start in range(0, len(frames), _BLOCK_FRAMES):
        spec = scipy.fft.rfft(frames[start : start + _BLOCK_FRAMES] * win, axis=1)
        mel[:, start : start + _BLOCK_FRAMES] = basis @ np.ascontiguousarray((spec.real**2 + spec.imag**2).T)
    return power_to_db(mel, top_db)


def power_to_db(S: np.ndarray, top_db: float | None) -> np.ndarray:
    """``librosa.power_to_db(S, ref=1.0, amin=1e-10, top_db=top_db)`` in float32."""
    db = 10.0 * np.log10(np.maximum(S, np.float32(AMIN)))
    if top_db is not None:
        np.maximum(db, db.max() - np.float32(top_db), out=db)
    return db


def frame_stats(F: np.ndarray) -> np.ndarray:
    """``(n, frames)`` -> ``(3 n,)`` float32: per row the mean, the std, and the std of the frame difference.

    The row statistics of the ``"logmel"`` and ``"mfcc"`` embedders, applied
    to a log-mel spectrogram or to its MFCCs.
    """
    return np.concatenate([F.mean(axis=1), F.std(axis=1), np.diff(F, axis=1).std(axis=1)]).astype(np.float32)
