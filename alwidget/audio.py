"""Audio clips for active learning: lazy loading, bad-file reporting, playback bytes.

:class:`AudioDataset` lists clips (files on disk or in-memory arrays), decodes
them on demand to mono float32 at one sample rate (:mod:`alwidget.audio_io`),
and embeds them with :meth:`AudioDataset.embed` (the engine:
:mod:`alwidget.embedding`; the embedders: :mod:`alwidget.embedders`).

Bad files
---------
Every file is probed when the dataset is built: its header is read
(``soundfile.info``) and the last frame of the selected segment is decoded,
which catches unreadable, zero-length, unsupported and most truncated files
cheaply (timings in ``benchmarks/README.md``). Those files are excluded, listed in
``ds.errors`` as ``(path, reason)`` and summarised in ONE warning. A file
that passes the probe but fails to decode later (rare: corruption in the
middle of the data) raises :class:`~alwidget.errors.AudioLoadError` from
``ds[i]``; :meth:`AudioDataset.embed` instead gives its row NaN values, adds
it to ``ds.errors`` and warns, so one clip never stops a long run. Decoded
audio with NaN or infinite samples (corrupt float WAV/FLAC data) counts as a
file that fails to decode.

Long recordings
---------------
:meth:`AudioDataset.from_recordings` cuts recordings into fixed-length
windows (ids ``path.flac@12.5``); ``ds[i]`` seeks and decodes one window,
:meth:`AudioDataset.context` a window with the audio around it, and
:meth:`AudioDataset.embed` streams each recording once (see
:mod:`alwidget._recordings` and :mod:`alwidget.embedding`). Every dataset,
windowed or not, answers :meth:`~AudioDataset.recording`,
:meth:`~AudioDataset.start` and :meth:`~AudioDataset.end`. Lossy codecs
(MP3, Opus) are decoded from fixed seek points (every minute) in one read
each, by ``ds[i]`` and by the embedding alike, so an embedded window is
always the very audio ``ds[i]`` returns. A recording whose sample
rate changed since the dataset was built (the file replaced) fails on every
path: ``ds[i]`` raises :class:`~alwidget.errors.RecordingChangedError`
(an :class:`~alwidget.errors.AudioLoadError`), :meth:`~AudioDataset.embed`
gives its windows NaN rows and lists them in ``ds.errors``.
"""

from __future__ import annotations

import io
import numbers
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import soundfile as sf

from alwidget._recordings import (
    Recording,
    probe_recording,
    read_span,
    read_window,
    window_spans,
)
from alwidget._audio_inputs import (
    AUDIO_EXTENSIONS,
    check_labels,
    check_params,
    check_window_params,
    check_window_size,
    list_audio,
    recording_files,
    relative_id,
    subfolder_labels,
    warn_bad,
)
from alwidget.audio_io import clip_cache_keys, content_hash, load_audio, probe_clip
from alwidget.errors import AudioLoadError, IndexOutOfRangeError, InvalidInputError, RecordingChangedError

if TYPE_CHECKING:
    from alwidget._window_background import WindowBackground
    from alwidget.embedders import Embedder

__all__ = ["AUDIO_EXTENSIONS", "AudioDataset", "AudioError", "load_audio"]


class AudioError(NamedTuple):
    """A clip that could not be used: its path (or array name) and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class _Clip:
    """One clip: a file path, an in-memory array (already at the dataset rate) or a window of a recording.

    ``seconds`` is the length ``duration(i)`` reports; ``total`` the length of
    the whole file or array in seconds (None if unknown). A window has ``rec``
    (its recording), ``start`` (seconds) and ``start_n`` (first sample at the
    dataset rate).
    """

    clip_id: str
    name: str
    seconds: float
    path: str | None = None
    array: np.ndarray | None = None
    total: float | None = None
    rec: Recording | None = None
    start: float = 0.0
    start_n: int = 0

    @property
    def source(self) -> str | np.ndarray:
        return self.path if self.path is not None else self.array


def _file_clips(
    paths: list[str], labels: list | None, root: str, offset: float, duration: float | None
) -> tuple[list[_Clip], list, list[AudioError]]:
    """Probe each file: the clips of the readable ones, their labels, and the unreadable files as errors."""
    clips, kept_labels, errors, seen = [], [], [], set()
    for k, path in enumerate(paths):
        if path in seen:
            msg = f"{path!r} is listed twice; give each file once"
            raise InvalidInputError(msg)
        seen.add(path)
        try:
            seconds, total = probe_clip(path, offset, duration)
        except ValueError as exc:
            errors.append(AudioError(path, str(exc)))
            continue
        clip_id = relative_id(path, root)
        clips.append(_Clip(clip_id=clip_id, name=os.path.basename(path), seconds=seconds, path=path, total=total))
        if labels is not None:
            kept_labels.append(labels[k])
    return clips, kept_labels, errors


def _probe_recordings(paths: list[str]) -> tuple[list[tuple[int, str, int, int]], list[AudioError]]:
    """``(position, path, native_sr, frames)`` of each readable recording, and the unreadable ones as errors."""
    infos, errors, seen = [], [], set()
    for k, path in enumerate(paths):
        if path in seen:
            msg = f"{path!r} is listed twice; give each recording once"
            raise InvalidInputError(msg)
        seen.add(path)
        try:
            native_sr, frames = probe_recording(path)
        except ValueError as exc:
            errors.append(AudioError(path, str(exc)))
            continue
        infos.append((k, path, native_sr, frames))
    return infos, errors


def _window_clips(
    infos: list[tuple[int, str, int, int]],
    root: str,
    sr: int,
    window: float,
    hop: float,
    min_window: float | None,
    folder_labels: list | None,
    errors: list[AudioError],
) -> tuple[list[_Clip], list]:
    """The windows of probed recordings, and their labels; recordings too short for ``min_window`` go to ``errors``."""
    clips, labels = [], []
    for k, path, native_sr, frames in infos:
        rec = Recording(relative_id(path, root), path, native_sr, frames, sr)
        spans = window_spans(rec.length, sr, window, hop, min_window)
        if not len(spans):
            msg = f"shorter ({rec.seconds:.3f} s) than min_window={min_window} s, so it has no window"
            errors.append(AudioError(path, msg))
            continue
        base = os.path.basename(path)
        for w, (a, b) in enumerate(spans):
            tag = repr(round(w * hop, 3))
            clips.append(
                _Clip(
                    clip_id=f"{rec.rec_id}@{tag}",
                    name=f"{base}@{tag}",
                    seconds=(int(b) - int(a)) / sr,
                    path=path,
                    total=rec.seconds,
                    rec=rec,
                    start=w * hop,
                    start_n=int(a),
                )
            )
        if folder_labels is not None:
            labels.extend([folder_labels[k]] * len(spans))
    return clips, labels


def _checked_arrays(waveforms: Iterable[np.ndarray], names: Sequence[str] | None) -> tuple[list[np.ndarray], list[str]]:
    """:meth:`AudioDataset.from_arrays` input as float32 arrays and display names, or raise."""
    arrays = []
    for k, y in enumerate(waveforms):
        try:
            y = np.asarray(y, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            msg = f"waveform {k} is not a numeric array: {exc}"
            raise InvalidInputError(msg) from None
        if y.ndim != 1 or y.size == 0:
            msg = f"waveform {k} must be a non-empty 1-D mono array, got shape {y.shape}; mix down to mono first"
            raise InvalidInputError(msg)
        if not np.isfinite(y).all():
            msg = f"waveform {k} contains NaN or infinite samples; repair or drop it"
            raise InvalidInputError(msg)
        arrays.append(y)
    if not arrays:
        msg = "from_arrays got no waveforms; pass at least one 1-D array"
        raise InvalidInputError(msg)
    if names is None:
        names = [f"clip_{k:05d}" for k in range(len(arrays))]
    names = [str(s) for s in names]
    if len(names) != len(arrays):
        msg = f"names has {len(names)} entries but there are {len(arrays)} waveforms"
        raise InvalidInputError(msg)
    return arrays, names


def _array_clips(
    arrays: list[np.ndarray], names: list[str], sr: int, offset: float, duration: float | None
) -> list[_Clip]:
    """Clips of in-memory arrays, with content-hash ids (``#2`` marks a repeat)."""
    clips, counts = [], {}
    start = int(round(offset * sr))
    for y, name in zip(arrays, names):
        if start >= len(y):
            msg = f"offset={offset} s is beyond the end of waveform {name!r} ({len(y) / sr:.3f} s)"
            raise InvalidInputError(msg)
        digest = content_hash(y, sr)
        counts[digest] = counts.get(digest, 0) + 1
        clip_id = digest if counts[digest] == 1 else f"{digest}#{counts[digest]}"
        seconds = duration if duration is not None else (len(y) - start) / sr
        clips.append(_Clip(clip_id=clip_id, name=name, seconds=seconds, array=y, total=len(y) / sr))
    return clips


def _window_context(clip: _Clip, sr: int, before: float, after: float) -> tuple[np.ndarray, int, float, float]:
    """:meth:`AudioDataset.context` of a window: decode ``[start - before, end + after]`` by seeking."""
    rec = clip.rec
    stop = clip.start_n + int(round(clip.seconds * sr))
    a = max(0, clip.start_n - int(round(before * sr)))
    b = min(rec.length, stop + int(round(after * sr)))
    try:
        y = read_span(rec, a, b)
        if len(y) < (b - a) * 0.98 or not np.isfinite(y).all():
            msg = f"only {len(y)} of {b - a} samples could be decoded, or some are NaN or infinite"
            raise ValueError(msg)
    except RecordingChangedError as exc:
        msg = f"cannot decode the context of window {clip.clip_id!r} of {clip.path!r}: {exc}"
        raise RecordingChangedError(msg) from None
    except ValueError as exc:
        msg = (
            f"cannot decode the context of window {clip.clip_id!r} of {clip.path!r}: {exc}. "
            "Re-encode or remove the file."
        )
        raise AudioLoadError(msg) from None
    return y, sr, (clip.start_n - a) / sr, (stop - a) / sr


class AudioDataset:
    """Audio clips, decoded lazily to mono float32 at one sample rate.

    Build one with :meth:`from_folder`, :meth:`from_files` or :meth:`from_arrays`,
    or cut long recordings into fixed-length windows with :meth:`from_recordings`.

    Parameters
    ----------
    clips : list
        Internal clip records (use the ``from_*`` constructors).
    sr : int
        Sample rate of the returned waveforms, in Hz.
    duration : float or None
        Fixed clip length in seconds (zero-padded or trimmed), or None;
        stored as ``clip_duration`` (``duration(i)`` is a method).
    offset : float
        Seconds skipped at the start of every file.
    labels : list or None
        One label per clip, None if unknown.
    root : str or None
        Folder the clip ids of files are relative to (None for arrays).
    errors : list of AudioError
        Files excluded because they could not be read, and clips that later
        failed during :meth:`embed` (undecodable, NaN or infinite samples, or
        samples so large that their embedding overflowed).
    window, hop : float or None
        Window length and hop in seconds of a windowed dataset
        (:meth:`from_recordings`); None for clips.

    Attributes
    ----------
    last_embedder : Embedder or None
        The embedder (resolved and prepared) of the last :meth:`embed` call,
        kept by :meth:`subset`; :meth:`embed_query` embeds with it (None
        before any call: the default ``"auto"``).
    last_background : WindowBackground or None
        For windows: how the last :meth:`embed` call took each recording's
        background out (None: plain embeddings), kept by :meth:`subset`;
        :meth:`embed_query` matches it.
    last_views : list of (int, float) or None
        ``(width, weight)`` of each feature set side by side in the rows of
        the last :meth:`embed` call (``"logmel+aisfx"``: 384 then 512), None
        for one set; an :class:`ActiveLearner` given ``dataset=`` fits one
        model per view (:class:`~alwidget.models.ViewProduct`).

    Examples
    --------
    >>> ds = AudioDataset.from_folder("clips/", sr=16000, duration=5)  # doctest: +SKIP
    >>> y, sr = ds[0]                                                   # doctest: +SKIP
    >>> X = ds.embed()            # (len(ds), 896) float32, cached on disk  # doctest: +SKIP
    """

    def __init__(
        self,
        clips: list[_Clip],
        *,
        sr: int,
        duration: float | None = None,
        offset: float = 0.0,
        labels: list | None = None,
        root: str | None = None,
        errors: list[AudioError] | None = None,
        window: float | None = None,
        hop: float | None = None,
    ):
        self._clips = clips
        self.sr = sr
        self.clip_duration = duration
        self.offset = offset
        self._labels = labels
        self.root = root
        self.errors = [] if errors is None else errors
        self.window = window
        self.hop = hop
        self.last_embedder: Embedder | None = None
        self.last_background: WindowBackground | None = None

    @property
    def last_views(self) -> list[tuple[int, float]] | None:
        return None if self.last_embedder is None else self.last_embedder.views

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_folder(
        cls,
        path: str | os.PathLike,
        *,
        sr: int = 16000,
        duration: float | None = None,
        offset: float = 0.0,
        recursive: bool = True,
        labels_from: str | None = None,
    ) -> AudioDataset:
        """All audio files in a folder, sorted by relative path.

        Files are picked by extension (:data:`AUDIO_EXTENSIONS`, any case);
        other files and hidden files or folders (name starting with ``.``,
        e.g. macOS ``._x.wav``) are ignored.

        Parameters
        ----------
        path : str or PathLike
            The folder.
        sr, duration, offset
            See :meth:`from_files`.
        recursive : bool
            Also look in subfolders.
        labels_from : None or "subfolder"
            ``"subfolder"``: a clip's label is the name of the top-level
            subfolder it lies in (``root/dog/2021/a.wav`` -> ``"dog"``); files
            directly in ``path`` get label None.
        """
        root = Path(path).expanduser()
        if not root.is_dir():
            what = "is a file, not a folder" if root.exists() else "does not exist"
            msg = f"audio folder {os.fspath(root)!r} {what}; pass the folder that holds your clips"
            raise InvalidInputError(msg)
        if labels_from not in (None, "subfolder"):
            msg = f'labels_from must be None or "subfolder", got {labels_from!r}'
            raise InvalidInputError(msg)
        root = root.resolve()
        found = list_audio(root, recursive)
        labels = subfolder_labels(found, str(root)) if labels_from == "subfolder" else None
        return cls._from_paths(found, labels, sr=sr, duration=duration, offset=offset, root=str(root))

    @classmethod
    def from_files(
        cls,
        paths: Iterable[str | os.PathLike],
        labels: Sequence | None = None,
        *,
        sr: int = 16000,
        duration: float | None = None,
        offset: float = 0.0,
        root: str | os.PathLike | None = None,
    ) -> AudioDataset:
        """Audio files in the given order.

        Parameters
        ----------
        paths : iterable of str or PathLike
            Audio files (wav, flac, ogg, mp3, ... anything libsndfile reads).
        labels : sequence or None
            One label per path (None entries allowed), or None if unknown.
        sr : int
            Sample rate of the returned waveforms in Hz; files are resampled.
        duration : float or None
            Fixed clip length in seconds: zero-padded or trimmed, and only
            that much is decoded. None keeps each file's length.
        offset : float
            Seconds to skip at the start of every file (seeks, no decoding).
        root : str, PathLike or None
            Folder that clip ids are relative to; default the deepest folder
            holding all files.
        """
        paths = [os.path.abspath(os.path.expanduser(os.fspath(p))) for p in paths]
        if not paths:
            msg = "from_files got an empty list of paths; pass at least one audio file"
            raise InvalidInputError(msg)
        labels = check_labels(labels, len(paths), "paths")
        if root is None:
            root = os.path.commonpath([os.path.dirname(p) for p in paths])
        return cls._from_paths(paths, labels, sr=sr, duration=duration, offset=offset, root=os.path.abspath(root))

    @classmethod
    def _from_paths(
        cls, paths: list[str], labels: list | None, *, sr: int, duration: float | None, offset: float, root: str
    ) -> AudioDataset:
        sr, duration, offset = check_params(sr, duration, offset)
        clips, kept_labels, errors = _file_clips(paths, labels, root, offset, duration)
        if not clips:
            shown = "; ".join(f"{e.path}: {e.reason}" for e in errors[:3])
            msg = f"none of the {len(paths)} audio files could be read ({shown}); check the files or their format"
            raise InvalidInputError(msg)
        if errors:
            warn_bad(errors, len(paths), stacklevel=3)
        labels = kept_labels if labels is not None else None
        return cls(clips, sr=sr, duration=duration, offset=offset, labels=labels, root=root, errors=errors)

    @classmethod
    def from_recordings(
        cls,
        path_or_files: str | os.PathLike | Iterable[str | os.PathLike],
        *,
        window: float = 5.0,
        hop: float | None = None,
        sr: int | None = None,
        min_window: float | None = None,
        labels_from: str | None = None,
    ) -> AudioDataset:
        """Long recordings cut into fixed-length windows, one dataset item per window.

        Window ``k`` of a recording starts at ``k * hop`` seconds; windows
        continue while their start lies inside the recording, and stop after
        the first one that reaches its end. Nothing is decoded here (each
        file's header is read and its last frame decoded): ``ds[i]`` seeks
        and decodes one window, :meth:`embed` streams each recording once.

        Parameters
        ----------
        path_or_files : str, PathLike or list of them
            A folder (all audio files in it and its subfolders, sorted, as
            :meth:`from_folder`), one audio file, or a list of files.
        window : float
            Window length in seconds; ``ds[i]`` returns ``round(window * sr)``
            samples, the last window of a recording zero-padded (a recording
            shorter than ``window`` has one window, zero-padded). At most
            ``MAX_WINDOW_SAMPLES`` (172,800,000: one hour at 48 kHz, 691 MB
            as float32) samples at ``sr``, since each window is decoded whole
            into memory.
        hop : float or None
            Seconds between window starts; default ``window``. Smaller
            overlaps windows, larger leaves gaps. At least 1 ms; a hop
            longer than a recording leaves it one window. No window starts
            past the end of its recording.
        sr : int or None
            Sample rate in Hz; None: the native rate of the first readable
            recording. Other rates are resampled (soxr HQ).
        min_window : float or None
            Drop a partial last window shorter than this (seconds, in
            ``(0, window]``); a recording shorter than this is skipped and
            reported. None keeps every partial window.
        labels_from : None or "subfolder"
            ``"subfolder"``: every window of a file gets the name of the
            top-level subfolder the file lies in (None for files at the root).

        Returns
        -------
        AudioDataset
            Clip ids ``relative/path.flac@<start>`` with ``<start>`` =
            ``repr(round(k * hop, 3))`` seconds (``rec.wav@0.0``,
            ``a/b.flac@12.5``); :meth:`duration` is the real, unpadded length;
            :meth:`recording`, :meth:`start`, :meth:`end` and :meth:`context`
            place a window in its recording. Unreadable, empty, truncated and
            too-short recordings are skipped, listed in ``ds.errors`` and
            reported in one warning.

        Raises
        ------
        InvalidInputError
            Bad arguments, no audio files, or no usable recording.

        Examples
        --------
        >>> ds = AudioDataset.from_recordings("field/", window=5, hop=2.5)  # doctest: +SKIP
        >>> ds.clip_id(1), ds.start(1), ds.end(1)                            # doctest: +SKIP
        ('site1/2024-06-01.flac@2.5', 2.5, 7.5)
        """
        window, hop, sr, min_window = check_window_params(window, hop, sr, min_window)
        clips, sr, labels, root, errors = _recording_windows(path_or_files, window, hop, sr, min_window, labels_from)
        return cls(clips, sr=sr, duration=window, labels=labels, root=root, errors=errors, window=window, hop=hop)

    @classmethod
    def from_arrays(
        cls,
        waveforms: Iterable[np.ndarray],
        sr: int,
        names: Sequence[str] | None = None,
        labels: Sequence | None = None,
        *,
        duration: float | None = None,
        offset: float = 0.0,
    ) -> AudioDataset:
        """In-memory mono waveforms, all sampled at ``sr``.

        Parameters
        ----------
        waveforms : iterable of ndarray, each shape (n_samples,)
            Mono audio (a 2-D array is taken as one clip per row). Mix stereo
            down first, e.g. ``y.mean(axis=0)``.
        sr : int
            Their sample rate in Hz (also the dataset's rate).
        names : sequence of str or None
            Display names; default ``clip_00000``, ``clip_00001``, ...
        labels : sequence or None
            One label per clip, or None.
        duration, offset
            As in :meth:`from_files`.

        Clip ids are content hashes (a ``#2`` suffix marks repeats), so the
        embedding cache recognises the same audio across sessions.
        """
        sr, duration, offset = check_params(sr, duration, offset)
        arrays, names = _checked_arrays(waveforms, names)
        labels = check_labels(labels, len(arrays), "waveforms")
        return cls(
            _array_clips(arrays, names, sr, offset, duration), sr=sr, duration=duration, offset=offset, labels=labels
        )

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return len(self._clips)

    def _index(self, i: Any) -> int:
        if isinstance(i, bool) or not isinstance(i, numbers.Integral):
            msg = f"clip index must be an integer, got {i!r}"
            raise InvalidInputError(msg)
        n = len(self._clips)
        if not -n <= i < n:
            msg = f"clip index {i} is out of range for a dataset of {n} clips"
            raise IndexOutOfRangeError(msg)
        return int(i) % n

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        """Clip ``i`` as ``(waveform, sr)``: float32 mono, shape (n_samples,).

        Raises :class:`~alwidget.errors.AudioLoadError` if it cannot be
        decoded, for a window also if its recording's sample rate changed
        since the dataset was built (rebuild the dataset).
        """
        clip = self._clips[self._index(i)]
        if clip.rec is not None:
            return self._read_window(clip), self.sr
        return load_audio(clip.source, self.sr, offset=self.offset, duration=self.clip_duration), self.sr

    def _read_window(self, clip: _Clip) -> np.ndarray:
        """Seek to a window and decode only it: exactly ``round(window * sr)`` samples."""
        try:
            return read_window(clip.rec, clip.start_n, int(round(self.window * self.sr)))
        except RecordingChangedError as exc:
            msg = f"cannot decode window {clip.clip_id!r} of {clip.path!r}: {exc}"
            raise RecordingChangedError(msg) from None
        except ValueError as exc:
            msg = f"cannot decode window {clip.clip_id!r} of {clip.path!r}: {exc}. Re-encode or remove the file."
            raise AudioLoadError(msg) from None

    def __repr__(self) -> str:
        parts = [f"n={len(self)}", f"sr={self.sr}"]
        if self.is_windowed:
            parts += [f"window={self.window}", f"hop={self.hop}", f"recordings={len(self.recordings)}"]
        elif self.clip_duration is not None:
            parts.append(f"duration={self.clip_duration}")
        if self.offset:
            parts.append(f"offset={self.offset}")
        if self.root is not None:
            parts.append(f"root={self.root!r}")
        if self._labels is not None:
            parts.append(f"classes={len({x for x in self._labels if x is not None})}")
        if self.errors:
            parts.append(f"errors={len(self.errors)}")
        return f"AudioDataset({', '.join(parts)})"

    @property
    def names(self) -> list[str]:
        """Display names (file names, or the names given to :meth:`from_arrays`)."""
        return [c.name for c in self._clips]

    @property
    def paths(self) -> list[str | None]:
        """Absolute file paths (None for in-memory clips)."""
        return [c.path for c in self._clips]

    @property
    def labels(self) -> list | None:
        """One label per clip, or None when labels are unknown."""
        return None if self._labels is None else list(self._labels)

    @property
    def clip_ids(self) -> list[str]:
        """Stable ids: path relative to :attr:`root` (posix), or content hash for arrays."""
        return [c.clip_id for c in self._clips]

    def name(self, i: int) -> str:
        """Display name of clip ``i`` (see :attr:`names`): the file name, or ``file@start`` for a window."""
        return self._clips[self._index(i)].name

    def clip_id(self, i: int) -> str:
        """Stable id of clip ``i`` (see :attr:`clip_ids`)."""
        return self._clips[self._index(i)].clip_id

    def duration(self, i: int) -> float:
        """Length of clip ``i`` as returned by ``ds[i]``, in seconds (from the header, no decoding).

        For a window of a recording: its real length, shorter than ``window``
        for a partial last window (which ``ds[i]`` zero-pads).
        """
        return float(self._clips[self._index(i)].seconds)

    @property
    def is_windowed(self) -> bool:
        """True for windows of long recordings (:meth:`from_recordings`), False for clips."""
        return self.window is not None

    def recording(self, i: int) -> str:
        """Id of the recording item ``i`` comes from: relative posix path (no ``@start``).

        For plain clips the clip id itself (file path, or content hash of an array).
        """
        clip = self._clips[self._index(i)]
        return clip.rec.rec_id if clip.rec is not None else clip.clip_id

    @property
    def recordings(self) -> list[str]:
        """Unique recording ids, in the order they first appear."""
        return list(dict.fromkeys(c.rec.rec_id if c.rec is not None else c.clip_id for c in self._clips))

    def start(self, i: int) -> float:
        """Where item ``i`` starts in its recording, in seconds (the dataset offset for clips)."""
        clip = self._clips[self._index(i)]
        return float(clip.start) if clip.rec is not None else float(self.offset)

    def end(self, i: int) -> float:
        """Where item ``i`` ends in its recording, in seconds, clipped to the recording's end."""
        clip = self._clips[self._index(i)]
        end = self.start(i) + float(clip.seconds)
        return end if clip.total is None else min(end, float(clip.total))

    def context(self, i: int, before: float = 1.0, after: float = 1.0) -> tuple[np.ndarray, int, float, float]:
        """Item ``i`` with the audio around it, for listening in context.

        Parameters
        ----------
        i : int
        before, after : float
            Seconds of recording to include before and after the window
            (clipped to the recording's bounds).

        Returns
        -------
        (waveform, sr, begin, end)
            Mono float32 waveform of ``[start - before, end + after]`` at ``sr``,
            decoded by seeking (only that span), and where the window begins
            and ends inside it, in seconds. For plain clips: the clip itself
            (``ds[i]``), ``0.0`` and ``duration(i)``.

        Raises
        ------
        InvalidInputError
            Negative or non-finite ``before`` / ``after``.
        AudioLoadError
            The span cannot be decoded (:class:`~alwidget.errors.RecordingChangedError`,
            a subclass, when the file's sample rate changed since the dataset was built).
        """
        for pname, value in (("before", before), ("after", after)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) or value < 0:
                msg = f"{pname} must be a non-negative number of seconds, got {value!r}"
                raise InvalidInputError(msg)
        clip = self._clips[self._index(i)]
        if clip.rec is None:
            y, sr = self[i]
            return y, sr, 0.0, float(clip.seconds)
        return _window_context(clip, self.sr, before, after)

    def wav_bytes(self, i: int) -> bytes:
        """Clip ``i`` as a complete 16-bit PCM mono WAV file at ``sr`` (for browser playback)."""
        y, sr = self[i]
        buf = io.BytesIO()
        sf.write(buf, np.clip(y, -1.0, 1.0), sr, format="WAV", subtype="PCM_16")
        return buf.getvalue()

    def subset(self, indices: Sequence[int] | np.ndarray) -> AudioDataset:
        """A new dataset with the clips at ``indices`` (integers or a boolean mask).

        Typical use after a clip failed to decode during :meth:`embed`::

            keep = np.isfinite(X).all(axis=1)
            ds, X = ds.subset(keep), X[keep]
        """
        idx = np.asarray(indices)
        if idx.dtype == bool:
            if idx.shape != (len(self),):
                msg = f"boolean mask has shape {idx.shape}, expected ({len(self)},)"
                raise InvalidInputError(msg)
            idx = np.flatnonzero(idx)
        idx = [self._index(int(i)) for i in idx.ravel()]
        labels = None if self._labels is None else [self._labels[i] for i in idx]
        sub = AudioDataset(
            [self._clips[i] for i in idx],
            sr=self.sr,
            duration=self.clip_duration,
            offset=self.offset,
            labels=labels,
            root=self.root,
            errors=list(self.errors),
            window=self.window,
            hop=self.hop,
        )
        sub.last_embedder = self.last_embedder
        sub.last_background = self.last_background
        return sub

    # ------------------------------------------------------------------ embeddings
    def embed(
        self,
        embedder: str | Embedder | Any = "auto",
        *,
        batch_size: int = 32,
        n_jobs: int | None = None,
        cache_dir: str | os.PathLike | bool | None = None,
        device: str = "cpu",
        name: str | None = None,
        progress: bool = True,
        background: str | None = "auto",
        background_radius: int = 30,
    ) -> np.ndarray:
        """Embed every clip: ``(len(ds), d)`` float32, row ``i`` for clip ``i``.

        ``embedder``, ``device`` and ``name`` choose the embedder (see
        :mod:`alwidget.embedders`: a registered name, an ``Embedder``, a
        callable or a torch module); it is kept as :attr:`last_embedder` for
        :meth:`embed_query`. The default ``"auto"``: ``"logmel+aisfx"`` (d = 896,
        two views, which the learner models one by one) where aiSFX's weights
        are installed, else ``"logmel"`` (d = 384) and a warning saying how to
        get them. Other parameters: :func:`alwidget.embedding.embed_rows`.

        ``background`` (windows of long recordings only): ``"auto"`` (default)
        takes each recording's running ``"median"`` embedding over
        ``background_radius`` windows on each side out of its windows
        (:func:`alwidget.background.subtract_background`), so a window is
        judged by what stands out from its recording's background; ``"mean"``
        is faster and less robust to frequent events; None keeps the plain
        embeddings. Separate clips are never changed. The setting is kept as
        :attr:`last_background`, and :meth:`embed_query` places a query into
        background windows of the pool to match. The cache holds the plain
        embeddings, so switching costs no re-embedding.
        """
        from alwidget._row_views import tag_views
        from alwidget._window_background import check_background, with_background
        from alwidget.embedding import embed_rows, prepare_embedder

        statistic = check_background(background, background_radius, self.is_windowed)
        emb = prepare_embedder(embedder, self.sr, batch_size=batch_size, device=device, name=name)
        self.last_embedder = emb  # embed_query() embeds with the same embedder and settings
        self.last_background = None
        kw = dict(batch_size=batch_size, n_jobs=n_jobs, cache_dir=cache_dir, progress=progress, stacklevel=3)
        X = with_background(self, embed_rows(self, emb, **kw), statistic, background_radius)
        tag_views(X, emb.views)  # the learner fits one model per view when given these very rows
        return X

    def embed_query(self, audio: str | os.PathLike | np.ndarray, *, sr: int | None = None) -> np.ndarray:
        """Embed one query like the dataset's items, with the embedder of the last :meth:`embed` call.

        Parameters
        ----------
        audio : path or ndarray, shape (n_samples,)
            An audio file (read like the dataset's files: ``offset`` and
            ``duration`` applied; the first ``window`` seconds for windowed
            datasets), or a mono waveform taken as already cut (only
            zero-padded or trimmed to the dataset's fixed length), so
            ``ds.embed_query(ds[i][0], sr=ds.sr)`` equals row ``i`` of ``ds.embed()``
            (with ``background=None`` for windows). After ``ds.embed()`` took
            the recordings' backgrounds out of their windows
            (:attr:`last_background`), the query is placed into three
            background windows of the pool, 5 dB above their level, and
            their backgrounds are taken out of its embeddings (averaged), so
            a reference recorded elsewhere is compared like a window.
        sr : int or None
            Sample rate of a waveform in Hz (required for waveforms; it is
            resampled to ``ds.sr``); must be None for files.

        Returns
        -------
        ndarray, shape (d,), float32
            Uses the embedder and settings of the last ``ds.embed(...)``
            call (:attr:`last_embedder`), or the default ``"auto"`` before any.

        Raises
        ------
        InvalidInputError
            Bad waveform, missing ``sr``, missing file, or a non-finite embedding.
        AudioLoadError
            The file cannot be decoded.
        """
        from alwidget.embedding import embed_query

        return embed_query(self, audio, sr=sr, embedder=self.last_embedder, background=self.last_background)

    # ------------------------------------------------------------------ for the embedding engine
    # The interface alwidget.embedding.EmbeddingSource describes (with sr, offset,
    # clip_duration, window, hop, is_windowed, clip_ids and len()).
    def sources(self, indices: Sequence[int]) -> list[str | np.ndarray]:
        """What to decode for each plain clip at ``indices``: its file path, or its array (at ``sr``)."""
        return [self._clips[i].source for i in indices]

    def windows(self, indices: Sequence[int]) -> list[tuple[Recording, int]]:
        """For each window at ``indices`` (windowed datasets): its recording and its first sample at ``sr``."""
        return [(self._clips[i].rec, self._clips[i].start_n) for i in indices]

    def cache_keys(self) -> list[str | None]:
        """One embedding-cache key per item; None for a file that can no longer be read.

        Clip id for arrays; clip id, size, mtime and content fingerprint for
        files and windows (:func:`alwidget.audio_io.clip_cache_keys`).
        """
        return clip_cache_keys((c.clip_id, c.path) for c in self._clips)

    def report_errors(self, failures: Mapping[int, str]) -> None:
        """Add ``{index: reason}`` to :attr:`errors` as :class:`AudioError` entries, each listed once.

        The entry names the file (``path@start`` for a window) or the array.
        The embedding engine calls this for items that got NaN rows.
        """
        known = set(self.errors)
        for i in sorted(failures):
            c = self._clips[i]
            where = f"{c.path}@{c.clip_id.rsplit('@', 1)[1]}" if c.rec is not None else (c.path or c.name)
            e = AudioError(where, failures[i])
            if e not in known:  # repeated calls report, but list once
                known.add(e)
                self.errors.append(e)


def _recording_windows(path_or_files, window: float, hop: float, sr: int | None, min_window, labels_from):
    """:meth:`AudioDataset.from_recordings` past its argument checks: ``(clips, sr, labels, root, errors)``."""
    if labels_from not in (None, "subfolder"):
        msg = f'labels_from must be None or "subfolder", got {labels_from!r}'
        raise InvalidInputError(msg)
    if sr is not None:  # before any file is probed
        check_window_size(window, sr)
    paths, root = recording_files(path_or_files)
    folder_labels = subfolder_labels(paths, root) if labels_from == "subfolder" else None
    infos, errors = _probe_recordings(paths)
    if sr is None and infos:
        sr = infos[0][2]
    if sr is not None:
        check_window_size(window, sr)
    clips, labels = _window_clips(infos, root, sr, window, hop, min_window, folder_labels, errors)
    if not clips:
        shown = "; ".join(f"{e.path}: {e.reason}" for e in errors[:3])
        msg = f"none of the {len(paths)} recordings could be used ({shown}); check the files or their format"
        raise InvalidInputError(msg)
    if errors:
        warn_bad(errors, len(paths), stacklevel=3)
    return clips, sr, labels if folder_labels is not None else None, root, errors
