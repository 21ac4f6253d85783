"""The embedder classes: the :class:`Embedder` base, plug-ins, concatenation, and :func:`get_embedder`.

- :class:`Embedder`: maps a batch of waveforms to ``(b, d)`` float32 rows;
  subclasses set :attr:`~Embedder.name` and :meth:`~Embedder.cache_params`.
- :class:`CallableEmbedder`: a plug-in function ``fn(batch, sr) -> (b, d)``,
  where ``batch`` is a float32 ndarray ``(b, n_samples)``.
- :class:`TorchEmbedder`: a ``torch.nn.Module`` called as ``module(x)`` with
  ``x`` a float32 tensor ``(b, n_samples)`` on ``device``.
- :class:`ConcatEmbedder`: several embedders side by side, each at its own rate.

A plug-in only ever sees batches of clips of equal length (no padding), so a
clip's embedding does not depend on its batch; its output is checked for
shape ``(b, d)``. Plug-ins are keyed in the embedding cache by a name you give
or by a hash of their source code and state (:func:`fingerprint`).

Layering: imports :mod:`alwidget.embedders._registry`, never the dataset
(:mod:`alwidget.audio`) nor the engine (:mod:`alwidget.embedding`).
"""

from __future__ import annotations

import functools
import inspect
import numbers
import pickle
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from alwidget._resample import resample
from alwidget._validation import check_weights
from alwidget.embedders._registry import lookup
from alwidget.errors import InvalidInputError

__all__ = [
    "CallableEmbedder",
    "ConcatEmbedder",
    "Embedder",
    "TorchEmbedder",
    "fingerprint",
    "get_embedder",
    "row_dim",
    "to_numpy",
]


class Embedder:
    """Base class of embedders: map a batch of waveforms to ``(b, d)`` rows.

    Subclasses set :attr:`name`, implement :meth:`__call__` and
    :meth:`cache_params` (everything the output depends on, JSON-able).
    """

    name: str = "embedder"
    #: Licence and attribution of pretrained weights, shown wherever the rows are used ("" for none).
    credits: str = ""

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

    @property
    def dim(self) -> int | None:
        """Width of each row, where known before embedding (None: unknown)."""
        return None

    @property
    def views(self) -> list[tuple[int, float]] | None:
        """``(width, weight)`` of each feature set side by side in a row, or None for one set.

        :class:`ConcatEmbedder` has views; the learner fits one model per
        view and pools them (:class:`~alwidget.models.ViewProduct`).
        """
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def _call_by_length(waveforms: Sequence[np.ndarray], call: Callable[[np.ndarray, list[int]], Any], name: str):
    """Call ``call(batch, positions)`` once per group of equal-length clips; stack rows in order."""
    groups: dict[int, list[int]] = {}
    for k, y in enumerate(waveforms):
        groups.setdefault(len(y), []).append(k)
    rows: list[np.ndarray | None] = [None] * len(waveforms)
    for length, idx in groups.items():
        batch = np.stack([waveforms[k] for k in idx]).astype(np.float32, copy=False)
        out = to_numpy(call(batch, idx))
        if out.ndim != 2 or out.shape[0] != len(idx):
            msg = (
                f"embedder {name!r} returned shape {out.shape} for a batch of {len(idx)} clips "
                f"of {length} samples; it must return (n_clips, n_features)"
            )
            raise InvalidInputError(msg)
        for j, k in enumerate(idx):
            rows[k] = out[j]
    row_dim(rows, name)
    return np.stack(rows)


def to_numpy(out: Any) -> np.ndarray:
    """An embedder's output (ndarray, list or torch tensor) as a float32 ndarray."""
    if hasattr(out, "detach"):  # torch tensor
        out = out.detach().cpu().numpy()
    return np.asarray(out, dtype=np.float32)


def row_dim(rows: list, name: str) -> int:
    """The common length ``d`` of ``rows``, or raise."""
    dims = {r.shape[0] for r in rows}
    if len(dims) > 1:
        msg = f"embedder {name!r} returned rows of different lengths {sorted(dims)}; every clip needs the same d"
        raise InvalidInputError(msg)
    return dims.pop()


def fingerprint(obj: Any) -> str:
    """Hash of a plug-in's source code and state, to key its cache entries.

    Covers: the source of the function (or of the class of a callable object
    or module), ``functools.partial`` arguments, closure variables and
    defaults, an object's attributes, a module's ``repr`` and weights.
    Not covered: globals the code reads and files it loads.
    """
    import joblib

    if isinstance(obj, functools.partial):
        return joblib.hash((fingerprint(obj.func), obj.args, obj.keywords))
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
        return {} if self.user_name else {"fingerprint": fingerprint(self.fn)}

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
        return {} if self.user_name else {"fingerprint": fingerprint(self.module)}

    def __call__(self, waveforms: Sequence[np.ndarray], sr: int) -> np.ndarray:
        import torch

        module = self.module.to(self.device).eval()
        with torch.inference_mode():
            return _call_by_length(
                waveforms, lambda batch, _: module(torch.from_numpy(batch).to(self.device)), self.name
            )


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
    weights : sequence of float, optional
        One per part: how much the learner's pooled model trusts that part
        (see :attr:`views`); default equal.
    device : str
        Torch device given to parts named by string or given as modules.
    """

    def __init__(
        self,
        parts: Sequence[Any],
        rates: Sequence[int | None] | None = None,
        *,
        weights: Sequence[float] | None = None,
        device: str = "cpu",
    ):
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
        w = check_weights(weights, len(parts), "part")
        self.parts = [get_embedder(p, device=device) for p in parts]
        self.rates = [None if r is None else int(r) for r in rates]
        self.weights = [float(x) for x in w]
        self.device = str(device)

    @property
    def dim(self) -> int | None:
        dims = [p.dim for p in self.parts]
        return None if None in dims else sum(dims)

    @property
    def views(self) -> list[tuple[int, float]] | None:
        """``(width, weight)`` per part, or None when a part's width is unknown before embedding."""
        dims = [p.dim for p in self.parts]
        return None if None in dims else list(zip(dims, self.weights))

    @property
    def credits(self) -> str:
        """The parts' credits, one per line."""
        return "\n".join(dict.fromkeys(p.credits for p in self.parts if p.credits))

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
            out = to_numpy(part(waves, at))
            if out.ndim != 2 or out.shape[0] != len(waves):
                msg = f"part {part.name!r} returned shape {out.shape} for {len(waves)} clips; it must return (n, d)"
                raise InvalidInputError(msg)
            rows.append(out)
        return np.hstack(rows)


def get_embedder(embedder: Any = "auto", *, device: str = "cpu", name: str | None = None) -> Embedder:
    """Resolve a registered name (``"auto"``, ``"logmel"``, ``"mfcc"``, ``"aisfx"``, ...), an
    :class:`Embedder`, a torch module or a callable.

    ``device`` applies to the named embedders and to torch modules; an
    :class:`Embedder` instance keeps its own settings. ``name`` names a
    plug-in's cache entries (see :class:`CallableEmbedder`). See
    :func:`~alwidget.embedders.register_embedder` to add names.
    """
    if isinstance(embedder, str):
        if name is not None:
            msg = f"name= is for plug-in embedders; the named embedder {embedder!r} is keyed by its own parameters"
            raise InvalidInputError(msg)
        return get_embedder(lookup(embedder, device), device=device)
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
