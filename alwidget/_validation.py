"""Argument checks shared by the learner, the strategies and the simulator."""

from __future__ import annotations

import mmap
import numbers
from collections.abc import Hashable, Iterable

import numpy as np

from alwidget.errors import IndexOutOfRangeError, InvalidInputError

_CHUNK_ROWS = 16_384  # rows checked at once: 6 MB of a float16 pool at d=192


#: how a label can be given (``Event.mode``); recorded in the journal and in exports
LABEL_MODES = ("active", "search", "review", "import")


def check_embeddings(
    X, *, name: str = "embeddings", n_features: int | None = None, allow_float16: bool = False
) -> np.ndarray:
    """Return ``X`` as a C-contiguous float32 ``(n, d)`` array, or raise.

    A C-contiguous float32 array (with ``allow_float16``, a float16 one too) is
    returned as is, with no copy: a pool of 1,000,000 x 128 costs 512 MB and
    nothing more, and a memory-mapped array (``np.load(path, mmap_mode="r")``,
    ``np.memmap``) stays on disk. Other arrays are copied to float32.
    Finiteness is checked in blocks of rows; the pages of a memory-mapped
    array are released after each block (:func:`release_pages`), so checking
    does not load it.
    """
    try:
        arr = X if isinstance(X, np.memmap) else np.asarray(X)  # keep a memmap a memmap (its pages can be released)
    except (TypeError, ValueError) as exc:
        msg = f"{name} could not be read as a numeric array: {exc}"
        raise InvalidInputError(msg) from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        msg = f"{name} must hold real numbers, got dtype {arr.dtype}; pass a float array of shape (n_clips, n_features)"
        raise InvalidInputError(msg)
    if arr.ndim != 2:
        msg = f"{name} must be 2-D (n_clips, n_features), got shape {arr.shape}"
        raise InvalidInputError(msg)
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        msg = f"{name} is empty (shape {arr.shape}); it needs at least one clip and one feature"
        raise InvalidInputError(msg)
    if n_features is not None and arr.shape[1] != n_features:
        msg = f"{name} has {arr.shape[1]} features per row, expected {n_features} (as in the pool embeddings)"
        raise InvalidInputError(msg)
    kept = (np.float32, np.float16) if allow_float16 else (np.float32,)
    if not (arr.dtype in kept and arr.dtype.isnative and arr.flags.c_contiguous):
        arr = np.ascontiguousarray(arr, dtype=np.float32)
    for start in range(0, arr.shape[0], _CHUNK_ROWS):
        block = arr[start : start + _CHUNK_ROWS]
        if _has_non_finite(block):
            bad = ~np.isfinite(block)
            row, col = np.argwhere(bad)[0]
            value = block[row, col]
            msg = (
                f"{name} contain a non-finite value ({value}) at row {start + row}, column {col}; "
                "remove or repair that clip's embedding"
            )
            raise InvalidInputError(msg)
        release_pages(arr, start, start + len(block))
    return arr


def _has_non_finite(block: np.ndarray) -> bool:
    if block.dtype == np.float16:  # on the bits: every exponent bit set means inf or nan (2x faster than isfinite)
        return int(np.bitwise_and(block.view(np.uint16), 0x7FFF).max()) >= 0x7C00
    return not np.isfinite(block).all()


def release_pages(X, start: int = 0, stop: int | None = None) -> None:
    """Drop rows ``start:stop`` of a memory-mapped array from this process's resident memory.

    Reading a memory-mapped array maps its pages into the process, and they
    count as its memory (RSS) until unmapped. For an ``np.memmap`` opened
    read-only or shared (modes ``r``, ``r+``, ``w+``; ``np.load(...,
    mmap_mode="r")`` is one) this unmaps them (``madvise(MADV_DONTNEED)``):
    the data stays on disk and in the OS page cache, so reading it again
    costs a page-table fill, not a disk read. Anything else (an in-memory
    array, a copy-on-write map, a platform without ``madvise``) is left alone.
    """
    mm = getattr(X, "_mmap", None)
    if (
        mm is None
        or getattr(X, "mode", None) not in ("r", "r+", "w+")
        or not hasattr(mm, "madvise")
        or not hasattr(mmap, "MADV_DONTNEED")
        or X.ndim == 0
    ):
        return
    n = X.shape[0]
    stop = n if stop is None else min(int(stop), n)
    start = max(0, int(start))
    if stop <= start or X.size == 0 or any(s < 0 for s in X.strides):
        return
    try:
        base = np.frombuffer(mm, dtype=np.uint8).ctypes.data
        first = X.ctypes.data + start * X.strides[0]
        last = X.ctypes.data + (stop - 1) * X.strides[0] + sum((k - 1) * s for k, s in zip(X.shape[1:], X.strides[1:]))
        lo = max(0, first - base) // mmap.PAGESIZE * mmap.PAGESIZE
        hi = min(len(mm), last + X.itemsize - base)
        if hi > lo:
            mm.madvise(mmap.MADV_DONTNEED, lo, hi - lo)
    except (AttributeError, BufferError, OSError, TypeError, ValueError):
        return


def check_class_name(name, *, what: str = "class name") -> Hashable:
    """Return ``name`` as a plain ``str`` or ``int``; other types are rejected."""
    if isinstance(name, (bool, np.bool_)):
        msg = f"{what} must be a string or an integer, got the boolean {name!r}"
        raise InvalidInputError(msg)
    if isinstance(name, str):
        if not name.strip():
            msg = f"{what} must not be empty or blank, got {name!r}"
            raise InvalidInputError(msg)
        return name
    if isinstance(name, numbers.Integral):
        return int(name)
    if isinstance(name, np.str_):
        return str(name)
    msg = f"{what} must be a string or an integer, got {name!r} of type {type(name).__name__}"
    raise InvalidInputError(msg)


def check_classes(classes) -> list:
    """Return a list of unique class names, or raise naming the problem."""
    if isinstance(classes, (str, bytes)) or not isinstance(classes, Iterable):
        msg = f"classes must be a list of label names, got {classes!r}"
        raise InvalidInputError(msg)
    out = [check_class_name(c) for c in classes]
    seen: set = set()
    for c in out:
        if c in seen:
            msg = f"duplicate class name {c!r} in classes {out!r}; class names must be unique"
            raise InvalidInputError(msg)
        seen.add(c)
    return out


def check_indices(idx, n_pool: int, *, unique: bool = True, allow_empty: bool = False) -> tuple[np.ndarray, bool]:
    """Return ``(indices as int64 array, was_scalar)``; reject anything not a valid pool index.

    Parameters
    ----------
    idx : int, sequence of int or integer array
    n_pool : int, valid indices are ``0 .. n_pool - 1`` (negative ones are never wrapped)
    unique : reject an index given twice
    allow_empty : accept an empty selection (returns an empty array)
    """
    scalar = np.ndim(idx) == 0
    if isinstance(idx, np.ndarray) and idx.dtype.kind in "iu":
        raw = idx.ravel()
        bad = (raw < 0) | (raw >= n_pool)  # compared in the array's own dtype: uint64 cannot wrap
        if bad.any():
            _out_of_range(raw[bad][0].item(), n_pool)
        out = raw.astype(np.int64)
    else:
        values = [idx] if scalar else (idx.ravel().tolist() if isinstance(idx, np.ndarray) else list(idx))
        for v in values:
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
                msg = f"index {v!r} is not an integer; pass pool indices as ints"
                raise InvalidInputError(msg)
        ints = [int(v) for v in values]
        for v in ints:  # before the int64 conversion, so 2**70 is named, not an OverflowError
            if v < 0 or v >= n_pool:
                _out_of_range(v, n_pool)
        out = np.array(ints, dtype=np.int64)
    if len(out) == 0:
        if allow_empty:
            return out, scalar
        msg = "no index given; pass at least one pool index"
        raise InvalidInputError(msg)
    if unique and len(out) > 1:
        uniq, counts = np.unique(out, return_counts=True)
        if (counts > 1).any():
            msg = f"index {int(uniq[counts > 1][0])} is given more than once in one call"
            raise InvalidInputError(msg)
    return out, scalar


def check_index(i, n_pool: int) -> int:
    """Return one pool index ``i`` as an int in ``0 .. n_pool - 1``, or raise (O(1))."""
    if isinstance(i, (bool, np.bool_)) or not isinstance(i, numbers.Integral):
        msg = f"index {i!r} is not an integer; pass a pool index as an int"
        raise InvalidInputError(msg)
    i = int(i)
    if i < 0 or i >= n_pool:
        _out_of_range(i, n_pool)
    return i


def _out_of_range(v: int, n_pool: int):
    msg = f"index {v} is out of range for a pool of {n_pool} clips (valid: 0 .. {n_pool - 1})"
    raise IndexOutOfRangeError(msg)


def check_device(device):
    """Return ``device`` unchanged if torch can use it here, else raise.

    Accepts a string such as ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"mps"``
    (or a ``torch.device``). torch is imported only when this is called.
    """
    import torch  # lazy: keep `import alwidget` light

    if not isinstance(device, (str, torch.device)):
        msg = f"device must be a string such as 'cpu' or 'cuda:0', got {device!r} of type {type(device).__name__}"
        raise InvalidInputError(msg)
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        msg = f"device {device!r} is not a torch device; use 'cpu', 'cuda', 'cuda:<index>' or 'mps'"
        raise InvalidInputError(msg) from None
    if dev.type == "cpu":
        return device
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            msg = f"device {device!r} was asked for but no CUDA device is visible to torch; use device='cpu'"
            raise InvalidInputError(msg)
        if dev.index is not None and dev.index >= count:
            msg = (
                f"device {device!r} does not exist: torch sees {count} CUDA device(s) "
                f"(cuda:0 .. cuda:{count - 1}); pick one of those or use device='cpu'"
            )
            raise InvalidInputError(msg)
        return device
    backend = getattr(torch.backends, dev.type, None) if dev.type == "mps" else getattr(torch, dev.type, None)
    is_available = getattr(backend, "is_available", None)
    if not callable(is_available) or not is_available():
        msg = f"device {device!r} is not available on this machine; use device='cpu'"
        raise InvalidInputError(msg)
    return device


def check_non_negative_int(value, name: str) -> int:
    """Return ``value`` as an int >= 0, or raise naming ``name``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < 0:
        msg = f"{name} must be a non-negative integer, got {value!r}"
        raise InvalidInputError(msg)
    return int(value)


def check_positive_int(value, name: str) -> int:
    """Return ``value`` as an int >= 1, or raise naming ``name``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < 1:
        msg = f"{name} must be a positive integer, got {value!r}"
        raise InvalidInputError(msg)
    return int(value)


def _class_key(name) -> str:
    """``name`` without case, spaces, punctuation and one plural 's': ``"Bird calls."`` -> ``"birdcall"``."""
    text = "".join(ch for ch in str(name).casefold() if ch.isalnum())
    return text[:-1] if len(text) > 3 and text.endswith("s") else text


def near_duplicate(name, classes) -> object | None:
    """The class of ``classes`` that ``name`` only spells differently (see :func:`_class_key`), or None."""
    key = _class_key(name)
    if not key:
        return None
    return next((c for c in classes if c != name and _class_key(c) == key), None)


def check_new_class(name, classes) -> None:
    """Refuse a new class ``name`` that is an existing class written another way (InvalidInputError naming it)."""
    close = near_duplicate(name, classes)
    if close is not None:
        msg = (
            f"{name!r} is the class {close!r} written another way (case, spaces, punctuation or a plural 's'); "
            f"label with {close!r}, or choose a name that differs in letters"
        )
        raise InvalidInputError(msg)


def check_weights(weights, n: int, what: str) -> np.ndarray:
    """``n`` finite, non-negative weights, not all zero (None: equal), rescaled to sum to 1; else InvalidInputError."""
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (n,) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        msg = f"weights must be {n} finite, non-negative numbers (one per {what}), not all zero; got {weights!r}"
        raise InvalidInputError(msg)
    return w / w.sum()
