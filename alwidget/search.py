"""Search by example: the pool clips most similar to a query.

:func:`similar` ranks pool clips by cosine similarity to a query (a pool
index, several indices, an embedding, or audio turned into an embedding by
``embed``) in the learner's standardised space: ``z = (x - mean) / scale``,
then ``z / ||z||``. Scores are float32 cosines, best first; exact ties go to
the lower index.

Exact search (the default up to 1,000,000 clips) scans the pool in chunks of
``_CHUNK_ROWS`` rows, standardising and normalising each chunk on the fly in
float32 and keeping a running top ``n``: memory stays at one chunk, whatever
the pool size (a memory-mapped pool is read, never copied). About 0.4-0.5 s
per million 192-d rows on one core (``benchmarks/README.md``, "Search by
example"; approximate queries take a few ms there).

Approximate search uses an HNSW graph from the optional package ``voyager``
(``pip install alwidget[search]``). Why voyager:

* small and self-contained: a 0.3 MB wheel (0.8 MB installed), no dependency, for
  CPython 3.10, 3.11 and 3.12+ (abi3) on Linux, macOS and Windows; Apache-2.0,
  maintained by Spotify (2.2.3, November 2026);
* deterministic: an explicit ``random_seed``, and single-threaded insertion
  gives the same graph every time. To still use every core, the pool is split
  into fixed shards of ``_SHARD_ROWS`` rows, each built on one thread (voyager
  releases the GIL), so the index does not depend on the number of cores;
* no OpenMP: faiss-cpu (19 MB wheel) bundles its own OpenMP runtime, and with
  torch's (a dependency of alwidget) that is a known crash on macOS
  (faiss-wheels issue 73, still open);
* usearch has no seed, builds nondeterministically on several threads, pulls
  a 44 MB dependency (numkong) and needs Python >= 3.11 in its current
  releases; in one 50k-row comparison at the same settings and build speed it
  left a query at recall 0 where voyager did not. hnswlib has not been
  released since 2023 and ships no wheels (it needs a compiler).

Neither voyager nor usearch exposes filtered search in Python, so labelled
and skipped clips are filtered by asking each shard for more neighbours than
needed (growing the request until enough eligible ones come back, then
falling back to exact search). Candidates are re-scored exactly from the pool,
so approximate scores equal exact ones; only a missed neighbour can differ.
The index holds a float32 copy of the standardised pool (as much memory as the
pool itself) plus its graph, and is cached here per pool object
(``learner.pool``), keyed on the pool array, so it is rebuilt only when the
pool changes. :func:`build_index` builds it ahead of the first query.
"""

from __future__ import annotations

import numbers
import os
import sys
import threading
import time
import warnings
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import numpy as np

from alwidget._validation import check_indices, check_positive_int, release_pages
from alwidget.errors import AlwidgetWarning, InvalidInputError, MissingDependencyError

__all__ = ["SearchResult", "similar", "build_index", "index_ready"]

_UNLABELED = -1
_INDEXES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # Pool -> _AnnIndex (dies with its pool)
_EXACT_MAX_ROWS = 1_000_000  # approximate=None: exact up to this many clips
_CHUNK_ROWS = 8_192  # rows standardised at once: 6 MB at d=192, stays in cache
_SHARD_ROWS = 262_144  # rows per HNSW graph; fixed, so the index does not depend on the core count
_HNSW_M = 16
_EF_CONSTRUCTION = 100
_EF_SEARCH = 256  # 128 gave recall@10 0.975 on 262k-row shards, 256 gave 0.99
_MAX_K = 4_096  # most neighbours asked of one shard before falling back to exact search
_SEED = 0
_PIP_HINT = "pip install 'alwidget[search]'"

_build_lock = threading.Lock()
_warned_missing = False


class SearchResult(NamedTuple):
    """Clips most similar to a query, best first; unpacks as ``(indices, scores)``.

    Attributes
    ----------
    indices : int64 ``(k,)``, pool indices
    scores : float32 ``(k,)``, cosine similarity in ``[-1, 1]``
    """

    indices: np.ndarray
    scores: np.ndarray


def similar(
    learner,
    query,
    n: int = 10,
    *,
    exclude_labeled: bool = True,
    embed=None,
    approximate: bool | None = None,
    build: bool = True,
    exclude=None,
) -> SearchResult:
    """The ``n`` pool clips most similar to ``query`` (cosine, standardised space).

    Parameters
    ----------
    learner : ActiveLearner
    query : int, sequence of int, float array ``(d,)`` or ``(m, d)``, path or ``(waveform, sr)``
        A pool index; several indices (their centroid; the query clips are
        never returned); one or several embeddings (their centroid); or audio,
        embedded with ``embed``. Integer arrays are indices, float arrays
        embeddings.
    n : int, default 10
        How many clips to return (fewer when fewer are eligible).
    exclude_labeled : bool, default True
        Leave out labelled and skipped clips.
    embed : callable, optional
        Turns audio into an embedding: called as ``embed(path)`` or
        ``embed(waveform, sr=sr)``, returns ``(d,)`` or ``(m, d)`` floats in the
        pool's embedding space (e.g. ``dataset.embed_query``).
    approximate : bool or None, default None
        None: approximate (voyager HNSW) above 1,000,000 clips when voyager is
        installed, else exact. True: always approximate (needs voyager).
        False: always exact.
    build : bool, default True
        With ``approximate=None``: False searches exactly while no index is
        built (:func:`index_ready`) instead of building one first, which
        takes minutes per million rows (the labelling session's choice: its
        worker must stay free).
    exclude : sequence of int, optional
        Pool indices never returned, e.g. held-out evaluation clips (labelling
        them would inflate the held-out accuracy).

    Returns
    -------
    SearchResult ``(indices int64 (k,), scores float32 (k,))``, best first,
    ``k = min(n, number of eligible clips)``.
    """
    n = check_positive_int(n, "n")
    if not isinstance(exclude_labeled, (bool, np.bool_)):
        msg = f"exclude_labeled must be True or False, got {exclude_labeled!r}"
        raise InvalidInputError(msg)
    if approximate is not None and not isinstance(approximate, (bool, np.bool_)):
        msg = f"approximate must be None, True or False, got {approximate!r}"
        raise InvalidInputError(msg)
    if not isinstance(build, (bool, np.bool_)):
        msg = f"build must be True or False, got {build!r}"
        raise InvalidInputError(msg)
    n_pool = learner.n_pool
    excluded = (
        check_indices(exclude, n_pool, unique=False, allow_empty=True)[0]
        if exclude is not None
        else np.empty(0, dtype=np.int64)
    )
    codes = learner.label_codes()  # one snapshot: the UI thread may label meanwhile
    q, own = _query_vector(learner, query, embed)
    eligible = codes == _UNLABELED if exclude_labeled else np.ones(n_pool, dtype=bool)
    eligible[own] = False
    eligible[excluded] = False
    n_eligible = int(np.count_nonzero(eligible))
    k = min(n, n_eligible)
    if k == 0:
        return SearchResult(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32))
    voyager = _ann_backend(approximate, n_pool)
    if voyager is not None and approximate is None and not build and not index_ready(learner):
        voyager = None  # no index yet, and building one is not wanted now: exact
    if voyager is not None and n_eligible > _MAX_K:
        found = _approximate(learner, _index_for(learner, voyager), q, k, eligible, voyager)
        if found is not None:
            return found
    return _exact(learner, q, k, eligible)


def build_index(learner) -> None:
    """Build (or reuse) the approximate-search index of ``learner``'s pool now.

    The first approximate :func:`similar` call does this anyway; call it ahead
    (e.g. in a worker thread) to keep that first query fast. Needs voyager
    (``pip install 'alwidget[search]'``).
    """
    _index_for(learner, _ann_backend(True, learner.n_pool))


def index_ready(learner) -> bool:
    """Whether ``learner`` holds an approximate-search index built for its current pool.

    :class:`~alwidget.session.LabelingSession` searches a pool of more than
    1,000,000 clips exactly (a few seconds per 10M; ``similar(build=False)``)
    until this is True, rather than building the index on its first search (about 40 minutes per
    10M rows on 2 cores); call :func:`build_index` ahead to get
    millisecond searches.
    """
    index = _cached_index(learner)
    return index is not None and index.key == _pool_key(learner)


# ---------------------------------------------------------------- the query
def _query_vector(learner, query, embed) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(unit query (d,) float32, pool indices that make up the query)``."""
    d = learner.pool.X.shape[1]
    none = np.empty(0, dtype=np.int64)
    if isinstance(query, (str, os.PathLike)):
        return _centroid(learner, _embed_audio(embed, query, None, d), "the embedding of the audio"), none
    if _is_waveform(query):
        wave, sr = query
        return _centroid(learner, _embed_audio(embed, wave, sr, d), "the embedding of the audio"), none
    if isinstance(query, (bool, np.bool_)) or query is None or isinstance(query, (bytes, dict, set)):
        _bad_query(query)
    if isinstance(query, numbers.Integral):
        idx, _ = check_indices(query, learner.n_pool)
        return _centroid(learner, learner.pool.X[idx], f"the clip at pool index {int(idx[0])}"), idx
    if isinstance(query, (list, tuple, range)) and len(query) == 0:
        msg = "the query is empty; pass a pool index, a list of indices, an embedding or audio"
        raise InvalidInputError(msg)
    if isinstance(query, (list, tuple, range)) and all(isinstance(v, (numbers.Integral, np.bool_)) for v in query):
        idx, _ = check_indices(list(query), learner.n_pool, unique=False)  # names a bool or a huge int
        return _centroid(learner, learner.pool.X[idx], _several(idx)), np.unique(idx)
    try:
        arr = np.asarray(query)
    except (TypeError, ValueError):
        _bad_query(query)
    if arr.dtype.kind in "iu":
        if arr.ndim == 0:  # a 0-d integer array: one index
            idx, _ = check_indices(arr.item(), learner.n_pool)
            return _centroid(learner, learner.pool.X[idx], f"the clip at pool index {int(idx[0])}"), idx
        if arr.ndim != 1:
            msg = f"query indices must be a flat sequence of pool indices, got an array of shape {arr.shape}"
            raise InvalidInputError(msg)
        idx, _ = check_indices(arr, learner.n_pool, unique=False)
        return _centroid(learner, learner.pool.X[idx], _several(idx)), np.unique(idx)
    if arr.dtype.kind != "f" or arr.ndim == 0:
        _bad_query(query)
    if arr.size == 0:
        msg = f"the query embedding is empty (shape {arr.shape}); pass ({d},) or (m, {d}) floats"
        raise InvalidInputError(msg)
    rows = _check_vectors(arr, d, "the query embedding", audio_hint=True)
    return _centroid(learner, rows, "the query embedding"), none


def _several(idx: np.ndarray) -> str:
    """Several pool clips named in a message (the session names them by file)."""
    return f"the mean of the clips at pool indices {idx.tolist()[:10]}"


def _is_waveform(query) -> bool:
    return (
        isinstance(query, tuple)
        and len(query) == 2
        and np.ndim(query[0]) >= 1
        and isinstance(query[1], numbers.Real)
        and not isinstance(query[1], (bool, np.bool_))
    )


def _bad_query(query):
    msg = (
        f"query {query!r:.80} is not a pool index, a list of indices, an embedding (float array), "
        "an audio path or a (waveform, sr) tuple"
    )
    raise InvalidInputError(msg)


def _check_vectors(arr: np.ndarray, d: int, what: str, *, audio_hint: bool = False) -> np.ndarray:
    """Return ``arr`` as float32 ``(m, d)``, or raise naming the problem."""
    if audio_hint and arr.ndim == 1 and arr.shape[0] != d:
        msg = (
            f"{what} has {arr.shape[0]} values but the pool embeddings have {d}; "
            "if this is audio, pass it as (waveform, sr) with embed=dataset.embed_query"
        )
        raise InvalidInputError(msg)
    if arr.ndim not in (1, 2) or arr.shape[-1] != d or arr.size == 0:
        msg = f"{what} must have shape ({d},) or (m, {d}) like the pool embeddings, got {arr.shape}"
        raise InvalidInputError(msg)
    rows = np.atleast_2d(arr).astype(np.float32)
    bad = ~np.isfinite(rows)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        msg = f"{what} contains a non-finite value ({rows[row, col]}) at row {row}, column {col}; it must be finite"
        raise InvalidInputError(msg)
    return rows


def _embed_audio(embed, audio, sr, d: int) -> np.ndarray:
    """Embed a path (``sr is None``) or a waveform with ``embed``; return ``(m, d)`` float32."""
    if embed is None:
        msg = (
            "an audio query needs an embedder: pass embed=dataset.embed_query "
            "(or any callable that turns audio into an embedding)"
        )
        raise InvalidInputError(msg)
    if not callable(embed):
        msg = f"embed must be a callable such as dataset.embed_query, got {embed!r}"
        raise InvalidInputError(msg)
    out = embed(audio) if sr is None else embed(audio, sr=sr)
    try:
        arr = np.asarray(out)
    except (TypeError, ValueError):
        arr = np.asarray(None)
    if arr.dtype.kind not in "fiu":
        msg = f"embed returned {type(out).__name__}, expected a float array of shape ({d},) or (m, {d})"
        raise InvalidInputError(msg)
    return _check_vectors(arr, d, "the embedding returned by embed")


def _centroid(learner, rows: np.ndarray, what: str) -> np.ndarray:
    """Unit vector ``(d,)`` float32: mean of the rows' unit standardised vectors."""
    rows = np.ascontiguousarray(rows, dtype=np.float32)
    units = _unit_rows(rows, learner.pool.mean, learner.pool.scale, np.empty_like(rows))
    c = units.mean(axis=0, dtype=np.float64)
    norm = float(np.sqrt(c @ c))
    if not norm > 1e-6:
        msg = (
            f"{what} has no direction in the standardised space (it is the pool mean, or the examples "
            "cancel out), so its cosine similarity is undefined; query with other examples"
        )
        raise InvalidInputError(msg)
    return (c / norm).astype(np.float32)


# ------------------------------------------------------------ exact search
def _unit_rows(block: np.ndarray, mean: np.ndarray, scale: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out`` = standardised, L2-normalised ``block`` ``(m, d)`` float32 (zero rows stay zero)."""
    np.subtract(block, mean, out=out)
    np.divide(out, scale, out=out)
    norms = np.sqrt(np.einsum("ij,ij->i", out, out))
    np.divide(out, norms[:, None], out=out, where=norms[:, None] > 0)
    return out


def _scores(block: np.ndarray, mean: np.ndarray, scale: np.ndarray, q: np.ndarray, buf: np.ndarray) -> np.ndarray:
    """Cosine ``(m,)`` float32 between the rows of ``block`` (standardised) and unit ``q``.

    Row by row with einsum, not BLAS: a row gets the same score wherever it
    sits in a chunk, so equal rows tie exactly (BLAS kernels do not promise that).
    """
    z = buf[: len(block)]
    np.subtract(block, mean, out=z)
    np.divide(z, scale, out=z)
    norms = np.sqrt(np.einsum("ij,ij->i", z, z))
    dots = np.einsum("ij,j->i", z, q)
    return np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)


def _select(idx: np.ndarray, s: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The best ``n`` of candidates ``idx`` (ascending) with scores ``s``; ties to lower indices.

    Returns them still in ascending index order.
    """
    if len(s) <= n:
        return idx, s
    thr = np.partition(s, len(s) - n)[len(s) - n]  # the n-th largest score
    above = np.flatnonzero(s > thr)
    ties = np.flatnonzero(s == thr)[: n - len(above)]
    keep = np.sort(np.concatenate([above, ties]))
    return idx[keep], s[keep]


def _ranked(idx: np.ndarray, s: np.ndarray) -> SearchResult:
    order = np.lexsort((idx, -s))
    return SearchResult(idx[order].astype(np.int64), np.clip(s[order], -1.0, 1.0).astype(np.float32))


def _exact(learner, q: np.ndarray, n: int, eligible: np.ndarray) -> SearchResult:
    """Exact top ``n`` over the rows where ``eligible`` is True, chunk by chunk."""
    X, mean, scale = learner.pool.X, learner.pool.mean, learner.pool.scale
    n_pool = len(X)
    chunk = max(1, int(_CHUNK_ROWS))
    buf = np.empty((min(chunk, n_pool), X.shape[1]), dtype=np.float32)
    best_idx = np.empty(0, dtype=np.int64)
    best_s = np.empty(0, dtype=np.float32)
    rows = np.flatnonzero(eligible)
    sparse = len(rows) * 4 < n_pool  # few eligible rows: gather them instead of scanning all
    starts = range(0, len(rows), chunk) if sparse else range(0, n_pool, chunk)
    for start in starts:
        if sparse:
            idx = rows[start : start + chunk]
            s = _scores(X[idx], mean, scale, q, buf)
        else:
            stop = min(n_pool, start + chunk)
            keep = np.flatnonzero(eligible[start:stop])
            if len(keep) == 0:
                continue
            s = _scores(X[start:stop], mean, scale, q, buf)[keep]
            release_pages(X, start, stop)  # a memory-mapped pool: read, then let go (it stays on disk)
            idx = keep + start
        if len(best_s) == n:  # only what can still enter the top n
            better = s >= best_s.min()
            idx, s = idx[better], s[better]
            if len(s) == 0:
                continue
        best_idx, best_s = _select(np.concatenate([best_idx, idx]), np.concatenate([best_s, s]), n)
    return _ranked(best_idx, best_s)


# ------------------------------------------------------ approximate search
def _load_voyager():
    try:
        import voyager
    except ImportError:
        return None
    return voyager


def _ann_backend(approximate: bool | None, n_pool: int):
    """The voyager module if this search should be approximate, else None."""
    global _warned_missing
    if approximate is False or (approximate is None and n_pool <= _EXACT_MAX_ROWS):
        return None
    voyager = _load_voyager()
    if voyager is None:
        if approximate:
            msg = f"approximate search needs the voyager package: {_PIP_HINT} (or pip install voyager)"
            raise MissingDependencyError(msg)
        if not _warned_missing:
            _warned_missing = True
            msg = (
                f"the pool has {n_pool:,} clips: searching it exactly (about 0.4 s per million clips); "
                f"for fast approximate search, {_PIP_HINT}"
            )
            warnings.warn(msg, AlwidgetWarning, stacklevel=_caller_level())
    return voyager


def _caller_level() -> int:
    """``stacklevel`` that points a warning at the first caller outside alwidget."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("alwidget"):
        frame, level = frame.f_back, level + 1
    return level


class _AnnIndex:
    """HNSW graphs over fixed shards of the standardised, normalised pool."""

    def __init__(self, key: tuple, shards: list[tuple[int, int, Any]], seconds: float):
        self.key = key
        self.shards = shards  # (first row, last row + 1, voyager.Index)
        self.build_seconds = seconds


def _pool_key(learner) -> tuple:
    """Identity of the pool: its array, shape, memory and standardisation."""
    X = learner.pool.X
    return (
        id(X),
        X.shape,
        X.__array_interface__["data"][0],
        np.asarray(learner.pool.mean).tobytes(),
        np.asarray(learner.pool.scale).tobytes(),
    )


def _index_for(learner, voyager) -> _AnnIndex:
    """The learner's cached index, built first if missing or made for another pool."""
    key = _pool_key(learner)
    index = _cached_index(learner)
    if index is not None and index.key == key:
        return index
    with _build_lock:
        index = _cached_index(learner)
        if index is None or index.key != key:
            index = _build(learner, voyager, key)
            _INDEXES[learner.pool] = index
    return index


def _cached_index(learner) -> _AnnIndex | None:
    """The index built for ``learner``'s pool object, if any (it may be stale: compare its key)."""
    return _INDEXES.get(learner.pool)


def _build(learner, voyager, key: tuple) -> _AnnIndex:
    """Build one single-threaded HNSW graph per shard, shards in parallel threads."""
    X, mean, scale = learner.pool.X, learner.pool.mean, learner.pool.scale
    n_pool, d = X.shape
    chunk = max(1, int(_CHUNK_ROWS))
    bounds = [(lo, min(n_pool, lo + _SHARD_ROWS)) for lo in range(0, n_pool, _SHARD_ROWS)]

    def build_shard(number: int) -> Any:
        lo, hi = bounds[number]
        graph = voyager.Index(
            voyager.Space.Cosine,
            d,
            M=_HNSW_M,
            ef_construction=_EF_CONSTRUCTION,
            random_seed=_SEED + number,
            max_elements=hi - lo,
        )
        buf = np.empty((min(chunk, hi - lo), d), dtype=np.float32)
        for start in range(lo, hi, chunk):
            stop = min(hi, start + chunk)
            units = _unit_rows(X[start:stop], mean, scale, buf[: stop - start])
            release_pages(X, start, stop)
            graph.add_items(units, np.arange(start, stop, dtype=np.int64), num_threads=1)
        return graph

    t0 = time.perf_counter()
    workers = max(1, min(len(bounds), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        graphs = list(pool.map(build_shard, range(len(bounds))))
    shards = [(lo, hi, g) for (lo, hi), g in zip(bounds, graphs)]
    return _AnnIndex(key, shards, time.perf_counter() - t0)


def _approximate(learner, index: _AnnIndex, q: np.ndarray, n: int, eligible: np.ndarray, voyager):
    """Top ``n`` eligible clips from the graphs, re-scored exactly; None if exact search is needed."""
    n_excluded = len(eligible) - int(np.count_nonzero(eligible))
    k = n + min(n_excluded, 2 * n + 64)
    while True:
        if k > _MAX_K:
            return None
        keys = []
        for lo, hi, graph in index.shards:
            k_shard = min(k, hi - lo)
            try:
                found, _ = graph.query(q, k=k_shard, num_threads=1, query_ef=max(_EF_SEARCH, k_shard))
            except voyager.RecallError:
                return None
            keys.append(np.asarray(found, dtype=np.int64))
        cand = np.unique(np.concatenate(keys))
        cand = cand[eligible[cand]]
        everything = all(k >= hi - lo for lo, hi, _ in index.shards)
        if len(cand) >= n or everything:
            break
        k *= 4
    if len(cand) == 0:
        return None
    rows = learner.pool.X[cand]
    s = _scores(rows, learner.pool.mean, learner.pool.scale, q, np.empty(rows.shape, dtype=np.float32))
    return _ranked(*_select(cand, s, n))
