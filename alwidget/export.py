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

import csv
import hashlib
import io
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from alwidget import _files, _raven, _tables
from alwidget._raven import RAVEN_CHANNEL, RAVEN_COLUMNS, RAVEN_FILE_COLUMNS, RAVEN_SUFFIX, RAVEN_VIEW
from alwidget._validation import check_classes
from alwidget.errors import ExportError, InvalidInputError

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
    pd = _tables.pandas_for(as_frame)
    classes = check_classes(classes)
    if not classes:
        msg = "classes is empty; pass the list of class names (one per column of proba)"
        raise InvalidInputError(msg)
    proba = _tables.check_proba(proba, classes)
    n = proba.shape[0]
    ids = _tables.check_ids(ids, n)
    recordings = _tables.check_texts(recordings, n, "recordings")
    starts = _tables.check_seconds(starts, n, "starts")
    ends = _tables.check_seconds(ends, n, "ends")
    bad = np.flatnonzero(ends < starts)
    if bad.size:
        i = int(bad[0])
        msg = f"ends[{i}] = {ends[i]} is before starts[{i}] = {starts[i]}; each window must end at or after its start"
        raise InvalidInputError(msg)
    labels = _tables.check_optional_names(labels, n, "labels")
    modes = _tables.check_optional_modes(modes, n, "modes")
    threshold = _tables.check_threshold(threshold)

    best = proba.argmax(axis=1) if n else np.zeros(0, dtype=np.int64)
    probability = proba[np.arange(n), best]
    keep = np.flatnonzero(probability >= threshold) if threshold is not None else np.arange(n)
    order = keep[_tables.sort_order(recordings[keep], starts[keep])]
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
    return _tables.make_table(columns, _PREDICTION_DTYPE, pd)


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
    pd = _tables.pandas_for(as_frame)
    indices = _tables.check_indices(indices)
    n = len(indices)
    ids = _tables.check_ids(ids, n)
    labels = _tables.check_optional_names(labels, n, "labels")
    missing = [i for i, v in enumerate(labels) if v is None]
    if missing:
        msg = f"labels[{missing[0]}] is missing; a labels table holds labelled clips only (pass a name for each row)"
        raise InvalidInputError(msg)
    modes = _tables.check_optional_modes(modes, n, "modes")
    times = _tables.check_times(times, n)
    columns = {"id": ids, "index": indices, "label": labels, "mode": modes, "time": times}
    return _tables.make_table(columns, _LABEL_DTYPE, pd)


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
    path = _files.check_path(path)
    names, columns = _tables.table_columns(table, "table")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([str(name) for name in names])
    writer.writerows(zip(*[_tables.csv_column(values) for values in columns]))
    _files.write_files([(path, buf.getvalue())], "CSV")
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
    path = _files.check_path(path)
    low, high = _raven.check_band(low_freq, high_freq, sr)
    extra = _raven.check_column_names(class_column, score_column, label_column)
    names, columns = _tables.table_columns(table, "table")
    col = dict(zip(names, columns))
    needed = ["recording", "start", "end", "predicted", "probability"] + (["label"] if label_column else [])
    missing = [c for c in needed if c not in col]
    if missing:
        msg = (
            f"table has no column {missing[0]!r} (it has {list(names)}); a Raven export needs "
            f"{needed}: pass the table returned by predictions_table"
        )
        raise InvalidInputError(msg)
    recordings = _raven.text_column(col["recording"], "recording")
    starts = _raven.float_column(col["start"], "start", allow_nan=True)
    ends = _raven.float_column(col["end"], "end", allow_nan=True)
    scores = _raven.float_column(col["probability"], "probability")
    classes = _raven.text_column(col["predicted"], "predicted")
    labels = _raven.text_column(col["label"], "label", allow_empty=True) if label_column else None

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
    band = f"\t{_raven.fixed(low)}\t{_raven.fixed(high)}"
    tails = [f"\t{c}\t{_raven.fixed(s)}" for c, s in zip(classes, scores)]
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
                f"{k}{prefix}{_raven.fixed(starts[i])}\t{_raven.fixed(ends[i])}{band}{tails[i]}\n"
                for k, i in enumerate(rows, 1)
            ]
            files.append((path / file_names[rec], header + "".join(lines)))
        _files.write_files(files, "Raven selection table")
        return [target for target, _ in files]

    offsets = _raven.sequence_offsets(durations, recordings)
    header = "\t".join([*RAVEN_COLUMNS, *RAVEN_FILE_COLUMNS, *extra]) + "\n"
    files_cells = {rec: f"\t{rec}\t{_raven.base_name(rec)}\t" for rec in dict.fromkeys(recordings)}
    lines = []
    for i, rec in enumerate(recordings):
        shift = offsets.get(rec, 0.0)
        begin, end, offset = _raven.fixed(starts[i] + shift), _raven.fixed(ends[i] + shift), _raven.fixed(starts[i])
        lines.append(f"{i + 1}{prefix}{begin}\t{end}{band}{files_cells[rec]}{offset}{tails[i]}\n")
    _files.write_files([(path, header + "".join(lines))], "Raven selection table")
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
    pd = _tables.pandas_for(as_frame)
    path = _files.check_path(path)
    text = _raven.decode_table(_files.read_bytes(path, "Raven selection table"), path)
    header, kinds, cols = _raven.parse_table(text, path, score_column)
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
    stems = {rec: _raven.stem(rec) for rec in recordings}
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


# Names that other alwidget modules imported from here before the helpers moved to private modules.
_check_path, _file_mode, _unencodable = _files.check_path, _files.file_mode, _files.unencodable
_make_table, _pandas_for = _tables.make_table, _tables.pandas_for
