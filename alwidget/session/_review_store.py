"""The detection review's sidecar file: the sample drawn, kept beside the journal so a restart resumes it.

``<journal>.review.json`` holds the review's ``detect`` dict (class, rule,
threshold, windows, bins, seed) and its sampled clips in the order shown,
each as ``[clip id, pool index, bin]``: the clip id (``learner.ids``) finds
the clip again if the pool was reordered. The answers are not in it: they
are the learner's labels, replayed from the journal.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np

from alwidget._files import write_files
from alwidget.errors import AlwidgetWarning

__all__ = ["load_review", "review_path", "save_review"]

_VERSION = 1
_KEYS = ("class", "rule", "threshold", "n", "n_detected", "seed", "bins")
_BIN_KEYS = ("name", "lo", "hi", "size", "detected")


def review_path(journal) -> Path:
    """The sidecar of ``journal``: ``<journal>.review.json``."""
    path = Path(os.fspath(journal))
    return path.with_name(path.name + ".review.json")


def _ids(learner) -> list:
    ids = getattr(learner, "ids", None)  # the stable id of each pool row; learners without ids: the row index
    return list(range(learner.n_pool)) if ids is None else list(ids)


def _plain(x):
    if isinstance(x, np.generic):
        return x.item()
    msg = f"{type(x).__name__} is not JSON"
    raise TypeError(msg)


def save_review(path: Path, learner, detect: dict, order: list[int]) -> None:
    """Write the review atomically (ExportError when it cannot be written)."""
    ids = _ids(learner)
    data = {
        "version": _VERSION,
        "detect": {k: detect[k] for k in _KEYS},
        "clips": [[ids[i], int(i), int(detect["bin_of"][i])] for i in order],
    }
    write_files([(path, json.dumps(data, default=_plain, indent=1) + "\n")], "detection review")


def load_review(path: Path, learner) -> tuple[dict, list[int]] | None:
    """The review saved at ``path`` and its sampled clips in order, or None (no file; a bad one warns)."""
    if not path.is_file():
        return None
    try:
        return _parse(json.loads(path.read_text(encoding="utf-8")), learner)
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        msg = (
            f"the detection review saved in {path} cannot be resumed ({reason}); it is ignored: "
            "start a new one with review_detections(name) (the labels are safe in the journal)"
        )
        warnings.warn(msg, AlwidgetWarning, stacklevel=3)
        return None


def _parse(data, learner) -> tuple[dict, list[int]]:
    """Check the file's content against the pool (ValueError etc. saying what is wrong)."""
    if not isinstance(data, dict) or data.get("version") != _VERSION:
        msg = f"not a version {_VERSION} detection review"
        raise ValueError(msg)
    saved, clips = data["detect"], data["clips"]
    detect = {k: saved[k] for k in _KEYS}
    bins = [{k: b[k] for k in _BIN_KEYS} for b in detect["bins"]]
    detect["bins"] = bins
    numbers = [detect["n"], detect["n_detected"], detect["seed"], *(b["size"] for b in bins)]
    if (
        not bins
        or not all(isinstance(x, int) for x in numbers)
        or not all(isinstance(b[k], (int, float)) for b in bins for k in ("lo", "hi"))
    ):
        msg = "its bins are not counts and scores"
        raise ValueError(msg)
    classes = list(learner.classes)
    if detect["class"] not in classes:
        msg = f"its class {detect['class']!r} is not one of the learner's"
        raise ValueError(msg)
    detect["class"] = classes[classes.index(detect["class"])]
    if not isinstance(clips, list) or not clips:
        msg = "it names no clip"
        raise ValueError(msg)
    ids = _ids(learner)
    order, wanted = [], {}
    for k, (clip_id, i, b) in enumerate(clips):
        if not (isinstance(b, int) and 0 <= b < len(bins)):
            msg = f"clip {clip_id!r} is in bin {b!r}, not one of its {len(bins)} bins"
            raise ValueError(msg)
        same = isinstance(i, int) and 0 <= i < len(ids) and ids[i] == clip_id
        order.append(i if same else None)
        if not same:
            wanted[clip_id] = k
    if wanted:  # the pool was reordered: find those clips by their id
        for i, clip_id in enumerate(ids):
            k = wanted.pop(clip_id, None)
            if k is not None:
                order[k] = i
        if wanted:
            shown = ", ".join(repr(c) for c in list(wanted)[:3])
            msg = f"{len(wanted)} of its clips are not in the pool ({shown}{' ...' if len(wanted) > 3 else ''})"
            raise ValueError(msg)
    if len(set(order)) != len(order):
        msg = "it names a clip twice"
        raise ValueError(msg)
    detect["bin_of"] = {i: int(c[2]) for i, c in zip(order, clips)}
    return detect, order
