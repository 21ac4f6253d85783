"""Former home of the embedders and the embedding engine: a re-export, kept for one release.

Everything here moved; import it from its new module instead (the objects
are the same):

- :func:`log_mel_spectrogram` -> :mod:`alwidget.dsp` (with the frame
  statistics, :func:`alwidget.dsp.frame_stats`);
- :class:`Embedder`, :class:`CallableEmbedder`, :class:`TorchEmbedder`,
  :class:`ConcatEmbedder`, :class:`LogMelEmbedder`, :func:`get_embedder`,
  :func:`register_embedder`, :func:`available_embedders` ->
  :mod:`alwidget.embedders`;
- the cached, parallel engine -> :mod:`alwidget.embedding`
  (:func:`~alwidget.embedding.prepare_embedder`,
  :func:`~alwidget.embedding.embed_rows`, :func:`~alwidget.embedding.embed_query`);
  ``ds.embed(...)`` and ``ds.embed_query(...)`` are the usual way in.

:func:`embed_dataset` and :func:`embed_query` below keep their old
signatures: ``embed_dataset(ds, ...)`` does what ``ds.embed(...)`` does.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from alwidget.dsp import log_mel_spectrogram
from alwidget.embedders import (
    CallableEmbedder,
    ConcatEmbedder,
    Embedder,
    LogMelEmbedder,
    TorchEmbedder,
    available_embedders,
    get_embedder,
    register_embedder,
)
from alwidget._row_views import tag_views
from alwidget.embedding import embed_rows, prepare_embedder
from alwidget._window_background import check_background, with_background
from alwidget.embedding import embed_query as _embed_query

__all__ = [
    "CallableEmbedder",
    "ConcatEmbedder",
    "Embedder",
    "LogMelEmbedder",
    "TorchEmbedder",
    "available_embedders",
    "embed_dataset",
    "get_embedder",
    "log_mel_spectrogram",
    "register_embedder",
]


def embed_dataset(
    ds: Any,
    embedder: Any = "auto",
    *,
    batch_size: int = 32,
    n_jobs: int | None = None,
    cache_dir: str | os.PathLike | bool | None = None,
    device: str = "cpu",
    name: str | None = None,
    progress: bool = True,
    background: str | None = "auto",
    background_radius: int = 30,
    _stacklevel: int = 2,
) -> np.ndarray:
    """``ds.embed(embedder, ...)``: see :meth:`alwidget.audio.AudioDataset.embed` (old spelling, one more release)."""
    statistic = check_background(background, background_radius, ds.is_windowed)
    emb = prepare_embedder(embedder, ds.sr, batch_size=batch_size, device=device, name=name)
    ds.last_embedder = emb  # as ds.embed() does: embed_query() embeds with it
    ds.last_background = None
    X = embed_rows(
        ds,
        emb,
        batch_size=batch_size,
        n_jobs=n_jobs,
        cache_dir=cache_dir,
        progress=progress,
        stacklevel=_stacklevel + 1,
    )
    X = with_background(ds, X, statistic, background_radius)
    tag_views(X, emb.views)
    return X


def embed_query(ds: Any, audio: Any, *, sr: int | None = None) -> np.ndarray:
    """``ds.embed_query(audio, sr=sr)``: see :meth:`alwidget.audio.AudioDataset.embed_query` (old spelling)."""
    background = getattr(ds, "last_background", None)
    return _embed_query(ds, audio, sr=sr, embedder=ds.last_embedder, background=background)
