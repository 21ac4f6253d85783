"""Tables of :mod:`alwidget.export`: pandas or numpy tables, the checks of their columns, and CSV cells.

Each check takes the user's value and returns a numpy column, or raises
InvalidInputError naming the argument, the row and what to pass instead.
"""

from __future__ import annotations

import math
import numbers
import os
import sys
from collections.abc import Iterable, Mapping

import numpy as np

from alwidget.errors import InvalidInputError, MissingDependencyError

DECIMALS = 6  # times, frequencies and scores in Raven tables; rounding of floats in CSV
_PROBA_TOLERANCE = 1e-6  # float32 softmax outputs may exceed 1 by an ulp or two


# --------------------------------------------------------------------------- pandas and tables


def import_pandas():
    """The pandas module, or None when it cannot be imported."""
    try:
        import pandas  # noqa: PLC0415 (optional dependency)
    except ImportError:
        return None
    return pandas


def pandas_for(as_frame):
    """pandas module when a DataFrame is wanted and possible, else None."""
    if as_frame is not None and not isinstance(as_frame, bool):
        msg = f"as_frame must be True, False or None, got {as_frame!r}"
        raise InvalidInputError(msg)
    if as_frame is False:
        return None
    pd = import_pandas()
    if pd is None and as_frame:
        msg = (
            "as_frame=True needs pandas, which cannot be imported here; "
            "pip install pandas, or pass as_frame=False for a numpy structured array"
        )
        raise MissingDependencyError(msg)
    return pd


def make_table(columns: dict, dtype: np.dtype, pd):
    """A DataFrame (``pd`` given) or a structured array of ``dtype`` from ``{name: column}``."""
    if pd is not None:
        data = {}
        for name in dtype.names:
            values = columns[name]
            data[name] = pd.Series(values, dtype=object) if dtype[name].kind == "O" else np.asarray(values, dtype[name])
        return pd.DataFrame(data, columns=list(dtype.names))
    n = len(columns[dtype.names[0]])
    out = np.empty(n, dtype=dtype)
    for name in dtype.names:
        out[name] = columns[name]
    return out


def table_columns(table, what: str) -> tuple[list, list[list]]:
    """Column names and per-column value lists of a DataFrame, structured array or list of dicts."""
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(table, pd.DataFrame):
        names = list(table.columns)
        return names, [table[name].tolist() for name in names]
    if isinstance(table, np.ndarray) and table.dtype.names:
        if table.ndim != 1:
            msg = f"{what} must be a 1-D structured array, got shape {table.shape}"
            raise InvalidInputError(msg)
        names = list(table.dtype.names)
        return names, [table[name].tolist() for name in names]
    if isinstance(table, (list, tuple)) and table and all(isinstance(r, Mapping) for r in table):
        names = list(table[0])
        for i, r in enumerate(table):
            if list(r) != names:
                msg = f"{what}[{i}] has the keys {list(r)}, but {what}[0] has {names}; every row needs the same keys"
                raise InvalidInputError(msg)
        return names, [[r[name] for r in table] for name in names]
    msg = (
        f"{what} must be a pandas DataFrame, a numpy structured array or a non-empty list of dicts "
        f"(as returned by predictions_table, labels_table or read_raven), got {type(table).__name__}"
    )
    raise InvalidInputError(msg)


def sort_order(recordings: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Stable order by (recording, start); recordings compared as Python strings."""
    rank = {rec: k for k, rec in enumerate(sorted(set(recordings.tolist())))}
    codes = np.fromiter((rank[r] for r in recordings), dtype=np.int64, count=len(recordings))
    return np.lexsort((starts, codes))


# --------------------------------------------------------------------------- column checks


def one_per_row(values, n: int | None, name: str) -> list:
    """``values`` as a list of one value per row (``n`` of them unless None); InvalidInputError otherwise."""
    if isinstance(values, np.ndarray):
        ok = values.ndim == 1
    elif values is None or isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
        ok = False
    else:
        values = list(values)
        ok = not any(isinstance(v, (list, tuple, np.ndarray)) for v in values)
    if not ok:
        msg = f"{name} must be a 1-D sequence (one value per row), got {type(values).__name__} {values!r:.60}"
        raise InvalidInputError(msg)
    out = values.tolist() if isinstance(values, np.ndarray) else list(values)
    if n is not None and len(out) != n:
        msg = f"{name} has {len(out)} values, expected {n} (as many as the other columns); pass one value per row"
        raise InvalidInputError(msg)
    return out


def is_missing(v) -> bool:
    """True for None, NaN and pandas' NA / NaT."""
    return v is None or (isinstance(v, float) and math.isnan(v)) or type(v).__name__ in ("NAType", "NaTType")


def check_proba(proba, classes: list) -> np.ndarray:
    """``proba`` as float64 ``(n, len(classes))`` with every value finite and in [0, 1]."""
    try:
        arr = np.asarray(proba)
    except (TypeError, ValueError) as exc:
        msg = f"proba could not be read as a numeric array: {exc}"
        raise InvalidInputError(msg) from None
    if arr.dtype.kind not in "iuf":
        msg = f"proba must hold real numbers, got dtype {arr.dtype}; pass a float array (n_rows, n_classes)"
        raise InvalidInputError(msg)
    if arr.ndim != 2:
        msg = f"proba must be 2-D (n_rows, n_classes), got shape {arr.shape}"
        raise InvalidInputError(msg)
    if arr.shape[1] != len(classes):
        msg = f"proba has {arr.shape[1]} columns but there are {len(classes)} classes; pass one column per class"
        raise InvalidInputError(msg)
    arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr) | (arr < 0) | (arr > 1 + _PROBA_TOLERANCE)
    if bad.any():
        i, j = (int(v) for v in np.argwhere(bad)[0])
        what = "a non-finite value" if not np.isfinite(arr[i, j]) else "a value outside [0, 1]"
        msg = (
            f"proba has {what} ({arr[i, j]}) at row {i}, column {j} (class {classes[j]!r}); "
            "pass probabilities in [0, 1], e.g. from predict_proba"
        )
        raise InvalidInputError(msg)
    return arr


def check_ids(ids, n: int) -> np.ndarray:
    """Clip ids as an object column of str and Python int."""
    if isinstance(ids, np.ndarray) and ids.ndim == 1 and ids.dtype.kind in "iuU" and len(ids) == n:
        return ids.astype(object)  # Python ints or str
    values = one_per_row(ids, n, "ids")
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        if isinstance(v, str):
            out[i] = v
        elif isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)):
            out[i] = int(v)
        else:
            msg = f"ids[{i}] = {v!r} is a {type(v).__name__}; clip ids must be strings or integers"
            raise InvalidInputError(msg)
    return out


def check_texts(values, n: int, name: str) -> np.ndarray:
    """Non-empty strings (or os.PathLike, as str), one per row."""
    if isinstance(values, np.ndarray) and values.ndim == 1 and values.dtype.kind == "U" and len(values) == n:
        empty = np.flatnonzero(values == "")
        if not empty.size:
            return values.astype(object)
    values = one_per_row(values, n, name)
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        if isinstance(v, os.PathLike):
            v = os.fspath(v)
        if not isinstance(v, str) or not v:
            msg = f"{name}[{i}] = {v!r} is not a non-empty string; pass the recording's path or name"
            raise InvalidInputError(msg)
        out[i] = str(v)
    return out


def check_seconds(values, n: int, name: str) -> np.ndarray:
    """Times in seconds as float64: finite and >= 0, or NaN where unknown."""
    if isinstance(values, np.ndarray) and values.ndim == 1 and values.dtype.kind in "iuf":
        if len(values) != n:
            one_per_row(values, n, name)
        arr = values.astype(np.float64)
    else:
        items = one_per_row(values, n, name)
        for i, v in enumerate(items):
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
                msg = f"{name}[{i}] = {v!r} is not a number; pass seconds from the start of the recording"
                raise InvalidInputError(msg)
        arr = np.array(items, dtype=np.float64) if items else np.zeros(0)
    bad = np.flatnonzero(np.isinf(arr) | (arr < 0))  # NaN: unknown, allowed
    if bad.size:
        i = int(bad[0])
        msg = (
            f"{name}[{i}] = {arr[i]} is not a finite time >= 0; pass seconds from the start of the recording "
            "(NaN where unknown)"
        )
        raise InvalidInputError(msg)
    return arr


def check_optional_names(values, n: int, name: str) -> np.ndarray:
    """Class names (non-blank str or int) or None, one per row; all None when ``values`` is None."""
    out = np.full(n, None, dtype=object)
    if values is None:
        return out
    for i, v in enumerate(one_per_row(values, n, name)):
        if is_missing(v):
            continue
        if isinstance(v, str) and v.strip():
            out[i] = str(v)
        elif isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)):
            out[i] = int(v)
        else:
            msg = f"{name}[{i}] = {v!r} must be a class name (a non-blank string or an integer) or None"
            raise InvalidInputError(msg)
    return out


def check_optional_modes(values, n: int, name: str) -> np.ndarray:
    """Non-blank strings or None, one per row; all None when ``values`` is None."""
    out = np.full(n, None, dtype=object)
    if values is None:
        return out
    for i, v in enumerate(one_per_row(values, n, name)):
        if is_missing(v):
            continue
        if not isinstance(v, str) or not v.strip():
            msg = f"{name}[{i}] = {v!r} must be a non-blank string (such as 'active') or None"
            raise InvalidInputError(msg)
        out[i] = str(v)
    return out


def check_indices(indices) -> np.ndarray:
    """Pool indices (integers >= 0) as int64."""
    values = one_per_row(indices, None, "indices")
    for i, v in enumerate(values):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral) or v < 0:
            msg = f"indices[{i}] = {v!r} is not a pool index (an integer >= 0)"
            raise InvalidInputError(msg)
    return np.array([int(v) for v in values], dtype=np.int64)


def check_times(values, n: int) -> np.ndarray:
    """Seconds since the epoch as float64, NaN where missing; all NaN when ``values`` is None."""
    out = np.full(n, np.nan)
    if values is None:
        return out
    for i, v in enumerate(one_per_row(values, n, "times")):
        if is_missing(v):
            continue
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real) or not math.isfinite(v):
            msg = f"times[{i}] = {v!r} must be a finite number (seconds since the epoch) or None"
            raise InvalidInputError(msg)
        out[i] = float(v)
    return out


def check_threshold(threshold) -> float | None:
    """``threshold`` as a float in [0, 1], or None."""
    if threshold is None:
        return None
    if (
        isinstance(threshold, (bool, np.bool_))
        or not isinstance(threshold, numbers.Real)
        or not 0.0 <= float(threshold) <= 1.0  # False for NaN too
    ):
        msg = f"threshold must be a number in [0, 1] (a probability) or None, got {threshold!r}"
        raise InvalidInputError(msg)
    return float(threshold)


# --------------------------------------------------------------------------- CSV cells


def csv_column(values: list) -> list[str]:
    """The CSV cells of one column: floats rounded to ``DECIMALS``, None and NaN empty."""
    out = []
    for v in values:
        kind = type(v)
        if kind is str:
            out.append(v)
        elif v is None:
            out.append("")
        elif kind is float and math.isfinite(v):
            out.append(repr(round(v, DECIMALS) + 0.0))  # + 0.0 turns -0.0 into 0.0
        elif kind is int:
            out.append(str(v))
        else:
            out.append(_csv_cell(v))
    return out


def _csv_cell(v) -> str:
    """One CSV cell of a value that is not a plain str, int or finite float."""
    if isinstance(v, np.generic):
        v = v.item()
    if is_missing(v):
        return ""
    if isinstance(v, float):
        if not math.isfinite(v):
            return repr(v)
        return repr(round(v, DECIMALS) + 0.0)  # + 0.0 turns -0.0 into 0.0
    return str(v)
