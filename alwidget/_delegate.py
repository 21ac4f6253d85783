"""Public members of a facade that forward to a part it holds, with the part's docstring and signature.

``ActiveLearner`` is a facade over parts (its labels, scorer, journal link):
``labeled_idx = forward_property("_book", LabelBook, "labeled_idx")`` makes
``learner.labeled_idx`` read ``learner._book.labeled_idx``. The forwarded
member is a plain property or function of the facade, so ``help()``,
:func:`inspect.signature` and the API reference show the part's docstring
and signature.
"""

from __future__ import annotations

import functools


def forward_property(part: str, cls: type, name: str) -> property:
    """A read-only property reading ``name`` of the part held in attribute ``part`` (``cls``'s property)."""
    doc = vars(cls)[name].__doc__

    def read(self):
        return getattr(getattr(self, part), name)

    read.__name__ = name
    return property(read, doc=doc)


def forward_method(part: str, cls: type, name: str, owner: str):
    """A method calling ``cls.name`` on the part held in attribute ``part``; ``owner`` names the facade class."""
    func = vars(cls)[name]

    @functools.wraps(func)
    def method(self, *args, **kwargs):
        return func(getattr(self, part), *args, **kwargs)

    method.__qualname__ = f"{owner}.{name}"
    return method
