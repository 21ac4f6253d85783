"""Background subtraction as part of embedding windows of long recordings.

``ds.embed()`` on a windowed dataset takes each recording's running median
embedding out of its windows (:func:`alwidget.background.subtract_background`)
and keeps a :class:`WindowBackground` as ``ds.last_background``: the setting,
and a few *host* windows of the pool with their backgrounds.

A query recorded elsewhere (a clean reference file) has no background of the
pool's recordings, so it cannot be compared with subtracted windows as it is.
:func:`embed_on_background` places it into each host window (centred, 5 dB
above the host's level), embeds each mix, takes the host's background out and
takes the host's own embedding out of each mix (what the sound changed in
the host window) and averages: the query then points where the windows that
hold the sound point after their background is taken out. The hosts are the
windows closest to their own background (the smallest subtracted rows, one
per recording first), i.e. the pool's plainest background.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from alwidget.background import subtract_background
from alwidget.errors import InvalidInputError

__all__ = [
    "BACKGROUNDS",
    "WindowBackground",
    "check_background",
    "embed_on_background",
    "take_background",
    "with_background",
]

BACKGROUNDS = ("auto", "median", "mean", None)
N_HOSTS = 3  # pool windows a query is mixed into
HOST_SNR_DB = 5.0  # the query's level above its host window's level


@dataclass(frozen=True, eq=False)
class WindowBackground:
    """How a dataset's window embeddings were taken from their recordings' backgrounds.

    Attributes
    ----------
    statistic : {"median", "mean"}
        The running statistic taken out of each window.
    radius : int
        Windows on each side of a window that made up its background.
    hosts : tuple of (Recording, int)
        The host windows a query is mixed into: recording and first sample.
    host_embedding : ndarray, shape (n_hosts, d), float32
        The plain embedding of each host window.
    """

    statistic: str
    radius: int
    hosts: tuple
    host_embedding: np.ndarray


def check_background(background, radius, is_windowed: bool) -> str | None:
    """The statistic to subtract (``"median"``, ``"mean"``) or None, from ``ds.embed``'s arguments."""
    if background is not None and (not isinstance(background, str) or background not in BACKGROUNDS):
        msg = f"background must be 'auto', 'median', 'mean' or None, got {background!r}"
        raise InvalidInputError(msg)
    if isinstance(radius, bool) or not isinstance(radius, (int, np.integer)) or radius < 1:
        msg = f"background_radius must be a positive number of windows, got {radius!r}"
        raise InvalidInputError(msg)
    if background == "auto":
        return "median" if is_windowed else None
    if background is not None and not is_windowed:
        msg = (
            f"background={background!r} takes each recording's running background out of its windows; "
            "this dataset holds separate clips, not windows of recordings (AudioDataset.from_recordings). "
            "Use background=None or 'auto'"
        )
        raise InvalidInputError(msg)
    return background


def take_background(ds, X: np.ndarray, statistic: str, radius: int) -> tuple[np.ndarray, WindowBackground]:
    """``X`` with each window's running background taken out, and what a query needs to match it.

    Parameters
    ----------
    ds : EmbeddingSource
        A windowed dataset (``ds.windows(indices)`` gives recording and first sample).
    X : ndarray, shape (len(ds), d)
        Its window embeddings (NaN rows: windows that failed).
    """
    where = ds.windows(range(len(ds)))
    groups = np.array([id(rec) for rec, _ in where], dtype=np.int64)
    starts = np.array([start for _, start in where], dtype=np.int64)
    out = subtract_background(X, groups, starts, radius=radius, statistic=statistic)
    hosts = _pick_hosts(out, groups)
    picked = tuple(where[h] for h in hosts)
    return out, WindowBackground(statistic, int(radius), picked, np.array(X[hosts], dtype=np.float32))


def with_background(ds, X: np.ndarray, statistic: str | None, radius: int) -> np.ndarray:
    """``X`` with its windows' backgrounds taken out (``statistic`` None: as it is); sets ``ds.last_background``."""
    ds.last_background = None
    if statistic is None or len(X) == 0:
        return X
    X, ds.last_background = take_background(ds, X, statistic, radius)
    return X


def _pick_hosts(Xb: np.ndarray, groups: np.ndarray) -> list[int]:
    """The ``N_HOSTS`` windows closest to their own background, one per recording first (fewer in a tiny pool)."""
    ok = np.flatnonzero(np.isfinite(Xb).all(axis=1))
    if len(ok) == 0:
        return []
    scale = Xb[ok].std(axis=0)
    scale[scale <= 0] = 1.0
    norm = np.sqrt(((Xb[ok] / scale) ** 2).sum(axis=1))
    order = ok[np.argsort(norm, kind="stable")]
    hosts, seen = [], set()
    for i in order:  # one per recording while there are recordings left
        if groups[i] not in seen:
            hosts.append(int(i))
            seen.add(groups[i])
            if len(hosts) == N_HOSTS:
                return hosts
    rest = [int(i) for i in order if int(i) not in hosts]
    return hosts + rest[: N_HOSTS - len(hosts)]


def embed_on_background(
    query: np.ndarray,
    background: WindowBackground,
    read: Callable[[object, int], np.ndarray],
    embed: Callable[[list[np.ndarray]], np.ndarray],
    what: str,
) -> np.ndarray:
    """A query sound embedded as it would be in a window of the pool: shape (d,), float32.

    Parameters
    ----------
    query : ndarray, shape (n_samples,)
        The query at the dataset's rate, at most one window long.
    background : WindowBackground
        ``ds.last_background``.
    read : callable
        ``read(recording, first_sample)``: a host window's samples.
    embed : callable
        Embeds a list of waveforms: ``(len, d)``.
    what : str
        Names the query in errors.
    """
    sound = np.trim_zeros(np.asarray(query, dtype=np.float32))
    level = _rms(sound)
    if level == 0.0:
        msg = f"{what} is silent: it holds no sound to search for"
        raise InvalidInputError(msg)
    if not background.hosts:
        msg = "no window of the pool could be embedded, so there is no background to place the query in"
        raise InvalidInputError(msg)
    mixes = []
    for rec, start in background.hosts:
        host = np.array(read(rec, start), dtype=np.float32)
        part = sound[: len(host)]
        a = (len(host) - len(part)) // 2
        host_level = _rms(host)
        gain = host_level * 10 ** (HOST_SNR_DB / 20) / level if host_level > 0 else 1.0
        host[a : a + len(part)] += part * np.float32(gain)
        mixes.append(host)
    rows = np.asarray(embed(mixes), dtype=np.float32) - background.host_embedding
    return rows.mean(axis=0, dtype=np.float64).astype(np.float32)


def _rms(y: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) if len(y) else 0.0
