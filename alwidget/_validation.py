"""Argument checks shared by the learner, the strategies and the simulator."""

from __future__ import annotations

import numbers
from collections.abc import Hashable, Iterable

import numpy as np

from alwidget.errors import IndexOutOfRangeError, InvalidInputError

_CHUNK_ROWS = 65_536


def check_embeddings(X, *, name: str = "embeddings", n_features: int | None = None) -> np.ndarray:
    """Return ``X`` as a C-contiguous float32 ``(n, d)`` array, or raise.

    A float32 C-contiguous array is returned as is (no copy), so a pool of
    1,000,000 x 128 costs 512 MB and nothing more.
    """
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError) as exc:
        msg = f"{name} could not be read as a numeric array: {exc}"
        raise InvalidInputError(msg) from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        msg = (
            f"{name} must hold real numbers, got dtype {arr.dtype}; "
            "pass a float array of shape (n_clips, n_features)"
        )
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
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    for start in range(0, arr.shape[0], _CHUNK_ROWS):
        block = arr[start : start + _CHUNK_ROWS]
        bad = ~np.isfinite(block)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            value = block[row, col]
            msg = (
                f"{name} contain a non-finite value ({value}) at row {start + row}, column {col}; "
                "remove or repair that clip's embedding"
            )
            raise InvalidInputError(msg)
    return arr


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


def check_indices(idx, n_pool: int) -> tuple[np.ndarray, bool]:
    """Return ``(indices as int64 array, was_scalar)``; reject anything not a valid pool index."""
    scalar = np.ndim(idx) == 0
    if isinstance(idx, np.ndarray) and idx.dtype.kind in "iu":
        out = idx.astype(np.int64).ravel()
    else:
        values = [idx] if scalar else (idx.ravel().tolist() if isinstance(idx, np.ndarray) else list(idx))
        for v in values:
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
                msg = f"index {v!r} is not an integer; pass pool indices as ints"
                raise InvalidInputError(msg)
        out = np.array([int(v) for v in values], dtype=np.int64)
    if len(out) == 0:
        msg = "no index given; pass at least one pool index"
        raise InvalidInputError(msg)
    bad = (out < 0) | (out >= n_pool)
    if bad.any():
        v = int(out[bad][0])
        msg = f"index {v} is out of range for a pool of {n_pool} clips (valid: 0 .. {n_pool - 1})"
        raise IndexOutOfRangeError(msg)
    uniq, counts = np.unique(out, return_counts=True)
    if (counts > 1).any():
        msg = f"index {int(uniq[counts > 1][0])} is given more than once in one call"
        raise InvalidInputError(msg)
    return out, scalar


def check_positive_int(value, name: str) -> int:
    """Return ``value`` as an int >= 1, or raise naming ``name``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < 1:
        msg = f"{name} must be a positive integer, got {value!r}"
        raise InvalidInputError(msg)
    return int(value)
