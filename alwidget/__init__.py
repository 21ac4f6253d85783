"""alwidget: active learning for audio, inside Jupyter."""

from alwidget import errors
from alwidget.errors import AlwidgetError

__version__ = "0.1.0"

__all__ = [
    "AlwidgetError",
    "errors",
    "__version__",
]
