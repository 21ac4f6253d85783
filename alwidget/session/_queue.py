"""What the session shows next, in active, search and review mode.

:class:`ClipQueue` holds the clip on screen, the learner's queued queries,
the search or review results still to show, and what the front end reads
about them (``clip``, ``audio``, ``spectrogram``, ``guess``, ``search`` and
``progress``). It also runs the worker's part of a search and of the two
reviews: find the clips, prefetch them, show them next.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from pathlib import Path

import numpy as np

from alwidget.errors import ExportError, InvalidInputError
from alwidget.session._review_store import load_review, review_path, save_review
from alwidget.session._store import Store
from alwidget.session._summary import doubt_words, model_words, pool_summary
from alwidget.session.curves import _AUDIT_KEY, Curves, Eval, _audit_pick_answered, audit_slot
from alwidget.session.media import MediaCache, clip_name

__all__ = ["ClipQueue", "AudioBytes", "a_class", "describe", "detection_counts"]


class AudioBytes:
    """An encoded audio file received as bytes (a browser upload), decoded in the worker."""

    def __init__(self, data: bytes, name: str):
        self.data, self.name = data, name

    def _bad(self, exc: BaseException) -> InvalidInputError:
        # libsndfile's message names the in-memory buffer ("Error opening <_io.BytesIO object at 0x...>"):
        # keep only its reason, and name the file as it was uploaded
        reason = getattr(exc, "error_string", None) or str(exc).rsplit(": ", 1)[-1]
        msg = (
            f"cannot search with the file {self.name!r}: it is not audio that can be decoded ({reason.rstrip('.')}); "
            "choose a WAV, FLAC, OGG or MP3 file"
        )
        return InvalidInputError(msg)

    def check(self) -> None:
        """Raise :class:`InvalidInputError` naming the file at once if its header is not audio (or it is empty)."""
        import io

        import soundfile as sf

        try:
            info = sf.info(io.BytesIO(self.data))
        except (RuntimeError, OSError, ValueError, TypeError) as exc:
            raise self._bad(exc) from None
        if info.frames == 0:
            msg = f"cannot search with the file {self.name!r}: it holds no audio; choose another file"
            raise InvalidInputError(msg)

    def decode(self) -> tuple[np.ndarray, int]:
        import io

        import soundfile as sf

        try:
            y, sr = sf.read(io.BytesIO(self.data), dtype="float32", always_2d=True)
        except (RuntimeError, OSError, ValueError, TypeError) as exc:
            raise self._bad(exc) from None
        if len(y) == 0:
            msg = f"cannot search with the file {self.name!r}: it holds no audio; choose another file"
            raise InvalidInputError(msg)
        return np.ascontiguousarray(y.mean(axis=1)), int(sr)


def describe(query, dataset=None) -> str:
    """How a search query is shown to the user (clips by their file name, ``file@start`` for windows)."""
    if isinstance(query, (int, np.integer)):
        return clip_name(dataset, int(query))
    if isinstance(query, (str, Path)):
        return f"file {Path(query).name}"
    if isinstance(query, tuple) and len(query) == 2:
        return "the audio given"
    arr = np.asarray(query)
    if arr.dtype.kind in "iu":
        shown = ", ".join(clip_name(dataset, int(i)) for i in arr.ravel()[:5])
        return f"{shown}{' ...' if arr.size > 5 else ''}"
    return "the embedding given"


def _num(x) -> float | None:
    """A float for the front end, None for NaN (JSON has no NaN)."""
    x = float(x)
    return None if not np.isfinite(x) else round(x, 4)


def detection_counts(learner, detect: dict) -> list[dict]:
    """Answers per bin of a detection review, read from the learner's labels (so a resumed journal gives the same).

    Yes: the clip is labelled the reviewed class. No: it is labelled another
    class, or skipped (the answer "no" is journalled as a skip in review
    mode; a plain skip in a detection review journals nothing). Unsure: it
    was answered "unsure". Clips still open count nowhere.
    """
    cls = detect["class"]
    counts = [{"yes": 0, "no": 0, "unsure": 0} for _ in detect["bins"]]
    for i, b in detect["bin_of"].items():  # O(clips sampled): no scan of the pool
        given = learner.label_of(i)
        if given is not None:
            counts[b]["yes" if given == cls else "no"] += 1
        elif learner.is_unsure(i):
            counts[b]["unsure"] += 1
        elif not learner.is_unlabeled(i):  # skipped: answered "no"
            counts[b]["no"] += 1
    return counts


def a_class(name) -> str:
    """``"a wren"``, ``"an owl"``: a class named in a question."""
    text = str(name)
    return f"{'an' if text[:1].lower() in 'aeiou' else 'a'} {text}"


def n_unsure(learner) -> int:
    """Clips answered "unsure" (0 for learners without that answer)."""
    return int(getattr(learner, "n_unsure", 0))


class ClipQueue:
    """The clip on screen and the clips to show after it (see the module docstring)."""

    def __init__(self, learner, dataset, store: Store, curves: Curves, *, eval_: Eval | None, seed: int,
                 media: MediaCache, top_k: int, prefetch: int, report: Callable[[BaseException], None]):  # fmt: skip
        self.learner, self.dataset, self.store, self.curves = learner, dataset, store, curves
        self.eval, self.seed, self.media, self.top_k, self.n_prefetch = eval_, seed, media, top_k, prefetch
        self._report = report
        self.current: int | None = None
        self.current_audit = False
        self.current_mode = "active"  # the mode the clip on screen was shown in
        self.queue: deque[int] = deque()  # the learner's next queries
        self.results: deque[int] = deque()  # search or review results still to show
        self.search_total = 0
        self.search_query = ""
        self.review_kind = "labels"  # review mode: "labels" (label review) or "detections"
        self.detect: dict | None = None  # detection review: class, bins, the bin of each sampled clip
        self.detect_last: dict | None = None  # the last detection review's, kept for detection_report
        self.review_file: Path | None = None  # where a detection review is saved (beside the journal), or None
        self.guess_blocked: dict[int, int] = {}  # clip -> learner.version at its undo
        self.review_doubt: dict[int, tuple] = {}  # label review: clip -> (label then, why it is doubted)
        self.rng = np.random.default_rng(seed)

    @property
    def mode(self) -> str:
        return self.store["mode"]

    # ------------------------------------------------------------------ rules
    def held_out(self) -> np.ndarray | None:
        return self.eval.idx if self.eval is not None and self.eval.held_out else None

    def exclude(self) -> np.ndarray:
        """Clips never to queue: the one on screen and held-out ones."""
        parts = [np.array([] if self.current is None else [self.current], dtype=np.int64)]
        if self.held_out() is not None:
            parts.append(self.eval.idx)
        return np.concatenate(parts)

    def valid(self, i: int, mode: str) -> bool:
        """Whether clip ``i`` can still be shown in ``mode`` (open; labelled in a label review)."""
        if mode == "review" and self.review_kind == "labels":
            return self.learner.is_labeled(i)
        return self.is_open(i)

    def is_open(self, i: int) -> bool:
        """Whether clip ``i`` is neither labelled nor skipped (O(1): no scan of the pool)."""
        return self.learner.is_unlabeled(i)

    def in_label_review(self) -> bool:
        return self.current_mode == "review" and self.review_kind == "labels"

    def in_detection_review(self) -> bool:
        """Whether the clip on screen was shown by a detection review (answered yes / no / unsure)."""
        return self.current_mode == "review" and self.review_kind == "detections" and self.detect is not None

    def n_done(self) -> int:
        """Clips labelled or skipped: the audit slot of the clip shown next."""
        learner = self.learner
        return learner.n_labeled + learner.n_skipped + n_unsure(learner)

    def is_audit(self, i: int, n_done: int) -> bool:
        """Whether clip ``i`` shown at slot ``n_done`` is that slot's audit clip (same rule as replay_audits)."""
        c = self.curves
        if not c.auditing or not audit_slot(self.seed, n_done, c.audit_rate):
            return False
        return _audit_pick_answered(self.seed, n_done, self.learner.n_pool, self.learner.answered_idx) == i

    # ------------------------------------------------------------------ showing clips
    def advance(self) -> None:
        """Show the next clip: the slot's audit clip, else the next open clip of the queue (or a random one).

        In search mode: the next open search result; when none is left, back to active learning.
        """
        set_ = self.store.set
        if self.mode in ("search", "review"):
            mode = self.mode
            while self.results:
                i = self.results.popleft()
                if i != self.current and self.valid(i, mode):
                    self.show(i, mode=mode)
                    return
            if mode == "review" and self.review_kind == "detections" and self.detect is not None:
                # the final estimate stays on screen (search["done"]) until the user leaves the review
                self.show(None, mode=mode)
                set_(message="detection review done: the final estimate stays here; 'back' leaves it")
                return
            what = f"search done ({self.search_total} results)" if mode == "search" else "review done"
            set_(mode="active", search={}, message=f"{what}: back to active learning")
        n_done, learner = self.n_done(), self.learner
        if self.curves.auditing and audit_slot(self.seed, n_done, self.curves.audit_rate):
            pick = _audit_pick_answered(self.seed, n_done, learner.n_pool, learner.answered_idx)
            if pick is not None:
                if pick in self.queue:
                    self.queue.remove(pick)
                self.show(pick, audit=True)
                return
        while self.queue:  # the click path: O(1) per queued clip, no scan of the pool
            i = self.queue.popleft()
            if i != self.current and self.is_open(i):
                self.show(i)
                return
        pick = self.random_open()
        if pick is None:
            self.show(None)
            set_(message="the pool is finished: every clip is labelled or skipped")
            return
        self.show(pick)
        if learner.n_labeled:
            set_(message="picked a random clip: the next ones are still being chosen")

    def random_open(self) -> int | None:
        """A random open clip not excluded (a few draws; a scan of the pool only when most are taken)."""
        learner, exclude = self.learner, set(self.exclude().tolist())
        for i in self.rng.integers(learner.n_pool, size=64).tolist():
            if i not in exclude and learner.is_unlabeled(i):
                return i
        candidates = np.setdiff1d(learner.unlabeled_idx, self.exclude(), assume_unique=True)
        return int(self.rng.choice(candidates)) if len(candidates) else None

    def show(self, i: int | None, *, audit: bool = False, mode: str = "active") -> None:
        """Put clip ``i`` (or nothing) on screen, found in ``mode``."""
        self.current = i
        self.current_audit = bool(audit and i is not None)
        self.current_mode = mode
        self.publish_search()
        if i is None:
            self.store.set(clip={}, audio=b"", spectrogram=b"", guess=[])
            return
        info = {"index": i, "name": str(i), "id": "", "duration": 0.0, "n_mels": 0, "frames": 0, "freq_ticks": []}
        audio = spec = b""
        try:
            media = self.media.get(i)
        except Exception as exc:  # a clip that cannot be decoded is shown, with the reason
            self._report(exc)
            self.store.set(message=f"{clip_name(self.dataset, i)} cannot be played; skip it (s)")
        else:
            info.update(
                name=media.name,
                id=media.clip_id,
                duration=media.duration,
                n_mels=media.n_mels,
                frames=media.frames,
                freq_ticks=[list(t) for t in media.freq_ticks],
                window_start=float(media.window_start),
                window_end=float(media.window_end),
                recording=str(media.recording),
                start=float(media.start),
                end=float(media.end),
                offset=media.offset,
                top_hz=float(media.top_hz),
                db_range=[float(v) for v in media.db_range],
            )
            audio, spec = media.wav, media.spectrogram
        if mode == "review" and self.review_kind == "labels":
            given = self.learner.label_of(i)
            info["given"] = "" if given is None else str(given)
            doubted, why = self.review_doubt.get(i, (None, ""))
            info["doubt"] = why if doubted == given else ""
        self.store.set(clip=info, audio=audio, spectrogram=spec, guess=self.guess_list(i))

    def prefetch(self, indices) -> None:
        """Decode the media of ``indices`` ahead of time; a clip that fails is reported when it is shown."""
        for i in indices:
            try:
                self.media.prefetch([i])
            except Exception:  # reported when the clip is shown
                continue

    # ------------------------------------------------------------------ what the front end reads
    def publish_search(self) -> None:
        mode = self.mode
        if mode == "active":
            return
        on_screen = self.current is not None and self.current_mode == mode
        left = sum(1 for i in self.results if self.valid(i, mode)) + on_screen
        if mode == "review" and self.review_kind == "detections" and self.detect is not None:
            self.store.set(search=self._detection_state(left))
            return
        self.store.set(search={"query": self.search_query, "total": int(self.search_total), "left": int(left)})

    def _detection_state(self, left: int) -> dict:
        """The ``search`` field in a detection review: answers per bin, precision of detections, call density."""
        from alwidget.review import detection_estimate

        detect = self.detect
        counts = self.detection_counts(detect)
        est = detection_estimate(detect["bins"], counts, seed=detect["seed"])

        def sig(x):  # 4 significant digits: a share of 3e-5 must not read 0
            x = float(x)
            return None if not np.isfinite(x) else float(f"{x:.4g}")

        def figure(e) -> dict:
            return {
                "estimate": sig(e.value), "low": sig(e.lo), "high": sig(e.hi), "windows": int(e.windows),
                "weight": sig(e.weight), "yes": e.yes, "no": e.no, "unsure": e.unsure,
            }  # fmt: skip

        rows = [
            {
                "name": b["name"], "detected": bool(b["detected"]), "lo": sig(b["lo"]), "hi": sig(b["hi"]),
                "windows": int(b["size"]), "weight": sig(b["size"] / detect["n"]),
                **c, "precision": _num(e.precision), "low": _num(e.lo), "high": _num(e.hi),
            }
            for b, c, e in zip(detect["bins"], counts, est.bins)
        ]  # fmt: skip
        return {
            "query": self.search_query, "total": int(self.search_total), "left": int(left),
            "done": left == 0, "class": str(detect["class"]), "rule": detect["rule"],
            "threshold": detect["threshold"], "windows": int(detect["n"]), "bins": rows,
            "precision": figure(est.precision), "density": figure(est.density),
        }  # fmt: skip

    def detection_counts(self, detect: dict) -> list[dict]:
        """Answers per bin of a detection review (see :func:`detection_counts`)."""
        return detection_counts(self.learner, detect)

    def _model_row(self, i: int) -> tuple[np.ndarray, list] | None:
        """Clip ``i``'s probabilities under the last fitted model and their classes, or None.

        Scores this one clip (a table slice for small pools), so showing or
        labelling a clip costs the same at 10M windows as at 1,000.
        """
        proba = self.learner.fitted_proba([i])
        if proba is None:
            return None
        return proba[0], self.learner.classes[: proba.shape[1]]

    def model_guess(self, i: int):
        """The current model's best class for clip ``i``, or None (no model, or not honest)."""
        if i in self.guess_blocked:
            return None
        found = self._model_row(i)
        if found is None:
            return None
        row, classes = found
        return classes[int(np.argmax(row))]

    def guess_list(self, i: int | None) -> list[dict]:
        found = None if i is None else self._model_row(i)
        if found is None:
            return []
        row, classes = found
        top = np.argsort(-row, kind="stable")[: self.top_k]
        return [{"label": str(classes[k]), "p": round(float(row[k]), 4)} for k in top]

    def publish_progress(self) -> None:
        learner = self.learner
        counts = learner.label_counts()
        held_out = self.held_out()
        n_eval = 0 if held_out is None else len(held_out)
        n_labeled, n_skipped, n_uns = learner.n_labeled, learner.n_skipped, n_unsure(learner)
        open_ = learner.n_pool - n_labeled - n_skipped - n_uns - n_eval
        finished = self.current is None and open_ <= 0 and self.mode == "active"  # nothing is left to show
        summary = pool_summary(learner, self.curves.accuracy_words(), n_eval=n_eval) if finished else {}
        self.store.set(
            progress={
                "n_labeled": n_labeled,
                "n_skipped": n_skipped,
                "n_unsure": n_uns,
                "n_pool": learner.n_pool,
                "open": open_,
                "counts": {str(c): int(k) for c, k in counts.items()},
                "per_minute": self.curves.per_minute(),
                "rate": self.curves.rate_words(),
                "model": model_words(learner),
                "summary": summary,
                "model_version": int(learner.model_version_),
                "n_labels_fit": int(learner.n_labels_fit_),
                "queued": len(self.queue),
            }
        )

    # ------------------------------------------------------------------ the worker's part of search and review
    def run_search(self, query, n: int, description: str) -> None:
        """Find the clips most like ``query``, prefetch them, then show them next (search mode)."""
        if isinstance(query, AudioBytes):
            try:
                query = query.decode()
            except InvalidInputError as exc:  # the user's file: an error to act on, not a passing message
                self.store.set(error=str(exc), message="")
                return
        embed = getattr(self.dataset, "embed_query", None)
        self.store.set(message=f"searching for clips like {description}…")
        # an approximate index is used once built; building one here would hold the worker for minutes
        try:
            result = self.learner.similar(
                query, n, exclude_labeled=True, embed=embed, build=False, exclude=self.held_out()
            )
        except InvalidInputError as exc:
            msg = f"cannot search for clips like {description}: {exc}"
            raise InvalidInputError(msg) from None
        found = [int(i) for i in result.indices]
        self.prefetch(found[: self.n_prefetch])
        with self.store.batch():
            found = [i for i in found if self.is_open(i)]
            if not found:
                what = f"no open clip is like {description}: every close match is labelled or skipped"
                self.store.set(message=what)
                return
            # the first result replaces the clip on screen, so that every clip under the search banner is a result
            # (labelled in mode "search"); a query of the learner's goes back to the front of its queue
            if self.current is not None and self.current_mode == "active" and self.is_open(self.current):
                if self.current not in found:
                    self.queue.appendleft(self.current)
            self.results = deque(found)
            self.search_total = len(found)
            self.search_query = description
            plural = "" if len(found) == 1 else "s"
            what = f"{len(found)} clip{plural} like {description}: label them with the same keys"
            self.store.set(mode="search", message=what)
            if self.store["error"].startswith("cannot search with the file"):  # this search worked
                self.store.set(error="")
            self.current = None
            self.advance()
            self.publish_progress()

    def run_label_review(self, n: int | None) -> None:
        """Order the labels by how doubtful they are, then show them."""
        from alwidget.review import label_review_order

        order = label_review_order(self.learner, max_items=n)
        self.review_doubt = {  # why each label is doubted, for the label it had then
            int(i): (g, doubt_words(g, p, float(pp), float(pg)))
            for i, g, p, pp, pg in zip(order.indices, order.given, order.predicted, order.p_predicted, order.p_given)
        }
        self._start_review([int(i) for i in order.indices], "labels", "most doubtful labels first", None)

    def run_detection_review(self, cls, per_bin: int, n_bins: int, top: int, threshold: float | None) -> None:
        """Bin, sample, then show the sample.

        The candidates are the unlabelled clips less the held-out test clips, whatever is on screen,
        and the draw is seeded by the session's seed and the labels: the same labels, the same sample.
        """
        from alwidget.review import detection_bins, review_sample

        learner = self.learner
        self.store.set(message=f"scoring {learner.n_pool:,} clips for {cls}…")
        codes = learner.label_codes()  # the labels the sample is drawn for, in one snapshot
        unlabeled, n_labeled = np.flatnonzero(codes == -1), int(np.count_nonzero(codes >= 0))
        del codes
        if threshold is None:  # one column and one flag per clip: 45 MB at 10M windows, not the whole table
            scores, predicted = learner.class_scores(cls)
        else:
            scores, predicted = learner.class_proba(cls), None
        open_ = np.zeros(learner.n_pool, dtype=bool)
        open_[unlabeled] = True
        if self.held_out() is not None:
            open_[self.eval.idx] = False
        cand = np.flatnonzero(open_)
        del open_
        if len(cand) == 0:
            self.store.set(message="no unlabelled clip is left to review")
            return
        s = np.asarray(scores[cand], dtype=np.float64)
        detected = predicted[cand] if threshold is None else s >= threshold
        bins = detection_bins(s, n_bins=n_bins, top=min(top, len(cand)), detected=detected)
        rng = np.random.default_rng([self.seed, _AUDIT_KEY, 0xDE7, n_labeled])
        sample = review_sample(bins, per_bin, rng)
        found = [int(cand[j]) for j in sample.indices]
        rule = f"predicted {cls}" if threshold is None else f"score \u2265 {threshold:g}"
        detect = {
            "class": cls,
            "rule": rule,
            "threshold": threshold,
            "n": len(cand),
            "n_detected": int(np.count_nonzero(detected)),
            "seed": self.seed % 2**32,
            "bins": [
                {"name": b.name, "lo": float(b.lo), "hi": float(b.hi), "size": len(b), "detected": b.detected}
                for b in bins
            ],
            "bin_of": {int(cand[j]): int(b) for j, b in zip(sample.indices, sample.bin_ids)},
        }
        if self.review_file is not None:  # on disk before it is shown: a restart resumes it
            try:
                save_review(self.review_file, learner, detect, found)
            except (ExportError, InvalidInputError) as exc:  # the review goes on; its answers are journalled
                self.store.set(error=f"{exc} (the review goes on, but a restart will not resume it)")
        self._start_review(found, "detections", f"detections of {cls} ({rule})", detect)

    def resume_review(self, journal) -> None:
        """After a restart: the detection review saved beside ``journal``: its report, and its clips left shown next."""
        self.review_file = review_path(journal)
        saved = load_review(self.review_file, self.learner)
        if saved is None:
            return
        detect, order = saved
        self.detect_last = detect
        left = [i for i in order if self.is_open(i)]
        if not left:  # every clip answered: the report only
            return
        self.review_kind, self.detect = "detections", detect
        self.results = deque(left)
        self.search_total = len(order)
        self.search_query = f"detections of {detect['class']} ({detect['rule']})"
        what = f"resumed the detection review of {detect['class']}: {len(left)} of {len(order)} clips left"
        self.store.set(mode="review", message=what)
        self.publish_search()

    def _start_review(self, found: list[int], kind: str, description: str, detect: dict | None) -> None:
        """Show ``found`` next in review mode."""
        self.prefetch(found[: self.n_prefetch])
        with self.store.batch():
            if self.current is not None and self.current_mode == "active" and self.is_open(self.current):
                self.queue.appendleft(self.current)  # shown again after the review
            self.review_kind, self.detect = kind, detect
            if detect is not None:
                self.detect_last = detect  # kept for detection_report after the review
            self.results = deque(found)
            self.search_total = len(found)
            self.search_query = description
            if kind == "labels":
                what = f"{len(found)} labels to review: press the right class (the same one keeps it)"
            else:
                cls = detect["class"]
                what = (
                    f"{len(found)} clips to check, by score bin: is each {a_class(cls)}? "
                    "y yes \u00b7 n no \u00b7 ? unsure (or press the class it is)"
                )
            self.store.set(mode="review", message=what)
            self.current = None
            self.advance()
            self.publish_progress()
