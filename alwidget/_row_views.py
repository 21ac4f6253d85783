"""Which embedding arrays hold several views side by side, remembered for the arrays ``ds.embed()`` returns.

``ds.embed("logmel+aisfx")`` (and the default ``"auto"``) returns rows made of
two feature sets. The learner fits one model per set when it knows their
widths: from ``dataset=``, from ``views=``, or from here, when it is given
the very array ``ds.embed()`` returned. Arrays are remembered by identity,
with a weak reference: a copy or a slice is a new array and has no views
here, and nothing is kept alive.
"""

from __future__ import annotations

import weakref
from typing import Any

__all__ = ["tag_views", "views_of"]

# id(array) -> (weak reference to it, its views); an entry leaves when its array is collected
_TAGS: dict[int, tuple[weakref.ref, list[tuple[int, float]]]] = {}


def tag_views(rows: Any, views: list[tuple[int, float]] | None) -> None:
    """Remember that ``rows`` hold ``views`` (``(width, weight)`` each) side by side; None forgets nothing."""
    if not views:
        return
    key = id(rows)

    def forget(_ref: weakref.ref, key: int = key) -> None:
        _TAGS.pop(key, None)

    _TAGS[key] = (weakref.ref(rows, forget), [(int(d), float(w)) for d, w in views])


def views_of(rows: Any) -> list[tuple[int, float]] | None:
    """The views :func:`tag_views` remembered for this very array, or None."""
    entry = _TAGS.get(id(rows))
    if entry is None or entry[0]() is not rows:
        return None
    return list(entry[1])
