import csv

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from alwidget import LearningCurves, simulate
from alwidget.errors import InvalidInputError, UnknownClassError


def pool(n=3000, d=16, k=8, seed=0, sep=1.0):
    g = np.random.default_rng(seed)
    centres = g.normal(size=(k, d)) * sep
    y = g.integers(0, k, n)
    return (centres[y] + g.normal(size=(n, d))).astype(np.float32), y


@pytest.fixture(scope="module")
def small_curves():
    X, y = pool(400, d=6, k=3, sep=2.0)
    names = np.array(["a", "b", "c"])[y]
    return simulate(
        X, names, strategies=["random", "margin"], budget=40, batch_size=10, n_initial=10, seeds=[0, 1], progress=False
    )


def test_entropy_beats_random_at_a_fixed_budget():
    X, y = pool()
    # a property of the strategy, so the plain linear model (with "spread" random wins 2 of 5 seeds here)
    curves = simulate(
        X,
        y,
        strategies=["random", "entropy"],
        budget=150,
        batch_size=10,
        n_initial=20,
        seeds=range(5),
        test=0.25,
        progress=False,
        model="linear",
    )
    final = curves.accuracy[:, :, -1]  # (strategy, seed)
    wins = int(np.sum(final[1] > final[0]))
    assert final[1].mean() > final[0].mean() + 0.005, final
    assert wins >= 4, final


def test_curve_shape_and_grid(small_curves):
    c = small_curves
    assert c.strategies == ["random", "margin"]
    assert c.seeds == [0, 1]
    assert c.n_labels.tolist() == [10, 20, 30, 40]
    assert c.accuracy.shape == (2, 2, 4)
    assert np.all((c.accuracy >= 0) & (c.accuracy <= 1))
    assert c.accuracy[:, :, -1].mean() > 0.9  # easy pool: the model learns


def test_simulation_is_deterministic(small_curves):
    X, y = pool(400, d=6, k=3, sep=2.0)
    names = np.array(["a", "b", "c"])[y]
    again = simulate(
        X, names, strategies=["random", "margin"], budget=40, batch_size=10, n_initial=10, seeds=[0, 1], progress=False
    )
    np.testing.assert_array_equal(again.accuracy, small_curves.accuracy)


def test_all_strategies_and_cold_start_and_uneven_last_batch():
    X, y = pool(300, d=4, k=3, sep=3.0)
    X_test, y_test = pool(100, d=4, k=3, sep=3.0, seed=0)
    c = simulate(
        X,
        y,
        strategies=["random", "least_confidence", "margin", "entropy", "diverse", "vote_entropy", "bald"],
        budget=25,
        batch_size=10,
        n_initial=0,
        seeds=[0],
        test=(X_test, y_test),
        learner_kwargs={"n_committee": 2},
        progress=False,
    )
    assert c.n_labels.tolist() == [10, 20, 25]
    assert c.accuracy.shape == (7, 1, 3)


def test_summary_plot_and_csv(small_curves, tmp_path):
    rows = small_curves.summary()
    assert [r["strategy"] for r in rows] == ["random", "margin"]
    assert rows[0]["labels_to_reach_random"] is not None  # random reaches its own final accuracy
    assert rows[0]["labels_to_reach_random"] <= 40
    m, _ = small_curves.mean("margin")
    assert rows[1]["final_accuracy"] == pytest.approx(m[-1])
    assert 0 <= rows[1]["area_under_curve"] <= 1
    text = repr(rows)
    assert "strategy" in text.splitlines()[0] and "margin" in text
    assert "<table>" in rows._repr_html_()

    ax = small_curves.plot()
    assert len(ax.lines) == 2 and len(ax.collections) == 2  # mean line + band per strategy
    np.testing.assert_allclose(ax.lines[1].get_ydata(), m)

    path = tmp_path / "curves.csv"
    small_curves.to_csv(path)
    with open(path) as f:
        table = list(csv.DictReader(f))
    assert len(table) == 2 * 2 * 4
    assert table[0] == {
        "strategy": "random",
        "seed": "0",
        "n_labels": "10",
        "accuracy": f"{small_curves.accuracy[0, 0, 0]:.6f}",
    }


def test_labels_to_reach_reads_the_mean_curve():
    c = LearningCurves(
        ["random", "x"],
        [0, 1],
        np.array([10, 20, 30]),
        np.array([[[0.5, 0.6, 0.7], [0.5, 0.6, 0.7]], [[0.6, 0.7, 0.8], [0.6, 0.75, 0.8]]]),
    )
    assert c.labels_to_reach(0.7, "x") == 20
    assert c.labels_to_reach(0.9, "x") is None
    assert c.summary()[1]["labels_to_reach_random"] == 20
    assert c.area("random") == pytest.approx(0.6)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"budget": 0}, "budget must be a positive integer"),
        ({"budget": 10_000}, "budget 10000 is larger than the pool"),
        ({"n_initial": 50, "budget": 40}, "n_initial must be an integer in 0 .. budget"),
        ({"strategies": ["nope"]}, "unknown strategy 'nope'"),
        ({"strategies": []}, "strategies is empty"),
        ({"test": 1.5}, "fraction in \\(0, 1\\)"),
        ({"seeds": []}, "seeds is empty"),
        ({"seeds": 5}, r"got the integer 5; for 5 runs pass seeds=range\(5\)"),
        ({"seeds": [-1]}, "each seed must be a non-negative integer, got -1"),
        ({"seeds": [0, 1.5]}, "each seed must be a non-negative integer, got 1.5"),
        ({"seeds": None}, "seeds must be a sequence of non-negative integers"),
        ({"n_initial": True}, "n_initial must be an integer in 0 .. budget"),
        ({"strategies": 3}, "strategies must be a strategy name or callable, or a list of them"),
        ({"test": (np.zeros((5, 3)),)}, r"test as a tuple must be \(X_test, y_test\), got a tuple of 1 items"),
        ({"test": 0.001}, "test=0.001 holds out no clip of 100"),
        ({"learner_kwargs": [("n_committee", 2)]}, "learner_kwargs must be a dict"),
        ({"learner_kwargs": {"seed": 3}}, r"learner_kwargs must not set \['seed'\]"),
    ],
)
def test_bad_arguments(kwargs, match):
    X, y = pool(100, d=3, k=2)
    args = {"budget": 40, "batch_size": 10, "n_initial": 10, "seeds": [0], "progress": False, **kwargs}
    with pytest.raises(InvalidInputError, match=match):
        simulate(X, y, **args)


def test_label_count_mismatch():
    X, y = pool(100, d=3, k=2)
    with pytest.raises(InvalidInputError, match="y has 99 labels but embeddings has 100 rows"):
        simulate(X, y[:99], progress=False)


@pytest.mark.parametrize("y", [None, "ab", 7])
def test_labels_must_be_a_sequence(y):
    X, _ = pool(100, d=3, k=2)
    with pytest.raises(InvalidInputError, match="y must be a sequence with one true class name per row of embeddings"):
        simulate(X, y, progress=False)


def test_labels_outside_the_given_classes_are_named():
    X, y = pool(100, d=3, k=2)
    with pytest.raises(UnknownClassError, match=r"y holds the label 1, which is not one of classes \[0\]"):
        simulate(X, y, classes=[0], budget=20, seeds=[0], progress=False)
    X_test, y_test = np.zeros((3, 3), dtype=np.float32), [0, 1, 2]
    with pytest.raises(UnknownClassError, match=r"y_test holds the label 2"):
        simulate(X, y, test=(X_test, y_test), budget=20, seeds=[0], progress=False)


def test_a_single_strategy_name_or_callable_is_one_strategy():
    X, y = pool(100, d=3, k=2, sep=3.0)
    args = {"budget": 30, "batch_size": 10, "n_initial": 10, "seeds": [0, 1], "progress": False}
    one = simulate(X, y, strategies="margin", **args)
    listed = simulate(X, y, strategies=["margin"], **args)
    assert one.strategies == ["margin"]
    assert one.accuracy.shape == (1, 2, 3)
    np.testing.assert_array_equal(one.accuracy, listed.accuracy)

    def first(source, candidates, n, rng):
        return np.asarray(candidates)[:n]

    assert simulate(X, y, strategies=first, **args).strategies == ["first"]


@pytest.mark.parametrize("target", ["0.7", None, float("nan")])
def test_labels_to_reach_needs_a_numeric_target(target):
    c = LearningCurves(["random"], [0], np.array([10, 20]), np.array([[[0.5, 0.7]]]))
    with pytest.raises(InvalidInputError, match="target must be an accuracy in 0..1"):
        c.labels_to_reach(target, "random")


def test_summary_reports_accuracy_at_budgets_and_the_spread_of_the_area():
    acc = np.array(
        [
            [[0.2, 0.4, 0.6, 0.8], [0.4, 0.6, 0.8, 1.0]],  # random, 2 seeds
            [[0.5, 0.7, 0.9, 0.9], [0.5, 0.7, 0.9, 0.9]],  # margin, 2 seeds
        ]
    )
    c = LearningCurves(strategies=["random", "margin"], seeds=[0, 1], n_labels=np.array([10, 20, 30, 50]), accuracy=acc)
    rows = c.summary()
    assert list(rows[0]) == [
        "strategy",
        "acc@20",
        "acc@50",
        "final_accuracy",
        "final_std",
        "area_under_curve",
        "area_std",
        "labels_to_reach_random",
    ]
    assert rows[0]["acc@20"] == pytest.approx(0.5) and rows[1]["acc@50"] == pytest.approx(0.9)
    # per-seed areas of random: trapezoids over 10..50 -> (0.3*10 + 0.5*10 + 0.7*20) / 40 = 0.55 and 0.75
    assert rows[0]["area_under_curve"] == pytest.approx(0.65)
    assert rows[0]["area_std"] == pytest.approx(0.1)
    assert rows[1]["area_std"] == pytest.approx(0.0)
    assert rows[1]["labels_to_reach_random"] == 30  # random ends at 0.9
    assert list(c.summary(at=30)[0])[1] == "acc@30"
    with pytest.raises(InvalidInputError, match="only at these label counts"):
        c.summary(at=[25])


def test_rows_straight_from_embed_are_simulated_with_one_model_per_view():
    from alwidget.datasets import make_sounds
    from alwidget.embedders import ConcatEmbedder

    ds = make_sounds(n_per_class=6, seed=2)
    X = ds.embed(ConcatEmbedder(["logmel", "mfcc"], weights=[3, 1]), cache_dir=False, progress=False)
    kw = dict(strategies=["margin"], budget=20, batch_size=5, n_initial=5, seeds=[0], test=0.3, progress=False)
    straight = simulate(X, ds.labels, **kw)
    told = simulate(X.copy(), ds.labels, learner_kwargs={"views": [(384, 3), (120, 1)]}, **kw)
    plain = simulate(X.copy(), ds.labels, **kw)
    np.testing.assert_array_equal(straight.accuracy, told.accuracy)
    assert not np.array_equal(straight.accuracy, plain.accuracy)  # one model on all columns learns differently
