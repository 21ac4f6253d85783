"""The ``alwidget`` command (alwidget.cli): arguments, bad input, export, and the server it runs.

Bad input of every kind exits with status 2 and one clear line, never a
traceback, and starts no server. ``alwidget export`` writes what
``learner.export_labels`` writes, and Raven tables that ``read_raven`` reads
back with the right times. The served app (Voila) refuses requests without
its token, serves no file of the machine (nor of the app's own folder), and
Ctrl-C leaves neither the server nor a kernel behind.

The server tests start Voila (about 10 s each on a 2-core machine) and skip
with a reason where Voila is not installed (except with ``CI=true``, where
they fail). No browser is needed: tests/test_app_browser.py drives the page.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import csv
import http.client
import io
import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from _support import alive, descendants, free_port
import soundfile as sf

from alwidget import ActiveLearner, AudioDataset, __version__, make_sounds
from alwidget import _app_data
from alwidget.cli import _is_loopback, build_parser, main
from alwidget.export import read_raven

URL = re.compile(r"http://127\.0\.0\.1:(\d+)/\?token=([0-9a-f]+)")


# ---------------------------------------------------------------------- helpers


def _run(*args, env: dict | None = None, timeout: float = 120, module: str = "alwidget"):
    """``python -m alwidget ARGS``: the result, after checking that no traceback was printed."""
    result = subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    return result


def _main(*args) -> tuple[int, str]:
    """``alwidget ARGS`` in this process (quicker than a subprocess): its exit status and stderr."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    assert "Traceback" not in err.getvalue(), err.getvalue()
    return code, err.getvalue()


@pytest.fixture
def clips(tmp_path) -> Path:
    """A folder of clips in class subfolders: bird/, bell/ (two each) and the demo's labels.csv."""
    folder = tmp_path / "clips"
    make_sounds(n_per_class=2, classes=["bird", "bell"], path=folder, seed=0)
    return folder


@pytest.fixture
def busy_port():
    """A port something else is listening on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        yield s.getsockname()[1]


def _learner(dataset, journal: Path) -> ActiveLearner:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(len(dataset), 4)).astype(np.float32)
    return ActiveLearner(X, ["bird", "bell"], ids=dataset.clip_ids, journal=journal)


# ---------------------------------------------------------------------- arguments


def test_arguments_are_parsed():
    p = build_parser()
    a = p.parse_args(["label", "data", "--classes", "a,b", "--window", "5", "--hop", "2.5", "--port", "9000",
                      "--no-browser", "--embedder", "mfcc", "--journal", "j.jsonl"])  # fmt: skip
    assert (a.command, a.path, a.classes, a.window, a.hop, a.port, a.no_browser) == (
        "label", "data", "a,b", 5.0, 2.5, 9000, True,
    )  # fmt: skip
    assert (a.embedder, a.journal, a.ip) == ("mfcc", "j.jsonl", "127.0.0.1")
    d = p.parse_args(["demo"])
    assert (d.command, d.port, d.no_browser, d.ip, d.clips_per_class) == ("demo", None, False, "127.0.0.1", 50)
    e = p.parse_args(["export", "labels.jsonl", "--to", "raven/"])
    assert (e.command, e.source, e.to, e.window, e.data) == ("export", "labels.jsonl", "raven/", None, None)
    for bad in (["export", "j.jsonl"], ["label"], ["label", "x", "--window", "-1"], ["label", "x", "--window", "nan"],
                ["demo", "--port", "70000"], ["demo", "--port", "x"], ["nope"], []):  # fmt: skip
        with pytest.raises(SystemExit) as exc:
            p.parse_args(bad)
        assert exc.value.code == 2, bad


def test_loopback_addresses():
    assert _is_loopback("127.0.0.1") and _is_loopback("::1") and _is_loopback("localhost")
    assert not _is_loopback("0.0.0.0") and not _is_loopback("192.168.1.2") and not _is_loopback("example.org")


def test_command_and_module_run():
    script = Path(sys.executable).parent / "alwidget"  # installed by pip install -e ".[test]" ([project.scripts])
    assert script.exists(), f"no console script at {script}: reinstall with pip install -e '.[test]'"
    out = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == f"alwidget {__version__}"
    assert _run("--version").stdout.strip() == f"alwidget {__version__}"
    assert "demo" in _run("--help", module="alwidget.cli").stdout


def test_license_and_attributions_ship_with_the_package():
    root = Path(__file__).resolve().parent.parent
    assert (
        "BSD 3-Clause License" in (root / "LICENSE").read_text()
        and "alwidget developers" in (root / "LICENSE").read_text()
    )
    notice = (Path(_app_data.__file__).parent / "NOTICE").read_text()
    for needed in ("Alison Bernice Ma", "Alexander Lerch", "CC BY 4.0", "ISMIR", "https://github.com/alisonbma/aisfx"):
        assert needed in notice, needed
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["alwidget"] == "alwidget.cli:main"
    assert set(project["project"]["license-files"]) >= {"LICENSE", "alwidget/NOTICE"}
    assert "NOTICE" in project["tool"]["setuptools"]["package-data"]["alwidget"]


# ---------------------------------------------------------------------- bad input: status 2, one line, no server


def _bad_inputs(tmp_path: Path, clips: Path, busy: int) -> list[tuple[list, str]]:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no audio here")
    flat = tmp_path / "flat"
    flat.mkdir()
    for wav in sorted(clips.rglob("*.wav"))[:2]:
        (flat / wav.name).write_bytes(wav.read_bytes())
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.wav").write_bytes(b"RIFF not really a wave file")
    foreign = tmp_path / "data.csv"
    foreign.write_text("a,b\n1,2\n")
    other = tmp_path / "other"  # a journal of another pool: clips that are not in clips/
    make_sounds(n_per_class=1, classes=["knock"], path=other, seed=1)
    other_ds = AudioDataset.from_folder(other)
    learner = ActiveLearner(np.ones((len(other_ds), 4), np.float32), ["knock"], ids=other_ds.clip_ids,
                            journal=tmp_path / "other.jsonl")  # fmt: skip
    learner.teach([0], ["knock"])
    learner.close_journal()
    windows = tmp_path / "windows.jsonl"  # a journal of windows, given to a folder of clips
    learner = ActiveLearner(np.ones((1, 4), np.float32), ["bird"], ids=["bird/bird_0000.wav@5.0"], journal=windows)
    learner.teach([0], ["bird"])
    learner.close_journal()
    wav = next(clips.rglob("*.wav"))
    return [
        (["label", tmp_path / "missing"], "no such folder"),
        (["label", empty], "no audio files"),
        (["label", flat], "--classes"),
        (["label", broken, "--classes", "a,b"], "can be read"),
        (["label", wav], "is a file, not a folder"),
        (["label", tmp_path / "missing.wav", "--window", "5"], "no such"),
        (["label", foreign, "--window", "5"], "not an audio file"),
        (["label", clips, "--classes", "a,,b"], "class names separated by commas"),
        (["label", clips, "--classes", "a,b,a"], "twice"),
        (["label", clips, "--hop", "2"], "--hop needs --window"),
        (["label", clips, "--window", "0"], "positive number of seconds"),
        (["label", clips, "--journal", foreign], "not an alwidget journal"),
        (["label", clips, "--journal", tmp_path / "other.jsonl"], "belongs to another pool"),
        (["label", clips, "--journal", windows], "--window"),
        (["label", clips, "--journal", tmp_path], "is a folder"),
        (["label", clips, "--journal", tmp_path / "no" / "such" / "j.jsonl"], "does not exist"),
        (["label", clips, "--embedder", "nope"], "unknown embedder"),
        (["label", clips, "--port", busy, "--no-browser"], "in use"),
        (["demo", "--port", busy, "--no-browser"], "in use"),
        (["demo", "--ip", "192.0.2.1", "--port", free_port(), "--no-browser"], "192.0.2.1"),  # not this machine's
        (["export", tmp_path / "missing.jsonl", "--to", tmp_path / "x.csv"], "no such journal"),
        (["export", clips, "--to", tmp_path / "x.csv"], "label it first"),
        (["export", tmp_path / "other.jsonl", "--to", tmp_path / "x.json"], ".csv file"),
        (["export", foreign, "--to", tmp_path / "x.csv"], "not an alwidget journal"),
        (["export", tmp_path / "other.jsonl", "--to", tmp_path / "no" / "such" / "x.csv"], "does not exist"),
        (["nope"], "invalid choice"),
    ]


def test_bad_input_exits_2_with_a_clear_message(tmp_path, clips, busy_port):
    from concurrent.futures import ThreadPoolExecutor

    cases = _bad_inputs(tmp_path, clips, busy_port)
    with ThreadPoolExecutor(4) as pool:  # each is a real command line: python -m alwidget ...
        results = list(pool.map(lambda case: _run(*case[0], timeout=120), cases))
    for (args, expected), result in zip(cases, results):
        assert result.returncode == 2, (args, result.returncode, result.stderr)
        assert expected in result.stderr, (args, result.stderr)
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("alwidget") and "error: " in last and expected in last, result.stderr  # one line
        assert "http://" not in result.stdout, (args, result.stdout)  # no server was started
    assert not list(clips.glob("alwidget.labels*")), "a refused command left files beside the data"


def test_label_says_which_features_the_default_uses(clips, busy_port, monkeypatch):
    from alwidget.embedders import aisfx, default_embedder

    args = ("label", clips, "--port", busy_port)  # refused for the port, after saying what it would embed with
    if default_embedder()[0] == "logmel+aisfx":
        code, err = _main(*args)
        assert code == 2 and "beside the pretrained aiSFX network" in err and "CC BY 4.0" in err, err

    def absent(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(aisfx, "_distribution", absent)
    monkeypatch.setattr(aisfx.importlib.util, "find_spec", lambda name: None)
    code, err = _main(*args)
    assert code == 2 and "log-mel statistics only" in err and "pip install --no-deps aisfx==0.1.2" in err, err
    assert "--embedder logmel" in err
    code, err = _main(*args, "--embedder", "logmel")  # named: no note
    assert code == 2 and "aiSFX" not in err and "aisfx" not in err, err


def test_another_address_is_refused_or_warned(tmp_path):
    result = _run("demo", "--ip", "192.0.2.1", "--port", free_port(), "--no-browser")
    assert result.returncode == 2
    assert "WARNING: listening on 192.0.2.1" in result.stderr  # anything but loopback is announced


# ---------------------------------------------------------------------- export


def _csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_export_clips_to_csv_and_raven(tmp_path, clips):
    ds = AudioDataset.from_folder(clips)
    journal = clips / _app_data.JOURNAL_NAME  # where alwidget label puts it
    learner = _learner(ds, journal)
    learner.teach([0, 1], ["bird", "bell"])
    learner.skip([2])
    learner.teach([3], ["bird"])
    learner.undo()  # clip 3 is unlabelled again
    learner.relabel([1], ["bird"])
    learner.unsure([3])
    expected = tmp_path / "expected.csv"
    learner.export_labels(expected)

    out = tmp_path / "out"
    out.mkdir()
    result = _run("export", clips, "--to", out / "labels.csv")  # the running learner keeps its journal
    assert result.returncode == 0, result.stderr
    assert _csv(out / "labels.csv") == _csv(expected)  # the same as learner.export_labels

    code, err = _main("export", journal, "--to", out / "raven")  # a folder: one table per recording
    assert code == 0, err
    labelled = {ds.clip_ids[i]: c for i, c in learner.labels.items()}
    tables = sorted((out / "raven").glob("*.selections.txt"))
    assert len(tables) == len(labelled)
    for table in tables:
        rows = read_raven(table, as_frame=False)
        assert len(rows) == 1
        (row,) = rows
        clip = next(c for c in labelled if Path(c).stem == table.name.split(".")[0])
        assert row["Class"] == labelled[clip] and row["Score"] == 1.0
        assert row["Begin Time (s)"] == 0.0
        assert row["End Time (s)"] == pytest.approx(sf.info(str(clips / clip)).duration, abs=1e-6)

    code, err = _main("export", journal, "--to", out / "all.txt")  # one combined table
    assert code == 0, err
    rows = read_raven(out / "all.txt", as_frame=False)
    assert {(Path(r["Begin Path"]).relative_to(clips).as_posix(), r["Class"]) for r in rows} == set(labelled.items())

    learner.relabel([0], ["bell"])  # export took nothing over: the learner still writes its journal
    assert learner.journal is not None
    assert _app_data.read_journal(journal).records[-1]["ids"] == [ds.clip_ids[0]]
    learner.close_journal()
    assert _main("export", clips, "--to", out / "again.csv")[0] == 0
    assert _csv(out / "again.csv")[0] == {"id": ds.clip_ids[0], "index": "0", "label": "bell", "mode": "review"}


def test_export_windows_to_raven(tmp_path):
    folder = tmp_path / "recordings"
    (folder / "site1").mkdir(parents=True)
    sr = 8000
    for name, seconds in (("site1/a.wav", 12.0), ("b.wav", 7.0)):
        sf.write(folder / name, np.random.default_rng(0).normal(0, 0.1, int(sr * seconds)), sr)
    ds = AudioDataset.from_recordings(folder, window=5.0)
    journal = folder / _app_data.JOURNAL_NAME
    learner = _learner(ds, journal)
    ids = ds.clip_ids
    pick = [ids.index("site1/a.wav@0.0"), ids.index("site1/a.wav@10.0"), ids.index("b.wav@5.0")]
    learner.teach(pick, ["bird", "bell", "bird"])
    learner.close_journal()

    code, err = _main("export", folder, "--to", tmp_path / "w.txt")  # the window length is not in the journal
    assert code == 2 and "--window" in err

    code, err = _main("export", folder, "--to", tmp_path / "w.txt", "--window", "5")
    assert code == 0, err
    rows = read_raven(tmp_path / "w.txt", as_frame=False)
    got = {(Path(r["Begin Path"]).relative_to(folder).as_posix(), r["File Offset (s)"], r["End Time (s)"], r["Class"])
           for r in rows}  # fmt: skip
    assert got == {("site1/a.wav", 0.0, 5.0, "bird"), ("site1/a.wav", 10.0, 12.0, "bell"), ("b.wav", 5.0, 7.0, "bird")}
    assert all(r["High Freq (Hz)"] == sr / 2 for r in rows)

    # alwidget label saves its settings beside the journal: export then knows the window length
    _app_data.write_settings(journal, {"data": str(folder), "window": 5.0, "hop": 5.0, "embedder": "logmel"})
    code, err = _main("export", journal, "--to", tmp_path / "raven")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "raven").iterdir()) == ["a.selections.txt", "b.selections.txt"]
    assert [r["End Time (s)"] for r in read_raven(tmp_path / "raven" / "a.selections.txt", as_frame=False)] == [
        5.0,
        12.0,
    ]

    with socket.socket() as s:  # a port in use: should a check let either command through, it stops there
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        busy = s.getsockname()[1]
        # other windows would not match the labels
        code, err = _main("label", folder, "--classes", "bird,bell", "--window", "4", "--port", busy)
        assert code == 2 and "--window 5 --hop 5" in err, err
        # `alwidget label FOLDER` without --window resumes with the saved windows (refused only for the port)
        result = _run("label", folder, "--classes", "bird,bell", "--port", busy)
    assert result.returncode == 2 and "in use" in result.stderr
    assert "5 s windows" in result.stderr, result.stderr


# ---------------------------------------------------------------------- the server


def _require_voila() -> None:
    if importlib.util.find_spec("voila") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("voila is not installed (pip install -e .[test])")
        pytest.skip("voila is not installed (pip install -e .[test])")


class _Server:
    """``python -m alwidget ARGS --no-browser --port P`` in its own process group, as a terminal's job runs."""

    def __init__(self, args: list, tmp_path: Path):
        self.port = free_port()
        env = dict(os.environ, ALWIDGET_CACHE_DIR=str(tmp_path / "cache"))
        self.err_path = tmp_path / "server.err"
        self.err = open(self.err_path, "wb")  # closed in stop()
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "alwidget", *map(str, args), "--no-browser", "--port", str(self.port)],
            stdout=subprocess.PIPE,
            stderr=self.err,
            env=env,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        threading.Thread(target=lambda: self.lines.extend(iter(self.proc.stdout.readline, "")), daemon=True).start()
        deadline = time.monotonic() + 120
        while not any(URL.search(line) for line in self.lines):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"alwidget printed no URL: {self.err_path.read_text()}")
            time.sleep(0.1)
        self.ready_s = time.monotonic() - self.started
        match = next(URL.search(line) for line in self.lines if URL.search(line))
        self.url, self.token = match[0], match[2]
        assert int(match[1]) == self.port

    def request(self, path: str, *, token: str | None = None, method: str = "GET", follow: int = 3):
        """``(status, headers, body)`` of a raw request (the path is sent as written), following redirects."""
        for _ in range(follow + 1):
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            headers = {"Authorization": f"token {token}"} if token else {}
            try:
                conn.request(method, path, headers=headers)
                response = conn.getresponse()
                body = response.read()
            finally:
                conn.close()
            location = response.getheader("Location")
            if response.status in (301, 302, 303, 307, 308) and location and location.startswith("/"):
                if location.startswith("/login"):
                    return response.status, location, body
                path = location
                continue
            return response.status, location, body
        return response.status, location, body

    def stop(self, sig=signal.SIGINT) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)  # Ctrl-C in a terminal signals the foreground process group
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            raise
        finally:
            self.err.close()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _gone(pids: set[int], timeout: float = 15) -> list[int]:
    deadline = time.monotonic() + timeout
    while [p for p in pids if alive(p)] and time.monotonic() < deadline:
        time.sleep(0.2)
    return [p for p in pids if alive(p)]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process trees from /proc (Linux)")
def test_demo_stops_on_ctrl_c_leaving_nothing(tmp_path):
    _require_voila()
    server = _Server(["demo", "--clips-per-class", "2"], tmp_path)
    pids = descendants(server.proc.pid)  # Voila (in a session of its own)
    assert pids
    code = server.stop(signal.SIGINT)
    assert code == 0, server.err_path.read_text()
    assert not _group_alive(server.proc.pid)  # the command's process group is gone
    assert not _gone(pids), "Voila outlived Ctrl-C"
    assert "Traceback" not in server.err_path.read_text()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process trees from /proc (Linux)")
def test_server_needs_its_token_serves_no_files_and_stops_with_its_kernels(tmp_path, clips):
    _require_voila()
    secret = "alwidget-test-secret-7f3a"
    (clips / "secret.txt").write_text(secret)  # beside the audio
    (clips / "photo.png").write_bytes(b"\x89PNG" + secret.encode())
    outside = tmp_path / "outside.png"
    outside.write_bytes(b"\x89PNG" + secret.encode())
    server = _Server(["label", clips], tmp_path)
    try:
        voila = descendants(server.proc.pid)
        for pid in voila:  # the token is not on any command line (other users can read those)
            assert server.token not in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")

        # without the token (or with a wrong one): refused
        for path, token in (("/", None), ("/?token=wrong", None), ("/", "wrong"), ("/voila/tree/", None),
                            ("/api/kernels", None), ("/voila/files/alwidget.ipynb", None)):  # fmt: skip
            status, location, _ = server.request(path, token=token, follow=0)
            assert status == 403 or (status == 302 and location.startswith("/login")), (path, status, location)
        status, _, _ = server.request("/voila/api/shutdown/00000000-0000-0000-0000-000000000000", method="POST")
        assert status == 403

        # with the token: no file of the machine, of the data folder or of the app's own folder
        rel = clips.relative_to(clips.anchor).as_posix()
        tries = [
            "/voila/files/alwidget.ipynb",
            "/voila/files/secret.txt",
            "/voila/files/photo.png",
            f"/voila/files/{rel}/photo.png",
            f"/voila/files/{outside.as_posix()}",
            "/voila/files/../../../../../../../../etc/passwd",
            "/voila/files/..%2f..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
            "/voila/files/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
            "/voila/files//etc/passwd",
            "/files/etc/passwd",
            f"/files/{rel}/secret.txt",
            "/etc/passwd",
            f"/{rel}/photo.png",
            f"//{rel}/photo.png",
            "/voila/static/../../../../../../../../etc/passwd",
            "/voila/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
            "/voila/static//etc/passwd",
            f"/voila/static/{outside.as_posix()}",
            "/voila/templates/lab/static/../../../../../../../../../etc/passwd",
            "/voila/templates/lab/static//etc/passwd",
            "/voila/labextensions/../../../../../../../../etc/passwd",
            "/voila/labextensions//etc/passwd",
            "/voila/api/themes/../../../../../../../../etc/passwd",
            "/voila/api/themes//etc/passwd",
            "/api/contents/etc/passwd",
            f"/voila/api/contents/{rel}",
            "/voila/render/etc/passwd",
            "/voila/tree/",
        ]
        served = []
        for path in tries:
            status, location, body = server.request(path, token=server.token)
            print(f"{status} {path}" + (f" -> {location}" if location else ""))  # evidence, with pytest -s
            if status == 200 or secret.encode() in body or b"root:x:0:0" in body:
                served.append((path, status, body[:80]))
        assert not served, f"files were served: {served}"
        # the check itself can see a file: Voila's own front-end code is served (it is public)
        status, _, body = server.request("/voila/static/voila.js")
        assert status == 200 and body

        # with the token: the page; its kernel runs the app
        status, _, body = server.request("/", token=server.token)
        assert status == 200 and b"alw-app-status" in body, body[-2000:]
        kernels = descendants(server.proc.pid) - voila
        assert kernels, "no kernel was started for the page"
        for pid in kernels:  # the kernel runs the app's code, and never needs the token
            assert server.token.encode() not in Path(f"/proc/{pid}/environ").read_bytes()
    finally:
        code = server.stop(signal.SIGINT)
    assert code == 0, server.err_path.read_text()
    assert not _group_alive(server.proc.pid)
    assert not _gone(voila | kernels), "the server or a kernel outlived Ctrl-C"
    err = server.err_path.read_text()
    assert "Traceback" not in err, err
    assert "classes from the subfolders' names: bell, bird" in err
    settings = json.loads(_app_data.settings_path(clips / _app_data.JOURNAL_NAME).read_text())
    assert settings["classes"] == ["bell", "bird"] and settings["data"] == str(clips.resolve())
