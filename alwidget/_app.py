"""The notebook behind ``alwidget demo`` and ``alwidget label``, and the one helper it calls.

The command line (:mod:`alwidget.cli`) writes a one-cell notebook into a
private folder and serves it with Voila. The cell builds the dataset, embeds
it and shows a :class:`~alwidget.LabelingWidget`, with public alwidget calls
only (:func:`demo_code`, :func:`label_code`), inside a function passed to
:func:`show_when_ready`.

Why a helper at all: Voila sends a cell's outputs to the page when the cell
has finished (with or without its progressive rendering, measured with Voila
0.5.13), so a cell that embeds for minutes would show an empty page
meanwhile. :func:`show_when_ready` shows a box at once, runs the build in a
thread, puts every progress bar the build displays (``ds.embed``'s
``tqdm.auto`` bar: a progress bar with the time left, as an ipywidget) into
that box, and shows the widget under the finished bars when it is ready.
The bars are caught with the kernel's display hooks, which are per thread
(``ZMQDisplayPublisher.register_hook``), so nothing else the kernel shows is
touched.

This module is imported in the kernel: it imports nothing heavy at module level.
"""

from __future__ import annotations

import html
import sys
import threading
import traceback

__all__ = ["show_when_ready", "demo_code", "label_code"]

STATUS_CLASS = "alw-app-status"
ERROR_CLASS = "alw-app-error"


def show_when_ready(build, *, message: str = "Preparing the clips…"):
    """Display a box now; run ``build()`` in a thread and show what it returns in that box.

    Progress bars that ``build`` displays (tqdm) appear in the box while it
    runs, and stay above the result. If ``build`` raises, the box shows the
    error instead (an alwidget error by its message, anything else with its
    traceback, which also goes to the kernel's stderr). Outside a Jupyter
    kernel, ``build`` runs at once and its result is displayed. Returns None
    (so that nothing else shows as the cell's result).
    """
    import ipywidgets as widgets
    from IPython import get_ipython
    from IPython.display import display

    shell = get_ipython()
    publisher = getattr(shell, "display_pub", None)
    if publisher is None or not hasattr(publisher, "register_hook"):  # not a kernel: no thread, no hooks
        display(build())
        return

    status = widgets.HTML(f"<p class='{STATUS_CLASS}'>{html.escape(message)}</p>")
    bars = widgets.Output()
    box = widgets.VBox([status, bars])
    display(box)

    def catch(msg):
        """Display hook (this thread only): a display goes into the box, not to the cell's output."""
        if msg.get("msg_type") == "display_data":
            content = msg.get("content", {})
            output = {
                "output_type": "display_data",
                "data": content.get("data", {}),
                "metadata": content.get("metadata", {}),
            }
            bars.outputs = (*bars.outputs, output)
            return None
        return msg

    def run():
        publisher.register_hook(catch)
        try:
            result = build()
        except Exception as exc:  # noqa: BLE001 - shown in the page, where the user looks
            from alwidget.errors import AlwidgetError

            if isinstance(exc, AlwidgetError):
                text = str(exc)
            else:
                text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
                print(text, file=sys.__stderr__, flush=True)
            status.value = (
                f"<pre class='{ERROR_CLASS}' style='white-space: pre-wrap; color: #b00020'>"
                f"The labelling app could not start:\n{html.escape(text)}</pre>"
            )
            return
        finally:
            publisher.unregister_hook(catch)
        # the finished bars stay above the widget, as in a notebook (how many clips, how fast). The box's first
        # children are kept in place: ipywidgets then keeps their views, and a new view of the bars' Output (made
        # when its place changes) stayed at "Loading widget..." in Voila 0.5.13
        status.value = ""
        status.layout.display = "none"
        box.children = [status, bars, result]

    threading.Thread(target=run, name="alwidget-app", daemon=True).start()


# ---------------------------------------------------------------------- the notebook's code

_HEADER = """\
from alwidget._app import show_when_ready  # shows the embedding's progress bar on this page while it runs


def app():  # runs in the background: the page shows at once, with the progress
    from alwidget import ActiveLearner, LabelingWidget, {source}

"""
_FOOTER = """

show_when_ready(app)
"""


def demo_code(*, n_per_class: int, journal: str) -> str:
    """The cell of ``alwidget demo``: the demo sounds, labelled by their true labels on request (demo mode)."""
    body = f"""\
    ds = make_sounds(n_per_class={n_per_class!r}, seed=0)  # six classes of synthetic sounds, with their true labels
    X = ds.embed()
    learner = ActiveLearner(X, sorted(set(ds.labels)), dataset=ds)  # the dataset gives the clip ids and views
    # demo mode: "auto-label" answers with the true labels, and the plot shows a random baseline
    return LabelingWidget(learner, ds, oracle=ds.labels, journal={journal!r})
"""
    return _HEADER.format(source="make_sounds") + body + _FOOTER


def label_code(
    *,
    path: str,
    classes: list[str],
    journal: str,
    embedder: str = "auto",
    window: float | None = None,
    hop: float | None = None,
    labels_from: str | None = None,
) -> str:
    """The cell of ``alwidget label``: a folder of clips, or long recordings cut into windows."""
    if window is None:
        extra = f", labels_from={labels_from!r}" if labels_from else ""
        dataset = f"AudioDataset.from_folder({path!r}{extra})"
    else:
        dataset = f"AudioDataset.from_recordings({path!r}, window={window!r}, hop={hop!r})"
    body = f"""\
    ds = {dataset}
    X = ds.embed({embedder!r})
    learner = ActiveLearner(X, {list(classes)!r}, dataset=ds)  # the dataset gives the clip ids and views
    # every label is saved in the journal as it is given; the same command again resumes from it
    return LabelingWidget(learner, ds, journal={journal!r})
"""
    return _HEADER.format(source="AudioDataset") + body + _FOOTER


def notebook(code: str, kernel: str = "python3") -> dict:
    """A one-cell notebook (nbformat 4.5) running ``code`` in the kernel named ``kernel``."""
    return {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": "alwidget-app",
                "metadata": {},
                "outputs": [],
                "source": code,
            }
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3 (alwidget)", "language": "python", "name": kernel},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
