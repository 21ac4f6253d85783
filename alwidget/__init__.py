"""alwidget: active learning for audio, inside Jupyter.

Names are imported on first use (PEP 562), so ``import alwidget`` stays light:
torch is loaded only when a learner or model is used, and the widget stack
only when the widget is, which keeps parallel embedding workers quick to start.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "ActiveLearner": "alwidget.learner",
    "Event": "alwidget.learner",
    "SoftmaxRegression": "alwidget.models",
    "SpreadRegression": "alwidget.models",
    "MLPClassifier": "alwidget.models",
    "ViewProduct": "alwidget.models",
    "simulate": "alwidget.simulation",
    "LearningCurves": "alwidget.simulation",
    "AudioDataset": "alwidget.audio",
    "log_mel_spectrogram": "alwidget.dsp",
    "register_embedder": "alwidget.embedders",
    "available_embedders": "alwidget.embedders",
    "make_sounds": "alwidget.datasets",
    "LabelingWidget": "alwidget.widget",
    "LabelingSession": "alwidget.session",
    "AlwidgetError": "alwidget.errors",
    "AlwidgetWarning": "alwidget.errors",
}
_MODULES = (
    "audio",
    "datasets",
    "embedders",
    "errors",
    "export",
    "features",
    "models",
    "review",
    "search",
    "session",
    "simulation",
    "strategies",
    "widget",
)

__all__ = sorted([*_EXPORTS, *_MODULES, "__version__"])


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _MODULES:
        value = importlib.import_module(f"alwidget.{name}")
    else:
        msg = f"module 'alwidget' has no attribute {name!r}"
        raise AttributeError(msg)
    globals()[name] = value  # cache: later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return __all__
