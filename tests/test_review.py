import math
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alwidget import ActiveLearner
from alwidget._widget_plot import wilson_interval
from alwidget.errors import InvalidInputError, NotEnoughLabelsError
from alwidget.models import fit_model, make_model, predict_proba_with
from alwidget.review import (
    DETECTION_COLUMNS,
    BinEstimate,
    ScoreBin,
    bin_precision,
    detection_bins,
    detection_estimate,
    detection_table,
    label_review_order,
    overall_precision,
    review_sample,
)

CLASSES = ["bird", "bell", "hum"]
Z = 1.959964
FLIPS = np.array([3, 17, 29, 41, 55])


def clusters(seed=0, n=300, d=16, k=3, spread=1.0):
    """Well-separated Gaussian clusters: centres ~ N(0, 9 I), unit noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * 3
    y = rng.integers(0, k, n)
    return (centres[y] + rng.normal(size=(n, d)) * spread).astype(np.float32), y


def taught(seed=0, n_labels=60, flips=FLIPS, **kw):
    X, y = clusters(seed)
    given_codes = y[:n_labels].copy()
    given_codes[flips] = (given_codes[flips] + 1) % 3
    learner = ActiveLearner(X, CLASSES, seed=seed, **kw)
    learner.teach(np.arange(n_labels), [CLASSES[c] for c in given_codes])
    return learner, y


def hand_wilson(k, n, z=Z):
    p = k / n
    denom = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


# ---------------------------------------------------------------------- label review
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_label_review_finds_planted_wrong_labels(seed):
    learner, _ = taught(seed)
    order = label_review_order(learner)
    first = set(order.indices[:8].tolist())
    assert set(FLIPS.tolist()) <= first, (order.indices[:8], order.suspicion[:8])
    flipped = np.isin(order.indices, FLIPS)
    assert order.suspicion[flipped].min() > 0.5
    # the flipped clips are held-out predicted as their true class, not as the given one
    assert np.all(order.predicted[flipped] != order.given[flipped])

    # control: with correct labels the same clips are not suspicious at all,
    # so the ranking above comes from the wrong labels, not from the clips
    clean, _ = taught(seed, flips=np.array([], dtype=int))
    control = label_review_order(clean)
    susp = dict(zip(control.indices.tolist(), control.suspicion))
    assert max(susp[int(i)] for i in FLIPS) < 0.2
    assert control.suspicion.max() < 0.2


def test_label_review_fields_are_consistent():
    learner, _ = taught(0)
    learner.skip(100)  # skipped and unlabelled clips never appear
    order = label_review_order(learner)
    assert len(order) == learner.n_labeled == 60
    assert order.n_folds == 10
    assert order.indices.dtype == np.int64
    assert sorted(order.indices.tolist()) == learner.labeled_idx.tolist()
    labels = learner.labels
    assert [labels[int(i)] for i in order.indices] == order.given.tolist()
    assert set(order.predicted.tolist()) <= set(CLASSES)
    np.testing.assert_allclose(order.suspicion, 1 - order.p_given)
    assert np.all((order.suspicion >= 0) & (order.suspicion <= 1))
    # most suspicious first, ties by index
    keys = list(zip(-order.suspicion, order.indices))
    assert keys == sorted(keys)
    top = label_review_order(learner, max_items=7)
    assert top.indices.tolist() == order.indices[:7].tolist()
    np.testing.assert_array_equal(top.suspicion, order.suspicion[:7])


def test_leave_one_out_equals_a_model_trained_without_the_clip():
    X, y = clusters(3, n=80)
    learner = ActiveLearner(X, CLASSES, seed=3)
    lab = np.array([0, 1, 2, 3, 4, 5, 6, 7])
    names = [CLASSES[c] for c in y[lab]]
    names[2] = CLASSES[(y[2] + 1) % 3]
    learner.teach(lab, names)
    order = label_review_order(learner, n_folds=10)
    assert order.n_folds == len(lab)  # n_labeled <= n_folds: leave-one-out
    codes = np.array([CLASSES.index(c) for c in names])
    Xs = learner.features(lab)
    for pos, i in enumerate(order.indices):
        j = int(np.flatnonzero(lab == i)[0])
        keep = lab != i
        if len(np.unique(codes[keep])) < 2:
            continue
        model = fit_model(make_model("linear", seed=3), Xs[keep], codes[keep], 3)
        row = predict_proba_with(model, X[[i]], 3, (learner.pool.mean, learner.pool.scale))[0]
        assert order.p_given[pos] == pytest.approx(row[codes[j]], abs=1e-5)
        # why the label is doubted: the held-out model's guess and how sure it is
        assert order.predicted[pos] == CLASSES[int(row.argmax())]
        assert order.p_predicted[pos] == pytest.approx(row.max(), abs=1e-5)


def test_label_review_is_deterministic_and_seeded():
    a = label_review_order(taught(0)[0])
    b = label_review_order(taught(0)[0])
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.suspicion, b.suspicion)
    # another seed gives other folds: the scores change, the planted clips stay on top
    X, y = clusters(0)
    given_codes = y[:60].copy()
    given_codes[FLIPS] = (given_codes[FLIPS] + 1) % 3
    other = ActiveLearner(X, CLASSES, seed=7)
    other.teach(np.arange(60), [CLASSES[c] for c in given_codes])
    c = label_review_order(other)
    assert not np.array_equal(np.sort(c.suspicion), np.sort(a.suspicion))
    assert set(FLIPS.tolist()) <= set(c.indices[:8].tolist())


def test_label_review_runs_with_the_mlp_and_an_estimator():
    learner, _ = taught(1, n_labels=30, flips=np.array([5]), model="mlp")
    order = label_review_order(learner, n_folds=2)
    assert order.n_folds == 2
    assert sorted(order.indices.tolist()) == list(range(30))
    assert np.all(np.isfinite(order.suspicion))
    again = label_review_order(learner, n_folds=2)
    np.testing.assert_array_equal(order.indices, again.indices)

    sklearn = pytest.importorskip("sklearn.linear_model")
    learner, _ = taught(1, n_labels=40, flips=np.array([5]), model=sklearn.LogisticRegression())
    order = label_review_order(learner, n_folds=5)
    assert order.indices[0] == 5


def test_a_class_with_a_single_label_is_maximally_suspicious():
    X, y = clusters(0)
    learner = ActiveLearner(X, CLASSES)
    birds = np.flatnonzero(y == 0)[:10]
    bells = np.flatnonzero(y == 1)[:10]
    lone = int(np.flatnonzero(y == 2)[0])
    learner.teach(np.r_[birds, bells, lone], ["bird"] * 10 + ["bell"] * 10 + ["hum"])
    order = label_review_order(learner)
    assert order.indices[0] == lone
    assert order.p_given[0] < 1e-6  # no other "hum" supports it
    assert order.predicted[0] != "hum"


def test_two_labels_of_two_classes_are_enough():
    X, _ = clusters(0)
    learner = ActiveLearner(X, CLASSES)
    learner.teach([4, 9], ["bird", "hum"])
    order = label_review_order(learner)
    assert order.indices.tolist() == [4, 9]  # both fully suspicious: tie broken by index
    np.testing.assert_array_equal(order.suspicion, [1.0, 1.0])
    assert order.predicted.tolist() == ["hum", "bird"]


def test_label_review_needs_two_classes():
    X, _ = clusters(0)
    learner = ActiveLearner(X, CLASSES)
    with pytest.raises(NotEnoughLabelsError, match="at least 2 labelled clips"):
        label_review_order(learner)
    learner.teach(0, "bird")
    with pytest.raises(NotEnoughLabelsError, match="1 label"):
        label_review_order(learner)
    learner.teach([1, 2, 3, 4], "bird")
    with pytest.raises(NotEnoughLabelsError, match="another class"):
        label_review_order(learner)


@pytest.mark.parametrize("bad", [1, 0, -3, 2.5, True, "10"])
def test_label_review_rejects_bad_n_folds(bad):
    learner, _ = taught(0)
    with pytest.raises(InvalidInputError, match="n_folds"):
        label_review_order(learner, n_folds=bad)


@pytest.mark.parametrize("bad", [0, -1, 1.5])
def test_label_review_rejects_bad_max_items(bad):
    learner, _ = taught(0)
    with pytest.raises(InvalidInputError, match="max_items"):
        label_review_order(learner, max_items=bad)


def test_label_review_while_another_thread_teaches():
    learner, _ = taught(0)
    errors = []
    done = threading.Event()

    def teach():
        try:
            for i in range(60, 160):
                learner.teach(i, CLASSES[i % 3])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=teach)
    thread.start()
    orders = []
    while not done.is_set():
        orders.append(label_review_order(learner, n_folds=3))
    thread.join()
    assert not errors
    for order in orders:
        assert len(np.unique(order.indices)) == len(order.indices)
        assert np.all(order.indices < 160)


# ---------------------------------------------------------------------- detection bins
def check_partition(bins, n):
    idx = np.concatenate([b.indices for b in bins])
    assert sorted(idx.tolist()) == list(range(n))
    assert math.fsum(b.weight for b in bins) == pytest.approx(1.0)
    for b in bins:
        assert len(b) > 0
        assert b.weight == pytest.approx(len(b) / n)
        assert b.lo <= b.hi
    for upper, lower in zip(bins, bins[1:]):
        assert upper.lo >= lower.hi


def test_detection_bins_partition_with_a_top_bin_and_quantiles():
    rng = np.random.default_rng(0)
    scores = rng.beta(0.5, 3, size=1003)
    bins = detection_bins(scores, n_bins=5, top=10)
    assert [b.name for b in bins] == ["top", "bin 1", "bin 2", "bin 3", "bin 4", "bin 5"]
    check_partition(bins, len(scores))
    top = bins[0]
    assert len(top) == 10
    assert sorted(top.indices.tolist()) == sorted(np.argsort(-scores)[:10].tolist())
    assert top.lo == np.sort(scores)[-10] and top.hi == scores.max()
    sizes = [len(b) for b in bins[1:]]
    assert max(sizes) - min(sizes) <= 1 and sum(sizes) == 993
    for b in bins:  # the range is the members' range, members highest first
        member = scores[b.indices]
        assert member.min() == b.lo and member.max() == b.hi
        assert np.all(np.diff(member) <= 0)
    assert bins[-1].lo == scores.min()


def test_detection_bins_default_top_and_no_top():
    scores = np.linspace(0, 1, 50)
    assert len(detection_bins(scores)[0]) == 10
    bins = detection_bins(scores, top=0, n_bins=2)
    assert [b.name for b in bins] == ["bin 1", "bin 2"]
    assert bins[0].indices.tolist() == list(range(49, 24, -1))
    # a top bin as large as the input leaves nothing else
    only = detection_bins(scores, top=80)
    assert [b.name for b in only] == ["top"] and len(only[0]) == 50 and only[0].weight == 1.0
    # fewer windows than bins: no empty bin
    few = detection_bins(np.arange(13.0), top=10, n_bins=5)
    assert [len(b) for b in few] == [10, 1, 1, 1]


def test_uniform_bins_have_equal_widths():
    rng = np.random.default_rng(1)
    # below the top 5 the scores span exactly [0, 1], with a gap (0.25, 0.75)
    scores = np.r_[0.0, rng.uniform(0.0, 0.25, 500), rng.uniform(0.75, 1.0, 500), [1.0] * 6]
    bins = detection_bins(scores, bins="uniform", n_bins=10, top=5)
    check_partition(bins, len(scores))
    rest = np.sort(scores)[:-5]
    width = (rest[-1] - rest[0]) / 10
    assert width == 0.1
    body = bins[1:]
    assert len(body) == 6  # the 4 intervals from 0.3 to 0.7 are empty and left out
    assert [round(b.lo, 6) for b in body] == [0.9, 0.8, 0.7, 0.2, 0.1, 0.0]
    for b in body:
        assert b.hi - b.lo == pytest.approx(width)
        member = scores[b.indices]
        assert np.all(member >= b.lo - 1e-12) and np.all(member <= b.hi + 1e-12)
    assert body[0].hi == rest[-1] and body[-1].lo == rest[0]


def test_equal_scores_stay_in_one_uniform_bin():
    bins = detection_bins(np.full(30, 0.25), bins="uniform", n_bins=4, top=3)
    assert [len(b) for b in bins] == [3, 27]
    check_partition(bins, 30)


@settings(max_examples=80, deadline=None)
@given(
    scores=st.lists(
        st.one_of(
            st.floats(0, 1, allow_nan=False),
            st.sampled_from([0.0, 0.5, 1.0]),  # ties
        ),
        min_size=1,
        max_size=200,
    ),
    n_bins=st.integers(1, 12),
    top=st.integers(0, 20),
    kind=st.sampled_from(["quantile", "uniform"]),
)
def test_detection_bins_always_partition(scores, n_bins, top, kind):
    bins = detection_bins(scores, bins=kind, n_bins=n_bins, top=top)
    check_partition(bins, len(scores))
    s = np.asarray(scores)
    if top:
        assert len(bins[0]) == min(top, len(s))
        rest = np.setdiff1d(np.arange(len(s)), bins[0].indices)
        if len(rest):
            assert s[bins[0].indices].min() >= s[rest].max()
    if kind == "quantile":
        body = bins[1:] if top else bins
        sizes = [len(b) for b in body]
        if sizes:
            assert max(sizes) - min(sizes) <= 1 and len(body) == min(n_bins, len(s) - min(top, len(s)))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"scores": [0.1, float("nan"), 0.3]}, r"nan at position 1"),
        ({"scores": [0.1, float("inf")]}, r"inf at position 1"),
        ({"scores": []}, "empty"),
        ({"scores": [[0.1, 0.2]]}, "1-D"),
        ({"scores": ["a", "b"]}, "scores"),
        ({"scores": [0.1], "n_bins": 0}, "n_bins must be a positive integer, got 0"),
        ({"scores": [0.1], "n_bins": 2.5}, "n_bins"),
        ({"scores": [0.1], "bins": "log"}, "'log'"),
        ({"scores": [0.1], "top": -1}, "top must be a non-negative integer"),
    ],
)
def test_detection_bins_errors(kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        detection_bins(**kwargs)


# ---------------------------------------------------------------------- review sample
def some_bins():
    scores = np.random.default_rng(2).random(400)
    return detection_bins(scores, n_bins=4, top=6)


def test_review_sample_is_seeded_interleaved_and_within_bins():
    bins = some_bins()
    state = np.random.get_state()[1].copy()
    a = review_sample(bins, 5, np.random.default_rng(11))
    b = review_sample(bins, 5, np.random.default_rng(11))
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # global RNG untouched
    c = review_sample(bins, 5, np.random.default_rng(12))
    assert not np.array_equal(a.indices, c.indices)
    assert a.indices.dtype == np.int64 and a.bin_ids.dtype == np.int64
    assert len(np.unique(a.indices)) == len(a.indices) == 5 * len(bins)
    assert np.bincount(a.bin_ids).tolist() == [5] * len(bins)
    assert a.bin_ids[: len(bins)].tolist() == list(range(len(bins)))  # round-robin
    for i, j in zip(*a):
        assert i in bins[j].indices


def test_review_sample_respects_small_bins_and_extends_consistently():
    bins = some_bins()  # top bin holds 6
    big = review_sample(bins, 50, np.random.default_rng(3))
    counts = np.bincount(big.bin_ids).tolist()
    assert counts == [6, 50, 50, 50, 50]
    assert len(np.unique(big.indices)) == len(big.indices)
    small = review_sample(bins, 10, np.random.default_rng(3))
    for j in range(len(bins)):  # a bigger sample extends the smaller one, bin by bin
        assert big.indices[big.bin_ids == j][:10].tolist() == small.indices[small.bin_ids == j].tolist()
    everything = review_sample(bins, 1000, np.random.default_rng(0))
    assert sorted(everything.indices.tolist()) == list(range(400))


def test_review_sample_uniform_within_a_bin():
    bins = detection_bins(np.zeros(10), top=0, n_bins=1)
    rng = np.random.default_rng(5)
    firsts = np.bincount([review_sample(bins, 1, rng).indices[0] for _ in range(2000)], minlength=10)
    assert firsts.min() > 150 and firsts.max() < 250  # expected 200 each


def test_review_sample_errors():
    bins = some_bins()
    with pytest.raises(InvalidInputError, match="per_bin"):
        review_sample(bins, 0, np.random.default_rng(0))
    with pytest.raises(InvalidInputError, match="Generator"):
        review_sample(bins, 3, 42)
    with pytest.raises(InvalidInputError, match="Generator"):
        review_sample(bins, 3, np.random.RandomState(0))
    with pytest.raises(InvalidInputError, match=r"bins\[1\]"):
        review_sample([bins[0], [1, 2]], 3, np.random.default_rng(0))
    empty = review_sample([], 3, np.random.default_rng(0))
    assert len(empty.indices) == 0


# ---------------------------------------------------------------------- precision
def test_wilson_by_hand_matches_known_values():
    assert hand_wilson(8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    assert hand_wilson(0, 5) == pytest.approx((0.0, 0.4345), abs=1e-4)
    assert hand_wilson(5, 5) == pytest.approx((0.5655, 1.0), abs=1e-4)
    for k, n in [(8, 10), (0, 5), (5, 5), (1, 1), (37, 120)]:
        assert wilson_interval(k, n) == pytest.approx(hand_wilson(k, n), abs=1e-12)


def test_bin_precision_by_hand_and_unsure_excluded():
    est = bin_precision([(8, 2, 0), (0, 5, 0), (5, 0, 3), (0, 0, 4), {"yes": 8, "no": 2, "unsure": 7}])
    assert all(isinstance(e, BinEstimate) for e in est)
    e = est[0]
    assert (e.yes, e.no, e.unsure, e.n_reviewed) == (8, 2, 0, 10)
    assert e.precision == 0.8
    assert (e.lo, e.hi) == pytest.approx(hand_wilson(8, 10))
    assert est[1].precision == 0.0 and (est[1].lo, est[1].hi) == pytest.approx(hand_wilson(0, 5))
    assert est[1].lo == 0.0
    # unsure answers count as reviewed but not in the proportion
    assert est[2].precision == 1.0 and est[2].n_reviewed == 8
    assert (est[2].lo, est[2].hi) == pytest.approx(hand_wilson(5, 5))
    assert math.isnan(est[3].precision) and (est[3].lo, est[3].hi) == (0.0, 1.0) and est[3].n_reviewed == 4
    assert est[4][4:] == est[0][4:] and est[4].n_reviewed == 17
    assert bin_precision([{"yes": 3}])[0].precision == 1.0
    assert bin_precision([]) == []


def test_overall_precision_weights_bins_by_share():
    est = bin_precision([(8, 2, 0), (0, 5, 0), (5, 0, 3)])
    total = overall_precision([0.1, 0.3, 0.6], est)
    assert total.precision == pytest.approx(0.1 * 0.8 + 0.3 * 0.0 + 0.6 * 1.0)  # 0.68
    lo = 0.1 * hand_wilson(8, 10)[0] + 0.3 * 0.0 + 0.6 * hand_wilson(5, 5)[0]
    hi = 0.1 * hand_wilson(8, 10)[1] + 0.3 * hand_wilson(0, 5)[1] + 0.6 * 1.0
    assert (total.lo, total.hi) == pytest.approx((lo, hi))
    assert total.n_reviewed == 23 and total.weight == pytest.approx(1.0)
    # a subset (e.g. the bins above a threshold) is normalised by its own weight
    upper = overall_precision([0.1, 0.3], est[:2])
    assert upper.precision == pytest.approx((0.1 * 0.8) / 0.4)
    assert upper.weight == pytest.approx(0.4)
    # an unreviewed bin with windows: unknown estimate, interval widened by its weight
    partial = overall_precision([0.5, 0.5], bin_precision([(8, 2, 0), (0, 0, 0)]))
    assert math.isnan(partial.precision)
    assert (partial.lo, partial.hi) == pytest.approx((0.5 * hand_wilson(8, 10)[0], 0.5 * hand_wilson(8, 10)[1] + 0.5))
    # an unreviewed bin with no windows does not matter
    assert overall_precision([1.0, 0.0], bin_precision([(8, 2, 0), (0, 0, 0)])).precision == 0.8


def test_overall_precision_takes_score_bins():
    bins = detection_bins(np.linspace(0, 1, 100), top=10, n_bins=3)  # weights .1, .3, .3, .3
    est = bin_precision([(10, 0, 0), (6, 4, 0), (2, 8, 0), (0, 10, 0)])
    total = overall_precision(bins, est)
    assert total.precision == pytest.approx(0.1 * 1.0 + 0.3 * 0.6 + 0.3 * 0.2 + 0.3 * 0.0)


def test_overall_interval_is_conservative():
    """Coverage of the stratified interval by simulation (seeded): at least 95%, and wider than Wald."""
    rng = np.random.default_rng(0)
    weights = np.array([0.05, 0.15, 0.3, 0.5])
    truth = np.array([0.9, 0.6, 0.2, 0.03])
    target = float(weights @ truth)
    covered = 0
    n_sims = 1000
    for _ in range(n_sims):
        yes = rng.binomial(20, truth)
        est = bin_precision([(int(k), 20 - int(k), 0) for k in yes])
        total = overall_precision(weights.tolist(), est)
        covered += total.lo <= target <= total.hi
        p = yes / 20
        sd = math.sqrt(float(np.sum(weights**2 * p * (1 - p) / 20)))
        assert total.hi - total.lo >= 2 * Z * sd
    assert covered / n_sims >= 0.95


@pytest.mark.parametrize(
    ("answers", "match"),
    [
        ([(1, -1, 0)], r"answers\[0\] no count must be a non-negative integer, got -1"),
        ([(1, 2, 0), (1.5, 0, 0)], r"answers\[1\] yes count .* got 1.5"),
        ([(True, 0, 0)], "yes count"),
        ([(1, 2)], "3 counts"),
        ([{"yes": 1, "maybe": 2}], "unknown key"),
        ([{"unsure": -2}], "unsure count"),
        (["yes"], r"answers\[0\]"),
        ("abc", "sequence"),
        ({"yes": 1}, "sequence"),
        (5, "sequence"),
    ],
)
def test_bin_precision_errors(answers, match):
    with pytest.raises(InvalidInputError, match=match):
        bin_precision(answers)


def test_overall_precision_errors():
    est = bin_precision([(1, 1, 0), (2, 0, 0)])
    with pytest.raises(InvalidInputError, match="2 bins but 1 estimates"):
        overall_precision([0.5, 0.5], est[:1])
    with pytest.raises(InvalidInputError, match=r"bins\[1\] weight .* got -0.5"):
        overall_precision([0.5, -0.5], est)
    with pytest.raises(InvalidInputError, match="nan"):
        overall_precision([0.5, float("nan")], est)
    with pytest.raises(InvalidInputError, match="sum to 0"):
        overall_precision([0.0, 0.0], est)
    with pytest.raises(InvalidInputError, match="BinEstimate"):
        overall_precision([0.5, 0.5], [(1, 1, 0, 2, 0.5, 0.1, 0.9), est[1]])


def test_score_bin_is_a_read_only_record():
    b = detection_bins([0.3, 0.1, 0.2], top=1, n_bins=1)[0]
    assert isinstance(b, ScoreBin)
    with pytest.raises(ValueError):
        b.indices[0] = 5


# ---------------------------------------------------------------------- precision of detections, call density
def test_detection_bins_bin_the_detections_apart():
    rng = np.random.default_rng(4)
    scores = rng.random(500)
    detected = (scores > 0.3) & (rng.random(500) < 0.5)  # not a score threshold: e.g. "predicted as the class"
    bins = detection_bins(scores, n_bins=4, top=10, detected=detected)
    check_partition_only(bins, 500)
    assert [b.name for b in bins] == ["top", "bin 1", "bin 2", "bin 3", "bin 4"]
    assert [b.detected for b in bins] == [True, True, True, False, False]
    # the detections are exactly the union of the bins flagged detected
    inside = np.concatenate([b.indices for b in bins if b.detected])
    assert sorted(inside.tolist()) == np.flatnonzero(detected).tolist()
    top = bins[0]
    det_idx = np.flatnonzero(detected)
    assert sorted(top.indices.tolist()) == sorted(det_idx[np.argsort(-scores[det_idx])[:10]].tolist())
    for group in ([b for b in bins if b.detected], [b for b in bins if not b.detected]):
        for upper, lower in zip(group, group[1:]):  # monotone within each part
            assert upper.lo >= lower.hi
    # n_bins is shared: 2 + 2 here, 2 + 3 with 5, and at least one on each side
    assert [b.detected for b in detection_bins(scores, n_bins=5, top=10, detected=detected)].count(False) == 3
    assert [b.detected for b in detection_bins(scores, n_bins=1, top=0, detected=detected)] == [True, False]
    # a top bin holding every detection leaves the other bins to the rest
    few = np.zeros(500, dtype=bool)
    few[[3, 7]] = True
    bins = detection_bins(scores, n_bins=2, top=10, detected=few)
    assert [(b.name, b.detected, len(b)) for b in bins][0] == ("top", True, 2)
    assert [b.detected for b in bins] == [True, False, False]
    # all or no detections: the bins as without the split, flagged alike
    plain = detection_bins(scores, n_bins=3, top=5)
    for mask, flag in ((np.zeros(500, bool), False), (np.ones(500, bool), True)):
        split = detection_bins(scores, n_bins=3, top=5, detected=mask)
        assert [b.indices.tolist() for b in split] == [b.indices.tolist() for b in plain]
        assert all(b.detected is flag for b in split)
    assert all(b.detected is False for b in plain)
    uniform = detection_bins(scores, bins="uniform", n_bins=4, top=10, detected=detected)
    check_partition_only(uniform, 500)
    assert sorted(np.concatenate([b.indices for b in uniform if b.detected]).tolist()) == det_idx.tolist()


def check_partition_only(bins, n):
    idx = np.concatenate([b.indices for b in bins])
    assert sorted(idx.tolist()) == list(range(n))
    assert math.fsum(b.weight for b in bins) == pytest.approx(1.0)
    assert all(len(b) > 0 and b.lo <= b.hi for b in bins)


@settings(max_examples=60, deadline=None)
@given(
    data=st.lists(st.tuples(st.floats(0, 1, allow_nan=False), st.booleans()), min_size=1, max_size=120),
    n_bins=st.integers(1, 8),
    top=st.integers(0, 12),
    kind=st.sampled_from(["quantile", "uniform"]),
)
def test_detections_are_always_a_union_of_bins(data, n_bins, top, kind):
    scores = np.array([d[0] for d in data])
    detected = np.array([d[1] for d in data])
    bins = detection_bins(scores, bins=kind, n_bins=n_bins, top=top, detected=detected)
    check_partition_only(bins, len(scores))
    inside = sorted(np.concatenate([b.indices for b in bins if b.detected] or [np.array([], int)]).tolist())
    if detected.all() or not detected.any():
        assert all(b.detected == bool(detected[0]) for b in bins)
    else:
        assert inside == np.flatnonzero(detected).tolist()
        assert [b.detected for b in bins] == sorted((b.detected for b in bins), reverse=True)  # detections first


@pytest.mark.parametrize(
    ("detected", "match"),
    [([True, False], r"detected must be one bool per score \(3,\)"), ([1, 0, 1], "dtype int"), ("yes", "dtype")],
)
def test_detection_bins_rejects_a_bad_detected(detected, match):
    with pytest.raises(InvalidInputError, match=match):
        detection_bins([0.1, 0.2, 0.3], detected=detected)


def test_detection_estimate_by_hand():
    bins = [(10, True), (90, True), (900, False)]
    est = detection_estimate(bins, [(10, 0, 0), (6, 4, 2), (1, 9, 0)], seed=3)
    p, d = est.precision, est.density
    assert p.value == pytest.approx((10 + 90 * 0.6) / 100)  # 0.64
    assert d.value == pytest.approx((10 + 90 * 0.6 + 900 * 0.1) / 1000)  # 0.154
    assert (p.windows, p.weight, p.yes, p.no, p.unsure) == (100, 0.1, 16, 4, 2)
    assert (d.windows, d.weight, d.yes, d.no, d.unsure) == (1000, 1.0, 17, 13, 2)
    assert p.lo < p.value < p.hi and d.lo < d.value < d.hi
    assert 0.3 < p.lo < 0.45 and 0.8 < p.hi < 0.92  # 10 known, 90 from 6 of 10 (mid-p: 0.30-0.87)
    assert [e.precision for e in est.bins] == [1.0, 0.6, 0.1] and est.bins[1].n_reviewed == 12
    # the same answers and seed: the same interval; another seed moves it only a little
    assert detection_estimate(bins, [(10, 0, 0), (6, 4, 2), (1, 9, 0)], seed=3) == est
    other = detection_estimate(bins, [(10, 0, 0), (6, 4, 2), (1, 9, 0)], seed=4)
    assert other.precision.lo == pytest.approx(p.lo, abs=0.02) and other.precision.hi == pytest.approx(p.hi, abs=0.02)
    # bins answered whole are known exactly: no interval left
    whole = detection_estimate([(10, True), (5, False)], [(7, 3, 0), (0, 5, 0)])
    assert whole.precision[:3] == (0.7, 0.7, 0.7)
    assert whole.density[:3] == pytest.approx((7 / 15,) * 3)
    # an unsure answer leaves its window unknown
    unsure = detection_estimate([(10, True)], [(7, 2, 1)])
    assert unsure.precision.value == pytest.approx(7 / 9)
    assert unsure.precision.lo <= 0.7 and unsure.precision.hi >= 0.8
    # a bin with windows but no yes/no answer: unknown point, the interval spans its weight
    partial = detection_estimate([(10, True), (10, True)], [(10, 0, 0), (0, 0, 0)])
    assert math.isnan(partial.precision.value)
    assert (partial.precision.lo, partial.precision.hi) == (0.5, 1.0)
    # no detection: no precision, the density still
    none = detection_estimate([(100, False)], [(0, 10, 0)])
    assert math.isnan(none.precision.value) and math.isnan(none.precision.lo) and none.precision.windows == 0
    assert none.density.value == 0.0 and none.density.lo == 0.0 and 0.05 < none.density.hi < 0.3
    # ScoreBins and mappings work as the pairs do
    sb = detection_bins(np.linspace(0, 1, 100), n_bins=2, top=10, detected=np.linspace(0, 1, 100) > 0.5)
    answers = [(3, 1, 0), (2, 2, 0), (0, 4, 0)]
    pairs = [(len(b), b.detected) for b in sb]
    maps = [{"size": len(b), "detected": b.detected} for b in sb]
    assert detection_estimate(sb, answers) == detection_estimate(pairs, answers) == detection_estimate(maps, answers)


def hand_mid_p(k, n, alpha=0.05):
    """Mid-p Clopper-Pearson interval of k in n, by bisection on the binomial tails."""

    def pmf(j, p):
        return math.comb(n, j) * p**j * (1 - p) ** (n - j)

    def solve(f):  # f decreasing... root of f(p) = alpha / 2 on (0, 1)
        lo, hi = 0.0, 1.0
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if f(mid) < alpha / 2 else (lo, mid)
        return (lo + hi) / 2

    lower = 0.0 if k == 0 else solve(lambda p: 0.5 * pmf(k, p) + sum(pmf(j, p) for j in range(k + 1, n + 1)))
    upper = 1.0 if k == n else 1 - solve(lambda q: 0.5 * pmf(k, 1 - q) + sum(pmf(j, 1 - q) for j in range(k)))
    return lower, upper


@pytest.mark.parametrize(("k", "n"), [(6, 10), (0, 10), (10, 10), (2, 15)])
def test_one_big_bin_gives_the_mid_p_interval(k, n):
    """With one bin of many windows the interval is the bin's mid-p Clopper-Pearson interval."""
    est = detection_estimate([(10**7, True)], [(k, n - k, 0)], draws=20000)
    lo, hi = hand_mid_p(k, n)
    assert est.precision.lo == pytest.approx(lo, abs=0.01) and est.precision.hi == pytest.approx(hi, abs=0.01)
    assert est.density[:3] == est.precision[:3]


def test_the_interval_of_a_rare_class_can_reach_zero_and_a_bin_of_zero_stays_low():
    """A beta posterior with a fixed prior (e.g. Beta(0.5, 0.5)) puts a bin answered 0 of 10 near 0.045:
    summed over big bins its lower bound exceeds a density of 0.005. The mid-p draws keep the lower bound low."""
    est = detection_estimate([(10, True), (5000, False), (5000, False)], [(1, 9, 0), (0, 10, 0), (0, 10, 0)])
    assert est.density.value == pytest.approx(1 / 10010)
    assert est.density.lo < 0.005 < est.density.hi


@pytest.mark.parametrize(
    ("bins", "answers", "kwargs", "match"),
    [
        ([(10, True)], [(1, 1, 0), (1, 1, 0)], {}, "1 bins but 2 answers"),
        ([(3, True)], [(2, 2, 0)], {}, "bin 0 has 3 windows but 4 yes/no answers"),
        ([(-1, True)], [(0, 0, 0)], {}, r"bins\[0\] size must be a non-negative integer"),
        ([(5, "yes")], [(0, 0, 0)], {}, "detected must be True or False"),
        ([5], [(0, 0, 0)], {}, r"bins\[0\] must be a ScoreBin"),
        ("abc", [], {}, "sequence of ScoreBin"),
        ([(5, True)], [(0, 0, 0)], {"level": 1.0}, "level"),
        ([(5, True)], [(0, 0, 0)], {"draws": 0}, "draws"),
        ([(5, True)], [(0, 0, 0)], {"seed": -1}, "seed"),
        ([(5, True)], [(-1, 0, 0)], {}, "yes count"),
    ],
)
def test_detection_estimate_errors(bins, answers, kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        detection_estimate(bins, answers, **kwargs)


def field_pool(rng, n=3000, density=0.03, k=4):
    """Windows of a field run: the class in 3% of them, the model's 4-class probabilities of it.

    The detections (windows predicted as the class) have a precision of about 0.74, as in the report."""
    truth = rng.random(n) < density
    logits = rng.normal(0.0, 1.0, (n, k))
    logits[:, 0] += np.where(truth, 3.0, -2.0)
    proba = np.exp(logits)
    proba /= proba.sum(axis=1, keepdims=True)
    return proba[:, 0], proba.argmax(axis=1) == 0, truth


def common_pool(rng, n=3000):
    """A common class (30%), detections by a threshold on its score."""
    truth = rng.random(n) < 0.3
    scores = np.where(truth, rng.beta(3, 2, n), rng.beta(2, 3, n))
    return scores, scores >= 0.6, truth


@pytest.mark.parametrize(("make", "runs"), [(field_pool, 500), (common_pool, 400)])
def test_detection_intervals_cover_the_true_values(make, runs):
    """Coverage against known truth: a new pool each run, the reviewer answers the sampled windows truly;
    the 95% intervals of the precision of the detections and of the call density hold the true shares
    of those windows in about 95% of the runs (measured: field 0.960 / 0.968, common 0.965 / 0.963)."""
    rng = np.random.default_rng(1)
    covered = np.zeros(2)
    old_covered = 0
    widths = []
    truths = []
    for run in range(runs):
        scores, detected, truth = make(rng)
        bins = detection_bins(scores, n_bins=4, top=10, detected=detected)
        sample = review_sample(bins, 10, rng)
        answers = np.zeros((len(bins), 3), dtype=int)
        for i, b in zip(*sample):
            answers[b, 0 if truth[i] else 1] += 1
        est = detection_estimate(bins, answers.tolist(), draws=1000, seed=run)
        precision, density = truth[detected].mean(), truth.mean()
        truths.append(precision)
        covered += [est.precision.lo <= precision <= est.precision.hi, est.density.lo <= density <= est.density.hi]
        widths.append(est.precision.hi - est.precision.lo)
        # the figure shown as "precision" before: the weighted share over all bins, with summed Wilson bounds
        old = overall_precision(bins, bin_precision(answers.tolist()))
        old_covered += old.lo <= precision <= old.hi
    rate = covered / runs
    assert np.all((rate >= 0.90) & (rate <= 0.99)), rate
    if make is field_pool:
        assert 0.7 < np.mean(truths) < 0.78  # the report's precision of the detections
        assert old_covered / runs < 0.05  # the old figure was the call density: it almost never held the precision
    assert np.mean(widths) < 0.4


def test_detection_table_has_one_row_per_bin_and_the_two_figures(tmp_path):
    from alwidget.export import write_csv

    scores = np.linspace(0, 1, 200)
    bins = detection_bins(scores, n_bins=2, top=10, detected=scores >= 0.8)
    answers = [(9, 1, 0), (5, 4, 1), (0, 10, 0)]
    est = detection_estimate(bins, answers, seed=2)
    table = detection_table(bins, answers, name="thunder", seed=2, as_frame=False)
    assert table.dtype.names == DETECTION_COLUMNS
    assert table["bin"].tolist() == ["top", "bin 1", "bin 2", "precision of detections", "call density"]
    assert table["class"].tolist() == ["thunder"] * 5
    assert table["detected"].tolist() == [True, True, False, True, None]
    assert table["windows"].tolist() == [10, 30, 160, 40, 200]
    assert table["yes"].tolist() == [9, 5, 0, 14, 14] and table["unsure"].tolist() == [0, 1, 0, 1, 1]
    row = table[3]
    assert (row["estimate"], row["low"], row["high"]) == (est.precision.value, est.precision.lo, est.precision.hi)
    row = table[4]
    assert (row["estimate"], row["low"], row["high"]) == (est.density.value, est.density.lo, est.density.hi)
    assert table[1]["estimate"] == 5 / 9 and (table[1]["low"], table[1]["high"]) == pytest.approx(hand_wilson(5, 9))
    assert table[3]["score_lo"] == bins[1].lo and table[3]["score_hi"] == 1.0 and table[4]["score_lo"] == 0.0
    path = write_csv(table, tmp_path / "review.csv")
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(DETECTION_COLUMNS) and len(lines) == 6
    assert lines[4].startswith("thunder,precision of detections,True,")
    assert lines[5].startswith("thunder,call density,,")
    pd = pytest.importorskip("pandas")
    frame = detection_table(bins, answers, name="thunder", seed=2, as_frame=True)
    assert isinstance(frame, pd.DataFrame) and list(frame.columns) == list(DETECTION_COLUMNS)
    assert frame["estimate"].tolist()[3:] == [est.precision.value, est.density.value]
    mapped = [{"name": b.name, "lo": b.lo, "hi": b.hi, "size": len(b), "detected": b.detected} for b in bins]
    again = detection_table(mapped, answers, name="thunder", seed=2, as_frame=False)
    assert again.tolist() == table.tolist()
    with pytest.raises(InvalidInputError, match="keys"):
        detection_table([{"size": 3}], [(0, 0, 0)], name="thunder")


@pytest.mark.parametrize("candidates", [None, 100])
def test_class_scores_give_the_column_and_the_predicted_class_in_one_pass(candidates):
    X, _ = clusters(5, n=300)
    kw = {} if candidates is None else {"candidates": candidates}
    learner = ActiveLearner(X, CLASSES, seed=5, **kw)
    learner.teach(np.arange(30), [CLASSES[c] for c in clusters(5, n=300)[1][:30]])
    scores, predicted = learner.class_scores("bell")
    if candidates is not None:
        assert learner._proba_cache is None  # a large pool: scored in blocks, no table kept
    assert scores.dtype == np.float32 and predicted.dtype == bool and scores.shape == predicted.shape == (300,)
    np.testing.assert_array_equal(scores, learner.class_proba("bell"))
    np.testing.assert_array_equal(predicted, learner.predict() == "bell")
    assert 0 < predicted.sum() < 300
    with pytest.raises(Exception, match="owl"):
        learner.class_scores("owl")
