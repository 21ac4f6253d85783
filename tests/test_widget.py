"""LabelingWidget: a thin shell whose traits mirror its LabelingSession (session logic: test_session.py)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import anywidget
import numpy as np
import pytest

from alwidget import ActiveLearner
from alwidget.datasets import make_sounds
from alwidget.errors import InvalidInputError
from alwidget.session import FIELDS
from alwidget.widget import LabelingWidget

IDLE = 60.0
STATIC = Path(__file__).parents[1] / "alwidget" / "static"


@pytest.fixture(scope="module")
def sounds():
    ds = make_sounds(n_per_class=8, seed=3)
    X = ds.embed("logmel", progress=False, cache_dir=False)
    return ds, X, sorted(set(ds.labels))


@pytest.fixture
def widget(sounds):
    ds, X, classes = sounds
    w = LabelingWidget(ActiveLearner(X, classes), ds, oracle=ds.labels)
    assert w.wait_idle(IDLE)
    yield w
    w.close()


def _traits(w) -> dict:
    return {name: getattr(w, name) for name in FIELDS}


def test_traits_mirror_the_session_after_every_kind_of_change(widget, sounds):
    ds, _, _ = sounds
    w = widget
    assert _traits(w) == w.session.snapshot()
    for kind, value in [("label", ds.labels[w.current]), ("skip", None), ("undo", None), ("add_class", "siren")]:
        cmd = {"kind": kind, "view": "t", "clip": w.clip.get("index")}
        if value is not None:
            cmd["value"] = value
        w._handle_custom_msg(cmd, [])  # as ipywidgets delivers widget.js's model.send(cmd)
        # at once: everything but the worker's own flag, which it may flip at any moment
        now, snap = _traits(w), w.session.snapshot()
        now.pop("training"), snap.pop("training")
        assert now == snap
        assert w.wait_idle(IDLE)
        assert _traits(w) == w.session.snapshot()
    assert w.learner.n_labeled == 1 and "siren" in w.classes
    w.auto_label(4)  # from the worker thread
    assert w.wait_idle(IDLE)
    assert _traits(w) == w.session.snapshot()
    assert w.learner.n_labeled == 5 and w.auto["done"] == 4
    assert w.plot["series"] and {s["key"] for s in w.plot["series"]} >= {"active", "random"}


def test_the_widget_delegates_to_its_session(widget, sounds):
    ds, _, _ = sounds
    w = widget
    i = w.current
    assert i == w.session.current and w.queue == w.session.queue
    w.label(ds.labels[i])
    assert w.learner.labels == {i: ds.labels[i]} and w.progress["n_labeled"] == 1
    w.undo()
    assert w.current == i and w.curves == w.session.curves and w.errors == []


def test_constructor_arguments_reach_the_session(sounds):
    ds, X, classes = sounds
    with pytest.raises(InvalidInputError, match="prefetch must be a positive integer"):
        LabelingWidget(ActiveLearner(X, classes), ds, prefetch=0)
    w = LabelingWidget(ActiveLearner(X, classes), ds, prefetch=3, audit_rate=0, autoplay=False)
    try:
        assert w.session.prefetch == 3 and w.session.audit_rate == 0 and w.autoplay is False
    finally:
        w.close()


def test_a_journal_held_elsewhere_is_shown_with_the_way_out_not_raised(sounds, tmp_path):
    """Another process holds the journal's lock and does not hand it over (not an alwidget session)."""
    ds, X, classes = sounds
    path = tmp_path / "labels.jsonl"
    holder = textwrap.dedent(
        f"""
        import fcntl, sys
        held = [open({str(path)!r}, "ab"), open({str(path) + ".lock"!r}, "a+")]
        for f in held:  # the journal's own lock and its side file: whichever alwidget uses
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        print("locked", flush=True)
        sys.stdin.read()
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        learner = ActiveLearner(X, classes)
        w = LabelingWidget(learner, ds, journal=path)
        try:
            assert w.session is None and w.blocked and w.error == w.blocked
            assert w.error.startswith("cannot open the journal") and str(path) in w.error
            assert "another journal file" in w.error or "close that" in w.error  # the way out
            w._handle_custom_msg({"kind": "label", "value": classes[0], "view": "t", "clip": None}, [])
            assert learner.n_labeled == 0 and w.error == w.blocked
            assert w.wait_idle(1) and w.errors == []
        finally:
            w.close()
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)


def test_the_widget_module_stays_a_thin_shell():
    source = (Path(__file__).parents[1] / "alwidget" / "widget.py").read_text()
    code = [line for line in source.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert len(code) < 200
    assert "np." not in source and "threading" not in source  # logic lives in the session


def test_front_end_files_are_packaged():
    js = (STATIC / "widget.js").read_text()
    assert "export default { render }" in js and "stopPropagation" in js
    # Lumino (JupyterLab, Notebook 7) ignores shortcuts for events inside an element with this attribute
    assert "data-lm-suppress-shortcuts" in js
    css = (STATIC / "widget.css").read_text()
    assert css.startswith("/* alwidget") and "--jp-" in css and "@container (max-width: 640px)" in css


def test_bad_arguments_still_raise_before_a_comm_opens(sounds):
    ds, X, classes = sounds
    with pytest.raises(InvalidInputError, match="the dataset has"):
        LabelingWidget(ActiveLearner(X[:10], classes), ds)
    with pytest.raises(InvalidInputError, match="eval_set must be a pair"):
        LabelingWidget(ActiveLearner(X, classes), ds, eval_set="nope")
    assert np.asarray(X).shape[0] == len(ds)


def test_search_mode_through_the_widget_messages_and_an_uploaded_file(widget, sounds):
    import io

    import soundfile as sf

    ds, _, _ = sounds
    w = widget
    query = w.current
    w._handle_custom_msg({"kind": "search", "view": "t", "clip": query}, [])  # "find more like this" (key f)
    assert w.wait_idle(IDLE)
    assert w.mode == "search" and w.search["query"] == ds.name(query) and w.search["left"] == w.search["total"] > 0
    assert _traits(w) == w.session.snapshot()
    first = w.current  # the first result replaced the query on screen
    assert first != query
    w._handle_custom_msg({"kind": "label", "view": "t", "clip": query, "value": ds.labels[query]}, [])
    assert w.current == first and w.learner.label_modes == {}  # a label for the query, no longer shown: ignored
    w._handle_custom_msg({"kind": "label", "view": "t", "clip": first, "value": ds.labels[first]}, [])
    assert w.learner.label_modes == {first: "search"}
    w._handle_custom_msg({"kind": "mode", "view": "t", "value": "active"}, [])
    assert w.mode == "active" and w.search == {}

    # a file chosen in the browser arrives as a custom message with its bytes in a buffer
    y, sr = ds[5]
    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV", subtype="FLOAT")
    w._handle_custom_msg({"kind": "search_audio", "name": "mine.wav"}, [memoryview(buf.getvalue())])
    assert w.wait_idle(IDLE)
    assert w.mode == "search" and w.search["query"] == "file mine.wav"
    w._handle_custom_msg({"kind": "search_audio", "name": "empty.wav"}, [])
    assert "empty.wav" in w.error or "empty.wav" in w.message
    w._handle_custom_msg({"kind": "search_audio", "name": "notes.txt"}, [memoryview(b"not audio at all")])
    assert w.error.startswith("cannot search with the file 'notes.txt'") and "BytesIO" not in w.error
    assert "choose a WAV" in w.error


def test_review_modes_through_the_widget(widget, sounds):
    ds, _, classes = sounds
    w = widget
    for _ in range(6):  # a few labels to review
        i = w.current
        w._handle_custom_msg({"kind": "label", "view": "t", "clip": i, "value": ds.labels[i]}, [])
        assert w.wait_idle(IDLE)
    w._handle_custom_msg({"kind": "review", "view": "t"}, [])  # the "review labels" button (key r)
    assert w.wait_idle(IDLE)
    assert w.mode == "review" and w.clip["given"] == ds.labels[w.current] and w.search["total"] == 6
    assert _traits(w) == w.session.snapshot()
    i = w.current
    w._handle_custom_msg({"kind": "label", "view": "t", "clip": i, "value": ds.labels[i]}, [])  # kept
    assert w.learner.labels[i] == ds.labels[i] and "kept" in w.message
    w._handle_custom_msg({"kind": "mode", "view": "t", "value": "active"}, [])
    w.review_detections(classes[0], per_bin=2, n_bins=2, top=2)
    assert w.wait_idle(IDLE)
    assert w.mode == "review" and w.search["class"] == classes[0] and len(w.search["bins"]) == 3
    assert "given" not in w.clip
    i = w.current
    w._handle_custom_msg({"kind": "unsure", "view": "t", "clip": i}, [])
    assert sum(b["unsure"] for b in w.search["bins"]) == 1 and w.learner.unsure_idx.tolist() == [i]
    assert _traits(w) == w.session.snapshot()


def test_every_session_argument_is_accepted_and_forwarded(sounds, monkeypatch):
    """Each keyword of LabelingSession (but start) reaches the session with the value the widget was given."""
    import inspect

    from alwidget import widget as widget_module

    ds, X, classes = sounds
    params = inspect.signature(widget_module.LabelingSession.__init__).parameters
    names = [n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY and n != "start"]
    assert "search_n" in names and "audit_rate" in names
    seen = {}

    class Spy(widget_module.LabelingSession):
        def __init__(self, learner, dataset, **kw):
            seen.update(kw)
            super().__init__(learner, dataset, **kw)

    monkeypatch.setattr(widget_module, "LabelingSession", Spy)
    sentinels = {name: params[name].default for name in names}  # the defaults pass validation...
    sentinels.update(search_n=5, prefetch=3, top_k=2, window=7, n_mels=32, audit_rate=0.0, context=0.5)
    w = widget_module.LabelingWidget(ActiveLearner(X, classes), ds, **sentinels)
    try:
        for name in names:  # ...and each one arrives as given
            assert name in seen, name
            assert seen[name] is sentinels[name] or seen[name] == sentinels[name], name
        assert w.session.search_n == 5
    finally:
        w.close()


def test_the_view_state_is_spelled_once():
    """The schema, the session's snapshot, the widget's synced traits and what widget.js reads agree."""
    import re

    from alwidget.session import SCHEMA, LabelingSession

    names = {f.name for f in SCHEMA}
    assert names == set(FIELDS) and len(FIELDS) == len(names) == 16
    synced = set(LabelingWidget.class_traits(sync=True)) - set(anywidget.AnyWidget.class_traits(sync=True))
    assert synced == names | {"autoplay"}  # autoplay: a front-end option, not session state
    for f in SCHEMA:  # each trait's default is the schema's
        assert getattr(LabelingWidget, f.name).default() == f.default, f.name
    ds = make_sounds(n_per_class=2, seed=1)
    s = LabelingSession(ActiveLearner(np.eye(len(ds), dtype=np.float32), ["a", "b"]), ds, start=False)
    try:
        assert set(s.snapshot()) == names
    finally:
        s.close()
    js = (STATIC / "widget.js").read_text()
    read = set(re.findall(r"model\.get\(\s*[\"']([A-Za-z_]+)[\"']\s*\)", js))
    assert read and read <= names | {"autoplay"}, read - names
    assert 'model.set("command"' not in js and "model.send(" in js  # actions travel as messages


def test_an_action_message_reaches_the_session_and_others_are_ignored(widget):
    w, calls = widget, []
    real = w.session.handle
    w.session.handle = calls.append
    try:
        w._handle_custom_msg({"kind": "skip", "view": "v1", "clip": 3}, [])
        w._handle_custom_msg({"kind": "something else"}, [])  # not an action: ignored
        w._handle_custom_msg(["not", "a", "dict"], [])
    finally:
        w.session.handle = real
    assert calls == [{"kind": "skip", "view": "v1", "clip": 3}]
    assert "command" not in w.keys  # no synced command trait any more
