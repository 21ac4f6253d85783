"""The session's observable state: the one field schema (:data:`SCHEMA`) and the store that holds it.

Every field a front end shows is declared here once, with its type and
default. :data:`FIELDS` (the names), :meth:`Store.snapshot` and the widget's
synced traits (:mod:`alwidget.widget` builds them from :data:`SCHEMA`) all
come from this table, so a field cannot be spelled in one place and missed in
another. No front-end library is imported here.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

__all__ = ["FIELDS", "SCHEMA", "Field", "Store", "default_state"]


@dataclass(frozen=True)
class Field:
    """One field of the view state: its name, Python type, default and (for lists) item type."""

    name: str
    type: type  # str, bool, bytes, list or dict
    default: Any
    doc: str
    items: type | None = None  # the type of a list's items, when fixed

    def fresh(self) -> Any:
        """A new copy of the default (mutable defaults are never shared)."""
        return copy.deepcopy(self.default)


SCHEMA: tuple[Field, ...] = (
    Field("mode", str, "active", "what is shown next: 'active', 'search' or 'review'"),
    Field("clip", dict, {}, "the clip on screen: index, name, id, duration, spectrogram geometry ({} if none)"),
    Field("audio", bytes, b"", "the clip's audio as a WAV file"),
    Field("spectrogram", bytes, b"", "the clip's spectrogram as 8-bit pixels"),
    Field("guess", list, [], "the model's top classes for the clip: [{label, p}]"),
    Field("classes", list, [], "the class names, one button each", items=str),
    Field("progress", dict, {}, "label counts, labels per minute, the model's version"),
    Field("training", bool, False, "the worker is retraining"),
    Field("plot", dict, {}, "the accuracy plot's data (see alwidget.session.plot)"),
    Field("message", str, "", "the status line"),
    Field("error", str, "", "the error line"),
    Field("blocked", str, "", "why labelling is refused (the journal was taken over), or ''"),
    Field("demo", bool, False, "an oracle is known: auto-labelling is offered"),
    Field("auto", dict, {"running": False, "left": 0, "done": 0}, "auto-labelling's progress"),
    Field("search", dict, {}, "the search or review under way: {query, total, left, ...}, else {}"),
    Field("credits", str, "", "licence and attribution of the pretrained features in use ('' for none)"),
)
FIELDS: tuple[str, ...] = tuple(f.name for f in SCHEMA)


def default_state(**overrides: Any) -> dict[str, Any]:
    """``{field: default}`` for every field of :data:`SCHEMA`, with ``overrides`` (known fields only)."""
    unknown = set(overrides) - set(FIELDS)
    if unknown:
        msg = f"not fields of the view state: {sorted(unknown)}"
        raise KeyError(msg)
    state = {f.name: f.fresh() for f in SCHEMA}
    state.update(overrides)
    return state


class Store:
    """The view state and its listeners; every write holds :attr:`lock` (shared with the worker).

    ``on_listener_error(exc)`` hears of a listener that raised (a broken
    listener must not break labelling).
    """

    def __init__(self, on_listener_error: Callable[[BaseException], None], **initial: Any):
        self.lock = threading.RLock()
        self._fields = default_state(**initial)
        self._listeners: list[Callable[[dict], None]] = []
        self._depth = 0
        self._changed: dict[str, Any] = {}
        self._on_listener_error = on_listener_error

    def __getitem__(self, field: str) -> Any:
        return self._fields[field]

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return dict(self._fields)

    def on_change(self, callback: Callable[[dict], None]) -> Callable[[], None]:
        self._listeners.append(callback)

        def unsubscribe() -> None:
            if callback in self._listeners:
                self._listeners.remove(callback)

        return unsubscribe

    def clear_listeners(self) -> None:
        self._listeners.clear()

    @contextmanager
    def batch(self):
        """Group changes: listeners hear about them once, at the end."""
        with self.lock:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._changed:
                    changes, self._changed = self._changed, {}
                    for callback in list(self._listeners):
                        try:
                            callback(changes)
                        except Exception as exc:  # a broken listener must not break labelling
                            self._on_listener_error(exc)

    def set(self, **fields: Any) -> None:
        with self.batch():
            for name, value in fields.items():
                if self._fields[name] != value or type(self._fields[name]) is not type(value):
                    self._fields[name] = value
                    self._changed[name] = value
