"""The active-learning pool: labels, skips, undo, model and queries."""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable, Iterable

import numpy as np

from alwidget import strategies as _strategies
from alwidget._ledger import Event, LabelLedger
from alwidget._persistence import PersistenceMixin
from alwidget._validation import (
    LABEL_MODES,
    check_class_name,
    check_classes,
    check_device,
    check_embeddings,
    check_index,
    check_indices,
    check_positive_int,
)
from alwidget.errors import (
    AlreadyLabeledError,
    InvalidInputError,
    NotEnoughLabelsError,
    NothingToUndoError,
    PoolExhaustedError,
    UnknownClassError,
)
from alwidget._graph import PoolGraph, sample_rows
from alwidget._pool import (
    _EXACT_SCORE_VALUES,
    _SCORE_CHUNK,
    _SUBSET_STREAM,
    CandidateWindow,
    Pool,
    gather_rows,
    pool_blocks,
    sample_candidates,
)
from alwidget.models import (
    _TorchClassifier,
    fit_model,
    make_model,
    predict_proba_with,
)

__all__ = ["ActiveLearner", "Event"]

_UNLABELED = -1
_SKIPPED = -2
_UNSURE = -3  # answered "unsure": never trained on, never asked again (until taught)
_COLD_START_SAMPLE = 20_000  # cold-start diversity is computed on a random sample of this many candidates
# a query scores every candidate up to this many, a seeded random subset of this many above
# (ActiveLearner(candidates=...)); see benchmarks/README.md, "Ten million windows"
_MAX_CANDIDATES = 20_000


class ActiveLearner(PersistenceMixin):
    """Pool-based active learner over fixed embeddings.

    Parameters
    ----------
    embeddings : array-like ``(n_pool, d)`` of floats
        One row per clip. A C-contiguous float32 or float16 array is used as
        it is, with no copy, memory-mapped ones included
        (``np.load(path, mmap_mode="r")``): a memory-mapped pool stays on
        disk and is read in blocks, never loaded whole. Other arrays are
        copied to float32.
    classes : list of str or int
        Unique label names; grow later with :meth:`add_class`.
    strategy : str or callable, default ``"margin"``
        A name from :func:`alwidget.strategies.available` or a callable
        ``(learner, candidates, n, rng) -> indices``. Why ``"margin"`` is
        the default: ``benchmarks/README.md``, "Strategy: margin".
    model : ``"spread"``, ``"linear"``, ``"mlp"`` or an estimator with ``fit`` / ``predict_proba``
        Trained on the standardised embeddings of the labelled clips.
        ``"spread"`` (the default, :class:`~alwidget.SpreadRegression`) is
        the linear model plus pseudo-labels of the unlabelled clips, spread
        over a k-nearest-neighbour graph of the pool (built at the first
        fit, pools of up to 5,000 clips; larger pools get the linear model).
        It uses the pool only when a 5-fold check on the labels says the
        graph predicts them at least as well as the linear model. A fit costs
        several times the linear model's; the widget trains in the
        background. Why it is the default: ``benchmarks/README.md``, "Model:
        spread or linear".
    seed : int, default 0
        Seeds every random choice: the same seed and the same calls give the
        same queries.
    device : str, default ``"cpu"``
        Torch device for the built-in models.
    n_committee : int, default 5
        Members of the bagged committee used by committee strategies (``"bald"``).
    candidates : int, optional
        How many clips a query scores at most. Default (None): 20,000, so
        pools up to 20,000 clips are scored exhaustively (every unlabelled
        clip, as always). Above that a query scores the unlabelled clips of a
        seeded random sample of 20,000: for pools of at least twice that, a
        window over a seeded permutation of the pool that moves by a
        sixteenth with each label or skip, so a query reads 1,250 new rows
        and keeps the others in memory (20,000 x d float32). Its cost and
        label efficiency against exhaustive scoring: ``benchmarks/README.md``,
        "Ten million windows". The sample depends only on the seed and the
        number of labels and skips, so the same calls give the same
        queries. Rare classes are the exception: a class of 1 window in
        10,000 has about 2 windows in a sample; find those with
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
        The clips behind the rows (``len(dataset) == n_pool``). Gives the
        default ``ids`` (``dataset.clip_ids``), the recording, start and end of
        each row in :meth:`predictions`, and the embedder of audio queries in
        :meth:`similar` (``dataset.embed_query``).

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
        model="spread",
        seed: int = 0,
        device: str = "cpu",
        n_committee: int = 5,
        candidates: int | None = None,
        ids=None,
        journal=None,
        dataset=None,
    ):
        self._pool = Pool(check_embeddings(embeddings, allow_float16=True))  # float16/float32, memory-mapped: no copy
        self._classes = check_classes(classes)
        self._code = {c: i for i, c in enumerate(self._classes)}
        _strategies.get(strategy)  # fail now, not at the first query
        check_device(device)  # fail now, not at the first fit
        make_model(model, seed=0, device=device)
        if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
            msg = f"seed must be a non-negative integer, got {seed!r}"
            raise InvalidInputError(msg)
        self.strategy = strategy
        self.model = model
        self.seed = int(seed)
        self.device = device
        self.n_committee = check_positive_int(n_committee, "n_committee")
        self.candidates = None if candidates is None else check_positive_int(candidates, "candidates")
        self.dataset = _check_dataset(dataset, len(self._pool))
        if ids is None and dataset is not None:
            ids = dataset.clip_ids
        self._ids = _check_ids(ids, len(self._pool))
        self._index_of_id: dict | None = None

        self._codes = np.full(len(self._pool), _UNLABELED, dtype=np.int32)
        self._tally: dict[int, int] = {}  # code -> number of clips with it, for every code but _UNLABELED
        self._ledger = LabelLedger()  # the history and its undo stack
        self._label_version = 0  # bumps whenever the training set or the classes change
        self._version = 0  # bumps on every change
        self._lock = threading.RLock()

        self.model_ = None
        self.model_version_ = 0
        self.n_labels_fit_ = 0
        self._fit_label_version = -1
        self._fit_n_classes = 0
        self._proba_cache: tuple[int, np.ndarray] | None = None
        self._subset_cache: tuple[int, np.ndarray, np.ndarray] | None = None  # (fit version, rows, proba)
        self._window: CandidateWindow | None = None  # candidates of a large pool (built at its first query)
        self._committee: tuple[int, list] | None = None
        self._graphs: dict[tuple[int, int], PoolGraph] = {}  # (n_neighbors, max_nodes) -> graph, for "spread"

        self._journal = None  # a _journal.JournalWriter while journaling
        self._pending: list[bytes] = []  # journal lines not yet on disk (disk full, read-only, ...)
        self.journal_error: str | None = None
        self._next_seq = 0
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

    def label_codes(self) -> np.ndarray:
        """A copy of every clip's state, int32 ``(n_pool,)``: a class code (>= 0, an index into
        :attr:`classes`), -1 open, -2 skipped, -3 unsure. Taken under the learner's lock, so it is
        one consistent snapshot while other threads label."""
        with self._lock:
            return self._codes.copy()

    def labeled_snapshot(self) -> tuple[np.ndarray, np.ndarray, list]:
        """``(indices, codes, classes)`` of the labelled clips, taken together under the lock.

        ``indices`` int64 ``(m,)`` ascending, ``codes`` int64 ``(m,)`` into ``classes``.
        """
        with self._lock:
            lab = np.flatnonzero(self._codes >= 0)
            return lab, self._codes[lab].astype(np.int64), list(self._classes)

    @property
    def classes(self) -> list:
        """The class names, in the order of the probability columns."""
        return list(self._classes)

    @property
    def n_pool(self) -> int:
        """Number of clips in the pool."""
        return len(self._pool)

    @property
    def labeled_idx(self) -> np.ndarray:
        """Indices of labelled clips, ascending, int64."""
        return np.flatnonzero(self._codes >= 0)

    @property
    def unlabeled_idx(self) -> np.ndarray:
        """Indices of clips neither labelled nor skipped, ascending, int64."""
        return np.flatnonzero(self._codes == _UNLABELED)

    @property
    def skipped_idx(self) -> np.ndarray:
        """Indices of skipped clips, ascending, int64."""
        return np.flatnonzero(self._codes == _SKIPPED)

    @property
    def unsure_idx(self) -> np.ndarray:
        """Indices of clips answered "unsure" (:meth:`unsure`), ascending, int64."""
        return np.flatnonzero(self._codes == _UNSURE)

    def is_labeled(self, i: int) -> bool:
        """Whether clip ``i`` has a label (O(1), for click paths)."""
        return bool(self._codes[check_index(i, self.n_pool)] >= 0)

    def is_unlabeled(self, i: int) -> bool:
        """Whether clip ``i`` is neither labelled nor skipped (O(1), for click paths)."""
        return bool(self._codes[check_index(i, self.n_pool)] == _UNLABELED)

    def is_unsure(self, i: int) -> bool:
        """Whether clip ``i`` was answered "unsure" (O(1), for click paths)."""
        return bool(self._codes[check_index(i, self.n_pool)] == _UNSURE)

    @property
    def labels(self) -> dict:
        """``{index: class name}`` for every labelled clip."""
        with self._lock:
            idx = self.labeled_idx
            codes = self._codes[idx]
        return {int(i): self._classes[c] for i, c in zip(idx, codes)}

    @property
    def n_labeled(self) -> int:
        """Number of labelled clips (O(classes): no scan of the pool)."""
        return sum(k for c, k in self._tally.items() if c >= 0)

    @property
    def n_skipped(self) -> int:
        """Number of skipped clips (O(1))."""
        return self._tally.get(_SKIPPED, 0)

    @property
    def n_unsure(self) -> int:
        """Number of clips answered "unsure" (O(1))."""
        return self._tally.get(_UNSURE, 0)

    @property
    def answered_idx(self) -> np.ndarray:
        """Indices of clips labelled, skipped or answered "unsure", ascending, int64."""
        return np.flatnonzero(self._codes != _UNLABELED)

    def label_of(self, i: int):
        """The class name of clip ``i``, or None if it has no label (O(1), for click paths)."""
        code = int(self._codes[check_index(i, self.n_pool)])
        return self._classes[code] if code >= 0 else None

    def label_counts(self) -> dict:
        """``{class name: number of labelled clips}`` over all classes (O(classes))."""
        return {c: self._tally.get(k, 0) for k, c in enumerate(self._classes)}

    def _set_codes(self, idx: np.ndarray, codes) -> None:
        """``self._codes[idx] = codes``, keeping the per-code tally (``idx`` distinct)."""
        idx = np.asarray(idx, dtype=np.int64)
        old = self._codes[idx]
        self._codes[idx] = codes
        for values, sign in ((old, -1), (self._codes[idx], 1)):
            found, counts = np.unique(values, return_counts=True)
            for c, k in zip(found.tolist(), counts.tolist()):
                if c != _UNLABELED:
                    left = self._tally.get(c, 0) + sign * k
                    if left:
                        self._tally[c] = left
                    else:
                        self._tally.pop(c, None)

    @property
    def history(self) -> tuple[Event, ...]:
        """Every teach, skip, undo and add_class so far, oldest first."""
        return self._ledger.events

    def live_events(self, upto: int | None = None) -> list[tuple[int, Event]]:
        """``[(position in history, event)]`` of the events in force among the first ``upto`` (default all).

        Undo resolved: undo events and the events they reverted are left out
        (:meth:`alwidget._ledger.LabelLedger.live`); ``add_class`` events stay.
        """
        with self._lock:
            return self._ledger.live(upto)

    @property
    def label_modes(self) -> dict:
        """``{index: mode}`` for every labelled clip: how it was found (see :data:`LABEL_MODES`)."""
        with self._lock:
            modes = self._ledger.label_modes()
            labelled = set(self.labeled_idx.tolist())
        return {i: m for i, m in modes.items() if i in labelled}

    @property
    def version(self) -> int:
        """A counter that changes whenever the learner's state changes."""
        return self._version

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
        names = self._check_labels(labels, len(idx))
        mode = _check_mode(mode)
        if len(idx) == 0:  # an empty batch (e.g. every search hit held out): nothing to record
            return
        with self._lock:
            self._teach(idx, names, mode=mode)

    def _teach(
        self, idx: np.ndarray, names: list, t: float | None = None, seq: int | None = None, mode: str = "active"
    ) -> None:
        prev = self._codes[idx].copy()
        done = prev >= 0
        if done.any():
            i = int(idx[done][0])
            msg = (
                f"clip {i} is already labelled {self._classes[prev[done][0]]!r}; "
                "call undo() to revert the last label first"
            )
            raise AlreadyLabeledError(msg)
        self._set_codes(idx, np.array([self._code[c] for c in names], dtype=np.int32))
        event = Event("teach", tuple(int(i) for i in idx), tuple(names), time=t or time.time(), mode=mode)
        self._record(event, idx, prev, seq=seq)

    def skip(self, idx, *, mode: str = "active") -> None:
        """Set clip(s) ``idx`` aside: they are never queried again (until undone)."""
        idx, _ = check_indices(idx, self.n_pool, allow_empty=True)
        mode = _check_mode(mode)
        if len(idx) == 0:  # an empty batch: nothing to record
            return
        with self._lock:
            self._skip(idx, mode=mode)

    def _skip(self, idx: np.ndarray, t: float | None = None, seq: int | None = None, mode: str = "active") -> None:
        prev = self._codes[idx].copy()
        if (prev >= 0).any():
            i = int(idx[prev >= 0][0])
            msg = f"clip {i} is already labelled {self._classes[prev[prev >= 0][0]]!r} and cannot be skipped"
            raise AlreadyLabeledError(msg)
        if (prev == _SKIPPED).any():
            msg = f"clip {int(idx[prev == _SKIPPED][0])} is already skipped"
            raise InvalidInputError(msg)
        self._set_codes(idx, _SKIPPED)
        event = Event("skip", tuple(int(i) for i in idx), time=t or time.time(), mode=mode)
        self._record(event, idx, prev, seq=seq)

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
        names = self._check_labels(labels, len(idx))
        mode = _check_mode(mode)
        if len(idx) == 0:  # an empty batch: nothing to record
            return
        with self._lock:
            self._relabel(idx, names, mode=mode)

    def _relabel(
        self, idx: np.ndarray, names: list, t: float | None = None, seq: int | None = None, mode: str = "review"
    ) -> None:
        prev = self._codes[idx].copy()
        if (prev < 0).any():
            i = int(idx[prev < 0][0])
            msg = f"clip {i} has no label to change; give it one with teach({i}, ...)"
            raise InvalidInputError(msg)
        self._set_codes(idx, np.array([self._code[c] for c in names], dtype=np.int32))
        event = Event("relabel", tuple(int(i) for i in idx), tuple(names), time=t or time.time(), mode=mode)
        self._record(event, idx, prev, seq=seq)

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
        mode = _check_mode(mode)
        if len(idx) == 0:  # an empty batch: nothing to record
            return
        with self._lock:
            self._unsure(idx, mode=mode)

    def _unsure(self, idx: np.ndarray, t: float | None = None, seq: int | None = None, mode: str = "active") -> None:
        prev = self._codes[idx].copy()
        if (prev >= 0).any() and mode != "review":
            i = int(idx[prev >= 0][0])
            msg = (
                f"clip {i} is already labelled {self._classes[prev[prev >= 0][0]]!r}; undo() that label first, "
                "or withdraw it in a label review (mode='review')"
            )
            raise AlreadyLabeledError(msg)
        if (prev == _UNSURE).any():
            msg = f"clip {int(idx[prev == _UNSURE][0])} is already answered 'unsure'"
            raise InvalidInputError(msg)
        self._set_codes(idx, _UNSURE)
        event = Event("unsure", tuple(int(i) for i in idx), time=t or time.time(), mode=mode)
        self._record(event, idx, prev, seq=seq)

    def undo(self) -> Event:
        """Revert the most recent :meth:`teach`, :meth:`skip` or :meth:`unsure` call as a whole.

        Can be repeated back to the start. Returns the reverted event, so a
        caller can bring its clips back.
        """
        with self._lock:
            if not self._ledger.can_undo():
                msg = "nothing to undo: no teach or skip is left to revert"
                raise NothingToUndoError(msg)
            return self._undo()

    def _undo(self, t: float | None = None, seq: int | None = None) -> Event:
        pos, idx, prev, target_seq = self._ledger.pop_undoable()
        event = self._ledger[pos]
        self._set_codes(idx, prev)
        undo = Event("undo", event.indices, event.labels, target=pos, time=t or time.time())
        self._record(undo, target_seq=target_seq, seq=seq)
        return event

    def add_class(self, name) -> None:
        """Add a new class name (it gets the next probability column)."""
        name = check_class_name(name)
        with self._lock:
            if name in self._code:
                msg = f"class {name!r} already exists; classes are {self._classes!r}"
                raise InvalidInputError(msg)
            self._add_class(name)

    def _add_class(self, name, t: float | None = None, seq: int | None = None) -> None:
        self._code[name] = len(self._classes)
        self._classes.append(name)
        self._record(Event("add_class", (), (name,), time=t or time.time()), seq=seq)

    def _record(self, event: Event, idx=None, prev=None, *, target_seq=None, seq=None) -> None:
        """Append ``event`` to the history (and the undo stack), bump versions and journal it.

        ``seq`` is given when replaying a journal (the event is already on disk).
        """
        replaying = seq is not None
        if not replaying:
            seq = self._next_seq
        self._next_seq = max(self._next_seq, seq + 1)
        self._ledger.append(event, idx, prev, seq)
        reverted = self._ledger[event.target] if event.kind == "undo" else None
        withdrawn = event.kind == "unsure" and prev is not None and bool((prev >= 0).any())
        if (
            event.kind in ("teach", "relabel", "add_class")
            or withdrawn
            or (reverted is not None and reverted.kind in ("teach", "relabel", "unsure"))
        ):
            self._label_version += 1
        self._version += 1
        if not replaying and self._journal is not None:
            self._journal_write(self._event_record(event, seq, target_seq))

    def _event_record(self, event: Event, seq: int, target_seq: int | None = None) -> dict:
        record = {"kind": event.kind, "seq": seq, "t": round(event.time, 3)}
        if event.kind in ("teach", "relabel", "skip", "unsure"):
            record["idx"] = list(event.indices)
            record["ids"] = [self._id(i) for i in event.indices]
        if event.kind in ("teach", "relabel", "add_class"):
            record["labels"] = list(event.labels)
        if event.kind in ("teach", "relabel", "skip", "unsure") and event.mode != "active":
            record["mode"] = event.mode  # absent = "active" (journals written before modes existed)
        if event.kind == "undo":
            record["target"] = target_seq
        return record

    def _check_labels(self, labels, n: int) -> list:
        if isinstance(labels, (str, bytes, np.str_)) or np.ndim(labels) == 0:
            labels = [labels] * n
        else:
            labels = list(np.asarray(labels, dtype=object).ravel()) if isinstance(labels, np.ndarray) else list(labels)
        if len(labels) != n:
            msg = f"got {len(labels)} labels for {n} indices; pass one label per index or a single label"
            raise InvalidInputError(msg)
        names = [check_class_name(c, what="label") for c in labels]
        for c in names:
            if c not in self._code:
                msg = f"label {c!r} is not one of the classes {self._classes!r}; add it first with add_class({c!r})"
                raise UnknownClassError(msg)
        return names

    # ---------------------------------------------------------------- model
    def features(self, idx) -> np.ndarray:
        """Standardised embeddings ``(m, d)`` float32 of pool rows ``idx``.

        A single int gives one row ``(d,)``. Raises IndexOutOfRangeError for an
        index outside ``0 .. n_pool - 1`` (negative indices are not wrapped).
        """
        rows, scalar = check_indices(idx, self.n_pool, unique=False, allow_empty=True)
        return self._features(rows[0] if scalar else rows)

    def _features(self, idx) -> np.ndarray:
        """:meth:`features` for indices already known to be valid."""
        return (self._pool.X[idx] - self._pool.mean) / self._pool.scale

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
            version = self._label_version
            y = self._codes[lab].copy()
            k = len(self._classes)
            previous = self.model_
        fresh = make_model(self.model, seed=self.seed, device=self.device)
        pool = self._pool_for(fresh, lab)
        model = fit_model(fresh, self._features(lab), y, k, previous=previous, pool=pool)
        with self._lock:
            if version > self._fit_label_version:
                self.model_ = model
                self.model_version_ += 1
                self.n_labels_fit_ = len(lab)
                self._fit_label_version = version
                self._fit_n_classes = k
        return self

    def _pool_for(self, model, rows: np.ndarray) -> tuple[PoolGraph, np.ndarray] | None:
        """``(graph, rows)`` for a model that uses the pool (and may on this pool's size), else None."""
        if not getattr(model, "uses_pool", False):
            return None
        if len(self._pool) > int(model.max_nodes) and not model.sample:
            return None
        return self._pool_graph(model), rows

    def _pool_graph(self, model) -> PoolGraph:
        """The k-NN graph of the pool (or of a seeded sample of it) for ``model``, built once and kept."""
        key = (int(model.n_neighbors), int(model.max_nodes))
        graph = self._graphs.get(key)
        if graph is None:
            rows = sample_rows(len(self._pool), key[1], self.seed)
            graph = PoolGraph(rows, self._rows_features(rows), key[0])
            self._graphs[key] = graph  # two threads may both build it: the same graph, one is kept
        return graph

    def _fitted(self):
        """The model for the current labels, fitting first if they changed."""
        if self._fit_label_version != self._label_version:
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
            X = check_embeddings(X, name="X", n_features=self._pool.X.shape[1], allow_float16=True)
            return _check_finite_proba(model, predict_proba_with(model, X, k, self._pool.stats))
        cache = self._proba_cache
        if cache is not None and cache[0] == version:
            return cache[1]
        proba = _check_finite_proba(model, predict_proba_with(model, self._pool.X, k, self._pool.stats))
        proba.flags.writeable = False
        self._proba_cache = (version, proba)
        return proba

    def predict(self, X=None) -> np.ndarray:
        """Most probable class name per row (object array); ``X=None`` = the pool."""
        classes = np.asarray(self._classes, dtype=object)
        return classes[self.predict_proba(X).argmax(axis=1)]

    def score(self, X, y) -> float:
        """Accuracy (0..1) of the current model on embeddings ``X`` with true labels ``y``."""
        if isinstance(y, (str, bytes)) or not isinstance(y, Iterable) or (isinstance(y, np.ndarray) and y.ndim == 0):
            msg = f"y must be a sequence with one true class name per row of X, got {y!r}"
            raise InvalidInputError(msg)
        y = list(np.asarray(y, dtype=object).ravel()) if isinstance(y, np.ndarray) else list(y)
        X = check_embeddings(X, name="X", n_features=self._pool.X.shape[1])
        if len(y) != len(X):
            msg = f"X has {len(X)} rows but y has {len(y)} labels"
            raise InvalidInputError(msg)
        names = self._check_labels(y, len(y))
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
        with self._lock:
            version = self._label_version
            lab = self.labeled_idx
            y = self._codes[lab].copy()
            k = len(self._classes)
        if len(lab) == 0:
            msg = "no labels yet: a committee needs at least one labelled clip"
            raise NotEnoughLabelsError(msg)
        if self._committee is None or self._committee[0] != version:
            Xl = self._features(lab)
            members = []
            for m in range(self.n_committee):
                boot = np.random.default_rng([self.seed, m, len(lab)]).integers(0, len(lab), len(lab))
                model = make_model(self.model, seed=self.seed + m, device=self.device)
                pool = self._pool_for(model, lab[boot])
                members.append(fit_model(model, Xl[boot], y[boot], k, pool=pool))
            self._committee = (version, members)
        members = self._committee[1]
        stats = self._pool.stats
        # candidates are read once for all members (from the window or, in runs, the pool); the whole pool is streamed
        X = self._pool.X if rows is None else self._candidate_rows(rows)
        return np.stack([_check_finite_proba(m, predict_proba_with(m, X, k, stats)) for m in members])

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
        cache = self._proba_cache
        if (cache is not None and cache[0] == version) or self._scores_whole_pool():
            out = self.predict_proba()[rows]
            out.flags.writeable = False
            return out
        sub = self._subset_cache
        if sub is not None and sub[0] == version and np.array_equal(sub[1], rows):
            return sub[2]  # the same query again (another exclude, a prefetch): same subset, same model
        stats = self._pool.stats
        # the pool's own precision (as predict_proba): float64 up to _EXACT_SCORE_VALUES values, float32 above
        exact = self._pool.X.size <= _EXACT_SCORE_VALUES
        window = self._window
        proba = None
        if window is not None:
            with window.lock:  # another thread's query may not refill the buffer meanwhile
                where = window.positions(rows)
                if where is not None:  # the query's own candidates: the window's rows, in memory, scored in one call
                    proba = predict_proba_with(model, window.buffer, k, stats, exact=exact)[where]
        if proba is None:
            proba = predict_proba_with(model, self._pool.X, k, stats, rows=rows, exact=exact)
        proba = _check_finite_proba(model, proba)
        proba.flags.writeable = False
        self._subset_cache = (version, rows, proba)
        return proba

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
            cache = self._proba_cache
        if model is None:
            return None
        if cache is not None and cache[0] == version:
            return cache[1][rows]
        return _check_finite_proba(model, predict_proba_with(model, self._pool.X, k, self._pool.stats, rows=rows))

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
        cache = self._proba_cache
        if (cache is not None and cache[0] == version) or self._scores_whole_pool():
            proba = self.predict_proba()
            return np.array(proba[:, code]), proba.argmax(axis=1) == code
        scores = np.empty(self.n_pool, dtype=np.float32)
        predicted = np.empty(self.n_pool, dtype=bool)
        stats = self._pool.stats
        for start, block in pool_blocks(self._pool.X, chunk=_SCORE_CHUNK):
            proba = _check_finite_proba(model, predict_proba_with(model, block, k, stats, exact=False))
            scores[start : start + len(block)] = proba[:, code]
            predicted[start : start + len(block)] = proba.argmax(axis=1) == code
        return scores, predicted

    def _candidate_rows(self, rows: np.ndarray) -> np.ndarray:
        """Raw embeddings ``X[rows]``: from the candidate window when ``rows`` are its candidates."""
        window = self._window
        if window is not None:
            with window.lock:
                where = window.positions(rows)
                if where is not None:
                    return window.buffer[where]
        return gather_rows(self._pool.X, rows)

    def _candidate_limit(self) -> int:
        limit = _MAX_CANDIDATES if self.candidates is None else self.candidates
        return check_positive_int(limit, "candidates")

    def _scores_whole_pool(self) -> bool:
        """Whether queries score the whole pool's table (pools up to ``candidates`` clips)."""
        return self.n_pool <= self._candidate_limit()

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
        from alwidget.export import _locate_ids, predictions_table

        proba = np.asarray(self.predict_proba(), dtype=np.float64)
        with self._lock:
            labels = self.labels
            modes = self.label_modes
            unsure = dict.fromkeys(self.unsure_idx.tolist(), "unsure")
        n = self.n_pool
        ids = self.ids
        if self.dataset is not None and hasattr(self.dataset, "recording"):
            ds = self.dataset
            recordings = [ds.recording(i) for i in range(n)]
            starts = np.array([ds.start(i) for i in range(n)], dtype=np.float64)
            ends = np.array([ds.end(i) for i in range(n)], dtype=np.float64)
        else:
            recordings, starts, ends = _locate_ids(ids)
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
        with self._lock:  # the counts come from the tally: one pass over the pool's codes, not three
            allowed = self._codes == _UNLABELED
            n_labelled, n_skipped = self.n_labeled, self.n_skipped
            n_seen = sum(1 for c, k in self._tally.items() if c >= 0 and k)
            rng = np.random.default_rng([self.seed, n_labelled, n_skipped])
        if ex is not None:
            allowed[ex] = False
        n_allowed = int(np.count_nonzero(allowed))
        if n_allowed <= limit:
            cand = np.flatnonzero(allowed)
        elif self.n_pool >= 2 * limit:  # a large pool: the window of candidates after this many labels and skips
            window = self._window
            if window is None or not window.fits(self._pool.X, self.seed, limit):
                window = self._window = CandidateWindow(self._pool.X, self.seed, limit)
            cand = window.candidates(n_labelled + n_skipped, allowed)
        else:  # a random subset, drawn from its own stream (the strategy's rng is unchanged)
            subset_rng = np.random.default_rng([self.seed, n_labelled, n_skipped, _SUBSET_STREAM])
            cand = sample_candidates(allowed, n_allowed, limit, subset_rng)
        if len(cand) == 0:
            msg = f"the pool is exhausted: all {self.n_pool} clips are labelled, skipped or excluded"
            raise PoolExhaustedError(msg)
        n = min(n, len(cand))
        fn = _strategies.get(self.strategy)
        if getattr(fn, "needs_model", True) and n_seen < 2:
            picks = self._cold_start(cand, n, rng)
        else:
            picks = fn(self, cand, n, rng)
        picks = _check_picks(picks, allowed, n, fn)
        with self._lock:  # drop clips labelled by another thread meanwhile
            return picks[self._codes[picks] == _UNLABELED]

    def _cold_start(self, cand: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """k-means++ picks among at most 20,000 candidates, away from at most 20,000 labelled clips.

        Memory is bounded whatever the pool: two samples of ``_COLD_START_SAMPLE``
        rows (about 30 MB each in float64) and distances taken in blocks
        (:func:`alwidget.strategies.kmeans_pp`), never an ``n x n`` matrix.
        """
        if len(cand) > _COLD_START_SAMPLE:
            cand = np.sort(rng.choice(cand, _COLD_START_SAMPLE, replace=False))
        lab = self.labeled_idx
        if len(lab) > _COLD_START_SAMPLE:
            lab = rng.choice(lab, _COLD_START_SAMPLE, replace=False)
        centers = self._rows_features(lab) if len(lab) else None
        return cand[_strategies.kmeans_pp(self._rows_features(cand), n, rng, centers=centers)]

    def _rows_features(self, idx: np.ndarray) -> np.ndarray:
        """:meth:`_features` of many scattered rows: from the candidate window, or from the pool in runs."""
        raw = None
        if self._window is not None:
            with self._window.lock:
                raw = self._window.rows(idx)
        if raw is None:
            raw = gather_rows(self._pool.X, idx)
        return (raw - self._pool.mean) / self._pool.scale


def _check_picks(picks, allowed: np.ndarray, n: int, fn) -> np.ndarray:
    """Validate a strategy's answer: ``n`` distinct indices where ``allowed`` is True."""
    name = getattr(fn, "__name__", repr(fn))
    arr = np.asarray(picks)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        msg = f"strategy {name} must return a 1-D array of pool indices, got {arr.dtype} {arr.shape}"
        raise InvalidInputError(msg)
    arr = arr.astype(np.int64)
    if len(np.unique(arr)) != len(arr) or len(arr) != n:
        msg = f"strategy {name} must return {n} distinct indices, got {arr.tolist()[:10]}"
        raise InvalidInputError(msg)
    inside = (arr >= 0) & (arr < len(allowed))
    ok = np.zeros(len(arr), dtype=bool)
    ok[inside] = allowed[arr[inside]]
    if not ok.all():
        msg = f"strategy {name} returned index {int(arr[~ok][0])}, which is not an unlabelled candidate"
        raise InvalidInputError(msg)
    return arr


def _check_finite_proba(model, proba: np.ndarray) -> np.ndarray:
    """Return ``proba``, or raise if the model gave NaN or inf for some row.

    Built-in models are finite by construction (softmax of finite logits of
    finite embeddings), so only user models pay for the check.
    """
    if isinstance(model, _TorchClassifier):
        return proba
    finite = np.isfinite(proba).all(axis=1)
    if not finite.all():
        n_bad = int(len(finite) - np.count_nonzero(finite))
        row = int(np.flatnonzero(~finite)[0])
        msg = (
            f"model {type(model).__name__}.predict_proba returned NaN/inf for {n_bad} of {len(proba)} rows "
            f"(first at row {row}); fix the model (or its input scaling) so it gives finite probabilities"
        )
        raise InvalidInputError(msg)
    return proba


def _check_mode(mode) -> str:
    if not isinstance(mode, str) or mode not in LABEL_MODES:
        msg = f"mode must be one of {LABEL_MODES}, got {mode!r}"
        raise InvalidInputError(msg)
    return mode


def _check_dataset(dataset, n_pool: int):
    """The dataset behind the pool rows (or None): one clip per row."""
    if dataset is None:
        return None
    try:
        n = len(dataset)
    except TypeError:
        msg = f"dataset must be an AudioDataset (one clip per pool row), got {type(dataset).__name__}"
        raise InvalidInputError(msg) from None
    if n != n_pool:
        msg = (
            f"the dataset has {n} clips but the pool has {n_pool} rows; pass the dataset the embeddings "
            "were computed from (one clip per row)"
        )
        raise InvalidInputError(msg)
    return dataset


def _check_ids(ids, n_pool: int) -> list | None:
    """Validate clip ids: one per row, unique, str or int.

    Ids that are all ``str`` (none blank) or all ``int``, or an integer
    array, are checked with C-level loops (about 1 s for 10M ids); anything
    else id by id.
    """
    if ids is None:
        return None
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
        msg = f"ids must be a sequence with one id per clip (e.g. dataset.clip_ids), got {ids!r}"
        raise InvalidInputError(msg)
    if isinstance(ids, np.ndarray) and ids.ndim == 1 and ids.dtype.kind in "iuU":
        ids = ids.tolist()  # Python ints or strs
    else:
        ids = list(ids)
    kinds = set(map(type, ids))
    if kinds == {int} or (kinds == {str} and all(map(str.strip, ids))):
        pass  # fast path: nothing to convert, no blank id
    else:
        ids = [check_class_name(i, what="clip id") for i in ids]
    if len(ids) != n_pool:
        msg = f"got {len(ids)} ids for {n_pool} clips; pass exactly one id per embedding row"
        raise InvalidInputError(msg)
    if len(set(ids)) != len(ids):
        seen: set = set()
        dup = next(i for i in ids if i in seen or seen.add(i))
        msg = f"clip id {dup!r} appears more than once; ids must be unique"
        raise InvalidInputError(msg)
    return ids
