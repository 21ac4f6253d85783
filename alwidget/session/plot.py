"""The labelling session's learning-curve plot, as data the front end draws (SVG).

Part of :mod:`alwidget.session`. The plot is sent as a small dict
(series of points, an optional confidence band, a title) instead of a picture:
the browser draws it as crisp, theme-aware SVG at whatever width the panel has,
and no matplotlib figure is rendered per label.
"""

from __future__ import annotations

import math

__all__ = ["plot_payload", "wilson_interval"]


def wilson_interval(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval of a proportion ``k / n`` (``(0, 1)`` for ``n == 0``)."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def plot_payload(series: list[dict], *, title: str, empty: str, note: str = "") -> dict:
    """The plot as JSON-able data.

    Parameters
    ----------
    series : list of dict
        ``{"key", "label", "xy": (xs, ys)}`` and optionally ``"band": (low, high)``
        (one value per x); ``key`` selects the style (``active``, ``random``,
        ``audit``). Series without points are left out.
    title : str
        Names the metric.
    empty : str
        Shown when no series has a point.
    note : str, optional
        Shown under the plot beside the legend (e.g. why a curve is missing).

    Returns
    -------
    dict
        ``{"title", "empty", "note", "x_label", "y_label", "x_max",
        "series": [{"key", "label", "x", "y", "lo", "hi"}]}``.
    """
    out = []
    x_max = 1
    for s in series:
        xs, ys = s["xy"]
        if not xs:
            continue
        item = {"key": s["key"], "label": s["label"], "x": [int(x) for x in xs], "y": [float(y) for y in ys]}
        if "band" in s:
            lo, hi = s["band"]
            item["lo"], item["hi"] = [float(v) for v in lo], [float(v) for v in hi]
        out.append(item)
        x_max = max(x_max, max(item["x"]))
    return {
        "title": title,
        "empty": empty,
        "note": note,
        "x_label": "labels given",
        "y_label": "accuracy",
        "x_max": x_max,
        "series": out,
    }


_MPL_STYLE = {
    "active": {"color": "#1565c0", "lw": 2.0, "marker": "o", "ms": 3},
    "random": {"color": "#616161", "lw": 1.5, "ls": "--", "marker": ".", "ms": 3},
    "audit": {"color": "#c2410c", "lw": 2.0, "marker": "o", "ms": 3},
}


def draw_payload(payload: dict, ax=None):
    """Draw a :func:`plot_payload` with matplotlib (for notebooks and reports); returns the axes."""
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6, 3.2))
    for s in payload.get("series", []):
        style = _MPL_STYLE.get(s["key"], {})
        ax.plot(s["x"], s["y"], label=s["label"], **style)
        if "lo" in s:
            ax.fill_between(s["x"], s["lo"], s["hi"], color=style.get("color"), alpha=0.18, lw=0)
    ax.set_ylim(0, 1.02)
    ax.set_xlim(0, payload.get("x_max", 1) * 1.05 + 1)
    ax.set_xlabel(payload.get("x_label", "labels given"))
    ax.set_ylabel(payload.get("y_label", "accuracy"))
    ax.set_title(payload.get("title", ""), fontsize=10)
    ax.grid(True, alpha=0.3)
    if payload.get("series"):
        ax.legend(fontsize=8, loc="lower right", title=payload.get("note") or None, title_fontsize=8)
    else:
        ax.text(0.5, 0.5, payload.get("empty", ""), ha="center", va="center", fontsize=9, transform=ax.transAxes)
    return ax
