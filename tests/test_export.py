import hashlib
import importlib.util
import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alwidget import ActiveLearner, _app_data, export
from alwidget.errors import AlwidgetError, ExportError, InvalidInputError, JournalWarning, MissingDependencyError
from alwidget.export import (
    labels_table,
    predictions_table,
    raven_file_names,
    read_raven,
    write_csv,
    write_raven,
)

HAVE_PANDAS = importlib.util.find_spec("pandas") is not None

RAVEN_HEADER = "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)"


def small(**overrides):
    """Four windows of two recordings, given out of order; two labelled."""
    kwargs = dict(
        ids=["w3", "w0", "w1", 7],
        recordings=["b/rec2.wav", "a/rec1.wav", "a/rec1.wav", "a/rec1.wav"],
        starts=[0.0, 2.0, 0.0, 1.0],
        ends=[1.0, 3.0, 1.0, 2.0],
        proba=np.array([[0.1, 0.9], [0.6, 0.4], [0.25, 0.75], [0.5, 0.5]], dtype=np.float32),
        classes=["bell", "bird"],
        labels=[None, "bell", None, "unsure"],
        modes=[None, "search", None, "unsure"],
    )
    kwargs.update(overrides)
    return kwargs


EXPECTED_ROWS = [  # sorted by recording, then start
    ("w1", "a/rec1.wav", 0.0, 1.0, "bird", 0.75, None, None),
    (7, "a/rec1.wav", 1.0, 2.0, "bell", 0.5, "unsure", "unsure"),  # a tie goes to the first class
    ("w0", "a/rec1.wav", 2.0, 3.0, "bell", 0.6, "bell", "search"),
    ("w3", "b/rec2.wav", 0.0, 1.0, "bird", 0.9, None, None),
]


def rows_of(table):
    """Rows as tuples of plain Python values, from either form of table (probabilities rounded)."""
    if isinstance(table, np.ndarray):
        names, columns = list(table.dtype.names), [table[name].tolist() for name in table.dtype.names]
    else:  # a DataFrame
        names, columns = list(table.columns), [table[name].tolist() for name in table.columns]
    out = []
    for row in zip(*columns):
        out.append(tuple(round(v, 6) if isinstance(v, float) else v for v in row))
    return names, out


# --------------------------------------------------------------------------- predictions_table


def test_predictions_columns_and_values_numpy():
    table = predictions_table(**small(), as_frame=False)
    assert isinstance(table, np.ndarray)
    assert table.dtype.names == export.PREDICTION_COLUMNS
    names, rows = rows_of(table)
    assert names == ["id", "recording", "start", "end", "predicted", "probability", "label", "mode"]
    assert rows == EXPECTED_ROWS


def test_predictions_dataframe_same_values_as_numpy():
    pd = pytest.importorskip("pandas")
    frame = predictions_table(**small())
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == list(export.PREDICTION_COLUMNS)
    assert list(frame.index) == [0, 1, 2, 3]
    assert rows_of(frame) == rows_of(predictions_table(**small(), as_frame=False))
    assert frame["label"].isna().tolist() == [True, False, False, True]
    assert frame["start"].dtype == np.float64


def test_fallback_without_pandas_same_values(monkeypatch):
    expected = rows_of(predictions_table(**small(), as_frame=False))
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now raises ImportError
    table = predictions_table(**small())
    assert isinstance(table, np.ndarray)
    assert rows_of(table) == expected
    labels = labels_table(ids=["a"], indices=[0], labels=["x"])
    assert isinstance(labels, np.ndarray)


def test_as_frame_true_without_pandas_raises(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(MissingDependencyError, match="pip install pandas"):
        predictions_table(**small(), as_frame=True)
    with pytest.raises(MissingDependencyError, match="pip install pandas"):
        labels_table(ids=["a"], indices=[0], labels=["x"], as_frame=True)
    with pytest.raises(ImportError):  # also an ImportError, for `except ImportError`
        predictions_table(**small(), as_frame=True)


def test_threshold_keeps_detections_sorted():
    table = predictions_table(**small(), threshold=0.6, as_frame=False)
    _, rows = rows_of(table)
    assert rows == [EXPECTED_ROWS[0], EXPECTED_ROWS[2], EXPECTED_ROWS[3]]  # 0.6 >= 0.6 is kept
    assert len(predictions_table(**small(), threshold=1.0, as_frame=False)) == 0
    assert len(predictions_table(**small(), threshold=0.0, as_frame=False)) == 4


def test_empty_after_threshold_has_the_columns():
    table = predictions_table(**small(), threshold=1.0, as_frame=False)
    assert table.dtype.names == export.PREDICTION_COLUMNS
    if HAVE_PANDAS:
        frame = predictions_table(**small(), threshold=1.0)
        assert list(frame.columns) == list(export.PREDICTION_COLUMNS) and len(frame) == 0


def test_sort_is_stable_for_equal_recording_and_start():
    n = 6
    table = predictions_table(
        ids=list(range(n)),
        recordings=["r"] * n,
        starts=[0.0] * n,
        ends=[1.0] * n,
        proba=np.full((n, 1), 1.0),
        classes=["x"],
        as_frame=False,
    )
    assert table["id"].tolist() == list(range(n))


def test_no_labels_gives_none():
    table = predictions_table(**small(labels=None, modes=None), as_frame=False)
    assert table["label"].tolist() == [None] * 4 and table["mode"].tolist() == [None] * 4


def test_nan_labels_are_missing():
    table = predictions_table(**small(labels=[float("nan"), "bell", None, None]), as_frame=False)
    assert table["label"].tolist() == [None, None, "bell", None]


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"ids": ["a", "b"]}, "ids has 2 values"),
        ({"ids": ["a", "b", 1.5, "c"]}, r"ids\[2\]"),
        ({"recordings": ["r"] * 3}, "recordings has 3 values"),
        ({"recordings": ["r", "r", "", "r"]}, r"recordings\[2\]"),
        ({"starts": [0, 1, 2]}, "starts has 3 values"),
        ({"starts": [0, "1", 2, 3]}, r"starts\[1\]"),
        ({"starts": [0, -1.0, 0, 0]}, r"starts\[1\]"),
        ({"ends": [1.0, 3.0, float("inf"), 2.0]}, r"ends\[2\]"),
        ({"ends": [1.0, 1.0, 1.0, 2.0]}, r"ends\[1\] = 1.0 is before starts\[1\]"),
        ({"proba": np.ones(4)}, "proba must be 2-D"),
        ({"proba": np.ones((4, 3)) / 3}, "3 columns but there are 2 classes"),
        ({"proba": np.array([[0.5, 0.5], [np.nan, 1], [0, 1], [1, 0]])}, "row 1, column 0"),
        ({"proba": np.array([[0.5, 0.5], [0.5, 1.5], [0, 1], [1, 0]])}, "outside"),
        ({"proba": [["a", "b"]] * 4}, "real numbers"),
        ({"classes": ["x", "x"]}, "duplicate"),
        ({"labels": ["a"]}, "labels has 1 values"),
        ({"labels": [None, 1.5, None, None]}, r"labels\[1\]"),
        ({"modes": [None, 3, None, None]}, r"modes\[1\]"),
        ({"threshold": 1.5}, "threshold"),
        ({"threshold": float("nan")}, "threshold"),
        ({"threshold": True}, "threshold"),
        ({"as_frame": "yes"}, "as_frame"),
        ({"ids": "abcd"}, "ids must be a 1-D sequence"),
    ],
)
def test_invalid_arguments(change, needle):
    with pytest.raises(InvalidInputError, match=needle):
        predictions_table(**small(**change))


def test_threshold_must_be_a_float_in_unit_interval_and_accepts_numpy():
    table = predictions_table(**small(), threshold=np.float32(0.7), as_frame=False)
    assert len(table) == 2


def test_numpy_inputs_accepted():
    table = predictions_table(
        **small(
            ids=np.array([3, 0, 1, 2]),
            recordings=np.array(["b", "a", "a", "a"]),
            starts=np.array([0, 2, 0, 1], dtype=np.int32),
            ends=np.array([1, 3, 1, 2], dtype=np.float32),
        ),
        as_frame=False,
    )
    assert table["id"].tolist() == [1, 2, 0, 3]
    assert all(type(v) is int for v in table["id"])
    assert all(type(v) is str for v in table["recording"])


# --------------------------------------------------------------------------- labels_table


def test_labels_table_columns_and_values():
    table = labels_table(
        ids=["a", "b", 5],
        indices=np.array([4, 0, 2]),
        labels=["bird", "unsure", 3],
        modes=["active", "unsure", None],
        times=[1764040000.5, None, 1764040001],
        as_frame=False,
    )
    assert table.dtype.names == ("id", "index", "label", "mode", "time")
    assert table["id"].tolist() == ["a", "b", 5]
    assert table["index"].tolist() == [4, 0, 2]
    assert table["label"].tolist() == ["bird", "unsure", 3]
    assert table["mode"].tolist() == ["active", "unsure", None]
    assert table["time"][0] == 1764040000.5 and math.isnan(table["time"][1])
    if HAVE_PANDAS:
        frame = labels_table(
            ids=["a", "b", 5],
            indices=[4, 0, 2],
            labels=["bird", "unsure", 3],
            modes=["active", "unsure", None],
            times=[1764040000.5, None, 1764040001],
        )
        assert list(frame.columns) == ["id", "index", "label", "mode", "time"]
        assert frame["index"].tolist() == [4, 0, 2]


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"indices": [0, -1]}, r"indices\[1\]"),
        ({"indices": [0, 1.0]}, r"indices\[1\]"),
        ({"labels": ["x", None]}, r"labels\[1\] is missing"),
        ({"ids": ["a"]}, "ids has 1 values"),
        ({"times": [0.0, "noon"]}, r"times\[1\]"),
        ({"modes": ["active", ""]}, r"modes\[1\]"),
    ],
)
def test_labels_table_invalid(change, needle):
    kwargs = {"ids": ["a", "b"], "indices": [0, 1], "labels": ["x", "y"], **change}
    with pytest.raises(InvalidInputError, match=needle):
        labels_table(**kwargs)


def test_labels_csv(tmp_path):
    table = labels_table(
        ids=["a", 7], indices=[3, 1], labels=["bird", "unsure"], modes=["search", "unsure"], times=[1.25, None]
    )
    write_csv(table, tmp_path / "labels.csv")
    assert (
        tmp_path / "labels.csv"
    ).read_bytes() == b"id,index,label,mode,time\na,3,bird,search,1.25\n7,1,unsure,unsure,\n"


# --------------------------------------------------------------------------- CSV

EXPECTED_CSV = (
    "id,recording,start,end,predicted,probability,label,mode\n"
    "w1,a/rec1.wav,0.0,1.0,bird,0.75,,\n"
    "7,a/rec1.wav,1.0,2.0,bell,0.5,unsure,unsure\n"
    "w0,a/rec1.wav,2.0,3.0,bell,0.6,bell,search\n"  # float32 0.6 is printed rounded to 6 decimals
    "w3,b/rec2.wav,0.0,1.0,bird,0.9,,\n"
)


@pytest.mark.parametrize("as_frame", [False, None])
def test_csv_content_exact(tmp_path, as_frame):
    table = predictions_table(**small(), as_frame=as_frame)
    out = write_csv(table, tmp_path / "p.csv")
    assert out == tmp_path / "p.csv"
    assert out.read_bytes() == EXPECTED_CSV.encode("utf-8")


def test_csv_quotes_and_unicode(tmp_path):
    table = predictions_table(
        ids=['a,"b"'], recordings=["ça va.wav"], starts=[0.1 + 0.2], ends=[1e-7 + 1], proba=[[1.0]], classes=["x y"]
    )
    write_csv(table, tmp_path / "q.csv")
    text = (tmp_path / "q.csv").read_text(encoding="utf-8")
    assert text.splitlines()[1] == '"a,""b""",ça va.wav,0.3,1.0,x y,1.0,,'


def test_csv_from_list_of_dicts(tmp_path):
    write_csv([{"a": 1, "b": -0.0}, {"a": None, "b": 2.123456789}], tmp_path / "d.csv")
    assert (tmp_path / "d.csv").read_text() == "a,b\n1,0.0\n,2.123457\n"


def test_csv_rejects_other_tables(tmp_path):
    with pytest.raises(InvalidInputError, match="DataFrame"):
        write_csv({"a": [1]}, tmp_path / "x.csv")
    with pytest.raises(InvalidInputError, match="path"):
        write_csv(predictions_table(**small()), 3)
    assert list(tmp_path.iterdir()) == []


def test_export_error_on_missing_folder(tmp_path):
    table = predictions_table(**small())
    with pytest.raises(ExportError, match="does not exist") as info:
        write_csv(table, tmp_path / "nope" / "p.csv")
    assert str(tmp_path / "nope") in str(info.value)
    assert isinstance(info.value, OSError)
    with pytest.raises(ExportError, match="is a folder"):
        write_csv(table, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_original_and_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "p.csv"
    target.write_text("original\n")

    def fail(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(ExportError, match="No space left on device") as info:
        write_csv(predictions_table(**small()), target)
    assert str(target) in str(info.value)
    assert target.read_text() == "original\n"
    assert [p.name for p in tmp_path.iterdir()] == ["p.csv"]


def test_interrupted_write_leaves_no_temp_file(tmp_path, monkeypatch):
    def interrupt(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_csv(predictions_table(**small()), tmp_path / "p.csv")
    assert list(tmp_path.iterdir()) == []


def test_unwritable_folder(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(ExportError, match="Permission denied"):
        write_raven(predictions_table(**small()), tmp_path / "t.txt", sr=16000)
    assert list(tmp_path.iterdir()) == []


def test_new_file_is_readable_by_others(tmp_path):
    out = write_csv(predictions_table(**small()), tmp_path / "p.csv")
    assert out.stat().st_mode & 0o777 == 0o644


# --------------------------------------------------------------------------- Raven


def test_raven_combined_exact(tmp_path):
    table = predictions_table(**small())
    paths = write_raven(table, tmp_path / "all.txt", sr=16000, low_freq=100)
    assert paths == [tmp_path / "all.txt"]
    head = "1\tSpectrogram 1\t1\t"
    band = "\t100.000000\t8000.000000\t"
    assert (tmp_path / "all.txt").read_text(encoding="utf-8") == (
        RAVEN_HEADER + "\tBegin Path\tBegin File\tFile Offset (s)\tClass\tScore\n"
        f"{head}0.000000\t1.000000{band}a/rec1.wav\trec1.wav\t0.000000\tbird\t0.750000\n"
        f"2{head[1:]}1.000000\t2.000000{band}a/rec1.wav\trec1.wav\t1.000000\tbell\t0.500000\n"
        f"3{head[1:]}2.000000\t3.000000{band}a/rec1.wav\trec1.wav\t2.000000\tbell\t0.600000\n"
        f"4{head[1:]}0.000000\t1.000000{band}b/rec2.wav\trec2.wav\t0.000000\tbird\t0.900000\n"
    )


def test_raven_combined_cumulative_with_durations(tmp_path):
    table = predictions_table(**small())
    write_raven(table, tmp_path / "all.txt", high_freq=5000, durations={"a/rec1.wav": 3.5, "b/rec2.wav": 2.0})
    rows = read_raven(tmp_path / "all.txt", as_frame=False)
    assert [r["Begin Time (s)"] for r in rows] == [0.0, 1.0, 2.0, 3.5]
    assert [r["End Time (s)"] for r in rows] == [1.0, 2.0, 3.0, 4.5]
    assert [r["File Offset (s)"] for r in rows] == [0.0, 1.0, 2.0, 0.0]
    # the sequence order is that of durations, not of the table
    write_raven(table, tmp_path / "rev.txt", high_freq=5000, durations={"b/rec2.wav": 2.0, "a/rec1.wav": 3.5})
    rows = read_raven(tmp_path / "rev.txt", as_frame=False)
    assert [r["Begin Time (s)"] for r in rows] == [2.0, 3.0, 4.0, 0.0]
    with pytest.raises(InvalidInputError, match="no entry for the recording 'b/rec2.wav'"):
        write_raven(table, tmp_path / "x.txt", high_freq=5000, durations={"a/rec1.wav": 3.5})


def test_raven_header_columns_configurable(tmp_path):
    table = predictions_table(**small())
    write_raven(
        table,
        tmp_path / "t.txt",
        sr=22050,
        class_column="Species",
        score_column="Confidence",
        label_column="Label",
        per_recording=False,
    )
    lines = (tmp_path / "t.txt").read_text().split("\n")
    assert lines[0] == RAVEN_HEADER + "\tBegin Path\tBegin File\tFile Offset (s)\tSpecies\tConfidence\tLabel"
    assert lines[1].split("\t")[6] == "11025.000000"
    assert [line.split("\t")[-1] for line in lines[1:-1]] == ["", "unsure", "bell", ""]
    rows = read_raven(tmp_path / "t.txt", score_column="Confidence", as_frame=False)
    assert rows[1]["Confidence"] == 0.5 and rows[1]["Label"] == "unsure"


def test_raven_per_recording_exact_and_names(tmp_path):
    table = predictions_table(**small())
    paths = write_raven(table, tmp_path, per_recording=True, high_freq=8000)
    assert paths == [tmp_path / "rec1.selections.txt", tmp_path / "rec2.selections.txt"]
    assert paths[0].read_text() == (
        RAVEN_HEADER + "\tClass\tScore\n"
        "1\tSpectrogram 1\t1\t0.000000\t1.000000\t0.000000\t8000.000000\tbird\t0.750000\n"
        "2\tSpectrogram 1\t1\t1.000000\t2.000000\t0.000000\t8000.000000\tbell\t0.500000\n"
        "3\tSpectrogram 1\t1\t2.000000\t3.000000\t0.000000\t8000.000000\tbell\t0.600000\n"
    )
    assert paths[1].read_text() == (
        RAVEN_HEADER
        + "\tClass\tScore\n1\tSpectrogram 1\t1\t0.000000\t1.000000\t0.000000\t8000.000000\tbird\t0.900000\n"
    )


def test_raven_file_names_disambiguate_equal_stems():
    recs = ["x/a.wav", "y/a.wav", "y/A.flac", "z/b.wav", r"C:\data\c.WAV", ".hidden", "noext", "d/e.f.wav"]
    names = raven_file_names(recs)
    assert names["z/b.wav"] == "b.selections.txt"
    assert names[r"C:\data\c.WAV"] == "c.selections.txt"
    assert names[".hidden"] == ".hidden.selections.txt"
    assert names["noext"] == "noext.selections.txt"
    assert names["d/e.f.wav"] == "e.f.selections.txt"
    clashing = [names[r] for r in ("x/a.wav", "y/a.wav", "y/A.flac")]
    assert len({n.casefold() for n in clashing}) == 3
    assert all(n.startswith(("a-", "A-")) and n.endswith(".selections.txt") for n in clashing)
    # deterministic, and independent of the other recordings exported with it
    assert raven_file_names(["y/a.wav", "x/a.wav"])["x/a.wav"] == names["x/a.wav"]
    assert names["x/a.wav"] == "a-" + hashlib.sha1(b"x/a.wav").hexdigest()[:8] + ".selections.txt"


def test_raven_per_recording_equal_stems(tmp_path):
    table = predictions_table(
        ids=[0, 1], recordings=["x/a.wav", "y/a.wav"], starts=[0, 0], ends=[1, 1], proba=[[1.0], [1.0]], classes=["c"]
    )
    paths = write_raven(table, tmp_path, per_recording=True, sr=8000)
    assert len(set(paths)) == 2 and sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)


@pytest.mark.parametrize("as_frame", [False, None])
def test_raven_round_trip_combined(tmp_path, as_frame):
    table = predictions_table(**small())
    write_raven(table, tmp_path / "all.txt", sr=16000)
    back = read_raven(tmp_path / "all.txt", as_frame=as_frame)
    rows = back if isinstance(back, list) else back.to_dict("records")
    assert [r["Selection"] for r in rows] == [1, 2, 3, 4]
    assert [r["Begin Time (s)"] for r in rows] == [0.0, 1.0, 2.0, 0.0]
    assert [r["End Time (s)"] for r in rows] == [1.0, 2.0, 3.0, 1.0]
    assert [r["Class"] for r in rows] == ["bird", "bell", "bell", "bird"]
    assert [r["Score"] for r in rows] == [0.75, 0.5, 0.6, 0.9]
    assert [r["Begin Path"] for r in rows] == ["a/rec1.wav"] * 3 + ["b/rec2.wav"]
    assert {r["View"] for r in rows} == {"Spectrogram 1"} and {r["Channel"] for r in rows} == {1}
    assert all(type(r["Selection"]) is int for r in rows if isinstance(back, list))


def test_raven_round_trip_per_recording(tmp_path):
    table = predictions_table(**small(), as_frame=False)
    paths = write_raven(table, tmp_path, per_recording=True, sr=16000)
    for path, rec in zip(paths, ["a/rec1.wav", "b/rec2.wav"]):
        mine = table[table["recording"] == rec]
        rows = read_raven(path, as_frame=False)
        assert [r["Selection"] for r in rows] == list(range(1, len(mine) + 1))
        assert [r["Begin Time (s)"] for r in rows] == mine["start"].tolist()
        assert [r["End Time (s)"] for r in rows] == mine["end"].tolist()
        assert [r["Class"] for r in rows] == mine["predicted"].tolist()
        assert np.allclose([r["Score"] for r in rows], mine["probability"], atol=1e-6)


def test_raven_empty_table(tmp_path):
    table = predictions_table(**small(), threshold=1.0)
    assert write_raven(table, tmp_path, per_recording=True, sr=16000) == []
    write_raven(table, tmp_path / "all.txt", sr=16000)
    assert (tmp_path / "all.txt").read_text().count("\n") == 1
    assert read_raven(tmp_path / "all.txt", as_frame=False) == []


def test_raven_invalid_arguments(tmp_path):
    table = predictions_table(**small())
    with pytest.raises(InvalidInputError, match="high_freq= .* or sr="):
        write_raven(table, tmp_path / "t.txt")
    with pytest.raises(InvalidInputError, match="above low_freq"):
        write_raven(table, tmp_path / "t.txt", high_freq=100, low_freq=200)
    with pytest.raises(InvalidInputError, match="sr"):
        write_raven(table, tmp_path / "t.txt", sr=-1)
    with pytest.raises(InvalidInputError, match="class_column"):
        write_raven(table, tmp_path / "t.txt", sr=8000, class_column="a\tb")
    with pytest.raises(InvalidInputError, match="clashes"):
        write_raven(table, tmp_path / "t.txt", sr=8000, score_column="Begin Time (s)")
    with pytest.raises(InvalidInputError, match="no column 'label'"):
        write_raven(
            [{"recording": "r", "start": 0, "end": 1, "predicted": "x", "probability": 1.0}],
            tmp_path / "t.txt",
            sr=8000,
            label_column="L",
        )
    with pytest.raises(InvalidInputError, match="0 <= start <= end"):
        rows = [{"recording": "r", "start": -1.0, "end": 1, "predicted": "x", "probability": 1.0}]
        write_raven(rows, tmp_path / "t.txt", sr=8000)
    with pytest.raises(InvalidInputError, match="probability"):
        rows = [{"recording": "r", "start": 0.0, "end": 1, "predicted": "x", "probability": float("nan")}]
        write_raven(rows, tmp_path / "t.txt", sr=8000)
    bad = predictions_table(**small(classes=["be\tll", "bird"]))
    with pytest.raises(InvalidInputError, match="tab"):
        write_raven(bad, tmp_path / "t.txt", sr=8000)
    with pytest.raises(ExportError, match="existing folder"):
        write_raven(table, tmp_path / "missing", per_recording=True, sr=8000)
    with pytest.raises(ExportError, match="does not exist"):
        write_raven(table, tmp_path / "missing" / "t.txt", sr=8000)
    assert list(tmp_path.iterdir()) == []


def test_raven_per_recording_failure_leaves_nothing_new(tmp_path, monkeypatch):
    (tmp_path / "rec2.selections.txt").write_text("old\n")
    real_replace = os.replace
    calls = []

    def replace_then_fail(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(5, "Input/output error")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace_then_fail)
    with pytest.raises(ExportError, match="Input/output error"):
        write_raven(predictions_table(**small()), tmp_path, per_recording=True, sr=8000)
    assert [p.name for p in tmp_path.iterdir()] == ["rec2.selections.txt"]  # rec1's new table was removed
    assert (tmp_path / "rec2.selections.txt").read_text() == "old\n"


def test_read_raven_rejects_bad_files(tmp_path):
    (tmp_path / "a.txt").write_text("a,b\n1,2\n")
    with pytest.raises(InvalidInputError, match="not a Raven selection table"):
        read_raven(tmp_path / "a.txt")
    (tmp_path / "b.txt").write_text(RAVEN_HEADER + "\n1\tSpectrogram 1\t1\t0\n")
    with pytest.raises(InvalidInputError, match="line 2: 4 fields"):
        read_raven(tmp_path / "b.txt")
    (tmp_path / "c.txt").write_text(RAVEN_HEADER + "\n1\tSpectrogram 1\t1\tzero\t1\t0\t100\n")
    with pytest.raises(InvalidInputError, match="line 2: Begin Time"):
        read_raven(tmp_path / "c.txt")


def test_read_raven_accepts_raven_files(tmp_path):
    # as Raven writes them: CRLF, a byte-order mark, more measurements than ours
    text = (
        "\ufeff"
        + RAVEN_HEADER
        + "\tDelta Time (s)\tAnnotation\r\n1\tSpectrogram 1\t1\t1.5\t2.25\t0\t8000\t0.75\t1\r\n\r\n"
    )
    (tmp_path / "r.txt").write_bytes(text.encode("utf-8"))
    rows = read_raven(tmp_path / "r.txt", as_frame=False)
    assert rows == [
        {
            "Selection": 1,
            "View": "Spectrogram 1",
            "Channel": 1,
            "Begin Time (s)": 1.5,
            "End Time (s)": 2.25,
            "Low Freq (Hz)": 0.0,
            "High Freq (Hz)": 8000.0,
            "Delta Time (s)": 0.75,
            "Annotation": "1",
        }
    ]


def test_read_raven_dataframe_matches_list():
    pd = pytest.importorskip("pandas")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.txt"
        write_raven(predictions_table(**small()), path, sr=16000, label_column="Label")
        frame = read_raven(path)
        assert isinstance(frame, pd.DataFrame)
        assert frame["Selection"].dtype == np.int64 and frame["Score"].dtype == np.float64
        assert frame.to_dict("records") == read_raven(path, as_frame=False)


# --------------------------------------------------------------------------- property: round trip

recording_names = st.sampled_from(["a.wav", "b/a.wav", "c.flac", "d/e/f.wav", "Ü.wav"])


@st.composite
def random_tables(draw):
    n = draw(st.integers(0, 25))
    recs = draw(st.lists(recording_names, min_size=n, max_size=n))
    starts = draw(st.lists(st.floats(0, 1e5, allow_nan=False), min_size=n, max_size=n))
    lengths = draw(st.lists(st.floats(0, 60, allow_nan=False), min_size=n, max_size=n))
    proba = draw(st.lists(st.floats(0, 1), min_size=2 * n, max_size=2 * n))
    threshold = draw(st.none() | st.floats(0, 1))
    return predictions_table(
        ids=list(range(n)),
        recordings=recs,
        starts=starts,
        ends=[s + d for s, d in zip(starts, lengths)],
        proba=np.array(proba, dtype=np.float64).reshape(n, 2),
        classes=["x", 1],
        threshold=threshold,
        as_frame=False,
    )


@settings(max_examples=60, deadline=None)
@given(random_tables(), st.booleans())
def test_raven_round_trip_property(table, with_durations):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        durations = None
        if with_durations:
            durations = {rec: 1e5 + 61.0 for rec in ["a.wav", "b/a.wav", "c.flac", "d/e/f.wav", "Ü.wav"]}
        write_raven(table, tmp / "all.txt", sr=32000, durations=durations)
        rows = read_raven(tmp / "all.txt", as_frame=False)
        assert len(rows) == len(table)
        assert [r["Selection"] for r in rows] == list(range(1, len(table) + 1))
        assert [r["Begin Path"] for r in rows] == table["recording"].tolist()  # same order
        offsets = np.zeros(len(table))
        if durations:
            position = {rec: k for k, rec in enumerate(durations)}
            offsets = np.array([position[r] * (1e5 + 61.0) for r in table["recording"]])
        assert np.allclose([r["File Offset (s)"] for r in rows], table["start"], rtol=0, atol=1e-6)
        assert np.allclose([r["Begin Time (s)"] for r in rows], table["start"] + offsets, rtol=0, atol=1e-6)
        assert np.allclose([r["End Time (s)"] for r in rows], table["end"] + offsets, rtol=0, atol=1e-6)
        assert np.allclose([r["Score"] for r in rows], table["probability"], rtol=0, atol=1e-6)
        assert [r["Class"] for r in rows] == [str(c) for c in table["predicted"]]

        paths = write_raven(table, tmp, per_recording=True, sr=32000)
        assert sum(len(read_raven(p, as_frame=False)) for p in paths) == len(table)
        names = raven_file_names(list(dict.fromkeys(table["recording"].tolist())))
        for rec, name in names.items():
            mine = table[table["recording"] == rec]
            rows = read_raven(tmp / name, as_frame=False)
            assert np.allclose([r["Begin Time (s)"] for r in rows], mine["start"], rtol=0, atol=1e-6)
            assert np.allclose([r["End Time (s)"] for r in rows], mine["end"], rtol=0, atol=1e-6)


# --------------------------------------------------------------------------- names with line separators

# str.splitlines() splits on all of these; a Raven table is split on real newlines only
LINE_SEPARATORS = "\v\f\x1c\x1d\x1e\x85\u2028\u2029"


def test_raven_round_trip_of_names_with_unicode_line_separators(tmp_path):
    for sep in LINE_SEPARATORS:
        rec = f"site{sep}1/rec{sep}2.wav"
        table = predictions_table(
            **small(
                recordings=[rec, "a.wav", "a.wav", rec],
                classes=[f"be{sep}ll", "bird"],
                labels=[None, f"x{sep}y", None, sep + "z"],
            )
        )
        write_raven(table, tmp_path / "t.txt", sr=8000, class_column=f"C{sep}", label_column=f"L{sep}")
        rows = read_raven(tmp_path / "t.txt", as_frame=False)
        assert [r["Begin Path"] for r in rows] == table["recording"].tolist()
        assert [r["Begin File"] for r in rows] == [r.rsplit("/", 1)[-1] for r in table["recording"]]
        assert [r[f"C{sep}"] for r in rows] == table["predicted"].tolist()
        assert [r[f"L{sep}"] for r in rows] == [v or "" for v in table["label"]]
        (path,) = write_raven(table[table["recording"] == rec], tmp_path, per_recording=True, sr=8000)
        assert path.parent == tmp_path and path.name == f"rec{sep if sep >= ' ' else '_'}2.selections.txt"
        assert [r["Class"] for r in read_raven(path, as_frame=False)] == ["bird", f"be{sep}ll"]


def test_raven_still_refuses_tabs_and_newlines_naming_the_value(tmp_path):
    for bad in ("be\tll", "be\nll", "be\rll"):
        table = predictions_table(**small(classes=[bad, "bird"]))
        with pytest.raises(InvalidInputError, match=repr(bad).replace("\\", "\\\\")):
            write_raven(table, tmp_path / "t.txt", sr=8000)
    assert list(tmp_path.iterdir()) == []


def test_raven_per_recording_name_of_a_slash_only_recording_stays_in_the_folder(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    rows = [{"recording": "///", "start": 0.0, "end": 1.0, "predicted": "x", "probability": 1.0}]
    (path,) = write_raven(rows, folder, per_recording=True, sr=8000)
    assert path.parent == folder and path.exists()
    assert [p.parent for p in tmp_path.rglob("*.txt")] == [folder]


def test_raven_text_columns_cannot_be_named_as_measurements(tmp_path):
    table = predictions_table(**small())
    for name in ("Label (s)", "Class (Hz)"):
        with pytest.raises(InvalidInputError, match=r"label_column='Label \(s\)'|class_column='Class \(Hz\)'"):
            write_raven(table, tmp_path / "t.txt", sr=8000, **{"label_column" if "L" in name else "class_column": name})
    write_raven(table, tmp_path / "t.txt", sr=8000, score_column="Score (s)")  # a number: read back as one
    assert read_raven(tmp_path / "t.txt", score_column="x", as_frame=False)[0]["Score (s)"] == 0.75


def test_raven_lone_surrogate_is_a_clear_error(tmp_path):
    table = predictions_table(**small(classes=["be\ud800ll", "bird"]))
    with pytest.raises(InvalidInputError, match="UTF-8"):
        write_raven(table, tmp_path / "t.txt", sr=8000)
    with pytest.raises(InvalidInputError, match="UTF-8"):
        write_csv(table, tmp_path / "t.csv")
    assert list(tmp_path.iterdir()) == []


cell_texts = st.text(
    alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\t\r\n")
    | st.sampled_from(list(LINE_SEPARATORS)),
    min_size=1,
    max_size=8,
).filter(lambda s: s.strip())


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(cell_texts, st.none() | cell_texts), min_size=1, max_size=8),
    st.lists(cell_texts, min_size=2, max_size=2, unique=True),
    cell_texts,
)
def test_raven_round_trip_of_any_text_property(rows, classes, label_name):
    n = len(rows)
    table = predictions_table(
        ids=list(range(n)),
        recordings=[rec for rec, _ in rows],
        starts=[float(i) for i in range(n)],
        ends=[i + 1.5 for i in range(n)],
        proba=np.tile([0.25, 0.75], (n, 1)) if n % 2 else np.tile([0.75, 0.25], (n, 1)),
        classes=classes,
        labels=[label for _, label in rows],
        as_frame=False,
    )
    column = label_name + " label"  # a name ending in (s) or (Hz) is refused (a measurement)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_raven(table, tmp / "all.txt", sr=8000, label_column=column)
        back = read_raven(tmp / "all.txt", as_frame=False)
        assert [r["Begin Path"] for r in back] == table["recording"].tolist()
        assert [r["Class"] for r in back] == table["predicted"].tolist()
        assert [r[column] for r in back] == [v or "" for v in table["label"]]
        assert [r["End Time (s)"] for r in back] == table["end"].tolist()
        out = tmp / "per"
        out.mkdir()
        paths = write_raven(table, out, per_recording=True, sr=8000, label_column=column)
        assert {p.parent for p in paths} == {out} and len(set(paths)) == len(set(table["recording"].tolist()))
        back = [r for p in paths for r in read_raven(p, as_frame=False)]
        assert sorted(r[column] for r in back) == sorted(v or "" for v in table["label"])


# --------------------------------------------------------------------------- read_raven: encodings and errors

RAVEN_TEXT = RAVEN_HEADER + "\tAnnotation\r\n1\tSpectrogram 1\t1\t1.5\t2.25\t0\t8000\tGrünspecht – café\r\n"


@pytest.mark.parametrize(
    "encoding",
    ["utf-8", "utf-8-sig", "cp1252", "utf-16", "utf-16-le-bom", "utf-16-be-bom", "utf-16-le", "utf-16-be"],
)
def test_read_raven_decodes_windows_encodings(tmp_path, encoding):
    if encoding.endswith("-bom"):
        data = ("\ufeff" + RAVEN_TEXT).encode(encoding[: -len("-bom")])
    else:
        data = RAVEN_TEXT.encode(encoding)
    (tmp_path / "r.txt").write_bytes(data)
    rows = read_raven(tmp_path / "r.txt", as_frame=False)
    assert [(r["Selection"], r["Begin Time (s)"], r["Annotation"]) for r in rows] == [(1, 1.5, "Grünspecht – café")]
    assert list(rows[0]) == [*RAVEN_HEADER.split("\t"), "Annotation"]  # no byte-order mark left in a name


def test_read_raven_undecodable_file_is_a_clear_error(tmp_path):
    (tmp_path / "r.txt").write_bytes(RAVEN_TEXT.encode("cp1252") + b"\x81\n")  # 0x81: not in cp1252 either
    with pytest.raises(InvalidInputError, match=r"r\.txt.*UTF-8"):
        read_raven(tmp_path / "r.txt")
    (tmp_path / "s.txt").write_bytes(b"\xff\xfe" + RAVEN_TEXT.encode("utf-16-le") + b"\x00")  # odd length
    with pytest.raises(InvalidInputError, match=r"s\.txt.*UTF-16"):
        read_raven(tmp_path / "s.txt")


def test_read_raven_missing_file_or_folder_names_the_path(tmp_path):
    with pytest.raises(InvalidInputError, match=r"nope\.txt.*does not exist") as info:
        read_raven(tmp_path / "nope.txt")
    assert isinstance(info.value, AlwidgetError)
    with pytest.raises(InvalidInputError, match="is a folder") as info:
        read_raven(tmp_path)
    assert str(tmp_path) in str(info.value)


@pytest.mark.parametrize("as_frame", [False, pytest.param(None, marks=pytest.mark.skipif(not HAVE_PANDAS, reason=""))])
@pytest.mark.parametrize("value", [str(2**63), str(-(2**63) - 1), "1_0", "١", "--1"])
def test_read_raven_selection_beyond_int64_or_not_ascii_is_a_clear_error(tmp_path, value, as_frame):
    (tmp_path / "r.txt").write_text(RAVEN_HEADER + f"\n{value}\tSpectrogram 1\t1\t0\t1\t0\t100\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match=rf"r\.txt, line 2: Selection = '{value}'"):
        read_raven(tmp_path / "r.txt", as_frame=as_frame)


def test_read_raven_accepts_the_int64_bounds(tmp_path):
    lines = [f"{v}\tSpectrogram 1\t1\t0\t1\t0\t100" for v in (2**63 - 1, -(2**63), "+7", " 8 ")]
    (tmp_path / "r.txt").write_text(RAVEN_HEADER + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
    rows = read_raven(tmp_path / "r.txt", as_frame=False)
    assert [r["Selection"] for r in rows] == [2**63 - 1, -(2**63), 7, 8]
    if HAVE_PANDAS:
        assert read_raven(tmp_path / "r.txt")["Selection"].tolist() == [2**63 - 1, -(2**63), 7, 8]


# --------------------------------------------------------------------------- learner: import, predictions, export


def test_import_labels_with_unicode_digits_is_not_an_integer(tmp_path):
    path = tmp_path / "labels.csv"
    rows = ["0,0,²,active", "1,1,①,active", "2,2,٣,active", "3,3,--1,import"]
    path.write_text("id,index,label,mode\n" + "\n".join(rows) + "\n", encoding="utf-8")
    learner = ActiveLearner(np.eye(5, dtype=np.float32), [3, "a"])  # integer ids and an integer class
    assert learner.import_labels(path) == 4
    assert learner.labels == {0: "²", 1: "①", 2: "٣", 3: "--1"}  # names, not the class 3
    assert learner.classes == [3, "a", "²", "①", "٣", "--1"]

    rows = ["²,0,a,active", "①,1,a,active", "٣,2,a,active", "--1,3,a,active", "-0,4,a,active"]
    path.write_text("id,index,label,mode\n" + "\n".join(rows) + "\n", encoding="utf-8")
    learner = ActiveLearner(np.eye(5, dtype=np.float32), ["a"])
    with pytest.warns(JournalWarning, match=r"4 id\(s\) not in the pool.*'²', '①', '٣'"):
        assert learner.import_labels(path) == 1  # "-0" is the integer id 0
    assert learner.labels == {0: "a"}


def _fitted_learner(**kwargs):
    X = np.random.default_rng(3).normal(size=(6, 3)).astype(np.float32)
    learner = ActiveLearner(X, ["a", "b"], **kwargs)
    learner.teach([0, 1], ["a", "b"])
    learner.unsure(2)
    return learner


def test_predictions_of_a_learner_with_plain_ids(tmp_path):
    ids = [f"clip{i}.wav" for i in range(6)]
    table = _fitted_learner(ids=ids).predictions(as_frame=False)
    assert table["id"].tolist() == ids and table["recording"].tolist() == ids
    assert np.isnan(table["start"]).all() and np.isnan(table["end"]).all()
    assert table["label"].tolist()[:3] == ["a", "b", None] and table["mode"].tolist()[:3] == ["active"] * 2 + ["unsure"]
    write_csv(table, tmp_path / "p.csv")
    first = (tmp_path / "p.csv").read_text().splitlines()[1].split(",")
    assert first[:4] == ["clip0.wav", "clip0.wav", "", ""] and first[6:] == ["a", "active"]  # times left empty
    with pytest.raises(InvalidInputError, match=r"row 0.*start.*unknown.*dataset="):
        write_raven(table, tmp_path / "t.txt", sr=8000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.csv"]


def test_predictions_of_a_learner_with_window_ids():
    ids = ["b/rec.flac@12.5", "b/rec.flac@0.0", "a.wav@2", "odd@name.wav", "@3.5", "c.wav@1e400"]
    table = _fitted_learner(ids=ids).predictions(as_frame=False)
    got = {i: (rec, s) for i, rec, s in zip(table["id"], table["recording"], table["start"].tolist())}
    assert got["b/rec.flac@12.5"] == ("b/rec.flac", 12.5)
    assert got["b/rec.flac@0.0"] == ("b/rec.flac", 0.0)
    assert got["a.wav@2"] == ("a.wav", 2.0)
    for plain in ("odd@name.wav", "@3.5", "c.wav@1e400"):  # not a window id: the id is the recording
        assert got[plain][0] == plain and math.isnan(got[plain][1])
    assert np.isnan(table["end"]).all()  # the window length is not in the id
    assert table["recording"].tolist()[:3] == ["@3.5", "a.wav", "b/rec.flac"]
    assert table["start"].tolist()[1:4] == [2.0, 0.0, 12.5]  # sorted by recording, then start


def test_predictions_of_a_learner_without_ids():
    learner = _fitted_learner()
    for table in [learner.predictions(as_frame=False)] + ([learner.predictions()] if HAVE_PANDAS else []):
        assert list(table["id"]) == list(range(6))
        assert list(table["recording"]) == [str(i) for i in range(6)]
        assert np.isnan(np.asarray(table["start"], dtype=float)).all()
        assert np.isnan(np.asarray(table["end"], dtype=float)).all()
    assert len(learner.predictions(threshold=1.0, as_frame=False)) <= 6


def test_predictions_table_accepts_unknown_times_but_no_other_non_finite_ones():
    table = predictions_table(**small(starts=[0.0, math.nan, 0.0, 1.0], ends=[1.0, math.nan, math.nan, 2.0]))
    assert np.isnan(table["start"]).sum() == 1 and np.isnan(table["end"]).sum() == 2
    assert list(table["id"]) == ["w1", 7, "w0", "w3"]  # an unknown start sorts last within its recording
    for bad in (math.inf, -math.inf, -1.0):
        with pytest.raises(InvalidInputError, match=r"starts\[1\]"):
            predictions_table(**small(starts=[0.0, bad, 0.0, 1.0]))
        with pytest.raises(InvalidInputError, match=r"ends\[1\]"):
            predictions_table(**small(ends=[1.0, bad, 1.0, 2.0]))


def test_export_labels_of_an_undecodable_file_name_is_a_clear_error(tmp_path):
    learner = _fitted_learner(ids=["bad\udcff.wav"] + [f"c{i}" for i in range(5)])  # os.listdir of a non-UTF-8 name
    with pytest.raises(InvalidInputError, match=r"labels to .*labels\.csv.*lone surrogate"):
        learner.export_labels(tmp_path / "labels.csv")
    assert list(tmp_path.iterdir()) == []
    learner.export_labels(tmp_path / "labels.json")  # JSON escapes it: a round trip
    fresh = ActiveLearner(np.zeros((6, 3), dtype=np.float32), ["a", "b"], ids=learner.ids)
    assert fresh.import_labels(tmp_path / "labels.json") == 2 and fresh.labels == learner.labels
    with pytest.raises(InvalidInputError, match="path"):
        learner.export_labels(None)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
def test_export_labels_file_mode_like_the_other_writers(tmp_path):
    learner = _fitted_learner(ids=[f"c{i}" for i in range(6)])
    table = predictions_table(**small())
    old = os.umask(0o027)
    try:
        learner.export_labels(tmp_path / "labels.csv")
        learner.export_labels(tmp_path / "labels.json")
        write_csv(table, tmp_path / "p.csv")
        write_raven(table, tmp_path / "t.txt", sr=8000)
        _app_data.write_settings(tmp_path / "a.jsonl", {"window": 5.0})  # alwidget label's settings beside its journal
        with open(tmp_path / "plain.txt", "w") as f:  # what open() gives under this umask
            f.write("x")
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    written = ["labels.csv", "labels.json", "p.csv", "t.txt", "a.settings.json", "plain.txt"]
    assert modes == dict.fromkeys(written, 0o640)
    os.chmod(tmp_path / "a.settings.json", 0o600)
    _app_data.write_settings(tmp_path / "a.jsonl", {"window": 2.0})
    assert (tmp_path / "a.settings.json").stat().st_mode & 0o777 == 0o600  # a replaced file keeps its mode
    learner.export_labels(tmp_path / "labels.csv")  # default umask now (022): a new file is 0644
    assert (tmp_path / "labels.csv").stat().st_mode & 0o777 == 0o640  # a replaced file keeps its mode
    learner.export_labels(tmp_path / "new.csv")
    assert (tmp_path / "new.csv").stat().st_mode & 0o777 == 0o666 & ~old
