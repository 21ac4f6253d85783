"""Run the active-learning loop against an oracle and compare strategies."""

from __future__ import annotations

import csv
import numbers
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from alwidget import strategies as _strategies
from alwidget._row_views import views_of
from alwidget._validation import (
    check_class_name,
    check_classes,
    check_embeddings,
    check_non_negative_int,
    check_positive_int,
)
from alwidget.errors import InvalidInputError, UnknownClassError
from alwidget.learner import ActiveLearner

__all__ = ["simulate", "LearningCurves", "SummaryTable"]


def _strategy_name(s) -> str:
    return s if isinstance(s, str) else getattr(s, "__name__", repr(s))


def _check_labels(y, *, what: str = "y", rows: str = "embeddings") -> np.ndarray:
    """True labels as an object array of checked class names, or raise."""
    if isinstance(y, (str, bytes)) or not isinstance(y, Iterable) or (isinstance(y, np.ndarray) and y.ndim == 0):
        msg = f"{what} must be a sequence with one true class name per row of {rows}, got {y!r}"
        raise InvalidInputError(msg)
    return np.asarray([check_class_name(v, what="label") for v in y], dtype=object)


def _check_seeds(seeds) -> list[int]:
    """Seeds as a non-empty list of non-negative ints, or raise."""
    if isinstance(seeds, (numbers.Integral, np.integer)) and not isinstance(seeds, (bool, np.bool_)):
        msg = (
            f"seeds must be a sequence of seeds, got the integer {seeds!r}; for {seeds} runs pass seeds=range({seeds})"
        )
        raise InvalidInputError(msg)
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Iterable):
        msg = f"seeds must be a sequence of non-negative integers such as range(5), got {seeds!r}"
        raise InvalidInputError(msg)
    out = [check_non_negative_int(s, "each seed") for s in seeds]
    if not out:
        msg = "seeds is empty; pass at least one seed"
        raise InvalidInputError(msg)
    return out


class SummaryTable(list):
    """A list of row dicts that prints as an aligned text table (and HTML in notebooks)."""

    def _cells(self) -> tuple[list[str], list[list[str]]]:
        cols = list(self[0]) if self else []

        def fmt(v):
            if v is None:
                return "not reached"
            return f"{v:.3f}" if isinstance(v, float) else str(v)

        return cols, [[fmt(r[c]) for c in cols] for r in self]

    def __repr__(self) -> str:
        cols, rows = self._cells()
        widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths))]
        lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in rows]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        cols, rows = self._cells()
        head = "".join(f"<th>{c}</th>" for c in cols)
        body = "".join("<tr>" + "".join(f"<td>{v}</td>" for v in r) + "</tr>" for r in rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


@dataclass
class LearningCurves:
    """Accuracy against labels used, per strategy and seed.

    Attributes
    ----------
    strategies : list of str, one per curve family
    seeds : list of int
    n_labels : int array ``(p,)``, labels used at each evaluation
    accuracy : float array ``(n_strategies, n_seeds, p)``, values in 0..1
    """

    strategies: list
    seeds: list
    n_labels: np.ndarray
    accuracy: np.ndarray

    def _row(self, strategy: str) -> int:
        if strategy not in self.strategies:
            msg = f"no curve for strategy {strategy!r}; have {self.strategies}"
            raise InvalidInputError(msg)
        return self.strategies.index(strategy)

    def mean(self, strategy: str) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation over seeds, each ``(p,)``."""
        acc = self.accuracy[self._row(strategy)]
        return acc.mean(axis=0), acc.std(axis=0)

    def area(self, strategy: str) -> float:
        """Normalised area under the mean curve (mean accuracy over the label range), 0..1."""
        m, _ = self.mean(strategy)
        if len(self.n_labels) < 2:
            return float(m[0])
        x = self.n_labels.astype(float)
        return float(np.sum((m[1:] + m[:-1]) / 2 * np.diff(x)) / (x[-1] - x[0]))

    def labels_to_reach(self, target: float, strategy: str) -> int | None:
        """Fewest labels at which the mean curve reaches ``target`` (None if never)."""
        if isinstance(target, (bool, np.bool_)) or not isinstance(target, numbers.Real) or not np.isfinite(target):
            msg = f"target must be an accuracy in 0..1 (a finite number), got {target!r}"
            raise InvalidInputError(msg)
        m, _ = self.mean(strategy)
        hit = np.flatnonzero(m >= target - 1e-12)
        return int(self.n_labels[hit[0]]) if len(hit) else None

    def summary(self, reference: str | None = None, *, at=None) -> SummaryTable:
        """One row per strategy: what a user compares strategies by.

        Columns: ``acc@N`` (mean accuracy over seeds after ``N`` labels, for
        each ``N`` in ``at``; default: 20 and 50 where the curve has them),
        ``final_accuracy`` and ``final_std`` (mean and standard deviation over
        seeds at the last point), ``area_under_curve`` (the normalised area of
        the mean curve, :meth:`area`) and ``area_std`` (its standard deviation
        over seeds), and ``labels_to_reach_<reference>``: the fewest labels at
        which the mean curve reaches the reference strategy's final accuracy
        (``reference`` defaults to ``"random"`` when present).
        """
        if reference is None:
            reference = "random" if "random" in self.strategies else self.strategies[0]
        grid = [int(n) for n in self.n_labels]
        if at is None:
            at = [n for n in (20, 50) if n in grid]
        else:
            at = [at] if isinstance(at, (int, np.integer)) and not isinstance(at, bool) else list(at)
            bad = [n for n in at if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or int(n) not in grid]
            if bad:
                msg = f"at={bad!r}: accuracy is measured only at these label counts: {grid}"
                raise InvalidInputError(msg)
        target = float(self.mean(reference)[0][-1])
        rows = SummaryTable()
        for s in self.strategies:
            m, sd = self.mean(s)
            row = {"strategy": s}
            for n in at:
                row[f"acc@{int(n)}"] = float(m[grid.index(int(n))])
            row["final_accuracy"] = float(m[-1])
            row["final_std"] = float(sd[-1])
            row["area_under_curve"] = self.area(s)
            row["area_std"] = float(np.std([self._area_of(c) for c in self.accuracy[self._row(s)]]))
            row[f"labels_to_reach_{reference}"] = self.labels_to_reach(target, s)
            rows.append(row)
        return rows

    def _area_of(self, curve: np.ndarray) -> float:
        if len(self.n_labels) < 2:
            return float(curve[0])
        x = self.n_labels.astype(float)
        return float(np.sum((curve[1:] + curve[:-1]) / 2 * np.diff(x)) / (x[-1] - x[0]))

    def plot(self, ax=None, *, band: str = "std"):
        """Mean curve per strategy with a spread band (``"std"`` or ``"minmax"``); returns the Axes."""
        import matplotlib.pyplot as plt

        if band not in ("std", "minmax"):
            msg = f"band must be 'std' or 'minmax', got {band!r}"
            raise InvalidInputError(msg)
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        for i, s in enumerate(self.strategies):
            m, sd = self.mean(s)
            lo, hi = (m - sd, m + sd) if band == "std" else (self.accuracy[i].min(0), self.accuracy[i].max(0))
            (line,) = ax.plot(self.n_labels, m, label=s)
            ax.fill_between(self.n_labels, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
        ax.set_xlabel("labels used")
        ax.set_ylabel("accuracy")
        spread = "±1 std" if band == "std" else "min-max"
        ax.set_title(f"learning curves (mean and {spread} over {len(self.seeds)} seeds)")
        ax.grid(alpha=0.3)
        ax.legend()
        return ax

    def to_csv(self, path) -> None:
        """Write long-form rows ``strategy, seed, n_labels, accuracy``."""
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["strategy", "seed", "n_labels", "accuracy"])
            for i, s in enumerate(self.strategies):
                for j, seed in enumerate(self.seeds):
                    for k, n in enumerate(self.n_labels):
                        w.writerow([s, seed, int(n), f"{self.accuracy[i, j, k]:.6f}"])


def simulate(
    embeddings,
    y,
    *,
    strategies=("random", "margin"),
    budget: int = 100,
    batch_size: int = 10,
    n_initial: int = 10,
    seeds=(0, 1, 2),
    test=None,
    model="linear",
    classes=None,
    learner_kwargs: dict | None = None,
    progress: bool = True,
) -> LearningCurves:
    """Run the active-learning loop with the true labels as oracle.

    Parameters
    ----------
    embeddings : array ``(n, d)``, the pool
    y : sequence ``(n,)`` of true class names for the pool
    strategies : a name or callable, or a list of them to compare
    budget : total labels at the end (initial labels included)
    batch_size : labels added per round
    n_initial : random labels to start with (the same for every strategy of a
        seed); 0 starts from the learner's diverse cold start
    seeds : sequence of non-negative ints, one run per seed and strategy (e.g. ``range(5)``)
    test : where accuracy is measured: ``None`` = the whole pool; a tuple
        ``(X_test, y_test)``; or a fraction in (0, 1) held out of the pool at
        random per seed (the same split for every strategy of a seed)
    model, classes : passed to :class:`ActiveLearner`; ``classes`` defaults to
        the sorted unique values of ``y``
    learner_kwargs : dict, optional
        Other :class:`ActiveLearner` arguments, e.g. ``{"n_committee": 3}``;
        ``views`` defaults to those of ``embeddings`` when it is the very
        array ``ds.embed()`` returned
    progress : show a tqdm progress bar

    Returns
    -------
    LearningCurves
    """
    views = views_of(embeddings)  # rows straight from ds.embed(): one model per view, as the learner does
    X = check_embeddings(embeddings)
    y = _check_labels(y)
    if len(y) != len(X):
        msg = f"y has {len(y)} labels but embeddings has {len(X)} rows"
        raise InvalidInputError(msg)
    classes = sorted(set(y.tolist()), key=str) if classes is None else check_classes(classes)
    _check_known(y, classes, "y")
    if isinstance(strategies, str) or callable(strategies):
        strategies = [strategies]
    elif not isinstance(strategies, Iterable):
        msg = f"strategies must be a strategy name or callable, or a list of them, got {strategies!r}"
        raise InvalidInputError(msg)
    strategies = list(strategies)
    names = [_strategy_name(s) for s in strategies]
    if not names:
        msg = "strategies is empty; pass at least one strategy name or callable"
        raise InvalidInputError(msg)
    for s in strategies:
        _strategies.get(s)
    seeds = _check_seeds(seeds)
    budget = check_positive_int(budget, "budget")
    batch_size = check_positive_int(batch_size, "batch_size")
    if (
        isinstance(n_initial, (bool, np.bool_))
        or not isinstance(n_initial, numbers.Integral)
        or not (0 <= n_initial <= budget)
    ):
        msg = f"n_initial must be an integer in 0 .. budget ({budget}), got {n_initial!r}"
        raise InvalidInputError(msg)
    if learner_kwargs is not None:
        if not isinstance(learner_kwargs, dict):
            msg = f"learner_kwargs must be a dict of ActiveLearner arguments, got {learner_kwargs!r}"
            raise InvalidInputError(msg)
        clash = sorted({"embeddings", "classes", "strategy", "model", "seed"} & set(learner_kwargs))
        if clash:
            msg = f"learner_kwargs must not set {clash}: simulate sets them (use its own arguments instead)"
            raise InvalidInputError(msg)
    test_fraction = None
    X_test = y_test = None
    if isinstance(test, tuple):
        if len(test) != 2:
            msg = f"test as a tuple must be (X_test, y_test), got a tuple of {len(test)} items"
            raise InvalidInputError(msg)
        X_test = check_embeddings(test[0], name="X_test", n_features=X.shape[1])
        y_test = _check_labels(test[1], what="y_test", rows="X_test")
        if len(y_test) != len(X_test):
            msg = f"y_test has {len(y_test)} labels but X_test has {len(X_test)} rows"
            raise InvalidInputError(msg)
        _check_known(y_test, classes, "y_test")
    elif test is not None:
        if isinstance(test, (bool, np.bool_)) or not isinstance(test, numbers.Real) or not 0 < test < 1:
            msg = f"test must be None, a tuple (X_test, y_test) or a fraction in (0, 1), got {test!r}"
            raise InvalidInputError(msg)
        test_fraction = float(test)
        if int(round(test_fraction * len(X))) == 0:
            msg = f"test={test!r} holds out no clip of {len(X)}; pass a larger fraction or test=(X_test, y_test)"
            raise InvalidInputError(msg)
    learner_kwargs = dict(learner_kwargs or {})
    if views is not None and "views" not in learner_kwargs:
        learner_kwargs["views"] = views
    n_pool = len(X) - (int(round(test_fraction * len(X))) if test_fraction else 0)
    if budget > n_pool:
        msg = f"budget {budget} is larger than the pool ({n_pool} clips)"
        raise InvalidInputError(msg)

    steps = [n_initial] if n_initial else []
    while (steps[-1] if steps else 0) < budget:
        steps.append(min(budget, (steps[-1] if steps else 0) + batch_size))
    acc = np.zeros((len(names), len(seeds), len(steps)))
    bar = tqdm(total=len(names) * len(seeds) * len(steps), disable=not progress, desc="simulate")
    for j, seed in enumerate(seeds):
        rng = np.random.default_rng([seed, 7919])
        pool = np.arange(len(X))
        Xt, yt = X_test, y_test
        if test_fraction:
            perm = rng.permutation(len(X))
            held = perm[: len(X) - n_pool]
            pool = np.sort(perm[len(X) - n_pool :])
            Xt, yt = X[held], y[held]
        initial = rng.choice(len(pool), size=n_initial, replace=False)
        for i, strategy in enumerate(strategies):
            learner = ActiveLearner(X[pool], classes, strategy=strategy, model=model, seed=seed, **learner_kwargs)
            code = {c: k for k, c in enumerate(learner.classes)}
            truth = np.array([code[v] for v in (y[pool] if yt is None else yt)])
            for k, n_labels in enumerate(steps):
                if k == 0 and n_initial:
                    new = initial
                else:
                    new = learner.query(n_labels - learner.n_labeled)
                learner.teach(new, y[pool][new])
                proba = learner.predict_proba(Xt)  # Xt None = the whole pool
                acc[i, j, k] = float(np.mean(proba.argmax(axis=1) == truth))
                bar.update()
    bar.close()
    return LearningCurves(names, seeds, np.asarray(steps), acc)


def _check_known(y: np.ndarray, classes: list, what: str) -> None:
    """Raise UnknownClassError if a label in ``y`` is not one of ``classes``."""
    known = set(classes)
    for v in y:
        if v not in known:
            msg = f"{what} holds the label {v!r}, which is not one of classes {classes!r}; add it to classes"
            raise UnknownClassError(msg)
