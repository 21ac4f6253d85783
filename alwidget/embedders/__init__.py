"""Embedders: what turns a batch of waveforms into rows, and the names they go by.

``ds.embed("name")`` looks ``name`` up in a registry of factories (see
:func:`register_embedder`). Built in:

- ``"logmel"``, ``"mfcc"``: spectrogram statistics, no weights
  (:class:`~alwidget.embedders.logmel.LogMelEmbedder`).
- ``"aisfx"``: the pretrained aiSFX sound-effects network (d = 512), whose
  weights come from ``pip install --no-deps aisfx==0.1.2``
  (:class:`~alwidget.embedders.aisfx.AisfxEmbedder`).
- ``"logmel+aisfx"``: both side by side (:class:`ConcatEmbedder`: log-mel at
  16 kHz, aiSFX at the dataset's rate; build the dataset at 44.1 kHz).

Register your own::

    from alwidget.embedders import register_embedder
    register_embedder("bands", lambda: energy_bands)   # any callable, torch module or Embedder
    X = ds.embed("bands")

Pretrained models are defined here in alwidget and read their weights from an
installed package's files, never downloaded at run time.

Modules: :mod:`~alwidget.embedders._registry` (names -> factories),
:mod:`~alwidget.embedders.base` (:class:`Embedder`, the plug-in wrappers,
:class:`ConcatEmbedder`, :func:`get_embedder`),
:mod:`~alwidget.embedders.logmel` and :mod:`~alwidget.embedders.aisfx`.
None of them imports the dataset (:mod:`alwidget.audio`) or the embedding
engine (:mod:`alwidget.embedding`).
"""

from __future__ import annotations

import functools

from alwidget.embedders._registry import available_embedders, register_embedder
from alwidget.embedders.base import CallableEmbedder, ConcatEmbedder, Embedder, TorchEmbedder, get_embedder
from alwidget.embedders.logmel import LogMelEmbedder
from alwidget.errors import MissingDependencyError

__all__ = [
    "CallableEmbedder",
    "ConcatEmbedder",
    "Embedder",
    "LogMelEmbedder",
    "MissingDependencyError",
    "TorchEmbedder",
    "available_embedders",
    "get_embedder",
    "register_embedder",
]


def _make_aisfx(device: str = "cpu") -> Embedder:
    from alwidget.embedders.aisfx import AisfxEmbedder  # the weights are located only when asked for

    return AisfxEmbedder(device=device)


def _make_logmel_aisfx(device: str = "cpu") -> Embedder:
    """The default log-mel statistics at 16 kHz beside aiSFX at the dataset's rate (build it at 44.1 kHz).

    The learner's pooled model weighs the two views equally:
    ``benchmarks/README.md``, "Views: log-mel beside aiSFX, one model each".
    """
    parts = [LogMelEmbedder("logmel", device=device), _make_aisfx(device)]
    return ConcatEmbedder(parts, rates=[16000, None], weights=[0.5, 0.5])


# the built-in names (BUILTIN_NAMES: later registrations need overwrite=True to replace them)
register_embedder("logmel", functools.partial(LogMelEmbedder, "logmel"), overwrite=True)
register_embedder("mfcc", functools.partial(LogMelEmbedder, "mfcc"), overwrite=True)
register_embedder("aisfx", _make_aisfx, overwrite=True)
register_embedder("logmel+aisfx", _make_logmel_aisfx, overwrite=True)
