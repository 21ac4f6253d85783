"""What the benchmark scripts share: the machine line, peak memory, learning-curve statistics and the pools.

Scripts run as modules from the repository root (``python -m benchmarks.perf.bench_learner``) and
import this module as ``from benchmarks import _common as C``.

alwidget internals are touched here and nowhere else in ``benchmarks/``, each behind one function:

* ``alwidget._graph._sq_dist``: :func:`sq_dist` (the TypiClust cover of real_audio, typicality in
  default_screen; the same squared distances as alwidget's own k-means++ and graph);
* ``alwidget.strategies._candidate_scores``: :func:`candidate_scores` (margin of the candidates,
  for default_screen's information density);
* ``ActiveLearner._pool_graph``: :func:`pool_graph` (bench_learner times the ``"spread"`` graph);
* ``alwidget.search._HNSW_M``, ``._EF_CONSTRUCTION``, ``._EF_SEARCH``, ``._SHARD_ROWS``,
  ``._CHUNK_ROWS``: :func:`search_settings` (bench_search prints them and counts the shards);
* ``SpreadRegression._gate_ties``, ``._gate_folds``, ``._spreading_wins``, ``alwidget._graph.spread``,
  ``alwidget._graph.pseudo_labels``, ``PoolGraph.affinity`` and ``.features``: :func:`gate_variant`
  (default_screen's model group: gates other than the default's);
* ``alwidget.learner.make_model``, replaced for the run: :func:`seed_spread_instances`
  (default_screen ``--seeded-variants``).

Everything else the scripts use is alwidget's public API.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import subprocess
import warnings
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent  # the repository


# ----------------------------------------------------------------------------- machine and memory
def machine(*packages: str) -> str:
    """One line: cores and CPU model, OS, Python, alwidget's commit, numpy, torch and ``packages``, load average."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass

    def installed(p: str) -> str:
        try:
            return version(p)
        except PackageNotFoundError:
            return "not installed"

    libs = ", ".join(f"{p} {installed(p)}" for p in ("numpy", "torch", *packages))
    try:
        git = ["git", "-C", str(ROOT)]
        commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run([*git, "diff", "--quiet", "HEAD", "--", "alwidget"], capture_output=True).returncode
        commit = f"alwidget commit {commit or '?'}{' + uncommitted changes' if dirty else ''}"
    except OSError:
        commit = "alwidget commit ?"
    load = f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "?"
    return (
        f"{os.cpu_count()} x {cpu}, {platform.platform()}, Python {platform.python_version()}; {commit}; "
        f"{libs}; load average {load}"
    )


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MB.

    ``VmHWM`` from ``/proc/self/status`` where there is one: unlike
    ``ru_maxrss`` it does not carry the parent's peak over ``fork`` + ``exec``.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


# ----------------------------------------------------------------------------- learning-curve statistics
def aulc(curves: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Area under the learning curve(s), divided by the label range: the mean accuracy over the run."""
    return np.trapezoid(curves, steps, axis=-1) / (steps[-1] - steps[0])


def paired(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-seed difference ``a - b`` over the seeds both ran (``a`` may have run on the first seeds only)."""
    a = np.asarray(a)
    return a - np.asarray(b)[: len(a)]


def std_err(d: np.ndarray, ddof: int = 1) -> float:
    """Standard error of the mean of ``d`` (0 when there are too few values)."""
    d = np.asarray(d)
    return float(d.std(ddof=ddof) / np.sqrt(len(d))) if len(d) > ddof else 0.0


def seeds_ahead(d: np.ndarray, eps: float = 1e-9) -> int:
    """On how many seeds a paired difference is above ``eps``."""
    return int((np.asarray(d) > eps).sum())


def same_sign(d: np.ndarray, eps: float = 1e-9) -> int:
    """1 if ahead on every seed, -1 if behind on every seed, else 0."""
    d = np.asarray(d)
    return 1 if (d > eps).all() else (-1 if (d < -eps).all() else 0)


def mean_std(a: np.ndarray, signed: bool = False) -> str:
    """``"0.123 ± 0.045"`` (``"+0.123 ± 0.045"`` with ``signed``)."""
    a = np.asarray(a)
    return f"{a.mean():{'+' if signed else ''}.3f} ± {a.std():.3f}"


def labels_to_reach(mean_curve: np.ndarray, steps: np.ndarray, target: float, tol: float = 0.0) -> str:
    """First number of labels where ``mean_curve`` reaches ``target`` (``"> budget"`` if never)."""
    hit = np.flatnonzero(mean_curve >= target - tol)
    return str(int(steps[hit[0]])) if len(hit) else f"> {int(steps[-1])}"


# ----------------------------------------------------------------------------- synthetic pools
def subclusters(n: int, *, n_classes=10, per_class=8, dim=128, latent=16, seed=0):
    """Classes made of overlapping Gaussian sub-clusters in a 16-dim subspace of ``dim`` dims.

    Class centres ~ N(0, 1), sub-cluster offsets ~ N(0, 1.5^2), points ~ N(sub-centre, 1)
    in the latent space, projected to ``dim`` dims with unit isotropic noise added.
    Sub-cluster sizes are Dirichlet(1)-distributed, so some are tiny.
    """
    rng = np.random.default_rng([seed, 1234])
    k = n_classes * per_class
    centres = np.repeat(rng.normal(size=(n_classes, latent)), per_class, axis=0)
    centres += rng.normal(size=(k, latent)) * 1.5
    proj = (rng.normal(size=(latent, dim)) / np.sqrt(latent)).astype(np.float32)
    sub = rng.choice(k, size=n, p=rng.dirichlet(np.ones(k)))
    X = np.empty((n, dim), dtype=np.float32)
    for s in range(0, n, 50_000):  # chunks keep the 100k pool's temporaries small
        e = min(n, s + 50_000)
        Z = (centres[sub[s:e]] + rng.standard_normal((e - s, latent))).astype(np.float32)
        X[s:e] = Z @ proj + rng.standard_normal((e - s, dim), dtype=np.float32)
    return X, sub // per_class


def standardise(X: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """``X`` and ``others`` standardised with ``X``'s per-feature mean and std (as alwidget does), float32."""
    mean = X.mean(axis=0, dtype=np.float64)
    std = X.std(axis=0, dtype=np.float64)
    std[std < 1e-12] = 1.0
    return [((a - mean) / std).astype(np.float32) for a in (X, *others)]


# ----------------------------------------------------------------------------- real recordings
# Debian packages are downloaded (``apt-get download``) and unpacked (``dpkg-deb -x``) into this folder
CACHE = Path(os.environ.get("ALWIDGET_BENCH_CACHE", "~/.cache/alwidget-bench")).expanduser()
BATCH, BUDGET = 5, 150  # the protocol on the real pools: cold start, batches of 5 up to 150 labels
ASTERISK_LANGS = ("en", "es", "fr", "it", "ru")


def deb_root(pkg: str) -> Path:
    """Download (once) and unpack (once) a Debian package; return the unpacked root."""
    debs = CACHE / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    found = sorted(debs.glob(f"{pkg}_*.deb"))
    if not found:
        cmd = ["apt-get", "download", pkg]
        if subprocess.run(cmd, cwd=debs, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update"], check=True, capture_output=True)
            subprocess.run(cmd, cwd=debs, check=True, capture_output=True)
        found = sorted(debs.glob(f"{pkg}_*.deb"))
    deb = found[-1]
    out = CACHE / "x" / deb.stem
    if not out.is_dir():
        tmp = out.with_name(out.name + ".part")
        subprocess.run(["rm", "-rf", str(tmp)], check=True)
        out.parent.mkdir(parents=True, exist_ok=True)  # dpkg-deb -x creates the folder, not its parents
        subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp)], check=True)
        tmp.rename(out)
    return out


def deb_version(pkg: str) -> str:
    deb = sorted((CACHE / "debs").glob(f"{pkg}_*.deb"))[-1]
    return subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], capture_output=True, text=True).stdout.strip()


def distinct_files(files: list[Path]) -> tuple[list[Path], int]:
    """``files`` without byte-identical repeats (the first kept, order kept), and how many were dropped."""
    kept, seen = [], set()
    for p in files:
        h = hashlib.md5(p.read_bytes()).hexdigest()
        if h not in seen:
            seen.add(h)
            kept.append(p)
    return kept, len(files) - len(kept)


@dataclass
class Source:
    """The labelled files of a real pool and their split."""

    name: str
    packages: list
    paths: list
    labels: list
    groups: list
    test: np.ndarray  # bool per file
    split_rule: str
    native_sr: int
    notes: list = field(default_factory=list)


def asterisk_lang() -> Source:
    """Spoken-language ID on the Asterisk prompts: sentences to label, single words to test."""
    paths, labels, groups = [], [], []
    pkgs = [f"asterisk-core-sounds-{lang}-wav" for lang in ASTERISK_LANGS]
    for lang, pkg in zip(ASTERISK_LANGS, pkgs):
        base = deb_root(pkg) / "usr/share/asterisk/sounds"
        (voice,) = [d for d in base.iterdir() if d.is_dir()]
        for p in sorted(voice.rglob("*.wav")):
            rel = p.relative_to(voice).with_suffix("").as_posix()
            if rel.startswith("silence/"):
                continue
            paths.append(p)
            labels.append(lang)
            groups.append(rel)
    # single-word prompts (digits/, letters/, phonetic/) are held out: the model is trained on
    # sentence prompts and tested on isolated words it never heard in any language
    words = ("digits/", "letters/", "phonetic/")
    test = np.array([g.startswith(words) for g in groups])
    rule = (
        "split by prompt type: pool = sentence prompts (top level, dictate/, followme/); "
        "test = single-word prompts (digits/, letters/, phonetic/) in every language"
    )
    return Source("asterisk-lang", pkgs, paths, labels, groups, test, rule, 8000)


MEGAGLEST_TEST_FACTIONS = ("egypt", "norsemen")
MEGAGLEST_KIND = {"attack": "attack", "die": "die", "ack": "voice", "select": "voice"}


def megaglest_unit() -> Source:
    """Kind of a MegaGlest unit sound (attack / die / voice), tested on other factions."""
    import re

    pkg = "megaglest-data"
    techs = deb_root(pkg) / "usr/share/games/megaglest/techs"
    pat = re.compile(r"_(attack|die|ack|select)\d*\.(wav|ogg)$", re.IGNORECASE)
    paths, labels, groups = [], [], []
    files, dup = distinct_files([p for p in sorted(techs.rglob("*")) if pat.search(p.name)])
    for p in files:
        m = pat.search(p.name)
        parts = p.relative_to(techs).parts  # megapack/factions/<faction>/... or megapack/commondata/...
        group = parts[2] if parts[1] == "factions" else "commondata"
        if group in ("romans", "tech"):  # a handful of files each: put them with the shared sounds
            group = "commondata"
        paths.append(p)
        labels.append(MEGAGLEST_KIND[m.group(1).lower()])
        groups.append(group)
    test = np.array([g in MEGAGLEST_TEST_FACTIONS for g in groups])
    rule = (
        f"split by faction: test = {', '.join(MEGAGLEST_TEST_FACTIONS)}; pool = the other factions and the "
        "shared commondata sounds (the test pair was chosen among the 15 pairs of the 6 groups to put the "
        "ceiling in 0.6-0.95; the other pairs give 0.55-0.72)"
    )
    notes = [f"{dup} byte-identical duplicate files dropped"]
    return Source("megaglest-unit", [pkg], paths, labels, groups, test, rule, 22050, notes)


ZEROAD_TEST = (
    "voice/persian/",  # another language and other voice actors
    "actor/fauna/death/",  # animal death cries (the pool has the human ones)
    "resource/mining/",
    "resource/farming/",
    "actor/human/movement/",  # footstep recordings outside actor/singlesteps
    "actor/mounted/movement/",
    "actor/fauna/movement/",
    "attack/weapon/bow_attack",  # ranged weapons (the pool has melee weapons and slings)
    "attack/weapon/arrowfly",
    "attack/weapon/jav_attack",
)


def _zeroad_kind(rel: str) -> str | None:
    folder = rel.rsplit("/", 1)[0]
    if folder.startswith("voice/") and folder != "voice/global":
        return "voice"
    if folder.endswith("/death"):
        return "death"
    if folder == "attack/weapon":
        return "weapon"
    if folder.startswith("resource/"):
        return "work"
    if folder == "actor/singlesteps" or folder.endswith("/movement") or "/movement/" in folder:
        return "footsteps"
    return None  # music, ambience, interface, impacts, siege, ships, gates


def zeroad_sound() -> Source:
    """Kind of a 0 A.D. sound (voice / death / weapon / work / footsteps), tested on other sound families."""
    import zipfile

    pkg = "0ad-data"
    root = deb_root(pkg)
    out = CACHE / "x" / (root.name + "-audio")
    if not out.is_dir():  # read the sounds out of the 3 GB public.zip once
        tmp = out.with_name(out.name + ".part")
        subprocess.run(["rm", "-rf", str(tmp)], check=True)
        with zipfile.ZipFile(root / "usr/share/games/0ad/mods/public/public.zip") as z:
            for n in z.namelist():
                if n.startswith("audio/") and not n.startswith("audio/music/") and n.endswith((".ogg", ".wav")):
                    z.extract(n, tmp)
        tmp.rename(out)
    base = out / "audio"

    def rel(p: Path) -> str:
        return p.relative_to(base).as_posix()

    paths, dup = distinct_files([p for p in sorted(base.rglob("*")) if p.is_file() and _zeroad_kind(rel(p))])
    labels = [_zeroad_kind(rel(p)) for p in paths]
    groups = [rel(p).rsplit("/", 1)[0] for p in paths]
    test = np.array([rel(p).startswith(ZEROAD_TEST) for p in paths])
    rule = (
        "split by sub-folder / sound family: test = Persian voices, animal death cries, mining and farming, "
        "footstep recordings outside actor/singlesteps, ranged weapons (bow, arrow flight, javelin); "
        "pool = the rest"
    )
    notes = [f"{dup} byte-identical duplicate files dropped; attack/impact, ambience, interface and music left out"]
    return Source("0ad-sound", [pkg], paths, labels, groups, test, rule, 44100, notes)


SOURCES = {"asterisk-lang": asterisk_lang, "megaglest-unit": megaglest_unit, "0ad-sound": zeroad_sound}


@dataclass
class Pool:
    """A labelled pool and its held-out set (raw embeddings: alwidget standardises internally)."""

    name: str
    src: Source | None
    X: np.ndarray  # (n_pool, d)
    y: np.ndarray  # (n_pool,) class names
    X_test: np.ndarray
    y_test: np.ndarray
    classes: list | None  # None: simulate takes the classes from y


def embed(src: Source, sr: int, embedder="logmel") -> tuple[np.ndarray, np.ndarray]:
    """Embeddings (one row per source file; NaN rows for files that cannot be read) and a keep mask."""
    from alwidget import AudioDataset

    paths = [os.path.abspath(str(p)) for p in src.paths]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unreadable files are reported in the pool's notes
        ds = AudioDataset.from_files(paths, src.labels, sr=sr)
        E = ds.embed(embedder, progress=False, cache_dir=str(CACHE / "embeddings"), n_jobs=1)
    row = {p: i for i, p in enumerate(paths)}
    X = np.full((len(paths), E.shape[1]), np.nan, dtype=np.float32)
    X[[row[os.path.abspath(p)] for p in ds.paths]] = E
    bad = [os.path.basename(e.path) for e in ds.errors]
    if bad and sr == 16000:
        src.notes.append(f"{len(bad)} unreadable file(s) dropped: {', '.join(bad[:5])}")
    keep = np.isfinite(X).all(axis=1)
    return X, keep


def make_pool(src: Source, X: np.ndarray, keep: np.ndarray) -> Pool:
    """The pool (files outside the test split) and the held-out set, readable files only."""
    y = np.asarray(src.labels, dtype=object)
    tr, te = keep & ~src.test, keep & src.test
    return Pool(src.name, src, X[tr], y[tr], X[te], y[te], sorted(set(y[tr])))


def real_pool(name: str, sr: int = 16000) -> Pool:
    """One of :data:`SOURCES` embedded with the default embedder at ``sr``."""
    src = SOURCES[name]()
    return make_pool(src, *embed(src, sr))


def ceiling(pool: Pool, l2: float = 1.0) -> float:
    """Held-out accuracy of the linear model trained on every pool label."""
    from alwidget import ActiveLearner
    from alwidget.models import SoftmaxRegression

    learner = ActiveLearner(pool.X, pool.classes, model=SoftmaxRegression(l2=l2))
    learner.teach(np.arange(len(pool.X)), pool.y)
    return learner.score(pool.X_test, pool.y_test)


def model_spec(spec):
    """A number is the l2 of the linear model; anything else is passed to ``simulate`` as the model."""
    if isinstance(spec, (int, float)):
        from alwidget.models import SoftmaxRegression

        return "linear" if spec == 1.0 else SoftmaxRegression(l2=spec)
    return spec


def alwidget_curves(pool: Pool, strategies: dict, seeds, *, learner_kwargs=None) -> tuple[np.ndarray, dict]:
    """Held-out accuracy curves ``(seeds, steps)`` per strategy, through :func:`alwidget.simulate`.

    ``strategies``: name -> (strategy, l2 of the linear model or a model spec); one simulate call per
    model. Cold start (``n_initial=0``), batches of :data:`BATCH` up to :data:`BUDGET` labels.
    """
    from alwidget import simulate

    by_model: dict = {}
    for name, (strat, spec) in strategies.items():
        key = spec if isinstance(spec, (int, float, str)) else id(spec)
        by_model.setdefault(key, (spec, []))[1].append((name, strat))
    out, steps = {}, None
    for spec, items in by_model.values():
        curves = simulate(
            pool.X,
            pool.y,
            strategies=[s for _, s in items],
            budget=BUDGET,
            batch_size=BATCH,
            n_initial=0,
            seeds=seeds,
            test=(pool.X_test, pool.y_test),
            model=model_spec(spec),
            classes=pool.classes,
            learner_kwargs=learner_kwargs,
            progress=False,
        )
        steps = curves.n_labels
        for i, (name, _) in enumerate(items):
            out[name] = curves.accuracy[i]
    return steps, out


# ----------------------------------------------------------------------------- alwidget internals
def sq_dist(X: np.ndarray, C: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances ``(len(X), len(C))``, clipped at zero: alwidget's own (``_graph._sq_dist``)."""
    from alwidget._graph import _sq_dist

    return _sq_dist(X, C)


def candidate_scores(measure, learner, candidates: np.ndarray) -> np.ndarray:
    """``measure`` (e.g. ``alwidget.strategies.margin``) of each candidate's probabilities, as the strategies
    compute it (``strategies._candidate_scores``)."""
    from alwidget import strategies

    return strategies._candidate_scores(measure, learner, candidates)


def pool_graph(learner, model: str):
    """Build (or fetch) ``learner``'s k-NN graph of the pool for a fresh ``model`` (``ActiveLearner._pool_graph``)."""
    from alwidget.models import make_model

    return learner._pool_graph(make_model(model))


def search_settings() -> dict:
    """The constants of alwidget's search: HNSW ``M``, ``ef_construction``, ``ef_search``, rows per shard and
    per exact chunk (``alwidget.search._HNSW_M`` ...)."""
    from alwidget import search

    return {
        "hnsw_m": search._HNSW_M,
        "ef_construction": search._EF_CONSTRUCTION,
        "ef_search": search._EF_SEARCH,
        "shard_rows": search._SHARD_ROWS,
        "chunk_rows": search._CHUNK_ROWS,
    }


@functools.cache
def _gate_classes() -> dict:
    """Subclasses of :class:`alwidget.SpreadRegression` whose gate differs from the default's."""
    from alwidget import SpreadRegression, _graph
    from alwidget.models import SoftmaxRegression

    class StrictGate(SpreadRegression):
        """The gate drops the pseudo-labels when spreading and the regression tie."""

        _gate_ties = False

    class TolerantGate(SpreadRegression):
        """The gate opens while spreading's held-out accuracy is at most ``tolerance`` below the regression's."""

        def __init__(self, tolerance: float = 0.1, **kwargs):
            super().__init__(**kwargs)
            self.tolerance = tolerance

        def _spreading_wins(self, W, node, codes, X, k) -> bool:
            super()._spreading_wins(W, node, codes, X, k)
            spread_right, regression_right = self.gate_
            return spread_right >= regression_right - self.tolerance * len(codes)

    class ModelGate(SpreadRegression):
        """The gate checks the model it guards: the regression with pseudo-labels against the regression alone.

        In each of the 5 folds the labels of the other folds are spread, every
        unlabelled node (not the held-out clips) gets its pseudo-label as in
        :meth:`SpreadRegression.fit`, and the regression trained with them is
        compared on the held-out labels with the regression trained without.
        """

        def fit(self, X, y, n_classes=None, *, init=None, basis=None, sample_weight=None, pool=None):
            self._guarded_pool = pool
            try:
                return super().fit(X, y, n_classes, init=init, basis=basis, sample_weight=sample_weight, pool=pool)
            finally:
                self._guarded_pool = None

        def _spreading_wins(self, W, node, codes, X, k) -> bool:
            graph, rows = self._guarded_pool
            _, _, extra = graph.affinity(rows, X)
            features = np.concatenate([graph.features, extra]) if len(extra) else graph.features
            with_right = without_right = 0
            for train, held in self._gate_folds(codes):
                P = _graph.spread(W, node[train], codes[train], k, float(self.alpha), int(self.n_spread))
                # neither the training labels nor the held-out clips get a pseudo-label
                keep, pseudo, conf = _graph.pseudo_labels(P, node, k)
                plain = SoftmaxRegression(l2=self.l2, max_iter=self.max_iter, tol=self.tol)
                plain.fit(X[train], codes[train], k)
                plain_right = int((plain.predict_proba(X[held]).argmax(axis=1) == codes[held]).sum())
                without_right += plain_right
                if len(keep) == 0:
                    with_right += plain_right
                    continue
                n_train = int(train.sum())
                model = SoftmaxRegression(l2=self.l2, max_iter=self.max_iter, tol=self.tol).fit(
                    np.concatenate([X[train], features[keep]]),
                    np.concatenate([codes[train], pseudo]),
                    k,
                    sample_weight=np.concatenate(
                        [np.ones(n_train), conf * (float(self.weight) * n_train / conf.sum())]
                    ),
                )
                with_right += int((model.predict_proba(X[held]).argmax(axis=1) == codes[held]).sum())
            self.gate_ = (with_right, without_right)
            return with_right >= without_right

    class RepeatedGate(SpreadRegression):
        """The gate's 5-fold check repeated over ``repeats`` fold assignments, counts summed (less noise)."""

        def __init__(self, repeats: int = 3, **kwargs):
            super().__init__(**kwargs)
            self.repeats = repeats

        def _spreading_wins(self, W, node, codes, X, k) -> bool:
            seed, total = self.seed, np.zeros(2, dtype=np.int64)
            try:
                for r in range(self.repeats):
                    self.seed = int(seed) + 7919 * r  # other folds on each repeat
                    super()._spreading_wins(W, node, codes, X, k)
                    total += self.gate_
            finally:
                self.seed = seed
            self.gate_ = (int(total[0]), int(total[1]))
            return total[0] >= total[1]

    return {"strict": StrictGate, "tolerant": TolerantGate, "model": ModelGate, "repeated": RepeatedGate}


def gate_variant(kind: str, *args, **kwargs):
    """A ``SpreadRegression`` with another gate: ``"strict"`` (a tie drops the pseudo-labels),
    ``"tolerant"`` (``tolerance``: open unless spreading is that fraction of the labels behind),
    ``"repeated"`` (``repeats`` of the 5-fold check) or ``"model"`` (checks the regression with
    pseudo-labels against the regression alone, not label spreading)."""
    return _gate_classes()[kind](*args, **kwargs)


def seed_spread_instances() -> None:
    """Give a ``SpreadRegression`` instance passed as the model the learner's seed, as ``"spread"`` gets.

    ``make_model`` clones an instance with its own seed (0), so without this
    every run of an instance variant checks its gate on the folds of seed 0.
    Replaces ``alwidget.learner.make_model`` for the rest of the process.
    """
    import alwidget.learner as L
    from alwidget import SpreadRegression

    original = L.make_model

    def make_model(spec, *, seed=0, device="cpu"):
        model = original(spec, seed=seed, device=device)
        if isinstance(spec, SpreadRegression):
            model.seed = seed
        return model

    L.make_model = make_model


# ----------------------------------------------------------------------------- soundscapes
def zeroad_audio_dir() -> Path:
    """The ``audio/`` folder read out of 0 A.D.'s ``public.zip`` (ambience and unit sounds, no music), made once."""
    zeroad_sound()  # downloads, unpacks and reads the sounds out of public.zip, once
    return CACHE / "x" / (deb_root("0ad-data").name + "-audio") / "audio"


def window_labels(
    starts: np.ndarray, recordings: list, events: dict, *, window: float, min_overlap: float, background: str
) -> np.ndarray:
    """Label of each window: the class whose events (``recording -> [(start, end, class), ...]``) overlap it
    most, in seconds summed over that class's events, if at least ``min_overlap``; else ``background``."""
    y = np.full(len(starts), background, dtype=object)
    for i, (s, rec) in enumerate(zip(np.asarray(starts, dtype=float), recordings)):
        cover: dict = {}
        for a, b, c in events.get(rec, ()):
            o = min(b, s + window) - max(a, s)
            if o > 0:
                cover[c] = cover.get(c, 0.0) + o
        if cover:
            c, o = max(cover.items(), key=lambda kv: (kv[1], str(kv[0])))
            if o >= min_overlap:
                y[i] = c
    return y


def mean_average_precision(y_true: np.ndarray, proba: np.ndarray, classes: list, positives: list) -> float:
    """Mean over ``positives`` (event classes) of scikit-learn's average precision of ``proba[:, class]``."""
    from sklearn.metrics import average_precision_score

    col = {c: j for j, c in enumerate(classes)}
    y_true = np.asarray(y_true)
    return float(np.mean([average_precision_score(y_true == c, proba[:, col[c]]) for c in positives]))
