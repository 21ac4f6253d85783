import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alwidget import export
from alwidget.errors import ExportError, InvalidInputError, MissingDependencyError
from alwidget.export import (
    labels_table,
    predictions_table,
    raven_file_names,
    read_raven,
    write_csv,
    write_raven,
)

HAVE_PANDAS = export._import_pandas() is not None

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
    names, columns = export._table_columns(table, "table")
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

    monkeypatch.setattr(export.os, "fsync", fail)
    with pytest.raises(ExportError, match="No space left on device") as info:
        write_csv(predictions_table(**small()), target)
    assert str(target) in str(info.value)
    assert target.read_text() == "original\n"
    assert [p.name for p in tmp_path.iterdir()] == ["p.csv"]


def test_interrupted_write_leaves_no_temp_file(tmp_path, monkeypatch):
    def interrupt(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(export.os, "fsync", interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_csv(predictions_table(**small()), tmp_path / "p.csv")
    assert list(tmp_path.iterdir()) == []


def test_unwritable_folder(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(export.tempfile, "mkstemp", refuse)
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
    assert names["x/a.wav"] == "a-" + export.hashlib.sha1(b"x/a.wav").hexdigest()[:8] + ".selections.txt"


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

    monkeypatch.setattr(export.os, "replace", replace_then_fail)
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
