"""Argument and result checks of :class:`~alwidget.ActiveLearner` (each raises an AlwidgetError saying what to do)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from alwidget._validation import LABEL_MODES, check_class_name
from alwidget.errors import InvalidInputError, UnknownClassError
from alwidget.models import _TorchClassifier

__all__ = [
    "check_dataset",
    "check_model_views",
    "check_finite_proba",
    "check_ids",
    "check_labels",
    "check_mode",
    "check_picks",
    "check_seed",
    "check_true_labels",
]


def check_seed(seed) -> int:
    """``seed`` as an int, or raise: a non-negative integer (not a bool)."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        msg = f"seed must be a non-negative integer, got {seed!r}"
        raise InvalidInputError(msg)
    return int(seed)


def check_true_labels(y) -> list:
    """``y`` (true class names, one per row) as a list, or raise if it is not a sequence."""
    if isinstance(y, (str, bytes)) or not isinstance(y, Iterable) or (isinstance(y, np.ndarray) and y.ndim == 0):
        msg = f"y must be a sequence with one true class name per row of X, got {y!r}"
        raise InvalidInputError(msg)
    return list(np.asarray(y, dtype=object).ravel()) if isinstance(y, np.ndarray) else list(y)


def check_labels(labels, n: int, code: dict, classes: list) -> list:
    """``n`` class names from one name or a sequence of them; each must be a key of ``code``."""
    if isinstance(labels, (str, bytes, np.str_)) or np.ndim(labels) == 0:
        labels = [labels] * n
    else:
        labels = list(np.asarray(labels, dtype=object).ravel()) if isinstance(labels, np.ndarray) else list(labels)
    if len(labels) != n:
        msg = f"got {len(labels)} labels for {n} indices; pass one label per index or a single label"
        raise InvalidInputError(msg)
    names = [check_class_name(c, what="label") for c in labels]
    for c in names:
        if c not in code:
            msg = f"label {c!r} is not one of the classes {classes!r}; add it first with add_class({c!r})"
            raise UnknownClassError(msg)
    return names


def check_picks(picks, allowed: np.ndarray, n: int, fn) -> np.ndarray:
    """Validate a strategy's answer: ``n`` distinct indices where ``allowed`` is True."""
    name = getattr(fn, "__name__", repr(fn))
    arr = np.asarray(picks)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        msg = f"strategy {name} must return a 1-D array of pool indices, got {arr.dtype} {arr.shape}"
        raise InvalidInputError(msg)
    arr = arr.astype(np.int64)
    if len(np.unique(arr)) != len(arr) or len(arr) != n:
        msg = f"strategy {name} must return {n} distinct indices, got {arr.tolist()[:10]}"
        raise InvalidInputError(msg)
    inside = (arr >= 0) & (arr < len(allowed))
    ok = np.zeros(len(arr), dtype=bool)
    ok[inside] = allowed[arr[inside]]
    if not ok.all():
        msg = f"strategy {name} returned index {int(arr[~ok][0])}, which is not an unlabelled candidate"
        raise InvalidInputError(msg)
    return arr


def check_finite_proba(model, proba: np.ndarray) -> np.ndarray:
    """Return ``proba``, or raise if the model gave NaN or inf for some row.

    Built-in models are finite by construction (softmax of finite logits of
    finite embeddings), so only user models pay for the check.
    """
    if isinstance(model, _TorchClassifier):
        return proba
    finite = np.isfinite(proba).all(axis=1)
    if not finite.all():
        n_bad = int(len(finite) - np.count_nonzero(finite))
        row = int(np.flatnonzero(~finite)[0])
        msg = (
            f"model {type(model).__name__}.predict_proba returned NaN/inf for {n_bad} of {len(proba)} rows "
            f"(first at row {row}); fix the model (or its input scaling) so it gives finite probabilities"
        )
        raise InvalidInputError(msg)
    return proba


def check_mode(mode) -> str:
    if not isinstance(mode, str) or mode not in LABEL_MODES:
        msg = f"mode must be one of {LABEL_MODES}, got {mode!r}"
        raise InvalidInputError(msg)
    return mode


def check_dataset(dataset, n_pool: int):
    """The dataset behind the pool rows (or None): one clip per row."""
    if dataset is None:
        return None
    try:
        n = len(dataset)
    except TypeError:
        msg = f"dataset must be an AudioDataset (one clip per pool row), got {type(dataset).__name__}"
        raise InvalidInputError(msg) from None
    if n != n_pool:
        msg = (
            f"the dataset has {n} clips but the pool has {n_pool} rows; pass the dataset the embeddings "
            "were computed from (one clip per row)"
        )
        raise InvalidInputError(msg)
    return dataset


def check_ids(ids, n_pool: int) -> list | None:
    """Validate clip ids: one per row, unique, str or int.

    Ids that are all ``str`` (none blank) or all ``int``, or an integer
    array, are checked with C-level loops (about 1 s for 10M ids); anything
    else id by id.
    """
    if ids is None:
        return None
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
        msg = f"ids must be a sequence with one id per clip (e.g. dataset.clip_ids), got {ids!r}"
        raise InvalidInputError(msg)
    if isinstance(ids, np.ndarray) and ids.ndim == 1 and ids.dtype.kind in "iuU":
        ids = ids.tolist()  # Python ints or strs
    else:
        ids = list(ids)
    kinds = set(map(type, ids))
    if kinds == {int} or (kinds == {str} and all(map(str.strip, ids))):
        pass  # fast path: nothing to convert, no blank id
    else:
        ids = [check_class_name(i, what="clip id") for i in ids]
    if len(ids) != n_pool:
        msg = f"got {len(ids)} ids for {n_pool} clips; pass exactly one id per embedding row"
        raise InvalidInputError(msg)
    if len(set(ids)) != len(ids):
        seen: set = set()
        dup = next(i for i in ids if i in seen or seen.add(i))
        msg = f"clip id {dup!r} appears more than once; ids must be unique"
        raise InvalidInputError(msg)
    return ids


def check_model_views(views, dataset, width: int, rows=None):
    """``(widths, weights)`` of the pool's views, or None: ``views`` if given, else the dataset's last embedding's,
    else those remembered for ``rows`` when they are the very array ``ds.embed()`` returned.

    Found views count only when they add up to the pool's ``width`` (rows
    from another embedding have none).
    """
    from alwidget._row_views import views_of
    from alwidget.models import split_views

    if views is None:
        found = (getattr(dataset, "last_views", None), views_of(rows))
        views = next((v for v in found if v is not None and sum(int(d) for d, _ in v) == width), None)
        if views is None:
            return None
    out = split_views(views)
    if sum(out[0]) != width:
        msg = f"views {out[0]} add up to {sum(out[0])} columns, but the embeddings have {width}"
        raise InvalidInputError(msg)
    return out
