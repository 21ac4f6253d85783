"""Raven Pro selection tables for :mod:`alwidget.export`: column names, cell checks and formats, and parsing.

See :mod:`alwidget.export` for the table layout; :func:`parse_table` reads
what :func:`alwidget.export.write_raven` writes (and what Raven Pro saves).
"""

from __future__ import annotations

import codecs
import math
import numbers
import os
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from alwidget import _tables
from alwidget.errors import InvalidInputError

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


# --------------------------------------------------------------------------- writing: checks and formats


def check_band(low_freq, high_freq, sr) -> tuple[float, float]:
    """``(low, high)`` Hz of every selection; ``high`` defaults to ``sr / 2``."""

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


def check_column_names(class_column, score_column, label_column) -> list[str]:
    """The extra column names (class, score, label if given): valid, distinct, free of the standard ones."""
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
        if arg != "score_column" and column_kind(value, "") != "text":
            msg = (
                f"{arg}={value!r} ends in (s) or (Hz), which marks a measurement in seconds or Hz: read_raven would "
                "read its names as numbers; choose another name"
            )
            raise InvalidInputError(msg)
        taken.add(value)
        out.append(value)
    return out


def text_column(values: list, column: str, *, allow_empty: bool = False) -> list[str]:
    """A column of text cells, refusing tabs and line breaks; missing cells empty with ``allow_empty``."""
    out = []
    for i, v in enumerate(values):
        if type(v) is not str:
            if _tables.is_missing(v):
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


def float_column(values: list, column: str, *, allow_nan: bool = False) -> list[float]:
    """Floats of a table column; with ``allow_nan`` a NaN (or None) is kept as NaN (unknown)."""
    arr = np.asarray(values) if values else np.zeros(0)
    if arr.ndim == 1 and arr.dtype.kind in "iuf" and np.isfinite(arr).all():
        return arr.astype(np.float64).tolist()
    out = []
    for i, v in enumerate(values):
        if allow_nan and _tables.is_missing(v):
            out.append(math.nan)
            continue
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real) or not math.isfinite(v):
            msg = f"row {i} of the table: {column} = {v!r} is not a finite number"
            raise InvalidInputError(msg)
        out.append(float(v))
    return out


def sequence_offsets(durations, recordings: list[str]) -> dict[str, float]:
    """``{recording: seconds}`` at which each recording starts in the sequence ``durations``."""
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


def fixed(x: float) -> str:
    """``x`` with ``DECIMALS`` decimals, never ``-0.000000``."""
    text = f"{x:.{_tables.DECIMALS}f}"
    return text[1:] if text[0] == "-" and not text.strip("-0.") else text  # no "-0.000000"


def base_name(recording: str) -> str:
    """The file name of ``recording``, ``/`` and ``\\`` both separating folders."""
    return re.split(r"[\\/]", recording.rstrip("\\/"))[-1] or recording


def stem(recording: str) -> str:
    """The file name without its extension, characters that file systems refuse replaced by ``_``."""
    name = base_name(recording)
    if "." in name[1:]:
        name = name.rsplit(".", 1)[0]
    name = re.sub(r'[<>:"/\\|?*\x00-\x1f]', "_", name)  # "/" and "\\" only in a name of slashes alone
    return name or "recording"


# --------------------------------------------------------------------------- reading


def parse_table(text: str, path: Path, score_column: str) -> tuple[list[str], list[str], list[list]]:
    """``(header, kinds, columns)`` of a selection table's text; a kind is ``"int"``, ``"float"`` or ``"text"``."""
    lines = _LINE_END.split(text)
    if not lines or "Selection" not in lines[0].split("\t"):
        msg = f"{path} is not a Raven selection table: its first line has no 'Selection' column"
        raise InvalidInputError(msg)
    header = lines[0].split("\t")
    if len(set(header)) != len(header):
        dup = next(h for h in header if header.count(h) > 1)
        msg = f"{path}: the column {dup!r} appears twice in the header"
        raise InvalidInputError(msg)
    kinds = [column_kind(name, score_column) for name in header]
    cols: list[list] = [[] for _ in header]
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != len(header):
            msg = f"{path}, line {lineno}: {len(fields)} fields, but the header has {len(header)} columns"
            raise InvalidInputError(msg)
        for j, (value, kind) in enumerate(zip(fields, kinds)):
            cols[j].append(parse_field(value, kind, path, lineno, header[j]))
    return header, kinds, cols


def column_kind(name: str, score_column: str) -> str:
    """``"int"``, ``"float"`` or ``"text"``: how :func:`parse_field` reads the column ``name``."""
    if name in ("Selection", "Channel"):
        return "int"
    if name == score_column or name.endswith(("(s)", "(Hz)")):
        return "float"
    return "text"


def parse_field(value: str, kind: str, path: Path, lineno: int, column: str):
    """One field of a table as its column's kind; InvalidInputError naming the line otherwise."""
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


def decode_table(data: bytes, path: Path) -> str:
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
