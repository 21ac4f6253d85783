"""LabelingWidget without a browser: commands as the front end sends them, the worker, the curves."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from alwidget import ActiveLearner
from alwidget.datasets import make_sounds
from alwidget.errors import InvalidInputError
from alwidget.widget import LabelingWidget

IDLE = 60.0


@pytest.fixture(scope="module")
def sounds():
    ds = make_sounds(n_per_class=12, seed=3)
    X = ds.embed(progress=False, cache_dir=False)
    return ds, X, sorted(set(ds.labels))


@pytest.fixture
def make_widget(sounds):
    made = []

    def make(*, classes=None, learner=None, dataset=None, model=None, **kw):
        ds, X, all_classes = sounds
        if learner is None:
            model = SlowCentroid(delay=0.0) if model is None else model  # fast and deterministic
            learner = ActiveLearner(X, list(all_classes if classes is None else classes), model=model)
        w = LabelingWidget(learner, ds if dataset is None else dataset, **kw)
        made.append(w)
        assert w.wait_idle(IDLE)
        return w

    yield make
    for w in made:
        w.close()


class Sender:
    """Sends commands exactly as widget.js does: {kind, value, clip, seq, view}."""

    def __init__(self, widget):
        self.widget = widget
        self.seq = 0

    def __call__(self, kind, value=None, clip="current"):
        self.seq += 1
        clip = self.widget.clip.get("index") if clip == "current" else clip
        cmd = {"kind": kind, "seq": self.seq, "view": "test", "clip": clip}
        if value is not None:
            cmd["value"] = value
        self.widget.command = cmd


class SlowCentroid:
    """A scikit-learn style model whose fit takes a while (so labels arrive during training)."""

    fits = 0
    lock = threading.Lock()

    def __init__(self, delay=0.05):
        self.delay = delay

    def get_params(self, deep=True):
        return {"delay": self.delay}

    def set_params(self, **params):
        self.delay = params.get("delay", self.delay)
        return self

    def fit(self, X, y):
        time.sleep(self.delay)
        with SlowCentroid.lock:
            SlowCentroid.fits += 1
        self.classes_ = np.unique(y)
        self.centres_ = np.stack([X[y == k].mean(axis=0) for k in self.classes_])
        return self

    def predict_proba(self, X):
        d = ((X[:, None, :] - self.centres_[None]) ** 2).sum(axis=-1) / X.shape[1]
        e = np.exp(-(d - d.min(axis=1, keepdims=True)))
        return e / e.sum(axis=1, keepdims=True)


class BrokenModel(SlowCentroid):
    def fit(self, X, y):
        raise RuntimeError("boom in fit")


class FlakyDataset:
    """Wraps a dataset; clip ``bad`` cannot be decoded for playback."""

    def __init__(self, ds, bad):
        self.ds = ds
        self.bad = bad
        self.names = ds.names

    def __len__(self):
        return len(self.ds)

    def __getitem__(self, i):
        return self.ds[i]

    def wav_bytes(self, i):
        if i == self.bad:
            raise RuntimeError(f"disk error reading clip {i}")
        return self.ds.wav_bytes(i)


# ---------------------------------------------------------------------- showing a clip
def test_first_clip_is_shown_with_audio_spectrogram_and_no_guess(make_widget, sounds):
    w = make_widget()
    ds, _, classes = sounds
    i = w.current
    assert i is not None and w.clip["index"] == i
    assert w.clip["name"] == ds.names[i]
    assert w.audio[:4] == b"RIFF" and w.audio[8:12] == b"WAVE"
    assert len(w.spectrogram) == w.clip["n_mels"] * w.clip["frames"] == 64 * w.clip["frames"]
    assert w.guess == []  # no model yet
    assert w.progress["model"] == "no model yet"
    assert w.progress["n_labeled"] == 0 and w.progress["n_pool"] == len(ds)
    assert w.classes == classes
    assert w.plot[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(w.queue) == w.prefetch and i not in w.queue
    assert w.error == "" and w.message == ""
    assert not w.training


def test_label_command_teaches_the_learner_and_shows_the_queued_clip_at_once(make_widget, sounds):
    w = make_widget()
    send = Sender(w)
    first, queued = w.current, w.queue
    send("label", "bird")
    # no waiting: the next clip came from the prefetched queue
    assert w.learner.labels == {first: "bird"}
    assert w.current == queued[0] and w.clip["index"] == queued[0]
    assert w.progress["counts"]["bird"] == 1 and w.progress["n_labeled"] == 1
    assert w.wait_idle(IDLE)
    assert w.current == queued[0]  # the refresh does not replace the clip on screen


def test_key_commands_label_skip_and_undo(make_widget, sounds):
    """What widget.js sends for keys 1-9, s / right arrow, u / Backspace."""
    w = make_widget()
    _, _, classes = sounds
    send = Sender(w)
    a = w.current
    send("label", w.classes[1])  # key "2"
    b = w.current
    send("skip")  # key "s"
    c = w.current
    assert w.learner.labels == {a: classes[1]}
    assert list(w.learner.skipped_idx) == [b]
    send("undo")  # key "u": the skip is reverted, clip b is back on screen
    assert w.current == b and len(w.learner.skipped_idx) == 0
    assert c in w.queue[:1]
    send("undo")  # again: the label of a is reverted
    assert w.current == a and w.learner.labels == {}
    assert w.message.startswith("undid the label of clip")
    send("undo")
    assert w.message == "nothing to undo" and w.error == ""


def test_stale_or_repeated_commands_never_label_twice(make_widget):
    w = make_widget()
    send = Sender(w)
    a = w.current
    send("label", "bell", clip=a)
    send("label", "bell", clip=a)  # a double press that arrives after the clip changed
    assert w.learner.n_labeled == 1 and w.learner.labels[a] == "bell"
    assert "no longer on screen" in w.message
    assert w.current != a


def test_fifty_rapid_labels_during_retraining_all_arrive_exactly_once(make_widget, sounds):
    ds, X, classes = sounds
    learner = ActiveLearner(X, classes, model=SlowCentroid(delay=0.05))
    w = make_widget(learner=learner)
    send = Sender(w)
    truth = ds.labels
    for _ in range(4):  # labels of two classes: the worker trains a model from now on
        send("label", truth[w.current])
    assert w.wait_idle(IDLE)
    fits_before = SlowCentroid.fits
    given = {}
    busy_seen = 0
    for _ in range(50):
        i = w.current
        busy_seen += w._busy
        send("label", truth[i])
        given[i] = truth[i]
    assert len(given) == 50  # every command labelled a different clip
    assert w.wait_idle(IDLE)
    assert busy_seen > 0 and SlowCentroid.fits > fits_before  # commands did arrive during training
    labels = w.learner.labels
    assert all(labels[i] == y for i, y in given.items())
    assert len(labels) == 54
    teach = [e for e in w.learner.history if e.kind == "teach"]
    assert len(teach) == 54 and len({e.indices for e in teach}) == 54
    assert w.progress["n_labeled"] == 54 and sum(w.progress["counts"].values()) == 54
    assert w.current not in labels and not set(w.queue) & set(labels)
    assert w.progress["model"] == f"model v{learner.model_version_}, trained on 54 labels"


# ---------------------------------------------------------------------- model, guess, curves
def test_guess_and_prequential_curve_without_eval_set(make_widget, sounds):
    ds, _, _ = sounds
    w = make_widget()
    send = Sender(w)
    plots = {w.plot}
    for _ in range(16):
        send("label", ds.labels[w.current])
        assert w.wait_idle(IDLE)  # a fresh model before every clip: each label is scored
        plots.add(w.plot)
    assert w.guess and len(w.guess) == 3
    assert all(0 <= g["p"] <= 1 for g in w.guess) and w.guess[0]["p"] >= w.guess[1]["p"] >= w.guess[2]["p"]
    assert w.guess[0]["label"] in w.classes
    assert set(w.curves) == {"prequential"}
    xs, ys = w.curves["prequential"]
    assert len(xs) >= 10 and xs == sorted(xs) and all(0 <= y <= 1 for y in ys)
    assert len(plots) > 3  # the plot was redrawn in place as labels came in
    assert w.progress["per_minute"] > 0


def test_eval_set_indices_are_held_out_and_give_the_accuracy_curve(make_widget, sounds):
    ds, _, _ = sounds
    held = np.arange(0, len(ds), 4)
    w = make_widget(eval_set=(held, [ds.labels[i] for i in held]))
    send = Sender(w)
    shown = set()
    for _ in range(12):
        shown.add(w.current)
        shown.update(w.queue)
        send("label", ds.labels[w.current])
        assert w.wait_idle(IDLE)
    assert not shown & set(held.tolist())
    xs, ys = w.curves["active"]
    assert xs and xs[-1] == 12 and all(0 <= y <= 1 for y in ys)
    assert "prequential" not in w.curves and "random" not in w.curves
    assert w.progress["open"] == len(ds) - len(held) - 12


def test_eval_set_embeddings(make_widget, sounds):
    ds, X, _ = sounds
    w = make_widget(eval_set=(X[:10] + 0.01, ds.labels[:10]))
    send = Sender(w)
    for _ in range(6):
        send("label", ds.labels[w.current])
    assert w.wait_idle(IDLE)
    assert w.curves["active"][0][-1] == 6
    assert "prequential" not in w.curves


def test_undo_reverts_learner_curve_and_brings_the_clip_back(make_widget, sounds):
    ds, _, _ = sounds
    held = np.arange(1, len(ds), 6)
    w = make_widget(eval_set=(held, [ds.labels[i] for i in held]))
    send = Sender(w)
    for _ in range(8):
        send("label", ds.labels[w.current])
        assert w.wait_idle(IDLE)
    last = next(e for e in reversed(w.learner.history) if e.kind == "teach").indices[0]
    on_screen = w.current
    assert 8 in w.curves["active"][0]
    send("undo")
    assert w.current == last and w.learner.n_labeled == 7 and last not in w.learner.labels
    assert w.queue[0] == on_screen  # the clip that was on screen comes right after
    assert 8 not in w.curves["active"][0]
    assert w.wait_idle(IDLE)
    assert max(w.curves["active"][0]) == 7
    send("label", ds.labels[last])
    assert w.learner.labels[last] == ds.labels[last] and w.current == on_screen


# ---------------------------------------------------------------------- classes, errors, situations
def test_add_class_on_the_fly(make_widget, sounds):
    ds, _, _ = sounds
    w = make_widget(classes=["bird", "bell"])
    send = Sender(w)
    send("add_class", "  voice ")
    assert w.learner.classes == ["bird", "bell", "voice"] and w.classes == ["bird", "bell", "voice"]
    assert "key 3" in w.message
    i = w.current
    send("label", "voice")
    assert w.learner.labels[i] == "voice"
    send("add_class", "voice")  # a duplicate: shown, not raised
    assert "already exists" in w.message and w.error == ""
    send("add_class", "   ")
    assert w.message == "type a class name first"
    assert w.wait_idle(IDLE)


def test_unknown_class_and_unknown_command_are_shown_not_raised(make_widget):
    w = make_widget()
    send = Sender(w)
    send("label", "dragon")
    assert "'dragon' is not a class" in w.message and w.learner.n_labeled == 0
    send("explode")
    assert "unknown command" in w.message


def test_an_error_in_a_callback_is_shown_and_the_widget_keeps_working(make_widget, sounds):
    ds, X, classes = sounds
    learner = ActiveLearner(X, classes)
    first = int(learner.query(1)[0])
    w = make_widget(learner=learner, dataset=FlakyDataset(ds, bad=first))
    assert w.current == first
    assert "RuntimeError: disk error reading clip" in w.error
    assert "Traceback" in w.errors[-1] and "wav_bytes" in w.errors[-1]
    assert w.audio == b"" and "cannot be played" in w.message
    send = Sender(w)
    send("skip")
    assert w.current != first and w.audio[:4] == b"RIFF"
    send("dismiss")
    assert w.error == ""


def test_an_error_in_the_background_worker_is_shown(make_widget, sounds):
    ds, X, classes = sounds
    w = make_widget(learner=ActiveLearner(X, classes, model=BrokenModel()))
    send = Sender(w)
    send("label", "bird")
    send("label", "bell")
    assert w.wait_idle(IDLE)
    assert "RuntimeError: boom in fit" in w.error and len(w.errors) >= 1
    send("label", "knock")  # labelling goes on
    assert w.learner.n_labeled == 3
    assert w.wait_idle(IDLE) and not w.training


def test_the_end_of_the_pool_is_shown(sounds):
    ds, X, classes = sounds
    learner = ActiveLearner(X[:5], classes, model=SlowCentroid(delay=0.0))
    w = LabelingWidget(learner, _Subset(ds, 5), prefetch=2)
    try:
        assert w.wait_idle(IDLE)
        send = Sender(w)
        for _ in range(5):
            send("label", classes[0])
        assert w.current is None and w.clip == {} and w.audio == b""
        assert "pool is finished" in w.message and w.progress["open"] == 0
        send("label", classes[0])
        assert w.learner.n_labeled == 5 and "pool is finished" in w.message
        assert w.wait_idle(IDLE) and w.error == ""
        send("undo")
        assert w.current is not None and w.learner.n_labeled == 4
    finally:
        w.close()


class _Subset:
    def __init__(self, ds, n):
        self.ds, self.n = ds, n
        self.names = ds.names[:n]

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return self.ds[i]

    def wav_bytes(self, i):
        return self.ds.wav_bytes(i)


# ---------------------------------------------------------------------- demo mode
def test_demo_auto_label_runs_the_loop_and_draws_the_baseline(make_widget, sounds):
    ds, _, _ = sounds
    w = make_widget(oracle=ds.labels)
    assert w.demo
    send = Sender(w)
    plots = set()
    send("auto", 12)
    while not w.wait_idle(0.05):
        plots.add(w.plot)
    assert w.learner.n_labeled == 12
    assert all(ds.labels[i] == y for i, y in w.learner.labels.items())
    assert w.auto == {"running": False, "left": 0, "done": 12}
    xs, ys = w.curves["active"]
    bx, by = w.curves["random"]
    assert xs[-1] == 12 and bx == xs and all(0 <= y <= 1 for y in ys + by)
    assert "prequential" in w.curves
    assert len(plots) > 2  # the curve was animated


def test_demo_auto_label_can_be_stopped_and_blocks_manual_labels(make_widget, sounds):
    ds, X, classes = sounds
    learner = ActiveLearner(X, classes, model=SlowCentroid(delay=0.05))
    w = make_widget(learner=learner, oracle=ds.labels)
    send = Sender(w)
    send("auto", 40)
    send("label", "bird")
    assert "auto-labelling is running" in w.message
    send("stop")
    assert w.wait_idle(IDLE)
    assert w.learner.n_labeled < 40 and not w.auto["running"]


def test_auto_label_needs_an_oracle(make_widget):
    w = make_widget()
    with pytest.raises(InvalidInputError, match="oracle"):
        w.auto_label(3)
    Sender(w)("auto", 3)
    assert "oracle" in w.message


def test_demo_adds_classes_the_learner_lacks(make_widget, sounds):
    ds, _, _ = sounds
    w = make_widget(classes=["bird"], oracle=ds.labels)
    w.auto_label(6)
    assert w.wait_idle(IDLE)
    assert set(w.learner.labels.values()) <= set(w.learner.classes)
    assert len(w.learner.classes) > 1 and w.classes == [str(c) for c in w.learner.classes]


# ---------------------------------------------------------------------- journal, arguments
def test_journal_records_labels_and_undo_and_resumes(make_widget, sounds, tmp_path):
    ds, X, classes = sounds
    path = tmp_path / "labels.jsonl"
    w = make_widget(journal=path)
    send = Sender(w)
    for _ in range(3):
        send("label", ds.labels[w.current])
    send("undo")
    send("add_class", "siren")
    expected = w.learner.labels
    assert w.wait_idle(IDLE)
    w.learner.close_journal()
    assert path.stat().st_size > 0

    fresh = ActiveLearner(X, classes)
    w2 = LabelingWidget.resume(path, fresh, ds)
    try:
        assert w2.wait_idle(IDLE)
        assert fresh.labels == expected and "siren" in fresh.classes
        assert w2.progress["n_labeled"] == 2 and w2.current not in expected
    finally:
        w2.close()
        fresh.close_journal()


def test_a_full_disk_is_shown_in_the_widget_and_no_label_is_dropped(make_widget, sounds, tmp_path, monkeypatch):
    from alwidget._journal import JournalWriter
    from alwidget.errors import JournalWarning

    ds, X, classes = sounds
    path = tmp_path / "labels.jsonl"
    w = make_widget(journal=path)
    send = Sender(w)
    send("label", ds.labels[w.current])
    real_write = JournalWriter._write
    full = {"on": True}

    def write(self, line):
        if full["on"]:
            raise OSError(28, "No space left on device")
        real_write(self, line)

    monkeypatch.setattr(JournalWriter, "_write", write)
    with pytest.warns(JournalWarning, match="NOT being saved"):
        send("label", ds.labels[w.current])
    assert w.error.startswith("journal: labels are NOT being saved") and "No space left" in w.error
    assert w.learner.n_labeled == 2  # the label is kept in memory
    full["on"] = False
    send("label", ds.labels[w.current])  # the disk accepts writes again: the backlog is written
    assert w.learner.journal_error is None
    assert w.error == ""  # the warning goes away once the labels are on disk
    expected = w.learner.labels
    assert w.wait_idle(IDLE)
    w.learner.close_journal()
    assert ActiveLearner(X, classes, journal=path).labels == expected


def test_journal_needs_a_learner_that_can_journal(sounds, tmp_path):
    ds, X, classes = sounds

    class Plain(ActiveLearner):
        open_journal = None

    with pytest.raises(RuntimeError, match="open_journal"):
        LabelingWidget(Plain(X, classes), ds, journal=tmp_path / "j.jsonl")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"prefetch": 0}, "prefetch must be a positive integer"),
        ({"oracle": ["bird"]}, "oracle has 1 labels"),
        ({"eval_set": ([0, 1], ["bird"])}, "2 clips and 1 labels"),
        ({"eval_set": ([0, 999], ["bird", "bell"])}, "indices must lie in"),
        ({"eval_set": (np.zeros((2, 3)), ["bird", "bell"])}, "embeddings must be a numeric"),
        ({"eval_set": "nope"}, "must be a pair"),
    ],
)
def test_bad_arguments_raise_clear_errors(sounds, kwargs, match):
    ds, X, classes = sounds
    with pytest.raises(InvalidInputError, match=match):
        LabelingWidget(ActiveLearner(X, classes), ds, **kwargs)


def test_dataset_must_match_the_pool(sounds):
    ds, X, classes = sounds
    with pytest.raises(InvalidInputError, match="the dataset has 72 clips but the learner's pool has 10"):
        LabelingWidget(ActiveLearner(X[:10], classes), ds)


def test_front_end_files_are_packaged():
    static = Path(__file__).parents[1] / "alwidget" / "static"
    js = (static / "widget.js").read_text()
    assert "export default { render }" in js and "stopPropagation" in js
    assert (static / "widget.css").read_text().startswith("/* alwidget")


def test_a_clip_labelled_from_code_is_replaced(make_widget):
    w = make_widget()
    i = w.current
    w.learner.teach(i, "bird")  # from another cell while the widget is open
    Sender(w)("label", "bell")
    assert w.learner.labels == {i: "bird"} and w.current != i
    assert "labelled or skipped elsewhere" in w.message
    w.learner.skip(w.current)
    w.refresh()
    assert w.wait_idle(IDLE)
    assert w.current not in w.learner.skipped_idx and w.current not in w.learner.labels
