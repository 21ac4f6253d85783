"""Small torch classifiers trained on embeddings.

Both models follow scikit-learn's conventions (``fit(X, y)``,
``predict_proba(X)``, fitted state ends in ``_``) and train full-batch from a
seeded start, so the same data always gives the same model: the linear model
by Newton's method with conjugate gradients (NumPy, float64), the MLP by
L-BFGS (SciPy's, on a torch objective).

The learner standardises embeddings with statistics of the whole pool. To
score a large pool without materialising a standardised copy, the models
accept ``standardize=(mean, scale)`` at prediction time and fold it into their
first linear layer.

Platform stability. Training runs in float64 and stops only when the gradient
is below ``tol=1e-8`` (not scikit-learn's loose 1e-4). The
default linear model is strictly convex, so its optimum is unique and every
CPU, BLAS kernel and thread count lands on the same weights to about 1e-9:
the probabilities, the clips a strategy picks and the accuracies printed from
them do not depend on the machine. Pools of up to ``_EXACT_SCORE_VALUES``
numbers are also scored in float64 for the same reason; larger pools are
scored in float32 for speed (the ranking then agrees to about 1e-7).
"""

from __future__ import annotations

import contextlib
import copy
import sys
import threading

import numpy as np
import scipy.optimize
import torch
from threadpoolctl import ThreadpoolController
from torch.nn import functional as F

from alwidget._pool import (  # noqa: F401 (re-exported: the row I/O lived here)
    _EXACT_SCORE_VALUES,
    _FAST_CHUNK,
    _SCORE_CHUNK,
    _tensor,
    gather_rows,
    pool_blocks,
    to_float32,
)
from alwidget._solvers import newton_cg
from alwidget._validation import check_positive_int, check_weights
from alwidget.errors import InvalidInputError

__all__ = ["SoftmaxRegression", "SpreadRegression", "MLPClassifier", "ViewProduct", "make_model", "predict_proba_with"]

# logit gap that gives a class with no example a vanishing probability (exp(-50) ~ 2e-22)
_ABSENT_GAP = 50.0


_limit_lock = threading.Lock()
_limit_users = 0
_limiter = None
# finding the loaded BLAS / OpenMP libraries took 2.7 to 5 ms a fit: found once, again after new imports
_controller: tuple[int, ThreadpoolController] | None = None


@contextlib.contextmanager
def _one_thread():
    """Run BLAS and OpenMP on one thread for the duration (process-wide).

    Reference-counted, so fits running in several threads at once restore the
    original limits only when the last one finishes.
    """
    global _limit_users, _limiter, _controller
    with _limit_lock:
        if _limit_users == 0:
            if _controller is None or _controller[0] != len(sys.modules):
                _controller = (len(sys.modules), ThreadpoolController())
            _limiter = _controller[1].limit(limits=1)
        _limit_users += 1
    try:
        yield
    finally:
        with _limit_lock:
            _limit_users -= 1
            if _limit_users == 0:
                _limiter.restore_original_limits()
                _limiter = None


class _TorchClassifier:
    """Shared fit/predict machinery; subclasses define the network."""

    def __init__(self, *, l2: float = 1.0, max_iter: int = 200, tol: float = 1e-8, seed: int = 0, device: str = "cpu"):
        self.l2 = l2
        self.max_iter = max_iter
        self.tol = tol
        self.seed = seed
        self.device = device

    # -- to be provided by subclasses -------------------------------------
    def _init_params(self, n_features: int, n_classes: int, gen: torch.Generator) -> list[torch.Tensor]:
        raise NotImplementedError

    def _logits(self, X: torch.Tensor, params: list[torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def _penalty(self, params: list[torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def _logits_t(self, X: torch.Tensor, params: list[torch.Tensor]) -> torch.Tensor:
        """The logits transposed, ``(k, m)``: the layout the float32 softmax runs on."""
        return self._logits(X, params).T

    _convex = False  # a unique optimum: warm starts and Newton steps are safe

    def _solve(self, X, y, onehot, start, lam, basis=None, v=None) -> tuple[list[torch.Tensor], int, float] | None:
        """A dedicated solver (params, steps, gradient norm), or None for L-BFGS."""
        return None

    def _loss_grad(self, X, y, onehot, params, lam, v=None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Penalised mean cross-entropy (weighted by ``v``, summing to 1, when given) and its gradients."""
        with torch.enable_grad():
            params = [p.requires_grad_() for p in params]
            logits = self._logits(X, params)
            if v is None:
                data = F.cross_entropy(logits, y)
            else:
                data = (F.cross_entropy(logits, y, reduction="none") * v).sum()
            loss = data + 0.5 * lam * self._penalty(params)
            grads = torch.autograd.grad(loss, params)
        return loss.detach(), list(grads)

    # -- public API --------------------------------------------------------
    def fit(self, X, y, n_classes: int | None = None, *, init: list | None = None, basis=None, sample_weight=None):
        """Train on ``X`` ``(m, d)`` float and integer class codes ``y`` ``(m,)``.

        ``n_classes`` (default ``max(y) + 1``) sets the number of outputs.
        The network is trained on the classes present in ``y`` only; a class
        with no example yet gets a vanishing probability (about 1e-22), as in
        scikit-learn, which never predicts a class it has not seen.
        ``init`` (convex models only) starts from another fit's ``params_``
        (a warm start: the same optimum, found in fewer steps); ``basis``
        (the linear model) is that fit's ``basis_``, its preconditioner's
        eigenbasis, reused while the rows have at most doubled.
        ``sample_weight`` ``(m,)``, non-negative, not all zero: row ``i``
        counts ``sample_weight[i]`` times (a weight of 2 is the row twice,
        penalty included: ``l2`` is divided by the total weight).
        """
        X = torch.from_numpy(np.array(X, dtype=np.float64)).to(self.device)  # a float64 copy of the labelled rows
        y_np = np.asarray(y)
        if y_np.ndim != 1 or len(y_np) != len(X) or len(y_np) == 0:
            msg = f"y must be a non-empty 1-D array with one code per row of X ({len(X)}), got shape {y_np.shape}"
            raise InvalidInputError(msg)
        k = int(n_classes) if n_classes is not None else int(y_np.max()) + 1
        if y_np.min() < 0 or y_np.max() >= k:
            msg = f"class codes must lie in 0 .. {k - 1}, got {int(y_np.min())} .. {int(y_np.max())}"
            raise InvalidInputError(msg)
        total = float(len(X))
        v = None  # row weights summing to 1; None: every row 1 / m (the unweighted path, unchanged)
        if sample_weight is not None:
            w = np.asarray(sample_weight, dtype=np.float64)
            if w.shape != (len(X),) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
                msg = (
                    f"sample_weight must be {len(X)} finite, non-negative numbers (one per row of X), "
                    f"not all zero; got shape {w.shape}"
                )
                raise InvalidInputError(msg)
            total = float(w.sum())
            v = w / total
        present = np.unique(y_np)  # train on the classes that have examples
        k_fit = len(present)
        y_t = torch.as_tensor(np.searchsorted(present, y_np).astype(np.int64), device=self.device)
        onehot = F.one_hot(y_t, k_fit).to(X.dtype)
        gen = torch.Generator(device="cpu").manual_seed(int(self.seed))
        start = [p.to(torch.float64) for p in self._init_params(X.shape[1], k_fit, gen)]
        n_out = len(start) - 2  # the output layer's weight and bias are the last two parameters
        if init is not None and self._convex and all(p.shape[1:] == q.shape[1:] for p, q in zip(start, init)):
            for i, (p, q) in enumerate(zip(start, init)):
                q = q.to(device="cpu", dtype=torch.float64)
                if i < n_out:
                    p.copy_(q)
                elif len(q) == k:
                    p.copy_(q[torch.from_numpy(present)].clamp(min=-30.0))
        shapes = [p.shape for p in start]
        cuts = np.cumsum([p.numel() for p in start])[:-1]
        lam = float(self.l2) / total  # scikit-learn's C=1 scaling: penalty shrinks as labels grow

        def unflatten(x: np.ndarray) -> list[torch.Tensor]:
            parts = np.split(np.asarray(x, dtype=np.float64), cuts)
            return [torch.from_numpy(a).reshape(s).to(self.device) for a, s in zip(parts, shapes)]

        v_t = None if v is None else torch.from_numpy(v).to(self.device)

        def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
            loss, grads = self._loss_grad(X, y_t, onehot, unflatten(x), lam, v_t)
            return float(loss), torch.cat([g.reshape(-1) for g in grads]).cpu().numpy().astype(np.float64)

        x0 = torch.cat([p.reshape(-1) for p in start]).numpy().astype(np.float64)
        # The problem is small, so BLAS and OpenMP run on one thread: handing
        # tiny products back and forth between two spinning thread pools made
        # each step 10-100x slower on 2 cores.
        with _one_thread():
            solved = self._solve(X, y_t, onehot, [p.to(self.device) for p in start], lam, basis, v)
            if solved is None:
                # SciPy's L-BFGS-B drives the torch objective (its Fortran loop
                # costs microseconds per step, torch.optim.LBFGS a millisecond).
                # ftol=0: stop on the gradient, never on a small relative change
                # of the loss, which leaves a machine-dependent point.
                result = scipy.optimize.minimize(
                    fun,
                    x0,
                    jac=True,
                    method="L-BFGS-B",
                    options={"maxiter": int(self.max_iter), "gtol": float(self.tol), "ftol": 0.0},
                )
                solved = (unflatten(result.x), int(result.nit), float(np.linalg.norm(result.jac)))
        params, self.n_iter_, self.grad_norm_ = solved
        if k_fit < k:  # outputs for classes with no example: zero weights, a bias far below the rest
            W, b = params[-2:]
            W_all = torch.zeros((k, *W.shape[1:]), dtype=W.dtype, device=W.device)
            b_all = torch.full((k,), float(b.min()) - _ABSENT_GAP, dtype=b.dtype, device=b.device)
            W_all[torch.from_numpy(present)] = W
            b_all[torch.from_numpy(present)] = b
            params = [*params[:-2], W_all, b_all]
        self.params_ = params
        self.classes_ = np.arange(k)
        self.n_features_in_ = int(X.shape[1])
        return self

    def predict_proba(self, X, *, standardize: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """Class probabilities ``(m, k)`` float32 for rows of ``X`` ``(m, d)``.

        With ``standardize=(mean, scale)`` the rows are treated as raw
        embeddings and standardised on the fly (folded into the first layer).
        """
        if not hasattr(self, "params_"):
            msg = f"this {type(self).__name__} is not fitted yet; call fit(X, y) first"
            raise InvalidInputError(msg)
        X = X if isinstance(X, np.memmap) else np.asarray(X)
        return self._predict_rows(X, None, standardize, exact=X.size <= _EXACT_SCORE_VALUES)

    def _predict_rows(self, X, rows, standardize, *, exact: bool) -> np.ndarray:
        """:meth:`predict_proba` of ``X[rows]`` (all of ``X`` for None), gathered and scored in chunks.

        The float64 (exact) path is the one small pools always had. The
        float32 path works in chunks of ``_FAST_CHUNK`` rows (reused
        buffers; float16 rows widened by torch into one buffer) and takes the
        softmax over the class axis of the transposed logits, 4x faster than
        along rows of 10 (equal to about 3e-8).
        """
        dtype = np.float64 if exact else np.float32
        torch_dtype = torch.float64 if exact else torch.float32
        params = [p.to(torch_dtype) for p in self._folded_params(standardize)]
        n = len(X) if rows is None else len(rows)
        out = np.empty((n, len(self.classes_)), dtype=np.float32)
        wide = None  # float16 rows are widened into this buffer
        with torch.no_grad():
            for start, block in pool_blocks(X, rows, _SCORE_CHUNK if exact else _FAST_CHUNK):
                if block.dtype == np.float16:
                    if wide is None:
                        wide = torch.empty((min(n, len(block)), *block.shape[1:]), dtype=torch_dtype)
                    chunk = wide[: len(block)]
                    chunk.copy_(_tensor(np.ascontiguousarray(block), "cpu"))
                    chunk = chunk.to(self.device)
                else:
                    chunk = _tensor(np.ascontiguousarray(block, dtype=dtype), self.device)
                if exact:
                    proba = torch.softmax(self._logits(chunk, params), dim=1)
                else:
                    proba = torch.softmax(self._logits_t(chunk, params).contiguous(), dim=0).T
                out[start : start + len(chunk)] = proba.cpu().numpy()
        return out

    def _folded_params(self, standardize) -> list[torch.Tensor]:
        if standardize is None:
            return self.params_
        mean, scale = (torch.from_numpy(np.asarray(a, dtype=np.float64)).to(self.device) for a in standardize)
        W, b, *rest = self.params_  # first layer: F.linear(x, W, b), W of shape (out, in)
        W2 = W / scale[None, :]
        return [W2, b - W2 @ mean, *rest]


class SoftmaxRegression(_TorchClassifier):
    """Multinomial logistic regression (a linear layer + softmax), L2-regularised.

    Parameters
    ----------
    l2 : float
        Strength of the L2 penalty on the weights and biases, scaled by
        ``1 / n_labels`` like scikit-learn's ``C=1 / l2``. Penalising the
        biases makes the optimum unique (and finite for classes with no
        label yet).
    max_iter : int
        Newton steps at most (trust-region Newton-CG; about 10 are needed).
    tol : float
        Stop when the norm of the gradient of the (float64) objective is
        below this. Newton steps converge quadratically, so the default 1e-8
        lands on the unique optimum to about 1e-9 in the probabilities and
        results do not depend on the machine; scikit-learn's 1e-4 leaves a
        machine-dependent point.
    seed : int
        Unused by this convex model (it starts at zero); kept for a uniform API.
    device : str
        Torch device for training and scoring.
    """

    _convex = True

    def _init_params(self, n_features, n_classes, gen):
        return [torch.zeros(n_classes, n_features), torch.zeros(n_classes)]

    def _logits(self, X, params):
        W, b = params  # (out, in) layout: F.linear is ~1.6x faster than X @ W on tall, thin products
        return F.linear(X, W, b)

    def _logits_t(self, X, params):
        W, b = params  # W @ X^T straight into (k, m): no transposed copy of the logits (2.5 ms per 20,000 rows)
        return torch.addmm(b[:, None], W, X.T)

    def _penalty(self, params):
        # The bias is penalised too: softmax is unchanged when every bias moves
        # by the same amount, and a class with no label yet would push its bias
        # towards minus infinity. With the bias in the penalty the objective is
        # strictly convex and its optimum exists and is unique.
        return (params[0] ** 2).sum() + (params[1] ** 2).sum()

    @torch.no_grad()
    def _solve(self, X, y, onehot, start, lam, basis=None, v=None):
        """Newton's method with preconditioned conjugate gradients (truncated Newton), in NumPy float64.

        Works on ``theta = [W | b]`` ``(k, d + 1)`` with ``[X | 1]``, in the
        eigenbasis of the data's second moments ``mean(x x^T)`` (a rotation:
        the same objective and optimum, whose preconditioner is then
        diagonal in the data). Each step solves ``H s = -g`` by conjugate
        gradients with exact Hessian-vector products, preconditioned by the
        Kronecker approximation ``H ~ mean(diag(p) - p p^T) (x) mean(x x^T)
        + lam I``, then backtracks until the loss drops enough (Armijo).
        Converges quadratically: about 5-10 steps. The labelled rows are few,
        so the work is many small products, where NumPy's per-call cost is a
        fraction of torch's (a fit took 15 ms instead of 35 ms here); the
        result goes back to the model's device.
        """
        device = X.device
        Xa = np.empty((len(X), X.shape[1] + 1))
        Xa[:, :-1] = X.cpu().numpy()
        Xa[:, -1] = 1.0
        theta0 = np.concatenate([start[0].cpu().numpy(), start[1].cpu().numpy()[:, None]], axis=1)
        if basis is not None and (basis[1].shape != (Xa.shape[1],) * 2 or not basis[0] <= len(Xa) <= 2 * basis[0]):
            basis = None  # computed on far fewer (or more) labels: a fresh one
        theta, steps, g_norm, self.basis_ = newton_cg(
            Xa,
            y.cpu().numpy(),
            onehot.cpu().numpy(),
            theta0,
            lam,
            max_iter=self.max_iter,
            tol=self.tol,
            basis=basis,
            v=v,
        )
        theta = torch.from_numpy(theta).to(device)
        return [theta[:, :-1].contiguous(), theta[:, -1].contiguous()], steps, g_norm


class ViewProduct(SoftmaxRegression):
    """One :class:`SoftmaxRegression` per view of the embeddings, pooled by a weighted product.

    An embedding made of feature sets side by side (``"logmel+aisfx"``: 384
    log-mel statistics, then 512 aiSFX values) has one *view* per set: a
    block of columns. Each view gets its own model on its own columns; the
    class probabilities are their weighted geometric mean, renormalised,
    ``p(c | x) ~ prod_v p_v(c | x_v) ** w_v`` (log-linear pooling). A view
    that is sure outvotes one that is not, and no view's scale has to match
    another's. The pooled model is itself a softmax regression on the whole
    row (weights ``[w_1 W_1 | w_2 W_2 | ...]``, bias ``sum_v w_v b_v``), so
    it is stored, scored and standardised as one; each view's fit is
    strictly convex, so the result is unique and machine-independent.

    Parameters
    ----------
    views : sequence of int
        Columns per view, in order; they add up to the embedding's width.
    weights : sequence of float, optional
        One non-negative weight per view, not all zero (rescaled to sum to
        1). Default: equal weights.
    l2, max_iter, tol, seed, device
        As for :class:`SoftmaxRegression`, for every view.
    """

    def __init__(
        self,
        views,
        weights=None,
        *,
        l2: float = 1.0,
        max_iter: int = 200,
        tol: float = 1e-8,
        seed: int = 0,
        device: str = "cpu",
    ):
        super().__init__(l2=l2, max_iter=max_iter, tol=tol, seed=seed, device=device)
        self.views = views
        self.weights = weights

    def check_params(self) -> tuple[list[int], np.ndarray]:
        """The views' widths and their weights (summing to 1); InvalidInputError naming a bad value."""
        return check_views(self.views, self.weights)

    def fit(self, X, y, n_classes: int | None = None, *, init=None, basis=None, sample_weight=None):
        """Fit each view on its columns of ``X`` ``(m, sum(views))``, then pool (see the class).

        ``init`` and ``basis``: per-view lists from an earlier fit (its
        ``view_params_`` and ``view_bases_``), a warm start of each view.
        """
        dims, weights = self.check_params()
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != sum(dims):
            msg = f"X has {X.shape[1] if X.ndim == 2 else X.shape} columns; the views {dims} add up to {sum(dims)}"
            raise InvalidInputError(msg)
        ends = np.cumsum(dims)
        fits = []
        for v, (a, b) in enumerate(zip(ends - dims, ends)):
            part = SoftmaxRegression(
                l2=self.l2, max_iter=self.max_iter, tol=self.tol, seed=self.seed, device=self.device
            )
            warm = init[v] if isinstance(init, tuple) and len(init) == len(dims) else None
            base = basis[v] if isinstance(basis, tuple) and len(basis) == len(dims) else None
            fits.append(part.fit(X[:, a:b], y, n_classes, init=warm, basis=base, sample_weight=sample_weight))
        self.view_params_ = tuple(m.params_ for m in fits)
        self.view_bases_ = tuple(getattr(m, "basis_", None) for m in fits)
        W = torch.cat([float(w) * m.params_[0] for w, m in zip(weights, fits)], dim=1)
        bias = sum(float(w) * m.params_[1] for w, m in zip(weights, fits))
        self.params_ = [W.contiguous(), bias.contiguous()]
        self.classes_ = fits[0].classes_
        self.n_features_in_ = int(X.shape[1])
        self.n_iter_ = sum(m.n_iter_ for m in fits)
        self.grad_norm_ = max(m.grad_norm_ for m in fits)
        return self


def split_views(views) -> tuple[list[int], np.ndarray] | None:
    """``views`` as the learner takes it (None, widths, or ``(width, weight)`` pairs) as ``(widths, weights)``."""
    if views is None:
        return None
    pairs = not isinstance(views, (str, bytes)) and hasattr(views, "__len__") and len(views) > 0
    if pairs and all(isinstance(v, (tuple, list)) and len(v) == 2 for v in views):
        return check_views([v[0] for v in views], [v[1] for v in views])
    return check_views(views)


def check_views(views, weights=None) -> tuple[list[int], np.ndarray]:
    """Widths of the views (positive ints, two or more) and their weights rescaled to sum to 1."""
    bad = isinstance(views, (str, bytes)) or not hasattr(views, "__len__") or len(views) < 2
    if bad or any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1 for d in views):
        msg = f"views must list two or more column counts (positive ints, one per view), got {views!r}"
        raise InvalidInputError(msg)
    dims = [int(d) for d in views]
    return dims, check_weights(weights, len(dims), "view")


class MLPClassifier(_TorchClassifier):
    """One hidden ReLU layer, then softmax; L2-regularised, seeded initialisation.

    Parameters
    ----------
    hidden : int
        Width of the hidden layer.
    l2, max_iter, tol, seed, device
        As for :class:`SoftmaxRegression`; ``seed`` fixes the initial weights.
        The network is not convex, so a tight ``tol`` cannot make its answer
        unique; it stops earlier (``tol=1e-6``, 300 steps) to stay quick.
    """

    def __init__(
        self,
        *,
        hidden: int = 64,
        l2: float = 1.0,
        max_iter: int = 300,
        tol: float = 1e-6,
        seed: int = 0,
        device: str = "cpu",
    ):
        super().__init__(l2=l2, max_iter=max_iter, tol=tol, seed=seed, device=device)
        self.hidden = hidden

    def _init_params(self, n_features, n_classes, gen):
        h = int(self.hidden)
        b1 = 1.0 / np.sqrt(n_features)
        b2 = 1.0 / np.sqrt(h)
        return [
            (torch.rand(h, n_features, generator=gen) * 2 - 1) * b1,
            torch.zeros(h),
            (torch.rand(n_classes, h, generator=gen) * 2 - 1) * b2,
            torch.zeros(n_classes),
        ]

    def _logits(self, X, params):
        W1, b1, W2, b2 = params
        return F.linear(torch.relu(F.linear(X, W1, b1)), W2, b2)

    def _penalty(self, params):
        return sum((p**2).sum() for p in params)  # biases too: no flat direction, no runaway bias


class SpreadRegression(SoftmaxRegression):
    """:class:`SoftmaxRegression` on the labels plus pseudo-labels spread over the pool.

    At each fit the labels are spread over a k-nearest-neighbour graph of the
    (standardised) pool (label spreading, Zhou et al. 2003). Every unlabelled
    node of the graph then joins the training rows with its most likely class
    as a pseudo-label, weighted by its confidence (1 - normalised entropy),
    with the same total weight for every class, and all pseudo-labels
    together weighing ``weight`` times the number of labels. The model is
    still one linear layer, convex, with a unique optimum; only its training
    rows change. It needs the pool, so it is trained by an
    :class:`~alwidget.ActiveLearner` (``model="spread"``), which builds the
    graph once and hands it to every fit; alone, with fewer than two
    classes labelled, or on a pool above ``max_nodes`` clips, it is
    :class:`SoftmaxRegression`.

    Parameters
    ----------
    weight : float, default 0.3
        Total weight of the pseudo-labels relative to the labels (0 gives
        :class:`SoftmaxRegression`). Why 0.3: ``benchmarks/README.md``,
        "Model: spread or linear".
    gate : bool, default True
        Before each fit, a 5-fold check on the labels compares label
        spreading's held-out predictions with the regression's; the
        pseudo-labels go in only when spreading gets at least as many right
        (``gate_`` holds both counts), so a pool whose nearest neighbours do
        not share classes falls back to the regression (the evidence for the
        gate and its tolerance: ``benchmarks/README.md``).
    n_neighbors : int, default 10
        Edges per node of the graph.
    max_nodes : int, default 5000
        Pools of up to this many clips get a graph of the whole pool, which
        bounds the cost of a fit. A larger pool is fitted as by
        :class:`SoftmaxRegression`, unless ``sample=True`` (why:
        ``benchmarks/README.md``, "Model: spread or linear").
    sample : bool, default False
        On a pool larger than ``max_nodes``, spread over the graph of a seeded
        random sample of ``max_nodes`` clips (plus the labelled ones). Off by
        default (``benchmarks/README.md``).
    alpha : float, default 0.99
        Weight of the neighbours against the labels in each spreading step.
    n_spread : int, default 30
        Spreading steps.
    l2, max_iter, tol, seed, device
        As for :class:`SoftmaxRegression`; the penalty is scaled by the
        total weight of the rows.
    """

    uses_pool = True
    _gate_ties = True  # the gate's answer on a tie (benchmarks/evidence/default_screen.py tries False too)

    def __init__(
        self,
        *,
        weight: float = 0.3,
        n_neighbors: int = 10,
        max_nodes: int = 5000,
        sample: bool = False,
        gate: bool = True,
        alpha: float = 0.99,
        n_spread: int = 30,
        l2: float = 1.0,
        max_iter: int = 200,
        tol: float = 1e-8,
        seed: int = 0,
        device: str = "cpu",
    ):
        super().__init__(l2=l2, max_iter=max_iter, tol=tol, seed=seed, device=device)
        self.weight = weight
        self.n_neighbors = n_neighbors
        self.max_nodes = max_nodes
        self.sample = sample
        self.gate = gate
        self.alpha = alpha
        self.n_spread = n_spread

    def check_params(self) -> None:
        """Raise :class:`InvalidInputError` naming the first bad parameter."""
        w = self.weight
        if isinstance(w, bool) or not isinstance(w, (int, float, np.integer, np.floating)) or not 0 <= w < np.inf:
            raise InvalidInputError(f"SpreadRegression weight must be a finite number >= 0, got {w!r}")
        for name in ("n_neighbors", "max_nodes", "n_spread"):
            check_positive_int(getattr(self, name), f"SpreadRegression {name}")
        for name in ("sample", "gate"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise InvalidInputError(f"SpreadRegression {name} must be True or False, got {getattr(self, name)!r}")
        a = self.alpha
        if isinstance(a, bool) or not isinstance(a, (int, float, np.integer, np.floating)) or not 0 < a < 1:
            raise InvalidInputError(f"SpreadRegression alpha must lie strictly between 0 and 1, got {a!r}")

    def _gate_folds(self, codes: np.ndarray):
        """The gate's 5 seeded folds of the labels: ``(train, held)`` masks, skipping folds it cannot check."""
        folds = np.random.default_rng([int(self.seed), len(codes)]).permutation(len(codes)) % 5
        for f in range(5):
            train, held = folds != f, folds == f
            if held.any() and len(np.unique(codes[train])) >= 2:
                yield train, held

    def _spreading_wins(self, W, node, codes, X, k) -> bool:
        """5-fold check on the labels: does spreading predict held-out labels better than the regression?"""
        from alwidget import _graph

        spread_right = regression_right = 0
        for train, held in self._gate_folds(codes):
            P = _graph.spread(W, node[train], codes[train], k, float(self.alpha), int(self.n_spread))
            spread_right += int((P[node[held]].argmax(axis=1) == codes[held]).sum())
            plain = SoftmaxRegression(l2=self.l2, max_iter=self.max_iter, tol=self.tol).fit(X[train], codes[train], k)
            regression_right += int((plain.predict_proba(X[held]).argmax(axis=1) == codes[held]).sum())
        self.gate_ = (spread_right, regression_right)
        return spread_right > regression_right or (self._gate_ties and spread_right == regression_right)

    def fit(self, X, y, n_classes=None, *, init=None, basis=None, sample_weight=None, pool=None):
        """Train on ``X`` ``(m, d)`` and codes ``y`` ``(m,)``, plus pseudo-labels of ``pool``.

        ``pool``: ``(graph, rows)``, a :class:`alwidget._graph.PoolGraph` of
        the pool and the pool row of each of the ``m`` labelled clips (the
        learner passes it). Without it, or with fewer than two classes in
        ``y``, or with ``weight=0``, this is :meth:`SoftmaxRegression.fit`.
        """
        self.check_params()
        self.n_pseudo_ = 0
        y_np = np.asarray(y)
        present = np.unique(y_np) if y_np.ndim == 1 and len(y_np) else np.zeros(0, dtype=np.int64)
        if pool is None or self.weight == 0 or len(present) < 2 or sample_weight is not None:
            return super().fit(X, y, n_classes, init=init, basis=basis, sample_weight=sample_weight)
        from alwidget import _graph

        graph, rows = pool
        X = np.asarray(X, dtype=np.float64)
        rows = np.asarray(rows, dtype=np.int64)
        if rows.shape != (len(X),):
            raise InvalidInputError(f"pool rows must give one pool row per labelled row ({len(X)}), got {rows.shape}")
        W, node, extra = graph.affinity(rows, X)
        k = len(present)
        codes = np.searchsorted(present, y_np)
        if self.gate and not self._spreading_wins(W, node, codes, X, k):
            return super().fit(X, y, n_classes, init=init, basis=basis)
        P = _graph.spread(W, node, codes, k, float(self.alpha), int(self.n_spread))
        # a labelled clip counts once, with its own label
        keep, pseudo, conf = _graph.pseudo_labels(P, node, k)
        if len(keep) == 0:
            return super().fit(X, y, n_classes, init=init, basis=basis)
        conf = conf * (float(self.weight) * len(X) / conf.sum())
        features = np.concatenate([graph.features, extra]) if len(extra) else graph.features
        self.n_pseudo_ = len(keep)
        return super().fit(
            np.concatenate([X, features[keep]]),
            np.concatenate([y_np, present[pseudo]]),
            n_classes,
            init=init,
            basis=basis,
            sample_weight=np.concatenate([np.ones(len(X)), conf]),
        )


_BUILTIN = {"linear": SoftmaxRegression, "mlp": MLPClassifier, "spread": SpreadRegression}


def make_model(spec, *, seed: int = 0, device: str = "cpu", views=None):
    """A fresh, unfitted model for ``spec``.

    ``spec`` is ``"linear"``, ``"spread"``, ``"mlp"`` or an object with
    scikit-learn style ``fit(X, y)`` / ``predict_proba(X)``; such an object is
    cloned (scikit-learn's ``clone`` when available, else a deep copy) so every
    fit starts afresh. ``views``: ``(widths, weights)`` of the embedding's
    views (:func:`split_views`); ``"linear"`` is then a :class:`ViewProduct`.
    """
    if isinstance(spec, str):
        if spec not in _BUILTIN:
            msg = f"unknown model {spec!r}; use one of {sorted(_BUILTIN)} or an object with fit/predict_proba"
            raise InvalidInputError(msg)
        if spec == "linear" and views is not None:
            return ViewProduct(views[0], views[1], seed=seed, device=device)
        return _BUILTIN[spec](seed=seed, device=device)
    if isinstance(spec, (SpreadRegression, ViewProduct)):
        spec.check_params()
    if not (callable(getattr(spec, "fit", None)) and callable(getattr(spec, "predict_proba", None))):
        msg = f"model {spec!r} has no fit(X, y) and predict_proba(X) methods; pass 'linear', 'mlp' or such an object"
        raise InvalidInputError(msg)
    try:
        from sklearn.base import clone

        return clone(spec)
    except (ImportError, TypeError, RuntimeError):
        return copy.deepcopy(spec)


def fit_model(model, X: np.ndarray, y: np.ndarray, n_classes: int, *, previous=None, pool=None):
    """Fit ``model`` on standardised rows ``X`` and integer codes ``y``; return it.

    ``previous``: the last fitted model of the same kind; a convex built-in
    model starts from its weights (same optimum, fewer steps). ``pool``:
    ``(graph, rows)`` for a model that uses the pool (:class:`SpreadRegression`).
    """
    if isinstance(model, _TorchClassifier):
        init = None
        if type(previous) is type(model) and model._convex and getattr(previous, "params_", None) is not None:
            init = previous.params_
        basis = getattr(previous, "basis_", None) if init is not None else None
        if isinstance(model, ViewProduct):  # each view starts from the same view of the last fit
            init = getattr(previous, "view_params_", None) if init is not None else None
            basis = getattr(previous, "view_bases_", None) if init is not None else None
        if pool is not None:
            return model.fit(X, y, n_classes=n_classes, init=init, basis=basis, pool=pool)
        return model.fit(X, y, n_classes=n_classes, init=init, basis=basis)
    model.fit(X, y)
    return model


def predict_proba_with(
    model, X: np.ndarray, n_classes: int, standardize: tuple[np.ndarray, np.ndarray], *, rows=None, exact=None
) -> np.ndarray:
    """Probabilities ``(m, n_classes)`` of a fitted model for raw rows ``X`` (or ``X[rows]``).

    Built-in models fold the standardisation into their first layer; other
    models get standardised chunks, and their ``predict_proba`` columns are
    mapped to class codes through ``classes_`` (classes they never saw get 0).
    ``X`` may be float16 or float32, memory-mapped or not: it is read
    ``_SCORE_CHUNK`` rows at a time (with ``rows``, only those rows), so
    scoring never holds more than one chunk of it in memory. ``rows`` are
    scored as ``X[rows]`` would be (float64 up to ``_EXACT_SCORE_VALUES``
    values, float32 above); ``exact`` overrides that choice (a large
    candidate set scored block by block stays on one path).
    """
    if isinstance(model, _TorchClassifier):
        if rows is None and exact is None:
            return model.predict_proba(X, standardize=standardize)
        if exact is None:
            exact = len(rows) * int(np.prod(X.shape[1:])) <= _EXACT_SCORE_VALUES
        X = X if isinstance(X, np.memmap) or rows is not None else np.asarray(X)
        return model._predict_rows(X, None if rows is None else np.asarray(rows), standardize, exact=bool(exact))
    mean, scale = standardize
    out = np.zeros((len(X) if rows is None else len(rows), n_classes), dtype=np.float32)
    for start, block in pool_blocks(X, rows):
        chunk = (block - mean) / scale
        p = np.asarray(model.predict_proba(chunk), dtype=np.float64)
        cols = np.asarray(getattr(model, "classes_", np.arange(p.shape[1])))
        if p.ndim != 2 or p.shape != (len(chunk), len(cols)) or not np.issubdtype(cols.dtype, np.integer):
            msg = (
                f"model {type(model).__name__}.predict_proba returned shape {p.shape} for {len(chunk)} rows; "
                "expected one column per class it was fitted on (its classes_)"
            )
            raise InvalidInputError(msg)
        out[start : start + len(chunk)][:, cols] = p
    return out
