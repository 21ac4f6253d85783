"""Background subtraction for window embeddings of long recordings.

The embedding of a window cut from a long recording (a field recorder, a
hydrophone, a day of a city street) mostly describes the recording's
background: wind, rain, a river, traffic, the recorder's own noise. Two
windows of the same recording look alike whether or not they hold the sound
you are looking for, and two windows holding the same bird call in different
recordings look unlike. :func:`subtract_background` takes each recording's
running median (or mean) embedding out of its windows, so what is left is
what stands out from the recording's background at that time.

Pure numpy (the running median compiled by numba); no dataset and no learner. Example::

    X = ds.embed()
    groups = [ds.recording(i) for i in range(len(ds))]
    starts = [ds.start(i) for i in range(len(ds))]
    Xb = subtract_background(X, groups, starts)   # radius=30 windows, running median

``benchmarks/README.md`` ("Background subtraction on soundscapes") has the
evidence for the radius and the statistic: a running median over 30 windows
on each side raised detection mAP and search precision on three pools of
soundscapes, with sparse and with dense events.
"""

from __future__ import annotations

import numbers

import numpy as np

from alwidget._jit import compiled
from alwidget.errors import InvalidInputError

__all__ = ["subtract_background"]

_STATISTICS = ("median", "mean")
_BLOCK = 1 << 21  # float32 elements (8 MB) per working block: bounds memory whatever the pool's size


def subtract_background(X, groups=None, order=None, *, radius=30, statistic="median", out=None) -> np.ndarray:
    """Each window's embedding minus its recording's running median (or mean) embedding.

    For every recording (group), with its windows in time order, the
    background of window ``i`` is the per-dimension median (or mean) of the
    windows ``i - radius .. i + radius`` of the same recording, cut at the
    recording's ends (a window near the start uses the windows it has; a
    recording of at most ``radius + 1`` windows uses all of its windows for
    every window). The window itself is included. The result is
    ``X[i] - background[i]``.

    Parameters
    ----------
    X : array-like, shape (n_windows, d)
        Window embeddings (float16, float32, float64 or integers; a
        memory-mapped array is read one block of rows at a time, never
        loaded whole). A row holding a NaN is a missing window (e.g. one that
        could not be decoded): it stays all-NaN in the output and is left out
        of its neighbours' backgrounds. Infinite values are refused.
    groups : array-like, shape (n_windows,), optional
        The recording of each window (any sortable values, e.g.
        ``ds.recording(i)``); None: all windows come from one recording.
    order : array-like of real numbers, shape (n_windows,), optional
        Time of each window inside its recording (e.g. ``ds.start(i)``);
        windows are ordered by it within each recording (ties keep their
        row order). None: rows are already in time order.
    radius : int, default 30
        Windows on each side that make up the background (30 windows of a
        1 s hop: about a minute around each window).
    statistic : {"median", "mean"}, default "median"
        The running median is robust to the events themselves (they move it
        only once they fill more than half of the span); the mean is about
        three times faster and lets events leak into their own background
        (level with the median with sparse events, behind with dense ones).
    out : ndarray, shape (n_windows, d), optional
        Where to write the result (float16, float32 or float64; e.g. a
        ``numpy.lib.format.open_memmap`` file for a pool too large for
        memory). Returned.

    Returns
    -------
    ndarray, shape (n_windows, d)
        float32 (or ``out``), rows in the order of ``X``. A recording of one
        window becomes all zeros: its only window is its background, so give
        short clips that are not windows of a longer recording no
        subtraction at all.

    Raises
    ------
    InvalidInputError
        ``X`` not 2-D real numbers or holding infinities; ``groups`` or
        ``order`` of another length than ``X`` or not comparable; ``order``
        not finite; ``radius`` not a positive integer; an unknown
        ``statistic``; ``out`` of the wrong shape or dtype or read-only.

    Notes
    -----
    Memory: one block of about ``2**21`` values (8 MB) and its copies at a
    time, plus a few integers per window for the order. Time, on one core
    of a shared 2-core VM, 384 dimensions: about 15,000 windows a second
    with the median and ``radius=30`` (19,000 with 15, 11,000 with 60; a
    sorted buffer per dimension slides along each recording), 50,000 with
    the mean; 10,000,000 windows take about 11 minutes with the default.

    Queries: a window of the pool is searched with its subtracted row. A clean
    example file has no background of its own: compared with subtracted
    windows, its embedding (raw, or minus the pool's median window) finds
    fewer windows of its class than raw search does. Mix the example into a
    few pool windows with no event and subtract those windows' backgrounds
    (``X[i] - subtract_background(X, ...)[i]``) instead: that query found
    more windows of its class than raw search on every soundscape pool.

    Examples
    --------
    >>> X = np.array([[1.0], [1.0], [5.0], [1.0], [1.0], [9.0], [9.0]], dtype=np.float32)
    >>> subtract_background(X, ["a"] * 5 + ["b"] * 2, radius=2).ravel().tolist()
    [0.0, 0.0, 4.0, 0.0, 0.0, 0.0, 0.0]
    """
    arr = _check_X(X)
    n, d = arr.shape
    codes = _check_groups(groups, n)
    keys = _check_order(order, n)
    radius = _check_radius(radius)
    if statistic not in _STATISTICS:
        msg = f'statistic must be "median" or "mean", got {statistic!r}'
        raise InvalidInputError(msg)
    result = _check_out(out, n, d)
    if n == 0:
        return result
    if keys is None:
        rows = np.argsort(codes, kind="stable")
    else:
        rows = np.lexsort((keys, codes))  # stable: ties keep their row order
    sorted_codes = codes[rows]
    cuts = np.flatnonzero(sorted_codes[1:] != sorted_codes[:-1]) + 1
    starts = np.concatenate([[0], cuts])
    stops = np.concatenate([cuts, [n]])
    for a, b in zip(starts.tolist(), stops.tolist()):
        idx = rows[a:b]
        if b - a > 1 and idx[-1] - idx[0] == b - a - 1 and bool(np.all(np.diff(idx) == 1)):
            idx = slice(int(idx[0]), int(idx[-1]) + 1)  # rows in place: read and write slices (memmap friendly)
        _one_recording(arr, idx, b - a, radius, statistic, result)
    return result


# ----------------------------------------------------------------------------- one recording
def _one_recording(arr, idx, m: int, radius: int, statistic: str, result) -> None:
    """Write the background-subtracted rows of one recording (rows ``idx`` of ``arr``, in time order)."""
    d = arr.shape[1]
    r = min(radius, m - 1)  # a larger radius gives the same neighbourhoods
    chunk = max(1, _BLOCK // d - 2 * r)  # output windows per block
    for s in range(0, m, chunk):
        e = min(m, s + chunk)
        lo, hi = max(0, s - r), min(m, e + r)
        block = _rows(arr, idx, lo, hi)  # (hi - lo, d) float32, a copy
        valid = ~np.isnan(block).any(axis=1)
        block[~valid] = np.nan
        # pad with missing rows at the recording's ends, so that every output window has 2r + 1 slots
        padded = np.full((e - s + 2 * r, d), np.nan, dtype=np.float32)
        first = r - (s - lo)
        padded[first : first + len(block)] = block
        own = padded[r : r + e - s]
        if r == 0:
            background = own
        elif statistic == "median":
            background = _running_median(padded, r)
        else:
            background = _running_mean(padded, r)
        res = own - background  # NaN rows stay NaN (own is NaN there)
        _write(result, idx, s, e, res)


def _rows(arr, idx, lo: int, hi: int) -> np.ndarray:
    if isinstance(idx, slice):
        part = arr[idx.start + lo : idx.start + hi]
    else:
        part = arr[idx[lo:hi]]
    return np.array(part, dtype=np.float32, copy=True)


def _write(result, idx, s: int, e: int, res: np.ndarray) -> None:
    if isinstance(idx, slice):
        result[idx.start + s : idx.start + e] = res
    else:
        result[idx[s:e]] = res


def _slot_counts(padded: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray]:
    """Per output window: is it a real window, and how many real windows are in its 2r + 1 slots."""
    valid = ~np.isnan(padded[:, 0])  # missing rows are all-NaN by now
    csum = np.concatenate([[0], np.cumsum(valid, dtype=np.int64)])
    w = 2 * r + 1
    counts = csum[w:] - csum[:-w]
    return valid[r : len(valid) - r], counts


def _running_median(padded: np.ndarray, r: int) -> np.ndarray:
    """Median over each window's 2r + 1 slots, missing (NaN) slots left out: ``(L, d)``.

    One sorted buffer per dimension slides along time (:func:`_median_kernel`,
    compiled by numba): each step inserts the incoming value and removes the
    outgoing one, so a window costs a few binary searches and shifts of at
    most ``2r + 1`` values, not a sort.
    """
    L, d = padded.shape[0] - 2 * r, padded.shape[1]
    out = np.empty((d, L), dtype=np.float32)
    _compiled_kernel()(np.ascontiguousarray(padded.T), r, out)  # time along contiguous memory
    return out.T


def _median_kernel(PT, r, out):  # pragma: no cover - run compiled
    """``out[j, i]``: median of the non-NaN values of ``PT[j, i : i + 2r + 1]``; NaN where ``PT[j, i + r]`` is NaN."""
    d, Lp = PT.shape
    w = 2 * r + 1
    buf = np.empty(w, dtype=np.float32)
    for j in range(d):
        x = PT[j]
        c = 0  # values in the sorted buffer
        for t in range(Lp):
            v = x[t]
            if v == v:  # insert the incoming value (NaN is never inserted)
                lo, hi = 0, c
                while lo < hi:
                    mid = (lo + hi) >> 1
                    if buf[mid] <= v:
                        lo = mid + 1
                    else:
                        hi = mid
                for q in range(c, lo, -1):
                    buf[q] = buf[q - 1]
                buf[lo] = v
                c += 1
            i = t - (w - 1)
            if i >= 0:
                own = x[i + r]
                if own != own or c == 0:
                    out[j, i] = np.nan
                elif c % 2 == 1:
                    out[j, i] = buf[c // 2]
                else:
                    out[j, i] = np.float32(0.5) * (buf[c // 2 - 1] + buf[c // 2])
                u = x[i]
                if u == u:  # remove the outgoing value
                    lo, hi = 0, c
                    while lo < hi:
                        mid = (lo + hi) >> 1
                        if buf[mid] < u:
                            lo = mid + 1
                        else:
                            hi = mid
                    for q in range(lo, c - 1):
                        buf[q] = buf[q + 1]
                    c -= 1


def _compiled_kernel():
    """:func:`_median_kernel` compiled by numba (once per process; cached on disk), without the GIL."""
    return compiled(_median_kernel)


def _running_mean(padded: np.ndarray, r: int) -> np.ndarray:
    """Mean over each window's 2r + 1 slots, missing (NaN) slots left out: ``(L, d)``."""
    w = 2 * r + 1
    own_valid, counts = _slot_counts(padded, r)
    filled = np.nan_to_num(padded, nan=0.0)
    csum = np.zeros((len(filled) + 1, filled.shape[1]), dtype=np.float64)
    np.cumsum(filled, axis=0, dtype=np.float64, out=csum[1:])
    sums = csum[w:] - csum[:-w]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (sums / counts[:, None]).astype(np.float32)
    mean[~own_valid] = np.nan
    return mean


# ----------------------------------------------------------------------------- validation
def _check_X(X) -> np.ndarray:
    try:
        arr = X if isinstance(X, np.ndarray) else np.asarray(X)  # keep a memmap a memmap
    except (TypeError, ValueError) as exc:
        msg = f"X could not be read as a numeric array: {exc}"
        raise InvalidInputError(msg) from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        msg = f"X must hold real numbers, got dtype {arr.dtype}; pass a float array of shape (n_windows, d)"
        raise InvalidInputError(msg)
    if arr.ndim != 2:
        msg = f"X must be 2-D (n_windows, d), got shape {arr.shape}"
        raise InvalidInputError(msg)
    if arr.shape[1] == 0:
        msg = f"X has no features (shape {arr.shape})"
        raise InvalidInputError(msg)
    if np.issubdtype(arr.dtype, np.floating):
        rows = max(1, _BLOCK // arr.shape[1])
        for s in range(0, arr.shape[0], rows):
            block = arr[s : s + rows]
            if np.isinf(block).any():
                row, col = np.argwhere(np.isinf(block))[0]
                msg = (
                    f"X contains an infinite value ({block[row, col]}) at row {s + row}, column {col}; "
                    "repair that window's embedding or set its row to NaN (a missing window)"
                )
                raise InvalidInputError(msg)
    return arr


def _check_groups(groups, n: int) -> np.ndarray:
    """Integer codes of the recordings, one per row."""
    if groups is None:
        return np.zeros(n, dtype=np.int64)
    if isinstance(groups, (str, bytes)):
        msg = f"groups must hold one recording per row of X, got the single value {groups!r}"
        raise InvalidInputError(msg)
    try:
        g = np.asarray(groups)
    except (TypeError, ValueError) as exc:
        msg = f"groups could not be read as an array: {exc}"
        raise InvalidInputError(msg) from None
    if g.ndim != 1 or len(g) != n:
        msg = f"groups must hold one recording per row of X ({n}), got shape {g.shape}"
        raise InvalidInputError(msg)
    try:
        _, codes = np.unique(g, return_inverse=True)
    except TypeError:
        msg = "groups must be comparable values (all strings or all numbers, e.g. ds.recording(i)), got a mix"
        raise InvalidInputError(msg) from None
    return codes.reshape(-1).astype(np.int64)


def _check_order(order, n: int) -> np.ndarray | None:
    if order is None:
        return None
    try:
        o = np.asarray(order, dtype=np.float64)
    except (TypeError, ValueError):
        msg = "order must hold one real number per row of X (its time in the recording, e.g. ds.start(i))"
        raise InvalidInputError(msg) from None
    if o.ndim != 1 or len(o) != n:
        msg = f"order must hold one time per row of X ({n}), got shape {o.shape}"
        raise InvalidInputError(msg)
    if not np.isfinite(o).all():
        row = int(np.flatnonzero(~np.isfinite(o))[0])
        msg = f"order must be finite, got {o[row]} at row {row}"
        raise InvalidInputError(msg)
    return o


def _check_radius(radius) -> int:
    if isinstance(radius, (bool, np.bool_)) or not isinstance(radius, numbers.Integral) or radius < 1:
        msg = f"radius must be a positive integer (windows on each side), got {radius!r}"
        raise InvalidInputError(msg)
    return int(radius)


def _check_out(out, n: int, d: int) -> np.ndarray:
    if out is None:
        return np.empty((n, d), dtype=np.float32)
    if not isinstance(out, np.ndarray) or out.shape != (n, d):
        shape = getattr(out, "shape", None)
        msg = f"out must be an array of shape {(n, d)}, got {type(out).__name__} of shape {shape}"
        raise InvalidInputError(msg)
    if out.dtype not in (np.float16, np.float32, np.float64):
        msg = f"out must be float16, float32 or float64, got {out.dtype}"
        raise InvalidInputError(msg)
    if not out.flags.writeable:
        msg = "out is read-only"
        raise InvalidInputError(msg)
    return out
