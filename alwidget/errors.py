"""Exceptions raised by alwidget.

Every alwidget error derives from :class:`AlwidgetError` *and* from the
built-in exception a user would expect (``ValueError``, ``IndexError`` or
``KeyError``), so ``except ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = [
    "AlwidgetError",
    "InvalidInputError",
    "UnknownClassError",
    "IndexOutOfRangeError",
    "AlreadyLabeledError",
    "PoolExhaustedError",
    "NotEnoughLabelsError",
    "NothingToUndoError",
    "AudioLoadError",
    "RecordingChangedError",
    "MissingDependencyError",
]


class AlwidgetError(Exception):
    """Base class of every error raised on purpose by alwidget.

    In IPython and Jupyter such an error is shown as one line, its class
    name and message, not as a traceback: the message says what went wrong
    and what to do (``traceback.print_exception(sys.last_value)`` shows the
    traceback).
    """

    def _render_traceback_(self) -> list[str]:
        """The lines IPython shows for this error instead of a traceback."""
        return [f"{type(self).__name__}: {self}"]


class InvalidInputError(AlwidgetError, ValueError):
    """An argument has the wrong shape, type or value (NaN, inf, ...)."""


class UnknownClassError(AlwidgetError, KeyError):
    """A label that is not one of the learner's classes."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


class IndexOutOfRangeError(AlwidgetError, IndexError):
    """A pool index outside ``0 .. n_pool - 1``."""


class AlreadyLabeledError(AlwidgetError, ValueError):
    """Teaching or skipping a clip that already has a label."""


class PoolExhaustedError(AlwidgetError, ValueError):
    """No unlabelled clip is left to query."""


class NotEnoughLabelsError(AlwidgetError, ValueError):
    """The model cannot be trained yet (no label given so far)."""


class NothingToUndoError(AlwidgetError, IndexError):
    """``undo()`` was called with no teach or skip left to revert."""


class AudioLoadError(AlwidgetError, ValueError):
    """An audio file cannot be decoded (corrupt, truncated or unsupported)."""


class RecordingChangedError(AudioLoadError):
    """A recording's file changed since the dataset was built (another sample rate):
    its windows would decode the wrong samples. Rebuild the dataset."""


class MissingDependencyError(InvalidInputError, ImportError):
    """A named embedder needs a package (its weights) that is not installed, or
    not in the version alwidget supports. The message gives the install command."""


class JournalError(AlwidgetError, ValueError):
    """A journal cannot be used: written for another pool, unreadable header, ..."""


class JournalLockedError(AlwidgetError, RuntimeError):
    """The journal is already open in another live session (its lock is held)."""


class ExportError(AlwidgetError, OSError):
    """Labels cannot be written to the given path (missing folder, no permission, disk full, ...)."""


class AlwidgetWarning(UserWarning):
    """Base class of alwidget's warnings."""


class JournalWarning(AlwidgetWarning):
    """Something in a journal was skipped or could not be saved; the message says what."""
