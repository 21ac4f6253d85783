"""The solvers of the built-in classifiers (alwidget._solvers)."""

import numpy as np

from alwidget import _solvers


def test_the_compiled_conjugate_gradients_equal_the_python_loop_and_release_the_gil():
    rng = np.random.default_rng(3)
    m, d, k = 60, 9, 4
    Xr = rng.normal(size=(m, d))
    P = rng.random((m, k))
    P /= P.sum(1, keepdims=True)
    PT = np.ascontiguousarray(P.T)
    a_val, a_vec = np.linalg.eigh(np.diag(P.mean(0)) - P.T @ P / m)
    inv_denom = 1.0 / (np.clip(a_val, 0, None)[:, None] * np.linalg.eigvalsh(Xr.T @ Xr / m)[None, :] + 0.05)
    grad = rng.normal(size=(k, d))
    args = (grad, Xr, np.ascontiguousarray(Xr.T), PT, PT / m, a_vec, np.ascontiguousarray(a_vec.T), inv_denom)
    compiled = _solvers.conjugate_gradients()
    step = compiled(*args, 0.05, 1e-10, 4 * k * d)
    np.testing.assert_allclose(step, _solvers.cg_steps(*args, 0.05, 1e-10, 4 * k * d), rtol=1e-9, atol=1e-12)
    # it solves the Newton system: H step = -grad, with H applied as in the fit
    U = step @ Xr.T
    H_step = ((PT / m) * (U - (PT * U).sum(0))) @ Xr + 0.05 * step
    np.testing.assert_allclose(H_step, -grad, atol=1e-8)
    assert compiled.targetoptions.get("nogil") is True  # the UI thread runs while a fit solves


def test_newton_cg_reaches_the_unique_optimum_from_any_start():
    rng = np.random.default_rng(5)
    m, d, k, lam = 80, 6, 3, 0.1
    Xa = np.hstack([rng.normal(size=(m, d)), np.ones((m, 1))])
    y = rng.integers(0, k, size=m)
    onehot = np.eye(k)[y]
    zero = np.zeros((k, d + 1))
    theta_a, steps_a, g_a, _ = _solvers.newton_cg(Xa, y, onehot, zero, lam, max_iter=100, tol=1e-10)
    start = rng.normal(size=(k, d + 1)) * 3
    theta_b, _, g_b, _ = _solvers.newton_cg(Xa, y, onehot, start, lam, max_iter=100, tol=1e-10)
    assert g_a <= 1e-10 and g_b <= 1e-10 and 0 < steps_a < 30
    np.testing.assert_allclose(theta_a, theta_b, atol=1e-8)
    # the gradient of the objective is zero there (checked independently of the solver)
    Z = Xa @ theta_a.T
    P = np.exp(Z - Z.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    grad = (P - onehot).T @ Xa / m + lam * theta_a
    assert np.linalg.norm(grad) < 1e-8
    # a step limit is honoured
    _, steps, g, _ = _solvers.newton_cg(Xa, y, onehot, start, lam, max_iter=1, tol=1e-12)
    assert steps == 1 and g > 1e-10
