import numpy as np
import pytest

from alwidget import MLPClassifier, SoftmaxRegression
from alwidget.errors import InvalidInputError
from alwidget.models import make_model, predict_proba_with


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
    ours = SoftmaxRegression(l2=1.0, max_iter=500, tol=1e-6).fit(Xs, y).predict_proba(Xs)
    theirs = LogisticRegression(C=1.0, max_iter=2000, tol=1e-8).fit(Xs, y).predict_proba(Xs)
    np.testing.assert_allclose(ours, theirs, atol=2e-3)


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
