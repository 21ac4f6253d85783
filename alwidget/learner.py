"""The active-learning pool: labels, skips, undo, model and queries.

:class:`ActiveLearner` is a facade over the parts it holds: a
:class:`~alwidget._pool.Pool` (the embeddings), a
:class:`~alwidget._labels.LabelBook` (every clip's state, the classes and
the history), a :class:`~alwidget._scoring.PoolScorer` (probabilities,
caches, the candidate window) and a :class:`~alwidget._persistence.JournalLink`.
"""

from __future__ import annotations

import functools
from collections.abc import Hashable

import numpy as np

from alwidget import _journal
from alwidget import strategies as _strategies
from alwidget._delegate import forward_method, forward_property
from alwidget._labels import LabelBook
from alwidget._learner_checks import (
    check_dataset,
    check_ids,
    check_model_views,
    check_labels,
    check_mode,
    check_seed,
    check_true_labels,
)
from alwidget._ledger import Event
from alwidget._persistence import ClipIds, JournalLink, journal_classes
from alwidget._pool import Pool
from alwidget._scoring import PoolScorer
from alwidget._validation import (
    LABEL_MODES,  # noqa: F401  (re-exported: alwidget.learner.LABEL_MODES)
    check_class_name,
    check_classes,
    check_device,
    check_embeddings,
    check_indices,
    check_new_class,
    check_positive_int,
)
from alwidget.errors import (
    InvalidInputError,
    NotEnoughLabelsError,
    NothingToUndoError,
    UnknownClassError,
)
from alwidget.models import fit_model, make_model

__all__ = ["ActiveLearner", "Event"]

# a query scores every candidate up to this many, a seeded random subset of this many above
# (ActiveLearner(candidates=...)); see benchmarks/README.md, "Ten million windows"
_MAX_CANDIDATES = 20_000


class ActiveLearner:
    """Pool-based active learner over fixed embeddings.

    Parameters
    ----------
    embeddings : array-like ``(n_pool, d)`` of floats
        One row per clip. A C-contiguous float32 or float16 array, memory-mapped
        ones included (``np.load(path, mmap_mode="r")``: read in blocks, never
        loaded whole), is used with no copy; others are copied to float32.
    classes : list of str or int
        Unique label names; grow later with :meth:`add_class`.
    strategy : str or callable, default ``"margin"``
        A name from :func:`alwidget.strategies.available` or a callable
        ``(learner, candidates, n, rng) -> indices``. Why ``"margin"`` is
        the default: ``benchmarks/README.md``, "Strategy: margin".
    model : ``"linear"``, ``"spread"``, ``"mlp"`` or an estimator with ``fit`` / ``predict_proba``
        Trained on the standardised embeddings of the labelled clips.
        ``"linear"`` (the default, :class:`~alwidget.SoftmaxRegression`):
        L2-regularised softmax regression fitted exactly. ``"spread"``
        (:class:`~alwidget.SpreadRegression`) adds pseudo-labels spread over
        a k-nearest-neighbour graph of the pool (pools up to 5,000 clips)
        when a 5-fold check on the labels says the graph predicts them at
        least as well; a fit costs several times the linear one. Why the
        default: ``benchmarks/README.md``, "Model: spread or linear".
    seed : int, default 0
        Seeds every random choice: the same seed and the same calls give the
        same queries.
    device : str, default ``"cpu"``
        Torch device for the built-in models.
    n_committee : int, default 5
        Members of the bagged committee used by committee strategies (``"bald"``).
    candidates : int, optional
        How many clips a query scores at most (default None: 20,000; smaller
        pools are scored whole). A larger pool is scored on a seeded sample
        of 20,000 that slides by a sixteenth with each label or skip (a
        window over a seeded permutation: a query reads 1,250 new rows); the
        same calls give the same queries. Cost and label efficiency:
        ``benchmarks/README.md``, "Ten million windows". A class of 1 window
        in 10,000 has about 2 windows in a sample: find those with
        :meth:`similar`, or pass ``n_pool`` for exhaustive scoring.
    ids : sequence of str or int, optional
        A stable id per clip (e.g. ``dataset.clip_ids``); journals, exports and
        imports refer to clips by id, so they survive a re-ordered or grown
        folder. Default: the row index.
    journal : path, optional
        Append every event to this journal (fsync'ed before each call returns)
        and, if it already holds events, resume from them first. See
        :meth:`open_journal`.
    dataset : AudioDataset, optional
        The clips behind the rows (``len(dataset) == n_pool``): the default
        ``ids`` and ``views``, each row's recording, start and end in
        :meth:`predictions`, and the embedder of audio queries in :meth:`similar`.
    views : sequence of int or of (int, float), optional
        Columns (and weight) of each feature set side by side in a row, e.g.
        ``[(384, 0.6), (512, 0.4)]``; default: ``dataset.last_views`` when they
        fit, else the views of ``embeddings`` when it is the very array
        ``ds.embed()`` returned (a copy or a slice has none). ``"linear"``
        then pools one model per view (:class:`~alwidget.ViewProduct`).

    Attributes
    ----------
    model_ : the last fitted model (None before the first fit)
    model_version_ : int, how many models have been fitted so far
    n_labels_fit_ : int, number of labels the current model was trained on
    """

    def __init__(
        self,
        embeddings,
        classes,
        *,
        strategy="margin",
        model="linear",
        seed: int = 0,
        device: str = "cpu",
        n_committee: int = 5,
        candidates: int | None = None,
        ids=None,
        journal=None,
        dataset=None,
        views=None,
    ):
        self._pool = Pool(check_embeddings(embeddings, allow_float16=True))  # float16/float32, memory-mapped: no copy
        self._book = LabelBook(len(self._pool), check_classes(classes))
        _strategies.get(strategy)  # fail now, not at the first query
        check_device(device)  # fail now, not at the first fit
        make_model(model, seed=0, device=device)
        seed = check_seed(seed)
        self.strategy = strategy
        self.model = model
        self.seed = seed
        self.device = device
        self.n_committee = check_positive_int(n_committee, "n_committee")
        self.candidates = None if candidates is None else check_positive_int(candidates, "candidates")
        self.dataset = check_dataset(dataset, len(self._pool))
        self.views = views
        self._views = check_model_views(views, self.dataset, self._pool.dim, rows=embeddings)
        if ids is None and dataset is not None:
            ids = dataset.clip_ids
        self._ids = ClipIds(check_ids(ids, len(self._pool)), len(self._pool))
        # the book's arrays, changed in place by the book only: read here
        self._codes, self._classes, self._code = self._book.codes, self._book.classes, self._book.code
        self._lock = self._book.lock
        self._scorer = PoolScorer(self._pool, self._book)

        self.model_, self.model_version_, self.n_labels_fit_ = None, 0, 0
        self._fit_label_version, self._fit_n_classes = -1, 0
        self._link = JournalLink(self._book, self._ids, self._pool.dim)
        if journal is not None:
            self.open_journal(journal)

    # ------------------------------------------------------------------ state
    @property
    def embeddings(self) -> np.ndarray:
        """The pool embeddings ``(n_pool, d)``, float32 or float16 as given.

        A read-only view: a memory-mapped pool stays on disk.
        """
        view = self._pool.X.view()
        view.flags.writeable = False
        return view

    @property
    def pool(self) -> Pool:
        """The embeddings with their standardisation and readers (``X``, ``mean``, ``scale``, ``rows``, ``blocks``).

        Read-only for callers: search and review read the pool through it.
        """
        return self._pool

    # the labels: every clip's state, the classes and the history live in the book (alwidget._labels)
    label_codes = forward_method("_book", LabelBook, "label_codes", "ActiveLearner")
    labeled_snapshot = forward_method("_book", LabelBook, "labeled_snapshot", "ActiveLearner")

    @property
    def model_views(self) -> list[tuple[int, float]] | None:
        """``(width, weight)`` of each view the ``"linear"`` model fits one by one (see ``views``), or None."""
        return None if self._views is None else [(d, float(w)) for d, w in zip(*self._views)]

    @property
    def classes(self) -> list:
        """The class names, in the order of the probability columns."""
        return list(self._classes)

    @property
    def n_pool(self) -> int:
        """Number of clips in the pool."""
        return len(self._pool)

    labeled_idx = forward_property("_book", LabelBook, "labeled_idx")
    unlabeled_idx = forward_property("_book", LabelBook, "unlabeled_idx")
    skipped_idx = forward_property("_book", LabelBook, "skipped_idx")
    unsure_idx = forward_property("_book", LabelBook, "unsure_idx")
    is_labeled = forward_method("_book", LabelBook, "is_labeled", "ActiveLearner")
    is_unlabeled = forward_method("_book", LabelBook, "is_unlabeled", "ActiveLearner")
    is_unsure = forward_method("_book", LabelBook, "is_unsure", "ActiveLearner")
    labels = forward_property("_book", LabelBook, "labels")
    n_labeled = forward_property("_book", LabelBook, "n_labeled")
    n_skipped = forward_property("_book", LabelBook, "n_skipped")
    n_unsure = forward_property("_book", LabelBook, "n_unsure")
    answered_idx = forward_property("_book", LabelBook, "answered_idx")
    label_of = forward_method("_book", LabelBook, "label_of", "ActiveLearner")
    label_counts = forward_method("_book", LabelBook, "label_counts", "ActiveLearner")
    history = forward_property("_book", LabelBook, "history")
    live_events = forward_method("_book", LabelBook, "live_events", "ActiveLearner")
    label_modes = forward_property("_book", LabelBook, "label_modes")

    @property
    def version(self) -> int:
        """A counter that changes whenever the learner's state changes."""
        return self._book.version

    def __repr__(self) -> str:
        return (
            f"ActiveLearner(n_pool={self.n_pool}, n_labeled={self.n_labeled}, "
            f"n_skipped={len(self.skipped_idx)}, classes={self._classes!r}, "
            f"strategy={self.strategy!r}, model={self.model!r})"
        )

    # -------------------------------------------------------------- actions
    def teach(self, idx, labels, *, mode: str = "active") -> None:
        """Label clip(s) ``idx`` with ``labels``.

        Parameters
        ----------
        idx : int or sequence of int
            Pool indices, currently unlabelled (skipped clips may be taught).
            An empty selection (with an empty ``labels``) records nothing.
        labels : class name, or a sequence with one name per index
            A single name is applied to every index.
        mode : str, default ``"active"``
            How the clips were found (one of :data:`LABEL_MODES`); journalled
            and exported with the labels.

        Raises
        ------
        IndexError, ValueError, KeyError
            For an index out of range or already labelled, or an unknown class;
            the learner is unchanged after a rejected call.
        """
        idx, _ = check_indices(idx, self.n_pool, allow_empty=True)
        names = check_labels(labels, len(idx), self._code, self._classes)
        mode = check_mode(mode)
        if len(idx) == 0:  # an empty batch (e.g. every search hit held out): nothing to record
            return
        with self._lock:
            self._book.teach(idx, names, mode=mode)

    def skip(self, idx, *, mode: str = "active") -> None:
        """Set clip(s) ``idx`` aside: they are never queried again (until undone)."""
        idx, _ = check_indices(idx, self.n_pool, allow_empty=True)
        mode = check_mode(mode)
        if len(idx) == 0:  # an empty batch: nothing to record
            return
        with self._lock:
            self._book.skip(idx, mode=mode)

    def relabel(self, idx, labels, *, mode: str = "review") -> None:
        """Change the label of labelled clip(s) ``idx`` (e.g. after a label review); undoable.

        Parameters
        ----------
        idx : int or sequence of int
            Pool indices, currently labelled.
        labels : class name, or a sequence with one name per index
        mode : str, default ``"review"``
            Recorded with the new labels (see :attr:`label_modes`).
        """
        idx, _ = check_indices(idx, self.n_pool, allow_empty=True)
        names = check_labels(labels, len(idx), self._code, self._classes)
        mode = check_mode(mode)
        if len(idx) == 0:  # an empty batch: nothing to record
            return
        with self._lock:
            self._book.relabel(idx, names, mode=mode)

    def unsure(self, idx, *, mode: str = "active") -> None:
        """Answer "unsure" for clip(s) ``idx``.

        The answer is journalled and exported (mode ``"unsure"`` in
        :meth:`export_labels`), never used as a training label, and the clips
        are never queried again; :meth:`teach` still labels them when you
        decide later (see :attr:`unsure_idx`), and :meth:`undo` reverts it.
        ``mode`` says how the clips were found, as for :meth:`teach`; with
        ``mode="review"`` (a label review) a labelled clip may be answered
        "unsure" too, which withdraws its label.
        """
        idx, _ = check_indices(idx, self.n_pool, allow_empty=True)
        mode = check_mode(mode)
        if len(idx) == 0:  # an empty batch: nothing to record
            return
        with self._lock:
            self._book.unsure(idx, mode=mode)

    def undo(self) -> Event:
        """Revert the most recent :meth:`teach`, :meth:`skip` or :meth:`unsure` call as a whole.

        Can be repeated back to the start. Returns the reverted event, so a
        caller can bring its clips back.
        """
        with self._lock:
            if not self._book.ledger.can_undo():
                msg = "nothing to undo: no teach or skip is left to revert"
                raise NothingToUndoError(msg)
            return self._book.undo()

    def add_class(self, name) -> None:
        """Add a new class name (it gets the next probability column)."""
        name = check_class_name(name)
        with self._lock:
            if name in self._code:
                msg = f"class {name!r} already exists; classes are {self._classes!r}"
                raise InvalidInputError(msg)
            check_new_class(name, self._classes)
            self._book.add_class(name)

    # ---------------------------------------------------------------- model
    def features(self, idx) -> np.ndarray:
        """Standardised embeddings ``(m, d)`` float32 of pool rows ``idx``.

        A single int gives one row ``(d,)``. Raises IndexOutOfRangeError for an
        index outside ``0 .. n_pool - 1`` (negative indices are not wrapped).
        """
        rows, scalar = check_indices(idx, self.n_pool, unique=False, allow_empty=True)
        return self._scorer.features(rows[0] if scalar else rows)

    def fit(self) -> ActiveLearner:
        """Train the model on every current label (deterministic for a given seed).

        The slow part runs without holding the learner's lock, so a thread may
        keep calling :meth:`teach` while another trains.
        """
        with self._lock:
            lab = self.labeled_idx
            if len(lab) == 0:
                msg = "no labels yet: teach at least one clip before fitting or predicting"
                raise NotEnoughLabelsError(msg)
            version = self._book.label_version
            y = self._codes[lab].copy()
            k = len(self._classes)
            previous = self.model_
        fresh = make_model(self.model, seed=self.seed, device=self.device, views=self._views)
        pool = self._scorer.pool_for(fresh, lab, self.seed)
        model = fit_model(fresh, self._scorer.features(lab), y, k, previous=previous, pool=pool)
        with self._lock:
            if version > self._fit_label_version:
                self.model_ = model
                self.model_version_ += 1
                self.n_labels_fit_ = len(lab)
                self._fit_label_version = version
                self._fit_n_classes = k
        return self

    def _fitted(self):
        """The model for the current labels, fitting first if they changed."""
        if self._fit_label_version != self._book.label_version:
            self.fit()
        with self._lock:
            return self.model_, self._fit_label_version, self._fit_n_classes

    def predict_proba(self, X=None) -> np.ndarray:
        """Class probabilities ``(m, k)`` float32; ``X=None`` means the whole pool.

        Fits first if the labels changed since the last fit. The pool table is
        cached per model and returned read-only. The pool is scored in chunks
        of rows, so a memory-mapped pool is read, never loaded; the table
        itself takes ``n_pool x k x 4`` bytes (400 MB for 10M windows and 10
        classes). Queries of a pool larger than ``candidates`` score only
        their candidates (:meth:`candidate_proba`), not this table.
        """
        model, version, k = self._fitted()
        if X is not None:
            X = check_embeddings(X, name="X", n_features=self._pool.dim, allow_float16=True)
            return self._scorer.proba(model, k, X)
        return self._scorer.table(model, version, k)

    def predict(self, X=None) -> np.ndarray:
        """Most probable class name per row (object array); ``X=None`` = the pool."""
        classes = np.asarray(self._classes, dtype=object)
        return classes[self.predict_proba(X).argmax(axis=1)]

    def score(self, X, y) -> float:
        """Accuracy (0..1) of the current model on embeddings ``X`` with true labels ``y``."""
        y = check_true_labels(y)
        X = check_embeddings(X, name="X", n_features=self._pool.dim)
        if len(y) != len(X):
            msg = f"X has {len(X)} rows but y has {len(y)} labels"
            raise InvalidInputError(msg)
        names = check_labels(y, len(y), self._code, self._classes)
        pred = self.predict(X)
        return float(np.mean([p == t for p, t in zip(pred, names)]))

    def committee_proba(self, candidates=None) -> np.ndarray:
        """Probabilities ``(n_committee, m, k)`` from a bagged committee.

        Each member is the learner's model trained on a bootstrap resample of
        the labels (seeded), so members disagree where the labels leave room.
        ``candidates=None`` means the whole pool; other indices must lie in
        ``0 .. n_pool - 1`` (IndexOutOfRangeError otherwise).
        """
        rows = None if candidates is None else check_indices(candidates, self.n_pool, unique=False, allow_empty=True)[0]
        make = functools.partial(make_model, self.model, device=self.device, views=self._views)  # make(seed=...)
        return self._scorer.committee_proba(rows, make, self.n_committee, self.seed)

    def candidate_proba(self, candidates) -> np.ndarray:
        """Class probabilities ``(m, k)`` float32 of the pool rows ``candidates``.

        Fits first if the labels changed. The rows of the cached pool table
        (:meth:`predict_proba`) when there is one, and for a pool of at most
        ``candidates`` clips, which a query scores whole anyway; otherwise
        only these rows are read and scored, so a query on a pool of millions
        of windows never scores (or reads) the whole pool. Indices must lie in
        ``0 .. n_pool - 1``. The result is read-only.
        """
        rows = check_indices(candidates, self.n_pool, unique=False, allow_empty=True)[0]
        model, version, k = self._fitted()
        return self._scorer.candidate_proba(model, version, k, rows, self._scores_whole_pool())

    def fitted_proba(self, rows) -> np.ndarray | None:
        """Probabilities ``(m, k)`` float32 of pool rows ``rows`` under the last fitted model, never fitting.

        For click paths (the widget's guess for the clip on screen): it
        scores only these rows (or slices the pool table when it is cached
        for that model), however large the pool, and returns None before
        the first fit. ``k`` is the number of classes that model knew (the
        first ``k`` of :attr:`classes`). The labels may have changed since
        that fit; :meth:`candidate_proba` fits first.
        """
        rows = check_indices(rows, self.n_pool, unique=False, allow_empty=True)[0]
        with self._lock:
            model, version, k = self.model_, self._fit_label_version, self._fit_n_classes
            table = self._scorer.cached_table(version)
        if model is None:
            return None
        if table is not None:
            return table[rows]
        return self._scorer.proba(model, k, self._pool.X, rows=rows)

    def class_proba(self, name) -> np.ndarray:
        """Probability of class ``name`` for every pool clip, ``(n_pool,)`` float32.

        Fits first if the labels changed. Uses the cached pool table when
        there is one; otherwise the pool is scored in blocks and only this
        column is kept (4 bytes a clip, never the ``n_pool x k`` table).
        """
        return self.class_scores(name)[0]

    def class_scores(self, name) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`class_proba` and, from the same pass, whether ``name`` is each clip's most probable class.

        Returns
        -------
        scores : float32 ``(n_pool,)``
        predicted : bool ``(n_pool,)``, as ``predict() == name``

        Raises
        ------
        UnknownClassError
            ``name`` is not a class.
        NotEnoughLabelsError
            No model yet, or ``name`` was added after the last fit.
        """
        code = self._code.get(name) if isinstance(name, Hashable) else None
        if code is None:
            msg = f"unknown class {name!r}; classes are {self._classes!r}"
            raise UnknownClassError(msg)
        model, version, k = self._fitted()
        if code >= k:
            msg = f"class {name!r} was added after the last fit and has no probability yet; teach it first"
            raise NotEnoughLabelsError(msg)
        return self._scorer.class_scores(model, version, k, code, self._scores_whole_pool())

    def _scores_whole_pool(self) -> bool:
        """Whether queries score the whole pool's table (pools up to ``candidates`` clips)."""
        return self.n_pool <= self._candidate_limit()

    def _candidate_limit(self) -> int:
        limit = _MAX_CANDIDATES if self.candidates is None else self.candidates
        return check_positive_int(limit, "candidates")

    # the scorer's state under the names tests and benchmarks know
    _proba_cache = property(lambda self: self._scorer.proba_cache)
    _window = property(lambda self: self._scorer.window)

    def _pool_graph(self, model):
        return self._scorer.pool_graph(model, self.seed)

    # ---------------------------------------------------------------- search and export
    def similar(
        self,
        query,
        n: int = 10,
        *,
        exclude_labeled: bool = True,
        embed=None,
        approximate=None,
        build: bool = True,
        exclude=None,
    ):
        """The pool clips most like ``query`` (search by example).

        Parameters
        ----------
        query : int, sequence of int, array ``(d,)`` or ``(m, d)``, path, or ``(waveform, sr)``
            A pool index, several indices or embeddings (their mean direction),
            or audio, embedded with ``embed`` (default
            ``self.dataset.embed_query``: the pool's own embedder).
        n : int
            How many clips to return.
        exclude_labeled : bool
            Leave out labelled and skipped clips.
        embed : callable, optional
            Turns audio into one embedding row; see :func:`alwidget.search.similar`.
        approximate : bool or None
            None: an approximate index above 1M rows (if installed), else exact.
        build : bool, default True
            False: search exactly while no approximate index is built, rather
            than build one first (see :func:`alwidget.search.similar`).
        exclude : sequence of int, optional
            Pool indices never returned (e.g. held-out evaluation clips).

        Returns
        -------
        SearchResult
            ``indices`` (int64, best first) and ``scores`` (cosine similarity
            on the standardised embeddings), unpackable as ``idx, scores``.
        """
        from alwidget.search import similar

        if embed is None and self.dataset is not None:
            embed = getattr(self.dataset, "embed_query", None)
        return similar(
            self,
            query,
            n,
            exclude_labeled=exclude_labeled,
            embed=embed,
            approximate=approximate,
            build=build,
            exclude=exclude,
        )

    def predictions(self, threshold: float | None = None, *, as_frame: bool | None = None):
        """One row per clip or window: where it is, the predicted class and the given label.

        Columns: ``id, recording, start, end, predicted, probability, label,
        mode`` (a clip answered "unsure" has no label and mode ``"unsure"``).
        ``recording``, ``start`` and ``end`` (seconds) come from
        :attr:`dataset` (a plain clip spans its file). Without a dataset they
        come from the clip id where it names a window, ``file@start`` as in
        ``AudioDataset.from_recordings(...).clip_ids`` (``rec.wav@12.5``:
        recording ``rec.wav``, start 12.5, end NaN, the window length being
        unknown); for any other id the recording is the id and both times are
        NaN (empty in CSV). Pass ``dataset=`` for exact times (Raven exports
        need them).

        Parameters
        ----------
        threshold : float in [0, 1], optional
            Keep only rows whose predicted class has at least this probability
            (detections).
        as_frame : bool or None
            None: a pandas DataFrame when pandas is installed, else a numpy
            structured array; True requires pandas; False always numpy.
        """
        from alwidget.export import predictions_table

        proba = np.asarray(self.predict_proba(), dtype=np.float64)
        with self._lock:
            labels = self.labels
            modes = self.label_modes
            unsure = dict.fromkeys(self.unsure_idx.tolist(), "unsure")
        n = self.n_pool
        ids = self.ids
        recordings, starts, ends = _locate_rows(self.dataset, ids)
        return predictions_table(
            ids=ids,
            recordings=recordings,
            starts=starts,
            ends=ends,
            proba=proba,
            classes=self.classes,
            labels=[labels.get(i) for i in range(n)],
            modes=[modes.get(i, unsure.get(i)) for i in range(n)],
            threshold=threshold,
            as_frame=as_frame,
        )

    # ---------------------------------------------------------------- query
    def query(self, n: int = 1, *, exclude=None) -> np.ndarray:
        """Pick up to ``n`` distinct unlabelled clips to label next.

        Uses the strategy on a model trained on all current labels. Before two
        classes have labels (the cold start), model-based strategies are
        replaced by a diverse pick (k-means++ seeding on the embeddings, away
        from clips already labelled). Calling ``query`` again without changing
        the labels returns the same clips. When more than ``candidates``
        clips (default 20,000) are unlabelled, the strategy sees the
        unlabelled clips of a seeded random sample of that many (see
        :class:`ActiveLearner`).

        Parameters
        ----------
        n : int, the batch size; fewer are returned only when fewer are left
        exclude : indices not to return (e.g. clips already on screen)

        Returns
        -------
        numpy int64 array of pool indices, most informative first.
        """
        n = check_positive_int(n, "n")
        limit = self._candidate_limit()
        ex = check_indices(exclude, self.n_pool)[0] if exclude is not None and np.size(exclude) else None
        return self._scorer.query(self, n, ex, limit, self.strategy, self.seed)

    # ---------------------------------------------------------------- journal, export and import (_persistence)
    ids = forward_property("_ids", ClipIds, "ids")
    journal = forward_property("_link", JournalLink, "journal")

    @property
    def journal_error(self) -> str | None:
        """Why events are not being saved to the journal (disk full, taken over by another session), or None."""
        return self._link.error

    open_journal = forward_method("_link", JournalLink, "open_journal", "ActiveLearner")
    close_journal = forward_method("_link", JournalLink, "close_journal", "ActiveLearner")

    @classmethod
    def from_journal(cls, path, embeddings, *, classes=None, ids=None, **kwargs):
        """A learner rebuilt from the journal at ``path`` (which it keeps appending to).

        ``classes`` defaults to those recorded in the journal; other keyword
        arguments go to :class:`ActiveLearner`.
        """
        path = _journal.check_path(path)
        classes = journal_classes(path) if classes is None else classes
        return cls(embeddings, classes, ids=ids, journal=path, **kwargs)

    export_labels = forward_method("_link", JournalLink, "export_labels", "ActiveLearner")
    import_labels = forward_method("_link", JournalLink, "import_labels", "ActiveLearner")


def _locate_rows(dataset, ids: list) -> tuple[list, np.ndarray, np.ndarray]:
    """``(recordings, starts, ends)`` of every pool row: from the dataset, else from the clip ids."""
    if dataset is not None and hasattr(dataset, "recording"):
        n = len(ids)
        recordings = [dataset.recording(i) for i in range(n)]
        starts = np.array([dataset.start(i) for i in range(n)], dtype=np.float64)
        ends = np.array([dataset.end(i) for i in range(n)], dtype=np.float64)
        return recordings, starts, ends
    from alwidget.export import _locate_ids

    return _locate_ids(ids)


_check_ids = check_ids  # the name tests/test_scale.py knows
