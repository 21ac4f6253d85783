import numpy as np
import pytest

from alwidget import MLPClassifier, SoftmaxRegression
from alwidget.errors import InvalidInputError
from alwidget.models import fit_model, make_model, predict_proba_with


def data(n=200, d=5, k=3, seed=0):
    g = np.random.default_rng(seed)
    centres = g.normal(size=(k, d)) * 4
    y = g.integers(0, k, n)
    return (centres[y] + g.normal(size=(n, d))).astype(np.float32), y


@pytest.mark.parametrize("cls", [SoftmaxRegression, MLPClassifier])
def test_fits_and_predicts_probabilities(cls):
    X, y = data()
    model = cls().fit(X, y)
    p = model.predict_proba(X)
    assert p.shape == (200, 3) and p.dtype == np.float32
    np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-5)
    assert (p.argmax(1) == y).mean() > 0.95
    assert model.classes_.tolist() == [0, 1, 2]


@pytest.mark.parametrize("cls", [SoftmaxRegression, MLPClassifier])
def test_folded_standardisation_equals_standardising_first(cls):
    X, y = data()
    raw = X * np.array([100, 0.01, 1, 5, 50], dtype=np.float32) + 7
    mean, scale = raw.mean(0), raw.std(0)
    model = cls().fit((raw - mean) / scale, y)
    np.testing.assert_allclose(
        model.predict_proba(raw, standardize=(mean, scale)), model.predict_proba((raw - mean) / scale), atol=1e-4
    )  # float32: folding reorders the arithmetic


def test_unseen_classes_get_low_probability_not_a_crash():
    X, y = data(k=2)
    model = SoftmaxRegression().fit(X, y, n_classes=4)
    p = model.predict_proba(X)
    assert p.shape == (200, 4)
    assert p[:, 2:].max() < 0.05


def test_linear_model_matches_scikit_learn_logistic_regression():
    from sklearn.linear_model import LogisticRegression

    X, y = data(n=300, seed=2)
    Xs = (X - X.mean(0)) / X.std(0)
    ours = SoftmaxRegression(l2=1.0).fit(Xs, y).predict_proba(Xs)
    # our bias is penalised like the weights: scikit-learn's model on [X, 1] without its own intercept
    X1 = np.hstack([Xs, np.ones((len(Xs), 1))])
    theirs = LogisticRegression(C=1.0, fit_intercept=False, max_iter=5000, tol=1e-12).fit(X1, y).predict_proba(X1)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_linear_fit_converges_to_the_unique_optimum():
    """Platform stability: the fit stops at the optimum, not where a loose tolerance left it,
    so a last-bit change of the inputs (another CPU's BLAS) moves the probabilities by far
    less than anything printed."""
    X, y = data(n=60, seed=3)
    Xs = ((X - X.mean(0)) / X.std(0)).astype(np.float32)
    k = int(y.max()) + 3  # the last two classes have no label
    model = SoftmaxRegression().fit(Xs, y, n_classes=k)
    assert model.grad_norm_ <= 1e-8
    assert model.n_iter_ < model.max_iter
    p = model.predict_proba(Xs)
    assert np.all(np.isfinite(p)) and np.all(p[:, -2:] < 1e-20)  # classes never seen are never predicted
    np.testing.assert_allclose(p.sum(axis=1), 1, atol=1e-6)
    rng = np.random.default_rng(0)
    nudged = (Xs * (1 + 1e-7 * rng.standard_normal(Xs.shape))).astype(np.float32)
    q = SoftmaxRegression().fit(nudged, y, n_classes=k).predict_proba(Xs)
    assert np.abs(p - q).max() < 1e-5
    loose = SoftmaxRegression(tol=1e-3).fit(Xs, y, n_classes=k).predict_proba(Xs)
    assert np.abs(p - loose).max() > 1e-5  # the check above can fail: a loose fit is not at the optimum


def test_mlp_seed_changes_the_start_deterministically():
    X, y = data()
    a = MLPClassifier(seed=1).fit(X, y).predict_proba(X)
    b = MLPClassifier(seed=1).fit(X, y).predict_proba(X)
    c = MLPClassifier(seed=2).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_errors():
    X, y = data()
    with pytest.raises(InvalidInputError, match="not fitted yet"):
        SoftmaxRegression().predict_proba(X)
    with pytest.raises(InvalidInputError, match="one code per row"):
        SoftmaxRegression().fit(X, y[:10])
    with pytest.raises(InvalidInputError, match="class codes must lie in 0 .. 1"):
        SoftmaxRegression().fit(X, y, n_classes=2)
    with pytest.raises(InvalidInputError, match="no fit"):
        make_model(object())


def test_foreign_model_with_wrong_output_shape_is_reported():
    class Broken:
        classes_ = np.array([0, 1])

        def fit(self, X, y):
            return self

        def predict_proba(self, X):
            return np.ones((len(X), 5))

    X, _ = data(n=10)
    with pytest.raises(InvalidInputError, match="Broken.predict_proba returned shape"):
        predict_proba_with(Broken(), X, 3, (X.mean(0), X.std(0)))


def test_warm_start_reaches_the_same_optimum_in_fewer_steps():
    X, y = data(n=200, seed=4)
    Xs = ((X - X.mean(0)) / X.std(0)).astype(np.float32)
    first = SoftmaxRegression().fit(Xs[:150], y[:150], n_classes=3)  # one class more than seen: padded rows
    cold = SoftmaxRegression().fit(Xs, y, n_classes=3)
    warm = SoftmaxRegression().fit(Xs, y, n_classes=3, init=first.params_)
    np.testing.assert_allclose(warm.predict_proba(Xs), cold.predict_proba(Xs), atol=1e-7)
    assert warm.n_iter_ < cold.n_iter_


def test_a_reused_preconditioner_basis_reaches_the_same_optimum_and_is_refreshed():
    from alwidget.models import fit_model

    X, y = data(n=400, seed=6)
    Xs = ((X - X.mean(0)) / X.std(0)).astype(np.float64)
    first = fit_model(SoftmaxRegression(), Xs[:150], y[:150], 3)
    m0, basis = first.basis_
    assert m0 == 150 and np.allclose(basis.T @ basis, np.eye(basis.shape[0]), atol=1e-10)
    grown = fit_model(SoftmaxRegression(), Xs[:280], y[:280], 3, previous=first)  # at most twice the rows
    assert grown.basis_[0] == 150 and grown.basis_[1] is basis  # reused, not recomputed
    fresh = SoftmaxRegression().fit(Xs[:280], y[:280], n_classes=3)
    assert fresh.basis_[0] == 280
    np.testing.assert_allclose(grown.predict_proba(Xs), fresh.predict_proba(Xs), atol=1e-8)
    assert grown.grad_norm_ <= grown.tol
    doubled = fit_model(SoftmaxRegression(), Xs[:400], y[:400], 3, previous=grown)  # more than twice: a new one
    fewer = fit_model(SoftmaxRegression(), Xs[:100], y[:100], 3, previous=grown)  # an undo: a new one
    assert doubled.basis_[0] == 400 and fewer.basis_[0] == 100


def test_fits_hold_blas_to_one_thread_and_restore_it_from_a_cached_controller():
    import sys

    from threadpoolctl import threadpool_info

    from alwidget import models

    def counts():
        return sorted((i["internal_api"], i["num_threads"]) for i in threadpool_info())

    before = counts()
    with models._one_thread():
        inside = counts()
        with models._one_thread():  # nested (two fits at once): still one thread
            assert counts() == inside
        assert counts() == inside
    assert all(n == 1 for _, n in inside) and len(inside) == len(before)
    assert counts() == before  # restored when the last fit ends
    cached = models._controller
    with models._one_thread():
        pass
    assert models._controller is cached  # libraries are not looked up again for every fit
    sys.modules["_alwidget_test_new_module"] = sys  # a new import: the next fit looks again
    try:
        with models._one_thread():
            pass
        assert models._controller is not cached
    finally:
        del sys.modules["_alwidget_test_new_module"]


# ---------------------------------------------------------------------- sample weights
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), counts=st.lists(st.integers(1, 3), min_size=30, max_size=30))
def test_an_integer_weight_counts_a_row_that_many_times(seed, counts):
    """Weights are replication, penalty included: the same optimum as the rows repeated."""
    X, y = data(n=30, d=4, seed=seed)
    counts = np.asarray(counts)
    weighted = SoftmaxRegression().fit(X, y, n_classes=3, sample_weight=counts)
    repeated = SoftmaxRegression().fit(np.repeat(X, counts, axis=0), np.repeat(y, counts), n_classes=3)
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), atol=1e-6)
    assert weighted.n_iter_ <= repeated.n_iter_ + 1  # exact weighted Hessian products: Newton's speed is kept


def test_equal_weights_change_nothing_and_weight_moves_the_fit():
    X, y = data(n=60, seed=3)
    plain = SoftmaxRegression().fit(X, y)
    ones = SoftmaxRegression().fit(X, y, sample_weight=np.ones(60))
    np.testing.assert_allclose(ones.predict_proba(X), plain.predict_proba(X), atol=1e-9)
    # a zero weight drops the row (its class still counts as present)
    w = np.ones(60)
    w[0] = 0.0
    keep = np.arange(1, 60)
    dropped = SoftmaxRegression().fit(X, y, n_classes=3, sample_weight=w)
    np.testing.assert_allclose(
        dropped.predict_proba(X), SoftmaxRegression().fit(X[keep], y[keep], n_classes=3).predict_proba(X), atol=1e-6
    )
    # a heavy row pulls the fit towards its label
    heavy = np.ones(60)
    heavy[0] = 50.0
    row = X[:1]
    assert (
        SoftmaxRegression().fit(X, y, sample_weight=heavy).predict_proba(row)[0, y[0]]
        > (plain.predict_proba(row)[0, y[0]])
    )


def test_mlp_takes_weights_too():
    X, y = data(n=80, seed=4)
    plain = MLPClassifier(seed=1).fit(X, y)
    ones = MLPClassifier(seed=1).fit(X, y, sample_weight=np.ones(80))
    # the same objective by another sum: L-BFGS stops within its tolerance of the same point
    np.testing.assert_allclose(ones.predict_proba(X), plain.predict_proba(X), atol=1e-4)
    heavy = np.ones(80)
    heavy[:40] = 20.0
    fit = MLPClassifier(seed=1).fit(X, y, sample_weight=heavy)
    assert np.abs(fit.predict_proba(X) - plain.predict_proba(X)).max() > 1e-3  # the weights are used


@pytest.mark.parametrize(
    "weights, why",
    [(np.ones(5), "shape"), (-np.ones(60), "negative"), (np.zeros(60), "zero"), (np.full(60, np.nan), "nan")],
)
def test_bad_weights_are_rejected_and_leave_the_model_as_it_was(weights, why):
    X, y = data(n=60)
    model = SoftmaxRegression().fit(X, y)
    before = model.predict_proba(X)
    with pytest.raises(InvalidInputError, match="sample_weight must be 60 finite, non-negative numbers"):
        model.fit(X, y, sample_weight=weights)
    np.testing.assert_array_equal(model.predict_proba(X), before)


# ----------------------------------------------------------------------------- SpreadRegression
def reference_spread_fit(Z, lab, y, k_nn=10, weight=0.3, alpha=0.99, steps=30):
    """The pseudo-labelled fit written out densely: the rows and weights SpreadRegression must train on."""
    from test_graph import dense_affinity

    W, _ = dense_affinity(Z, k_nn)
    present = np.unique(y)
    k = len(present)
    Y = np.zeros((len(Z), k))
    Y[lab, np.searchsorted(present, y)] = 1.0
    Y /= Y.sum(0, keepdims=True)
    F = Y.copy()
    for _ in range(steps):
        F = alpha * W @ F + (1 - alpha) * Y
    P = F / F.sum(1, keepdims=True)
    conf = 1 + (P * np.log(np.where(P > 0, P, 1))).sum(1) / np.log(k)
    conf[lab] = 0
    pseudo = P.argmax(1)
    for c in range(k):
        conf[pseudo == c] /= conf[pseudo == c].sum()
    conf *= weight * len(lab) / conf.sum()
    rest = np.flatnonzero(conf > 0)
    return (
        np.concatenate([Z[lab], Z[rest]]),
        np.concatenate([y, present[pseudo[rest]]]),
        np.concatenate([np.ones(len(lab)), conf[rest]]),
    )


def test_spread_regression_trains_on_the_labels_plus_weighted_pseudo_labels():
    from alwidget import SpreadRegression
    from alwidget._graph import PoolGraph

    Z, truth = data(n=120, d=4, k=3, seed=5)
    Z = Z.astype(np.float64)
    lab = np.array([0, 1, 2, 3, 4, 5, 40, 77])
    y = truth[lab]
    X_ref, y_ref, w_ref = reference_spread_fit(Z, lab, y)
    ref = SoftmaxRegression().fit(X_ref, y_ref, n_classes=4, sample_weight=w_ref)
    graph = PoolGraph(np.arange(120), Z, n_neighbors=10)
    model = SpreadRegression(gate=False).fit(Z[lab], y, n_classes=4, pool=(graph, lab))
    assert model.n_pseudo_ == len(X_ref) - len(lab) > 100
    np.testing.assert_allclose(model.predict_proba(Z), ref.predict_proba(Z), atol=1e-6)
    plain = SoftmaxRegression().fit(Z[lab], y, n_classes=4)
    assert np.abs(model.predict_proba(Z) - plain.predict_proba(Z)).max() > 0.05  # the pseudo-labels matter


def test_spread_regression_without_pool_or_weight_is_the_linear_model():
    from alwidget import SpreadRegression
    from alwidget._graph import PoolGraph

    Z, truth = data(n=60, d=3, seed=6)
    lab = np.arange(9)
    graph = PoolGraph(np.arange(60), Z, n_neighbors=5)
    plain = SoftmaxRegression().fit(Z[lab], truth[lab], n_classes=3).predict_proba(Z)
    for model, pool in [
        (SpreadRegression(), None),
        (SpreadRegression(weight=0), (graph, lab)),
        (SpreadRegression(), (graph, lab[truth[lab] == truth[0]])),  # one class labelled: nothing to spread
    ]:
        rows = lab if pool is None else pool[1]
        fitted = model.fit(Z[rows], truth[rows], n_classes=3, pool=pool)
        expected = SoftmaxRegression().fit(Z[rows], truth[rows], n_classes=3).predict_proba(Z)
        np.testing.assert_array_equal(fitted.predict_proba(Z), expected)
        assert fitted.n_pseudo_ == 0
    np.testing.assert_array_equal(SpreadRegression().fit(Z[lab], truth[lab], n_classes=3).predict_proba(Z), plain)


def test_pseudo_labels_straighten_a_boundary_two_labels_leave_tilted():
    from alwidget import SpreadRegression
    from alwidget._graph import PoolGraph

    g = np.random.default_rng(0)
    # two tall clusters side by side; the two labels sit at opposite ends, so the labels alone tilt the boundary
    Z = np.concatenate([g.normal(size=(150, 2)) * [0.5, 4] - [3, 0], g.normal(size=(150, 2)) * [0.5, 4] + [3, 0]])
    truth = np.repeat([0, 1], 150)
    lab = np.array([int(np.argmax(Z[:150, 1])), 150 + int(np.argmin(Z[150:, 1]))])
    graph = PoolGraph(np.arange(300), Z, n_neighbors=10)
    plain = SoftmaxRegression().fit(Z[lab], truth[lab])
    spread = SpreadRegression(gate=False).fit(Z[lab], truth[lab], pool=(graph, lab))
    acc_plain = (plain.predict_proba(Z).argmax(1) == truth).mean()
    acc_spread = (spread.predict_proba(Z).argmax(1) == truth).mean()
    assert acc_plain < 0.65 and acc_spread > acc_plain + 0.15, (acc_plain, acc_spread)
    # 30 spreading steps do not reach the far ends of the long clusters: those clips get no pseudo-label
    assert 10 < spread.n_pseudo_ < 298


@pytest.mark.parametrize(
    "params, match",
    [
        ({"weight": -1}, "weight"),
        ({"weight": float("nan")}, "weight"),
        ({"n_neighbors": 0}, "n_neighbors"),
        ({"max_nodes": 2.5}, "max_nodes"),
        ({"alpha": 1.0}, "alpha"),
        ({"n_spread": True}, "n_spread"),
        ({"sample": "yes"}, "sample"),
    ],
)
def test_bad_spread_parameters_are_named(params, match):
    from alwidget import SpreadRegression

    with pytest.raises(InvalidInputError, match=match):
        make_model(SpreadRegression(**params))
    X, y = data(n=20)
    with pytest.raises(InvalidInputError, match=match):
        SpreadRegression(**params).fit(X, y)


def test_spread_is_a_builtin_model_name():
    from alwidget import SpreadRegression

    assert isinstance(make_model("spread"), SpreadRegression)


def test_the_gate_keeps_pseudo_labels_only_where_spreading_predicts_held_out_labels_better():
    from alwidget import SpreadRegression
    from alwidget._graph import PoolGraph

    g = np.random.default_rng(7)
    # four tight clusters; in `agree` the class is the pair of clusters on one axis (no line separates
    # them, the graph does), in `disagree` it is the sign of a feature that varies within every cluster
    centres = np.array([[8, 0, 0], [-8, 0, 0], [0, 8, 0], [0, -8, 0]], dtype=float)
    cluster = np.repeat(np.arange(4), 50)
    Z = centres[cluster] + g.normal(size=(200, 3)) * [1, 1, 1]
    agree = cluster // 2
    disagree = (Z[:, 2] > 0).astype(int)
    lab = np.concatenate([np.flatnonzero(cluster == c)[:6] for c in range(4)])
    graph = PoolGraph(np.arange(200), Z, n_neighbors=10)

    on = SpreadRegression().fit(Z[lab], agree[lab], pool=(graph, lab))
    assert on.gate_[0] > on.gate_[1]
    assert on.n_pseudo_ > 100
    off = SpreadRegression().fit(Z[lab], disagree[lab], pool=(graph, lab))
    assert off.gate_[0] <= off.gate_[1] and off.n_pseudo_ == 0
    plain = SoftmaxRegression().fit(Z[lab], disagree[lab])
    np.testing.assert_array_equal(off.predict_proba(Z), plain.predict_proba(Z))
    ungated = SpreadRegression(gate=False).fit(Z[lab], disagree[lab], pool=(graph, lab))
    assert ungated.n_pseudo_ > 100  # without the gate the misleading pseudo-labels go in
    # a tie (both right on every held-out label: a line separates these classes too) keeps them
    tie = SpreadRegression().fit(Z[lab], cluster[lab] % 2, pool=(graph, lab))
    assert tie.gate_ == (len(lab), len(lab)) and tie.n_pseudo_ > 100
    strict = SpreadRegression()
    strict._gate_ties = False
    assert strict.fit(Z[lab], cluster[lab] % 2, pool=(graph, lab)).n_pseudo_ == 0


# ----------------------------------------------------------------------------- ViewProduct
def _two_views(seed=0, n=120):
    """View 0 (3 columns) tells the classes apart; view 1 (4 columns) is noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    good = rng.normal(size=(n, 3)) + 2.5 * np.eye(3)[y]
    noise = rng.normal(size=(n, 4))
    return np.hstack([good, noise]), y


def test_view_product_is_the_weighted_geometric_mean_of_one_linear_model_per_view():
    from alwidget import ViewProduct

    X, y = _two_views()
    model = ViewProduct([3, 4], [3, 2]).fit(X, y, 3)  # weights rescaled to 0.6, 0.4
    a = SoftmaxRegression().fit(X[:, :3], y, 3).predict_proba(X[:, :3]).astype(np.float64)
    b = SoftmaxRegression().fit(X[:, 3:], y, 3).predict_proba(X[:, 3:]).astype(np.float64)
    log_p = 0.6 * np.log(a) + 0.4 * np.log(b)
    expected = np.exp(log_p - log_p.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.predict_proba(X), expected, atol=1e-6)
    # one linear model on the whole row: standardisation folds in as for SoftmaxRegression
    mean, scale = X.mean(axis=0), X.std(axis=0)
    np.testing.assert_allclose(
        model.predict_proba(X * scale + mean, standardize=(mean, scale)), model.predict_proba(X), atol=1e-6
    )


def test_view_product_combines_views_that_each_tell_only_some_classes_apart():
    """View 0 sees class 2 against the rest, view 1 class 0 against the rest: only together do they tell all three."""
    from alwidget import ViewProduct

    rng = np.random.default_rng(1)
    n = 2000
    y = rng.integers(0, 3, n)
    view0 = rng.normal(size=(n, 3)) + 3.0 * (y == 2)[:, None]
    view1 = rng.normal(size=(n, 4)) + 3.0 * (y == 0)[:, None]
    X = np.hstack([view0, view1])
    train, test = np.arange(30), np.arange(1000, 2000)
    acc = {}
    for name, model, cols in [
        ("pooled", ViewProduct([3, 4]), slice(None)),
        ("view0", SoftmaxRegression(), slice(0, 3)),
        ("view1", SoftmaxRegression(), slice(3, None)),
    ]:
        p = model.fit(X[train, cols], y[train], 3).predict_proba(X[test, cols])
        acc[name] = float((p.argmax(1) == y[test]).mean())
    assert acc["pooled"] > 0.85 > 0.7 > max(acc["view0"], acc["view1"]), acc


def test_view_product_warm_starts_each_view_and_lands_on_the_same_optimum():
    from alwidget import ViewProduct

    X, y = _two_views(2)
    first = fit_model(make_model("linear", views=([3, 4], np.array([0.5, 0.5]))), X[:80], y[:80], 3)
    assert isinstance(first, ViewProduct)
    cold = ViewProduct([3, 4]).fit(X, y, 3)
    warm = fit_model(make_model("linear", views=([3, 4], np.array([0.5, 0.5]))), X, y, 3, previous=first)
    assert warm.n_iter_ < cold.n_iter_
    np.testing.assert_allclose(warm.predict_proba(X), cold.predict_proba(X), atol=1e-7)


@pytest.mark.parametrize(
    ("views", "weights", "match"),
    [
        ([7], None, "two or more"),
        ([3, 0], None, "two or more"),
        ("34", None, "two or more"),
        ([3, 4], [1.0], "one per view"),
        ([3, 4], [0.0, 0.0], "not all zero"),
        ([3, 4], [1.0, float("nan")], "finite"),
    ],
)
def test_bad_views_are_named(views, weights, match):
    from alwidget import ViewProduct

    X, y = _two_views()
    with pytest.raises(InvalidInputError, match=match):
        ViewProduct(views, weights).fit(X, y, 3)
    with pytest.raises(InvalidInputError, match="add up to 6"):
        ViewProduct([3, 3]).fit(X, y, 3)
