"""Tables of predictions and labels, and their CSV and Raven Pro exports.

Plain functions on plain arrays: nothing here knows about the learner, the
dataset or the widget. pandas is optional: a table is a ``pandas.DataFrame``
when pandas can be imported, else a numpy structured array with the same
fields (text as ``object``). ``as_frame=False`` asks for the numpy form.

Raven Pro selection tables
--------------------------
A selection table is a tab-separated text file with a header row; the first
seven columns are ``Selection``, ``View``, ``Channel``, ``Begin Time (s)``,
``End Time (s)``, ``Low Freq (Hz)`` and ``High Freq (Hz)``, the other columns
are measurements or annotations (here the class and its score). Raven measures
``Begin Time (s)`` from the start of the sound window: for a sequence of files
opened together, from the start of the first file. A table that also holds the
``Begin Path`` and ``File Offset (s)`` measurements can instead be opened as a
*sound selection table*, where Raven places each selection by its file and its
offset within that file and recomputes the begin and end times itself (Raven
support, quoted in https://github.com/maRce10/Rraven/issues/3).

:func:`write_raven` writes, for one combined table, ``Begin Path``,
``Begin File`` and ``File Offset (s)`` after the seven standard columns. Its
``Begin Time (s)`` is the time within the selection's own recording (equal to
``File Offset (s)``) unless ``durations`` are given: then it is cumulative over
the recordings in the order of ``durations`` (the file sequence to open in
Raven), as BirdNET-Analyzer's combined tables do
(``combine_raven_tables`` in birdnet_analyzer/analyze/utils.py,
https://github.com/birdnet-team/BirdNET-Analyzer). Without the durations a
cumulative time cannot be known (the last window rarely ends at the end of its
file), and a wrong offset would misplace every later selection; the per-file
times are exact whenever the table is opened as a sound selection table.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import math
import numbers
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from alwidget._validation import check_classes
from alwidget.errors import ExportError, InvalidInputError, MissingDependencyError

__all__ = [
    "PREDICTION_COLUMNS",
    "LABEL_COLUMNS",
    "RAVEN_COLUMNS",
    "predictions_table",
    "labels_table",
    "write_csv",
    "write_raven",
    "read_raven",
    "raven_file_names",
]

PREDICTION_COLUMNS = ("id", "recording", "start", "end", "predicted", "probability", "label", "mode")
LABEL_COLUMNS = ("id", "index", "label", "mode", "time")
RAVEN_COLUMNS = (
    "Selection",
    "View",
    "Channel",
    "Begin Time (s)",
    "End Time (s)",
    "Low Freq (Hz)",
    "High Freq (Hz)",
)
RAVEN_FILE_COLUMNS = ("Begin Path", "Begin File", "File Offset (s)")
RAVEN_VIEW = "Spectrogram 1"
RAVEN_CHANNEL = 1
RAVEN_SUFFIX = ".selections.txt"
_DECIMALS = 6  # times, frequencies and scores in Raven tables; rounding of floats in CSV
_PROBA_TOLERANCE = 1e-6  # float32 softmax outputs may exceed 1 by an ulp or two

_PREDICTION_DTYPE = np.dtype(
    [
        ("id", object),
        ("recording", object),
        ("start", np.float64),
        ("end", np.float64),
        ("predicted", object),
        ("probability", np.float64),
        ("label", object),
        ("mode", object),
    ]
)
_LABEL_DTYPE = np.dtype(
    [("id", object), ("index", np.int64), ("label", object), ("mode", object), ("time", np.float64)]
)


# --------------------------------------------------------------------------- tables


def predictions_table(
    *,
    ids,
    recordings,
    starts,
    ends,
    proba,
    classes,
    labels=None,
    modes=None,
    threshold: float | None = None,
    as_frame: bool | None = None,
):
    """One row per window: its predicted class, that class's probability and any label.

    Parameters
    ----------
    ids : (n,) str or int, clip (window) ids
    recordings : (n,) str, the recording (file path) each window comes from
    starts, ends : (n,) float, window bounds in seconds from the start of its recording;
        NaN where unknown (e.g. clips known only by their id), an empty field in CSV
    proba : (n, c) float in [0, 1], class probabilities (columns in the order of ``classes``)
    classes : list of c class names (str or int)
    labels : (n,) label given to each window, or None where unlabelled; None for no labels
    modes : (n,) how each label was given (``"active"``, ``"search"``, ...) or None
    threshold : float in [0, 1], keep only rows whose probability is >= threshold (detections)
    as_frame : True for a DataFrame (needs pandas), False for a numpy structured array,
        None for a DataFrame when pandas is installed

    Returns
    -------
    DataFrame or structured array with the columns :data:`PREDICTION_COLUMNS`:
    ``id, recording, start, end, predicted, probability, label, mode``; rows sorted
    by recording, then start (ties keep their input order, unknown starts come
    last). ``label`` and ``mode`` are None where there is none.
    """
    pd = _pandas_for(as_frame)
    classes = check_classes(classes)
    if not classes:
        msg = "classes is empty; pass the list of class names (one per column of proba)"
        raise InvalidInputError(msg)
    proba = _check_proba(proba, classes)
    n = proba.shape[0]
    ids = _check_ids(ids, n)
    recordings = _check_texts(recordings, n, "recordings")
    starts = _check_seconds(starts, n, "starts")
    ends = _check_seconds(ends, n, "ends")
    bad = np.flatnonzero(ends < starts)
    if bad.size:
        i = int(bad[0])
        msg = f"ends[{i}] = {ends[i]} is before starts[{i}] = {starts[i]}; each window must end at or after its start"
        raise InvalidInputError(msg)
    labels = _check_optional_names(labels, n, "labels")
    modes = _check_optional_modes(modes, n, "modes")
    threshold = _check_threshold(threshold)

    best = proba.argmax(axis=1) if n else np.zeros(0, dtype=np.int64)
    probability = proba[np.arange(n), best]
    keep = np.flatnonzero(probability >= threshold) if threshold is not None else np.arange(n)
    order = keep[_sort_order(recordings[keep], starts[keep])]
    columns = {
        "id": ids[order],
        "recording": recordings[order],
        "start": starts[order],
        "end": ends[order],
        "predicted": np.array(classes, dtype=object)[best[order]],
        "probability": probability[order],
        "label": labels[order],
        "mode": modes[order],
    }
    return _make_table(columns, _PREDICTION_DTYPE, pd)


def labels_table(*, ids, indices, labels, modes=None, times=None, as_frame: bool | None = None):
    """One row per labelled clip: ``id, index, label, mode, time``.

    Parameters
    ----------
    ids : (n,) str or int, clip ids
    indices : (n,) int >= 0, pool indices
    labels : (n,) str or int, the answer given (a class name, or e.g. ``"unsure"``)
    modes : (n,) str or None, how the clip was found; None for all unknown
    times : (n,) float seconds since the epoch when the label was given, or None
        (NaN in the table); None for all unknown
    as_frame : as in :func:`predictions_table`

    Returns
    -------
    DataFrame or structured array with the columns :data:`LABEL_COLUMNS`, rows in input order.
    """
    pd = _pandas_for(as_frame)
    indices = _check_indices(indices)
    n = len(indices)
    ids = _check_ids(ids, n)
    labels = _check_optional_names(labels, n, "labels")
    missing = [i for i, v in enumerate(labels) if v is None]
    if missing:
        msg = f"labels[{missing[0]}] is missing; a labels table holds labelled clips only (pass a name for each row)"
        raise InvalidInputError(msg)
    modes = _check_optional_modes(modes, n, "modes")
    times = _check_times(times, n)
    columns = {"id": ids, "index": indices, "label": labels, "mode": modes, "time": times}
    return _make_table(columns, _LABEL_DTYPE, pd)


# --------------------------------------------------------------------------- CSV


def write_csv(table, path) -> Path:
    """Write ``table`` (DataFrame, structured array or list of dicts) to ``path`` as CSV.

    UTF-8, a header row, ``\\n`` line ends. Floats are rounded to 6 decimals and
    printed in their shortest form (``0.5``, ``12.25``), so the file is the same
    on every platform; None and NaN are written as empty fields. The file is
    written atomically: a temporary file in the same folder, fsync'ed, then
    renamed over ``path``.

    Returns
    -------
    Path of the file written.

    Raises
    ------
    ExportError : the folder is missing or cannot be written; ``path`` is left as it was.
    """
    path = _check_path(path)
    names, columns = _table_columns(table, "table")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([str(name) for name in names])
    writer.writerows(zip(*[_csv_column(values) for values in columns]))
    _write_files([(path, buf.getvalue())], "CSV")
    return path


# --------------------------------------------------------------------------- Raven


def write_raven(
    table,
    path,
    *,
    per_recording: bool = False,
    low_freq: float = 0.0,
    high_freq: float | None = None,
    sr: float | None = None,
    class_column: str = "Class",
    score_column: str = "Score",
    label_column: str | None = None,
    durations: Mapping[str, float] | None = None,
) -> list[Path]:
    """Write a predictions table as Raven Pro selection table(s), one selection per row.

    Columns: ``Selection`` (1, 2, ... per file), ``View`` (``Spectrogram 1``),
    ``Channel`` (1), ``Begin Time (s)``, ``End Time (s)``, ``Low Freq (Hz)``,
    ``High Freq (Hz)``, then (combined table only) ``Begin Path``, ``Begin File``
    and ``File Offset (s)``, then ``class_column`` (the predicted class),
    ``score_column`` (its probability) and, if given, ``label_column`` (the label,
    empty where none). Times, frequencies and scores have 6 decimals.

    Parameters
    ----------
    table : DataFrame, structured array or list of dicts with at least ``recording,
        start, end, predicted, probability`` (and ``label`` for ``label_column``),
        e.g. from :func:`predictions_table`; rows are written in table order
    path : the file to write, or with ``per_recording`` an existing folder
    per_recording : one table per recording, ``<recording stem>.selections.txt``
        (see :func:`raven_file_names`), instead of one combined table
    low_freq, high_freq : float Hz, the band of every selection; ``high_freq``
        defaults to ``sr / 2``
    sr : float Hz, the sample rate, used only for the default ``high_freq``
    class_column, score_column, label_column : column names
    durations : {recording: seconds}, the file sequence as opened in Raven, in
        order. Given, the combined table's begin and end times are cumulative over
        that sequence (``File Offset (s)`` stays within the file); without it they
        are times within each recording (open the table as a sound selection table).
        Ignored with ``per_recording``.

    Returns
    -------
    list of Path: the files written (the combined table, or one per recording in
    order of first appearance in the table; empty for an empty table then).

    Raises
    ------
    InvalidInputError : missing columns, bad frequencies, names with tabs or newlines
    ExportError : the folder is missing or cannot be written; no file is left half
        written, and no new file is left behind on failure
    """
    path = _check_path(path)
    low, high = _check_band(low_freq, high_freq, sr)
    extra = _check_column_names(class_column, score_column, label_column)
    names, columns = _table_columns(table, "table")
    col = dict(zip(names, columns))
    needed = ["recording", "start", "end", "predicted", "probability"] + (["label"] if label_column else [])
    missing = [c for c in needed if c not in col]
    if missing:
        msg = (
            f"table has no column {missing[0]!r} (it has {list(names)}); a Raven export needs "
            f"{needed}: pass the table returned by predictions_table"
        )
        raise InvalidInputError(msg)
    recordings = _raven_texts(col["recording"], "recording")
    starts = _float_column(col["start"], "start", allow_nan=True)
    ends = _float_column(col["end"], "end", allow_nan=True)
    scores = _float_column(col["probability"], "probability")
    classes = _raven_texts(col["predicted"], "predicted")
    labels = _raven_texts(col["label"], "label", allow_empty=True) if label_column else None

    bad = [i for i, (a, b) in enumerate(zip(starts, ends)) if not 0 <= a <= b]
    if bad:
        i = bad[0]
        if math.isnan(starts[i]) or math.isnan(ends[i]):
            msg = (
                f"row {i} of the table (recording {recordings[i]!r}): start = {starts[i]} and end = {ends[i]}; "
                "a Raven selection needs both, and this window's place in its recording is unknown. Build the "
                "learner with dataset= (the AudioDataset behind the rows), or fill in start and end"
            )
        else:
            msg = f"row {i} of the table: start = {starts[i]} and end = {ends[i]} are not times with 0 <= start <= end"
        raise InvalidInputError(msg)
    band = f"\t{_fixed(low)}\t{_fixed(high)}"
    tails = [f"\t{c}\t{_fixed(s)}" for c, s in zip(classes, scores)]
    if labels is not None:
        tails = [f"{t}\t{label}" for t, label in zip(tails, labels)]
    prefix = f"\t{RAVEN_VIEW}\t{RAVEN_CHANNEL}\t"

    if per_recording:
        if not path.is_dir():
            what = "does not exist" if not path.exists() else "is not a folder"
            msg = f"cannot write Raven tables to {path}: it {what}; per_recording=True needs an existing folder"
            raise ExportError(msg)
        header = "\t".join([*RAVEN_COLUMNS, *extra]) + "\n"
        groups: dict[str, list[int]] = {}
        for i, rec in enumerate(recordings):
            groups.setdefault(rec, []).append(i)
        file_names = raven_file_names(list(groups))
        files = []
        for rec, rows in groups.items():
            lines = [
                f"{k}{prefix}{_fixed(starts[i])}\t{_fixed(ends[i])}{band}{tails[i]}\n" for k, i in enumerate(rows, 1)
            ]
            files.append((path / file_names[rec], header + "".join(lines)))
        _write_files(files, "Raven selection table")
        return [target for target, _ in files]

    offsets = _sequence_offsets(durations, recordings)
    header = "\t".join([*RAVEN_COLUMNS, *RAVEN_FILE_COLUMNS, *extra]) + "\n"
    files_cells = {rec: f"\t{rec}\t{_base_name(rec)}\t" for rec in dict.fromkeys(recordings)}
    lines = []
    for i, rec in enumerate(recordings):
        shift = offsets.get(rec, 0.0)
        begin, end, offset = _fixed(starts[i] + shift), _fixed(ends[i] + shift), _fixed(starts[i])
        lines.append(f"{i + 1}{prefix}{begin}\t{end}{band}{files_cells[rec]}{offset}{tails[i]}\n")
    _write_files([(path, header + "".join(lines))], "Raven selection table")
    return [path]


def read_raven(path, *, score_column: str = "Score", as_frame: bool | None = None):
    """Read a Raven selection table (tab-separated, header row).

    Columns keep their Raven names. ``Selection`` and ``Channel`` are read as
    int; every column whose name ends in ``(s)`` or ``(Hz)``, and ``score_column``,
    as float (an empty field is NaN); the others as text (class names stay str).

    The text is decoded as UTF-16 or UTF-32 when it starts with their byte-order
    mark (Raven Pro can save tables in UTF-16), as UTF-16 without one when its
    first two bytes are an ASCII character and a zero byte, else as UTF-8 (with
    or without a byte-order mark) and, when it is not valid UTF-8, as
    Windows-1252 (cp1252), the code page Raven Pro uses on western Windows
    systems. A table saved in another code page (Cyrillic, Japanese, ...) is
    then misread: save it as UTF-8. Lines end at ``\\n``, ``\\r\\n`` or ``\\r``
    only, so any other character (form feed, U+2028, ...) may appear in a field,
    as :func:`write_raven` writes them.

    Returns
    -------
    DataFrame (when pandas is installed and ``as_frame`` is not False) or a list
    of dicts, one per selection, in file order.

    Raises
    ------
    InvalidInputError : the file is missing, a folder, unreadable or not text in
        one of those encodings; not a selection table, a row with the wrong
        number of fields, or a number that cannot be read (the message names the
        line); a ``Selection`` or ``Channel`` that is not an integer in the
        64-bit range
    """
    pd = _pandas_for(as_frame)
    path = _check_path(path)
    lines = _LINE_END.split(_decode_table(_read_bytes(path, "Raven selection table"), path))
    if not lines or "Selection" not in lines[0].split("\t"):
        msg = f"{path} is not a Raven selection table: its first line has no 'Selection' column"
        raise InvalidInputError(msg)
    header = lines[0].split("\t")
    if len(set(header)) != len(header):
        dup = next(h for h in header if header.count(h) > 1)
        msg = f"{path}: the column {dup!r} appears twice in the header"
        raise InvalidInputError(msg)
    kinds = [_raven_kind(name, score_column) for name in header]
    cols: list[list] = [[] for _ in header]
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != len(header):
            msg = f"{path}, line {lineno}: {len(fields)} fields, but the header has {len(header)} columns"
            raise InvalidInputError(msg)
        for j, (value, kind) in enumerate(zip(fields, kinds)):
            cols[j].append(_parse_raven(value, kind, path, lineno, header[j]))
    if pd is not None:
        data = {}
        for name, kind, values in zip(header, kinds, cols):
            if kind == "int":
                data[name] = np.array(values, dtype=np.int64)
            elif kind == "float":
                data[name] = np.array(values, dtype=np.float64)
            else:
                data[name] = pd.Series(values, dtype=object)
        return pd.DataFrame(data, columns=header)
    return [dict(zip(header, values)) for values in zip(*cols)]


def _locate_ids(ids: Sequence) -> tuple[list[str], np.ndarray, np.ndarray]:
    """``(recordings, starts, ends)`` of clips known only by their ids.

    An id ``file@start`` (``start`` seconds in ASCII digits, as in the ids of
    ``AudioDataset.from_recordings``: ``rec.wav@12.5``) names a window of
    ``file`` starting at ``start``; its end is unknown (NaN), the window length
    not being part of the id. Any other id (``clip.wav``, ``7``, ``me@home.wav``)
    is its own recording, with both times NaN.
    """
    recordings = [str(clip) for clip in ids]
    starts = np.full(len(recordings), np.nan)
    ends = np.full(len(recordings), np.nan)
    for k, clip in enumerate(ids):
        window = _WINDOW_ID.fullmatch(clip) if isinstance(clip, str) else None
        if window is not None and math.isfinite(float(window[2])):
            recordings[k], starts[k] = window[1], float(window[2])
    return recordings, starts, ends


_WINDOW_ID = re.compile(r"(.+)@([0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?)", re.DOTALL)


def raven_file_names(recordings: Sequence[str]) -> dict[str, str]:
    """``{recording: file name}`` for the per-recording Raven tables.

    The name is ``<stem>.selections.txt``, the stem being the recording's file
    name without its extension (``/` and ``\\`` both separate folders). When
    several recordings share a stem (compared case-insensitively, as on macOS and
    Windows), each of them gets ``<stem>-<8 hex digits>.selections.txt``, the
    digits being the start of the SHA-1 of the recording string: the same name
    on every run and platform, whatever other recordings are exported with it.
    """
    stems = {rec: _stem(rec) for rec in recordings}
    count: dict[str, int] = {}
    for stem in stems.values():
        count[stem.casefold()] = count.get(stem.casefold(), 0) + 1
    names = {}
    for rec, stem in stems.items():
        if count[stem.casefold()] > 1:
            stem = f"{stem}-{hashlib.sha1(rec.encode('utf-8')).hexdigest()[:8]}"
        names[rec] = stem + RAVEN_SUFFIX
    seen: dict[str, str] = {}
    for rec, name in names.items():
        other = seen.setdefault(name.casefold(), rec)
        if other != rec:
            msg = f"recordings {other!r} and {rec!r} would both be written to {name}; rename one of them"
            raise InvalidInputError(msg)
    return names


# --------------------------------------------------------------------------- helpers: pandas and tables


def _import_pandas():
    try:
        import pandas  # noqa: PLC0415 (optional dependency)
    except ImportError:
        return None
    return pandas


def _pandas_for(as_frame):
    """pandas module when a DataFrame is wanted and possible, else None."""
    if as_frame is not None and not isinstance(as_frame, bool):
        msg = f"as_frame must be True, False or None, got {as_frame!r}"
        raise InvalidInputError(msg)
    if as_frame is False:
        return None
    pd = _import_pandas()
    if pd is None and as_frame:
        msg = (
            "as_frame=True needs pandas, which cannot be imported here; "
            "pip install pandas, or pass as_frame=False for a numpy structured array"
        )
        raise MissingDependencyError(msg)
    return pd


def _make_table(columns: dict, dtype: np.dtype, pd):
    if pd is not None:
        data = {}
        for name in dtype.names:
            values = columns[name]
            data[name] = pd.Series(values, dtype=object) if dtype[name].kind == "O" else np.asarray(values, dtype[name])
        return pd.DataFrame(data, columns=list(dtype.names))
    n = len(columns[dtype.names[0]])
    out = np.empty(n, dtype=dtype)
    for name in dtype.names:
        out[name] = columns[name]
    return out


def _table_columns(table, what: str) -> tuple[list, list[list]]:
    """Column names and per-column value lists of a DataFrame, structured array or list of dicts."""
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(table, pd.DataFrame):
        names = list(table.columns)
        return names, [table[name].tolist() for name in names]
    if isinstance(table, np.ndarray) and table.dtype.names:
        if table.ndim != 1:
            msg = f"{what} must be a 1-D structured array, got shape {table.shape}"
            raise InvalidInputError(msg)
        names = list(table.dtype.names)
        return names, [table[name].tolist() for name in names]
    if isinstance(table, (list, tuple)) and table and all(isinstance(r, Mapping) for r in table):
        names = list(table[0])
        for i, r in enumerate(table):
            if list(r) != names:
                msg = f"{what}[{i}] has the keys {list(r)}, but {what}[0] has {names}; every row needs the same keys"
                raise InvalidInputError(msg)
        return names, [[r[name] for r in table] for name in names]
    msg = (
        f"{what} must be a pandas DataFrame, a numpy structured array or a non-empty list of dicts "
        f"(as returned by predictions_table, labels_table or read_raven), got {type(table).__name__}"
    )
    raise InvalidInputError(msg)


def _sort_order(recordings: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Stable order by (recording, start); recordings compared as Python strings."""
    rank = {rec: k for k, rec in enumerate(sorted(set(recordings.tolist())))}
    codes = np.fromiter((rank[r] for r in recordings), dtype=np.int64, count=len(recordings))
    return np.lexsort((starts, codes))


# --------------------------------------------------------------------------- helpers: validation


def _length(values, n: int | None, name: str) -> list:
    if isinstance(values, np.ndarray):
        ok = values.ndim == 1
    elif values is None or isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
        ok = False
    else:
        values = list(values)
        ok = not any(isinstance(v, (list, tuple, np.ndarray)) for v in values)
    if not ok:
        msg = f"{name} must be a 1-D sequence (one value per row), got {type(values).__name__} {values!r:.60}"
        raise InvalidInputError(msg)
    out = values.tolist() if isinstance(values, np.ndarray) else list(values)
    if n is not None and len(out) != n:
        msg = f"{name} has {len(out)} values, expected {n} (as many as the other columns); pass one value per row"
        raise InvalidInputError(msg)
    return out


def _check_proba(proba, classes: list) -> np.ndarray:
    try:
        arr = np.asarray(proba)
    except (TypeError, ValueError) as exc:
        msg = f"proba could not be read as a numeric array: {exc}"
        raise InvalidInputError(msg) from None
    if arr.dtype.kind not in "iuf":
        msg = f"proba must hold real numbers, got dtype {arr.dtype}; pass a float array (n_rows, n_classes)"
        raise InvalidInputError(msg)
    if arr.ndim != 2:
        msg = f"proba must be 2-D (n_rows, n_classes), got shape {arr.shape}"
        raise InvalidInputError(msg)
    if arr.shape[1] != len(classes):
        msg = f"proba has {arr.shape[1]} columns but there are {len(classes)} classes; pass one column per class"
        raise InvalidInputError(msg)
    arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr) | (arr < 0) | (arr > 1 + _PROBA_TOLERANCE)
    if bad.any():
        i, j = (int(v) for v in np.argwhere(bad)[0])
        what = "a non-finite value" if not np.isfinite(arr[i, j]) else "a value outside [0, 1]"
        msg = (
            f"proba has {what} ({arr[i, j]}) at row {i}, column {j} (class {classes[j]!r}); "
            "pass probabilities in [0, 1], e.g. from predict_proba"
        )
        raise InvalidInputError(msg)
    return arr


def _check_ids(ids, n: int) -> np.ndarray:
    if isinstance(ids, np.ndarray) and ids.ndim == 1 and ids.dtype.kind in "iuU" and len(ids) == n:
        return ids.astype(object)  # Python ints or str
    values = _length(ids, n, "ids")
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        if isinstance(v, str):
            out[i] = v
        elif isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)):
            out[i] = int(v)
        else:
            msg = f"ids[{i}] = {v!r} is a {type(v).__name__}; clip ids must be strings or integers"
            raise InvalidInputError(msg)
    return out


def _check_texts(values, n: int, name: str) -> np.ndarray:
    if isinstance(values, np.ndarray) and values.ndim == 1 and values.dtype.kind == "U" and len(values) == n:
        empty = np.flatnonzero(values == "")
        if not empty.size:
            return values.astype(object)
    values = _length(values, n, name)
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        if isinstance(v, os.PathLike):
            v = os.fspath(v)
        if not isinstance(v, str) or not v:
            msg = f"{name}[{i}] = {v!r} is not a non-empty string; pass the recording's path or name"
            raise InvalidInputError(msg)
        out[i] = str(v)
    return out


def _check_seconds(values, n: int, name: str) -> np.ndarray:
    if isinstance(values, np.ndarray) and values.ndim == 1 and values.dtype.kind in "iuf":
        if len(values) != n:
            _length(values, n, name)
        arr = values.astype(np.float64)
    else:
        items = _length(values, n, name)
        for i, v in enumerate(items):
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
                msg = f"{name}[{i}] = {v!r} is not a number; pass seconds from the start of the recording"
                raise InvalidInputError(msg)
        arr = np.array(items, dtype=np.float64) if items else np.zeros(0)
    bad = np.flatnonzero(np.isinf(arr) | (arr < 0))  # NaN: unknown, allowed
    if bad.size:
        i = int(bad[0])
        msg = (
            f"{name}[{i}] = {arr[i]} is not a finite time >= 0; pass seconds from the start of the recording "
            "(NaN where unknown)"
        )
        raise InvalidInputError(msg)
    return arr


def _is_missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or type(v).__name__ in ("NAType", "NaTType")


def _check_optional_names(values, n: int, name: str) -> np.ndarray:
    out = np.full(n, None, dtype=object)
    if values is None:
        return out
    for i, v in enumerate(_length(values, n, name)):
        if _is_missing(v):
            continue
        if isinstance(v, str) and v.strip():
            out[i] = str(v)
        elif isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)):
            out[i] = int(v)
        else:
            msg = f"{name}[{i}] = {v!r} must be a class name (a non-blank string or an integer) or None"
            raise InvalidInputError(msg)
    return out


def _check_optional_modes(values, n: int, name: str) -> np.ndarray:
    out = np.full(n, None, dtype=object)
    if values is None:
        return out
    for i, v in enumerate(_length(values, n, name)):
        if _is_missing(v):
            continue
        if not isinstance(v, str) or not v.strip():
            msg = f"{name}[{i}] = {v!r} must be a non-blank string (such as 'active') or None"
            raise InvalidInputError(msg)
        out[i] = str(v)
    return out


def _check_indices(indices) -> np.ndarray:
    values = _length(indices, None, "indices")
    for i, v in enumerate(values):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral) or v < 0:
            msg = f"indices[{i}] = {v!r} is not a pool index (an integer >= 0)"
            raise InvalidInputError(msg)
    return np.array([int(v) for v in values], dtype=np.int64)


def _check_times(values, n: int) -> np.ndarray:
    out = np.full(n, np.nan)
    if values is None:
        return out
    for i, v in enumerate(_length(values, n, "times")):
        if _is_missing(v):
            continue
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real) or not math.isfinite(v):
            msg = f"times[{i}] = {v!r} must be a finite number (seconds since the epoch) or None"
            raise InvalidInputError(msg)
        out[i] = float(v)
    return out


def _check_threshold(threshold) -> float | None:
    if threshold is None:
        return None
    if (
        isinstance(threshold, (bool, np.bool_))
        or not isinstance(threshold, numbers.Real)
        or not 0.0 <= float(threshold) <= 1.0  # False for NaN too
    ):
        msg = f"threshold must be a number in [0, 1] (a probability) or None, got {threshold!r}"
        raise InvalidInputError(msg)
    return float(threshold)


def _check_path(path) -> Path:
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        msg = f"path must be a file or folder path (str or os.PathLike), got {path!r}"
        raise InvalidInputError(msg)
    return Path(path)


def _check_band(low_freq, high_freq, sr) -> tuple[float, float]:
    def number(v, name: str, *, positive: bool) -> float:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real) or not math.isfinite(v):
            msg = f"{name} must be a finite number of Hz, got {v!r}"
            raise InvalidInputError(msg)
        if (v <= 0) if positive else (v < 0):
            msg = f"{name} must be {'> 0' if positive else '>= 0'} Hz, got {v!r}"
            raise InvalidInputError(msg)
        return float(v)

    low = number(low_freq, "low_freq", positive=False)
    if high_freq is None:
        if sr is None:
            msg = "pass high_freq= (Hz), or sr= (the sample rate in Hz; high_freq then defaults to sr / 2)"
            raise InvalidInputError(msg)
        high = number(sr, "sr", positive=True) / 2
    else:
        high = number(high_freq, "high_freq", positive=True)
    if high <= low:
        msg = f"high_freq ({high} Hz) must be above low_freq ({low} Hz)"
        raise InvalidInputError(msg)
    return low, high


def _check_column_names(class_column, score_column, label_column) -> list[str]:
    names = [("class_column", class_column), ("score_column", score_column)]
    if label_column is not None:
        names.append(("label_column", label_column))
    taken = set(RAVEN_COLUMNS) | set(RAVEN_FILE_COLUMNS)
    out = []
    for arg, value in names:
        if not isinstance(value, str) or not value.strip() or any(c in value for c in "\t\r\n"):
            msg = f"{arg} must be a non-blank column name without tabs or line breaks, got {value!r}"
            raise InvalidInputError(msg)
        if value in taken:
            msg = f"{arg}={value!r} clashes with another column of the table; choose another name"
            raise InvalidInputError(msg)
        if arg != "score_column" and _raven_kind(value, "") != "text":
            msg = (
                f"{arg}={value!r} ends in (s) or (Hz), which marks a measurement in seconds or Hz: read_raven would "
                "read its names as numbers; choose another name"
            )
            raise InvalidInputError(msg)
        taken.add(value)
        out.append(value)
    return out


def _raven_texts(values: list, column: str, *, allow_empty: bool = False) -> list[str]:
    out = []
    for i, v in enumerate(values):
        if type(v) is not str:
            if _is_missing(v):
                if not allow_empty:
                    msg = f"row {i} of the table has no {column}; every selection needs one"
                    raise InvalidInputError(msg)
                v = ""
            v = str(v.item() if isinstance(v, np.generic) else v)
        out.append(v)
    joined = "".join(out)
    if "\t" in joined or "\n" in joined or "\r" in joined:
        i = next(i for i, v in enumerate(out) if any(c in v for c in "\t\r\n"))
        msg = (
            f"row {i}: the {column} {out[i]!r} holds a tab or a line break, which a Raven table cannot store; "
            "rename it, or replace those characters in the table before writing it"
        )
        raise InvalidInputError(msg)
    return out


def _float_column(values: list, column: str, *, allow_nan: bool = False) -> list[float]:
    """Floats of a table column; with ``allow_nan`` a NaN (or None) is kept as NaN (unknown)."""
    arr = np.asarray(values) if values else np.zeros(0)
    if arr.ndim == 1 and arr.dtype.kind in "iuf" and np.isfinite(arr).all():
        return arr.astype(np.float64).tolist()
    out = []
    for i, v in enumerate(values):
        if allow_nan and _is_missing(v):
            out.append(math.nan)
            continue
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real) or not math.isfinite(v):
            msg = f"row {i} of the table: {column} = {v!r} is not a finite number"
            raise InvalidInputError(msg)
        out.append(float(v))
    return out


def _sequence_offsets(durations, recordings: list[str]) -> dict[str, float]:
    if durations is None:
        return {}
    if not isinstance(durations, Mapping):
        msg = f"durations must be a mapping {{recording: seconds}}, got {type(durations).__name__}"
        raise InvalidInputError(msg)
    offsets = {}
    total = 0.0
    for rec, seconds in durations.items():
        if isinstance(seconds, (bool, np.bool_)) or not isinstance(seconds, numbers.Real):
            msg = f"durations[{rec!r}] = {seconds!r} is not a number of seconds"
            raise InvalidInputError(msg)
        if not math.isfinite(seconds) or seconds < 0:
            msg = f"durations[{rec!r}] = {seconds!r} is not a finite duration >= 0 (seconds)"
            raise InvalidInputError(msg)
        offsets[os.fspath(rec) if isinstance(rec, os.PathLike) else rec] = total
        total += float(seconds)
    for rec in recordings:
        if rec not in offsets:
            msg = f"durations has no entry for the recording {rec!r}; give the duration of every recording in the table"
            raise InvalidInputError(msg)
    return offsets


# --------------------------------------------------------------------------- helpers: formatting and parsing


def _fixed(x: float) -> str:
    text = f"{x:.{_DECIMALS}f}"
    return text[1:] if text[0] == "-" and not text.strip("-0.") else text  # no "-0.000000"


def _csv_column(values: list) -> list[str]:
    out = []
    for v in values:
        kind = type(v)
        if kind is str:
            out.append(v)
        elif v is None:
            out.append("")
        elif kind is float and math.isfinite(v):
            out.append(repr(round(v, _DECIMALS) + 0.0))  # + 0.0 turns -0.0 into 0.0
        elif kind is int:
            out.append(str(v))
        else:
            out.append(_csv_cell(v))
    return out


def _csv_cell(v) -> str:
    if isinstance(v, np.generic):
        v = v.item()
    if _is_missing(v):
        return ""
    if isinstance(v, float):
        if not math.isfinite(v):
            return repr(v)
        return repr(round(v, _DECIMALS) + 0.0)  # + 0.0 turns -0.0 into 0.0
    return str(v)


def _base_name(recording: str) -> str:
    return re.split(r"[\\/]", recording.rstrip("\\/"))[-1] or recording


def _stem(recording: str) -> str:
    name = _base_name(recording)
    if "." in name[1:]:
        name = name.rsplit(".", 1)[0]
    name = re.sub(r'[<>:"/\\|?*\x00-\x1f]', "_", name)  # "/" and "\\" only in a name of slashes alone
    return name or "recording"


def _raven_kind(name: str, score_column: str) -> str:
    if name in ("Selection", "Channel"):
        return "int"
    if name == score_column or name.endswith(("(s)", "(Hz)")):
        return "float"
    return "text"


def _parse_raven(value: str, kind: str, path: Path, lineno: int, column: str):
    if kind == "text":
        return value
    if kind == "float" and not value.strip():
        return math.nan
    if kind == "int":
        if not _INTEGER.fullmatch(value):
            msg = f"{path}, line {lineno}: {column} = {value!r} is not an integer (digits 0-9 only); correct that line"
            raise InvalidInputError(msg)
        number = int(value)
        if not _INT64_MIN <= number <= _INT64_MAX:
            msg = (
                f"{path}, line {lineno}: {column} = {value!r} is beyond the 64-bit integer range "
                f"({_INT64_MIN} .. {_INT64_MAX}); correct that line"
            )
            raise InvalidInputError(msg)
        return number
    try:
        return float(value)
    except ValueError:
        msg = f"{path}, line {lineno}: {column} = {value!r} is not a number"
        raise InvalidInputError(msg) from None


_LINE_END = re.compile(r"\r\n|\r|\n")  # real line ends only: not str.splitlines()'s \v, \f, \x1c, U+2028, ...
_INTEGER = re.compile(r" *[+-]?[0-9]+ *")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_BOMS = (  # UTF-32 first: its little-endian mark starts with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8-sig", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16"),
)


def _read_bytes(path: Path, what: str) -> bytes:
    if path.is_dir():
        msg = f"cannot read the {what} {path}: it is a folder; pass the path of a file in it"
        raise InvalidInputError(msg)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        msg = f"cannot read the {what} {path}: it does not exist; check the path (relative to {Path.cwd()})"
        raise InvalidInputError(msg) from None
    except OSError as exc:
        msg = f"cannot read the {what} {path}: {exc.strerror or exc}"
        raise InvalidInputError(msg) from None


def _decode_table(data: bytes, path: Path) -> str:
    """Text of a table: by byte-order mark, UTF-16 without one, UTF-8, else cp1252 (see :func:`read_raven`)."""
    codec, name = next(((c, n) for bom, c, n in _BOMS if data.startswith(bom)), (None, None))
    if codec is None:
        if len(data) >= 2 and data[0] < 0x80 and (data[0] == 0) != (data[1] == 0):  # "S\0" or "\0S"
            codec, name = ("utf-16-le" if data[1] == 0 else "utf-16-be"), "UTF-16"
    if codec is not None:
        try:
            return data.decode(codec)
        except UnicodeDecodeError as exc:
            msg = (
                f"cannot read {path}: it starts as {name} text, but bytes {exc.start}..{exc.end - 1} are not "
                f"valid {name} ({exc.reason}); the file may be truncated or damaged: save it again, as UTF-8"
            )
            raise InvalidInputError(msg) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError as exc:
        msg = (
            f"cannot read {path}: it is neither UTF-8, UTF-16 nor Windows-1252 text (byte {exc.start} is "
            f"0x{data[exc.start]:02x}); save it as UTF-8 and read it again"
        )
        raise InvalidInputError(msg) from None


# --------------------------------------------------------------------------- helpers: atomic writes


def _write_files(files: list[tuple[Path, str]], what: str) -> None:
    """Write each ``(path, text)`` atomically; on failure remove every temporary file and new file."""
    for target, _ in files:
        if not target.parent.is_dir():
            msg = (
                f"cannot write the {what} {target}: the folder {target.parent} does not exist "
                "(or is not a folder); create it first, or choose another path"
            )
            raise ExportError(msg)
        if target.is_dir():
            msg = f"cannot write the {what} {target}: it is a folder; pass a file path"
            raise ExportError(msg)
    temps: list[str] = []
    created: list[Path] = []
    replaced: list[Path] = []
    target = files[0][0] if files else None
    try:
        for target, text in files:
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
            temps.append(tmp)
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, _file_mode(target))
        for (target, _), tmp in zip(files, temps):
            existed = target.exists()
            os.replace(tmp, target)
            (replaced if existed else created).append(target)
        for folder in {t.parent for t, _ in files}:
            _fsync_folder(folder)
    except BaseException as exc:
        for tmp in temps:
            Path(tmp).unlink(missing_ok=True)
        for done in created:
            done.unlink(missing_ok=True)
        if isinstance(exc, UnicodeEncodeError):
            raise _unencodable(exc, f"the {what} {target}") from None
        if not isinstance(exc, OSError):
            raise
        left = f"; {len(replaced)} existing file(s) were already replaced" if replaced else "; nothing was written"
        msg = f"cannot write the {what} {target}: {exc.strerror or exc}{left}"
        raise ExportError(msg) from None


def _unencodable(exc: UnicodeEncodeError, what: str) -> InvalidInputError:
    """The error for text that UTF-8 cannot encode (a lone surrogate, e.g. from an undecodable file name)."""
    text = exc.object
    a = text.rfind("\n", 0, exc.start) + 1
    b = text.find("\n", exc.start)
    line = text[a : b if b >= 0 else len(text)]
    shown = line if len(line) <= 120 else line[:117] + "..."
    msg = (
        f"cannot write {what}: the text {shown!r} holds {text[exc.start]!r}, a lone surrogate that UTF-8 cannot "
        "encode (a file name that was not valid UTF-8?); replace it, e.g. with "
        "name.encode('utf-8', 'replace').decode('utf-8'), and write again; nothing was written"
    )
    return InvalidInputError(msg)


def _file_mode(target: Path) -> int:
    """Permission bits for ``target``: those of the file it replaces, else what ``open()`` would give.

    A new file gets ``0o666 & ~umask`` (0644 under the usual umask 022), as a
    plain ``open(path, "w")`` would: ``tempfile.mkstemp`` alone creates 0600.
    """
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


def _umask() -> int:
    """The process umask, read without changing it where the platform allows (Linux), else set and restored."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


_UMASK_LOCK = threading.Lock()


def _fsync_folder(folder: Path) -> None:
    """Make the renames durable where the platform allows it (not on Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
