import inspect
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from alwidget import ActiveLearner
from alwidget.errors import (
    AlreadyLabeledError,
    AlwidgetError,
    IndexOutOfRangeError,
    InvalidInputError,
    NotEnoughLabelsError,
    NothingToUndoError,
    PoolExhaustedError,
    UnknownClassError,
)

CLASSES = ["bird", "bell", "hum"]


def blobs(n=300, d=8, k=3, seed=0, spread=0.6):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * 3
    y = rng.integers(0, k, n)
    X = centres[y] + rng.normal(size=(n, d)) * spread
    return X.astype(np.float32), y


def snapshot(learner):
    return (
        learner.labeled_idx.tolist(),
        learner.unlabeled_idx.tolist(),
        learner.skipped_idx.tolist(),
        learner.labels,
        learner.classes,
    )


# ---------------------------------------------------------------- state basics
def test_new_learner_has_everything_unlabelled():
    X, _ = blobs(50)
    learner = ActiveLearner(X, CLASSES)
    assert learner.n_pool == 50
    assert learner.labeled_idx.tolist() == []
    assert learner.unlabeled_idx.tolist() == list(range(50))
    assert learner.skipped_idx.tolist() == []
    assert learner.labels == {}
    assert learner.history == ()
    assert learner.labeled_idx.dtype.kind == "i"


def test_teach_skip_undo_update_every_view():
    X, _ = blobs(20)
    learner = ActiveLearner(X, CLASSES)
    learner.teach(3, "bell")
    learner.teach([5, 7], ["bird", "hum"])
    learner.skip(9)
    assert learner.labeled_idx.tolist() == [3, 5, 7]
    assert learner.skipped_idx.tolist() == [9]
    assert 9 not in learner.unlabeled_idx and 3 not in learner.unlabeled_idx
    assert len(learner.unlabeled_idx) == 16
    assert [learner.is_unlabeled(i) for i in (3, 9, 10)] == [False, False, True]
    assert learner.labels == {3: "bell", 5: "bird", 7: "hum"}
    assert learner.label_counts() == {"bird": 1, "bell": 1, "hum": 1}
    assert [e.kind for e in learner.history] == ["teach", "teach", "skip"]
    undone = learner.undo()
    assert undone.kind == "skip" and undone.indices == (9,)
    undone = learner.undo()  # reverts the whole two-index teach
    assert undone.indices == (5, 7)
    assert learner.labels == {3: "bell"}
    assert [e.kind for e in learner.history][-2:] == ["undo", "undo"]
    assert learner.history[-1].target == 1


def test_single_label_applies_to_many_indices():
    X, _ = blobs(20)
    learner = ActiveLearner(X, CLASSES)
    learner.teach(np.array([1, 2, 3]), "hum")
    assert learner.labels == {1: "hum", 2: "hum", 3: "hum"}


def test_skipped_clip_can_be_taught_and_undo_skips_it_again():
    X, _ = blobs(20)
    learner = ActiveLearner(X, CLASSES)
    learner.skip(4)
    learner.teach(4, "bird")
    assert learner.labels == {4: "bird"} and learner.skipped_idx.tolist() == []
    learner.undo()
    assert learner.skipped_idx.tolist() == [4] and learner.labels == {}


def test_add_class_grows_probability_columns():
    X, y = blobs(90)
    learner = ActiveLearner(X, ["bird", "bell"])
    learner.teach(np.flatnonzero(y == 0)[:3], "bird")
    learner.teach(np.flatnonzero(y == 1)[:3], "bell")
    assert learner.predict_proba().shape == (90, 2)
    learner.add_class("hum")
    assert learner.classes == ["bird", "bell", "hum"]
    proba = learner.predict_proba()  # no label for "hum" yet: must not crash
    assert proba.shape == (90, 3)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
    learner.teach(np.flatnonzero(y == 2)[:3], "hum")
    assert learner.predict(X[y == 2]).tolist().count("hum") > 0.8 * (y == 2).sum()
    assert learner.history[2].kind == "add_class"


def test_integer_class_names_work():
    X, y = blobs(60)
    learner = ActiveLearner(X, [0, 1, 2])
    learner.teach(np.arange(20), y[:20])
    assert set(learner.labels.values()) <= {0, 1, 2}
    assert learner.score(X, y) > 0.9


# ---------------------------------------------------------------- model
def test_fit_is_lazy_and_counts_versions():
    X, y = blobs(120)
    learner = ActiveLearner(X, CLASSES)
    assert learner.model_ is None
    learner.teach(np.arange(12), [CLASSES[i] for i in y[:12]])
    learner.query(2)
    assert learner.model_version_ == 1 and learner.n_labels_fit_ == 12
    learner.query(2)  # labels unchanged: no refit
    assert learner.model_version_ == 1
    learner.teach(20, CLASSES[y[20]])
    learner.predict_proba()
    assert learner.model_version_ == 2 and learner.n_labels_fit_ == 13


def test_model_learns_separable_blobs():
    X, y = blobs(400, spread=0.5)
    names = np.array(CLASSES, dtype=object)
    for model in ("linear", "mlp"):
        learner = ActiveLearner(X[:300], CLASSES, model=model)
        learner.teach(np.arange(60), names[y[:60]])
        assert learner.score(X[300:], names[y[300:]]) > 0.95, model


def test_retraining_is_deterministic():
    X, y = blobs(200)
    names = np.array(CLASSES, dtype=object)

    def run():
        learner = ActiveLearner(X, CLASSES, model="mlp", seed=3)
        learner.teach(np.arange(30), names[y[:30]])
        return learner.predict_proba().copy()

    np.testing.assert_array_equal(run(), run())


def test_sklearn_style_model_is_accepted_with_missing_classes():
    from sklearn.linear_model import LogisticRegression

    X, y = blobs(150)
    names = np.array(CLASSES, dtype=object)
    learner = ActiveLearner(X, CLASSES + ["unused"], model=LogisticRegression(max_iter=500))
    learner.teach(np.arange(30), names[y[:30]])
    proba = learner.predict_proba()
    assert proba.shape == (150, 4)
    assert np.all(proba[:, 3] == 0)  # never seen: column filled with zeros
    assert learner.score(X, names[y]) > 0.9
    assert len(learner.query(3)) == 3


def test_spread_model_sees_the_whole_small_pool_through_one_cached_graph():
    from alwidget import SpreadRegression
    from alwidget.models import SoftmaxRegression

    X, y = blobs(200, spread=1.5)
    names = np.array(CLASSES, dtype=object)
    learner = ActiveLearner(X, CLASSES, model=SpreadRegression(gate=False), seed=2)
    learner.teach(np.arange(12), names[y[:12]])
    learner.fit()
    model, graph = learner.model_, learner._scorer.graphs[(10, 5000)]
    assert isinstance(model, SpreadRegression)
    np.testing.assert_array_equal(graph.rows, np.arange(200))
    assert 150 < model.n_pseudo_ <= 188  # every unlabelled clip the labels reach
    learner.teach([12, 13], names[y[12:14]])
    learner.fit()
    assert learner._scorer.graphs[(10, 5000)] is graph and learner.model_version_ == 2  # the graph is built once
    plain = SoftmaxRegression().fit(learner.features(learner.labeled_idx), y[:14], n_classes=3)
    assert np.abs(learner.predict_proba() - plain.predict_proba(learner.features(np.arange(200)))).max() > 0.01
    again = ActiveLearner(X, CLASSES, model=SpreadRegression(gate=False), seed=2)
    again.teach(np.arange(14), names[y[:14]])
    np.testing.assert_allclose(again.predict_proba(), learner.predict_proba(), atol=1e-6)  # a cold fit, same optimum
    assert again.query(4).tolist() == learner.query(4).tolist()


def test_spread_model_on_a_pool_larger_than_its_graph_is_linear_or_uses_a_seeded_sample():
    from alwidget import SpreadRegression

    X, y = blobs(300, spread=1.0)
    names = np.array(CLASSES, dtype=object)
    model = SpreadRegression(max_nodes=50, n_neighbors=5, sample=True, gate=False)

    def run(seed):
        learner = ActiveLearner(X, CLASSES, model=model, seed=seed)
        learner.teach(np.arange(0, 300, 20), names[y[::20]])
        proba = learner.predict_proba()
        return learner, proba

    learner, proba = run(1)
    graph = learner._scorer.graphs[(5, 50)]
    assert len(graph.rows) == 50 and not np.array_equal(graph.rows, np.arange(50))
    assert 0 < learner.model_.n_pseudo_ <= 50  # only sample clips get pseudo-labels; labelled ones join the graph
    assert learner.score(X, names[y]) > 0.9
    np.testing.assert_array_equal(run(1)[1], proba)
    assert not np.array_equal(run(2)[0]._scorer.graphs[(5, 50)].rows, graph.rows)  # the sample follows the seed
    assert model.__dict__.get("n_pseudo_") is None  # the learner fits a copy
    plain = ActiveLearner(X, CLASSES, model=SpreadRegression(max_nodes=50), seed=1)
    linear = ActiveLearner(X, CLASSES, model="linear", seed=1)
    for each in (plain, linear):
        each.teach(np.arange(0, 300, 20), names[y[::20]])
    np.testing.assert_array_equal(plain.predict_proba(), linear.predict_proba())  # above max_nodes: no graph
    assert plain.model_.n_pseudo_ == 0 and plain._scorer.graphs == {}


def test_committee_strategies_work_with_the_spread_model():
    from alwidget import SpreadRegression

    X, y = blobs(120)
    names = np.array(CLASSES, dtype=object)
    learner = ActiveLearner(X, CLASSES, model=SpreadRegression(gate=False), strategy="bald", n_committee=3)
    learner.teach(np.arange(9), names[y[:9]])
    picks = learner.query(4)
    assert len(set(picks.tolist())) == 4 and not set(picks.tolist()) & set(range(9))
    assert all(m.n_pseudo_ > 0 for m in learner._scorer.committee[1])


def test_the_default_model_is_the_linear_model_and_spread_keeps_its_gate():
    from alwidget import SoftmaxRegression, SpreadRegression

    X, y = blobs(200, spread=1.5)
    names = np.array(CLASSES, dtype=object)
    learner = ActiveLearner(X, CLASSES)
    assert learner.model == "linear"
    learner.teach(np.arange(15), names[y[:15]])
    learner.fit()
    assert type(learner.model_) is SoftmaxRegression
    spread = ActiveLearner(X, CLASSES, model="spread")
    spread.teach(np.arange(15), names[y[:15]])
    spread.fit()
    assert isinstance(spread.model_, SpreadRegression) and spread.model_.gate
    assert len(spread.model_.gate_) == 2  # the 5-fold check ran: (spreading right, regression right)


def test_a_bad_spread_parameter_is_refused_when_the_learner_is_made():
    from alwidget import SpreadRegression

    X, _ = blobs(30)
    with pytest.raises(InvalidInputError, match="alpha"):
        ActiveLearner(X, CLASSES, model=SpreadRegression(alpha=1.5))


def test_predict_before_any_label_is_a_clear_error():
    X, _ = blobs(30)
    learner = ActiveLearner(X, CLASSES)
    with pytest.raises(NotEnoughLabelsError, match="no labels yet"):
        learner.predict_proba()


def test_pool_probabilities_are_cached_read_only():
    X, y = blobs(60)
    learner = ActiveLearner(X, CLASSES)
    learner.teach([0, 1, 2, 3], [CLASSES[i] for i in y[:4]])
    p1 = learner.predict_proba()
    assert learner.predict_proba() is p1
    assert not p1.flags.writeable


# ---------------------------------------------------------------- query
def test_query_returns_distinct_unlabelled_indices():
    X, y = blobs(200)
    learner = ActiveLearner(X, CLASSES)
    learner.teach(np.arange(0, 200, 10), [CLASSES[i] for i in y[::10]])
    learner.skip([1, 2])
    q = learner.query(15)
    assert len(q) == 15 and len(set(q.tolist())) == 15
    assert not set(q.tolist()) & set(learner.labeled_idx.tolist())
    assert not set(q.tolist()) & {1, 2}


def test_query_exclude_and_pool_end():
    X, _ = blobs(12)
    learner = ActiveLearner(X, CLASSES, strategy="random")
    learner.teach(np.arange(9), "bird")
    assert sorted(learner.query(5).tolist()) == [9, 10, 11]  # fewer left than asked
    assert learner.query(5, exclude=[10]).tolist() in ([9, 11], [11, 9])
    learner.skip([9, 10, 11])
    with pytest.raises(PoolExhaustedError, match="exhausted"):
        learner.query()


def test_cold_start_is_diverse_not_first_indices():
    rng = np.random.default_rng(0)
    # five tight, far-apart clusters of 100 points each, stored cluster by cluster
    X = np.concatenate([rng.normal(size=(100, 4)) * 0.1 + c * 20 for c in range(5)]).astype(np.float32)
    learner = ActiveLearner(X, CLASSES)
    q = learner.query(5)
    assert q.tolist() != list(range(5))
    assert sorted({int(i) // 100 for i in q}) == [0, 1, 2, 3, 4]  # one pick in each cluster
    # with one class seen, the next cold-start batch avoids the labelled cluster
    learner.teach(np.arange(100), "bird")
    q2 = learner.query(4)
    assert {int(i) // 100 for i in q2} == {1, 2, 3, 4}


def test_same_seed_same_actions_same_queries():
    X, y = blobs(300)
    names = np.array(CLASSES, dtype=object)
    runs = []
    for _ in range(2):
        learner = ActiveLearner(X, CLASSES, strategy="diverse", seed=5)
        picks = []
        for _ in range(4):
            q = learner.query(6)
            picks.append(q.tolist())
            learner.teach(q, names[y[q]])
        runs.append(picks)
    assert runs[0] == runs[1]
    other = ActiveLearner(X, CLASSES, strategy="random", seed=6)
    assert other.query(6).tolist() != ActiveLearner(X, CLASSES, strategy="random", seed=5).query(6).tolist()


def test_query_is_repeatable_and_undo_restores_it():
    X, y = blobs(200)
    names = np.array(CLASSES, dtype=object)
    learner = ActiveLearner(X, CLASSES)
    learner.teach(np.arange(10), names[y[:10]])
    q = learner.query(3)
    assert learner.query(3).tolist() == q.tolist()
    learner.teach(q, names[y[q]])
    learner.undo()
    assert learner.query(3).tolist() == q.tolist()


def test_user_strategy_callable_and_bad_return_values():
    X, y = blobs(50)
    names = np.array(CLASSES, dtype=object)

    def last_first(source, candidates, n, rng):
        return candidates[::-1][:n]

    learner = ActiveLearner(X, CLASSES, strategy=last_first)
    learner.teach(np.arange(10), names[y[:10]])
    assert len(set(y[:10])) >= 2  # past the cold start: the strategy is used
    assert learner.query(2).tolist() == [49, 48]

    def returns_labelled(source, candidates, n, rng):
        return np.array([0])

    bad = ActiveLearner(X, CLASSES, strategy=returns_labelled)
    bad.teach(np.arange(10), names[y[:10]])
    with pytest.raises(InvalidInputError, match="returns_labelled returned index 0"):
        bad.query(1)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("embeddings", "match"),
    [
        (np.array([[0.0, np.nan], [1.0, 2.0]]), r"non-finite value \(nan\) at row 0, column 1"),
        (np.array([[0.0, 1.0], [np.inf, 2.0]]), r"non-finite value \(inf\) at row 1, column 0"),
        (np.zeros(5), r"must be 2-D .* got shape \(5,\)"),
        (np.zeros((0, 3)), "empty"),
        (np.array([["a", "b"]]), "must hold real numbers"),
        ([[1.0, 2.0], [3.0]], "could not be read|must hold real numbers"),
    ],
)
def test_bad_embeddings_are_rejected_with_the_value(embeddings, match):
    with pytest.raises(InvalidInputError, match=match):
        ActiveLearner(embeddings, CLASSES)


@pytest.mark.parametrize(
    ("classes", "match"),
    [
        (["a", "b", "a"], "duplicate class name 'a'"),
        ("ab", "list of label names"),
        (["a", None], "got None"),
        (["a", ""], "must not be empty"),
        (["a", 1.5], "got 1.5"),
    ],
)
def test_bad_classes_are_rejected(classes, match):
    with pytest.raises(InvalidInputError, match=match):
        ActiveLearner(np.zeros((3, 2)), classes)


def test_bad_options_are_rejected():
    X = np.zeros((3, 2))
    with pytest.raises(InvalidInputError, match="unknown strategy 'nope'"):
        ActiveLearner(X, CLASSES, strategy="nope")
    with pytest.raises(InvalidInputError, match="unknown model 'svm'"):
        ActiveLearner(X, CLASSES, model="svm")
    with pytest.raises(InvalidInputError, match="seed must be a non-negative integer"):
        ActiveLearner(X, CLASSES, seed=-1)
    with pytest.raises(InvalidInputError, match="n must be a positive integer, got 0"):
        ActiveLearner(X, CLASSES).query(0)


def test_rejected_calls_leave_state_unchanged():
    X, _ = blobs(10)
    learner = ActiveLearner(X, CLASSES)
    learner.teach(2, "bird")
    learner.skip(3)
    before = snapshot(learner)
    n_hist = len(learner.history)
    cases = [
        (lambda: learner.teach(10, "bird"), IndexError, "index 10 is out of range for a pool of 10"),
        (lambda: learner.teach(-1, "bird"), IndexError, "index -1 is out of range"),
        (lambda: learner.teach(2, "bell"), AlreadyLabeledError, "clip 2 is already labelled 'bird'"),
        (lambda: learner.teach([4, 2], ["bell", "bell"]), ValueError, "clip 2 is already labelled"),
        (lambda: learner.teach(4, "cat"), KeyError, r"label 'cat' is not one of the classes .*add_class\('cat'\)"),
        (lambda: learner.teach([4, 5], ["bell"]), ValueError, "got 1 labels for 2 indices"),
        (lambda: learner.teach([4, 4], "bell"), ValueError, "index 4 is given more than once"),
        (lambda: learner.teach(1.5, "bell"), ValueError, "index 1.5 is not an integer"),
        (lambda: learner.teach([], ["bell"]), ValueError, "got 1 labels for 0 indices"),
        (lambda: learner.teach([], [], mode="nonsense"), ValueError, "mode"),
        (lambda: learner.skip(2), AlreadyLabeledError, "clip 2 is already labelled 'bird' and cannot be skipped"),
        (lambda: learner.skip(3), ValueError, "clip 3 is already skipped"),
        (lambda: learner.add_class("bird"), ValueError, "class 'bird' already exists"),
        (lambda: learner.predict_proba(np.zeros((2, 3))), ValueError, "X has 3 features per row, expected 8"),
    ]
    for call, exc, match in cases:
        with pytest.raises(exc, match=match) as info:
            call()
        assert isinstance(info.value, AlwidgetError)
        assert snapshot(learner) == before
        assert len(learner.history) == n_hist


def test_an_empty_batch_records_nothing(tmp_path):
    # e.g. every search hit was held out: the loop calls teach with nothing left
    X, _ = blobs(10)
    learner = ActiveLearner(X, CLASSES, journal=tmp_path / "labels.jsonl")
    learner.teach(2, "bird")
    size = (tmp_path / "labels.jsonl").stat().st_size
    before, n_hist = snapshot(learner), len(learner.history)
    learner.teach([], [])
    learner.teach(np.array([], dtype=np.int64), "bird")
    learner.skip([])
    learner.unsure([])
    learner.relabel([], [])
    assert snapshot(learner) == before and len(learner.history) == n_hist
    assert (tmp_path / "labels.jsonl").stat().st_size == size  # nothing journalled
    assert learner.undo().indices == (2,)  # the undo history is untouched
    learner.close_journal()


def test_unknown_label_message_is_not_quoted_like_a_plain_keyerror():
    learner = ActiveLearner(np.zeros((3, 2)), CLASSES)
    with pytest.raises(UnknownClassError) as info:
        learner.teach(0, "cat")
    assert str(info.value).startswith("label 'cat'")


def test_undo_with_nothing_left_is_a_clear_error():
    learner = ActiveLearner(np.zeros((3, 2)), CLASSES)
    with pytest.raises(NothingToUndoError, match="nothing to undo"):
        learner.undo()


# ---------------------------------------------------------------- threads
def test_teach_while_another_thread_fits_loses_nothing():
    X, y = blobs(3000, d=32)
    names = np.array(CLASSES, dtype=object)
    learner = ActiveLearner(X, CLASSES, model="mlp")
    learner.teach(np.arange(200), names[y[:200]])
    stop = threading.Event()
    errors = []

    def trainer():
        while not stop.is_set():
            try:
                learner.fit()
                learner.query(5)
            except Exception as exc:  # noqa: BLE001 - surfaced by the assertion below
                errors.append(exc)

    t = threading.Thread(target=trainer)
    t.start()
    for i in range(200, 400):
        learner.teach(i, names[y[i]])
    stop.set()
    t.join()
    assert errors == []
    assert learner.labeled_idx.tolist() == list(range(400))
    assert learner.labels == {i: names[y[i]] for i in range(400)}
    learner.predict_proba()
    assert learner.n_labels_fit_ == 400  # the final model saw every label


# ---------------------------------------------------------------- properties
class PoolMachine(RuleBasedStateMachine):
    """Any sequence of teach / skip / undo / add_class keeps the pool consistent,
    and undo restores exactly the state before the reverted call."""

    def __init__(self):
        super().__init__()
        self.learner = ActiveLearner(np.arange(40, dtype=np.float32).reshape(20, 2), ["a", "b"])
        self.snapshots = []  # state before each undoable call

    @rule(idx=st.lists(st.integers(0, 19), min_size=1, max_size=4, unique=True), label=st.sampled_from(["a", "b"]))
    def teach(self, idx, label):
        before = snapshot(self.learner)
        try:
            self.learner.teach(idx, label)
        except AlwidgetError:
            assert snapshot(self.learner) == before
            return
        self.snapshots.append(before)

    @rule(idx=st.lists(st.integers(0, 19), min_size=1, max_size=3, unique=True))
    def skip(self, idx):
        before = snapshot(self.learner)
        try:
            self.learner.skip(idx)
        except AlwidgetError:
            assert snapshot(self.learner) == before
            return
        self.snapshots.append(before)

    @rule(idx=st.lists(st.integers(0, 19), min_size=1, max_size=3, unique=True), review=st.booleans())
    def unsure(self, idx, review):
        before = snapshot(self.learner)
        try:
            self.learner.unsure(idx, mode="review" if review else "active")
        except AlwidgetError:
            assert snapshot(self.learner) == before
            return
        self.snapshots.append(before)

    @rule(idx=st.lists(st.integers(0, 19), min_size=1, max_size=3, unique=True), label=st.sampled_from(["a", "b"]))
    def relabel(self, idx, label):
        before = snapshot(self.learner)
        try:
            self.learner.relabel(idx, label)
        except AlwidgetError:
            assert snapshot(self.learner) == before
            return
        self.snapshots.append(before)

    @precondition(lambda self: self.snapshots)
    @rule()
    def undo(self):
        self.learner.undo()
        expected = self.snapshots.pop()
        got = snapshot(self.learner)
        assert got[:4] == expected[:4]  # classes added since are kept

    @rule(name=st.sampled_from(["c", "d", "e"]))
    def add_class(self, name):
        if name in self.learner.classes:
            return
        self.learner.add_class(name)

    @precondition(lambda self: not self.snapshots)
    @rule()
    def undo_at_start(self):
        with pytest.raises(NothingToUndoError):
            self.learner.undo()

    @invariant()
    def pool_is_partitioned(self):
        lab = set(self.learner.labeled_idx.tolist())
        unl = set(self.learner.unlabeled_idx.tolist())
        skp = set(self.learner.skipped_idx.tolist())
        assert not lab & unl and not lab & skp and not unl & skp
        uns = set(self.learner.unsure_idx.tolist())
        assert not uns & (lab | unl | skp)
        assert lab | unl | skp | uns == set(range(20))
        assert set(self.learner.labels) == lab
        # the O(1) counters and lookups agree with a scan of the pool
        assert self.learner.n_labeled == len(lab)
        assert self.learner.n_skipped == len(skp) and self.learner.n_unsure == len(uns)
        assert self.learner.answered_idx.tolist() == sorted(lab | skp | uns)
        scanned = {c: sum(1 for v in self.learner.labels.values() if v == c) for c in self.learner.classes}
        assert self.learner.label_counts() == scanned
        assert all(self.learner.label_of(i) == self.learner.labels.get(i) for i in range(20))
        assert all(v in self.learner.classes for v in self.learner.labels.values())


TestPoolMachine = PoolMachine.TestCase
TestPoolMachine.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n_labeled=st.integers(0, 25), n=st.integers(1, 8), seed=st.integers(0, 1000))
def test_query_always_returns_valid_picks(n_labeled, n, seed):
    X, y = blobs(40, seed=1)
    names = np.array(CLASSES, dtype=object)
    learner = ActiveLearner(X, CLASSES, seed=seed, strategy="diverse")
    if n_labeled:
        learner.teach(np.arange(n_labeled), names[y[:n_labeled]])
    q = learner.query(n)
    assert len(q) == min(n, 40 - n_labeled)
    assert len(set(q.tolist())) == len(q)
    assert set(q.tolist()) <= set(learner.unlabeled_idx.tolist())


# ---------------------------------------------------------------- issue 10: argument checks
def full_state(learner):
    return (*snapshot(learner), learner.history, learner.version)


@pytest.mark.parametrize("bad", [-1, 10, [0, -1], np.array([3, 10]), 2**70])
def test_features_and_committee_proba_reject_out_of_range_indices(bad):
    X, _ = blobs(10)
    learner = ActiveLearner(X, CLASSES, n_committee=2)
    learner.teach([0, 1], ["bird", "bell"])
    before = full_state(learner)
    shown = next(v for v in np.ravel(np.asarray(bad, dtype=object)).tolist() if not 0 <= v < 10)
    for call in (learner.features, learner.committee_proba):
        with pytest.raises(IndexOutOfRangeError, match=f"index {shown} is out of range for a pool of 10"):
            call(bad)
        assert full_state(learner) == before


def test_features_still_standardise_valid_rows():
    X, _ = blobs(10)
    learner = ActiveLearner(X, CLASSES)
    expected = (X - X.mean(0)) / X.std(0)
    np.testing.assert_allclose(learner.features([9, 0]), expected[[9, 0]], atol=1e-5)
    np.testing.assert_allclose(learner.features(9), expected[9], atol=1e-5)
    assert learner.features([]).shape == (0, 8)


@pytest.mark.parametrize(
    ("bad", "shown"),
    [
        (2**70, 2**70),
        (-(2**70), -(2**70)),
        ([1, 2**64], 2**64),
        (np.array([2**70], dtype=object), 2**70),
        (np.array([2**63 + 5], dtype=np.uint64), 2**63 + 5),  # must not wrap to a negative int64
    ],
)
def test_indices_beyond_int64_are_out_of_range_not_overflow(bad, shown):
    X, _ = blobs(10)
    learner = ActiveLearner(X, CLASSES)
    learner.teach(2, "bird")
    before = full_state(learner)
    calls = [lambda: learner.teach(bad, "bell"), lambda: learner.skip(bad), lambda: learner.query(exclude=bad)]
    for call in calls:
        with pytest.raises(IndexOutOfRangeError, match=f"index {shown} is out of range"):
            call()
        assert full_state(learner) == before


@settings(max_examples=60, deadline=None)
@given(i=st.integers())
def test_any_integer_index_is_taken_or_named(i):
    learner = ActiveLearner(np.arange(20, dtype=np.float32).reshape(10, 2), CLASSES)
    before = full_state(learner)
    if 0 <= i < 10:
        learner.teach(i, "hum")
        assert learner.labels == {i: "hum"}
        assert learner.is_unlabeled(i) is False
    else:
        for call in (lambda: learner.teach(i, "hum"), lambda: learner.features(i), lambda: learner.is_unlabeled(i)):
            with pytest.raises(IndexOutOfRangeError, match=f"index {i} is out of range"):
                call()
        assert full_state(learner) == before


def test_is_unlabeled_does_not_wrap_negative_indices():
    learner = ActiveLearner(np.zeros((3, 2)), CLASSES)
    learner.teach(2, "bird")
    with pytest.raises(IndexOutOfRangeError, match="index -1 is out of range"):
        learner.is_unlabeled(-1)
    with pytest.raises(InvalidInputError, match="index 1.5 is not an integer"):
        learner.is_unlabeled(1.5)


@pytest.mark.parametrize(
    ("device", "match"),
    [
        ("nope", "device 'nope' is not a torch device"),
        (3, "device must be a string such as 'cpu'"),
        ("meta", "device 'meta' is not available"),
    ],
)
def test_bad_device_is_rejected_at_construction(device, match):
    with pytest.raises(InvalidInputError, match=match):
        ActiveLearner(np.zeros((3, 2)), CLASSES, device=device)


def test_cuda_without_a_cuda_device_is_rejected_at_construction(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for device in ("cuda", "cuda:0"):
        with pytest.raises(InvalidInputError, match=f"device '{device}'.*no CUDA device is visible.*device='cpu'"):
            ActiveLearner(np.zeros((3, 2)), CLASSES, device=device)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(InvalidInputError, match=r"'cuda:3' does not exist: torch sees 1 CUDA device"):
        ActiveLearner(np.zeros((3, 2)), CLASSES, device="cuda:3")
    ActiveLearner(np.zeros((3, 2)), CLASSES, device="cuda:0")  # the one visible device is fine


def test_cpu_devices_are_accepted():
    import torch

    for device in ("cpu", "cpu:0", torch.device("cpu")):
        assert ActiveLearner(np.zeros((3, 2)), CLASSES, device=device).device == device


class _BadProbaModel:
    """A user model whose predict_proba gives NaN (or inf) on some rows."""

    def __init__(self, value=np.nan, rows=slice(None)):
        self.value = value
        self.rows = rows

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        p = np.full((len(X), len(self.classes_)), 1.0 / len(self.classes_))
        p[self.rows] = self.value
        return p

    def get_params(self, deep=True):
        return {"value": self.value, "rows": self.rows}


@pytest.mark.parametrize(("model", "n_bad"), [(_BadProbaModel(), 20), (_BadProbaModel(np.inf, slice(5, 8)), 3)])
def test_non_finite_probabilities_from_a_user_model_are_named(model, n_bad):
    X, _ = blobs(20)
    learner = ActiveLearner(X, CLASSES, model=model, n_committee=2)
    learner.teach([0, 1], ["bird", "bell"])
    before = full_state(learner)
    match = f"_BadProbaModel.predict_proba returned NaN/inf for {n_bad} of 20 rows"
    for call in (learner.query, learner.predict_proba, lambda: learner.predict_proba(X), learner.committee_proba):
        with pytest.raises(InvalidInputError, match=match):
            call()
        assert full_state(learner) == before


@pytest.mark.parametrize("y", [None, "bird", 3])
def test_score_needs_a_sequence_of_labels(y):
    X, labels = blobs(30)
    learner = ActiveLearner(X, CLASSES)
    learner.teach([0, 1], ["bird", "bell"])
    before = full_state(learner)
    with pytest.raises(InvalidInputError, match="y must be a sequence with one true class name per row of X"):
        learner.score(X, y)
    assert full_state(learner) == before


def test_ids_must_be_a_sequence():
    with pytest.raises(InvalidInputError, match="ids must be a sequence with one id per clip"):
        ActiveLearner(np.zeros((3, 2)), CLASSES, ids=5)


# ---------------------------------------------------------------------- modes, dataset, predictions
def test_teach_and_skip_record_their_mode_and_undo_forgets_it():
    X = np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32)
    learner = ActiveLearner(X, ["a", "b"])
    learner.teach([0, 1], "a")
    learner.teach(2, "b", mode="search")
    learner.skip(3, mode="search")
    assert [e.mode for e in learner.history] == ["active", "search", "search"]
    assert learner.label_modes == {0: "active", 1: "active", 2: "search"}
    learner.undo()
    learner.undo()
    assert learner.label_modes == {0: "active", 1: "active"}
    learner.teach(2, "a", mode="review")
    assert learner.label_modes[2] == "review"
    with pytest.raises(InvalidInputError, match="mode must be one of"):
        learner.teach(4, "a", mode="guess")
    with pytest.raises(InvalidInputError, match="mode must be one of"):
        learner.skip(4, mode=None)
    assert learner.n_labeled == 3 and learner.is_unlabeled(4)  # rejected calls change nothing


def test_dataset_gives_ids_and_must_match_the_pool():
    from alwidget.datasets import make_sounds

    ds = make_sounds(n_per_class=2, seed=1)
    X = np.zeros((len(ds), 3), dtype=np.float32)
    X[:, 0] = np.arange(len(ds))
    learner = ActiveLearner(X, ["a"], dataset=ds)
    assert learner.ids == ds.clip_ids and learner.dataset is ds
    assert ActiveLearner(X, ["a"], dataset=ds, ids=list(range(len(ds)))).ids == list(range(len(ds)))
    with pytest.raises(InvalidInputError, match="dataset has"):
        ActiveLearner(X[:-1], ["a"], dataset=ds)
    with pytest.raises(InvalidInputError, match="dataset must be"):
        ActiveLearner(X, ["a"], dataset=3)


def test_views_come_from_the_dataset_or_the_argument_and_make_the_linear_model_pool_them():
    from alwidget import ViewProduct
    from alwidget.datasets import make_sounds
    from alwidget.embedders import ConcatEmbedder

    ds = make_sounds(n_per_class=3, seed=1)
    labels = list(ds.labels)
    classes = sorted(set(labels))
    X = ds.embed(ConcatEmbedder(["logmel", "mfcc"], weights=[3, 1]), cache_dir=False, progress=False)
    assert X.shape[1] == 384 + 120 and ds.last_views == [(384, 0.75), (120, 0.25)]
    learner = ActiveLearner(X, classes, dataset=ds)
    assert learner.model_views == [(384, 0.75), (120, 0.25)] and learner.views is None
    learner.teach(range(len(ds)), labels)
    model = learner.fit().model_
    assert isinstance(model, ViewProduct) and model.views == [384, 120]
    # the same pooled model from explicit views; other rows (not the dataset's embedding) get one model
    explicit = ActiveLearner(X, classes, views=[(384, 3), (120, 1)])
    explicit.teach(range(len(ds)), labels)
    np.testing.assert_allclose(explicit.predict_proba(X), learner.predict_proba(X), atol=1e-7)
    assert ActiveLearner(X[:, :384], classes, dataset=ds).model_views is None
    # the very rows ds.embed() returned carry their views; a copy, a slice or other rows do not
    assert ActiveLearner(X, classes).model_views == [(384, 0.75), (120, 0.25)]
    assert ActiveLearner(X.copy(), classes).model_views is None
    assert ActiveLearner(X[:8], classes).model_views is None
    assert ActiveLearner(X, classes, model="mlp").model_views == [(384, 0.75), (120, 0.25)]  # only "linear" uses them
    other = ds.embed("logmel", cache_dir=False, progress=False)
    assert ActiveLearner(other, classes).model_views is None and ActiveLearner(X, classes).model_views is not None
    with pytest.raises(InvalidInputError, match="add up to 500 columns, but the embeddings have 504"):
        ActiveLearner(X, classes, views=[384, 116])
    with pytest.raises(InvalidInputError, match="two or more"):
        ActiveLearner(X, classes, views=[504])


def test_unsure_is_never_trained_on_never_queried_and_can_be_undone_or_taught_later():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 4)).astype(np.float32)
    learner = ActiveLearner(X, ["a", "b"])
    learner.teach([0, 1], ["a", "b"])
    learner.unsure([2, 3], mode="search")
    assert learner.unsure_idx.tolist() == [2, 3] and not learner.is_unlabeled(2)
    assert learner.n_labeled == 2 and learner.labels == {0: "a", 1: "b"}
    learner.fit()
    assert learner.n_labels_fit_ == 2  # never a training label
    picks = learner.query(36)  # everything that is left: the unsure clips are not among them
    assert not {2, 3} & set(picks.tolist()) and len(picks) == 36
    assert learner.history[-1].kind == "unsure" and learner.history[-1].mode == "search"
    with pytest.raises(InvalidInputError, match="already answered 'unsure'"):
        learner.unsure(2)
    with pytest.raises(AlreadyLabeledError):
        learner.unsure(0)
    learner.undo()
    assert learner.unsure_idx.tolist() == [] and learner.is_unlabeled(2)
    learner.unsure(2)
    learner.teach(2, "a")  # decided later: a label like any other
    assert learner.labels[2] == "a" and learner.unsure_idx.tolist() == []


# ---------------------------------------------------------------- issue 25: modes survive every undo
def test_undo_of_an_unsure_withdrawal_brings_back_the_label_and_its_mode():
    learner = ActiveLearner(np.zeros((6, 2), dtype="float32"), ["a", "b"])
    learner.teach(1, "a", mode="search")
    learner.unsure(1, mode="review")  # a label review withdraws the label
    learner.teach(1, "b")
    assert learner.label_modes == {1: "active"}
    learner.undo()
    assert learner.labels == {} and learner.label_modes == {}
    learner.undo()
    assert learner.labels == {1: "a"} and learner.label_modes == {1: "search"}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["teach", "relabel", "skip", "unsure", "undo"]),
            st.integers(0, 3),
            st.sampled_from(["a", "b"]),
            st.sampled_from(["active", "search", "review"]),
        ),
        max_size=25,
    )
)
def test_label_modes_match_a_snapshot_stack_under_any_sequence(ops):
    # reference: the state before every live event on a stack; undo pops it
    learner = ActiveLearner(np.zeros((4, 2), dtype="float32"), ["a", "b"])
    state: dict[int, tuple] = {}  # clip -> ("label", name, mode) / ("skip",) / ("unsure",)
    stack: list[dict] = []
    for kind, i, name, mode in ops:
        now = state.get(i, ("open",))
        labelled = now[0] == "label"
        try:
            if kind == "teach":
                learner.teach(i, name, mode=mode)
                new = ("label", name, mode)
            elif kind == "relabel":
                learner.relabel(i, name, mode=mode)
                new = ("label", name, mode)
            elif kind == "skip":
                learner.skip(i, mode=mode)
                new = ("skip",)
            elif kind == "unsure":
                learner.unsure(i, mode=mode)
                new = ("unsure",)
            else:
                learner.undo()
                state = stack.pop()
                continue
        except AlwidgetError:
            continue  # refused calls change nothing
        assert kind != "teach" or not labelled
        stack.append(dict(state))
        state[i] = new
    expected_labels = {i: s[1] for i, s in state.items() if s[0] == "label"}
    expected_modes = {i: s[2] for i, s in state.items() if s[0] == "label"}
    assert learner.labels == expected_labels
    assert learner.label_modes == expected_modes


PUBLIC = (
    "embeddings pool label_codes labeled_snapshot classes n_pool labeled_idx unlabeled_idx skipped_idx unsure_idx "
    "is_labeled is_unlabeled is_unsure labels n_labeled n_skipped n_unsure answered_idx label_of label_counts "
    "history live_events label_modes version teach skip relabel unsure undo add_class features fit predict_proba "
    "predict score committee_proba candidate_proba fitted_proba class_proba class_scores similar predictions query "
    "ids journal journal_error open_journal close_journal from_journal export_labels import_labels"
).split()


def params(name):
    """``(name, kind, default)`` of each parameter of ``ActiveLearner.<name>``."""
    sig = inspect.signature(getattr(ActiveLearner, name))
    return [(p.name, p.kind.name, p.default) for p in sig.parameters.values()]


def test_the_learner_is_one_class_over_its_parts_with_every_public_member_documented():
    import inspect

    assert ActiveLearner.__mro__ == (ActiveLearner, object)  # parts it holds, no mixin
    for name in PUBLIC:
        assert inspect.getdoc(getattr(ActiveLearner, name)), name
    # members forwarded to a part keep their signatures (help() and the API reference show them)
    empty = inspect.Parameter.empty
    assert params("is_labeled") == [("self", "POSITIONAL_OR_KEYWORD", empty), ("i", "POSITIONAL_OR_KEYWORD", empty)]
    assert params("live_events")[1] == ("upto", "POSITIONAL_OR_KEYWORD", None)
    assert params("open_journal")[2:] == [("takeover", "KEYWORD_ONLY", True), ("timeout", "KEYWORD_ONLY", 5.0)]
    assert ActiveLearner.label_codes.__qualname__ == "ActiveLearner.label_codes"
    X, y = blobs(n=40)
    learner = ActiveLearner(X, CLASSES, model="linear")
    learner.teach([0, 1], ["bird", "bell"])
    learner.skip(2)
    assert learner.labeled_idx.tolist() == [0, 1] and learner.is_labeled(0) and not learner.is_unlabeled(2)
    assert learner.label_of(1) == "bell" and learner.label_counts() == {"bird": 1, "bell": 1, "hum": 0}
    assert [ev.kind for _, ev in learner.live_events()] == ["teach", "skip"]
    with pytest.raises(AttributeError):
        learner.labeled_idx = np.array([3])  # read-only, as before


@pytest.mark.parametrize("name", ["speech", " Speech ", "speech!", "SPEECH", "Speechs"])
def test_add_class_refuses_an_existing_class_written_another_way(name):
    learner = ActiveLearner(np.random.default_rng(0).normal(size=(20, 3)), ["Speech", "music"])
    if name.strip() == "Speech":
        name = name.strip()
    with pytest.raises(InvalidInputError, match=r"'Speech'"):
        learner.add_class(name)
    assert learner.classes == ["Speech", "music"] and learner.version == 0
    learner.add_class("speaker")  # differs in letters
    assert learner.classes[-1] == "speaker"
