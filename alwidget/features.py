"""Clip embeddings: log-mel statistics, MFCC statistics, plug-ins, cached and parallel.

Built-in embedders (no weights, nothing downloaded):

- ``"logmel"``: per mel band (128) the mean and standard deviation over time
  of the log-mel spectrogram (dB), plus the standard deviation of its frame
  to frame difference (delta): d = 384. 128 bands, not 64, because they
  learn faster on two of three pools of real recordings
  (``benchmarks/real_audio.py``; ``benchmarks/README.md``).
- ``"mfcc"``: the same three statistics of 40 MFCCs: d = 120.

Both run on numpy/scipy per clip, or in batches with torch (``torch.stft``
and librosa's mel filter bank) when a torch device other than the CPU is
asked for, or with ``LogMelEmbedder(backend="torch")``. The two paths agree
to about 1e-5 (float32 rounding) and share cache entries.

Named embedders: ``embedder="name"`` is looked up in a registry of factories
(:func:`register_embedder`, :func:`available_embedders`); besides the two
above it holds ``"aisfx"``, pretrained weights from an installed package
(:mod:`alwidget.embedders.aisfx`), and ``"logmel+aisfx"``, both side by side
(:class:`ConcatEmbedder`; read the dataset at 44.1 kHz).

Plug-ins: any callable ``f(batch, sr) -> (b, d)`` where ``batch`` is a
float32 ndarray ``(b, n_samples)``, or a ``torch.nn.Module`` called as
``module(x)`` with ``x`` a float32 tensor ``(b, n_samples)`` on ``device``.
A batch only ever holds clips of equal length (no padding; set a fixed
``duration`` on the dataset for full batches), so a clip's embedding does not
depend on its batch. Outputs are checked: shape ``(b, d)``, finite. A
non-finite row for a clip with extreme samples (peak above ``1e4``: corrupt
or mis-scaled float audio) is that clip's fault: it gets a NaN row and an
entry in ``ds.errors``; for any other clip the embedder is at fault and
:class:`~alwidget.errors.InvalidInputError` is raised.

Windows of long recordings (:meth:`AudioDataset.from_recordings`) are
embedded by streaming: each parallel task decodes one run of a recording (at
most 10 minutes of audio) once, sequentially in blocks (``soxr.ResampleStream``
when resampling), cuts its windows and embeds them ``batch_size`` at a time,
so memory is bounded by a batch, not by the file. The rows equal embedding
each ``ds[i]`` (exactly without resampling, to float32 rounding with it).
Codecs that libsndfile does not decode sample-exactly across blocks and seeks
(MP3, Opus, ...: see :data:`alwidget._recordings.BLOCK_EXACT_SUBTYPES`) are
decoded as ``ds[i]`` decodes them instead (one seek and one read per minute of
the recording), so their rows equal embedding each ``ds[i]`` exactly. A recording whose sample rate changed since
the dataset was built gives its windows NaN rows and ``ds.errors`` entries.
"""

from __future__ import annotations

import functools
import inspect
import json
import numbers
import os
import pickle
import sys
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.fft
from joblib import Parallel, delayed
from tqdm.auto import tqdm

from alwidget._cache import EmbeddingCache, default_cache_dir
from alwidget._recordings import Recording, stream_windows
from alwidget._resample import resample
from alwidget.audio import AudioError, _load, load_audio
from alwidget.errors import AudioLoadError, InvalidInputError

if TYPE_CHECKING:
    from alwidget.audio import AudioDataset

__all__ = [
    "CallableEmbedder",
    "ConcatEmbedder",
    "Embedder",
    "LogMelEmbedder",
    "TorchEmbedder",
    "available_embedders",
    "embed_dataset",
    "get_embedder",
    "log_mel_spectrogram",
    "register_embedder",
]

# Bump when the built-in features change, so old cache entries are not reused.
_FEATURE_VERSION = 1
_AMIN = 1e-10
_BLOCK_FRAMES = 4096  # frames per STFT block: bounds memory on long clips
# Windows of long recordings: a parallel task streams at most this much audio
# (seconds), so several tasks share a long file; and, when there is little
# audio to compute, about an eighth of it but not under _MIN_RUN_SECONDS, so
# a single 10-minute file still gives workers something to share.
_RUN_SECONDS = 600.0
_MIN_RUN_SECONDS = 60.0
# Cached windows in between: a gap longer than this (seconds) starts a new run.
_RUN_GAP_SECONDS = 30.0
# A clip whose peak |sample| exceeds this (80 dB above full scale) is corrupt or
# mis-scaled: NaN/inf in its embedding is blamed on the clip, not the embedder.
_EXTREME_PEAK = 1e4


# ---------------------------------------------------------------------- spectrogram
@functools.lru_cache(maxsize=16)
def _mel_basis(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None) -> tuple[np.ndarray, Any]:
    """librosa's mel filter bank ``(n_mels, n_fft // 2 + 1)``, dense and as a sparse CSR array.

    The sparse product avoids BLAS, whose threads slow small products ten-fold
    on a busy machine, and skips the zeros (about 1,000 of 33,000 entries are set).
    """
    import librosa
    import scipy.sparse

    dense = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax).astype(np.float32)
    return dense, scipy.sparse.csr_array(dense)


@functools.lru_cache(maxsize=16)
def _window(n_fft: int) -> np.ndarray:
    """Periodic Hann window, as librosa and ``torch.hann_window`` use."""
    import scipy.signal

    return scipy.signal.get_window("hann", n_fft, fftbins=True).astype(np.float32)


@functools.lru_cache(maxsize=16)
def _dct_matrix(n_mfcc: int, n_mels: int) -> np.ndarray:
    """Orthonormal DCT-II, ``(n_mfcc, n_mels)``: what ``librosa.feature.mfcc`` applies to dB."""
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
    but faster (one scipy FFT and one matrix product, in blocks).

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
    return _log_mel(y, _mel_basis(sr, n_fft, n_mels, fmin, fmax)[1], hop, top_db)


def _log_mel(y: np.ndarray, basis: Any, hop: int, top_db: float | None) -> np.ndarray:
    """:func:`log_mel_spectrogram` with a given sparse mel basis ``(n_mels, n_fft // 2 + 1)``."""
    n_mels, n_fft = basis.shape[0], 2 * (basis.shape[1] - 1)
    if len(y) < n_fft:
        y = np.pad(y, (0, n_fft - len(y)))
    frames = np.lib.stride_tricks.sliding_window_view(np.pad(y, n_fft // 2), n_fft)[::hop]
    win = _window(n_fft)
    mel = np.empty((n_mels, len(frames)), dtype=np.float32)
    for start in range(0, len(frames), _BLOCK_FRAMES):
        spec = scipy.fft.rfft(frames[start : start + _BLOCK_FRAMES] * win, axis=1)
        mel[:, start : start + _BLOCK_FRAMES] = basis @ np.ascontiguousarray((spec.real**2 + spec.imag**2).T)
    return _power_to_db(mel, top_db)


def _power_to_db(S: np.ndarray, top_db: float | None) -> np.ndarray:
    """``librosa.power_to_db(S, ref=1.0, amin=1e-10, top_db=top_db)`` in float32."""
    db = 10.0 * np.log10(np.maximum(S, np.float32(_AMIN)))
    if top_db is not None:
        np.maximum(db, db.max() - np.float32(top_db), out=db)
    return db


def _frame_stats(F: np.ndarray) -> np.ndarray:
    """``(n, frames)`` -> ``(3 n,)``: mean, std and std of the frame difference."""
    return np.concatenate([F.mean(axis=1), F.std(axis=1), np.diff(F, axis=1).std(axis=1)]).astype(np.float32)


# ---------------------------------------------------------------------- embedders
class Embedder:
    """Base class of embedders: map a batch of waveforms to ``(b, d)`` rows.

    Subclasses set :attr:`name`, implement :meth:`__call__` and
    :meth:`cache_params` (everything the output depends on, JSON-able).
    """

    name: str = "embedder"

    def __call__(self, waveforms: Sequence[np.ndarray], sr: int) -> np.ndarray:
        """Embed ``waveforms`` (1-D float32 arrays at ``sr`` Hz) -> ``(b, d)`` float32."""
        raise NotImplementedError

    def cache_params(self) -> dict:
        """Parameters that, with :attr:`name`, key this embedder's cache entries."""
        return {}

    def prepare(self, sr: int) -> None:
        """Called once in the main process before embedding clips at ``sr`` Hz.

        Precompute tables here: parallel workers receive the embedder pickled.
        """

    def cache_key(self) -> dict:
        return {"name": self.name, "params": self.cache_params()}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class LogMelEmbedder(Embedder):
    """Statistics of the log-mel spectrogram (``"logmel"``) or of MFCCs (``"mfcc"``).

    For each of ``n_mels`` bands (or ``n_mfcc`` coefficients): mean and
    standard deviation over time, and standard deviation of the first
    difference over time. Output ``d = 3 * n_mels`` (logmel, 384) or
    ``3 * n_mfcc`` (mfcc, 120).

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
    def hop(self) -> int:
        return self.n_fft // 4 if self.hop_length is None else self.hop_length

    @property
    def uses_torch(self) -> bool:
        return self.backend == "torch" or (self.backend == "auto" and str(self.device) != "cpu")

    def cache_params(self) -> dict:
        params = {
            "version": _FEATURE_VERSION,
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
        self._basis = (sr, _mel_basis(sr, self.n_fft, self.n_mels, self.fmin, self.fmax))

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
                F = _log_mel(np.asarray(y, dtype=np.float32), basis, self.hop, self.top_db)
                if self.kind == "mfcc":
                    F = _dct_matrix(self.n_mfcc, self.n_mels) @ F
                rows.append(_frame_stats(F))
        return np.stack(rows)

    def _embed_torch(self, waveforms: Sequence[np.ndarray], sr: int) -> np.ndarray:
        """Same features in one batch: zero-pad, ``torch.stft``, mask padded frames."""
        import torch

        dev = torch.device(self.device)
        n_fft, hop = self.n_fft, self.hop
        lengths = np.array([max(len(y), n_fft) for y in waveforms])
        x = np.zeros((len(waveforms), lengths.max()), dtype=np.float32)
        for k, y in enumerate(waveforms):
            x[k, : len(y)] = y
        with torch.inference_mode():
            spec = torch.stft(
                torch.from_numpy(x).to(dev),
                n_fft,
                hop,
                window=torch.from_numpy(_window(n_fft)).to(dev),
                center=True,
                pad_mode="constant",
                return_complex=True,
            )  # (b, n_fft // 2 + 1, frames)
            basis = torch.from_numpy(self._bases(sr)[0]).to(dev)
            db = 10.0 * torch.log10(torch.clamp(basis @ (spec.real**2 + spec.imag**2), min=_AMIN))
            n_frames = torch.from_numpy(1 + lengths // hop).to(dev)
            valid = (torch.arange(db.shape[-1], device=dev) < n_frames[:, None])[:, None, :]  # (b, 1, frames)
            peak = db.masked_fill(~valid, -torch.inf).amax(dim=(1, 2), keepdim=True)
            db = torch.maximum(db, peak - self.top_db)
            if self.kind == "mfcc":
                db = torch.from_numpy(_dct_matrix(self.n_mfcc, self.n_mels)).to(dev) @ db
            delta_valid = valid[..., 1:] & valid[..., :-1]
            stats = [*_masked_mean_std(db, valid), _masked_mean_std(db[..., 1:] - db[..., :-1], delta_valid)[1]]
            return torch.cat(stats, dim=1).cpu().numpy().astype(np.float32)


def _masked_mean_std(v, mask):
    """Mean and population std over the last axis of ``v`` where ``mask`` is True."""
    n = mask.sum(dim=-1)
    mean = (v * mask).sum(dim=-1) / n
    var = (((v - mean[..., None]) * mask) ** 2).sum(dim=-1) / n
    return mean, var.sqrt()


def _call_by_length(waveforms: Sequence[np.ndarray], call: Callable[[np.ndarray, list[int]], Any], name: str):
    """Call ``call(batch, positions)`` once per group of equal-length clips; stack rows in order."""
    groups: dict[int, list[int]] = {}
    for k, y in enumerate(waveforms):
        groups.setdefault(len(y), []).append(k)
    rows: list[np.ndarray | None] = [None] * len(waveforms)
    for length, idx in groups.items():
        batch = np.stack([waveforms[k] for k in idx]).astype(np.float32, copy=False)
        out = _to_numpy(call(batch, idx))
        if out.ndim != 2 or out.shape[0] != len(idx):
            msg = (
                f"embedder {name!r} returned shape {out.shape} for a batch of {len(idx)} clips "
                f"of {length} samples; it must return (n_clips, n_features)"
            )
            raise InvalidInputError(msg)
        for j, k in enumerate(idx):
            rows[k] = out[j]
    _row_dim(rows, name)
    return np.stack(rows)


def _to_numpy(out: Any) -> np.ndarray:
    if hasattr(out, "detach"):  # torch tensor
        out = out.detach().cpu().numpy()
    return np.asarray(out, dtype=np.float32)


def _row_dim(rows: list, name: str) -> int:
    """The common length ``d`` of ``rows``, or raise."""
    dims = {r.shape[0] for r in rows}
    if len(dims) > 1:
        msg = f"embedder {name!r} returned rows of different lengths {sorted(dims)}; every clip needs the same d"
        raise InvalidInputError(msg)
    return dims.pop()


def _fingerprint(obj: Any) -> str:
    """Hash of a callable's source code and state, to key its cache entries.

    Covers: the source of the function (or of the class of a callable object
    or module), ``functools.partial`` arguments, closure variables and
    defaults, an object's attributes, a module's ``repr`` and weights.
    Not covered: globals the code reads and files it loads.
    """
    import joblib

    if isinstance(obj, functools.partial):
        return joblib.hash((_fingerprint(obj.func), obj.args, obj.keywords))
    is_function = inspect.isfunction(obj) or inspect.ismethod(obj)
    source = _source(obj if is_function else type(obj))
    if source is None:
        msg = (
            f"cannot read the source code of embedder {_qualname(obj)!r} to key the embedding cache; "
            "pass name='...' (and change it whenever the embedder changes), or cache_dir=False"
        )
        raise InvalidInputError(msg)
    if "torch" in sys.modules and isinstance(obj, sys.modules["torch"].nn.Module):
        state = (repr(obj), {k: v.detach().cpu().numpy() for k, v in obj.state_dict().items()})
    elif is_function:
        func = obj.__func__ if inspect.ismethod(obj) else obj
        cells = [c.cell_contents for c in (func.__closure__ or ())]
        state = (cells, func.__defaults__, func.__kwdefaults__, getattr(obj, "__self__", None))
    else:
        state = vars(obj) if hasattr(obj, "__dict__") else repr(obj)
    try:
        return joblib.hash((source, state))
    except (pickle.PicklingError, TypeError, AttributeError, ValueError) as exc:
        msg = (
            f"cannot hash the state of embedder {_qualname(obj)!r} ({exc}) to key the embedding cache; "
            "pass name='...' (and change it whenever the embedder changes), or cache_dir=False"
        )
        raise InvalidInputError(msg) from None


def _source(code: Any) -> str | None:
    """Source of a function or class; for a class whose own source cannot be
    found (one defined in a notebook cell, before Python 3.13), the joined
    source of its methods, which IPython does keep."""
    try:
        return inspect.getsource(code)
    except (OSError, TypeError):
        if not inspect.isclass(code):
            return None
    parts = []
    for _, member in sorted(vars(code).items()):
        if inspect.isfunction(member):
            try:
                parts.append(inspect.getsource(member))
            except (OSError, TypeError):
                return None
    return "\n".join(parts) or None


def _qualname(obj: Any) -> str:
    target = obj.func if isinstance(obj, functools.partial) else obj
    if not (inspect.isfunction(target) or inspect.ismethod(target)):
        target = type(target)
    return f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', repr(target))}"


class CallableEmbedder(Embedder):
    """A plug-in function ``fn(batch, sr) -> (b, d)``.

    Parameters
    ----------
    fn : callable
        Called with ``batch`` a float32 ndarray ``(b, n_samples)`` of
        equal-length clips and ``sr`` the sample rate in Hz. May return an
        ndarray, a list or a torch tensor of shape ``(b, d)``.
    name : str or None
        Cache name. Give one (and change it when ``fn`` changes) when the
        function reads globals or files; otherwise the cache is keyed by the
        function's qualified name plus a hash of its source and state.

    Examples
    --------
    >>> def energy_bands(batch, sr):                      # doctest: +SKIP
    ...     spec = np.abs(np.fft.rfft(batch, axis=1)) ** 2
    ...     return np.log1p(np.stack([b.sum(1) for b in np.array_split(spec, 16, axis=1)], 1))
    >>> X = ds.embed(energy_bands)                        # doctest: +SKIP
    >>> X = ds.embed(energy_bands, name="bands-v2")       # doctest: +SKIP
    """

    def __init__(self, fn: Callable[[np.ndarray, int], Any], name: str | None = None):
        self.fn = fn
        self.user_name = name
        if not callable(fn):
            msg = f"embedder must be callable, got {type(fn).__name__}"
            raise InvalidInputError(msg)

    @property
    def name(self) -> str:
        return self.user_name or _qualname(self.fn)

    def cache_params(self) -> dict:
        return {} if self.user_name else {"fingerprint": _fingerprint(self.fn)}

    def __call__(self, waveforms: Sequence[np.ndarray], sr: int) -> np.ndarray:
        return _call_by_length(waveforms, lambda batch, _: self.fn(batch, sr), self.name)


class TorchEmbedder(Embedder):
    """A ``torch.nn.Module`` plug-in, called as ``module(x)`` with ``x`` ``(b, n_samples)``.

    ``x`` is a float32 tensor of equal-length clips at the dataset's sample
    rate, on ``device``. The module is moved to ``device``, put in eval mode
    and run under ``torch.inference_mode()``. Its output must be ``(b, d)``.

    Parameters
    ----------
    module : torch.nn.Module
    name : str or None
        Cache name; default the class's qualified name plus a hash of its
        source, ``repr`` and weights (so fine-tuned weights get new entries).
    device : str
        Torch device.

    Examples
    --------
    >>> class Tiny(torch.nn.Module):                      # doctest: +SKIP
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.conv = torch.nn.Conv1d(1, 32, 400, stride=160)
    ...     def forward(self, x):                         # x: (b, n_samples)
    ...         return self.conv(x[:, None]).relu().mean(-1)  # (b, 32)
    >>> X = ds.embed(Tiny(), device="cuda")               # doctest: +SKIP
    """

    def __init__(self, module: Any, name: str | None = None, device: str = "cpu"):
        self.module = module
        self.user_name = name
        self.device = device

    @property
    def name(self) -> str:
        return self.user_name or _qualname(self.module)

    def cache_params(self) -> dict:
        return {} if self.user_name else {"fingerprint": _fingerprint(self.module)}

    def __call__(self, waveforms: Sequence[np.ndarray], sr: int) -> np.ndarray:
        import torch

        module = self.module.to(self.device).eval()
        with torch.inference_mode():
            return _call_by_length(
                waveforms, lambda batch, _: module(torch.from_numpy(batch).to(self.device)), self.name
            )


# ---------------------------------------------------------------------- registry
# name -> factory(device=...) returning an Embedder, a callable or a torch module
_REGISTRY: dict[str, Callable[..., Any]] = {}
_BUILTIN_NAMES = frozenset({"logmel", "mfcc", "aisfx", "logmel+aisfx"})


class ConcatEmbedder(Embedder):
    """Several embedders side by side: a clip's row is their rows concatenated.

    Each part may see the clip at its own sample rate: the waveform is
    resampled from the dataset's rate (soxr HQ, as the audio loader does), so
    one dataset serves parts that want different rates. The built-in
    ``"logmel+aisfx"`` is ``ConcatEmbedder(["logmel", "aisfx"],
    rates=[16000, None])`` on a dataset read at ``sr=44100``: the default
    log-mel statistics at 16 kHz beside the full-band pretrained embeddings
    (d = 384 + 512). The learner standardises every column, so parts on
    different scales need no weighting.

    Parameters
    ----------
    parts : sequence
        Two or more embedders: registered names, :class:`Embedder` instances,
        callables or torch modules (anything :func:`get_embedder` takes).
    rates : sequence of int or None, optional
        One per part: the sample rate in Hz that part sees, or None for the
        dataset's rate (the default for every part).
    device : str
        Torch device given to parts named by string or given as modules.
    """

    def __init__(self, parts: Sequence[Any], rates: Sequence[int | None] | None = None, *, device: str = "cpu"):
        if isinstance(parts, (str, bytes)) or not isinstance(parts, Sequence) or len(parts) < 2:
            msg = f"parts must be a list of two or more embedders (names, Embedder instances, callables), got {parts!r}"
            raise InvalidInputError(msg)
        rates = [None] * len(parts) if rates is None else list(rates)
        if len(rates) != len(parts):
            msg = f"rates must give one sample rate (or None) per part: {len(parts)} parts, {len(rates)} rates"
            raise InvalidInputError(msg)
        for r in rates:
            if r is not None and (isinstance(r, bool) or not isinstance(r, numbers.Integral) or r <= 0):
                msg = f"each rate must be a positive integer in Hz or None (the dataset's rate), got {r!r}"
                raise InvalidInputError(msg)
        self.parts = [get_embedder(p, device=device) for p in parts]
        self.rates = [None if r is None else int(r) for r in rates]
        self.device = str(device)

    @property
    def name(self) -> str:
        return "+".join(p.name if r is None else f"{p.name}@{r}" for p, r in zip(self.parts, self.rates, strict=True))

    def cache_params(self) -> dict:
        return {"parts": [p.cache_key() for p in self.parts], "rates": self.rates}

    def __repr__(self) -> str:
        return f"ConcatEmbedder({self.parts!r}, rates={self.rates!r})"

    def prepare(self, sr: int) -> None:
        for part, rate in zip(self.parts, self.rates, strict=True):
            part.prepare(sr if rate is None else rate)

    def __call__(self, waveforms: Sequence[np.ndarray], sr: int) -> np.ndarray:
        rows = []
        for part, rate in zip(self.parts, self.rates, strict=True):
            at = sr if rate is None else rate
            waves = [resample(np.asarray(y, np.float32), sr, at) for y in waveforms]
            out = _to_numpy(part(waves, at))
            if out.ndim != 2 or out.shape[0] != len(waves):
                msg = f"part {part.name!r} returned shape {out.shape} for {len(waves)} clips; it must return (n, d)"
                raise InvalidInputError(msg)
            rows.append(out)
        return np.hstack(rows)


def register_embedder(name: str, factory: Callable[..., Any], *, overwrite: bool = False) -> None:
    """Make ``ds.embed(name)`` (and every ``embedder=name``) use ``factory()``.

    Parameters
    ----------
    name : str
        The name users pass as ``embedder=``.
    factory : callable
        Called each time the name is used, as ``factory(device=device)`` when
        it accepts a ``device`` argument, else as ``factory()``. It returns an
        :class:`Embedder`, a callable ``(batch, sr) -> (b, d)`` or a torch
        module: whatever ``ds.embed`` accepts. A callable or module is keyed
        in the cache by a hash of its source and state, an :class:`Embedder`
        by its own :meth:`~Embedder.cache_key`; so return
        ``CallableEmbedder(fn, name="bands-v2")`` to key by a name you bump.
        Load weights lazily or once (``functools.cache``): the factory runs at
        every ``embed`` call.
    overwrite : bool
        Needed to replace a built-in name (``"logmel"``, ``"mfcc"``,
        ``"aisfx"``). Names you registered yourself may be registered again
        (a re-run notebook cell replaces them).

    Examples
    --------
    >>> def energy_bands(batch, sr):                      # doctest: +SKIP
    ...     spec = np.abs(np.fft.rfft(batch, axis=1)) ** 2
    ...     return np.log1p(np.stack([b.sum(1) for b in np.array_split(spec, 16, axis=1)], 1))
    >>> register_embedder("bands", lambda: energy_bands)  # doctest: +SKIP
    >>> X = ds.embed("bands")                             # doctest: +SKIP
    """
    if not isinstance(name, str) or not name.strip():
        msg = f"embedder name must be a non-empty string, got {name!r}"
        raise InvalidInputError(msg)
    if not callable(factory):
        msg = f"factory must be callable (it is called to build the embedder), got {type(factory).__name__}"
        raise InvalidInputError(msg)
    if name in _BUILTIN_NAMES and not overwrite:
        msg = f"{name!r} is a built-in embedder; pass overwrite=True to replace it, or choose another name"
        raise InvalidInputError(msg)
    _REGISTRY[name] = factory


def available_embedders() -> list[str]:
    """Names accepted as ``embedder=``: the built-in ones and those registered."""
    return sorted(_REGISTRY)


def _accepts_device(factory: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "device" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def _from_registry(embedder: str, device: str) -> Embedder:
    factory = _REGISTRY.get(embedder)
    if factory is None:
        names = ", ".join(f'"{n}"' for n in available_embedders())
        msg = (
            f"unknown embedder {embedder!r}; use one of {names}, "
            "a callable (batch, sr) -> (b, d) or a torch module, or register_embedder(name, factory)"
        )
        raise InvalidInputError(msg)
    made = factory(device=device) if _accepts_device(factory) else factory()
    if isinstance(made, str):
        msg = f"the factory registered as {embedder!r} returned the string {made!r}; it must return an embedder"
        raise InvalidInputError(msg)
    return get_embedder(made, device=device)


def _make_aisfx(device: str = "cpu") -> Embedder:
    from alwidget.embedders.aisfx import AisfxEmbedder  # torch and the weights only when asked for

    return AisfxEmbedder(device=device)


def _make_logmel_aisfx(device: str = "cpu") -> Embedder:
    """The default log-mel statistics at 16 kHz beside aiSFX at the dataset's rate (build it at 44.1 kHz)."""
    return ConcatEmbedder([LogMelEmbedder("logmel", device=device), _make_aisfx(device)], rates=[16000, None])


_REGISTRY["logmel"] = functools.partial(LogMelEmbedder, "logmel")
_REGISTRY["mfcc"] = functools.partial(LogMelEmbedder, "mfcc")
_REGISTRY["aisfx"] = _make_aisfx
_REGISTRY["logmel+aisfx"] = _make_logmel_aisfx


def get_embedder(embedder: Any = "logmel", *, device: str = "cpu", name: str | None = None) -> Embedder:
    """Resolve a registered name (``"logmel"``, ``"mfcc"``, ``"aisfx"``, ...), an
    :class:`Embedder`, a torch module or a callable.

    ``device`` applies to the named embedders and to torch modules; an
    :class:`Embedder` instance keeps its own settings. ``name`` names a
    plug-in's cache entries (see :class:`CallableEmbedder`). See
    :func:`register_embedder` to add names.
    """
    if isinstance(embedder, str):
        if name is not None:
            msg = f"name= is for plug-in embedders; the named embedder {embedder!r} is keyed by its own parameters"
            raise InvalidInputError(msg)
        return _from_registry(embedder, device)
    if isinstance(embedder, Embedder):
        if name is not None:
            msg = f"name= is for plain callables and torch modules; give it to {type(embedder).__name__}(...) instead"
            raise InvalidInputError(msg)
        return embedder
    if "torch" in sys.modules and isinstance(embedder, sys.modules["torch"].nn.Module):
        return TorchEmbedder(embedder, name=name, device=device)
    if callable(embedder):
        return CallableEmbedder(embedder, name=name)
    msg = f"embedder must be a name, a callable or a torch module, got {type(embedder).__name__}"
    raise InvalidInputError(msg)


# ---------------------------------------------------------------------- orchestration
def _embed_chunk(
    embedder: Embedder,
    sources: list,
    ids: list[str],
    sr: int,
    offset: float,
    duration: float | None,
) -> tuple[np.ndarray | None, dict[int, str]]:
    """Decode and embed one chunk; returns rows of decoded clips and ``{position: reason}`` failures."""
    waves, failures = [], {}
    for k, src in enumerate(sources):
        try:
            waves.append(_load(src, sr, offset, duration))
        except ValueError as exc:  # the decoder's reason; the clip is reported, not dropped silently
            failures[k] = str(exc)
    if not waves:
        return None, failures
    ok_pos = [k for k in range(len(sources)) if k not in failures]
    out, bad = _embed_waves(embedder, waves, sr, [ids[k] for k in ok_pos])
    failures.update({ok_pos[j]: reason for j, reason in bad.items()})
    return out, failures


def _embed_waves(
    embedder: Embedder, waves: list[np.ndarray], sr: int, ok_ids: list[str]
) -> tuple[np.ndarray | None, dict[int, str]]:
    """Embed decoded waveforms; rows of the usable ones and ``{position: reason}`` for overflowing ones.

    Raises
    ------
    InvalidInputError
        If the embedder returns NaN or infinite values for a clip whose audio is not extreme.
    """
    failures: dict[int, str] = {}
    out = _run_embedder(embedder, waves, sr, ok_ids)
    bad = ~np.isfinite(out).all(axis=1)
    if bad.any():
        peaks = np.array([float(np.max(np.abs(w), initial=0.0)) for w in waves])
        extreme = peaks > _EXTREME_PEAK
        innocent = bad & ~extreme
        if innocent.any() and (bad & extreme).any():
            # a batch-wise embedder may let one overflowing clip spoil its batch: redo the others alone
            redo = np.flatnonzero(innocent)
            out = out.copy()  # the embedder's own array may be read-only
            out[redo] = _run_embedder(embedder, [waves[j] for j in redo], sr, [ok_ids[j] for j in redo])
            bad = ~np.isfinite(out).all(axis=1)
            innocent = bad & ~extreme
        if innocent.any():
            msg = (
                f"embedder {embedder.name!r} returned NaN or infinite values for clip "
                f"{ok_ids[int(np.argmax(innocent))]!r}"
                f"{f' and {int(innocent.sum()) - 1} more' if innocent.sum() > 1 else ''}; "
                "fix the embedder or drop the clip"
            )
            raise InvalidInputError(msg)
        for j in np.flatnonzero(bad):
            failures[int(j)] = (
                f"overflowing audio: sample values up to {peaks[j]:.3g} in magnitude make the {embedder.name!r} "
                "embedding NaN or infinite; float audio should lie within about [-1, 1]: rescale or re-export it"
            )
        out = out[~bad]
    return (out if len(out) else None), failures


def _embed_run(
    embedder: Embedder, rec: Recording, starts: list[int], ids: list[str], win_n: int, batch_size: int
) -> tuple[np.ndarray | None, dict[int, str]]:
    """Stream one run of windows of a recording and embed them in batches.

    Parameters
    ----------
    rec : Recording
    starts : list of int, ascending
        First sample of each window at ``rec.sr``.
    ids : list of str
        Clip ids of the windows (for error messages).
    win_n : int
        Window length in samples.
    batch_size : int
        Windows per embedder call.

    Returns
    -------
    rows, failures
        ``(n_ok, d)`` rows of the windows that could be used, in order, and
        ``{position: reason}`` for the others (truncated or corrupt part of
        the file, sample rate changed since the dataset was built, non-finite
        or overflowing audio). Memory holds one batch of windows and one
        decode block, however long the run. Windows come from
        :func:`~alwidget._recordings.stream_windows`: one sequential pass, or
        one seek and read per minute for codecs not sample-exact across
        blocks (MP3, Opus).
    """
    rows: list[np.ndarray] = []
    failures: dict[int, str] = {}
    waves: list[np.ndarray] = []
    pos: list[int] = []

    def flush() -> None:
        out, bad = _embed_waves(embedder, waves, rec.sr, [ids[k] for k in pos])
        failures.update({pos[j]: reason for j, reason in bad.items()})
        if out is not None:
            rows.append(out)
        waves.clear()
        pos.clear()

    for k, y in stream_windows(rec, starts, win_n):
        if isinstance(y, str):
            failures[k] = y
            continue
        waves.append(y)
        pos.append(k)
        if len(waves) >= batch_size:
            flush()
    if waves:
        flush()
    return (np.concatenate(rows) if rows else None), failures


def _plan_runs(ds: AudioDataset, todo: list[int]) -> list[tuple[Recording, list[int]]]:
    """Group windows ``todo`` into runs: one recording, ascending starts, at most ``_RUN_SECONDS`` of audio.

    Runs are shorter (an eighth of the audio to compute, at least
    ``_MIN_RUN_SECONDS``) when there is little audio, so parallel workers
    share it. A gap of more than ``_RUN_GAP_SECONDS`` between two windows to
    compute (cached ones in between) also starts a new run, so it is not decoded.
    """
    clips = ds._clips
    by_rec: dict[str, list[int]] = {}
    for i in todo:
        by_rec.setdefault(clips[i].rec.path, []).append(i)
    win_n = int(round(ds.window * ds.sr))
    audio = len(todo) * min(ds.window, ds.hop)  # seconds to decode, about
    run_seconds = min(_RUN_SECONDS, max(_MIN_RUN_SECONDS, audio / 8))
    max_span, max_gap = int(run_seconds * ds.sr), int(_RUN_GAP_SECONDS * ds.sr)
    runs: list[tuple[Recording, list[int]]] = []
    for indices in by_rec.values():
        indices.sort(key=lambda i: clips[i].start_n)
        run: list[int] = []
        for i in indices:
            s = clips[i].start_n
            if run and (s + win_n - clips[run[0]].start_n > max_span or s - clips[run[-1]].start_n - win_n > max_gap):
                runs.append((clips[run[0]].rec, run))
                run = []
            run.append(i)
        runs.append((clips[run[0]].rec, run))
    return runs


def _run_embedder(embedder: Embedder, waves: list[np.ndarray], sr: int, ids: list[str]) -> np.ndarray:
    """``embedder(waves, sr)`` as a ``(len(waves), d)`` float32 array; errors name the clips."""
    try:
        out = _to_numpy(embedder(waves, sr))
    except InvalidInputError as exc:
        msg = f"{exc} (clips {', '.join(ids[:3])}{', ...' if len(ids) > 3 else ''})"
        raise InvalidInputError(msg) from None
    if out.ndim != 2 or out.shape[0] != len(waves):
        msg = (
            f"embedder {embedder.name!r} returned shape {out.shape} for {len(waves)} clips; "
            "it must return (n_clips, n_features)"
        )
        raise InvalidInputError(msg)
    return out


def _compute_rows(
    ds: AudioDataset,
    emb: Embedder,
    todo: list[int],
    store: Callable[[list[int], np.ndarray], None],
    *,
    batch_size: int,
    n_jobs: int | None,
    progress: bool,
) -> dict[int, str]:
    """Embed clips ``todo`` in joblib tasks of ``batch_size``; ``store(indices, rows)`` per task.

    Windows of recordings go in tasks of one run each (:func:`_plan_runs`):
    the run is decoded sequentially in blocks and embedded ``batch_size``
    windows at a time.

    Returns ``{index: reason}`` for the clips that failed: undecodable, NaN or
    infinite samples, or samples so large that their embedding overflowed.
    """
    ids = ds.clip_ids
    if ds.is_windowed:  # one task per run of windows: each recording is streamed once
        win_n = int(round(ds.window * ds.sr))
        starts = [c.start_n for c in ds._clips]
        runs = _plan_runs(ds, todo)
        chunks = [run for _, run in runs]
        tasks = (
            delayed(_embed_run)(emb, rec, [starts[i] for i in run], [ids[i] for i in run], win_n, batch_size)
            for rec, run in runs
        )
    else:
        chunks = [todo[k : k + batch_size] for k in range(0, len(todo), batch_size)]
        tasks = (
            delayed(_embed_chunk)(emb, ds._sources(c), [ids[i] for i in c], ds.sr, ds.offset, ds.clip_duration)
            for c in chunks
        )
    failed: dict[int, str] = {}
    unit = "window" if ds.is_windowed else "clip"
    with tqdm(total=len(todo), disable=not progress, unit=unit, desc=f"embedding ({emb.name})") as bar:
        for chunk, (out, chunk_failed) in zip(chunks, Parallel(n_jobs=n_jobs, return_as="generator")(tasks)):
            if out is not None:
                store([i for k, i in enumerate(chunk) if k not in chunk_failed], out)
            failed.update({chunk[k]: reason for k, reason in chunk_failed.items()})
            bar.update(len(chunk))
    return failed


def _open_cache(cache_dir: Any, embedder: Embedder, ds: AudioDataset) -> EmbeddingCache | None:
    if cache_dir is False:
        return None
    directory = default_cache_dir() if cache_dir is None or cache_dir is True else os.fspath(cache_dir)
    config = {
        "embedder": embedder.cache_key(),
        "sr": ds.sr,
        "duration": ds.clip_duration,
        "offset": ds.offset,
    }
    if ds.is_windowed:  # only then, so the cache folders of clip datasets keep their names
        config["window"], config["hop"] = ds.window, ds.hop
    return EmbeddingCache(directory, json.loads(json.dumps(config, default=str)), label=embedder.name)


def embed_dataset(
    ds: AudioDataset,
    embedder: Any = "logmel",
    *,
    batch_size: int = 32,
    n_jobs: int | None = None,
    cache_dir: str | os.PathLike | bool | None = None,
    device: str = "cpu",
    name: str | None = None,
    progress: bool = True,
    _stacklevel: int = 2,
) -> np.ndarray:
    """Embed every clip of ``ds``: ``(len(ds), d)`` float32, row ``i`` for clip ``i``.

    Parameters
    ----------
    ds : AudioDataset
    embedder : str, Embedder, callable or torch.nn.Module
        ``"logmel"`` (default, d=384), ``"mfcc"`` (d=120), ``"aisfx"``
        (pretrained, d=512, needs ``pip install --no-deps aisfx==0.1.2``),
        a name given to :func:`register_embedder`, a
        :class:`LogMelEmbedder` with other settings, a callable
        ``(batch (b, n_samples) float32, sr) -> (b, d)`` or a torch module
        ``(b, n_samples) -> (b, d)``. See the module docstring.
    batch_size : int
        Clips per batch (and per parallel task; for windows, per embedder call).
    n_jobs : int or None
        Parallel workers (joblib); None uses the active
        ``joblib.parallel_config`` (1 by default), -1 all cores.
    cache_dir : path, bool or None
        Cache folder; None or True: ``$ALWIDGET_CACHE_DIR`` or
        ``~/.cache/alwidget``; False: no cache.
    device : str
        Torch device for the built-in embedders (``"cuda"`` switches them to
        the batched torch backend) and for torch modules.
    name : str or None
        Cache name of a plug-in embedder.
    progress : bool
        Show a ``tqdm`` progress bar over the clips to compute.

    Returns
    -------
    ndarray, shape (len(ds), d), float32
        A clip that fails to decode, holds NaN or infinite samples, or has
        samples so large (peak above 1e4) that its embedding is not finite
        gets a NaN row, is appended to ``ds.errors`` and is reported in one
        warning; drop such rows with
        ``keep = np.isfinite(X).all(1); ds, X = ds.subset(keep), X[keep]``.

    Notes
    -----
    Windowed datasets (:meth:`AudioDataset.from_recordings`): each task
    streams a run of one recording (see the module docstring); a recording
    found truncated or corrupt part-way keeps the rows of the windows that
    decoded, the others get NaN rows and ``ds.errors`` entries
    (``path@start``). Their cache entries are keyed by window id (with its
    start), file fingerprint, and the dataset's window and hop.

    Cache: one entry per clip, keyed by the clip id (path relative to the
    dataset root, or content hash for arrays), the file's size, mtime and a
    hash of its first, middle and last 4 KiB (so folders with equal names,
    sizes and mtimes do not share rows, and a moved folder still hits), the
    embedder's name and parameters (plug-ins: ``name`` or a hash of source
    and state) and the dataset's sr, duration and offset. A repeated call
    only reads the cache; changed files or parameters recompute just what
    changed; corrupt entries (checksum) are recomputed and rewritten.

    Clusters: work is split into ``batch_size`` tasks run by joblib, so any
    joblib backend works, e.g. Dask::

        from dask.distributed import Client
        client = Client("tcp://scheduler:8786")   # or Client() for a local cluster
        with joblib.parallel_config(backend="dask"):
            X = ds.embed(n_jobs=-1)

    (Ray: ``from ray.util.joblib import register_ray; register_ray()`` and
    ``backend="ray"``.) Workers must see the audio files at the same paths.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size <= 0:
        msg = f"batch_size must be a positive integer, got {batch_size!r}"
        raise InvalidInputError(msg)
    emb = get_embedder(embedder, device=device, name=name)
    emb.prepare(ds.sr)
    ds._last_embed = emb  # embed_query() embeds with the same embedder and settings
    n = len(ds)
    cache = _open_cache(cache_dir, emb, ds)
    keys = ds._cache_keys()
    rows: list[np.ndarray | None] = [None] * n
    failed: dict[int, str] = {
        i: "file vanished or became unreadable since the dataset was built" for i, k in enumerate(keys) if k is None
    }
    if cache is not None and n and not failed:
        X = cache.get_set(keys)  # fast path: the very same clips as a previous complete call
        if X is not None:
            return X
    if cache is not None:
        for i, key in enumerate(keys):
            if key is not None:
                rows[i] = cache.get(key)
    todo = [i for i in range(n) if rows[i] is None and i not in failed]
    writes: list[Future] = []
    with ThreadPoolExecutor(max_workers=1) as writer:  # file writes overlap the computing

        def store(indices: list[int], out: np.ndarray) -> None:
            for i, row in zip(indices, out):
                rows[i] = row
            if cache is not None:
                writes.append(writer.submit(cache.put_many, [(keys[i], rows[i]) for i in indices]))

        failed.update(_compute_rows(ds, emb, todo, store, batch_size=batch_size, n_jobs=n_jobs, progress=progress))
    done = [r for r in rows if r is not None]
    if not done:
        if n:
            msg = f"no clip could be embedded: {next(iter(failed.values()))}"
            raise AudioLoadError(msg)
        return np.zeros((0, 0), dtype=np.float32)
    d = _row_dim(done, emb.name)
    X = np.full((n, d), np.nan, dtype=np.float32)
    for i, r in enumerate(rows):
        if r is not None:
            X[i] = r
    write_errors = [f.exception() for f in writes if f.exception() is not None]
    if cache is not None and not failed and not write_errors:
        try:
            cache.put_set(keys, X)
        except OSError as exc:
            write_errors.append(exc)
    if write_errors:
        msg = (
            f"could not write the embedding cache in {cache.folder} ({write_errors[0]}); the embeddings "
            "returned are complete but will be recomputed next time. Pass a writable cache_dir= or cache_dir=False."
        )
        warnings.warn(msg, UserWarning, stacklevel=_stacklevel)
    if failed:
        new = [AudioError(ds._error_path(i), failed[i]) for i in sorted(failed)]
        known = set(ds.errors)
        for e in new:  # repeated calls report, but list once
            if e not in known:
                known.add(e)
                ds.errors.append(e)
        first = sorted(failed)[:3]
        msg = (
            f"{len(failed)} of {n} {'windows' if ds.is_windowed else 'clips'} failed to decode or have "
            "unusable audio and have NaN rows "
            f"(indices {first}{' ...' if len(failed) > 3 else ''}; first: {failed[first[0]]}). "
            "They are listed in ds.errors; drop them with keep = np.isfinite(X).all(1); "
            "ds, X = ds.subset(keep), X[keep]"
        )
        warnings.warn(msg, UserWarning, stacklevel=_stacklevel)
    return X


def embed_query(ds: AudioDataset, audio: Any, *, sr: int | None = None) -> np.ndarray:
    """One query embedded like the items of ``ds``: see :meth:`AudioDataset.embed_query`.

    Returns
    -------
    ndarray, shape (d,), float32
    """
    emb = ds._last_embed if ds._last_embed is not None else get_embedder("logmel")
    emb.prepare(ds.sr)
    offset = 0.0 if ds.is_windowed else ds.offset
    if isinstance(audio, (str, os.PathLike)):
        path = os.path.abspath(os.path.expanduser(os.fspath(audio)))
        if sr is not None:
            msg = f"sr={sr!r} is for waveforms; the rate of the file {path!r} is read from the file (drop sr=)"
            raise InvalidInputError(msg)
        if not os.path.isfile(path):
            msg = f"query file {path!r} {'is not a regular file' if os.path.exists(path) else 'does not exist'}"
            raise InvalidInputError(msg)
        y = load_audio(path, ds.sr, offset=offset, duration=ds.clip_duration)
        what = repr(path)
    else:
        if isinstance(sr, bool) or not isinstance(sr, numbers.Integral) or sr <= 0:
            msg = f"a waveform query needs its sample rate: pass sr= a positive integer in Hz, got sr={sr!r}"
            raise InvalidInputError(msg)
        try:
            y = np.asarray(audio, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            msg = f"the query must be a file path or a 1-D numeric waveform: {exc}"
            raise InvalidInputError(msg) from None
        if y.ndim != 1 or y.size == 0 or not np.isfinite(y).all():
            msg = (
                f"the query waveform must be a non-empty 1-D mono array of finite samples, got shape {y.shape}; "
                "mix down with y.mean(axis=0) and drop NaN or infinite samples"
            )
            raise InvalidInputError(msg)
        y = resample(y, int(sr), ds.sr)
        y = _load(y, ds.sr, 0.0, ds.clip_duration)  # a waveform is already cut: pad or trim only
        what = "the query waveform"
    out = _run_embedder(emb, [y], ds.sr, ["query"])
    if not np.isfinite(out).all():
        msg = (
            f"embedder {emb.name!r} returned NaN or infinite values for {what}; "
            "float audio should lie within about [-1, 1]: rescale it"
        )
        raise InvalidInputError(msg)
    return out[0]
