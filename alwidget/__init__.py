"""alwidget: active learning for audio, inside Jupyter."""

from alwidget import errors, strategies
from alwidget.errors import AlwidgetError
from alwidget.learner import ActiveLearner, Event
from alwidget.models import MLPClassifier, SoftmaxRegression
from alwidget.simulate import LearningCurves, simulate

__version__ = "0.1.0"

__all__ = [
    "ActiveLearner",
    "AlwidgetError",
    "Event",
    "LearningCurves",
    "MLPClassifier",
    "SoftmaxRegression",
    "errors",
    "simulate",
    "strategies",
    "__version__",
]
