"""The embedding engine: every item of a dataset to one row, cached on disk and in parallel.

:func:`embed_rows` is what :meth:`AudioDataset.embed <alwidget.audio.AudioDataset.embed>`
runs (after :func:`prepare_embedder`), and :func:`embed_query` what
:meth:`~alwidget.audio.AudioDataset.embed_query` runs. The engine never
imports :mod:`alwidget.audio`: it works on any object with the small
interface :class:`EmbeddingSource` describes, and keeps no state on it.
Besides reading it, it calls one method that changes it:
``report_errors`` (the items that could not be embedded, for ``ds.errors``).

Plug-ins (see :mod:`alwidget.embedders`) only ever see batches of clips of
equal length (no padding; set a fixed ``duration`` on the dataset for full
batches), so a clip's embedding does not depend on its batch. Outputs are
checked: shape ``(b, d)``, finite. A non-finite row for a clip with extreme
samples (peak above ``1e4``: corrupt or mis-scaled float audio) is that
clip's fault: it gets a NaN row and an entry in ``ds.errors``; for any other
clip the embedder is at fault and :class:`~alwidget.errors.InvalidInputError`
is raised.

Windows of long recordings (:meth:`AudioDataset.from_recordings
<alwidget.audio.AudioDataset.from_recordings>`) are embedded by streaming:
each parallel task decodes one run of a recording (at most 10 minutes of
audio) once, sequentially in blocks (``soxr.ResampleStream`` when
resampling), cuts its windows and embeds them ``batch_size`` at a time, so
memory is bounded by a batch, not by the file. The rows equal embedding each
``ds[i]`` (exactly without resampling, to float32 rounding with it). Codecs
that libsndfile does not decode sample-exactly across blocks and seeks (MP3,
Opus, ...: see :data:`alwidget._recordings.BLOCK_EXACT_SUBTYPES`) are decoded
as ``ds[i]`` decodes them instead (one seek and one read per minute of the
recording), so their rows equal embedding each ``ds[i]`` exactly. A recording
whose sample rate changed since the dataset was built gives its windows NaN
rows and ``ds.errors`` entries.

Layering: imports :mod:`alwidget.embedders`, :mod:`alwidget.audio_io`,
:mod:`alwidget._recordings`, :mod:`alwidget._cache` and
:mod:`alwidget._resample`; :mod:`alwidget.audio` imports it.
"""

from __future__ import annotations

import json
import numbers
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

import numpy as np
from joblib import Parallel, delayed
from tqdm.auto import tqdm

from alwidget._cache import EmbeddingCache, default_cache_dir
from alwidget._recordings import Recording, read_window, stream_windows
from alwidget._window_background import WindowBackground, embed_on_background
from alwidget._resample import resample
from alwidget.audio_io import decode_clip, load_audio
from alwidget.embedders.base import Embedder, get_embedder, row_dim, to_numpy
from alwidget.errors import AudioLoadError, InvalidInputError

__all__ = ["EmbeddingSource", "embed_query", "embed_rows", "prepare_embedder"]

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


class EmbeddingSource(Protocol):
    """What the engine needs from a dataset (:class:`~alwidget.audio.AudioDataset` provides it).

    Items are numbered ``0 .. len(ds) - 1``; row ``i`` of the result is item ``i``.

    Attributes
    ----------
    sr : int
        Sample rate (Hz) of every item.
    offset : float
        Seconds skipped at the start of every file (plain clips).
    clip_duration : float or None
        Fixed length of every item in seconds (padded or trimmed), or None.
    window, hop : float or None
        Window length and hop in seconds of a windowed dataset, else None.
    is_windowed : bool
        True when the items are windows of long recordings (then
        :meth:`windows` is used, else :meth:`sources`).
    clip_ids : list of str
        Stable item ids, for error messages.
    """

    sr: int
    offset: float
    clip_duration: float | None
    window: float | None
    hop: float | None

    @property
    def is_windowed(self) -> bool: ...

    @property
    def clip_ids(self) -> list[str]: ...

    def __len__(self) -> int: ...

    def sources(self, indices: Sequence[int]) -> list[str | np.ndarray]:
        """What to decode for each plain item: a file path, or an array already at ``sr``."""
        ...

    def windows(self, indices: Sequence[int]) -> list[tuple[Recording, int]]:
        """For each window: its recording and its first sample at ``sr``."""
        ...

    def cache_keys(self) -> list[str | None]:
        """One embedding-cache key per item; None for an item whose file can no longer be read."""
        ...

    def report_errors(self, failures: Mapping[int, str]) -> None:
        """Record ``{index: reason}`` for the items that got NaN rows (``ds.errors``)."""
        ...


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
            waves.append(decode_clip(src, sr, offset, duration))
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


def _plan_runs(ds: EmbeddingSource, todo: list[int]) -> list[tuple[Recording, list[int], list[int]]]:
    """Group windows ``todo`` into runs: one recording, ascending starts, at most ``_RUN_SECONDS`` of audio.

    Returns ``(recording, indices, starts)`` per run, ``starts`` the first
    sample of each window at ``ds.sr``. Runs are shorter (an eighth of the
    audio to compute, at least ``_MIN_RUN_SECONDS``) when there is little
    audio, so parallel workers share it. A gap of more than
    ``_RUN_GAP_SECONDS`` between two windows to compute (cached ones in
    between) also starts a new run, so it is not decoded.
    """
    where = dict(zip(todo, ds.windows(todo)))  # index -> (recording, first sample)
    by_rec: dict[str, list[int]] = {}
    for i in todo:
        by_rec.setdefault(where[i][0].path, []).append(i)
    win_n = int(round(ds.window * ds.sr))
    audio = len(todo) * min(ds.window, ds.hop)  # seconds to decode, about
    run_seconds = min(_RUN_SECONDS, max(_MIN_RUN_SECONDS, audio / 8))
    max_span, max_gap = int(run_seconds * ds.sr), int(_RUN_GAP_SECONDS * ds.sr)
    runs: list[tuple[Recording, list[int], list[int]]] = []

    def close(run: list[int]) -> None:
        runs.append((where[run[0]][0], run, [where[i][1] for i in run]))

    for indices in by_rec.values():
        indices.sort(key=lambda i: where[i][1])
        run: list[int] = []
        for i in indices:
            s = where[i][1]
            if run and (s + win_n - where[run[0]][1] > max_span or s - where[run[-1]][1] - win_n > max_gap):
                close(run)
                run = []
            run.append(i)
        close(run)
    return runs


def _run_embedder(embedder: Embedder, waves: list[np.ndarray], sr: int, ids: list[str]) -> np.ndarray:
    """``embedder(waves, sr)`` as a ``(len(waves), d)`` float32 array; errors name the clips."""
    try:
        out = to_numpy(embedder(waves, sr))
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
    ds: EmbeddingSource,
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
        runs = _plan_runs(ds, todo)
        chunks = [run for _, run, _ in runs]
        tasks = (
            delayed(_embed_run)(emb, rec, starts, [ids[i] for i in run], win_n, batch_size) for rec, run, starts in runs
        )
    else:
        chunks = [todo[k : k + batch_size] for k in range(0, len(todo), batch_size)]
        tasks = (
            delayed(_embed_chunk)(emb, ds.sources(c), [ids[i] for i in c], ds.sr, ds.offset, ds.clip_duration)
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


def _open_cache(cache_dir: Any, embedder: Embedder, ds: EmbeddingSource) -> EmbeddingCache | None:
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


def prepare_embedder(
    embedder: Any = "auto", sr: int = 16000, *, batch_size: int = 32, device: str = "cpu", name: str | None = None
) -> Embedder:
    """The first step of an embedding run: check ``batch_size``, resolve ``embedder`` and prepare it for ``sr`` Hz.

    ``batch_size`` is checked first, so a bad value fails before any embedder
    is built (or warns). Then :func:`~alwidget.embedders.get_embedder`
    resolves ``embedder`` (a name, an :class:`~alwidget.embedders.Embedder`,
    a callable or a torch module; ``device`` and ``name`` as there) and
    :meth:`~alwidget.embedders.Embedder.prepare` precomputes its tables once,
    in this process. Give the result to :func:`embed_rows` and
    :func:`embed_query`.

    Raises
    ------
    InvalidInputError
        Bad ``batch_size``, unknown name or unusable embedder.
    MissingDependencyError
        A named embedder whose package or weights are not installed.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size <= 0:
        msg = f"batch_size must be a positive integer, got {batch_size!r}"
        raise InvalidInputError(msg)
    emb = get_embedder(embedder, device=device, name=name)
    emb.prepare(sr)
    return emb


def embed_rows(
    ds: EmbeddingSource,
    emb: Embedder,
    *,
    batch_size: int = 32,
    n_jobs: int | None = None,
    cache_dir: str | os.PathLike | bool | None = None,
    progress: bool = True,
    stacklevel: int = 2,
) -> np.ndarray:
    """Embed every clip of ``ds``: ``(len(ds), d)`` float32, row ``i`` for clip ``i``.

    Parameters
    ----------
    ds : EmbeddingSource
        An :class:`~alwidget.audio.AudioDataset`, or anything with the
        interface of :class:`EmbeddingSource`.
    emb : Embedder
        From :func:`prepare_embedder` (already prepared for ``ds.sr``).
        What ``ds.embed(embedder=...)`` accepts: ``"auto"`` (default:
        ``"logmel+aisfx"`` where aiSFX's weights are installed, else
        ``"logmel"``), ``"logmel"`` (d=384), ``"mfcc"`` (d=120), ``"aisfx"`` (pretrained, d=512, needs
        ``pip install --no-deps aisfx==0.1.2``), a name given to
        :func:`~alwidget.embedders.register_embedder`, a
        :class:`~alwidget.embedders.LogMelEmbedder` with other settings, a
        callable ``(batch (b, n_samples) float32, sr) -> (b, d)`` or a torch
        module ``(b, n_samples) -> (b, d)``. See :mod:`alwidget.embedders`.
    batch_size : int
        Clips per batch (and per parallel task; for windows, per embedder call).
    n_jobs : int or None
        Parallel workers (joblib); None uses the active
        ``joblib.parallel_config`` (1 by default), -1 all cores.
    cache_dir : path, bool or None
        Cache folder; None or True: ``$ALWIDGET_CACHE_DIR`` or
        ``~/.cache/alwidget``; False: no cache.
    progress : bool
        Show a ``tqdm`` progress bar over the clips to compute.
    stacklevel : int
        Of the warnings about failed clips and cache writes, counted from
        this function (2: its caller).

    Returns
    -------
    ndarray, shape (len(ds), d), float32
        A clip that fails to decode, holds NaN or infinite samples, or has
        samples so large (peak above 1e4) that its embedding is not finite
        gets a NaN row, is reported to ``ds.report_errors`` (which lists it
        in ``ds.errors``) and in one warning; drop such rows with
        ``keep = np.isfinite(X).all(1); ds, X = ds.subset(keep), X[keep]``.

    Notes
    -----
    Windowed datasets (:meth:`~alwidget.audio.AudioDataset.from_recordings`): each task
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
    n = len(ds)
    cache = _open_cache(cache_dir, emb, ds)
    keys = ds.cache_keys()
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
    d = row_dim(done, emb.name)
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
        warnings.warn(msg, UserWarning, stacklevel=stacklevel)
    if failed:
        ds.report_errors(failed)
        first = sorted(failed)[:3]
        msg = (
            f"{len(failed)} of {n} {'windows' if ds.is_windowed else 'clips'} failed to decode or have "
            "unusable audio and have NaN rows "
            f"(indices {first}{' ...' if len(failed) > 3 else ''}; first: {failed[first[0]]}). "
            "They are listed in ds.errors; drop them with keep = np.isfinite(X).all(1); "
            "ds, X = ds.subset(keep), X[keep]"
        )
        warnings.warn(msg, UserWarning, stacklevel=stacklevel)
    return X


def embed_query(
    ds: EmbeddingSource,
    audio: Any,
    *,
    sr: int | None = None,
    embedder: Embedder | None = None,
    background: WindowBackground | None = None,
) -> np.ndarray:
    """One query embedded like the items of ``ds``: see :meth:`alwidget.audio.AudioDataset.embed_query`.

    ``embedder`` is a prepared embedder (:func:`prepare_embedder`), as of the
    dataset's last ``embed`` call; None embeds with the default ``"auto"``.
    ``background`` is the dataset's ``last_background`` (windows with their
    recordings' background taken out): the query is then placed into
    background windows of the pool first (:mod:`alwidget._window_background`).

    Returns
    -------
    ndarray, shape (d,), float32
    """
    emb = embedder if embedder is not None else get_embedder("auto")
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
        y = decode_clip(y, ds.sr, 0.0, ds.clip_duration)  # a waveform is already cut: pad or trim only
        what = "the query waveform"
    if background is not None and ds.is_windowed:
        win_n = int(round(ds.window * ds.sr))
        out = embed_on_background(
            y,
            background,
            read=lambda rec, start: read_window(rec, start, win_n),
            embed=lambda waves: _run_embedder(emb, waves, ds.sr, ["query"] * len(waves)),
            what=what,
        )[None]
    else:
        out = _run_embedder(emb, [y], ds.sr, ["query"])
    if not np.isfinite(out).all():
        msg = (
            f"embedder {emb.name!r} returned NaN or infinite values for {what}; "
            "float audio should lie within about [-1, 1]: rescale it"
        )
        raise InvalidInputError(msg)
    return out[0]
