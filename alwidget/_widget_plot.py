"""The labelling widget's learning-curve plot, rendered to PNG bytes.

Private helper of :mod:`alwidget.widget`. One matplotlib figure (no pyplot, no
global state) is kept and redrawn in place, so rendering costs tens of
milliseconds and never touches the notebook's own figures.
"""

from __future__ import annotations

import io

from matplotlib.ticker import MaxNLocator

__all__ = ["CurvePlot"]

_STYLE = {
    "active": {"color": "#1f77b4", "lw": 2.0, "marker": "o", "ms": 3},
    "random": {"color": "#7f7f7f", "lw": 1.5, "ls": "--", "marker": ".", "ms": 3},
    "prequential": {"color": "#ff7f0e", "lw": 1.5, "ls": "-", "alpha": 0.9},
}


class CurvePlot:
    """Accuracy against labels used, drawn on one reusable figure.

    Parameters
    ----------
    width, height : float
        Figure size in inches.
    dpi : int
        Resolution of the PNG.
    """

    def __init__(self, width: float = 5.0, height: float = 3.0, dpi: int = 80):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.width = width
        self.height = height
        self.dpi = dpi
        self._fig = Figure(figsize=(width, height), dpi=dpi)
        FigureCanvasAgg(self._fig)
        self._ax = self._fig.add_subplot()
        self._fig.subplots_adjust(left=0.11, right=0.98, top=0.9, bottom=0.3)

    def render(self, series: dict, labels: dict, title: str, empty_text: str) -> bytes:
        """PNG bytes of the curves.

        Parameters
        ----------
        series : dict
            ``{key: (x list, y list)}``; keys select a style (``active``,
            ``random``, ``prequential``).
        labels : dict
            ``{key: legend text}``.
        title : str
            Axes title (names the metric).
        empty_text : str
            Shown in the middle when no series has a point.
        """
        ax = self._ax
        ax.clear()
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("labels used", fontsize=8)
        ax.set_ylabel("accuracy", fontsize=8)
        ax.set_ylim(0, 1.02)
        ax.tick_params(labelsize=7)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        x_max = 1
        drawn = False
        for key, (xs, ys) in series.items():
            if not xs:
                continue
            ax.plot(xs, ys, label=labels.get(key, key), **_STYLE.get(key, {}))
            x_max = max(x_max, max(xs))
            drawn = True
        ax.set_xlim(0, x_max * 1.05 + 1)
        if drawn:  # under the axes, so it never hides a curve
            ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
        else:
            ax.text(0.5, 0.5, empty_text, ha="center", va="center", fontsize=8, color="#666", transform=ax.transAxes)
        buf = io.BytesIO()
        self._fig.savefig(buf, format="png", dpi=self.dpi)
        return buf.getvalue()
