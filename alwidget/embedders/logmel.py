"""``embedder="logmel"`` and ``embedder="mfcc"``: spectrogram statistics, no weights.

- ``"logmel"``: per mel band (128) the mean and standard deviation over time
  of the log-mel spectrogram (dB), plus the standard deviation of its frame
  to frame difference (delta): d = 384. Why 128 bands and not 64: see
  "Features" and "Label efficiency on real recordings" in ``benchmarks/README.md``.
- ``"mfcc"``: the same three statistics of 40 MFCCs: d = 120.

Both run on numpy/scipy per clip (:mod:`alwidget.dsp`), or in batches with
torch (``torch.stft`` and librosa's mel filter bank) when a torch device
other than the CPU is asked for, or with ``LogMelEmbedder(backend="torch")``.
The two paths agree to about 1e-5 (float32 rounding) and share cache entries.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from alwidget.dsp import AMIN, dct_matrix, frame_stats, hann_window, log_mel, mel_filters
from alwidget.embedders.base import Embedder
from alwidget.errors import InvalidInputError

__all__ = ["FEATURE_VERSION", "LogMelEmbedder"]

#: Bump when the built-in features change, so old cache entries are not reused.
FEATURE_VERSION = 2  # 2: trailing digital silence (zero padding) is left out of the statistics


class LogMelEmbedder(Embedder):
    """Statistics of the log-mel spectrogram (``"logmel"``) or of MFCCs (``"mfcc"``).

    For each of ``n_mels`` bands (or ``n_mfcc`` coefficients): mean and
    standard deviation over time, and standard deviation of the first
    difference over time. Output ``d = 3 * n_mels`` (logmel, 384) or
    ``3 * n_mfcc`` (mfcc, 120). Trailing digital silence (the zeros that pad
    a short clip to a dataset's ``duration``, or a partial last window) is
    left out, so a padded clip embeds like the sound itself.

    Parameters
    ----------
    kind : {"logmel", "mfcc"}
    n_mels : int
        Mel bands.
    n_mfcc : int
        MFCCs kept (``kind="mfcc"`` only).
    n_fft : int
        FFT size in samples (Hann window).
    hop_length : int or None
        Hop in samples, default ``n_fft // 4``.
    fmin, fmax : float
        Mel band edges in Hz (``fmax=None``: ``sr / 2``).
    top_db : float
        Dynamic range kept below each clip's loudest bin, in dB.
    backend : {"auto", "numpy", "torch"}
        ``"auto"``: numpy on the CPU, torch on any other ``device``. The torch
        path zero-pads a batch to its longest clip and masks the padding, so
        it gives the same rows; set a dataset ``duration`` to avoid padding
        cost (and memory) with very uneven lengths.
    device : str
        Torch device of the torch backend (``"cuda"``, ``"cuda:1"``, ``"mps"``, ``"cpu"``).
    """

    def __init__(
        self,
        kind: str = "logmel",
        *,
        n_mels: int = 128,
        n_mfcc: int = 40,
        n_fft: int = 1024,
        hop_length: int | None = None,
        fmin: float = 0.0,
        fmax: float | None = None,
        top_db: float = 80.0,
        backend: str = "auto",
        device: str = "cpu",
    ):
        self.kind = kind
        self.n_mels = n_mels
        self.n_mfcc = n_mfcc
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.fmin = fmin
        self.fmax = fmax
        self.top_db = top_db
        self.backend = backend
        self.device = device
        self._basis: tuple[int, tuple] | None = None  # (sr, (dense, sparse) mel basis), set by prepare()
        if kind not in ("logmel", "mfcc"):
            msg = f'kind must be "logmel" or "mfcc", got {kind!r}'
            raise InvalidInputError(msg)
        if backend not in ("auto", "numpy", "torch"):
            msg = f'backend must be "auto", "numpy" or "torch", got {backend!r}'
            raise InvalidInputError(msg)
        for pname in ("n_mels", "n_mfcc", "n_fft"):
            value = getattr(self, pname)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
                msg = f"{pname} must be a positive integer, got {value!r}"
                raise InvalidInputError(msg)
        if kind == "mfcc" and n_mfcc > n_mels:
            msg = f"n_mfcc={n_mfcc} cannot exceed n_mels={n_mels}"
            raise InvalidInputError(msg)

    @property
    def name(self) -> str:
        return self.kind

    @property
    def dim(self) -> int:
        return 3 * (self.n_mels if self.kind == "logmel" else self.n_mfcc)

    @property
    def hop(self) -> int:
        return self.n_fft // 4 if self.hop_length is None else self.hop_length

    @property
    def uses_torch(self) -> bool:
        return self.backend == "torch" or (self.backend == "auto" and str(self.device) != "cpu")

    def cache_params(self) -> dict:
        params = {
            "version": FEATURE_VERSION,
            "n_mels": self.n_mels,
            "n_fft": self.n_fft,
            "hop_length": self.hop,
            "fmin": self.fmin,
            "fmax": self.fmax,
            "top_db": self.top_db,
        }
        if self.kind == "mfcc":
            params["n_mfcc"] = self.n_mfcc
        return params

    def __repr__(self) -> str:
        return f"LogMelEmbedder(kind={self.kind!r}, backend={self.backend!r}, device={self.device!r})"

    def prepare(self, sr: int) -> None:
        """Compute the mel basis here, so parallel workers need not import librosa."""
        self._basis = (sr, mel_filters(sr, self.n_fft, self.n_mels, self.fmin, self.fmax))

    def _bases(self, sr: int) -> tuple[np.ndarray, Any]:
        """(dense, sparse) mel basis for ``sr``."""
        if self._basis is None or self._basis[0] != sr:
            self.prepare(sr)
        return self._basis[1]

    def __call__(self, waveforms: Sequence[np.ndarray], sr: int) -> np.ndarray:
        if self.uses_torch:
            return self._embed_torch(waveforms, sr)
        basis = self._bases(sr)[1]
        rows = []
        # huge samples overflow to inf/NaN rows, which the caller reports per clip: no RuntimeWarnings
        with np.errstate(over="ignore", invalid="ignore"):
            for y in waveforms:
                F = log_mel(self._sound(np.asarray(y, dtype=np.float32)), basis, self.hop, self.top_db)
                if self.kind == "mfcc":
                    F = dct_matrix(self.n_mfcc, self.n_mels) @ F
                rows.append(frame_stats(F))
        return np.stack(rows)

    def _sound(self, y: np.ndarray) -> np.ndarray:
        """``y`` without its trailing digital silence (at least ``n_fft`` samples; all of a silent clip)."""
        nonzero = np.flatnonzero(y)
        if len(nonzero) == 0:
            return y
        return y[: max(int(nonzero[-1]) + 1, min(len(y), self.n_fft))]

    def _embed_torch(self, waveforms: Sequence[np.ndarray], sr: int) -> np.ndarray:
        """Same features in one batch: zero-pad, ``torch.stft``, mask padded frames."""
        import torch

        dev = torch.device(self.device)
        n_fft, hop = self.n_fft, self.hop
        waveforms = [self._sound(np.asarray(y, dtype=np.float32)) for y in waveforms]
        lengths = np.array([max(len(y), n_fft) for y in waveforms])
        x = np.zeros((len(waveforms), lengths.max()), dtype=np.float32)
        for k, y in enumerate(waveforms):
            x[k, : len(y)] = y
        with torch.inference_mode():
            spec = torch.stft(
                torch.from_numpy(x).to(dev),
                n_fft,
                hop,
                window=torch.from_numpy(hann_window(n_fft)).to(dev),
                center=True,
                pad_mode="constant",
                return_complex=True,
            )  # (b, n_fft // 2 + 1, frames)
            basis = torch.from_numpy(self._bases(sr)[0]).to(dev)
            db = 10.0 * torch.log10(torch.clamp(basis @ (spec.real**2 + spec.imag**2), min=AMIN))
            n_frames = torch.from_numpy(1 + lengths // hop).to(dev)
            valid = (torch.arange(db.shape[-1], device=dev) < n_frames[:, None])[:, None, :]  # (b, 1, frames)
            peak = db.masked_fill(~valid, -torch.inf).amax(dim=(1, 2), keepdim=True)
            db = torch.maximum(db, peak - self.top_db)
            if self.kind == "mfcc":
                db = torch.from_numpy(dct_matrix(self.n_mfcc, self.n_mels)).to(dev) @ db
            delta_valid = valid[..., 1:] & valid[..., :-1]
            stats = [*_masked_mean_std(db, valid), _masked_mean_std(db[..., 1:] - db[..., :-1], delta_valid)[1]]
            return torch.cat(stats, dim=1).cpu().numpy().astype(np.float32)


def _masked_mean_std(v, mask):
    """Mean and population std over the last axis of ``v`` where ``mask`` is True."""
    n = mask.sum(dim=-1)
    mean = (v * mask).sum(dim=-1) / n
    var = (((v - mean[..., None]) * mask) ** 2).sum(dim=-1) / n
    return mean, var.sqrt()
