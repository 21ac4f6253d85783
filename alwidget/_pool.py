"""The pool of one learner: its embedding rows, their standardisation, and how they are read.

A :class:`Pool` holds the ``(n, d)`` embeddings (float32 or float16, in
memory or memory-mapped, never copied), their per-feature mean and scale, and
the ways to read them: blocks for a pass over the pool (:func:`pool_blocks`,
releasing the pages of a map as it goes), scattered rows (:func:`gather_rows`,
by ``pread`` or in runs through the map), standardised rows. The candidate
window of a large pool (:class:`CandidateWindow`) is here too: a seeded
permutation whose slices are read once and kept in float32.

Search, review and the learner read the pool through this object's public
methods; only the learner changes labels.
"""

from __future__ import annotations

import mmap
import os
import threading
import warnings

import numpy as np
import torch

from alwidget._validation import release_pages

__all__ = [
    "Pool",
    "CandidateWindow",
    "gather_rows",
    "pool_blocks",
    "pool_stats",
    "to_float32",
    "permute",
    "sample_candidates",
]

_SCORE_CHUNK = 131_072
# rows per chunk on the float32 path: 16,384 x 192 x 4 bytes = 12.6 MB stays
# below glibc's mmap threshold (32 MB), so chunk buffers are reused instead of
# freshly mapped and page-faulted each time (that cost more than the product)
_FAST_CHUNK = 16_384
# a gather from a memory-mapped pool maps about this many bytes of the file
# between two page releases: a run of rows spans at most this much of the file,
# or holds at most this / 64 KB rows (each scattered row maps a whole 64 KB
# window of the file: the kernel's fault-around)
_GATHER_BYTES = 16 << 20
_FAULT_AROUND = 64 << 10
# pools with at most this many embedding values (n_rows * dim) are scored in
# float64, so near-ties between clips break the same way on every CPU
_EXACT_SCORE_VALUES = 1 << 22
_CHUNK_ROWS = 65_536
_STATS_CHUNK = 16_384  # rows per block of the statistics of a pool larger than _CHUNK_ROWS
_SUBSET_STREAM = 1  # extra seed word of the candidate subset's generator
# a pool of at least twice `candidates` rows draws its candidates from a window of this many
# slices of a seeded permutation, moved by one slice per label or skip (CandidateWindow)
_WINDOW_SLICES = 16
_WINDOW_STRIDE = 4  # labels and skips per move of the window by one slice
_PERMUTATION_TABLE = 1 << 22  # pools of up to this many rows keep the candidate permutation as a table (16 MB)


def _tensor(a: np.ndarray, device: str) -> torch.Tensor:
    """A tensor sharing ``a``'s memory (no copy on CPU), read-only arrays included.

    torch warns that it cannot protect a read-only array from writes; the
    models never write to their inputs, so that warning is silenced here.
    """
    if a.flags.writeable:
        return torch.from_numpy(a).to(device)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(a).to(device)


def pool_blocks(X: np.ndarray, rows: np.ndarray | None = None, chunk: int = _SCORE_CHUNK):
    """Yield ``(start, block)``: ``X`` (or ``X[rows]``) ``chunk`` rows at a time, in ``X``'s dtype.

    For a memory-mapped ``X`` the pages read are released as it goes
    (:func:`~alwidget._validation.release_pages`), so a pass over a pool on
    disk keeps about one block in memory, not the pool.
    """
    if rows is None:
        for start in range(0, len(X), chunk):
            stop = min(len(X), start + chunk)
            yield start, X[start:stop]
            release_pages(X, start, stop)
        return
    for start in range(0, len(rows), chunk):
        yield start, gather_rows(X, rows[start : start + chunk])


def gather_rows(X: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``X[rows]`` (a copy, same values and order).

    From a memory-mapped ``X`` the rows are read in ascending order. Rows
    more than 64 KB apart on average (12,500 rows of 10M: 300 KB apart) are
    read from the file with one ``pread`` each: no page of the map is
    touched (a page fault maps a whole 64 KB window and cost about 5 us
    here, a ``pread`` 2-3 us). Denser rows are read through the map in runs
    that map about ``_GATHER_BYTES`` of the file (a run spans at most that
    much of it, or holds at most ``_GATHER_BYTES / 64 KB`` rows), and each
    run's pages are released after it: reading 200,000 scattered rows of a
    3.84 GB file maps about 16 MB at a time, not the file.
    """
    rows = np.asarray(rows)
    if getattr(X, "_mmap", None) is None or len(rows) == 0:
        return np.asarray(X[rows])
    order = None
    if len(rows) > 1 and (np.diff(rows) < 0).any():
        order = np.argsort(rows, kind="stable")
        rows = rows[order]
    out = np.empty((len(rows), *X.shape[1:]), dtype=X.dtype)
    where = _file_rows(X)
    sparse = (int(rows[-1]) - int(rows[0])) * X.strides[0] > len(rows) * _FAULT_AROUND
    if where is not None and sparse and _pread_rows(where, rows, out):
        pass
    else:
        _map_rows(X, rows, out)
    if order is None:
        return out
    back = np.empty_like(out)
    back[order] = out
    return back


def _file_rows(X: np.ndarray) -> tuple[str, int, int] | None:
    """``(path, byte offset of row 0, bytes per row)`` of a memory-mapped ``X`` with C-ordered rows, or None."""
    path, mm = getattr(X, "filename", None), getattr(X, "_mmap", None)
    row_bytes = X.itemsize * int(np.prod(X.shape[1:]))
    if path is None or X.ndim < 1 or X.strides[0] != row_bytes or not X[:1].flags.c_contiguous:
        return None
    if getattr(X, "mode", None) not in ("r", "r+", "w+"):  # a copy-on-write map may differ from its file
        return None
    try:
        base = np.frombuffer(mm, dtype=np.uint8).ctypes.data
    except (BufferError, TypeError, ValueError):
        return None
    start = X.offset - X.offset % mmap.ALLOCATIONGRANULARITY  # where np.memmap's map begins in the file
    return str(path), X.ctypes.data - base + start, row_bytes


def _pread_rows(where: tuple[str, int, int], rows: np.ndarray, out: np.ndarray) -> bool:
    """Read rows (ascending) into ``out`` with one ``pread`` each; False where the file cannot be read so."""
    path, first, row_bytes = where
    if not hasattr(os, "preadv"):
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        view = memoryview(out.reshape(-1).view(np.uint8))
        for j, r in enumerate(rows.tolist()):
            if os.preadv(fd, [view[j * row_bytes : (j + 1) * row_bytes]], first + r * row_bytes) != row_bytes:
                return False
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


def _map_rows(X: np.ndarray, rows: np.ndarray, out: np.ndarray) -> None:
    """``out[:] = X[rows]`` (rows ascending) through the map, in runs, releasing each run's pages."""
    span = max(1, _GATHER_BYTES // max(1, X.strides[0]))  # rows of the file
    count = max(1, _GATHER_BYTES // _FAULT_AROUND)  # scattered rows
    a = 0
    while a < len(rows):
        # dense rows: cut after `span` rows of the file; scattered rows: after `count` rows
        b = max(a + count, int(np.searchsorted(rows, rows[a] + span)))
        b = min(b, len(rows))
        out[a:b] = X[rows[a:b]]
        release_pages(X, int(rows[a]), int(rows[b - 1]) + 1)
        a = b


def to_float32(block: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``block`` as float32 (the same values); float16 is widened by torch, 5x faster than numpy here.

    ``out`` (float32, at least ``len(block)`` rows) is filled and returned
    instead of a fresh array: a reused buffer is not page-faulted again.
    """
    if block.dtype != np.float16:
        if out is None:
            return np.asarray(block, dtype=np.float32)
        out[: len(block)] = block
        return out[: len(block)]
    dst = np.empty(block.shape, dtype=np.float32) if out is None else out[: len(block)]
    torch.from_numpy(dst).copy_(_tensor(np.ascontiguousarray(block), "cpu"))
    return dst


class CandidateWindow:
    """The candidates of a pool of at least twice ``limit`` rows, and their raw embeddings.

    A seeded pseudo-random permutation of the pool's rows (:func:`_permute`,
    computed on the fly: no table of 10M row numbers) is cut into slices of
    ``ceil(limit / _WINDOW_SLICES)`` rows. After ``t`` labels and skips a
    query's candidates are the unlabelled rows among the ``limit`` rows that
    start at slice ``t // 4`` (16 slices, the last one cut short): distinct
    rows, a uniformly random sample of the pool, in permutation order, that
    depend only on the seed and ``t`` (so the same calls, or a journal
    replay, give the same queries). Every fourth label or skip moves the
    window by one slice, so a query reads at most one new slice per four
    labels (1,250 scattered rows at the default) and keeps the others in
    memory: on a memory-mapped pool of 10M windows, reading 200,000
    scattered rows took 120 to 400 ms here, 12,500 about 40 ms. Memory: the
    slices' rows in float32, in one buffer scored in one call
    (``limit x d x 4`` bytes, 15 MB at 20,000 x 192; a float16 pool's rows
    are widened once, when read). Pools of up to ``_PERMUTATION_TABLE`` rows
    keep the permutation as a table, computed once.
    """

    def __init__(self, X: np.ndarray, seed: int, limit: int):
        self.X, self.seed, self.limit = X, seed, limit
        self.per = -(-limit // _WINDOW_SLICES)
        self.n_slices = -(-limit // self.per)
        self.keys = np.random.default_rng([seed, _SUBSET_STREAM]).integers(0, 2**63, size=4, dtype=np.uint64)
        self.table: np.ndarray | None = None  # the whole permutation (int32), for pools of up to _PERMUTATION_TABLE
        self.slices: dict[int, np.ndarray] = {}  # j -> its rows, in permutation order
        # X[rows] of every slice in float32, slice j at slot j % n_slices: the window is scored in one call
        self.buffer = np.empty((self.n_slices * self.per, *X.shape[1:]), dtype=np.float32)
        self.last: tuple[np.ndarray, np.ndarray] | None = None  # the last candidates, their rows of the buffer
        self.lock = threading.Lock()

    def fits(self, X: np.ndarray, seed: int, limit: int) -> bool:
        return X is self.X and seed == self.seed and limit == self.limit

    def candidates(self, t: int, allowed: np.ndarray) -> np.ndarray:
        """The window's rows after ``t`` labels and skips, where ``allowed`` is True."""
        n = len(self.X)
        t //= _WINDOW_STRIDE
        js = range(t, t + self.n_slices)
        with self.lock:
            for j in [j for j in self.slices if j not in js]:
                del self.slices[j]
            new = [j for j in js if j not in self.slices]
            if new:  # the new slices' rows in one pass through the permutation (its per-call cost is most of it)
                pos = (np.asarray(new, dtype=np.int64)[:, None] * self.per + np.arange(self.per, dtype=np.int64)) % n
                if self.table is None and n <= _PERMUTATION_TABLE:  # computed once: later slices are lookups
                    self.table = permute(np.arange(n, dtype=np.int64), n, self.keys).astype(np.int32)
                pos = pos.reshape(-1)
                found = self.table[pos].astype(np.int64) if self.table is not None else permute(pos, n, self.keys)
                in_memory = self.X.dtype == np.float32 and not isinstance(self.X, np.memmap)
                for j, rows in zip(new, found.reshape(len(new), self.per)):
                    slot = (j % self.n_slices) * self.per
                    if in_memory:  # straight into the buffer
                        np.take(self.X, rows, axis=0, out=self.buffer[slot : slot + self.per], mode="clip")  # rows < n
                    else:  # read in runs (pread for a memory-mapped file), float16 widened once
                        to_float32(gather_rows(self.X, rows), out=self.buffer[slot : slot + self.per])
                    self.slices[j] = rows
            parts, where = [], []
            take = self.limit - (self.n_slices - 1) * self.per  # the window holds exactly `limit` rows
            for j in js:
                rows = self.slices[j] if j != js[-1] else self.slices[j][:take]
                keep = np.flatnonzero(allowed[rows])
                parts.append(rows[keep])
                where.append((j % self.n_slices) * self.per + keep)
            cand = np.concatenate(parts)
            self.last = (cand, np.concatenate(where))
        return cand

    def positions(self, rows: np.ndarray) -> np.ndarray | None:
        """Where the rows ``rows`` lie in :attr:`buffer`, if they are the last candidates (else None)."""
        last = self.last
        if last is None or len(rows) != len(last[0]) or not np.array_equal(rows, last[0]):
            return None
        return last[1]

    def rows(self, idx: np.ndarray) -> np.ndarray | None:
        """``X[idx]`` (float32) from memory if every row of ``idx`` is one of the last candidates, else None.

        Call it holding :attr:`lock`, as :meth:`positions`.
        """
        last = self.last
        if last is None or len(idx) == 0:
            return None
        cand, where = last
        order = np.argsort(cand, kind="stable")
        pos = np.minimum(np.searchsorted(cand, idx, sorter=order), len(cand) - 1)
        at = order[pos]  # position of each row of idx among the candidates
        if not np.array_equal(cand[at], idx):
            return None
        return self.buffer[where[at]]


def permute(i: np.ndarray, n: int, keys: np.ndarray) -> np.ndarray:
    """Positions ``i`` (int64, in ``0 .. n - 1``) through a seeded pseudo-random permutation of ``0 .. n - 1``.

    A balanced Feistel network on the smallest even number of bits that holds
    ``n`` (one round per key, a splitmix64 round function), made a
    permutation of ``0 .. n - 1`` by cycle walking: a value ``>= n`` is put
    through the network again until it lands below ``n``.
    """
    bits = max(2, int(n - 1).bit_length())
    half = (bits + 1) // 2
    mask = np.uint64((1 << half) - 1)
    shift = np.uint64(half)
    out = i.astype(np.uint64)
    todo = np.arange(len(out))
    with np.errstate(over="ignore"):
        while len(todo):
            v = out[todo]
            for k in keys:
                left, right = v >> shift, v & mask
                h = (right + k) * np.uint64(0x9E3779B97F4A7C15)
                h ^= h >> np.uint64(30)
                h *= np.uint64(0xBF58476D1CE4E5B9)
                h ^= h >> np.uint64(27)
                v = (right << shift) | (left ^ (h & mask))
            out[todo] = v
            todo = todo[v >= n]
    return out.astype(np.int64)


def sample_candidates(allowed: np.ndarray, n_allowed: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """``m`` of the ``n_allowed`` rows where ``allowed`` is True, uniformly at random, ascending.

    With mostly unlabelled rows (the usual case, ``m`` a small part of the
    pool) it draws row numbers with replacement, a few more than needed,
    keeps the distinct allowed ones and drops a random surplus: by symmetry
    every ``m``-subset is equally likely, and there is no pass over the pool
    (``rng.choice(..., replace=False)`` took 40 ms at 10M rows, this 10 ms).
    """
    n_pool = len(allowed)
    if n_allowed * 4 >= n_pool and m * 8 <= n_allowed:
        draw = int(m * n_pool / n_allowed * 1.05) + 64
        rows = np.empty(0, dtype=np.int64)
        for _ in range(8):  # one round almost always; each one adds more rows
            rows = np.concatenate([rows, rng.integers(0, n_pool, size=draw)])
            rows.sort()
            rows = rows[np.concatenate([[True], rows[1:] != rows[:-1]])]  # distinct
            rows = rows[allowed[rows]]
            if len(rows) >= m:
                drop = rng.choice(len(rows), size=len(rows) - m, replace=False)
                return np.delete(rows, drop)
    return np.sort(rng.choice(np.flatnonzero(allowed), size=m, replace=False))


def pool_stats(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and standard deviation (float32), in one streaming pass.

    Blocks of rows (float16 widened to float32 first, the same numbers) are
    summed in float64; the pages of a memory-mapped pool are released after
    each block. A pool of at most ``_CHUNK_ROWS`` rows is one block with the
    arithmetic it always had (so small pools give bit-identical statistics);
    larger pools are summed in blocks of ``_STATS_CHUNK`` rows without
    float64 copies, 3x faster.
    """
    total = np.zeros(X.shape[1])
    total_sq = np.zeros(X.shape[1])
    one_block = len(X) <= _CHUNK_ROWS
    step = len(X) if one_block else _STATS_CHUNK
    wide = np.empty((min(len(X), step), X.shape[1]), dtype=np.float32) if X.dtype == np.float16 else None
    for _, block in pool_blocks(X, chunk=step):
        block = to_float32(block, wide) if wide is not None else block
        if one_block:
            block = block.astype(np.float64)
            total += block.sum(axis=0)
            total_sq += (block * block).sum(axis=0)
        else:
            total += block.sum(axis=0, dtype=np.float64)
            total_sq += np.einsum("ij,ij->j", block, block, dtype=np.float64)
    mean = total / len(X)
    var = np.maximum(total_sq / len(X) - mean * mean, 0.0)
    scale = np.sqrt(var)
    scale[scale <= 1e-12 * np.maximum(1.0, np.abs(mean))] = 1.0  # constant features: leave unscaled
    return mean.astype(np.float32), scale.astype(np.float32)


class Pool:
    """The embeddings of one learner, their standardisation and their reads.

    Parameters
    ----------
    X : ``(n, d)`` float32 or float16 array (checked by the caller; a memory map stays one)

    Attributes
    ----------
    X : the rows, as given (never copied)
    mean, scale : float32 ``(d,)``: per-feature mean and standard deviation
        (1 for constant features), from one streaming pass (:func:`pool_stats`)
    """

    def __init__(self, X: np.ndarray):
        self.X = X
        self.mean, self.scale = pool_stats(X)

    def __len__(self) -> int:
        return len(self.X)

    @property
    def dim(self) -> int:
        """Features per row."""
        return int(self.X.shape[1])

    @property
    def stats(self) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, scale)``, each float32 ``(d,)``."""
        return self.mean, self.scale

    def rows(self, idx) -> np.ndarray:
        """``X[idx]`` (a copy in ``X``'s dtype), read as :func:`gather_rows` does."""
        return gather_rows(self.X, np.asarray(idx, dtype=np.int64))

    def standardized(self, idx) -> np.ndarray:
        """Rows ``idx`` standardised, ``(X[idx] - mean) / scale``: float32 ``(m, d)``."""
        return (to_float32(self.rows(idx)) - self.mean) / self.scale

    def blocks(self, rows: np.ndarray | None = None, chunk: int = _SCORE_CHUNK):
        """Yield ``(start, block)`` over the pool (or ``rows``): see :func:`pool_blocks`."""
        return pool_blocks(self.X, rows, chunk)
