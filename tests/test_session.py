"""LabelingSession without a front end: commands as widget.js sends them, the worker, the curves."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from alwidget import ActiveLearner
from alwidget.datasets import make_sounds
from alwidget.errors import InvalidInputError
from alwidget.session import LabelingSession

IDLE = 60.0


@pytest.fixture(scope="module")
def sounds():
    ds = make_sounds(n_per_class=12, seed=3)
    X = ds.embed("logmel", progress=False, cache_dir=False)
    return ds, X, sorted(set(ds.labels))


@pytest.fixture
def make_widget(sounds):
    made = []

    def make(*, classes=None, learner=None, dataset=None, model=None, **kw):
        ds, X, all_classes = sounds
        if learner is None:
            model = SlowCentroid(delay=0.0) if model is None else model  # fast and deterministic
            learner = ActiveLearner(X, list(all_classes if classes is None else classes), model=model)
        w = LabelingSession(learner, ds if dataset is None else dataset, **kw)
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
        clip = self.widget["clip"].get("index") if clip == "current" else clip
        cmd = {"kind": kind, "seq": self.seq, "view": "test", "clip": clip}
        if value is not None:
            cmd["value"] = value
        self.widget.handle(cmd)


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
    assert i is not None and w["clip"]["index"] == i
    assert w["clip"]["name"] == ds.names[i]
    assert w["audio"][:4] == b"RIFF" and w["audio"][8:12] == b"WAVE"
    assert len(w["spectrogram"]) == w["clip"]["n_mels"] * w["clip"]["frames"] == 64 * w["clip"]["frames"]
    assert w["guess"] == []  # no model yet
    assert w["progress"]["model"] == "no model yet"
    assert w["progress"]["n_labeled"] == 0 and w["progress"]["n_pool"] == len(ds)
    assert w["classes"] == classes
    assert w["plot"]["series"] == [] and "audit" in w["plot"]["empty"]  # drawn by the front end from this data
    assert len(w.queue) == w.prefetch and i not in w.queue
    assert w["error"] == "" and w["message"] == ""
    assert not w["training"]


def test_label_command_teaches_the_learner_and_shows_the_queued_clip_at_once(make_widget, sounds):
    w = make_widget()
    send = Sender(w)
    first, queued = w.current, w.queue
    send("label", "bird")
    # no waiting: the next clip came from the prefetched queue
    assert w.learner.labels == {first: "bird"}
    assert w.current == queued[0] and w["clip"]["index"] == queued[0]
    assert w["progress"]["counts"]["bird"] == 1 and w["progress"]["n_labeled"] == 1
    assert w.wait_idle(IDLE)
    assert w.current == queued[0]  # the refresh does not replace the clip on screen


def test_key_commands_label_skip_and_undo(make_widget, sounds):
    """What widget.js sends for keys 1-9, s / right arrow, u / Backspace."""
    w = make_widget()
    _, _, classes = sounds
    send = Sender(w)
    a = w.current
    send("label", w["classes"][1])  # key "2"
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
    assert w["message"] == f"undid the label of '{w.dataset.name(a)}'"  # clips are named by file, not by index
    send("undo")
    assert w["message"] == "nothing to undo" and w["error"] == ""


def test_stale_or_repeated_commands_never_label_twice(make_widget):
    w = make_widget()
    send = Sender(w)
    a = w.current
    send("label", "bell", clip=a)
    send("label", "bell", clip=a)  # a double press that arrives after the clip changed
    assert w.learner.n_labeled == 1 and w.learner.labels[a] == "bell"
    assert "no longer on screen" in w["message"]
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
    assert w["progress"]["n_labeled"] == 54 and sum(w["progress"]["counts"].values()) == 54
    assert w.current not in labels and not set(w.queue) & set(labels)
    assert w["progress"]["model"] == "model trained on 54 labels"


# ---------------------------------------------------------------------- model, guess, curves
def test_guess_and_prequential_curve_without_eval_set(make_widget, sounds):
    ds, _, _ = sounds
    w = make_widget()
    send = Sender(w)
    plots = {repr(w["plot"])}
    for _ in range(16):
        send("label", ds.labels[w.current])
        assert w.wait_idle(IDLE)  # a fresh model before every clip: each label is scored
        plots.add(repr(w["plot"]))
    assert w["guess"] and len(w["guess"]) == 3
    assert all(0 <= g["p"] <= 1 for g in w["guess"]) and w["guess"][0]["p"] >= w["guess"][1]["p"] >= w["guess"][2]["p"]
    assert w["guess"][0]["label"] in w["classes"]
    assert set(w.curves) == {"prequential", "audit"}
    xs, ys = w.curves["prequential"]
    assert len(xs) >= 10 and xs == sorted(xs) and all(0 <= y <= 1 for y in ys)
    assert len(plots) > 3  # the plot was redrawn in place as labels came in
    assert w["progress"]["per_minute"] > 0


def test_progress_says_when_unlabelled_clips_took_part_in_training(make_widget, sounds):
    from alwidget import SpreadRegression

    ds, _, _ = sounds
    for model, pseudo in [(SpreadRegression(gate=False), True), ("linear", False)]:
        w = make_widget(model=model)
        send = Sender(w)
        for _ in range(8):
            send("label", ds.labels[w.current])
            assert w.wait_idle(IDLE)
        learner = w.learner
        text = w["progress"]["model"]
        assert text.startswith("model trained on 8 labels"), text
        if pseudo:
            n = learner.model_.n_pseudo_
            assert n > 1 and text.endswith(f", spread to {n} similar clips"), text
        else:
            assert text == "model trained on 8 labels"


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
    assert w["progress"]["open"] == len(ds) - len(held) - 12


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
    assert w.learner.classes == ["bird", "bell", "voice"] and w["classes"] == ["bird", "bell", "voice"]
    assert "key 3" in w["message"]
    i = w.current
    send("label", "voice")
    assert w.learner.labels[i] == "voice"
    send("add_class", "voice")  # a duplicate: shown, not raised
    assert "already exists" in w["message"] and w["error"] == ""
    send("add_class", "   ")
    assert w["message"] == "type a class name first"
    assert w.wait_idle(IDLE)


def test_unknown_class_and_unknown_command_are_shown_not_raised(make_widget):
    w = make_widget()
    send = Sender(w)
    send("label", "dragon")
    assert "'dragon' is not a class" in w["message"] and w.learner.n_labeled == 0
    send("explode")
    assert "unknown command" in w["message"]


def test_an_error_in_a_callback_is_shown_and_the_widget_keeps_working(make_widget, sounds):
    ds, X, classes = sounds
    learner = ActiveLearner(X, classes)
    first = int(learner.query(1)[0])
    w = make_widget(learner=learner, dataset=FlakyDataset(ds, bad=first))
    assert w.current == first
    assert "RuntimeError: disk error reading clip" in w["error"]
    assert "Traceback" in w.errors[-1] and "wav_bytes" in w.errors[-1]
    assert w["audio"] == b"" and "cannot be played" in w["message"]
    send = Sender(w)
    send("skip")
    assert w.current != first and w["audio"][:4] == b"RIFF"
    send("dismiss")
    assert w["error"] == ""


def test_an_error_in_the_background_worker_is_shown(make_widget, sounds):
    ds, X, classes = sounds
    w = make_widget(learner=ActiveLearner(X, classes, model=BrokenModel()))
    send = Sender(w)
    send("label", "bird")
    send("label", "bell")
    assert w.wait_idle(IDLE)
    assert "RuntimeError: boom in fit" in w["error"] and len(w.errors) >= 1
    send("label", "knock")  # labelling goes on
    assert w.learner.n_labeled == 3
    assert w.wait_idle(IDLE) and not w["training"]


def test_the_end_of_the_pool_is_shown(sounds):
    ds, X, classes = sounds
    learner = ActiveLearner(X[:5], classes, model=SlowCentroid(delay=0.0))
    w = LabelingSession(learner, _Subset(ds, 5), prefetch=2)
    try:
        assert w.wait_idle(IDLE)
        send = Sender(w)
        for _ in range(5):
            send("label", classes[0])
        assert w.current is None and w["clip"] == {} and w["audio"] == b""
        assert "pool is finished" in w["message"] and w["progress"]["open"] == 0
        send("label", classes[0])
        assert w.learner.n_labeled == 5 and "pool is finished" in w["message"]
        assert w.wait_idle(IDLE) and w["error"] == ""
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
    assert w["demo"]
    send = Sender(w)
    plots = set()
    w.on_change(lambda changes: plots.add(repr(changes["plot"])) if "plot" in changes else None)
    send("auto", 12)
    assert w.wait_idle(IDLE)
    assert w.learner.n_labeled == 12
    assert all(ds.labels[i] == y for i, y in w.learner.labels.items())
    assert w["auto"] == {"running": False, "left": 0, "done": 12}
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
    assert "auto-labelling is running" in w["message"]
    send("stop")
    assert w.wait_idle(IDLE)
    assert w.learner.n_labeled < 40 and not w["auto"]["running"]


def test_auto_label_needs_an_oracle(make_widget):
    w = make_widget()
    with pytest.raises(InvalidInputError, match="oracle"):
        w.auto_label(3)
    Sender(w)("auto", 3)
    assert "oracle" in w["message"]


def test_demo_adds_classes_the_learner_lacks(make_widget, sounds):
    ds, _, _ = sounds
    w = make_widget(classes=["bird"], oracle=ds.labels)
    w.auto_label(6)
    assert w.wait_idle(IDLE)
    assert set(w.learner.labels.values()) <= set(w.learner.classes)
    assert len(w.learner.classes) > 1 and w["classes"] == [str(c) for c in w.learner.classes]


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
    w2 = LabelingSession(fresh, ds, journal=path)
    try:
        assert w2.wait_idle(IDLE)
        assert fresh.labels == expected and "siren" in fresh.classes
        assert w2["progress"]["n_labeled"] == 2 and w2.current not in expected
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
    assert w["error"].startswith("journal: labels are NOT being saved") and "No space left" in w["error"]
    assert w.learner.n_labeled == 2  # the label is kept in memory
    full["on"] = False
    send("label", ds.labels[w.current])  # the disk accepts writes again: the backlog is written
    assert w.learner.journal_error is None
    assert w["error"] == ""  # the warning goes away once the labels are on disk
    expected = w.learner.labels
    assert w.wait_idle(IDLE)
    w.learner.close_journal()
    assert ActiveLearner(X, classes, journal=path).labels == expected


def test_journal_needs_a_learner_that_can_journal(sounds, tmp_path):
    ds, X, classes = sounds

    class Plain(ActiveLearner):
        open_journal = None

    with pytest.raises(RuntimeError, match="open_journal"):
        LabelingSession(Plain(X, classes), ds, journal=tmp_path / "j.jsonl")


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
        LabelingSession(ActiveLearner(X, classes), ds, **kwargs)


def test_dataset_must_match_the_pool(sounds):
    ds, X, classes = sounds
    with pytest.raises(InvalidInputError, match="the dataset has 72 clips but the learner's pool has 10"):
        LabelingSession(ActiveLearner(X[:10], classes), ds)


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
    assert "labelled or skipped elsewhere" in w["message"]
    w.learner.skip(w.current)
    w.refresh()
    assert w.wait_idle(IDLE)
    assert w.current not in w.learner.skipped_idx and w.current not in w.learner.labels


# ---------------------------------------------------------------------- observable state, modes
def test_snapshot_and_on_change_describe_the_whole_state(make_widget, sounds):
    from alwidget.session import FIELDS

    ds, _, _ = sounds
    s = make_widget()
    snap = s.snapshot()
    assert set(snap) == set(FIELDS) and snap["mode"] == "active"
    seen = []
    unsubscribe = s.on_change(seen.append)
    s.label(ds.labels[s.current])
    assert seen and all(set(c) <= set(FIELDS) for c in seen)
    merged = {k: v for c in seen for k, v in c.items()}
    assert merged["progress"]["n_labeled"] == 1 and merged["clip"]["index"] == s.current
    assert s.wait_idle(IDLE)
    replayed = dict(snap)
    for change in seen:  # the changes, applied in order to the first snapshot, give the state now
        replayed.update(change)
    assert replayed == s.snapshot()
    unsubscribe()
    n = len(seen)
    s.skip()
    assert len(seen) == n  # unsubscribed


def test_pretrained_features_are_credited_in_the_state(make_widget, sounds):
    from alwidget.embedders import Embedder

    ds, _, _ = sounds
    assert make_widget()["credits"] == ""  # log-mel statistics: nothing to credit

    class Licensed(Embedder):
        name = "licensed"
        credits = "net by A. Person, weights CC BY 4.0"

    sub = ds.subset(range(len(ds)))
    sub.last_embedder = Licensed()
    assert make_widget(dataset=sub)["credits"] == "net by A. Person, weights CC BY 4.0"


def test_a_learner_fitting_several_views_as_one_is_told_to_pass_the_dataset(sounds):
    from alwidget.embedders import ConcatEmbedder
    from alwidget.errors import AlwidgetWarning

    ds = sounds[0].subset(range(12))
    X = ds.embed(ConcatEmbedder(["logmel", "mfcc"]), progress=False, cache_dir=False)  # two views: 384 + 120
    classes = sorted(set(ds.labels))
    with pytest.warns(AlwidgetWarning, match=r"widths \[384, 120\].*dataset=ds"):  # a copy: its views unknown
        LabelingSession(ActiveLearner(X.copy(), classes), ds, start=False).close()
    learners = [ActiveLearner(X, classes), ActiveLearner(X.copy(), classes, dataset=ds)]  # the rows, or the dataset
    for learner in [*learners, ActiveLearner(X.copy(), classes, model="mlp")]:
        LabelingSession(learner, ds, start=False).close()  # one model per view, or no linear model: no warning
    ds.embed("logmel", progress=False, cache_dir=False)  # one view: nothing to say
    LabelingSession(
        ActiveLearner(ds.embed("logmel", progress=False, cache_dir=False), classes), ds, start=False
    ).close()


def test_session_module_never_imports_a_front_end():
    import subprocess
    import sys

    code = (
        "import sys, alwidget.session, alwidget.learner\n"
        "bad = {'ipywidgets', 'anywidget', 'traitlets'} & set(sys.modules)\n"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"audit_rate": 1.5}, "audit_rate must be a number in"),
        ({"audit_rate": -0.1}, "audit_rate must be a number in"),
        ({"mode": "search"}, "starts in mode 'active'.*session.search"),
        ({"mode": "review"}, "starts in mode 'active'.*modes are"),
        ({"search_n": 0}, "search_n"),
    ],
)
def test_bad_session_arguments(sounds, kwargs, match):
    ds, X, classes = sounds
    with pytest.raises(InvalidInputError, match=match):
        LabelingSession(ActiveLearner(X, classes), ds, start=False, **kwargs)


# ---------------------------------------------------------------------- audit: honest accuracy
def test_audit_pick_is_uniform_and_reproducible():
    from alwidget.session import audit_pick, audit_slot

    open_idx = np.arange(3, 23)
    picks = [audit_pick(7, n, open_idx) for n in range(4000)]
    assert picks == [audit_pick(7, n, open_idx) for n in range(4000)]  # seeded
    counts = np.bincount(np.asarray(picks) - 3, minlength=20)
    expected = 4000 / 20
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 50  # 19 degrees of freedom: p < 1e-4 only if the picks are not uniform
    rate = np.mean([audit_slot(7, n, 0.1) for n in range(4000)])
    assert 0.08 < rate < 0.12
    assert not any(audit_slot(7, n, 0.0) for n in range(200))
    assert audit_pick(7, 0, np.array([], dtype=np.int64)) is None


def _label_all(s, truth, n, *, wait=True):
    audits = []
    for _ in range(n):
        i = s.current
        audits.append(s.current_is_audit)
        s.label(truth[i], clip=i)
        if wait:
            assert s.wait_idle(IDLE)
    return audits


def test_audit_clips_are_shown_at_their_slots_and_give_an_interval(make_widget, sounds):
    from alwidget.session import audit_pick, audit_slot
    from alwidget.session.curves import MIN_AUDITS

    ds, _, _ = sounds
    s = make_widget(window=10, audit_rate=0.3)
    shown = []
    for n in range(40):
        i = s.current
        if audit_slot(0, n, 0.3):
            assert s.current_is_audit and i == audit_pick(0, n, s.learner.unlabeled_idx)
        else:
            assert not s.current_is_audit
        shown.append(i)
        s.label(ds.labels[i], clip=i)
        assert s.wait_idle(IDLE)
    n_audit = sum(audit_slot(0, n, 0.3) for n in range(40))
    assert n_audit >= MIN_AUDITS
    first = next(k + 1 for k in range(40) if sum(audit_slot(0, n, 0.3) for n in range(k + 1)) == MIN_AUDITS)
    xs, ys = s.curves["audit"]
    xi, lo, hi = s.audit_interval
    assert xs == xi == list(range(first, 41))  # a point per model from the MIN_AUDITS-th audit label on
    assert all(a <= y <= b for a, y, b in zip(lo, ys, hi)) and all(0 <= a <= b <= 1 for a, b in zip(lo, hi))
    assert s["plot"]["series"][0]["key"] == "audit" and "estimated accuracy" in s["plot"]["title"]
    assert "95% interval" in s["plot"]["series"][0]["label"]
    assert not _shared_phrases(s["plot"]["title"], s["plot"]["series"][0]["label"])  # each says its own thing
    # the same seed and the same labels show the same clips, audit clips included
    s2 = make_widget(window=10, audit_rate=0.3)
    for i in shown:
        assert s2.current == i
        s2.label(ds.labels[i], clip=i)
        assert s2.wait_idle(IDLE)
    assert s2.curves["audit"] == s.curves["audit"]


def test_audit_rate_zero_disables_auditing(make_widget, sounds):
    ds, _, _ = sounds
    s = make_widget(audit_rate=0)
    audits = _label_all(s, ds.labels, 12)
    assert not any(audits) and "audit" not in s.curves and "no accuracy estimate" in s["plot"]["title"]


def test_resume_rebuilds_the_audit_curve_and_the_label_rate(make_widget, sounds, tmp_path):
    ds, X, classes = sounds
    path = tmp_path / "labels.jsonl"
    s = make_widget(journal=path, window=5, audit_rate=0.4)
    _label_all(s, ds.labels, 30)
    s.skip()
    s.undo()  # an undo in the journal: replayed too
    curve, interval = s.curves["audit"], s.audit_interval
    assert len(curve[0]) >= 2 and curve[0][-1] == 30
    rate = s["progress"]["per_minute"]
    assert rate and rate > 0
    s.close()
    s.learner.close_journal()

    fresh = ActiveLearner(X, classes, model=SlowCentroid(delay=0.0))
    s2 = LabelingSession(fresh, ds, journal=path, window=5, audit_rate=0.4)
    try:
        assert s2.wait_idle(IDLE)
        assert fresh.n_labeled == 30
        # the estimates at a few label counts and for the newest model, rebuilt: each as the live session had it
        live = {x: (y, a, b) for x, y, a, b in zip(curve[0], curve[1], interval[1], interval[2])}
        again = s2.curves["audit"], s2.audit_interval
        rebuilt = {x: (y, a, b) for x, y, a, b in zip(again[0][0], again[0][1], again[1][1], again[1][2])}
        assert len(rebuilt) >= 3 and rebuilt.items() <= live.items() and max(rebuilt) == 30, (rebuilt, live)
        assert s2["progress"]["per_minute"] == pytest.approx(rate, rel=0.1)  # goes on from the journal (ms times)
        assert s2["plot"]["series"] and s2["plot"]["series"][0]["x"] == again[0][0]
    finally:
        s2.close()
        fresh.close_journal()


def test_resume_rebuilds_the_eval_curve(make_widget, sounds, tmp_path):
    ds, X, classes = sounds
    held = np.arange(0, len(ds), 4)
    ev = (held, [ds.labels[i] for i in held])
    path = tmp_path / "labels.jsonl"
    s = make_widget(journal=path, eval_set=ev)
    _label_all(s, ds.labels, 31, wait=False)
    assert s.wait_idle(IDLE)
    s.close()
    s.learner.close_journal()
    fresh = ActiveLearner(X, classes, model=SlowCentroid(delay=0.0))
    s2 = LabelingSession(fresh, ds, journal=path, eval_set=ev)
    try:
        assert s2.wait_idle(IDLE)
        xs, ys = s2.curves["active"]
        assert len(xs) >= 10 and xs[-1] == 31 and all(0 <= y <= 1 for y in ys)  # not just the last model's point
    finally:
        s2.close()
        fresh.close_journal()


# ---------------------------------------------------------------------- demo counters, rate
def test_demo_left_and_done_always_add_up_and_the_rate_ignores_auto_labels(make_widget, sounds):
    ds, _, _ = sounds
    s = make_widget(oracle=ds.labels)
    autos = []
    s.on_change(lambda c: autos.append((c["auto"], s.learner.n_labeled)) if "auto" in c else None)
    s.auto_label(9)
    assert s.wait_idle(IDLE)
    assert autos[-1][0] == {"running": False, "left": 0, "done": 9}
    for auto, n_labeled in autos[1:]:
        assert auto["done"] + auto["left"] == 9  # never "29 left" with 2 of 30 done
        assert auto["done"] == n_labeled  # published with the label, not one cycle later
    assert s["progress"]["per_minute"] is None  # auto-labels are not the person's speed
    _label_all(s, ds.labels, 3, wait=False)
    rate = s["progress"]["per_minute"]
    assert rate is not None and rate > 100  # 3 quick labels by hand: 2 gaps counted, not the auto ones


def test_per_minute_leaves_out_breaks():
    from alwidget.session.curves import _per_minute

    assert _per_minute([]) is None and _per_minute([1.0]) is None
    assert _per_minute([0.0, 2.0, 4.0]) == 30.0
    assert _per_minute([0.0, 2.0, 4.0, 1000.0, 1002.0]) == 30.0  # a 16-minute pause is a break
    assert _per_minute([0.0, 2.0, None, 50.0, 52.0]) == 30.0  # auto-labelling in between


# ---------------------------------------------------------------------- journal takeover
class _Recorder(ActiveLearner):
    calls: list = []

    def open_journal(self, path, takeover=False):
        type(self).calls.append(takeover)
        super().open_journal(path)


def test_the_session_opens_journals_with_takeover(sounds, tmp_path):
    ds, X, classes = sounds
    learner = _Recorder(X, classes)
    s = LabelingSession(learner, ds, journal=tmp_path / "j.jsonl", start=False)
    assert _Recorder.calls == [True]
    s.close()
    learner.close_journal()


class _TakenOver(ActiveLearner):
    """A learner whose journal another session took over after the first label."""

    def teach(self, idx, labels):
        from alwidget.errors import JournalLockedError

        if self.n_labeled >= 1:
            msg = "the journal j.jsonl was taken over by a newer session (a reloaded page); labels here are refused"
            raise JournalLockedError(msg)
        super().teach(idx, labels)


def test_a_taken_over_journal_blocks_labelling_with_a_clear_message(sounds):
    ds, X, classes = sounds
    s = LabelingSession(_TakenOver(X, classes, model=SlowCentroid(delay=0.0)), ds)
    try:
        assert s.wait_idle(IDLE)
        s.handle({"kind": "label", "value": ds.labels[s.current], "clip": s.current})
        assert s.learner.n_labeled == 1 and not s.blocked
        s.handle({"kind": "label", "value": ds.labels[s.current], "clip": s.current})
        assert "taken over by a newer session" in s.error and s.blocked == s.error
        assert s.errors == []  # an expected state, not a crash with a traceback
        for cmd in ({"kind": "skip"}, {"kind": "add_class", "value": "x"}, {"kind": "label", "value": "bird"}):
            s.handle(cmd)
        s.handle({"kind": "dismiss"})
        assert s.learner.n_labeled == 1 and "x" not in s.learner.classes and s.error == s.blocked
    finally:
        s.close()


def test_a_new_session_takes_the_journal_over_from_a_live_process(sounds, tmp_path):
    """A reloaded Voila page: the old kernel still holds the journal; the new session resumes every label."""
    import subprocess
    import sys
    import textwrap

    ds, X, classes = sounds
    path = tmp_path / "labels.jsonl"
    np.save(tmp_path / "X.npy", X)
    old_kernel = textwrap.dedent(
        f"""
        import sys, numpy as np
        from alwidget import ActiveLearner
        learner = ActiveLearner(np.load({str(tmp_path / "X.npy")!r}), {classes!r}, journal={str(path)!r})
        learner.teach([0, 1, 2], ["bird", "bell", "bird"])
        print("ready", flush=True)
        sys.stdin.readline()
        try:
            learner.teach(3, "bell")
        except Exception as exc:
            print(type(exc).__name__, exc, flush=True)
        else:
            print("taught", flush=True)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", old_kernel], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        fresh = ActiveLearner(X, classes, model=SlowCentroid(delay=0.0))
        s = LabelingSession(fresh, ds, journal=path)
        try:
            assert s.wait_idle(IDLE) and s.error == "" and not s.blocked
            assert fresh.labels == {0: "bird", 1: "bell", 2: "bird"}  # every label of the old page
            s.label("bell")
            proc.stdin.write("\n")
            proc.stdin.flush()
            answer = proc.stdout.readline()
            assert answer.startswith("JournalLockedError")  # the old page refuses labels, and says why
            assert fresh.n_labeled == 4
        finally:
            s.close()
            fresh.close_journal()
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)


def test_plot_curves_draws_the_plot_with_matplotlib(make_widget, sounds):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    ds, _, _ = sounds
    s = make_widget(oracle=ds.labels)
    s.auto_label(5)
    assert s.wait_idle(IDLE)
    ax = Figure().add_subplot()
    assert s.plot_curves(ax) is ax
    labels = [line.get_label() for line in ax.get_lines()]
    assert any("active learning" in t for t in labels) and "random sampling (baseline)" in labels
    assert list(ax.get_lines()[0].get_xdata()) == s.curves["active"][0]


def test_the_audit_estimate_brackets_the_accuracy_it_estimates(make_widget, sounds):
    """Demo mode knows every true label, so the estimate can be checked against what it estimates.

    An audit clip is drawn at random from the clips not labelled yet; the
    audit clips labelled are scored by models trained without them
    (cross-fitting), which estimates the accuracy of the newest model on
    clips like the pool's that it has not seen: here fresh sounds of the
    same classes (on a pool this small the clips left are not such a
    sample: the strategy took the hard ones). One seed is one fixed draw of
    a 95% interval, so the check is a coverage rate: at least 15 seeds in 20
    (20 here). Guesses scored as right whatever the label cover none of the
    20; guesses right a quarter of the time cover few.
    """
    ds, X, classes = sounds
    fresh = make_sounds(n_per_class=30, seed=4)
    X_fresh = fresh.embed("logmel", progress=False, cache_dir=False)
    covered = []
    for seed in range(20):
        learner = ActiveLearner(X, classes, model=SlowCentroid(delay=0.0), seed=seed)
        s = make_widget(learner=learner, oracle=ds.labels, audit_rate=0.5, window=10)
        s.auto_label(30)
        assert s.wait_idle(IDLE)
        xs, _ = s.curves["audit"]
        _, lo, hi = s.audit_interval
        assert len(xs) >= 3 and xs[-1] == 30  # about half of the 30 clips shown were drawn at random
        estimand = learner.score(X_fresh, fresh.labels)  # the newest model, on clips it has never seen
        covered.append(lo[-1] <= estimand <= hi[-1])
    assert sum(covered) >= 15, covered
    keys = [series["key"] for series in s["plot"]["series"]]
    assert keys == ["active", "random", "audit"]  # demo: the true pool accuracy beside the estimate
    assert not any(_shared_phrases(s["plot"]["title"], series["label"]) for series in s["plot"]["series"])


def _shared_phrases(a: str, b: str, n: int = 3) -> set:
    """Runs of ``n`` words that both texts hold (a title and a legend should not say the same thing twice)."""

    def runs(text):
        words = text.replace(",", " ").replace("(", " ").replace(")", " ").split()
        return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}

    return runs(a) & runs(b)


# ---------------------------------------------------------------------- search mode
def _cosine_order(X, q, exclude=()):
    """Pool rows by cosine similarity to row q on standardised embeddings (the reference)."""
    Z = (X - X.mean(0)) / X.std(0).clip(1e-12)
    Z /= np.linalg.norm(Z, axis=1, keepdims=True)
    sims = Z @ Z[q]
    order = [int(i) for i in np.argsort(-sims, kind="stable") if i != q and i not in exclude]
    return order


def test_search_by_clip_queues_the_nearest_clips_and_labels_them_in_search_mode(make_widget, sounds, tmp_path):
    ds, X, classes = sounds
    w = make_widget(journal=tmp_path / "j.jsonl", search_n=5, audit_rate=0.0)
    send = Sender(w)
    first = w.current
    send("label", classes[0])
    assert w.wait_idle(IDLE)
    query = w.current
    send("search")  # "find more like this" on the clip on screen
    assert w.wait_idle(IDLE)
    assert w.mode == "search" and w["mode"] == "search"
    expected = _cosine_order(X, query, exclude={first})[:5]
    assert [w.current, *w.results] == expected  # the nearest open clips, best first: the first replaced the query
    assert w.current_is_audit is False and w._current_mode == "search"
    assert w["search"] == {"query": w.dataset.name(query), "total": 5, "left": 5}
    assert w.message.startswith(f"5 clips like {w.dataset.name(query)}")  # the banner and the message agree
    assert query in w.queue  # the learner's query comes back after the search
    send("label", classes[1])
    assert w.current == expected[1] and w["search"]["left"] == 4
    send("skip")
    assert w["search"]["left"] == 3
    events = w.learner.history
    assert [(e.kind, e.mode) for e in events[-3:]] == [("teach", "active"), ("teach", "search"), ("skip", "search")]
    assert w.learner.label_modes[expected[0]] == "search" and query not in w.learner.label_modes

    # undo brings the skipped result back, still in search mode
    send("undo")
    assert w.current == expected[1] and w.mode == "search"
    send("skip")

    # the journal replays every event with its mode
    w.close()
    w.learner.close_journal()
    again = ActiveLearner(X, list(classes), model=SlowCentroid(delay=0.0), journal=tmp_path / "j.jsonl")
    replayed = [(e.kind, e.indices, e.mode) for e in again.history]
    assert replayed == [(e.kind, e.indices, e.mode) for e in w.learner.history]
    assert replayed[-2:] == [("undo", (expected[1],), "active"), ("skip", (expected[1],), "search")]
    assert again.label_modes == w.learner.label_modes


def test_search_results_run_out_and_active_learning_comes_back(make_widget, sounds):
    ds, X, classes = sounds
    w = make_widget(search_n=2, audit_rate=0.0)
    send = Sender(w)
    w.search([0, 1])  # several indices: their mean direction
    assert w.wait_idle(IDLE)
    shown = [w.current, *w.results]
    assert w.mode == "search" and len(shown) == 2 and not {0, 1} & set(shown)
    for _ in range(2):  # both results
        send("label", classes[0])
    assert w.mode == "active" and w["search"] == {}
    assert "search done" in w.message
    assert w.wait_idle(IDLE)
    assert w.current is not None and w.learner.is_unlabeled(w.current)


def test_leaving_search_mode_shows_the_learners_next_query(make_widget, sounds):
    ds, X, classes = sounds
    w = make_widget(search_n=4, audit_rate=0.0)
    send = Sender(w)
    send("label", classes[0])
    assert w.wait_idle(IDLE)
    send("label", classes[1])
    assert w.wait_idle(IDLE)
    w.search(w.current)
    assert w.wait_idle(IDLE)
    send("label", classes[0])
    result = w.current
    assert w.mode == "search" and w._current_mode == "search"
    send("mode", "active")
    assert w.mode == "active" and w.results == () and w.current != result
    assert w.learner.is_unlabeled(result)  # left open, not labelled or skipped
    send("mode", "search")  # search needs an example: says so, stays active
    assert w.mode == "active" and "example" in w.message


def test_search_by_audio_file_bytes_and_bad_queries_are_shown_not_raised(make_widget, sounds, tmp_path):
    import io

    import soundfile as sf

    ds, X, classes = sounds
    w = make_widget(search_n=3, audit_rate=0.0)
    y, sr = ds[7]
    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV", subtype="FLOAT")
    w.search_audio(buf.getvalue(), "example.wav")
    assert w.wait_idle(IDLE)
    assert w.mode == "search" and w["search"]["query"] == "file example.wav"
    assert 7 in list(w.results)[:1] or w.current == 7  # the clip itself is its own nearest neighbour
    w.set_mode("active")
    with pytest.raises(InvalidInputError, match=r"cannot search with the file 'junk.wav'.*choose a WAV") as bad:
        w.search_audio(b"not audio at all", "junk.wav")  # checked at once, named by its upload name
    assert "BytesIO" not in str(bad.value) and "0x" not in str(bad.value)
    assert w.wait_idle(IDLE) and w.mode == "active"
    w.handle({"kind": "search", "clip": 10_000})
    assert w.wait_idle(IDLE)
    assert w.mode == "active" and "10000" in w.message
    with pytest.raises(InvalidInputError, match="bytes"):
        w.search_audio(b"")


def test_unsure_answer_from_the_front_end_is_kept_out_of_training_and_the_queue(make_widget, sounds, tmp_path):
    ds, X, classes = sounds
    w = make_widget(journal=tmp_path / "j.jsonl")
    send = Sender(w)
    send("label", classes[0])
    assert w.wait_idle(IDLE)
    doubt = w.current
    send("unsure")
    assert w.current != doubt and w.learner.unsure_idx.tolist() == [doubt]
    assert w["progress"]["n_unsure"] == 1 and w["progress"]["open"] == len(ds) - 2
    for _ in range(5):
        assert w.wait_idle(IDLE)
        assert doubt not in w.queue and w.current != doubt  # never asked again
        send("label", classes[1])
    assert w.wait_idle(IDLE)
    assert w.learner.n_labels_fit_ == 6  # the unsure clip is not a training label
    # undo back to the unsure answer: the clip comes back on screen
    for _ in range(6):
        send("undo")
    assert w.current == doubt and "unsure" in w.message and w.learner.unsure_idx.tolist() == []
    send("unsure")
    w.close()
    w.learner.close_journal()
    again = ActiveLearner(X, list(classes), model=SlowCentroid(delay=0.0), journal=tmp_path / "j.jsonl")
    assert again.unsure_idx.tolist() == [doubt]
    assert [e.kind for e in again.history].count("unsure") == 2


# ---------------------------------------------------------------------- label review
def test_label_review_shows_doubtful_labels_first_and_relabels_confirms_withdraws(sounds, tmp_path):
    ds, X, classes = sounds
    truth = list(ds.labels)
    learner = ActiveLearner(X, list(classes), journal=tmp_path / "j.jsonl")
    rng = np.random.default_rng(0)
    picked = [int(i) for i in rng.choice(len(ds), size=36, replace=False)]
    wrong = picked[:3]
    given = {i: (classes[(classes.index(truth[i]) + 1) % len(classes)] if i in wrong else truth[i]) for i in picked}
    learner.teach(picked, [given[i] for i in picked])
    w = LabelingSession(learner, ds, audit_rate=0.0)
    try:
        assert w.wait_idle(IDLE)
        send = Sender(w)
        send("review")  # the widget's "review labels" button (key r)
        assert w.wait_idle(IDLE)
        assert w.mode == "review" and w["search"]["total"] == 36
        from alwidget.review import label_review_order

        order = [int(i) for i in label_review_order(learner).indices]
        assert [w.current, *w.results] == order  # most doubtful first
        assert max(order.index(i) for i in wrong) < 12  # the planted mistakes come early
        assert w["clip"]["given"] == given[w.current]
        answers = {}
        while not all(learner.labels.get(i) == truth[i] for i in wrong):
            i = w.current
            if i in wrong:
                send("label", truth[i])  # relabel
            elif not any(v is None for v in answers.values()):
                send("unsure")  # withdraw a label: recorded as unsure
            else:
                send("label", given[i])  # confirm: nothing changes
            answers[i] = learner.labels.get(i)
        assert all(learner.labels[i] == truth[i] for i in wrong)
        withdrawn = next(i for i, v in answers.items() if v is None)
        assert learner.unsure_idx.tolist() == [withdrawn]
        assert [e.kind for e in learner.history[1:]].count("relabel") == 3
        assert all(learner.label_modes[i] == "review" for i in wrong)
        assert learner.n_labeled == 35 and w.mode == "review"
        last = next(e for e in reversed(learner.history) if e.kind in ("relabel", "unsure"))
        send("undo")  # reverts the last relabel (or the withdrawal) and shows that clip again, still in review
        assert w.current == last.indices[0] and w.mode == "review"
        send("mode", "active")
        assert w.mode == "active" and "clip" in w["clip"].get("name", "clip") and "given" not in w["clip"]
        w.close()
        learner.close_journal()
        again = ActiveLearner(X, list(classes), journal=tmp_path / "j.jsonl")
        assert again.labels == learner.labels and again.unsure_idx.tolist() == learner.unsure_idx.tolist()
        assert again.label_modes == learner.label_modes
    finally:
        w.close()


def test_detection_review_samples_score_bins_and_estimates_precision_per_bin(sounds, tmp_path):
    ds, X, classes = sounds
    truth = list(ds.labels)
    learner = ActiveLearner(X, list(classes), journal=tmp_path / "j.jsonl")
    picked = [int(i) for i in np.random.default_rng(1).choice(len(ds), size=24, replace=False)]
    learner.teach(picked, [truth[i] for i in picked])
    w = LabelingSession(learner, ds, audit_rate=0.0)
    try:
        assert w.wait_idle(IDLE)
        target = classes[1]
        w.review_detections(target, per_bin=3, n_bins=2, top=4)
        assert w.wait_idle(IDLE)
        state = w["search"]
        assert w.mode == "review" and state["class"] == target
        assert [b["name"] for b in state["bins"]] == ["top", "bin 1", "bin 2"]
        assert state["total"] == 9 and all(b["yes"] == b["no"] == 0 for b in state["bins"])
        proba = learner.predict_proba()[:, classes.index(target)]
        top4 = set(np.argsort(-proba[learner.unlabeled_idx], kind="stable")[:4].tolist())
        bin_of = w._detect["bin_of"]
        assert {learner.unlabeled_idx[j] for j in top4} >= {i for i, b in bin_of.items() if b == 0}
        send = Sender(w)
        answers = []
        for k in range(9):
            i = w.current
            if k == 4:
                send("unsure")
                answers.append((i, None))
            else:
                send("label", truth[i])  # the reviewer says what it is: yes when it is the target
                answers.append((i, truth[i]))
        assert sorted(bin_of.values()) == [0, 0, 0, 1, 1, 1, 2, 2, 2]  # per_bin from every bin
        assert sorted(i for i, _ in answers) == sorted(bin_of)  # every sampled clip was shown once
        # after the last answer the final estimate stays (review mode, no clip) until the user leaves
        state = w["search"]
        assert w.mode == "review" and state["done"] and state["left"] == 0 and w.current is None
        assert sum(b["yes"] + b["no"] + b["unsure"] for b in state["bins"]) == 9
        send("mode", "active")
        assert w.mode == "active" and w["search"] == {} and w.current is not None
        modes = learner.label_modes
        assert all(modes[i] == "review" for i, t in answers if t is not None)
        assert learner.unsure_idx.tolist() == [answers[4][0]]
    finally:
        w.close()


def test_detection_review_state_shows_answers_and_wilson_intervals_as_they_come(sounds):
    from alwidget.review import bin_precision

    ds, X, classes = sounds
    truth = list(ds.labels)
    learner = ActiveLearner(X, list(classes))
    picked = [int(i) for i in np.random.default_rng(2).choice(len(ds), size=24, replace=False)]
    learner.teach(picked, [truth[i] for i in picked])
    w = LabelingSession(learner, ds, audit_rate=0.0)
    try:
        assert w.wait_idle(IDLE)
        target = classes[0]
        w.review_detections(target, per_bin=4, n_bins=1, top=4)
        assert w.wait_idle(IDLE)
        bin_of = w._detect["bin_of"]
        counts = {0: [0, 0, 0], 1: [0, 0, 0]}
        for _ in range(5):
            i = w.current
            Sender(w)("label", truth[i])
            counts[bin_of[i]][0 if truth[i] == target else 1] += 1
        rows = w["search"]["bins"]
        assert [(r["yes"], r["no"], r["unsure"]) for r in rows] == [tuple(counts[0]), tuple(counts[1])]
        for r, e in zip(rows, bin_precision([tuple(counts[0]), tuple(counts[1])])):
            if r["yes"] + r["no"]:
                assert (r["precision"], r["low"], r["high"]) == (round(e.precision, 4), round(e.lo, 4), round(e.hi, 4))
            else:
                assert r["precision"] is None
        with pytest.raises(InvalidInputError, match="not a class"):
            w.review_detections("owl")
    finally:
        w.close()


# ---------------------------------------------------------------- issue 28: yes / no / unsure, near-duplicate classes
def test_detection_review_answers_yes_no_unsure_are_journalled_undoable_and_replayed(sounds, tmp_path):
    from alwidget.session._queue import a_class, detection_counts

    ds, X, classes = sounds
    truth = list(ds.labels)
    learner = ActiveLearner(X, list(classes), journal=tmp_path / "j.jsonl")
    picked = [int(i) for i in np.random.default_rng(4).choice(len(ds), size=24, replace=False)]
    learner.teach(picked, [truth[i] for i in picked])
    w = LabelingSession(learner, ds, audit_rate=0.0)
    try:
        assert w.wait_idle(IDLE)
        target = classes[2]
        with pytest.raises(InvalidInputError, match="detection review"):
            w.answer("yes")  # no detection review on screen
        n_before = len(learner.history)
        w.review_detections(target, per_bin=2, n_bins=2, top=2)
        assert w.wait_idle(IDLE)
        assert f"is each {a_class(target)}?" in w.message and "y yes" in w.message
        send = Sender(w)
        detect = w._detect
        yes, no, unsure, other = w.current, None, None, None
        send("answer", "yes")
        no = w.current
        w.answer("no")  # the public method
        unsure = w.current
        send("answer", "unsure")
        skipped = w.current
        send("skip")  # leaves it unanswered: nothing journalled
        other = w.current
        wrong = next(c for c in classes if c != target)
        send("label", wrong)  # a class key still labels the clip: a "no" with its class
        assert learner.label_of(yes) == target and learner.label_modes[yes] == "review"
        assert learner.label_of(no) is None and not learner.is_unlabeled(no) and not learner.is_unsure(no)
        assert learner.is_unsure(unsure) and learner.is_unlabeled(skipped) and learner.label_of(other) == wrong
        kinds = [(e.kind, e.indices, e.mode) for e in learner.history[n_before:]]
        assert kinds == [
            ("teach", (yes,), "review"), ("skip", (no,), "review"), ("unsure", (unsure,), "review"),
            ("teach", (other,), "review"),
        ]  # fmt: skip
        rows = w["search"]["bins"]
        assert sum(r["yes"] for r in rows) == 1 and sum(r["no"] for r in rows) == 2
        assert sum(r["unsure"] for r in rows) == 1
        assert rows[detect["bin_of"][no]]["no"] >= 1  # the "no" counts in its own bin
        counts = detection_counts(learner, detect)

        # undo takes back each answer in turn and shows that clip again, still in the review
        send("undo")
        assert w.current == other and learner.label_of(other) is None and w.mode == "review"
        send("undo")
        assert w.current == unsure and not learner.is_unsure(unsure)
        send("undo")
        assert w.current == no and learner.is_unlabeled(no)
        assert sum(r["no"] for r in w["search"]["bins"]) == 0
        send("label", wrong)  # "no" undone, then its class: relabelled as that class
        assert learner.label_of(no) == wrong
        send("undo")
        assert w.current == no
        w.answer("no")
        w.answer("unsure")
        send("label", wrong)
        assert detection_counts(learner, detect) == counts

        # the journal gives the same answers: the same counts after a restart
        w.close()
        learner.close_journal()
        again = ActiveLearner(X, list(classes), journal=tmp_path / "j.jsonl")
        assert detection_counts(again, detect) == counts
        assert again.labels == learner.labels and again.unsure_idx.tolist() == learner.unsure_idx.tolist()
        assert again.skipped_idx.tolist() == learner.skipped_idx.tolist() == [no]
    finally:
        w.close()


def test_answers_are_checked_and_shown_as_messages_from_the_front_end(make_widget, sounds):
    ds, X, classes = sounds
    w = make_widget(audit_rate=0.0)
    send = Sender(w)
    i = w.current
    send("answer", "yes")  # not in a detection review: said so, nothing labelled
    assert w.current == i and w.learner.n_labeled == 0 and "detection review" in w.message
    send("answer", "maybe")
    assert w.learner.n_labeled == 0 and "'maybe'" in w.message
    with pytest.raises(InvalidInputError, match="one of"):
        w.answer("maybe")
    send("answer", "unsure")  # "unsure" is an answer everywhere
    assert w.learner.unsure_idx.tolist() == [i]


@pytest.mark.parametrize("name", ["Speech", " speech ", "speech.", "SPEECH!", "speeches"[:-2] + "s", "sp eech"])
def test_add_class_refuses_a_near_duplicate_and_names_the_class(make_widget, name):
    w = make_widget(classes=["speech", "bird calls"])
    with pytest.raises(InvalidInputError, match="'speech'"):
        w.add_class(name)
    assert w.learner.classes == ["speech", "bird calls"]
    Sender(w)("add_class", "Bird-Call")  # from the front end: shown, not raised
    assert w.learner.classes == ["speech", "bird calls"] and "'bird calls'" in w.message
    w.add_class("birdsong")  # a different name is fine
    assert w.learner.classes[-1] == "birdsong" and "key 3" in w.message


def test_classes_beyond_nine_are_told_how_to_pick_them(make_widget):
    w = make_widget(classes=[f"class {k}" for k in range(9)])
    w.add_class("tenth")
    assert "press / and type its name" in w.message


def test_search_with_a_file_counts_the_clip_on_screen_once(make_widget, sounds):
    import io

    import soundfile as sf

    ds, X, classes = sounds
    w = make_widget(search_n=4, audit_rate=0.0)
    on_screen = w.current
    y, sr = ds[on_screen]
    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV", subtype="FLOAT")
    w.search_audio(buf.getvalue(), "me.wav")  # the clip on screen is its own nearest match
    assert w.wait_idle(IDLE)
    state = w["search"]
    assert w.current == on_screen and w._current_mode == "search"  # now shown as the first result
    assert state["total"] == state["left"] == 4 and w.message.startswith("4 clips like file me.wav")
    Sender(w)("label", classes[0])
    assert w.learner.label_modes == {on_screen: "search"} and w["search"]["left"] == 3


# ---------------------------------------------------------------- issue 14: the session on a large pool
@pytest.mark.parametrize("seed", [0, 3, 11])
def test_audit_pick_from_the_answered_clips_equals_the_pick_from_the_open_ones(seed):
    from alwidget.session.curves import _audit_pick_answered, audit_pick

    rng = np.random.default_rng(seed)
    for n_pool in (1, 2, 7, 50, 1000):
        for _ in range(20):
            answered = np.sort(rng.choice(n_pool, size=int(rng.integers(0, n_pool + 1)), replace=False))
            open_idx = np.setdiff1d(np.arange(n_pool), answered)
            for n in range(5):
                assert _audit_pick_answered(seed, n, n_pool, answered) == audit_pick(seed, n, open_idx)


class _SynthClips:
    """A dataset of ``n`` short noise clips made on demand (any size, no files)."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return np.random.default_rng(int(i)).standard_normal(4000).astype(np.float32) * 0.1, 8000

    def wav_bytes(self, i):
        import io

        import soundfile as sf

        buf = io.BytesIO()
        sf.write(buf, self[i][0], 8000, format="WAV")
        return buf.getvalue()


class _NoWholePool(ActiveLearner):
    """A learner that fails if anything scores its whole pool (the table of a pool of millions)."""

    def predict_proba(self, X=None):
        if X is None:
            raise AssertionError("the session scored the whole pool")
        return super().predict_proba(X)


@pytest.mark.parametrize("with_eval", [False, True])
def test_a_large_pool_is_never_scored_whole_by_the_session(tmp_path, with_eval, monkeypatch):
    """Above ``candidates`` clips, labelling, audits, guesses, curves, search and both reviews
    score only the clips they need: the 10M-window path, on a pool small enough for a test."""
    rng = np.random.default_rng(5)
    n, classes = 6000, ["a", "b", "c"]
    y = rng.integers(0, 3, size=n)
    X = (rng.normal(size=(n, 16)) + 2.5 * np.eye(3, 16)[y]).astype(np.float32)
    path = tmp_path / "pool.npy"
    np.save(path, X)
    X = np.load(path, mmap_mode="r")
    truth = np.array(classes, dtype=object)[y]
    learner = _NoWholePool(X, classes, candidates=500, journal=tmp_path / "j.jsonl")
    eval_set = (np.arange(100), truth[:100]) if with_eval else None
    s = LabelingSession(learner, _SynthClips(n), audit_rate=0.3, eval_set=eval_set, oracle=list(truth))
    try:
        assert s.wait_idle(IDLE) and not s.error
        audits = _label_all(s, truth, 25)
        assert not s.error and learner.n_labeled == 25
        if with_eval:
            xs, ys = s.curves["active"]
            assert xs and all(0.5 < v <= 1 for v in ys[-3:])  # an easy pool: the eval curve is real
        else:
            assert any(audits) and s.curves["audit"][0]  # audit guesses came from single-clip scores
        assert s["guess"] and s["guess"][0]["label"] in classes  # the guess for the clip on screen
        s.auto_label(5)  # demo mode: the random baseline learner shares the pool, never copies it
        assert s.wait_idle(IDLE) and not s.error
        assert np.shares_memory(s._baseline.embeddings, X)
        import alwidget.search as search

        monkeypatch.setattr(search, "_EXACT_MAX_ROWS", 1000)  # "millions of clips": approximate by default
        exact = search.similar(learner, s.current, 5, approximate=False).indices.tolist()
        s.search(s.current, 5)
        assert s.wait_idle(IDLE) and s.mode == "search" and len(s.results) >= 3
        # no index yet: the session searched exactly instead of building one (minutes at 10M) in its worker
        assert not search.index_ready(learner) and search._cached_index(learner) is None
        assert [s.current, *s.results] == exact  # the first result replaced the query on screen
        s.set_mode("active")
        assert s.wait_idle(IDLE)
        search.build_index(learner)  # built ahead by the user: the session's searches use it
        assert search.index_ready(learner)
        s.search(s.current, 5)
        assert s.wait_idle(IDLE) and s.mode == "search" and search.index_ready(learner)
        s.set_mode("active")
        assert s.wait_idle(IDLE)
        s.review_detections("b", per_bin=2, n_bins=2, top=3)
        assert s.wait_idle(IDLE) and s.mode == "review" and not s.error
        i = s.current
        s.label(truth[i], clip=i)
        assert s["search"]["bins"][0]["yes"] + s["search"]["bins"][0]["no"] + s["search"]["bins"][1]["yes"] >= 0
        s.set_mode("active")
        s.review_labels(5)
        assert s.wait_idle(IDLE) and s.mode == "review" and not s.error
        s.set_mode("active")
        s.undo()
        assert s.wait_idle(IDLE) and not s.error
        assert learner._proba_cache is None  # no pool table was ever built
    finally:
        s.close()
    # resume in a new session: the curves are rebuilt from the journal without the whole pool either
    learner2 = _NoWholePool(X, classes, candidates=500, journal=tmp_path / "j.jsonl")
    s2 = LabelingSession(learner2, _SynthClips(n), audit_rate=0.3, eval_set=eval_set)
    try:
        assert s2.wait_idle(IDLE) and not s2.error
        assert learner2.n_labeled == learner.n_labeled
    finally:
        s2.close()


# ---------------------------------------------------------------------- issue 25: correct in the field
def test_undo_after_a_label_review_ended_brings_the_clip_back_with_its_label(make_widget, sounds):
    ds, _, _ = sounds
    truth = ds.labels
    s = make_widget()
    for _ in range(6):
        i = s.current
        s.label(truth[i], clip=i)
        assert s.wait_idle(IDLE)
    classes = list(s.learner.classes)
    for answer in ("relabel", "unsure"):
        s.review_labels(1)  # one clip: the answer ends the review
        assert s.wait_idle(IDLE) and s.mode == "review"
        i = s.current
        given = s.learner.label_of(i)
        if answer == "relabel":
            s.label([c for c in classes if c != given][0], clip=i)
        else:
            s.unsure(clip=i)  # withdraws the label
        assert s.wait_idle(IDLE) and s.mode == "active" and s.current != i
        s.undo()
        assert s.wait_idle(IDLE)
        # as undo() promises: the clip is on screen again, with its label back, in a label review
        assert s.current == i and s.mode == "review" and s["clip"]["given"] == str(given)
        assert s.learner.label_of(i) == given
        s.label(given, clip=i)  # keep it: the review ends again
        assert s.wait_idle(IDLE) and s.mode == "active" and s.learner.label_of(i) == given


def test_search_never_offers_held_out_evaluation_clips(make_widget, sounds):
    ds, X, _ = sounds
    held = np.arange(0, len(ds), 2)  # half the pool is held out for the curve
    s = make_widget(eval_set=(held, [ds.labels[i] for i in held]))
    query = int(held[0])  # even a held-out clip as the query: its neighbours are held out too
    s.search(query, 10)
    assert s.wait_idle(IDLE) and s.mode == "search"
    shown = [s.current, *s.results]
    assert shown and not set(shown) & set(held.tolist())
    assert not set(s.learner.similar(X[held[0]], 10, exclude=held).indices.tolist()) & set(held.tolist())
    while s.mode == "search":  # labelling every result labels no held-out clip
        s.label(ds.labels[s.current], clip=s.current)
        assert s.wait_idle(IDLE)
    assert not set(s.learner.labeled_idx.tolist()) & set(held.tolist())


def test_a_superseded_learner_in_this_kernel_refuses_and_its_session_says_where_to_continue(sounds, tmp_path):
    # a cell re-run while the old widget is still on screen: two learners on one journal in one kernel
    ds, X, classes = sounds
    path = tmp_path / "labels.jsonl"
    old = LabelingSession(ActiveLearner(X, classes, journal=path), ds)
    new = None
    try:
        assert old.wait_idle(IDLE)
        first = old.current
        old.label(ds.labels[first], clip=first)
        assert old.wait_idle(IDLE)
        new = LabelingSession(ActiveLearner(X, classes, journal=path), ds)  # the re-run cell
        assert new.wait_idle(IDLE) and new.learner.labels == {first: ds.labels[first]}
        i = old.current
        old.label(ds.labels[i], clip=i)  # the old widget's button
        assert old.wait_idle(IDLE)
        assert old.learner.n_labeled == 1  # refused, not accepted-and-lost
        assert "newer learner in this kernel" in old.blocked and "newest cell's widget" in old.blocked
        assert "will be written when the disk accepts them" not in old.error
        j = new.current
        new.label(ds.labels[j], clip=j)
        assert new.wait_idle(IDLE) and not new.blocked
        from alwidget._journal import read

        taught = [r["ids"] for r in read(path).records if r["kind"] == "teach"]
        assert taught == [[first], [j]]  # one writer: every label once, none from the stale widget
    finally:
        old.close()
        if new is not None:
            new.close()
            new.learner.close_journal()


# ---------------------------------------------------------------- detection review: precision, call density
_DETECT_CLASSES = ["rain", "thunder", "wind", "bird"]


def _detection_pool(n=800, seed=0):
    """Four overlapping classes, thunder in about 10% of the clips: its detections are not all thunder."""
    rng = np.random.default_rng(seed)
    y = rng.choice(4, size=n, p=[0.4, 0.1, 0.3, 0.2])
    X = (rng.normal(size=(n, 8)) + 1.6 * np.eye(4, 8)[y]).astype(np.float32)
    return X, np.array(_DETECT_CLASSES, dtype=object)[y]


def _detection_session(X, truth, seed, n_labels=30, **kw):
    learner = ActiveLearner(X, list(_DETECT_CLASSES), seed=seed, model="linear")
    picked = np.random.default_rng(seed).choice(len(X), size=n_labels, replace=False)
    learner.teach(picked, list(truth[picked]))
    s = LabelingSession(learner, _SynthClips(len(X)), audit_rate=0.0, **kw)
    assert s.wait_idle(IDLE)
    return s


def _answer_review(s, truth):
    shown = []
    while s.current is not None and s.mode == "review":
        i = s.current
        shown.append(i)
        s.label(truth[i], clip=i)
    return shown


def test_detection_review_sample_does_not_depend_on_the_clip_on_screen():
    """The field run's top bin read 0.70 once and 0.60 otherwise: the clip on screen was left out of the bins.
    Two sessions with the same labels and different clips on screen draw the same sample."""
    from alwidget.review import detection_bins, review_sample
    from alwidget.session.curves import _AUDIT_KEY

    X, truth = _detection_pool()
    a = _detection_session(X, truth, seed=4)
    b = _detection_session(X, truth, seed=4)
    try:
        a.review_detections("thunder", per_bin=4, n_bins=4, top=4)
        assert a.wait_idle(IDLE) and a.mode == "review" and not a.error
        drawn = a.current  # the first clip a drew is on b's screen (as if the worker ran while it was shown)
        assert drawn != b.current and b.learner.is_unlabeled(drawn)
        with b._batch():
            b._show(drawn)
        assert b.current == drawn and a.learner.labels == b.learner.labels
        b.review_detections("thunder", per_bin=4, n_bins=4, top=4)
        assert b.wait_idle(IDLE) and b.mode == "review" and not b.error
        assert a._detect["bin_of"] == b._detect["bin_of"]
        assert [a.current, *a.results] == [b.current, *b.results]
        assert a["search"]["bins"] == b["search"]["bins"]
        # the sample is the one drawn over every unlabelled clip, whatever is on screen
        learner = a.learner
        cand = learner.unlabeled_idx
        scores, predicted = learner.class_scores("thunder")
        bins = detection_bins(scores[cand].astype(np.float64), n_bins=4, top=4, detected=predicted[cand])
        sample = review_sample(bins, 4, np.random.default_rng([4, _AUDIT_KEY, 0xDE7, learner.n_labeled]))
        assert [a.current, *a.results] == cand[sample.indices].tolist()
        assert a["search"]["windows"] == len(cand) and a["search"]["rule"] == "predicted thunder"
    finally:
        a.close()
        b.close()


def test_detection_review_keeps_the_final_estimate_until_the_user_leaves_and_exports_it(tmp_path):
    X, truth = _detection_pool(seed=1)
    s = _detection_session(X, truth, seed=1)
    try:
        with pytest.raises(InvalidInputError, match="no detection review yet"):
            s.detection_report()
        for bad in (1.5, -0.1, "high", True):
            with pytest.raises(InvalidInputError, match="threshold"):
                s.review_detections("thunder", threshold=bad)
        s.review_detections("thunder", per_bin=3, n_bins=2, top=3, threshold=0.4)
        assert s.wait_idle(IDLE) and s.mode == "review"
        state = s["search"]
        assert state["rule"] == "score \u2265 0.4" and state["threshold"] == 0.4 and not state["done"]
        assert [r["detected"] for r in state["bins"]] == [True, True, False]
        assert state["bins"][1]["lo"] >= 0.4 > state["bins"][2]["hi"]  # a threshold: the parts do not overlap
        shown = _answer_review(s, truth)
        assert len(shown) == 9
        # the last answer: the final figures stay, in review mode, with no clip to answer
        state = s["search"]
        assert s.mode == "review" and s.current is None and state["done"] and state["left"] == 0
        assert "detection review done" in s.message
        for key in ("precision", "density"):
            f = state[key]
            assert f["low"] <= f["estimate"] <= f["high"]
        assert state["precision"]["yes"] + state["precision"]["no"] == 6
        assert state["density"]["windows"] == state["windows"] == sum(r["windows"] for r in state["bins"])
        s.label("thunder")  # nothing to answer: the figures stay
        s.refresh()
        assert s.wait_idle(IDLE) and s.mode == "review" and s["search"] == state
        # exported: a row per bin, then the two figures, as on screen
        table = s.detection_report(tmp_path / "review.csv", as_frame=False)
        assert table["bin"].tolist() == ["top", "bin 1", "bin 2", "precision of detections", "call density"]
        assert table["class"].tolist() == ["thunder"] * 5
        for row, key in ((table[3], "precision"), (table[4], "density")):
            f = state[key]
            assert (row["estimate"], row["low"], row["high"]) == pytest.approx(
                (f["estimate"], f["low"], f["high"]), rel=1e-3
            )
        assert (tmp_path / "review.csv").read_text().splitlines()[4].startswith("thunder,precision of detections")
        # leaving the review clears the screen; the report stays available
        s.set_mode("active")
        assert s.mode == "active" and s["search"] == {} and s.current is not None
        assert s.detection_report(as_frame=False).tolist() == table.tolist()
    finally:
        s.close()


def test_undo_after_the_last_detection_answer_shows_that_clip_again():
    X, truth = _detection_pool(seed=2)
    s = _detection_session(X, truth, seed=2)
    try:
        s.review_detections("thunder", per_bin=2, n_bins=2, top=2)
        assert s.wait_idle(IDLE)
        shown = _answer_review(s, truth)
        assert s["search"]["done"]
        s.undo()
        assert s.mode == "review" and s.current == shown[-1] and not s["search"]["done"]
        assert s["search"]["left"] == 1
        s.label(truth[shown[-1]], clip=shown[-1])
        assert s["search"]["done"] and s.current is None
    finally:
        s.close()


def test_detection_review_figures_cover_the_truth_through_the_session():
    """End to end, an oracle reviewer answering every sampled clip: the precision of the detections (the
    clips predicted as thunder) and the call density over the unlabelled clips, against the true labels."""
    X, truth = _detection_pool(seed=3)
    runs = 12
    covered = {"precision": 0, "density": 0}
    precisions = []
    for seed in range(runs):
        s = _detection_session(X, truth, seed=seed)
        try:
            s.review_detections("thunder", per_bin=5, n_bins=4, top=5)
            assert s.wait_idle(IDLE) and s.mode == "review" and not s.error
            learner = s.learner
            cand = learner.unlabeled_idx  # every unlabelled clip is a candidate (no test set here)
            predicted = learner.predict()[cand] == "thunder"  # the model the review was drawn with
            state = s["search"]
            assert sum(r["windows"] for r in state["bins"] if r["detected"]) == predicted.sum()
            true = {
                "precision": float(np.mean(truth[cand][predicted] == "thunder")),
                "density": float(np.mean(truth[cand] == "thunder")),
            }
            precisions.append(true["precision"])
            _answer_review(s, truth)
            state = s["search"]
            assert state["done"]
            for key in covered:
                covered[key] += state[key]["low"] <= true[key] <= state[key]["high"]
        finally:
            s.close()
    assert 0.4 < np.mean(precisions) < 0.9  # detections that are not all thunder
    assert covered["precision"] >= runs - 2 and covered["density"] >= runs - 2, covered


# ---------------------------------------------------------------- a detection review survives a kernel restart
def _journal_detection_session(X, truth, path, seed=5, n_labels=30):
    """A session on the journal ``path``; the first time, ``n_labels`` labels are given (and journalled)."""
    learner = ActiveLearner(X, list(_DETECT_CLASSES), seed=seed, model="linear")
    s = LabelingSession(learner, _SynthClips(len(X)), audit_rate=0.0, journal=path)
    if learner.n_labeled == 0:
        picked = np.random.default_rng(seed).choice(len(X), size=n_labels, replace=False)
        learner.teach(picked, list(truth[picked]))
        s.refresh()
    assert s.wait_idle(IDLE)
    return s


def _reply(s, truth, i):
    """A reviewer's answer to "is this thunder?": yes, no, or unsure for one clip in three."""
    s.answer("unsure" if i % 3 == 0 else "yes" if truth[i] == "thunder" else "no", clip=i)


def _rows(table) -> list:
    """A detection_report table as plain rows (NaN as None, so that equal tables compare equal)."""
    return [[None if isinstance(v, float) and v != v else v for v in row] for row in table.tolist()]


def _restart(s, X, truth, path):
    s.close()
    s.learner.close_journal()
    return _journal_detection_session(X, truth, path)


def test_a_detection_review_resumes_after_a_restart_with_the_same_sample_and_report(tmp_path):
    import json

    X, truth = _detection_pool(seed=5)
    path = tmp_path / "labels.jsonl"
    sidecar = tmp_path / "labels.jsonl.review.json"
    s = _journal_detection_session(X, truth, path)
    try:
        s.review_detections("thunder", per_bin=3, n_bins=3, top=3)
        assert s.wait_idle(IDLE) and s.mode == "review" and not s.error
        detect, order = s._detect, [s.current, *s.results]
        assert len(order) == 12 and sidecar.is_file()
        for _ in range(5):
            _reply(s, truth, s.current)
        left = order[5:]
        before = _rows(s.detection_report(as_frame=False))
        assert sum(r[7] + r[8] + r[9] for r in before[:-2]) == 5  # yes / no / unsure answers so far
        s = _restart(s, X, truth, path)
        # (a) the same report; (b) review mode on exactly the clips left, in the same order
        assert _rows(s.detection_report(as_frame=False)) == before
        assert s.mode == "review" and s._detect["bin_of"] == detect["bin_of"] and not s.error
        assert [s.current, *s.results] == left
        assert s.message == "resumed the detection review of thunder: 7 of 12 clips left"
        state = s["search"]
        assert state["left"] == 7 and state["total"] == 12 and not state["done"]
        assert sum(r["yes"] + r["no"] + r["unsure"] for r in state["bins"]) == 5
        # (c) answering the rest gives the report of a review never interrupted
        for i in left:
            assert s.current == i
            _reply(s, truth, i)
        assert s["search"]["done"] and s.current is None
        after = _rows(s.detection_report(as_frame=False))
        s.set_mode("active")  # leaving the review keeps the file: the report survives another restart
        assert sidecar.is_file()
        s = _restart(s, X, truth, path)
        assert s.mode == "active" and s.current not in order and "resumed" not in s.message
        assert _rows(s.detection_report(as_frame=False)) == after
        # a new review replaces the saved one
        s.review_detections("thunder", per_bin=2, n_bins=2, top=2)
        assert s.wait_idle(IDLE) and s.mode == "review"
        saved = json.loads(sidecar.read_text())
        assert [c[1] for c in saved["clips"]] == [s.current, *s.results] and len(saved["clips"]) == 6
    finally:
        s.close()
        s.learner.close_journal()

    once = _journal_detection_session(X, truth, tmp_path / "once.jsonl")
    try:
        once.review_detections("thunder", per_bin=3, n_bins=3, top=3)
        assert once.wait_idle(IDLE) and [once.current, *once.results] == order
        for i in order:
            _reply(once, truth, i)
        assert _rows(once.detection_report(as_frame=False)) == after
        assert after != before
    finally:
        once.close()
        once.learner.close_journal()


@pytest.mark.parametrize("content", ["{not json", "clips not in the pool"])
def test_a_bad_saved_detection_review_warns_and_the_session_opens_as_usual(tmp_path, content):
    import json

    from alwidget.errors import AlwidgetWarning

    X, truth = _detection_pool(seed=6)
    path = tmp_path / "labels.jsonl"
    sidecar = tmp_path / "labels.jsonl.review.json"
    s = _journal_detection_session(X, truth, path)
    try:
        s.review_detections("thunder", per_bin=2, n_bins=2, top=2)
        assert s.wait_idle(IDLE) and s.mode == "review"
        labels = s.learner.labels
    finally:
        s.close()
        s.learner.close_journal()
    if content == "{not json":
        sidecar.write_text(content)
    else:
        saved = json.loads(sidecar.read_text())
        saved["clips"][1][:2] = [len(X) + 7, len(X) + 7]
        sidecar.write_text(json.dumps(saved))
    with pytest.warns(AlwidgetWarning, match=r"labels\.jsonl\.review\.json cannot be resumed"):
        s = _journal_detection_session(X, truth, path)
    try:
        assert s.mode == "active" and s.current is not None and not s.error and s.learner.labels == labels
        with pytest.raises(InvalidInputError, match="no detection review yet"):
            s.detection_report()
    finally:
        s.close()
        s.learner.close_journal()


def test_a_saved_detection_review_finds_its_clips_by_id_in_a_reordered_pool(tmp_path):
    from alwidget.session._review_store import load_review, save_review

    X, _ = _detection_pool(n=50)
    ids = [f"clip{i}" for i in range(50)]
    perm = np.random.default_rng(0).permutation(50)
    a = ActiveLearner(X, list(_DETECT_CLASSES), ids=ids)
    b = ActiveLearner(X[perm], list(_DETECT_CLASSES), ids=[ids[i] for i in perm])
    bins = [
        {"name": "top", "lo": 0.5, "hi": 0.9, "size": 5, "detected": True},
        {"name": "bin 1", "lo": 0.0, "hi": 0.5, "size": 45, "detected": False},
    ]
    detect = {"class": "thunder", "rule": "predicted thunder", "threshold": None, "n": 50, "n_detected": 5,
              "seed": 3, "bins": bins, "bin_of": {7: 0, 3: 1, 20: 1}}  # fmt: skip
    path = tmp_path / "j.jsonl.review.json"
    save_review(path, a, detect, [7, 3, 20])
    assert load_review(path, a) == (detect, [7, 3, 20])  # bin_of's keys come back as ints
    got, order = load_review(path, b)
    where = {c: k for k, c in enumerate(b.ids)}
    assert order == [where[f"clip{i}"] for i in (7, 3, 20)] != [7, 3, 20]
    assert got == {**detect, "bin_of": {order[0]: 0, order[1]: 1, order[2]: 1}}


def test_messages_name_windows_by_file_and_time(tmp_path):
    # a window is named as the user knows it (file@start), never by a pool index they never see
    import soundfile as sf

    from alwidget import AudioDataset

    rng = np.random.default_rng(0)
    for name in ("site1", "site2"):
        sf.write(tmp_path / f"{name}.wav", (rng.normal(size=16000 * 8) * 0.1).astype("float32"), 16000)
    ds = AudioDataset.from_recordings(tmp_path, window=2.0, hop=1.0)
    X = ds.embed("logmel", progress=False, cache_dir=False)
    s = LabelingSession(ActiveLearner(X, ["a", "b"], model=SlowCentroid(delay=0.0)), ds)
    try:
        assert s.wait_idle(IDLE)
        i = s.current
        s.label("a", clip=i)
        assert s.wait_idle(IDLE)
        s.undo()
        assert s.wait_idle(IDLE)
        assert s.message == f"undid the label of '{ds.name(i)}'" and "@" in ds.name(i)
        s.search(i, 3)
        assert s.wait_idle(IDLE) and s["search"]["query"] == ds.name(i)
    finally:
        s.close()


# ---------------------------------------------------------------------- the accuracy plot estimates the current model
def _rising_pool(seed, n=2000, k=4, d=100):
    """Gaussian clusters in many dimensions: a nearest-centroid model improves steadily over the first 80 labels."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((k, d)) * 0.28
    y = rng.integers(k, size=n)
    X = (centres[y] + rng.standard_normal((n, d))).astype(np.float32)
    names = [f"class{c}" for c in range(k)]
    return X, np.array([names[c] for c in y], dtype=object), names


def test_the_shown_accuracy_estimates_the_current_model_and_rises_with_it():
    """Demo sessions where the true accuracy rises with the labels: the estimate shown rises with it.

    The truth is the accuracy of the model on hand on the clips not labelled
    yet. With fewer than MIN_AUDITS audit clips labelled the plot says so
    instead of drawing a line; after that each shown estimate is for the
    newest model, so it does not fall while the truth rises (the means of
    the first, middle and last thirds of the estimates never drop by more
    than 0.05), and the last one's 95% interval holds the truth (a coverage
    rate: in at least 4 of the 5 seeds). A running share of the guesses made
    on audit clips (by older models, from the first audit on) fails both.
    """
    from alwidget.session.curves import MIN_AUDITS

    covered = []
    for seed in range(5):
        X, truth, classes = _rising_pool(seed)
        learner = ActiveLearner(X, classes, model=SlowCentroid(delay=0.0), seed=seed)
        s = LabelingSession(learner, _SynthClips(len(X)), oracle=list(truth), audit_rate=0.4, prefetch=2)
        try:
            assert s.wait_idle(IDLE)
            audits, shown, true_at = 0, [], {}
            for _ in range(80):
                audits += s.current_is_audit
                s.label(truth[s.current], clip=s.current)
                assert s.wait_idle(IDLE)
                n = learner.n_labeled
                rest = learner.unlabeled_idx
                true_at[n] = float(np.mean(learner.predict()[rest] == truth[rest]))
                xs, ys = s.curves["audit"]
                if audits < MIN_AUDITS:
                    words = s["plot"]["note"] + s["plot"]["empty"]
                    assert xs == [] and f"not enough audits yet ({audits} of {MIN_AUDITS})" in words
                else:
                    _, lo, hi = s.audit_interval
                    assert xs[-1] == n  # the newest model's estimate
                    shown.append((n, ys[-1], lo[-1], hi[-1]))
        finally:
            s.close()
        assert len(shown) >= 20
        thirds = np.array_split(np.arange(len(shown)), 3)
        truth_means = [np.mean([true_at[shown[i][0]] for i in t]) for t in thirds]
        assert truth_means[2] > truth_means[0] + 0.05, truth_means  # the truth did rise meanwhile
        means = [np.mean([shown[i][1] for i in t]) for t in thirds]
        assert all(means[j] >= means[i] - 0.05 for i in range(3) for j in range(i + 1, 3)), (seed, means)
        n, _, lo, hi = shown[-1]
        covered.append(lo <= true_at[n] <= hi)
    assert sum(covered) >= 4, covered


# ---------------------------------------------------------------------- words: header, status line, review, end of pool
def test_header_words_say_what_the_model_learnt_from_with_plurals():
    from alwidget.session._summary import model_words

    class Fitted:
        def __init__(self, n, pseudo):
            self.model_ = None if n == 0 else type("M", (), {"n_pseudo_": pseudo})()
            self.n_labels_fit_ = n

    assert model_words(Fitted(0, 0)) == "no model yet"
    assert model_words(Fitted(1, 0)) == "model trained on 1 label"
    assert model_words(Fitted(2, 65)) == "model trained on 2 labels, spread to 65 similar clips"
    assert model_words(Fitted(3, 1)) == "model trained on 3 labels, spread to 1 similar clip"


def test_the_label_rate_is_shown_only_once_it_means_something():
    from alwidget.session.curves import rate_words

    quick = [float(2 * k) for k in range(5)]  # 4 labels in 8 s: "129 labels/min" would mean nothing
    assert rate_words(quick) == ""
    assert rate_words([float(2 * k) for k in range(40)]) == ""  # 39 labels, but in 78 s
    steady = [float(10 * k) for k in range(14)]  # 13 labels over 130 s of labelling
    assert rate_words(steady) == "6 labels/min"
    assert rate_words(steady[:10]) == ""  # 9 labels
    paused = [0.0, 10.0, None, 5000.0] + [5000.0 + 10 * k for k in range(1, 12)]
    assert rate_words(paused) == "6 labels/min"  # the break is not labelling time, the labels around it are


def test_the_status_line_says_what_was_saved_naming_the_clip(make_widget, sounds):
    ds, _, classes = sounds
    w = make_widget()
    send = Sender(w)
    a = w.current
    send("label", ds.labels[a])
    assert w["message"] == f"saved '{ds.name(a)}' as {ds.labels[a]}"
    b = w.current
    send("skip")
    assert w["message"] == f"skipped '{ds.name(b)}'"
    c = w.current
    send("unsure")
    assert w["message"] == f"'{ds.name(c)}' marked unsure"
    send("undo")
    assert w["message"] == f"undid the \"unsure\" answer of '{ds.name(c)}'"
    send("undo")
    send("undo")
    assert w["message"] == f"undid the label of '{ds.name(a)}'" and "clip " not in w["message"]


def test_label_review_says_why_a_label_is_doubted(make_widget, sounds):
    from alwidget.review import label_review_order

    ds, _, classes = sounds
    w = make_widget(model="linear")
    truth = list(ds.labels)
    wrong = None
    for _ in range(24):
        i = w.current
        label = truth[i]
        if wrong is None and label == classes[0]:
            wrong, label = i, classes[1]  # one label is wrong
        w.label(label, clip=i)
    assert w.wait_idle(IDLE) and wrong is not None
    order = label_review_order(w.learner)
    w.review_labels()
    assert w.wait_idle(IDLE) and w.mode == "review"
    for k in range(3):
        i = w.current
        assert i == order.indices[k]
        given, predicted, p = order.given[k], order.predicted[k], order.p_predicted[k]
        assert w["clip"]["given"] == str(given)
        if predicted != given:
            assert w["clip"]["doubt"] == f"held-out model says {predicted} ({p:.0%})"
        else:
            assert w["clip"]["doubt"] == f"held-out model agrees, but only {order.p_given[k]:.0%} sure"
        w.label(given, clip=i)  # keep it
        assert w["message"] == f"kept the label {given} of '{ds.name(i)}'"
    k = list(order.indices).index(wrong)
    assert k < 3 and order.predicted[k] != classes[1]  # the wrong label is among the most doubted, and why


def test_the_end_of_the_pool_shows_a_summary_and_what_to_do_next(sounds):
    ds, X, classes = sounds
    n = 12
    learner = ActiveLearner(X[:n], classes, model=SlowCentroid(delay=0.0))
    w = LabelingSession(learner, _Subset(ds, n), prefetch=2, audit_rate=0.5)
    try:
        assert w.wait_idle(IDLE)
        assert w["progress"]["summary"] == {}
        for k in range(n):
            assert w["progress"]["summary"] == {}  # nothing to sum up while clips are left
            if k == 0:
                w.skip()
            elif k == 1:
                w.unsure()
            else:
                w.label(ds.labels[w.current])
            assert w.wait_idle(IDLE)
        assert w.current is None and w["progress"]["open"] == 0
        summary = w["progress"]["summary"]
        counts = learner.label_counts()
        assert summary["title"] and summary["lines"][0] == "10 labels: " + " \u00b7 ".join(
            f"{c} {k}" for c, k in counts.items()
        )
        accuracy = summary["lines"][1]
        xs, ys = w.curves["audit"]
        if not xs:
            assert "estimated accuracy: not enough audits yet (" in accuracy
        else:
            _, lo, hi = w.audit_interval
            assert accuracy.startswith(f"estimated accuracy: {ys[-1]:.2f} (95%: {lo[-1]:.2f}\u2013{hi[-1]:.2f})")
        assert summary["lines"][2] == "1 clip skipped \u00b7 1 marked unsure"
        steps = " | ".join(summary["next"])
        assert "review your labels" in steps and "export_labels" in steps and "skipped clip" in steps
        w.undo()  # the last clip comes back: the summary goes
        assert w.current is not None and w["progress"]["summary"] == {}
    finally:
        w.close()
