"""Named embedders: the registry and the pretrained models alwidget can run.

``ds.embed("name")`` looks ``name`` up in a registry of factories (see
:func:`register_embedder`). Built in:

- ``"logmel"``, ``"mfcc"``: spectrogram statistics, no weights
  (:class:`~alwidget.features.LogMelEmbedder`).
- ``"aisfx"``: the pretrained aiSFX sound-effects network (d = 512), whose
  weights come from ``pip install --no-deps aisfx==0.1.2``
  (:class:`~alwidget.embedders.aisfx.AisfxEmbedder`).

Register your own::

    from alwidget.embedders import register_embedder
    register_embedder("bands", lambda: energy_bands)   # any callable, torch module or Embedder
    X = ds.embed("bands")

Pretrained models are defined here in alwidget and read their weights from an
installed package's files, never downloaded at run time.
"""

from __future__ import annotations

from alwidget.errors import MissingDependencyError
from alwidget.features import Embedder, available_embedders, get_embedder, register_embedder

__all__ = [
    "Embedder",
    "MissingDependencyError",
    "available_embedders",
    "get_embedder",
    "register_embedder",
]
