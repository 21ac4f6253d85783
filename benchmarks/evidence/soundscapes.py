"""Background subtraction on soundscapes of real recordings: detection and search by example.

Window embeddings of long recordings are dominated by their background.
``alwidget.background.subtract_background`` takes each recording's running
median (or mean) embedding out of its windows; this script measures what that
is worth on soundscapes built from Debian packages of real recordings, with
events planted at known times.

Pools (packages fetched with ``apt-get download`` and unpacked into the cache
folder, ``~/.cache/alwidget-bench`` or ``ALWIDGET_BENCH_CACHE``; nothing is
installed and nothing is written into the repository):

* ``0ad-soundscape`` (``0ad-data``): beds from 0 A.D.'s ambience
  (``audio/ambient``: dayscapes, rivers and waves, rain, wind, storms, farms,
  ports, markets); events of four classes: ``animal`` (calls of cattle,
  horses, elephants, pigs, ...), ``voice`` (spoken unit commands in four
  languages), ``weapon`` (sword, spear, bow, musket, ...), ``work``
  (gathering crops, lumbering, building, mining).
* ``megaglest-soundscape`` (``megaglest-data``): beds from MegaGlest's tileset
  ambiences (day, night, rain and wind of forests, deserts, winter, hell);
  events of three classes: ``voice`` (a unit's spoken acknowledgement),
  ``attack`` (weapon or spell), ``die`` (death cry), as in ``real_audio``.
* ``crossed-soundscape``: MegaGlest's beds with events from other packages:
  ``speech`` (Asterisk's sentence prompts, ``asterisk-core-sounds-*-wav``,
  five languages) and 0 A.D.'s ``animal``, ``weapon`` and ``work``.

Each pool has 12 recordings to label and 6 held-out recordings of 5 minutes
(16 kHz mono WAV). A recording is two or three beds of its split in turn
(each looped from a random offset, 3 s cross-fades, level -30 dBFS ± 6 dB),
so its background changes inside it. Events (files of 0.5 s or more after
trimming silence, the first 4 s of longer ones) come one after another with
gaps of 1 s plus an exponential of mean 8 s, class uniform, at an SNR
uniform in 0 .. +15 dB against the bed's RMS. Bed files and event files are
split once (a fixed seed) into pool, held-out and reference files: the
held-out recordings hold beds and events never in the pool, and the 5
reference files per class are in neither. A seed draws everything else (beds
and their order, offsets and levels, event times, files and SNRs).

Windows: ``AudioDataset.from_recordings(window=2, hop=1)``, the default
embedder (log-mel statistics, 384 dims). A window's label is the event class
that covers most of it (0.5 s or more), else ``background``.

Variants: the raw embeddings and ``subtract_background`` with the running
median or mean over radius 15, 30 or 60 windows, and the median of the whole
recording; applied to the pool and to the held-out windows alike.

Metrics per variant:

* detection mAP: the mean over event classes of scikit-learn's average
  precision of the class probability on the held-out windows, after 100
  labels (the first 10 from search by example with one reference file per
  class, their hits labelled in turn, then ``margin`` in batches of 10;
  models ``"spread"``, the default, and ``"linear"``), and with every pool
  label (the linear model);
* search by example, precision at 10 over the pool (``learner.similar``):
  with each clean reference file (5 per class; the event alone, zero-padded
  to the window; for the subtracted variants its embedding minus the pool's
  median window, the typical background); with each reference file mixed
  into 3 pool windows with no event (+5 dB, at a random time), minus those
  windows' backgrounds under the variant (their mean direction; the 3 host
  windows excluded); and with 25 pool windows per class (the windows that
  overlap the query's own event excluded). The first 10 labels of the
  detection runs come from the mixed query of one reference file per class.

Run from the repository root (a pool and a seed: 1-3 minutes here)::

    python -m benchmarks.evidence.soundscapes                  # every pool, 5 seeds
    python -m benchmarks.evidence.soundscapes --pools 0ad-soundscape --seeds 2
    python -m benchmarks.evidence.soundscapes --quick          # 1 seed, raw and median r30, "spread"
    python -m benchmarks.evidence.soundscapes --report         # the tables from saved results
    python -m benchmarks.evidence.soundscapes --cost           # subtract_background speed only

Results per pool and seed are saved in the cache folder; ``--report`` prints
the tables from them.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import re
import time
import warnings

import numpy as np

from benchmarks import _common as C

SR = 16000
WINDOW, HOP, MIN_OVERLAP = 2.0, 1.0, 0.5
REC_SECONDS, N_POOL_REC, N_TEST_REC = 300.0, 12, 6
SNR_DB = (0.0, 15.0)
BED_DBFS, BED_SPREAD_DB = -30.0, 6.0
GAP_MIN, GAP_MEAN = 1.0, 8.0
EVENT_MIN, EVENT_MAX = 0.5, 4.0
REFS_PER_CLASS, WINDOW_QUERIES = 5, 25
MIX_HOSTS, MIX_SNR_DB = 3, 5.0  # a reference mixed into 3 pool background windows at +5 dB
COLD, BUDGET, BATCH = 10, 100, 10
CHECKPOINTS = (10, 20, 50, 100)
BACKGROUND = "background"
SPLIT_SEED = 20261127  # the fixed split of bed and event files into pool / held-out / reference
VARIANTS = {
    "raw": None,
    "median r15": ("median", 15),
    "median r30": ("median", 30),
    "median r60": ("median", 60),
    "median, whole recording": ("median", 10**6),
    "mean r15": ("mean", 15),
    "mean r30": ("mean", 30),
    "mean r60": ("mean", 60),
}
MODELS = ("spread", "linear")
METRICS = {
    "map100 spread": "mAP@100 spread",
    "map100 linear": "mAP@100 linear",
    "map all": "mAP all labels",
    "p10 file": "p@10 file",
    "p10 mixed": "p@10 file on background",
    "p10 window": "p@10 window",
}
SETTINGS = dict(
    sr=SR,
    window=WINDOW,
    hop=HOP,
    min_overlap=MIN_OVERLAP,
    rec=REC_SECONDS,
    n=(N_POOL_REC, N_TEST_REC),
    snr=SNR_DB,
    bed=(BED_DBFS, BED_SPREAD_DB),
    gap=(GAP_MIN, GAP_MEAN),
    event=(EVENT_MIN, EVENT_MAX),
    refs=REFS_PER_CLASS,
    split=SPLIT_SEED,
    version=1,
)
TAG = hashlib.md5(json.dumps(SETTINGS, sort_keys=True).encode()).hexdigest()[:8]  # names the recordings
EVAL = 2  # the evaluation's version: names the saved results
OUT = C.CACHE / "soundscapes"


def _set_gap_mean(seconds: float) -> None:
    global GAP_MEAN, TAG
    GAP_MEAN = seconds
    SETTINGS["gap"] = (GAP_MIN, GAP_MEAN)
    TAG = hashlib.md5(json.dumps(SETTINGS, sort_keys=True).encode()).hexdigest()[:8]


# ----------------------------------------------------------------------------- sources
def _split(files: list, n_ref: int, test_share: float, key: str) -> dict:
    """Files split once, the same in every run: ``n_ref`` reference files, a share held out, the rest pool."""
    files = sorted(files)
    rng = np.random.default_rng([SPLIT_SEED, int(hashlib.md5(key.encode()).hexdigest()[:8], 16)])
    files = [files[i] for i in rng.permutation(len(files))]
    n_test = int(round(test_share * (len(files) - n_ref)))
    return {"ref": files[:n_ref], "test": files[n_ref : n_ref + n_test], "pool": files[n_ref + n_test :]}


def zeroad_source() -> dict:
    base = C.zeroad_audio_dir()
    amb = base / "ambient"
    # held-out beds: other dayscapes, the sea, snow and the second thunder, the markets
    test_beds = ("dayscape/day_tropical_", "dayscape/day_temperate_gen_03", "water/wave", "weather/snowstorm")
    test_beds += ("weather/thunder_11", "building/amb_trade_")
    beds = {"pool": [], "test": []}
    for p in sorted(amb.rglob("*.ogg")):
        if _seconds(str(p)) >= 8.0:
            beds["test" if p.relative_to(amb).as_posix().startswith(test_beds) else "pool"].append(str(p))
    folders = {
        "animal": ["actor/fauna/animal"],
        "voice": ["voice/greek/civ", "voice/latin/civ", "voice/napatan/civ", "voice/persian/civ"],
        "weapon": ["attack/weapon"],
        "work": ["resource/gathering", "resource/lumbering", "resource/construction", "resource/mining"],
    }
    events = {}
    for c, dirs in folders.items():
        files, _ = C.distinct_files(sorted(p for d in dirs for p in (base / d).glob("*.ogg")))
        events[c] = _split([str(p) for p in files if _usable(str(p))], REFS_PER_CLASS, 0.3, c)
    return {"packages": ["0ad-data"], "beds": beds, "events": events}


MEGAGLEST_TEST_TILESETS = ("fernland", "mediterran", "winter_forest", "desert2", "hell")
MEGAGLEST_ANIMALS = re.compile(r"(chicken|wolf|owl|rooster|hawk|cow|good_morning)", re.IGNORECASE)


def megaglest_source() -> dict:
    root = C.deb_root("megaglest-data") / "usr/share/games/megaglest"
    tiles = root / "tilesets"
    files, _ = C.distinct_files([p for p in sorted(tiles.glob("*/sounds/*")) if p.suffix.lower() in (".ogg", ".wav")])
    beds = {"pool": [], "test": []}
    for p in files:  # the first tileset of a shared file decides its split
        if MEGAGLEST_ANIMALS.search(p.name) or _seconds(str(p)) < 8.0:
            continue
        beds["test" if p.parent.parent.name in MEGAGLEST_TEST_TILESETS else "pool"].append(str(p))
    src = C.megaglest_unit()  # voice / attack / die, byte-identical files kept once
    events = {}
    for c in ("voice", "attack", "die"):
        paths = [str(p) for p, lab in zip(src.paths, src.labels) if lab == c]
        events[c] = _split([p for p in paths if _usable(p)], REFS_PER_CLASS, 0.3, c)
    return {"packages": ["megaglest-data"], "beds": beds, "events": events}


def crossed_source() -> dict:
    """MegaGlest's beds with events from other packages: Asterisk's spoken prompts and three 0 A.D. classes."""
    mg, za = megaglest_source(), zeroad_source()
    src = C.asterisk_lang()
    speech = [str(p) for p, g in zip(src.paths, src.groups) if "/" not in g]  # the top-level sentence prompts
    events = {"speech": _split([p for p in speech if _usable(p)], REFS_PER_CLASS, 0.3, "speech")}
    events.update({c: za["events"][c] for c in ("animal", "weapon", "work")})
    return {"packages": [*mg["packages"], *za["packages"], *src.packages], "beds": mg["beds"], "events": events}


SOURCES = {
    "0ad-soundscape": zeroad_source,
    "megaglest-soundscape": megaglest_source,
    "crossed-soundscape": crossed_source,
}


# ----------------------------------------------------------------------------- audio
def _seconds(path: str) -> float:
    import soundfile as sf

    return sf.info(path).duration


@functools.lru_cache(maxsize=4096)
def _mono(path: str) -> np.ndarray:
    """The file at 16 kHz, mono, float32."""
    import soundfile as sf
    import soxr

    y, sr = sf.read(path, dtype="float32", always_2d=True)
    y = y.mean(axis=1)
    if sr != SR:
        y = soxr.resample(y, sr, SR, quality="HQ").astype(np.float32)
    return y


@functools.lru_cache(maxsize=4096)
def _event(path: str) -> np.ndarray | None:
    """The event's audible part (20 ms frames within 35 dB of the loudest), at most 4 s, faded; None if < 0.5 s."""
    y = _mono(path)
    f = int(0.02 * SR)
    n = len(y) // f
    if n == 0:
        return None
    rms = np.sqrt((y[: n * f].reshape(n, f) ** 2).mean(axis=1) + 1e-20)
    loud = np.flatnonzero(20 * np.log10(rms / rms.max()) > -35.0)
    y = y[loud[0] * f : (loud[-1] + 1) * f]
    if len(y) < EVENT_MIN * SR:
        return None
    y = y[: int(EVENT_MAX * SR)].copy()
    fade = int(0.01 * SR)
    y[:fade] *= np.linspace(0, 1, fade, dtype=np.float32)
    y[-fade:] *= np.linspace(1, 0, fade, dtype=np.float32)
    return y


def _usable(path: str) -> bool:
    try:
        return _event(path) is not None
    except Exception:  # an unreadable file is no event
        return False


def _rms(y: np.ndarray) -> float:
    return float(np.sqrt(np.mean(y.astype(np.float64) ** 2)) + 1e-12)


def _loop(bed: np.ndarray, n: int, rng) -> np.ndarray:
    """``n`` samples of ``bed`` looped (1 s cross-fades at the joins), from a random offset."""
    xf = min(SR, len(bed) // 4)
    ramp = np.linspace(0, 1, xf, dtype=np.float32)
    offset = int(rng.integers(len(bed)))
    out = bed.copy()
    while len(out) < offset + n:
        nxt = bed.copy()
        nxt[:xf] = nxt[:xf] * ramp + out[-xf:] * (1 - ramp)
        out = np.concatenate([out[:-xf], nxt])
    return out[offset : offset + n]


def make_recording(bed_files: list, event_files: dict, rng) -> tuple[np.ndarray, list]:
    """One soundscape: 2-3 beds in turn and events at known times. Returns the audio and ``[(start, end, class)]``."""
    n = int(REC_SECONDS * SR)
    k = int(rng.integers(2, 4))
    chosen = [bed_files[i] for i in rng.choice(len(bed_files), size=min(k, len(bed_files)), replace=False)]
    cuts = np.sort(rng.uniform(0.25, 0.75, size=len(chosen) - 1)) if len(chosen) > 1 else np.array([])
    bounds = np.concatenate([[0], (cuts * n).astype(int), [n]])
    xf = 3 * SR
    audio = np.zeros(n, dtype=np.float32)
    seg_rms = np.zeros(n, dtype=np.float32)
    for j, path in enumerate(chosen):
        a, b = max(0, bounds[j] - xf // 2), min(n, bounds[j + 1] + xf // 2)
        seg = _loop(_mono(path), b - a, rng)
        level = 10 ** ((BED_DBFS + rng.uniform(-BED_SPREAD_DB, BED_SPREAD_DB)) / 20)
        seg = seg * (level / _rms(seg))
        env = np.ones(b - a, dtype=np.float32)
        if a > 0:
            env[:xf] = np.linspace(0, 1, xf)
        if b < n:
            env[-xf:] = np.linspace(1, 0, xf)
        audio[a:b] += seg * env
        seg_rms[bounds[j] : bounds[j + 1]] = level
    classes = sorted(event_files)
    events, t = [], GAP_MIN + rng.exponential(GAP_MEAN)
    while True:
        c = classes[int(rng.integers(len(classes)))]
        files = event_files[c]
        ev = _event(files[int(rng.integers(len(files)))])
        a = int(t * SR)
        if a + len(ev) > n:
            break
        snr = rng.uniform(*SNR_DB)
        gain = float(seg_rms[a]) * 10 ** (snr / 20) / _rms(ev)
        audio[a : a + len(ev)] += gain * ev
        events.append((a / SR, (a + len(ev)) / SR, c))
        t = (a + len(ev)) / SR + GAP_MIN + rng.exponential(GAP_MEAN)
    peak = float(np.abs(audio).max())
    if peak > 0.99:
        audio *= 0.99 / peak
    return audio, events


def build(name: str, seed: int) -> dict:
    """Write (once) the pool's recordings and reference files for ``seed``; return the manifest."""
    import soundfile as sf

    folder = OUT / f"{name}-{TAG}" / f"seed{seed}"
    manifest = folder / "manifest.json"
    if manifest.exists():
        return json.loads(manifest.read_text())
    src = SOURCES[name]()
    rng = np.random.default_rng([seed, 7])
    tmp = folder.with_name(folder.name + ".part")
    if tmp.exists():
        import shutil

        shutil.rmtree(tmp)
    events: dict = {}
    for split, count in (("pool", N_POOL_REC), ("test", N_TEST_REC)):
        (tmp / split).mkdir(parents=True)
        ev_files = {c: s[split] for c, s in src["events"].items()}
        for r in range(count):
            audio, evs = make_recording(src["beds"][split], ev_files, rng)
            rel = f"{split}/rec{r:02d}.wav"
            sf.write(str(tmp / rel), audio, SR, subtype="PCM_16")
            events[rel] = evs
    (tmp / "refs").mkdir()
    refs = {}
    for c, s in src["events"].items():
        refs[c] = []
        for k, path in enumerate(s["ref"]):
            rel = f"refs/{c}_{k}.wav"
            sf.write(str(tmp / rel), _event(path), SR, subtype="PCM_16")
            refs[c].append(rel)
    info = {
        "packages": {p: C.deb_version(p) for p in src["packages"]},
        "beds": {k: [_short(p) for p in v] for k, v in src["beds"].items()},
        "event_files": {c: {k: len(v) for k, v in s.items()} for c, s in src["events"].items()},
    }
    data = {"name": name, "seed": seed, "events": events, "refs": refs, "info": info}
    (tmp / "manifest.json").write_text(json.dumps(data))
    tmp.rename(folder)
    return json.loads(manifest.read_text())


def _short(path: str) -> str:
    return "/".join(path.split("/")[-3:])


# ----------------------------------------------------------------------------- evaluation
def embed(folder, rels: list):
    from alwidget import AudioDataset

    ds = AudioDataset.from_recordings([str(folder / r) for r in rels], window=WINDOW, hop=HOP, sr=SR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        X = ds.embed("logmel", progress=False, cache_dir=str(C.CACHE / "embeddings"), n_jobs=1, background=None)
    recs = [_rec_of(ds, i, folder) for i in range(len(ds))]
    starts = np.array([ds.start(i) for i in range(len(ds))])
    return ds, X, recs, starts


def _rec_of(ds, i, folder) -> str:
    import os

    return os.path.relpath(ds.paths[i], folder).replace(os.sep, "/")


def transform(X, recs, starts, variant):
    from alwidget.background import subtract_background

    spec = VARIANTS[variant]
    if spec is None:
        return X
    statistic, radius = spec
    return subtract_background(X, recs, starts, radius=radius, statistic=statistic)


def search_start(learner, cold_queries) -> list[int]:
    """The first ``COLD`` windows to label: the search hits of each class's reference, one class after another."""
    hits = [list(learner.similar(q, n=COLD).indices) for q in cold_queries]
    picked: list = []
    while len(picked) < COLD and any(hits):
        for h in hits:  # one hit of each class's reference in turn
            while h and h[0] in picked:
                h.pop(0)
            if h and len(picked) < COLD:
                picked.append(int(h.pop(0)))
    return picked


def active_run(Xp, y, Xh, yh, classes, events, model, seed, cold_queries, views=None) -> dict:
    """mAP on the held-out windows at each checkpoint: search hits for the first labels, then margin."""
    from alwidget import ActiveLearner

    learner = ActiveLearner(Xp, classes, model=model, seed=seed, views=views)
    picked = search_start(learner, cold_queries)
    learner.teach(picked, list(y[picked]))
    out = {}
    while True:
        n = learner.n_labeled
        if n in CHECKPOINTS:
            out[n] = C.mean_average_precision(yh, learner.predict_proba(Xh), learner.classes, events)
        if n >= BUDGET:
            return out
        idx = learner.query(BATCH)
        learner.teach(idx, list(y[idx]))


def mixed_queries(ds, folder, refs: dict, ev_classes: list, starts, recs, events_of, rng) -> dict:
    """Each reference file mixed into 3 pool windows with no event at all (at +5 dB, at a random time in the
    window): ``class -> [(raw embeddings (3, d), the 3 host windows)]``, one pair per reference file."""
    import soundfile as sf

    quiet = np.array(
        [not any(_ov(e, s) > 0 for e in events_of[r]) and s + WINDOW <= REC_SECONDS for s, r in zip(starts, recs)]
    )
    hosts = rng.choice(np.flatnonzero(quiet), size=(sum(len(refs[c]) for c in ev_classes), MIX_HOSTS), replace=False)
    out, k = {}, 0
    for c in ev_classes:
        out[c] = []
        for rel in refs[c]:
            ev, _ = sf.read(str(folder / rel), dtype="float32")
            rows = []
            for h in hosts[k]:
                w, sr = ds[int(h)]
                w = w.copy()
                e = ev[: len(w)]
                a = int(rng.integers(0, len(w) - len(e) + 1))
                w[a : a + len(e)] += e * (_rms(w) * 10 ** (MIX_SNR_DB / 20) / _rms(e))
                rows.append(ds.embed_query(w, sr=sr))
            out[c].append((np.stack(rows), hosts[k]))
            k += 1
    return out


def precision_at_10(learner, y, queries: list, relevant: list, excludes: list | None = None) -> float:
    """Mean over the queries of the share of the 10 pool windows found whose label is the query's class."""
    out = []
    for j, (q, c) in enumerate(zip(queries, relevant)):
        ex = None if excludes is None else excludes[j]
        idx = learner.similar(q, n=10, exclude_labeled=False, exclude=ex).indices
        out.append(float(np.mean(y[idx] == c)))
    return float(np.mean(out))


def evaluate(name: str, seed: int, variants: list, models: tuple) -> dict:
    """Every metric of every variant for one pool and seed (saved; a later run with the same settings reuses it)."""
    from alwidget import ActiveLearner

    res_file = OUT / "results" / f"{name}-{TAG}-e{EVAL}-seed{seed}.json"
    done = json.loads(res_file.read_text()) if res_file.exists() else {}
    todo = [v for v in variants if v not in done or any(f"map100 {m}" not in done[v] for m in models)]
    if not todo:
        return done
    t0 = time.perf_counter()
    man = build(name, seed)
    folder = OUT / f"{name}-{TAG}" / f"seed{seed}"
    pool_rels = sorted(r for r in man["events"] if r.startswith("pool/"))
    test_rels = sorted(r for r in man["events"] if r.startswith("test/"))
    events_of = {r: [tuple(e) for e in v] for r, v in man["events"].items()}
    ds, Xp_raw, rp, sp = embed(folder, pool_rels)
    _, Xh_raw, rh, sh = embed(folder, test_rels)
    t_embed = time.perf_counter() - t0
    kw = dict(window=WINDOW, min_overlap=MIN_OVERLAP, background=BACKGROUND)
    y = C.window_labels(sp, rp, events_of, **kw)
    yh = C.window_labels(sh, rh, events_of, **kw)
    ev_classes = sorted(man["refs"])
    classes = [BACKGROUND, *ev_classes]
    ref_raw = {c: [ds.embed_query(str(folder / r)) for r in man["refs"][c]] for c in ev_classes}
    background_level = np.median(Xp_raw, axis=0)  # the pool's typical window: what a file query is measured against
    rng = np.random.default_rng([seed, 11])
    mixed = mixed_queries(ds, folder, man["refs"], ev_classes, sp, rp, events_of, rng)
    # window queries: 10 pool windows per class; the windows overlapping the query's own event are excluded
    wq, wc, wex = [], [], []
    for c in ev_classes:
        cand = np.flatnonzero(y == c)
        for i in rng.choice(cand, size=min(WINDOW_QUERIES, len(cand)), replace=False):
            a, b = max(((e[0], e[1]) for e in events_of[rp[i]] if e[2] == c), key=lambda e: _ov(e, sp[i]))
            same = np.flatnonzero(
                (np.asarray(rp, dtype=object) == rp[i]) & (sp < b) & (sp + WINDOW > a) & (np.arange(len(y)) != i)
            )
            wq.append(int(i))
            wc.append(c)
            wex.append(same)
    for v in todo:
        t1 = time.perf_counter()
        Xp = transform(Xp_raw, rp, sp, v)
        Xh = transform(Xh_raw, rh, sh, v)
        shift = 0.0 if VARIANTS[v] is None else background_level
        refs = {c: [q - shift for q in ref_raw[c]] for c in ev_classes}
        r = done.get(v, {})
        search = ActiveLearner(Xp, classes, model="linear", seed=seed)
        file_queries = [q for c in ev_classes for q in refs[c]]
        r["p10 file"] = precision_at_10(search, y, file_queries, [c for c in ev_classes for _ in refs[c]])
        r["p10 window"] = precision_at_10(search, y, wq, wc, wex)
        # a reference mixed into pool background windows, minus those windows' backgrounds under the variant
        on_bg = {c: [E - (Xp_raw[h] - Xp[h]) for E, h in mixed[c]] for c in ev_classes}
        r["p10 mixed"] = precision_at_10(
            search,
            y,
            [q for c in ev_classes for q in on_bg[c]],
            [c for c in ev_classes for _ in on_bg[c]],
            [h for c in ev_classes for _, h in mixed[c]],
        )
        full = ActiveLearner(Xp, classes, model="linear", seed=seed)
        full.teach(np.arange(len(y)), list(y))
        r["map all"] = C.mean_average_precision(yh, full.predict_proba(Xh), full.classes, ev_classes)
        for m in models:
            curve = active_run(Xp, y, Xh, yh, classes, ev_classes, m, seed, [on_bg[c][0] for c in ev_classes])
            r[f"map100 {m}"] = curve[BUDGET]
            r[f"curve {m}"] = {str(k): v_ for k, v_ in curve.items()}
        r["seconds"] = round(time.perf_counter() - t1, 1)
        done[v] = r
        res_file.parent.mkdir(parents=True, exist_ok=True)
        res_file.write_text(json.dumps(done, indent=1))
        print(
            f"  {name} seed {seed} {v}: "
            + ", ".join(f"{k} {r[k]:.3f}" for k in METRICS if k in r)
            + f" ({r['seconds']:.0f} s)",
            flush=True,
        )
    done["_pool"] = {
        "windows": [len(y), len(yh)],
        "counts_pool": {c: int((y == c).sum()) for c in classes},
        "counts_test": {c: int((yh == c).sum()) for c in classes},
        "events": [sum(len(events_of[r]) for r in pool_rels), sum(len(events_of[r]) for r in test_rels)],
        "embed_seconds": round(t_embed, 1),
        "info": man["info"],
    }
    res_file.write_text(json.dumps(done, indent=1))
    return done


def _ov(e, s) -> float:
    return min(e[1], s + WINDOW) - max(e[0], s)


# ----------------------------------------------------------------------------- report
def describe(name: str, res: dict) -> str:
    p = res["_pool"]
    info = p["info"]
    pk = ", ".join(f"`{k}` {v}" for k, v in info["packages"].items())
    beds = f"{len(info['beds']['pool'])} pool / {len(info['beds']['test'])} held-out bed files"
    ev = "; ".join(f"{c} {d['pool']}/{d['test']}/{d['ref']}" for c, d in info["event_files"].items())
    cp = ", ".join(f"{c} {n}" for c, n in p["counts_pool"].items())
    ct = ", ".join(f"{c} {n}" for c, n in p["counts_test"].items())
    return (
        f"- `{name}` ({pk}): {beds}; event files pool/held-out/reference: {ev}\n"
        f"  - {p['windows'][0]} pool windows ({cp}); {p['windows'][1]} held-out ({ct}); "
        f"{p['events'][0]} + {p['events'][1]} events"
    )


def tables(results: dict, variants: list, models: tuple) -> str:
    metrics = [k for k in METRICS if not k.startswith("map100") or k.split()[1] in models]
    lines = []
    for name, per_seed in results.items():
        seeds = sorted(per_seed)
        lines.append(f"\n### `{name}`, {len(seeds)} seeds: raw mean; variant − raw (standard error; seeds ahead)\n")
        lines.append("| variant | " + " | ".join(METRICS[k] for k in metrics) + " |")
        lines.append("|---" * (len(metrics) + 1) + "|")
        for v in variants:
            cells = []
            for k in metrics:
                raw = np.array([per_seed[s]["raw"][k] for s in seeds])
                val = np.array([per_seed[s][v][k] for s in seeds])
                if v == "raw":
                    cells.append(f"{raw.mean():.3f} ± {C.std_err(raw):.3f}")
                else:
                    d = val - raw
                    cells.append(f"{d.mean():+.3f} ({C.std_err(d):.3f}; {C.seeds_ahead(d)}/{len(d)})")
            lines.append(f"| {v} | " + " | ".join(cells) + " |")
    if len(results) > 1:
        lines.append(
            "\n### Over the pools: variant − raw, mean of the pools' means (its standard error) / worst pool's mean"
            f"\n\nraw: {' / '.join(results)}\n"
        )
        lines.append("| variant | " + " | ".join(METRICS[k] for k in metrics) + " |")
        lines.append("|---" * (len(metrics) + 1) + "|")
        for v in variants:
            cells = []
            for k in metrics:
                if v == "raw":
                    cells.append(
                        " / ".join(f"{np.mean([r['raw'][k] for r in p.values()]):.3f}" for p in results.values())
                    )
                    continue
                diffs = [np.array([p[s][v][k] - p[s]["raw"][k] for s in p]) for p in results.values()]
                means = [d.mean() for d in diffs]
                se = np.sqrt(sum(C.std_err(d) ** 2 for d in diffs)) / len(diffs)
                cells.append(f"{np.mean(means):+.3f} ({se:.3f}) / {min(means):+.3f}")
            lines.append(f"| {v} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def cost(n: int = 100_000, d: int = 384, per_rec: int = 1000) -> str:
    """Windows per second of subtract_background on ``n x d`` float32 (recordings of ``per_rec`` windows)."""
    from alwidget.background import subtract_background

    X = np.random.default_rng(0).normal(size=(n, d)).astype(np.float32)
    groups = np.repeat(np.arange(n // per_rec + 1), per_rec)[:n]
    subtract_background(X[:1000], groups[:1000], radius=3)  # compile the median once (numba, cached on disk)
    rows = [f"\n### Cost: `subtract_background` on {n:,} x {d} float32 (recordings of {per_rec} windows)\n"]
    rows.append("| statistic | radius | time (s) | windows/s | peak RSS (MB) |\n|---|---|---|---|---|")
    for statistic, radius in (("median", 15), ("median", 30), ("median", 60), ("mean", 30)):
        t = time.perf_counter()
        subtract_background(X, groups, radius=radius, statistic=statistic)
        dt = time.perf_counter() - t
        rows.append(f"| {statistic} | {radius} | {dt:.2f} | {n / dt:,.0f} | {C.peak_rss_mb():.0f} |")
    return "\n".join(rows)


def default_search(name: str, seed: int) -> dict:
    """p@10 of the reference files: raw log-mel rows with the clean file, and ``ds.embed("logmel")``'s
    default for windows (running median r30) with ``ds.embed_query``'s placement of the file into background windows."""
    from alwidget import ActiveLearner

    man = build(name, seed)
    folder = OUT / f"{name}-{TAG}" / f"seed{seed}"
    pool_rels = sorted(r for r in man["events"] if r.startswith("pool/"))
    events_of = {r: [tuple(e) for e in v] for r, v in man["events"].items()}
    ds, X_raw, rp, sp = embed(folder, pool_rels)
    y = C.window_labels(sp, rp, events_of, window=WINDOW, min_overlap=MIN_OVERLAP, background=BACKGROUND)
    ev_classes = sorted(man["refs"])
    files = [(c, str(folder / r)) for c in ev_classes for r in man["refs"][c]]
    classes = [c for c, _ in files]
    raw = ActiveLearner(X_raw, [BACKGROUND, *ev_classes], model="linear", seed=seed)
    out = {"raw rows, clean file": precision_at_10(raw, y, [ds.embed_query(f) for _, f in files], classes)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        X = ds.embed("logmel", progress=False, cache_dir=str(C.CACHE / "embeddings"), n_jobs=1)  # the default
    default = ActiveLearner(X, [BACKGROUND, *ev_classes], model="linear", seed=seed)
    out["default: subtracted rows, file placed on background"] = precision_at_10(
        default, y, [ds.embed_query(f) for _, f in files], classes
    )
    return out


def default_search_table(pools: list, seeds: list) -> str:
    runs = {name: [default_search(name, s) for s in seeds] for name in pools}
    keys = list(next(iter(runs.values()))[0])
    lines = [
        f"p@10 of {REFS_PER_CLASS} reference files per class, {len(seeds)} seeds: mean (s.e.) per pool, mean, worst",
        "",
        "| search | " + " | ".join(p.replace("-soundscape", "") for p in pools) + " | mean | worst |",
        "|---|" + "---|" * (len(pools) + 2),
    ]
    for k in keys:
        per = [np.array([r[k] for r in runs[p]]) for p in pools]
        cells = [f"{a.mean():.3f} ({C.std_err(a):.3f})" for a in per]
        means = [a.mean() for a in per]
        lines.append(f"| {k} | " + " | ".join(cells) + f" | {np.mean(means):.3f} | {min(means):.3f} |")
    d = [np.array([r[keys[1]] - r[keys[0]] for r in runs[p]]) for p in pools]
    lines.append("| difference | " + " | ".join(f"{a.mean():+.3f} ({C.std_err(a):.3f})" for a in d) + " | | |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pools", nargs="*", default=None, help=f"subset of {list(SOURCES)}")
    ap.add_argument("--seeds", type=int, default=None, help="seeds 0 .. N-1 (default 5; --quick 1)")
    ap.add_argument("--quick", action="store_true", help='1 seed, raw and median r30, "spread" only')
    ap.add_argument("--report", action="store_true", help="print the tables from the saved results only")
    ap.add_argument("--cost", action="store_true", help="only time subtract_background")
    ap.add_argument("--default-search", action="store_true", help="only p@10 of files: raw against ds.embed's default")
    ap.add_argument("--no-cost", action="store_true", help="skip timing subtract_background")
    ap.add_argument(
        "--gap-mean",
        type=float,
        default=GAP_MEAN,
        help=f"mean of the exponential part of the gaps between events, s (default {GAP_MEAN:g}; 2: dense events)",
    )
    args = ap.parse_args(argv)
    if args.gap_mean != GAP_MEAN:  # other recordings: another tag
        _set_gap_mean(args.gap_mean)
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    print(f"# Background subtraction on soundscapes\n\nMachine: {C.machine('scipy', 'scikit-learn', 'numba')}")
    t_start = time.perf_counter()
    if args.cost:
        with threadpool_limits(1):
            print(cost())
        return
    pools = args.pools or list(SOURCES)
    seeds = list(range(args.seeds or (1 if args.quick else 5)))
    if args.default_search:
        with threadpool_limits(1):
            print(default_search_table(pools, seeds))
        print(f"\nTotal runtime: {time.perf_counter() - t_start:.0f} s")
        return
    variants = ["raw", "median r30"] if args.quick else list(VARIANTS)
    models = ("spread",) if args.quick else MODELS
    print(f"\nsettings {TAG}: {json.dumps(SETTINGS)}; seeds {seeds}\n", flush=True)
    results = {}
    with threadpool_limits(1):
        for name in pools:
            results[name] = {}
            for seed in seeds:
                if args.report:
                    f = OUT / "results" / f"{name}-{TAG}-e{EVAL}-seed{seed}.json"
                    if f.exists():
                        results[name][seed] = json.loads(f.read_text())
                    continue
                results[name][seed] = evaluate(name, seed, variants, models)
            if not results[name]:
                del results[name]
                continue
            first = results[name][min(results[name])]
            print(
                "\n" + describe(name, first) + f"\n  - embedding (seed {min(results[name])}): "
                f"{first['_pool']['embed_seconds']} s",
                flush=True,
            )
        if args.report:  # the variants and models every saved seed has
            variants = [v for v in variants if all(v in r for p in results.values() for r in p.values())]
            models = tuple(
                m
                for m in models
                if all(f"map100 {m}" in r[v] for p in results.values() for r in p.values() for v in variants)
            )
        print(tables(results, variants, models))
        if not args.no_cost and not args.report:
            print(cost())
    print(f"\nTotal runtime: {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
