import errno
import fcntl
import gc
import io
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alwidget import ActiveLearner
from alwidget._journal import JournalWriter, encode, read
from alwidget.errors import AlwidgetError, InvalidInputError, JournalError, JournalLockedError, JournalWarning

X = np.arange(60, dtype=np.float32).reshape(20, 3)
CLASSES = ["bird", "bell"]


def state(learner):
    return (
        learner.labels,
        learner.skipped_idx.tolist(),
        learner.classes,
        [(e.kind, e.indices, e.labels, e.target) for e in learner.history],
    )


def test_every_event_is_on_disk_before_the_call_returns(tmp_path, monkeypatch):
    path = tmp_path / "labels.jsonl"
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    learner = ActiveLearner(X, CLASSES, journal=path)
    n = len(synced)
    learner.teach(3, "bird")
    assert len(synced) == n + 1
    records = read(path).records
    assert records[-1]["kind"] == "teach" and records[-1]["ids"] == [3] and records[-1]["labels"] == ["bird"]
    learner.skip([4, 5])
    learner.undo()
    learner.add_class("hum")
    assert [r["kind"] for r in read(path).records] == ["teach", "skip", "undo", "add_class"]
    assert len(synced) == n + 4
    assert read(path).header["n_pool"] == 20


def test_resume_rebuilds_the_exact_state_and_undo_keeps_working(tmp_path):
    path = tmp_path / "labels.jsonl"
    a = ActiveLearner(X, CLASSES, journal=path)
    a.teach([1, 2], ["bird", "bell"])
    a.skip(7)
    a.add_class("hum")
    a.teach(9, "hum")
    a.teach(10, "bird")
    a.undo()
    a.close_journal()

    b = ActiveLearner(X, CLASSES, journal=path)
    assert state(b) == state(a)
    assert b.journal == path
    # the undo history came back: the next undo reverts "teach 9 hum", then the skip
    assert b.undo().indices == (9,)
    assert b.undo().indices == (7,)
    b.teach(11, "bell")
    b.close_journal()
    c = ActiveLearner.from_journal(path, X)
    assert state(c) == state(b)
    assert c.classes == ["bird", "bell", "hum"]


def test_torn_last_line_is_reported_and_ignored(tmp_path):
    path = tmp_path / "labels.jsonl"
    a = ActiveLearner(X, CLASSES, journal=path)
    for i in range(5):
        a.teach(i, "bird")
    a.close_journal()
    line = encode({"kind": "teach", "seq": 99, "ids": [12], "idx": [12], "labels": ["bell"], "t": 0})
    with open(path, "ab") as f:
        f.write(line[: len(line) // 2])  # the process died mid-write
    with pytest.warns(JournalWarning, match="last line is incomplete"):
        b = ActiveLearner(X, CLASSES, journal=path)
    assert b.labels == {i: "bird" for i in range(5)}
    b.teach(6, "bell")  # appends cleanly after the cut
    b.close_journal()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = ActiveLearner(X, CLASSES, journal=path)
    assert c.labels == {**{i: "bird" for i in range(5)}, 6: "bell"}


def test_bad_checksum_is_reported_never_used(tmp_path):
    path = tmp_path / "labels.jsonl"
    a = ActiveLearner(X, CLASSES, journal=path)
    a.teach(1, "bird")
    a.teach(2, "bird")
    a.teach(3, "bird")
    a.close_journal()
    lines = path.read_bytes().split(b"\n")
    lines[2] = lines[2].replace(b'"labels":["bird"]', b'"labels":["bell"]')  # tampered, crc unchanged
    path.write_bytes(b"\n".join(lines))
    with pytest.warns(JournalWarning, match="line 3: bad checksum"):
        b = ActiveLearner(X, CLASSES, journal=path)
    assert b.labels == {1: "bird", 3: "bird"}


def test_a_lost_line_break_is_repaired(tmp_path):
    path = tmp_path / "labels.jsonl"
    a = ActiveLearner(X, CLASSES, journal=path)
    a.teach(1, "bird")
    a.teach(2, "bell")
    a.close_journal()
    data = bytearray(path.read_bytes())
    first_break = data.index(b"\n", data.index(b"\n") + 1)
    data[first_break] = ord("x")
    path.write_bytes(bytes(data))
    with pytest.warns(JournalWarning, match="line break was repaired"):
        b = ActiveLearner(X, CLASSES, journal=path)
    assert b.labels == {1: "bird", 2: "bell"}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ops=st.lists(
        st.one_of(
            st.tuples(
                st.just("teach"),
                st.lists(st.integers(0, 19), min_size=1, max_size=3, unique=True),
                st.sampled_from(["bird", "bell", "hum"]),
            ),
            st.tuples(st.just("skip"), st.lists(st.integers(0, 19), min_size=1, max_size=2, unique=True)),
            st.tuples(st.just("undo")),
            st.tuples(st.just("add_class"), st.sampled_from(["hum", "wind"])),
        ),
        max_size=25,
    ),
    corrupt_at=st.floats(0, 1),
    new_byte=st.integers(0, 255),
)
def test_any_event_sequence_round_trips_and_one_bad_byte_costs_at_most_one_record(ops, corrupt_at, new_byte):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "j.jsonl"
        a = ActiveLearner(X, CLASSES, journal=path)
        for op in ops:
            try:
                getattr(a, op[0])(*op[1:])
            except AlwidgetError:
                pass
        a.close_journal()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            b = ActiveLearner.from_journal(path, X)
        assert state(b) == state(a)
        b.close_journal()

        # corrupt one byte anywhere: at most that record is lost, and it is reported
        data = bytearray(path.read_bytes())
        pos = min(int(corrupt_at * len(data)), len(data) - 1)
        if data[pos] == new_byte:
            return
        data[pos] = new_byte
        path.write_bytes(bytes(data))
        good = {r["seq"] for r in read(path).records}
        original = {e["seq"] for e in read_clean(a)}
        contents = read(path)
        assert len(original - good) <= 1
        assert contents.problems or (contents.header is not None and good == original)


def read_clean(learner):
    return [learner._link.record_of(e, seq) for seq, e in enumerate(learner.history)]


def test_second_live_process_is_refused(tmp_path):
    path = tmp_path / "labels.jsonl"
    code = textwrap.dedent(
        f"""
        import sys, time, numpy as np
        from alwidget import ActiveLearner
        learner = ActiveLearner(np.zeros((20, 3), dtype="float32"), ["bird", "bell"], journal={str(path)!r})
        print("ready", flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        with pytest.raises(JournalLockedError, match="open in another running session"):
            ActiveLearner(np.zeros((20, 3), dtype="float32"), CLASSES).open_journal(path, takeover=False)
    finally:
        proc.kill()
        proc.wait()
    # the lock dies with its process: a kernel restart is not locked out
    ActiveLearner(np.zeros((20, 3), dtype="float32"), CLASSES, journal=path).close_journal()


def test_same_process_reopen_takes_over(tmp_path):
    path = tmp_path / "labels.jsonl"
    old = ActiveLearner(X, CLASSES, journal=path)
    old.teach(1, "bird")
    new = ActiveLearner(X, CLASSES, journal=path)  # re-running the notebook cell
    assert new.labels == {1: "bird"}
    # the superseded learner refuses (it never accepts a label it cannot write) and says where to continue
    assert "newer learner in this kernel" in old.journal_error
    for call in (lambda: old.teach(2, "bird"), lambda: old.skip(3), old.undo, lambda: old.add_class("hum")):
        with pytest.raises(JournalLockedError, match=r"newer learner in this kernel.*continue labelling in the newest"):
            call()
    assert old.labels == {1: "bird"} and old.skipped_idx.tolist() == [] and old.classes == CLASSES
    new.teach(2, "bell")
    records = read(path).records
    assert [r["ids"] for r in records if r["kind"] == "teach"] == [[1], [2]]  # one writer: each label once
    new.close_journal()


def test_disk_full_keeps_state_tells_the_user_and_catches_up(tmp_path, monkeypatch):
    path = tmp_path / "labels.jsonl"
    learner = ActiveLearner(X, CLASSES, journal=path)
    learner.teach(1, "bird")
    real_write = JournalWriter._write
    broken = {"on": True}

    def write(self, line):
        if broken["on"]:
            raise OSError(28, "No space left on device")
        real_write(self, line)

    monkeypatch.setattr(JournalWriter, "_write", write)
    with pytest.warns(JournalWarning, match="NOT being saved.*No space left"):
        learner.teach(2, "bell")
    learner.teach(3, "bell")  # warned once per failure streak, state still consistent
    assert learner.labels == {1: "bird", 2: "bell", 3: "bell"}
    assert "2 event(s) are kept in memory" in learner.journal_error
    broken["on"] = False
    learner.skip(4)
    assert learner.journal_error is None
    learner.close_journal()
    assert ActiveLearner(X, CLASSES, journal=path).labels == {1: "bird", 2: "bell", 3: "bell"}


def test_a_journal_of_another_pool_is_refused(tmp_path):
    path = tmp_path / "labels.jsonl"
    a = ActiveLearner(X, CLASSES, journal=path)
    a.teach(1, "bird")
    a.close_journal()
    with pytest.raises(JournalError, match="pool of 20 clips x 3 features.*different dataset"):
        ActiveLearner(X[:10], CLASSES, journal=path)
    with pytest.raises(JournalError, match="by .index. but this learner by .clip.; build the learner without ids"):
        ActiveLearner(X, CLASSES, ids=[f"c{i}" for i in range(20)], journal=path)

    clip = tmp_path / "clips.jsonl"
    b = ActiveLearner(X, CLASSES, ids=[f"a/{i}.wav" for i in range(20)], journal=clip)
    b.teach(1, "bird")
    b.close_journal()
    fresh = ActiveLearner(X, CLASSES, ids=[f"z/{i}.wav" for i in range(20)])
    with pytest.raises(JournalError, match="none of the 1 clips .* different dataset"):
        fresh.open_journal(clip)
    assert fresh.labels == {} and fresh.journal is None  # unchanged


def test_resume_maps_labels_by_clip_id_in_a_changed_folder(tmp_path):
    path = tmp_path / "labels.jsonl"
    ids = [f"clip{i:02d}.wav" for i in range(20)]
    a = ActiveLearner(X, CLASSES, ids=ids, journal=path)
    a.teach([0, 5], ["bird", "bell"])
    a.teach(7, "bell")
    a.close_journal()
    # the folder was re-ordered, clip05 deleted and two clips added
    new_ids = [i for i in reversed(ids) if i != "clip05.wav"] + ["new1.wav", "new2.wav"]
    Xn = np.arange(len(new_ids) * 3, dtype=np.float32).reshape(-1, 3)
    with pytest.warns(JournalWarning, match="1 labelled or skipped clip.*no longer in the pool: 'clip05.wav'"):
        b = ActiveLearner(Xn, CLASSES, ids=new_ids, journal=path)
    assert {new_ids[i]: c for i, c in b.labels.items()} == {"clip00.wav": "bird", "clip07.wav": "bell"}


def test_export_and_import_labels(tmp_path):
    a = ActiveLearner(X, CLASSES, ids=[f"c{i}" for i in range(20)])
    a.teach([1, 2], ["bird", "bell"])
    a.add_class("hum")
    a.teach(3, "hum")
    for name in ("labels.csv", "labels.json"):
        a.export_labels(tmp_path / name)
        b = ActiveLearner(X, CLASSES, ids=[f"c{i}" for i in range(20)])
        assert b.import_labels(tmp_path / name) == 3
        assert b.labels == a.labels and "hum" in b.classes
        b.undo()  # the import is one teach call
        assert b.labels == {}
    rows = (tmp_path / "labels.csv").read_text().splitlines()
    assert rows[0] == "id,index,label,mode" and rows[1] == "c1,1,bird,active"
    assert json.loads((tmp_path / "labels.json").read_text())["labels"][0] == {
        "id": "c1",
        "index": 1,
        "label": "bird",
        "mode": "active",
    }

    # warm start into a grown pool with a conflict: reported, nothing overwritten
    c = ActiveLearner(np.zeros((3, 3), dtype=np.float32), CLASSES, ids=["c1", "c2", "other"])
    c.teach(0, "bell")
    with pytest.warns(JournalWarning, match=r"1 id\(s\) not in the pool.*1 clip\(s\) already labelled differently"):
        assert c.import_labels(tmp_path / "labels.csv") == 1
    assert c.labels == {0: "bell", 1: "bell"}


def test_import_rejects_unreadable_files(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("no,columns\n1,2\n")
    with pytest.raises(ValueError, match="cannot read labels from .*bad.csv"):
        ActiveLearner(X, CLASSES).import_labels(bad)


def test_ids_are_validated():
    with pytest.raises(ValueError, match="got 2 ids for 20 clips"):
        ActiveLearner(X, CLASSES, ids=["a", "b"])
    with pytest.raises(ValueError, match="clip id 'a' appears more than once"):
        ActiveLearner(X, CLASSES, ids=["a"] * 20)


CHILD = """
import sys, numpy as np
from alwidget import ActiveLearner
path, start = sys.argv[1], int(sys.argv[2])
learner = ActiveLearner(np.arange(3000, dtype="float32").reshape(1000, 3), ["a", "b", "c"], journal=path)
print("ready", flush=True)
for i in range(start, 1000):
    learner.teach(i, "abc"[i % 3])
    print(f"ack {i}", flush=True)
"""


@pytest.mark.slow
def test_sigkill_at_random_moments_never_loses_an_acknowledged_label(tmp_path):
    path = tmp_path / "crash.jsonl"
    rng = np.random.default_rng(0)
    acked: set[int] = set()
    attempted = 0
    deadline = time.monotonic() + 60
    for _ in range(12):
        if time.monotonic() > deadline:
            break
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path), str(attempted)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(float(rng.uniform(0.0, 0.3)))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        acked |= {int(line.split()[1]) for line in out.splitlines() if line.startswith("ack")}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", JournalWarning)  # a torn last line is expected
            learner = ActiveLearner(np.arange(3000, dtype="float32").reshape(1000, 3), ["a", "b", "c"], journal=path)
        labels = learner.labels
        learner.close_journal()
        assert acked <= set(labels), "an acknowledged label was lost"
        assert all(labels[i] == "abc"[i % 3] for i in labels), "a label was invented or changed"
        assert set(labels) <= set(range(max(labels, default=-1) + 1))
        attempted = max(labels, default=-1) + 1
    assert len(acked) > 20  # the loop really ran between kills


# ---------------------------------------------------------------- issue 10 regressions
def test_reopening_the_journal_in_use_is_a_no_op_and_a_refused_open_keeps_it(tmp_path):
    path = tmp_path / "labels.jsonl"
    learner = ActiveLearner(X, CLASSES, journal=path)
    learner.teach(1, "bird")
    learner.open_journal(path)  # the widget does this when the learner was built with journal= too
    learner.open_journal(tmp_path / "." / "labels.jsonl")  # the same file under another name
    assert learner.journal == path
    learner.teach(2, "bell")

    other = tmp_path / "other.jsonl"
    o = ActiveLearner(X, CLASSES, journal=other)
    o.teach(5, "bird")
    o.close_journal()
    with pytest.raises(JournalError, match="already holds 1 events"):
        learner.open_journal(other)
    assert learner.journal == path  # still attached ...
    learner.teach(3, "bird")  # ... and working
    assert learner.journal_error is None
    learner.close_journal()
    assert ActiveLearner(X, CLASSES, journal=path).labels == {1: "bird", 2: "bell", 3: "bird"}
    assert ActiveLearner(X, CLASSES, journal=other).labels == {5: "bird"}


def test_undo_after_moving_to_a_new_journal_survives_its_resume(tmp_path):
    old = tmp_path / "old.jsonl"
    a = ActiveLearner(X, CLASSES, journal=old)
    a.teach(1, "bird")
    a.add_class("hum")
    a.teach(2, "hum")
    a.skip(3)
    a.close_journal()
    # "hum" is given up front now: its add_class event is skipped on resume, so the
    # positions in the history no longer match the event numbers of the old journal
    b = ActiveLearner(X, [*CLASSES, "hum"], journal=old)
    new = tmp_path / "new.jsonl"
    b.open_journal(new)
    assert b.undo().indices == (3,)
    assert b.undo().indices == (2,)
    b.teach(4, "bell")
    b.close_journal()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = ActiveLearner(X, [*CLASSES, "hum"], journal=new)
    assert state(c) == state(b)
    assert c.undo().indices == (4,)
    assert c.undo().indices == (1,)


@pytest.mark.parametrize(
    "content",
    [b"id,index,label\nc1,1,bird\nc2,2,be", b"some notes, no newline at the end", b'{"labels": []}\n', b"\n"],
)
def test_a_file_that_is_not_a_journal_is_refused_and_left_untouched(tmp_path, content):
    path = tmp_path / "labels.csv"
    path.write_bytes(content)
    os.utime(path, (1_000_000_000, 1_000_000_000))
    journal = tmp_path / "labels.jsonl"
    learner = ActiveLearner(X, CLASSES, journal=journal)
    learner.teach(1, "bird")
    with pytest.raises(JournalError, match="labels.csv is not an alwidget journal.*left unchanged"):
        ActiveLearner(X, CLASSES, journal=path)
    with pytest.raises(JournalError, match="not an alwidget journal"):
        learner.open_journal(path)
    assert path.read_bytes() == content
    assert path.stat().st_mtime == 1_000_000_000
    assert not list(tmp_path.glob("labels.csv?*"))  # no side file (lock, request) next to it either
    assert learner.journal == journal  # the refused open kept the journal in use
    learner.teach(2, "bird")
    assert read(journal).records[-1]["ids"] == [2]


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_a_link_cannot_bypass_the_lock(tmp_path, link):
    path = tmp_path / "labels.jsonl"
    other = tmp_path / f"via-{link}.jsonl"
    ActiveLearner(X, CLASSES, journal=path).close_journal()
    if link == "symlink":
        other.symlink_to(path)
    else:
        os.link(path, other)
    code = textwrap.dedent(
        """
        import sys, numpy as np
        from alwidget import ActiveLearner
        learner = ActiveLearner(np.arange(60, dtype="float32").reshape(20, 3), ["bird", "bell"], journal=sys.argv[1])
        print("ready", flush=True)
        sys.stdin.readline()
        learner.teach(1, "bird")
        print("taught", flush=True)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        with pytest.raises(JournalLockedError, match="open in another running session"):
            ActiveLearner(X, CLASSES).open_journal(other, takeover=False)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "taught"  # the holder still writes, alone
    finally:
        proc.kill()
        proc.wait()
    learner = ActiveLearner(X, CLASSES, journal=other)  # the lock died with its process
    assert learner.labels == {1: "bird"}
    learner.close_journal()


def test_a_crash_while_writing_the_header_is_repaired_on_resume(tmp_path):
    path = tmp_path / "labels.jsonl"
    big = np.arange(200, dtype=np.float32).reshape(50, 4)
    header = encode(
        {
            "kind": "header",
            "format": "alwidget-journal",
            "v": 1,
            "n_pool": 50,
            "dim": 4,
            "ids": "index",
            "classes": CLASSES,
            "t": 0,
        }
    )
    path.write_bytes(header[: len(header) // 2])  # the process died while writing the header
    with pytest.warns(JournalWarning, match="last line is incomplete"):
        a = ActiveLearner(big, CLASSES, journal=path)
    a.teach([20, 30], "bird")
    a.close_journal()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "header missing" on every later resume
        b = ActiveLearner(big, CLASSES, journal=path)
    assert b.labels == {20: "bird", 30: "bird"}
    b.close_journal()
    with pytest.raises(JournalError, match="pool of 50 clips x 4 features"):
        ActiveLearner(np.zeros((10, 7), dtype=np.float32), CLASSES, journal=path)


def test_a_journal_whose_header_is_lost_is_still_checked_against_the_pool(tmp_path):
    path = tmp_path / "labels.jsonl"
    big = np.arange(200, dtype=np.float32).reshape(50, 4)
    a = ActiveLearner(big, CLASSES, journal=path)
    a.teach([2, 30], "bird")
    a.teach(5, "bell")
    a.close_journal()
    path.write_bytes(path.read_bytes().split(b"\n", 1)[1])  # the header line is gone
    before = path.read_bytes()
    with pytest.raises(JournalError, match="no readable header.*clip 30.*pool of 10 clips"):
        ActiveLearner(np.zeros((10, 7), dtype=np.float32), CLASSES, journal=path)
    assert path.read_bytes() == before
    with pytest.warns(JournalWarning, match="header record is missing"):
        b = ActiveLearner(big, CLASSES, journal=path)
    assert b.labels == {2: "bird", 30: "bird", 5: "bell"}


class _Disk:
    """A disk with ``room`` bytes left (None: plenty); writes beyond it fail with ENOSPC after a partial write."""

    def __init__(self):
        self.room = None


class _QuotaFile(io.RawIOBase):
    def __init__(self, fd, disk):
        self._fd = fd
        self._disk = disk

    def writable(self):
        return True

    def seekable(self):
        return True

    def fileno(self):
        return self._fd

    def write(self, b):
        b = bytes(b)
        if self._disk.room is not None:
            if self._disk.room <= 0:
                raise OSError(errno.ENOSPC, "No space left on device")
            b = b[: self._disk.room]
            self._disk.room -= len(b)
        return os.write(self._fd, b)

    def seek(self, pos, whence=0):
        return os.lseek(self._fd, pos, whence)

    def tell(self):
        return os.lseek(self._fd, 0, os.SEEK_CUR)

    def truncate(self, size=None):
        os.ftruncate(self._fd, self.tell() if size is None else size)
        return size

    def close(self):
        if not self.closed:
            os.close(self._fd)
        super().close()


@pytest.fixture
def disk(monkeypatch):
    """Journal files written through a simulated disk that can run full (the OS-level writes fail)."""
    from alwidget import _journal

    disk = _Disk()

    monkeypatch.setattr(_journal, "_wrap_fd", lambda fd: _QuotaFile(fd, disk))  # the journal, not its side files
    return disk


def test_a_new_journal_on_a_full_disk_keeps_working_and_catches_up(tmp_path, disk):
    path = tmp_path / "labels.jsonl"
    disk.room = 0
    with pytest.warns(JournalWarning, match="NOT being saved.*No space left"):
        learner = ActiveLearner(X, CLASSES, journal=path)
    assert "1 event(s) are kept in memory" in learner.journal_error  # the header
    learner.teach(1, "bird")
    assert learner.labels == {1: "bird"}
    disk.room = None  # space is back
    learner.skip(2)
    assert learner.journal_error is None
    learner.close_journal()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resumed = ActiveLearner(X, CLASSES, journal=path)
    assert state(resumed) == state(learner)


def test_a_write_cut_short_by_a_full_disk_is_never_duplicated(tmp_path, disk):
    path = tmp_path / "labels.jsonl"
    learner = ActiveLearner(X, CLASSES, journal=path)
    learner.teach(1, "bird")
    disk.room = 20  # the next line is written only in part
    with pytest.warns(JournalWarning, match="NOT being saved.*No space left"):
        learner.teach(2, "bell")
    learner.teach(3, "bell")
    disk.room = None
    learner.skip(4)
    assert learner.journal_error is None
    learner.close_journal()
    assert path.read_bytes().endswith(b"\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "event N could not be applied", no torn or bad line
        resumed = ActiveLearner(X, CLASSES, journal=path)
    assert state(resumed) == state(learner)
    assert [r["seq"] for r in read(path).records] == [0, 1, 2, 3]


def test_export_into_a_missing_folder_names_the_folder(tmp_path):
    learner = ActiveLearner(X, CLASSES)
    learner.teach(1, "bird")
    target = tmp_path / "missing" / "labels.csv"
    with pytest.raises(AlwidgetError, match="folder .*missing does not exist") as info:
        learner.export_labels(target)
    assert str(target) in str(info.value) and ".tmp" not in str(info.value)
    assert not target.parent.exists()


@pytest.mark.parametrize("bad", [[1, 2], {"a": 1}])
def test_import_of_ids_that_are_lists_or_dicts_is_refused_unchanged(tmp_path, bad):
    path = tmp_path / "labels.json"
    rows = [{"id": 3, "index": 3, "label": "bird"}, {"id": bad, "index": 0, "label": "bell"}]
    path.write_text(json.dumps({"classes": CLASSES, "labels": rows}))
    learner = ActiveLearner(X, CLASSES)
    learner.teach(1, "bird")
    before = state(learner)
    with pytest.raises(AlwidgetError, match=rf"labels.json: clip id {re.escape(repr(bad))} is not a string"):
        learner.import_labels(path)
    assert state(learner) == before


# ---------------------------------------------------------------- issue 11: takeover
HOLDER = """
import json, sys, numpy as np
from alwidget import ActiveLearner
from alwidget.errors import JournalLockedError
learner = ActiveLearner(np.arange(60, dtype="float32").reshape(20, 3), ["bird", "bell"], journal=sys.argv[1])
learner.teach([1, 2], ["bird", "bell"])
learner.skip(3)
print("ready", flush=True)
sys.stdin.readline()  # the other session takes the journal over meanwhile
before = (learner.labels, learner.skipped_idx.tolist(), len(learner.history))
results = {}
for name, call in [("teach", lambda: learner.teach(4, "bird")), ("skip", lambda: learner.skip(5)),
                   ("undo", learner.undo), ("add_class", lambda: learner.add_class("hum"))]:
    try:
        call()
        results[name] = "accepted"
    except JournalLockedError as exc:
        results[name] = str(exc)
after = (learner.labels, learner.skipped_idx.tolist(), len(learner.history))
report = {"results": results, "unchanged": before == after, "classes": learner.classes,
          "journal": learner.journal, "error": learner.journal_error}
learner.close_journal()  # going on in memory only: the undo history is intact
report["undone"] = list(learner.undo().indices)
print(json.dumps(report), flush=True)
"""


def _watcher_threads():
    return [t for t in threading.enumerate() if t.name == "alwidget-journal-watcher"]


def test_takeover_from_a_live_process_gets_every_label_and_stops_the_old_writer(tmp_path):
    path = tmp_path / "labels.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        new = ActiveLearner(X, CLASSES)
        with pytest.raises(JournalLockedError, match="takeover=True"):
            new.open_journal(path, takeover=False)
        assert new.journal is None
        new.open_journal(path, takeover=True)
        assert new.labels == {1: "bird", 2: "bell"} and new.skipped_idx.tolist() == [3]
        assert len(_watcher_threads()) == 1
        proc.stdin.write("go\n")
        proc.stdin.flush()
        report = json.loads(proc.stdout.readline())
    finally:
        proc.kill()
        proc.wait()
    assert report["unchanged"] and report["classes"] == CLASSES and report["journal"] is None
    for name, message in report["results"].items():
        assert "taken over by another session" in message and f"pid {os.getpid()}" in message, name
        assert "re-run the cell" in message and str(path) in message
    assert "taken over" in report["error"] and report["undone"] == [3]
    # the new session is the only writer: its labels go to the journal, and the lock is its own
    new.teach(6, "bell")
    with open(path, "rb") as f, pytest.raises(BlockingIOError):
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    assert (tmp_path / "labels.jsonl.lock").read_text().split("\n")[0] == str(os.getpid())
    assert not (tmp_path / "labels.jsonl.takeover").exists()
    new.close_journal()
    gc.collect()  # writers of earlier tests, if any are still unreachable
    deadline = time.monotonic() + 5
    while _watcher_threads() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _watcher_threads()  # the watcher stops with the last journal
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resumed = ActiveLearner(X, CLASSES, journal=path)
    assert resumed.labels == {1: "bird", 2: "bell", 6: "bell"} and resumed.skipped_idx.tolist() == [3]
    resumed.close_journal()


def test_takeover_of_a_holder_that_does_not_answer_says_what_to_do(tmp_path):
    path = tmp_path / "labels.jsonl"
    ActiveLearner(X, CLASSES, journal=path).close_journal()
    hung = (
        "import fcntl, sys; f = open(sys.argv[1], 'ab'); fcntl.flock(f, fcntl.LOCK_EX); "
        "print('ready', flush=True); sys.stdin.readline()"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", hung, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        learner = ActiveLearner(X, CLASSES)
        t0 = time.monotonic()
        with pytest.raises(JournalLockedError, match=r"did not release it within 0.5 s.*Shut down that kernel"):
            learner.open_journal(path, takeover=True, timeout=0.5)
        assert time.monotonic() - t0 < 3
    finally:
        proc.kill()
        proc.wait()
    assert learner.journal is None and learner.labels == {}
    assert not (tmp_path / "labels.jsonl.takeover").exists()  # no stale request is left behind


def test_a_stale_takeover_request_is_ignored(tmp_path):
    path = tmp_path / "labels.jsonl"
    learner = ActiveLearner(X, CLASSES, journal=path)
    request = tmp_path / "labels.jsonl.takeover"
    # a request whose sender gave up (expired), and one from the holder itself
    for pid, until in [(os.getppid(), time.time() - 1), (os.getpid(), time.time() + 60)]:
        request.write_text(json.dumps({"pid": pid, "token": "t", "until": until}))
        time.sleep(0.6)  # more than two polls of the watcher
        assert learner.journal == path
        learner.teach(len(learner.history), "bird")
    assert learner.journal_error is None
    learner.close_journal()


def test_modes_are_journalled_replayed_and_exported(tmp_path):
    path = tmp_path / "labels.jsonl"
    a = ActiveLearner(X, CLASSES, journal=path, ids=[f"c{i}" for i in range(20)])
    a.teach(1, "bird")
    a.teach([2, 3], "bell", mode="search")
    a.skip(4, mode="search")
    a.undo()
    a.teach(5, "bird", mode="review")
    records = read(path).records
    assert [r.get("mode") for r in records] == [None, "search", "search", None, "review"]  # absent = active
    a.close_journal()
    b = ActiveLearner(X, CLASSES, journal=path, ids=[f"c{i}" for i in range(20)])
    assert [(e.kind, e.mode) for e in b.history] == [(e.kind, e.mode) for e in a.history]
    assert b.label_modes == {1: "active", 2: "search", 3: "search", 5: "review"}
    b.export_labels(tmp_path / "labels.csv")
    rows = (tmp_path / "labels.csv").read_text().splitlines()
    assert rows == [
        "id,index,label,mode",
        "c1,1,bird,active",
        "c2,2,bell,search",
        "c3,3,bell,search",
        "c5,5,bird,review",
    ]
    c = ActiveLearner(X, CLASSES, ids=[f"c{i}" for i in range(20)])
    c.import_labels(tmp_path / "labels.csv")
    assert set(c.label_modes.values()) == {"import"}


def test_an_unknown_mode_in_a_journal_is_read_as_active_with_a_warning(tmp_path):
    path = tmp_path / "labels.jsonl"
    a = ActiveLearner(X, CLASSES, journal=path)
    a.teach(1, "bird")
    a.close_journal()
    header, *records = read(path).records if read(path).header is None else [read(path).header, *read(path).records]
    records.append({"kind": "teach", "seq": 1, "t": 1.0, "idx": [2], "ids": [2], "labels": ["bell"], "mode": "dream"})
    path.write_bytes(b"".join(encode(r) for r in [header, *records]))
    with pytest.warns(JournalWarning, match="unknown mode 'dream'"):
        b = ActiveLearner(X, CLASSES, journal=path)
    assert b.labels == {1: "bird", 2: "bell"} and b.label_modes == {1: "active", 2: "active"}


def test_unsure_answers_are_journalled_replayed_and_exported_but_not_imported(tmp_path):
    path = tmp_path / "labels.jsonl"
    ids = [f"c{i}" for i in range(20)]
    a = ActiveLearner(X, CLASSES, journal=path, ids=ids)
    a.teach(1, "bird")
    a.unsure([2, 3], mode="search")
    a.unsure(4)
    a.undo()
    assert [r["kind"] for r in read(path).records] == ["teach", "unsure", "unsure", "undo"]
    a.close_journal()
    b = ActiveLearner(X, CLASSES, journal=path, ids=ids)
    assert b.unsure_idx.tolist() == [2, 3] and b.labels == {1: "bird"}
    assert [(e.kind, e.indices, e.mode) for e in b.history] == [(e.kind, e.indices, e.mode) for e in a.history]
    b.undo()  # the undo stack came back too
    assert b.unsure_idx.tolist() == []
    b.unsure([2, 3], mode="search")
    b.export_labels(tmp_path / "labels.csv")
    rows = (tmp_path / "labels.csv").read_text().splitlines()
    assert rows == ["id,index,label,mode", "c1,1,bird,active", "c2,2,,unsure", "c3,3,,unsure"]
    c = ActiveLearner(X, CLASSES, ids=ids)
    assert c.import_labels(tmp_path / "labels.csv") == 1 and c.labels == {1: "bird"}


def test_relabel_is_undoable_journalled_and_replayed_with_its_mode(tmp_path):
    path = tmp_path / "labels.jsonl"
    a = ActiveLearner(X, CLASSES, journal=path)
    a.teach([1, 2], "bird", mode="search")
    a.relabel(2, "bell")
    assert a.labels == {1: "bird", 2: "bell"} and a.label_modes == {1: "search", 2: "review"}
    version = a._book.label_version
    a.undo()
    assert a.labels == {1: "bird", 2: "bird"} and a.label_modes == {1: "search", 2: "search"}
    assert a._book.label_version > version  # the training set changed back: the model refits
    a.relabel([1, 2], ["bell", "bell"])
    with pytest.raises(AlwidgetError, match="no label to change"):
        a.relabel(5, "bird")
    a.close_journal()
    b = ActiveLearner(X, CLASSES, journal=path)
    assert b.labels == a.labels and b.label_modes == a.label_modes
    assert [(e.kind, e.indices, e.labels, e.mode) for e in b.history] == [
        (e.kind, e.indices, e.labels, e.mode) for e in a.history
    ]
    b.undo()
    assert b.labels == {1: "bird", 2: "bird"}


# ---------------------------------------------------------------- issue 25: every path resumes
CONSTRUCTOR_HOLDER = """
import json, sys, numpy as np
from alwidget import ActiveLearner
from alwidget.errors import JournalLockedError
learner = ActiveLearner(np.arange(60, dtype="float32").reshape(20, 3), ["bird", "bell"], journal=sys.argv[1])
learner.teach([1, 2], ["bird", "bell"])
print("ready", flush=True)
sys.stdin.readline()
try:
    learner.teach(4, "bird")
    print(json.dumps({"teach": "accepted"}), flush=True)
except JournalLockedError as exc:
    print(json.dumps({"teach": str(exc), "labels": {str(k): v for k, v in learner.labels.items()}}), flush=True)
"""


def test_the_constructor_takes_the_journal_over_like_a_reloaded_page(tmp_path, monkeypatch):
    # the README Quickstart opens the journal in ActiveLearner(journal=): a Voila reload or second tab
    # runs that line in a new kernel while the old kernel still holds the journal
    path = tmp_path / "labels.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-c", CONSTRUCTOR_HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        monkeypatch.setenv("JPY_SESSION_NAME", "/home/me/labelling.ipynb")
        new = ActiveLearner(X, CLASSES, journal=path)
        assert new.labels == {1: "bird", 2: "bell"}
        proc.stdin.write("go\n")
        proc.stdin.flush()
        report = json.loads(proc.stdout.readline())
    finally:
        proc.kill()
        proc.wait()
    assert "taken over by another session (/home/me/labelling.ipynb, pid" in report["teach"]
    assert report["labels"] == {"1": "bird", "2": "bell"}  # the old one changed nothing
    new.teach(5, "bird")
    assert [r["ids"] for r in read(path).records if r["kind"] == "teach"] == [[1, 2], [5]]
    new.close_journal()


def test_from_journal_takes_over_too(tmp_path):
    path = tmp_path / "labels.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-c", CONSTRUCTOR_HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        new = ActiveLearner.from_journal(path, X)
        assert new.labels == {1: "bird", 2: "bell"} and new.classes == CLASSES
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert "taken over" in json.loads(proc.stdout.readline())["teach"]
    finally:
        proc.kill()
        proc.wait()
    new.close_journal()


@pytest.mark.parametrize(
    ("value", "exc", "match"),
    [
        (123, InvalidInputError, "journal must be a file path .*int: 123"),
        (b"labels.jsonl", InvalidInputError, "journal must be a file path .*bytes"),
        ("", InvalidInputError, "journal must be a file path"),
        (1.5, InvalidInputError, "float"),
    ],
)
def test_a_journal_that_is_not_a_path_is_a_clear_error(value, exc, match):
    learner = ActiveLearner(X, CLASSES)
    with pytest.raises(exc, match=match):
        ActiveLearner(X, CLASSES, journal=value)
    with pytest.raises(exc, match=match):
        learner.open_journal(value)
    with pytest.raises(exc, match=match):
        ActiveLearner.from_journal(value, X, classes=CLASSES)
    assert learner.journal is None


def test_a_folder_or_fifo_journal_is_refused_and_never_hangs(tmp_path):
    folder = tmp_path / "labels"
    folder.mkdir()
    with pytest.raises(JournalError, match=r"is a folder; pass a file path inside it"):
        ActiveLearner(X, CLASSES, journal=folder)
    with pytest.raises(JournalError, match=r"is a folder"):
        ActiveLearner.from_journal(folder, X)
    fifo = tmp_path / "labels.fifo"
    os.mkfifo(fifo)
    result = {}

    def opener():
        try:
            ActiveLearner(X, CLASSES, journal=fifo)
        except JournalError as exc:
            result["error"] = str(exc)

    thread = threading.Thread(target=opener, daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "opening a FIFO as the journal hung"
    assert "not a regular file" in result["error"] and str(fifo) in result["error"]
    with pytest.raises(JournalError, match="not a regular file"):
        ActiveLearner.from_journal(fifo, X, classes=CLASSES)


def test_a_dropped_learner_releases_its_journal_at_once(tmp_path):
    """The journal link is held by the learner alone (the book's hook and the watcher hold it weakly):
    dropping the last reference closes the journal and its lock, with no garbage collection needed."""
    path = tmp_path / "labels.jsonl"

    def locked() -> bool:
        with open(path, "rb") as f:  # flock: a second open file of this process conflicts with the learner's
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
            return False

    gc.disable()
    try:
        learner = ActiveLearner(X, CLASSES, journal=path)
        learner.teach(1, "bird")
        assert locked()
        del learner
        assert not locked()
    finally:
        gc.enable()
    fresh = ActiveLearner(X, CLASSES)
    fresh.open_journal(path, takeover=False)
    assert fresh.labels == {1: "bird"}
