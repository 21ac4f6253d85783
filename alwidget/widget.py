"""A Jupyter widget to label audio clips as fast as you can listen.

:class:`LabelingWidget` is a thin shell over :class:`~alwidget.session.LabelingSession`:
each field of the session's state (:data:`alwidget.session.SCHEMA`) is a
synced trait, generated from that schema. The front end
(``static/widget.js``) draws them and sends each action as a custom message,
``model.send({kind, value, clip, view})``, which goes straight to
:meth:`LabelingSession.handle`. An audio file to search with comes as a
custom message with one binary buffer (``{"kind": "search_audio", "name":
...}``), for :meth:`LabelingSession.search_audio`. Keys (while the
widget has focus): ``1``-``9`` label, ``s`` or right arrow skip, ``?`` unsure,
``u`` or Backspace undo, space replay, ``f`` find more like this; no notebook
shortcut fires meanwhile.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from alwidget.errors import AlwidgetError, JournalError, JournalLockedError
from alwidget.session import FIELDS, SCHEMA, LabelingSession

__all__ = ["LabelingWidget"]

_STATIC = Path(__file__).parent / "static"
_TRAITS = {str: traitlets.Unicode, bool: traitlets.Bool, bytes: traitlets.Bytes, list: traitlets.List,
           dict: traitlets.Dict}  # fmt: skip


def _synced_traits() -> dict[str, traitlets.TraitType]:
    """One synced trait per field of the session's state, typed and defaulted as the schema says."""
    traits = {}
    for field in SCHEMA:
        kind = _TRAITS[field.type]
        if field.items is not None:
            trait = kind(_TRAITS[field.items](), default_value=field.fresh())
        else:
            trait = kind(default_value=field.fresh())
        traits[field.name] = trait.tag(sync=True)
    return traits


# session -> browser: the traits of the view state, built from the schema (never spelled out here)
_ViewState = type("_ViewState", (traitlets.HasTraits,), _synced_traits())


class LabelingWidget(anywidget.AnyWidget, _ViewState):
    """Label the clips an :class:`~alwidget.learner.ActiveLearner` asks for, in a notebook.

    Parameters
    ----------
    learner : ActiveLearner
        The pool to label.
    dataset : AudioDataset
        The clips, one per pool row.
    autoplay : bool, default True
        Play each clip as soon as it is shown.
    **kwargs
        :class:`~alwidget.session.LabelingSession` parameters (``eval_set``,
        ``oracle``, ``journal``, ``prefetch``, ``n_mels``, ``top_k``,
        ``window``, ``audit_rate``, ``mode``, ``context``); others go to
        :class:`anywidget.AnyWidget`.

    If the journal cannot be opened (held by a session that does not hand
    it over, or written for another pool), the widget says why and how to go
    on instead of raising, and :attr:`session` is None.

    Examples
    --------
    >>> ds = make_sounds(n_per_class=50)                      # doctest: +SKIP
    >>> learner = ActiveLearner(ds.embed(), sorted(set(ds.labels)), dataset=ds)  # doctest: +SKIP
    >>> LabelingWidget(learner, ds, journal="labels.jsonl")   # doctest: +SKIP
    """

    _esm = _STATIC / "widget.js"
    _css = _STATIC / "widget.css"

    # browser -> Python: a front-end option (the session's fields come from _ViewState)
    autoplay = traitlets.Bool(True).tag(sync=True)

    # every keyword of LabelingSession but ``start`` (the widget starts it): read from its signature, never
    # spelled out again here, so a new session argument cannot be left out
    _SESSION_KW = tuple(
        name
        for name, p in inspect.signature(LabelingSession.__init__).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and name != "start"
    )

    def __init__(self, learner, dataset, *, autoplay: bool = True, **kwargs: Any):
        session_kw = {k: kwargs.pop(k) for k in self._SESSION_KW if k in kwargs}
        self.learner, self.dataset = learner, dataset
        try:
            session = LabelingSession(learner, dataset, start=False, **session_kw)
        except (JournalLockedError, JournalError) as exc:  # shown, with the way out, instead of a cell error
            session = None
            text = f"cannot open the journal: {exc}"
            state = {"error": text, "blocked": text, "message": "labelling is off until this is fixed"}
        else:
            state = session.snapshot()
        self.session = session
        super().__init__(autoplay=bool(autoplay), **kwargs)
        with self.hold_sync():
            for name, value in state.items():
                setattr(self, name, value)
        self.on_msg(self._on_message)
        if session is not None:
            session.on_change(self._apply)
            session.start()

    @classmethod
    def resume(cls, journal: str | Path, learner, dataset, **kwargs: Any) -> LabelingWidget:
        """Continue a labelling session saved in ``journal`` (replayed into a fresh ``learner``)."""
        return cls(learner, dataset, journal=journal, **kwargs)

    def _apply(self, changes: dict) -> None:
        with self.hold_sync():
            for name, value in changes.items():
                if name in FIELDS:
                    setattr(self, name, value)

    def _on_message(self, _widget, content, buffers) -> None:
        """A custom message from the front end: an action for the session, or an audio file to search with.

        An action is ``{"kind", "value", "clip", "view"}`` and goes to
        :meth:`LabelingSession.handle`; ``{"kind": "search_audio", "name"}``
        comes with the file as one binary buffer.
        """
        if not isinstance(content, dict):
            return
        if content.get("kind") == "search_audio":
            self._search_audio(content, buffers)
        elif content.get("kind") not in LabelingSession.ACTIONS:
            return  # not ours
        elif self.session is None:
            self.error = self.blocked
        else:
            self.session.handle(content)
            if content.get("kind") == "dismiss" and self.error != self.session.error:
                self.error = self.session.error  # an error set by _search_audio is not the session's

    def _search_audio(self, content: dict, buffers) -> None:
        name = str(content.get("name") or "query")
        if self.session is None:
            self.error = self.blocked or f"cannot search with {name}: labelling is off"
            return
        if not buffers or not len(buffers[0]):
            self.error = f"cannot search with {name}: no audio arrived from the browser; choose the file again"
            return
        try:
            self.session.search_audio(bytes(buffers[0]), name)
        except AlwidgetError as exc:  # a bad file: the message says what to do, and names the file
            self.error = str(exc) if name in str(exc) else f"cannot search with {name}: {exc}"
        except Exception as exc:  # a comm handler's exception would only reach the kernel's log
            self.error = f"search with {name} failed: {type(exc).__name__}: {exc}"

    def close(self) -> None:
        """Stop the session's background worker and close the widget."""
        session = getattr(self, "session", None)
        if session is not None:
            session.close()
        super().close()

    # the session's API, for code in other cells
    current = property(lambda self: self.session.current, doc="Pool index of the clip on screen.")
    queue = property(lambda self: self.session.queue, doc="The next clips, in order.")
    curves = property(lambda self: self.session.curves, doc="See LabelingSession.curves.")
    errors = property(lambda self: self.session.errors if self.session else [], doc="Full tracebacks.")
    prefetch = property(lambda self: self.session.prefetch)

    def plot_curves(self, ax=None):
        """Draw the widget's plot with matplotlib (see :meth:`LabelingSession.plot_curves`)."""
        return self.session.plot_curves(ax)

    def label(self, name, clip: int | None = None) -> None:
        """Label the clip on screen (see :meth:`LabelingSession.label`)."""
        self.session.label(name, clip)

    def skip(self, clip: int | None = None) -> None:
        """Skip the clip on screen."""
        self.session.skip(clip)

    def review_labels(self, n: int | None = None) -> None:
        """Review the labels, most doubtful first (see :meth:`LabelingSession.review_labels`)."""
        self.session.review_labels(n)

    def review_detections(self, name, **kwargs) -> None:
        """Check the detections of class ``name`` by score bin (see :meth:`LabelingSession.review_detections`)."""
        self.session.review_detections(name, **kwargs)

    def unsure(self, clip: int | None = None) -> None:
        """Answer "unsure" for the clip on screen (see :meth:`LabelingSession.unsure`)."""
        self.session.unsure(clip)

    def undo(self) -> None:
        """Revert the last label or skip."""
        self.session.undo()

    def add_class(self, name: str) -> None:
        """Add a class (and a button)."""
        self.session.add_class(name)

    def auto_label(self, n: int) -> None:
        """Demo mode: label the next ``n`` clips from the oracle."""
        self.session.auto_label(n)

    def stop_auto(self) -> None:
        """Stop a running auto-labelling."""
        self.session.stop_auto()

    def search_for(self, query, n: int | None = None) -> None:
        """Show the clips most like ``query`` next (see :meth:`LabelingSession.search`).

        Not called ``search``: that name is the synced state of the search
        (``{"query", "total", "left"}``, or ``{}``), one trait per session field.
        """
        self.session.search(query, n=n)

    def set_mode(self, mode: str) -> None:
        """Switch between ``"active"`` learning and ``"search"`` results (see :meth:`LabelingSession.set_mode`)."""
        self.session.set_mode(mode)

    def refresh(self) -> None:
        """Retrain and re-query in the background."""
        self.session.refresh()

    def wait_idle(self, timeout: float | None = 60.0) -> bool:
        """Block until the session's worker is idle (True) or ``timeout`` passed (False)."""
        return True if self.session is None else self.session.wait_idle(timeout)
