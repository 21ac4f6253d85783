"""Moved to :mod:`alwidget.session.plot`; this name is kept for one release (``alwidget.review`` imports it)."""

from alwidget.session.plot import draw_payload, plot_payload, wilson_interval

__all__ = ["draw_payload", "plot_payload", "wilson_interval"]
