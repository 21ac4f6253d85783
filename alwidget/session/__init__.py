"""A labelling session: the logic behind :class:`~alwidget.widget.LabelingWidget`, without any front end.

:class:`LabelingSession` owns the queue of clips to show, the prefetch of their
audio and spectrograms, the background retraining, label / skip / undo /
add-class, demo auto-labelling, the accuracy curves and the random-sampling
baseline. It is plain Python (no ipywidgets, anywidget or traitlets), so tests
and scripts drive it directly; a front end reads :meth:`LabelingSession.snapshot`
and subscribes with :meth:`LabelingSession.on_change`.

The package, one job per module (imports run one way, top to bottom):

- ``_session``: :class:`LabelingSession`, its public API, the table of front-end actions, the action rules;
- ``_queue``: what is shown next in active, search and review mode;
- ``_worker``: the worker thread and its typed jobs;
- ``curves``: the audit plan (:func:`audit_slot`, :func:`audit_pick`, :func:`replay_audits`) and accuracy curves;
- ``_store``: the observable state and its one field schema (:data:`SCHEMA`, :data:`FIELDS`);
- ``media``, ``plot``: a clip's WAV bytes and spectrogram; the plot's data.

Honest accuracy without a test set comes from audit clips: see :mod:`alwidget.session.curves`.
"""

from alwidget.session._session import MODES, LabelingSession
from alwidget.session._store import FIELDS, SCHEMA, Field
from alwidget.session.curves import audit_pick, audit_slot, replay_audits

__all__ = ["FIELDS", "MODES", "SCHEMA", "Field", "LabelingSession", "audit_pick", "audit_slot", "replay_audits"]
