"""The registry of named embedders: ``embedder="name"`` -> a factory.

Only names and factories live here (no embedder classes), so every other
module of :mod:`alwidget.embedders` may import it. The built-in names are
registered by :mod:`alwidget.embedders` (its ``__init__``), which runs before
any of its submodules can be used.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from alwidget.errors import InvalidInputError

__all__ = ["BUILTIN_NAMES", "available_embedders", "lookup", "register_embedder"]

# name -> factory(device=...) returning an Embedder, a callable or a torch module
_REGISTRY: dict[str, Callable[..., Any]] = {}
#: Names that :func:`register_embedder` replaces only with ``overwrite=True``.
BUILTIN_NAMES = frozenset({"auto", "logmel", "mfcc", "aisfx", "logmel+aisfx"})


def register_embedder(name: str, factory: Callable[..., Any], *, overwrite: bool = False) -> None:
    """Make ``ds.embed(name)`` (and every ``embedder=name``) use ``factory()``.

    Parameters
    ----------
    name : str
        The name users pass as ``embedder=``.
    factory : callable
        Called each time the name is used, as ``factory(device=device)`` when
        it accepts a ``device`` argument, else as ``factory()``. It returns an
        :class:`~alwidget.embedders.Embedder`, a callable ``(batch, sr) -> (b, d)``
        or a torch module: whatever ``ds.embed`` accepts. A callable or module
        is keyed in the cache by a hash of its source and state, an
        :class:`~alwidget.embedders.Embedder` by its own
        :meth:`~alwidget.embedders.Embedder.cache_key`; so return
        ``CallableEmbedder(fn, name="bands-v2")`` to key by a name you bump.
        Load weights lazily or once (``functools.cache``): the factory runs at
        every ``embed`` call.
    overwrite : bool
        Needed to replace a built-in name (``"auto"``, ``"logmel"``, ``"mfcc"``,
        ``"aisfx"``, ``"logmel+aisfx"``). Names you registered yourself may be registered again
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
    if name in BUILTIN_NAMES and not overwrite:
        msg = f"{name!r} is a built-in embedder; pass overwrite=True to replace it, or choose another name"
        raise InvalidInputError(msg)
    _REGISTRY[name] = factory


def available_embedders() -> list[str]:
    """Names accepted as ``embedder=``: the built-in ones and those registered."""
    return sorted(_REGISTRY)


def lookup(name: str, device: str = "cpu") -> Any:
    """Call the factory registered as ``name`` (with ``device=`` when it takes one) and return what it made.

    Raises
    ------
    InvalidInputError
        If no factory has that name, or the factory returned a string.
    """
    factory = _REGISTRY.get(name)
    if factory is None:
        names = ", ".join(f'"{n}"' for n in available_embedders())
        msg = (
            f"unknown embedder {name!r}; use one of {names}, "
            "a callable (batch, sr) -> (b, d) or a torch module, or register_embedder(name, factory)"
        )
        raise InvalidInputError(msg)
    made = factory(device=device) if _accepts_device(factory) else factory()
    if isinstance(made, str):
        msg = f"the factory registered as {name!r} returned the string {made!r}; it must return an embedder"
        raise InvalidInputError(msg)
    return made


def _accepts_device(factory: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "device" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
