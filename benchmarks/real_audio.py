"""Label efficiency of query strategies on REAL recordings (issue 12, part 1).

Pools are built from Debian packages of real recordings, downloaded with
``apt-get download`` and unpacked with ``dpkg-deb -x`` into a cache folder
(default ``~/.cache/alwidget-bench``; nothing is written into the repository):

* ``asterisk-lang``: spoken-language ID (en, es, fr, it, ru) on the Asterisk
  telephony prompts (``asterisk-core-sounds-<lang>-wav``, 8 kHz, one voice per
  language). Split by prompt type: the pool holds the sentence prompts, the
  test set the single-word prompts (digits, letters, phonetic alphabet), so
  the model must carry what it learnt on sentences over to isolated words.
  (A split by prompt name instead gives a 0.97 ceiling: too easy.)
* ``megaglest-unit``: kind of a unit's sound in the strategy game MegaGlest
  (``megaglest-data``): ``attack`` (weapon / spell sound), ``die`` (death
  cry) or ``voice`` (spoken acknowledgement or reply, ``*_ack``/``*_select``;
  kept apart the two voice kinds put the ceiling at 0.46). Split by faction:
  the pool and the test set come from different factions (other voice actors,
  other weapons). Byte-identical files are kept once.
* ``0ad-sound``: kind of a sound in the strategy game 0 A.D. (``0ad-data``;
  1.4 GB download, the sounds are read out of its ``public.zip`` once):
  ``voice`` (spoken unit commands, ``audio/voice/<language>``), ``death``
  (human and animal death cries), ``weapon`` (attack sounds: sword, spear,
  pike, bow, sling, ...), ``work`` (gathering, mining, lumbering, building,
  farming) or ``footsteps``. Split by sub-folder / sound family: the test set
  holds the Persian voices, the animal death cries, mining and farming, the
  footstep recordings outside ``actor/singlesteps`` and the ranged weapons
  (bow, arrow flight, javelin); the pool holds the rest (other languages and
  voice actors, human deaths, other work and weapons). Byte-identical files are
  kept once. The arrow/sling/shield impacts (``attack/impact``) are left out:
  as a sixth class they overlap with ``weapon`` and put the ceiling near 0.5.

Tried and left out (ceiling outside 0.6-0.95 or below the majority class):
Hedgewars voice lines split by voice pack (0.74 against a 0.78 majority;
effort / hurt / attack-shout / laugh / speech, 3 packs held out: median 0.69
against 0.74), MegaGlest attack vs death cry tested on Wesnoth (0.69 against
0.70), Asterisk prompt type split by language (0.49-0.64 against a 0.64
majority), Fish Fillets small vs big fish split by language (Czech vs Dutch
voices, ``fillets-ng-data-cs``/``-nl``: 0.50 against 0.52; split by level
instead: 0.99, too easy), Wesnoth unit sounds (die / hit / weapon / magic / miss
split by sound family, 255 clips: 0.41-0.59). Too few real sound effects
(about 100-300 each): Tux Paint stamps (108 outside the spoken descriptions),
FreedroidRPG, Warzone 2100, Widelands, Nexuiz, GCompris.

Features: alwidget's default embedder (``AudioDataset.from_files(...).embed()``,
log-mel statistics of 128 bands, 384 dims) at 16 kHz; the ceiling is also
reported at the files' native sample rate. The former default, 64 bands (192
dims), runs beside it with margin and random sampling (``[64 bands]`` rows),
the evidence for the change.

Every method starts cold (no labels), picks batches of 5 up to 150 labels, and
is scored after each batch on the held-out set with alwidget's linear model
(``SoftmaxRegression``, the learner's own model for the l2 variants), or with
``--model spread`` with the default model, ``"spread"``, which the alwidget
strategies then also pick with (curves saved apart, ``curves-<pool>-spread.npz``). alwidget
strategies and the candidate defaults run through :func:`alwidget.simulate`
(``n_initial=0``: the learner's k-means++ cold start until two classes have
labels). Peers (modAL, scikit-activeml) get random picks until two classes
have labels (they have no cold start of their own), except TypiClust, which
is a cold-start method.

Run::

    pip install "modAL-python==0.4.2.1" "scikit-activeml==1.0.1" "setuptools<82"   # peers, optional
    python benchmarks/real_audio.py            # all pools, all methods, 5 seeds
    python benchmarks/real_audio.py --model spread --all-peers   # the default pipeline, ~20 min a pool
    python benchmarks/real_audio.py --quick    # 2 pools, main strategies, 2 seeds
    python benchmarks/real_audio.py --report   # reprint the tables from the saved curves
    python benchmarks/real_audio.py --add "skactiveml margin"   # add one method to the saved curves
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import subprocess
import sys
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore", message=".*pkg_resources.*")
warnings.filterwarnings("ignore", module="skorch")
# the peers' LogisticRegression() keeps scikit-learn's default max_iter=100 (as their users would)
warnings.filterwarnings("ignore", message="lbfgs failed to converge")

import torch  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from alwidget import ActiveLearner, AudioDataset, simulate  # noqa: E402
from alwidget.features import LogMelEmbedder  # noqa: E402
from alwidget import strategies as S  # noqa: E402
from alwidget.models import SoftmaxRegression  # noqa: E402

CACHE = Path(os.environ.get("ALWIDGET_BENCH_CACHE", "~/.cache/alwidget-bench")).expanduser()
BATCH, BUDGET = 5, 150
CHECKPOINTS = (20, 50, 150)
ASTERISK_LANGS = ("en", "es", "fr", "it", "ru")


# ----------------------------------------------------------------------------- data
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
        subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp)], check=True)
        tmp.rename(out)
    return out


def _distinct(files: list[Path]) -> tuple[list[Path], int]:
    """``files`` without byte-identical repeats (the first kept, order kept), and how many were dropped."""
    kept, seen = [], set()
    for p in files:
        h = _md5(p)
        if h not in seen:
            seen.add(h)
            kept.append(p)
    return kept, len(files) - len(kept)


def deb_version(pkg: str) -> str:
    deb = sorted((CACHE / "debs").glob(f"{pkg}_*.deb"))[-1]
    return subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], capture_output=True, text=True).stdout.strip()


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@dataclass
class Source:
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
    import re

    pkg = "megaglest-data"
    techs = deb_root(pkg) / "usr/share/games/megaglest/techs"
    pat = re.compile(r"_(attack|die|ack|select)\d*\.(wav|ogg)$", re.IGNORECASE)
    paths, labels, groups = [], [], []
    files, dup = _distinct([p for p in sorted(techs.rglob("*")) if pat.search(p.name)])
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
    return Source(
        "megaglest-unit",
        [pkg],
        paths,
        labels,
        groups,
        test,
        rule,
        22050,
        [f"{dup} byte-identical duplicate files dropped"],
    )


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

    paths, dup = _distinct([p for p in sorted(base.rglob("*")) if p.is_file() and _zeroad_kind(rel(p))])
    labels = [_zeroad_kind(rel(p)) for p in paths]
    groups = [rel(p).rsplit("/", 1)[0] for p in paths]
    test = np.array([rel(p).startswith(ZEROAD_TEST) for p in paths])
    rule = (
        "split by sub-folder / sound family: test = Persian voices, animal death cries, mining and farming, "
        "footstep recordings outside actor/singlesteps, ranged weapons (bow, arrow flight, javelin); "
        "pool = the rest"
    )
    return Source(
        "0ad-sound",
        [pkg],
        paths,
        labels,
        groups,
        test,
        rule,
        44100,
        [f"{dup} byte-identical duplicate files dropped; attack/impact, ambience, interface and music left out"],
    )


SOURCES = {"asterisk-lang": asterisk_lang, "megaglest-unit": megaglest_unit, "0ad-sound": zeroad_sound}


@dataclass
class Pool:
    name: str
    src: Source
    X: np.ndarray  # (n_pool, d) raw embeddings (alwidget standardises internally)
    y: np.ndarray  # (n_pool,) str
    X_test: np.ndarray
    y_test: np.ndarray
    classes: list


def embed(src: Source, sr: int, embedder="logmel") -> tuple[np.ndarray, np.ndarray]:
    """Embeddings (one row per source file; NaN rows for files that cannot be read) and a keep mask."""
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
    y = np.asarray(src.labels, dtype=object)
    tr, te = keep & ~src.test, keep & src.test
    return Pool(src.name, src, X[tr], y[tr], X[te], y[te], sorted(set(y[tr])))


def ceiling(pool: Pool, l2: float = 1.0) -> float:
    """Held-out accuracy of the linear model trained on every pool label."""
    learner = ActiveLearner(pool.X, pool.classes, model=SoftmaxRegression(l2=l2))
    learner.teach(np.arange(len(pool.X)), pool.y)
    return learner.score(pool.X_test, pool.y_test)


# ----------------------------------------------------------------------------- candidate strategies
def _margin_after(cover, n_cover: int):
    """Strategy: ``cover`` picks while fewer than ``n_cover`` labels (or < 2 classes), then margin."""

    def strategy(learner, candidates, n, rng):
        lab = learner.labeled_idx
        if len(lab) < n_cover or len(set(learner.labels.values())) < 2:
            return cover(learner, candidates, n, rng)
        return S.margin_sampling(learner, candidates, n, rng)

    strategy.needs_model = False  # we handle the cold start ourselves
    return strategy


def _kpp_cover(learner, candidates, n, rng):
    lab = learner.labeled_idx
    centers = learner.features(lab) if len(lab) else None
    return candidates[S.kmeans_pp(learner.features(candidates), n, rng, centers=centers)]


def _typiclust_cover(learner, candidates, n, rng, k_nn: int = 20):
    """TypiClust (Hacohen et al., 2022): k-means with |labelled| + n clusters; from the largest
    clusters with no label, the most typical point (inverse mean distance to its k_nn neighbours)."""
    from sklearn.cluster import KMeans

    X = learner.features(np.arange(learner.n_pool)).astype(np.float64)
    lab = learner.labeled_idx
    k = len(lab) + n
    assign = KMeans(n_clusters=k, n_init=1, random_state=int(rng.integers(2**31))).fit_predict(X)
    covered = set(assign[lab].tolist())
    sizes = np.bincount(assign, minlength=k)
    is_cand = np.zeros(learner.n_pool, bool)
    is_cand[candidates] = True
    picks = []
    for c in sorted(range(k), key=lambda c: -sizes[c]):
        if len(picks) == n:
            break
        if c in covered:
            continue
        members = np.flatnonzero((assign == c) & is_cand)
        if not len(members):
            continue
        Xm = X[assign == c]
        d = np.sqrt(S._sq_dist(X[members], Xm))
        kk = min(k_nn, len(Xm) - 1)
        typ = 1.0 / (np.sort(d, axis=1)[:, 1 : kk + 1].mean(axis=1) + 1e-8) if kk > 0 else np.ones(len(members))
        picks.append(int(members[np.argmax(typ)]))
    if len(picks) < n:  # fewer uncovered clusters than picks: fill with k-means++
        rest = np.setdiff1d(candidates, picks)
        picks += list(_kpp_cover(learner, rest, n - len(picks), rng))
    return np.asarray(picks, dtype=np.int64)


def margin_random(p: float):
    """Margin, with each pick replaced by a uniformly random clip with probability ``p``."""

    def strategy(learner, candidates, n, rng):
        k = int(rng.binomial(n, p))
        rand = rng.choice(candidates, size=k, replace=False) if k else np.empty(0, np.int64)
        rest = np.setdiff1d(candidates, rand)
        return np.concatenate([rand, S.margin_sampling(learner, rest, n - k, rng)]).astype(np.int64)

    return strategy


def candidate_strategies() -> dict:
    """name -> (strategy, l2) for the candidate defaults run through simulate."""
    out = {}
    for name, fn in {
        "margin+kpp20": _margin_after(_kpp_cover, 20),
        "margin+typiclust20": _margin_after(_typiclust_cover, 20),
        "margin+rand10%": margin_random(0.10),
        "margin+rand20%": margin_random(0.20),
    }.items():
        fn.__name__ = name
        out[name] = (fn, 1.0)
    for l2 in (0.1, 10.0, 100.0):
        out[f"margin l2={l2:g}"] = ("margin", l2)
    out["entropy l2=10"] = ("entropy", 10.0)
    out["margin [spread]"] = ("margin", "spread")  # the default model since the fifth session of issue 12
    return out


ALWIDGET = ("random", "least_confidence", "margin", "entropy", "diverse", "vote_entropy", "bald")
QUICK_ALWIDGET = ("random", "margin", "entropy", "diverse")


# ----------------------------------------------------------------------------- peers
def _standardise(X):
    mean = X.mean(0, dtype=np.float64)
    std = X.std(0, dtype=np.float64)
    std[std < 1e-12] = 1.0
    return lambda A: ((A - mean) / std).astype(np.float32)


def peer_selector(method: str, Xs: np.ndarray, y_codes: np.ndarray, n_classes: int, seed: int):
    """A function (labelled pool indices, n) -> n new pool indices for a peer method."""
    from sklearn.linear_model import LogisticRegression

    if method.startswith("modAL"):
        from modAL.models import ActiveLearner as ModalLearner
        from modAL.uncertainty import margin_sampling, uncertainty_sampling

        fn = margin_sampling if method.endswith("margin") else uncertainty_sampling

        def select(lab, n):
            # modAL 0.4.2.1's teach() fails with scikit-learn >= 1.8 (force_all_finite); rebuild on all labels
            learner = ModalLearner(
                estimator=LogisticRegression(), query_strategy=fn, X_training=Xs[lab], y_training=y_codes[lab]
            )
            unl = np.setdiff1d(np.arange(len(Xs)), lab)
            idx, _ = learner.query(Xs[unl], n_instances=n)
            return unl[np.asarray(idx)]

        return select
    from skactiveml.classifier import SklearnClassifier
    from skactiveml.pool import Badge, TypiClust, UncertaintySampling

    clf = SklearnClassifier(LogisticRegression(), classes=np.arange(n_classes), random_state=seed)
    y_q = np.full(len(Xs), np.nan)
    kind = method.split()[1]
    if kind == "TypiClust":
        qs = TypiClust(random_state=seed)

        def select(lab, n):
            y_q[lab] = y_codes[lab]
            return qs.query(Xs, y_q, batch_size=n)

        return select
    if kind == "Badge":
        qs = Badge(random_state=seed)
    else:
        qs = UncertaintySampling(method="margin_sampling" if kind == "margin" else "least_confident", random_state=seed)

    def select(lab, n):
        y_q[lab] = y_codes[lab]
        return qs.query(Xs, y_q, clf=clf, batch_size=n)

    return select


# scikit-activeml's least-confident and margin rules are the same as modAL's (identical curves up to
# rounding in benchmarks/compare_peers.py); they are left out to save time (--all-peers adds them)
PEERS = ("modAL least_confident", "modAL margin", "skactiveml TypiClust", "skactiveml Badge")
ALL_PEERS = PEERS + ("skactiveml least_confident", "skactiveml margin")
COMMITTEE = ("vote_entropy", "bald")


def peer_curves(method: str, pool: Pool, seeds, steps, model="linear") -> np.ndarray:
    """Held-out accuracy ``(seeds, steps)`` of the clips ``method`` picks, scored by an ActiveLearner with ``model``."""
    code = {c: i for i, c in enumerate(pool.classes)}
    y_codes = np.array([code[v] for v in pool.y])
    Xs = _standardise(pool.X)(pool.X)
    out = np.zeros((len(seeds), len(steps)))
    for j, seed in enumerate(seeds):
        rng = np.random.default_rng([seed, 31])
        select = peer_selector(method, Xs, y_codes, len(pool.classes), seed)
        evaluator = ActiveLearner(pool.X, pool.classes, seed=seed, model=model)
        lab: list[int] = []
        for k, target in enumerate(steps):
            n = int(target - len(lab))
            if len(set(y_codes[lab].tolist())) < 2 and "TypiClust" not in method:
                unl = np.setdiff1d(np.arange(len(Xs)), lab)
                picks = rng.choice(unl, size=n, replace=False)
            else:
                picks = np.asarray(select(np.asarray(lab, dtype=np.int64), n), dtype=np.int64)
            if len(picks) != n or len(set(picks.tolist()) | set(lab)) != target:
                raise RuntimeError(f"{method} returned {picks.tolist()}")
            lab.extend(picks.tolist())
            evaluator.teach(picks, pool.y[picks])
            out[j, k] = evaluator.score(pool.X_test, pool.y_test)
    return out


# ----------------------------------------------------------------------------- runs and tables
def _model(spec):
    """A number is the l2 of the linear model; anything else is passed to simulate as the model."""
    if isinstance(spec, (int, float)):
        return "linear" if spec == 1.0 else SoftmaxRegression(l2=spec)
    return spec


def alwidget_curves(pool: Pool, strategies: dict, seeds) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """strategies: name -> (strategy, l2 of the linear model or a model spec); one simulate call per model."""
    by_model: dict = {}
    for name, (strat, spec) in strategies.items():
        key = spec if isinstance(spec, (int, float, str)) else id(spec)
        by_model.setdefault(key, (spec, []))[1].append((name, strat))
    out, steps = {}, None
    for spec, items in by_model.values():
        model = _model(spec)
        curves = simulate(
            pool.X,
            pool.y,
            strategies=[s for _, s in items],
            budget=BUDGET,
            batch_size=BATCH,
            n_initial=0,
            seeds=seeds,
            test=(pool.X_test, pool.y_test),
            model=model,
            classes=pool.classes,
            progress=False,
        )
        steps = curves.n_labels
        for i, (name, _) in enumerate(items):
            out[name] = curves.accuracy[i]
    return steps, out


def aulc(curves: np.ndarray, steps: np.ndarray) -> np.ndarray:
    return np.trapezoid(curves, steps, axis=-1) / (steps[-1] - steps[0])


def reach(mean_curve, steps, target) -> str:
    hit = np.flatnonzero(mean_curve >= target - 1e-12)
    return str(int(steps[hit[0]])) if len(hit) else f"> {BUDGET}"


def table(curves: dict[str, np.ndarray], steps: np.ndarray, ceil: float) -> str:
    target = float(curves["random"][:, -1].mean())
    cols = [f"acc@{c}" for c in CHECKPOINTS]
    lines = [
        f"| method | {' | '.join(cols)} | AULC 5-150 | labels to reach random@150 ({target:.3f}) |",
        "|---|" + "---|" * (len(cols) + 2),
    ]
    n_max = max(len(c) for c in curves.values())
    for name, c in curves.items():
        if len(c) < n_max:
            name = f"{name} ({len(c)} seeds)"
        cells = []
        for cp in CHECKPOINTS:
            k = int(np.flatnonzero(steps == cp)[0])
            cells.append(f"{c[:, k].mean():.3f} ± {c[:, k].std():.3f}")
        a = aulc(c, steps)
        per_seed = [reach(c[s], steps, target) for s in range(len(c))]
        lines.append(
            f"| {name} | {' | '.join(cells)} | {a.mean():.3f} ± {a.std():.3f} | "
            f"{reach(c.mean(0), steps, target)} (seeds: {', '.join(per_seed)}) |"
        )
    lines.append(f"| *ceiling: linear model, all pool labels* | | | {ceil:.3f} | | |")
    return "\n".join(lines)


def paired(curves: dict[str, np.ndarray], steps: np.ndarray, ref: str) -> str:
    """AULC difference to ``ref`` per seed (same seeds): mean, std, min..max."""
    base = aulc(curves[ref], steps)
    lines = [
        f"| method | AULC − {ref} (mean ± std over seeds) | min .. max | every seed better? |",
        "|---|---|---|---|",
    ]
    for name, c in sorted(curves.items(), key=lambda kv: -aulc(kv[1], steps).mean()):
        if name == ref:
            continue
        d = aulc(c, steps) - base[: len(c)]
        lines.append(
            f"| {name} | {d.mean():+.3f} ± {d.std():.3f} | {d.min():+.3f} .. {d.max():+.3f} | "
            f"{'yes' if (d > 1e-9).all() else ('no, every seed worse' if (d < -1e-9).all() else 'no')} |"
        )
    return "\n".join(lines)


def across(results: dict) -> str:
    """One row per method: paired AULC difference to entropy (today's default) and to margin, per pool."""
    names = [n for n in next(iter(results.values()))[1] if all(n in c for _, c in results.values())]
    head = " | ".join(f"{p}: − {ref}" for ref in ("entropy", "margin") for p in results)
    lines = [
        "\n## Across pools: paired AULC difference (mean ± std over seeds; * = same sign on every seed)\n",
        f"| method | {head} |",
        "|---|" + "---|" * (2 * len(results)),
    ]
    for n in names:
        cells = []
        for ref in ("entropy", "margin"):
            for steps, c in results.values():
                if n == ref or ref not in c:
                    cells.append("")
                    continue
                d = aulc(c[n], steps) - aulc(c[ref], steps)[: len(c[n])]
                star = "*" if (d > 1e-9).all() or (d < -1e-9).all() else ""
                cells.append(f"{d.mean():+.3f} ± {d.std():.3f}{star}")
        lines.append(f"| {n} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


def describe(pool: Pool, X_all: np.ndarray, src: Source) -> str:
    pkgs = ", ".join(f"`{p}` {deb_version(p)}" for p in src.packages)
    cp, ct = Counter(pool.y.tolist()), Counter(pool.y_test.tolist())
    gp = sorted(set(np.asarray(src.groups, dtype=object)[~src.test].tolist()))
    gt = sorted(set(np.asarray(src.groups, dtype=object)[src.test].tolist()))
    counts = ", ".join(f"{c} {cp[c]}/{ct[c]}" for c in pool.classes)
    lines = [
        f"- packages: {pkgs}",
        f"- {len(pool.X)} pool clips, {len(pool.X_test)} test clips, {len(pool.classes)} classes; "
        f"per class pool/test: {counts}",
        f"- split: {src.split_rule} ({len(gp)} groups in the pool, {len(gt)} in the test set)",
    ]
    if len(gp) <= 12:
        lines.append(f"- pool groups: {', '.join(gp)}; test groups: {', '.join(gt)}")
    lines += [f"- {n}" for n in src.notes]
    return "\n".join(lines)


TAG = ""  # "-quick" for --quick runs, so a smoke run never overwrites the full run's curves


def save(name: str, steps, curves: dict) -> None:
    """Keep the curves so far in the cache folder (``curves-<pool>.npz``, one array per method)."""
    np.savez(
        CACHE / f"curves-{name}{TAG}.npz",
        steps=steps,
        names=np.array(list(curves)),
        **{f"m{i}": c for i, c in enumerate(curves.values())},
    )


def load(name: str) -> tuple[np.ndarray, dict]:
    d = np.load(CACHE / f"curves-{name}{TAG}.npz")
    names = [str(n) for n in d["names"]]
    if "acc" in d:
        return d["steps"], dict(zip(names, d["acc"]))
    return d["steps"], {n: d[f"m{i}"] for i, n in enumerate(names)}


def report(curves: dict, steps, ceil: float) -> None:
    n = {len(c) for c in curves.values()}
    print(
        f"\n### Accuracy on the held-out set (mean ± std over {max(n)} seeds"
        f"{'' if len(n) == 1 else '; methods marked (k seeds) ran on the first k only'})\n"
    )
    print(table(curves, steps, ceil))
    for ref in ("random", "entropy", "margin"):
        if ref in curves:
            print(f"\nPaired AULC difference to `{ref}` (same seeds):\n")
            print(paired(curves, steps, ref))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 pools, main strategies, 2 seeds")
    ap.add_argument("--pools", nargs="*", default=None, help=f"subset of {list(SOURCES)}")
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--all-peers", action="store_true", help="also scikit-activeml least-confident and margin")
    ap.add_argument("--no-native", action="store_true", help="skip the native-sample-rate ceiling")
    ap.add_argument(
        "--committee-seeds",
        type=int,
        default=None,
        help="run vote_entropy and bald (the slowest) on the first N seeds only",
    )
    ap.add_argument("--report", action="store_true", help="print the tables from the curves saved by an earlier run")
    ap.add_argument(
        "--add",
        nargs="+",
        metavar="METHOD",
        help='run only these methods (e.g. "skactiveml margin") and add them to the curves saved by an earlier run',
    )
    ap.add_argument(
        "--model",
        default="linear",
        choices=["linear", "spread"],
        help='score every method with this model: "spread" is the default pipeline (margin + "spread"); '
        "without the candidates and the 64-band rows",
    )
    args = ap.parse_args(argv)
    global TAG
    TAG = ("-quick" if args.quick else "") + ("-spread" if args.model == "spread" else "")
    spec = 1.0 if args.model == "linear" else args.model  # the linear model with l2 = 1, or "spread"
    pools = args.pools or (["asterisk-lang", "megaglest-unit"] if args.quick else list(SOURCES))
    seeds = list(range(args.seeds or (2 if args.quick else 5)))
    torch.set_num_threads(1)
    t_start = time.perf_counter()
    print(
        f"# Label efficiency on real recordings\n\nseeds {seeds}, batch {BATCH}, budget {BUDGET}, cold start; "
        f"{platform.python_version()}, torch {torch.__version__}, numpy {np.__version__}\n"
    )
    results: dict = {}
    with threadpool_limits(1):
        for name in pools:
            t0 = time.perf_counter()
            src = SOURCES[name]()
            X, keep = embed(src, 16000)
            pool = make_pool(src, X, keep)
            ceil = ceiling(pool)
            print(f"## Pool `{name}`\n\n{describe(pool, X, src)}")
            line = f"- ceiling (linear model, all pool labels, 16 kHz): {ceil:.3f}"
            if not args.no_native:
                Xn, keepn = embed(src, src.native_sr)
                line += f"; at the native {src.native_sr} Hz: {ceiling(make_pool(src, Xn, keepn)):.3f}"
            print(line + f"; l2=0.1: {ceiling(pool, 0.1):.3f}, l2=10: {ceiling(pool, 10.0):.3f}", flush=True)
            if args.report:
                steps, curves = load(name)
                report(curves, steps, ceil)
                results[name] = (steps, curves)
                continue
            if args.add:
                steps, curves = load(name)
                cands = candidate_strategies()
                for m in args.add:
                    if m in ALL_PEERS:
                        curves[m] = peer_curves(m, pool, seeds, steps, model=_model(spec))
                    elif m in cands or m in S.available():
                        curves.update(alwidget_curves(pool, {m: cands.get(m, (m, spec))}, seeds)[1])
                    else:
                        raise SystemExit(f"unknown method {m!r}; use a strategy, a candidate or one of {ALL_PEERS}")
                    save(name, steps, curves)
                    print(f"- {m}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
                report(curves, steps, ceil)
                results[name] = (steps, curves)
                continue
            names = QUICK_ALWIDGET if args.quick else ALWIDGET
            strategies = {s: (s, spec) for s in names if s not in COMMITTEE}
            if args.model == "linear":
                strategies.update(
                    candidate_strategies()
                    if not args.quick
                    else {k: v for k, v in candidate_strategies().items() if k in ("margin+kpp20",)}
                )
            steps, curves = alwidget_curves(pool, strategies, seeds)
            if not args.quick and args.model == "linear":  # the former default features (64 mel bands)
                old = make_pool(src, *embed(src, 16000, LogMelEmbedder(n_mels=64)))
                _, more = alwidget_curves(old, {"margin": ("margin", 1.0), "random": ("random", 1.0)}, seeds)
                curves.update({f"{k} [64 bands]": v for k, v in more.items()})
                print(f"- ceiling with 64 mel bands (192 dims): {ceiling(old):.3f}", flush=True)
            save(name, steps, curves)
            print(f"- alwidget runs: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
            if not args.no_peers:
                peers = PEERS[1:3] if args.quick else ALL_PEERS if args.all_peers else PEERS
                for peer in peers:
                    try:
                        curves[peer] = peer_curves(peer, pool, seeds, steps, model=_model(spec))
                    except ImportError as exc:
                        print(f"- peer {peer} skipped: {exc}")
                    save(name, steps, curves)
                    print(f"- {peer}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
            committee = {s: (s, spec) for s in names if s in COMMITTEE}
            if committee:  # slowest (a committee of 5 refits per query): last
                _, more = alwidget_curves(pool, committee, seeds[: args.committee_seeds or len(seeds)])
                curves.update(more)
                save(name, steps, curves)
            report(curves, steps, ceil)
            results[name] = (steps, curves)
            print(f"\n(pool `{name}`: {time.perf_counter() - t0:.0f} s)\n", flush=True)
    if len(results) > 1:
        print(across(results))
    print(f"Total runtime: {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
