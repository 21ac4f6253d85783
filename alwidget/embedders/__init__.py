"""Embedders: what turns a batch of waveforms into rows, and the names they go by.

``ds.embed("name")`` looks ``name`` up in a registry of factories (see
:func:`register_embedder`). Built in:

- ``"auto"`` (the default): ``"logmel+aisfx"`` where aiSFX's weights are
  installed, else ``"logmel"`` with an :class:`~alwidget.errors.AlwidgetWarning`
  that says how to install them (:func:`default_embedder`).
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
import warnings

from alwidget.embedders._registry import available_embedders, register_embedder
from alwidget.embedders.base import CallableEmbedder, ConcatEmbedder, Embedder, TorchEmbedder, get_embedder
from alwidget.embedders.logmel import LogMelEmbedder
from alwidget.errors import AlwidgetWarning, MissingDependencyError

__all__ = [
    "CallableEmbedder",
    "ConcatEmbedder",
    "Embedder",
    "LogMelEmbedder",
    "MissingDependencyError",
    "TorchEmbedder",
    "available_embedders",
    "default_embedder",
    "get_embedder",
    "register_embedder",
]


def _make_aisfx(device: str = "cpu") -> Embedder:
    from alwidget.embedders.aisfx import AisfxEmbedder  # the weights are located only when asked for

    return AisfxEmbedder(device=device)


def _make_logmel_aisfx(device: str = "cpu", *, full_band_warning: bool = True) -> Embedder:
    """Log-mel statistics at 16 kHz beside aiSFX at the dataset's rate (44.1 kHz gives it the full band).

    The learner's pooled model weighs log-mel 0.6 and aiSFX 0.4, picked on six
    pools left out one at a time: ``benchmarks/README.md``, "Views: log-mel
    beside aiSFX, one model each".
    """
    from alwidget.embedders.aisfx import AisfxEmbedder

    parts = [LogMelEmbedder("logmel", device=device), AisfxEmbedder(device=device, full_band_warning=full_band_warning)]
    return ConcatEmbedder(parts, rates=[16000, None], weights=[0.6, 0.4])


def default_embedder() -> tuple[str, str]:
    """What ``embedder="auto"`` uses here: ``(name, why)``.

    ``("logmel+aisfx", "")`` where aiSFX's weights are installed, else
    ``("logmel", why)`` with ``why`` saying what is missing and how to
    install it. Nothing is imported or loaded beyond the package metadata.
    """
    from alwidget.embedders.aisfx import INSTALL_COMMAND, missing_weights

    reason = missing_weights()
    if reason is not None:
        why = (
            f'embedder="auto" (the default) embeds with log-mel statistics only: {reason}. On real recordings '
            "log-mel beside the pretrained aiSFX network learned faster (benchmarks/README.md, 'Views'). "
            f"Install its weights (25 MB, no other packages) with:\n    {INSTALL_COMMAND}\n"
            'or pass embedder="logmel" to choose log-mel and silence this warning.'
        )
        return "logmel", why
    return "logmel+aisfx", ""


def _make_auto(device: str = "cpu") -> Embedder:
    """``embedder="auto"``: see :func:`default_embedder`."""
    _, why = default_embedder()
    if why:
        warnings.warn(why, AlwidgetWarning, stacklevel=2)
        return LogMelEmbedder("logmel", device=device)
    # aiSFX at the dataset's rate, even below 44.1 kHz: at 16 kHz it did as well on 0 A.D. (benchmarks)
    return _make_logmel_aisfx(device, full_band_warning=False)


# the built-in names (BUILTIN_NAMES: later registrations need overwrite=True to replace them)
register_embedder("auto", _make_auto, overwrite=True)
register_embedder("logmel", functools.partial(LogMelEmbedder, "logmel"), overwrite=True)
register_embedder("mfcc", functools.partial(LogMelEmbedder, "mfcc"), overwrite=True)
register_embedder("aisfx", _make_aisfx, overwrite=True)
register_embedder("logmel+aisfx", _make_logmel_aisfx, overwrite=True)
