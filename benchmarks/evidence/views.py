"""Log-mel beside aiSFX, one linear model per view pooled by a weighted product: six pools, leave one out.

The evidence behind ``"logmel+aisfx"``'s view weights and the pretrained
default. Candidates, all with the ``margin`` strategy and the linear model:

* ``logmel``: the log-mel statistics alone (d = 384), one model;
* ``aisfx``: the aiSFX embeddings alone (d = 512), one model;
* ``concat``: both side by side, one model on the 896 columns;
* ``views50`` / ``views60`` / ``views70``: both side by side, one model per
  view pooled by a weighted product (:class:`alwidget.ViewProduct`) with
  log-mel's weight 0.5 / 0.6 / 0.7 (``ActiveLearner(views=...)``).

Pools: the three clip pools of ``real_audio`` (AULC of held-out accuracy,
cold start, batches of 5 to 150 labels; aiSFX at 44.1 kHz, log-mel at 16
kHz) and the three soundscape pools of ``soundscapes`` (held-out detection
mAP after 100 labels, search hits then margin; search p@10 of the reference
files placed on background windows, ``ds.embed_query``), windows with the
default running-median background subtraction.

Leave one pool out: for each pool, a candidate is picked on the other five
(by its mean paired gain over ``logmel``, or by its worst pool's) and scored
on the one left out; the table reports that pick's gain per pool, the mean
and the worst.

Run from the repository root (needs ``pip install --no-deps aisfx==0.1.2``;
clip embeddings are cached; a soundscape pool-seed embeds 90 minutes of
audio with aiSFX, about 6-15 minutes on two cores)::

    python -m benchmarks.evidence.views --seeds 20                 # the clip pools
    python -m benchmarks.evidence.views --soundscapes --seeds 3    # the soundscape pools
    python -m benchmarks.evidence.views --peers --seeds 10         # the peers' picks on both views
    python -m benchmarks.evidence.views --peers --soundscapes --seeds 3   # the same on the soundscape pools
    python -m benchmarks.evidence.views --report                   # the tables from the saved results
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from benchmarks import _common as C

CANDIDATES = ("logmel", "aisfx", "concat", "views50", "views60", "views70")
DEFAULT = "views60"  # the built-in "logmel+aisfx"'s weights: the peers' picks are scored with its pooled model
TOLERANCE = 0.005  # AULC or mAP: worst pools this close count as tied (well under one standard error)
LOGMEL, AISFX = 384, 512
RESULTS = C.CACHE / "views"


def _views_of(name: str) -> tuple[list[int], list[float]]:
    """Widths and weights of a ``viewsNN`` candidate (log-mel's weight NN %)."""
    w = int(name[5:]) / 100
    return [LOGMEL, AISFX], [w, 1 - w]


def _setup(name: str, Xa: np.ndarray, Xb: np.ndarray) -> tuple[np.ndarray, dict]:
    """Rows and learner arguments of a candidate."""
    if name == "logmel":
        return Xa, {}
    if name == "aisfx":
        return Xb, {}
    X = np.hstack([Xa, Xb])
    if name == "concat":
        return X, {}
    return X, {"views": list(zip(*_views_of(name)))}


def clip_pool(pname: str, seeds: list) -> dict:
    """AULC per candidate and seed (margin and random) on one clip pool; saved."""
    from benchmarks.evidence.feature_screen import features

    out = RESULTS / f"clips-{pname}-seeds{len(seeds)}.json"
    done = json.loads(out.read_text()) if out.exists() else {}
    src = C.SOURCES[pname]()
    (Xa, ka), (Xb, kb) = features(src, "logmel128"), features(src, "aisfx@44k")
    for name in CANDIDATES:
        if name in done:
            continue
        t0 = time.perf_counter()
        X, kw = _setup(name, Xa, Xb)
        pool = C.make_pool(src, X, ka & kb)
        steps, curves = C.alwidget_curves(
            pool, {"margin": ("margin", "linear"), "random": ("random", "linear")}, seeds, learner_kwargs=kw
        )
        done[name] = {k: C.aulc(curves[k], steps).tolist() for k in ("margin", "random")}
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(done, indent=1))
        m = np.array(done[name]["margin"])
        print(f"  {pname} {name}: margin AULC {m.mean():.3f} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return done


PEERS = ("modAL margin", "skactiveml margin", "skactiveml TypiClust", "skactiveml Badge", "skactiveml CoreSet")


def clip_peers(pname: str, seeds: list) -> dict:
    """AULC of each peer's picks on both views side by side, scored with the pooled views model; saved."""
    from alwidget import ViewProduct
    from benchmarks.evidence.feature_screen import features
    from benchmarks.evidence.real_audio import peer_curves

    out = RESULTS / f"peers-{DEFAULT}-{pname}-seeds{len(seeds)}.json"
    done = json.loads(out.read_text()) if out.exists() else {}
    src = C.SOURCES[pname]()
    (Xa, ka), (Xb, kb) = features(src, "logmel128"), features(src, "aisfx@44k")
    pool = C.make_pool(src, np.hstack([Xa, Xb]), ka & kb)
    steps = np.arange(C.BATCH, C.BUDGET + 1, C.BATCH)
    for peer in PEERS:
        if peer in done:
            continue
        t0 = time.perf_counter()
        curves = peer_curves(peer, pool, seeds, steps, model=ViewProduct(*_views_of(DEFAULT)))
        done[peer] = C.aulc(curves, steps).tolist()
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(done, indent=1))
        print(f"  {pname} {peer}: AULC {np.mean(done[peer]):.3f} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return done


def _scape_rows(pname: str, seed: int) -> dict:
    """A soundscape pool-seed's rows (log-mel beside aiSFX, cached), labels and reference-file queries."""
    from alwidget import AudioDataset
    from benchmarks.evidence import soundscapes as S

    man = S.build(pname, seed)
    folder = S.OUT / f"{pname}-{S.TAG}" / f"seed{seed}"
    events_of = {r: [tuple(e) for e in v] for r, v in man["events"].items()}

    def embed(prefix):
        rels = sorted(r for r in man["events"] if r.startswith(prefix))
        ds = AudioDataset.from_recordings([str(folder / r) for r in rels], window=S.WINDOW, hop=S.HOP, sr=S.SR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # aiSFX on 16 kHz recordings: the soundscapes' own rate
            X = ds.embed("logmel+aisfx", progress=False, cache_dir=str(C.CACHE / "embeddings"), n_jobs=1)
        return (
            ds,
            X,
            [S._rec_of(ds, i, folder) for i in range(len(ds))],
            np.array([ds.start(i) for i in range(len(ds))]),
        )

    ds, Xp, rp, sp = embed("pool/")
    _, Xh, rh, sh = embed("test/")
    kw = dict(window=S.WINDOW, min_overlap=S.MIN_OVERLAP, background=S.BACKGROUND)
    ev = sorted(man["refs"])
    files = [(c, str(folder / r)) for c in ev for r in man["refs"][c]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Q = np.stack([ds.embed_query(f) for _, f in files])
    return {
        "Xp": Xp,
        "Xh": Xh,
        "y": C.window_labels(sp, rp, events_of, **kw),
        "yh": C.window_labels(sh, rh, events_of, **kw),
        "events": ev,
        "classes": [S.BACKGROUND, *ev],
        "Q": Q,
        "qc": [c for c, _ in files],
    }


def soundscape(pname: str, seed: int) -> dict:
    """Held-out mAP@100 and search p@10 of every candidate on one soundscape pool-seed; saved."""
    from alwidget import ActiveLearner
    from benchmarks.evidence import soundscapes as S

    out = RESULTS / f"soundscape-{pname}-{S.TAG}-seed{seed}.json"
    done = json.loads(out.read_text()) if out.exists() else {}
    if all(f"map100 {c}" in done for c in CANDIDATES):
        return done
    t0 = time.perf_counter()
    r = _scape_rows(pname, seed)
    Xp, Xh, y, yh, Q, qc, ev, classes = (r[k] for k in ("Xp", "Xh", "y", "yh", "Q", "qc", "events", "classes"))
    done["embed s"] = round(time.perf_counter() - t0, 1)
    for name in CANDIDATES:
        Xq = _setup(name, Q[:, :LOGMEL], Q[:, LOGMEL:])[0]
        Xpc, kwargs = _setup(name, Xp[:, :LOGMEL], Xp[:, LOGMEL:])
        Xhc = _setup(name, Xh[:, :LOGMEL], Xh[:, LOGMEL:])[0]
        if name in ("logmel", "aisfx", "concat"):  # search reads the rows only: the views do not change it
            done[f"p10 {name}"] = S.precision_at_10(
                ActiveLearner(Xpc, classes, model="linear", seed=seed), y, list(Xq), qc
            )
        cold = [Xq[qc.index(c)] for c in ev]
        curve = S.active_run(Xpc, y, Xhc, yh, classes, ev, "linear", seed, cold, views=kwargs.get("views"))
        done[f"map100 {name}"] = curve[S.BUDGET]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(done, indent=1))
    return done


def soundscape_peers(pname: str, seed: int) -> dict:
    """Held-out mAP@100 of each peer's picks on both views, after the same search start, scored as DEFAULT; saved."""
    from alwidget import ActiveLearner
    from benchmarks.evidence import soundscapes as S
    from benchmarks.evidence.real_audio import peer_selector, peer_step

    out = RESULTS / f"scapepeers-{DEFAULT}-{pname}-{S.TAG}-seed{seed}.json"
    done = json.loads(out.read_text()) if out.exists() else {}
    if all(peer in done for peer in PEERS):
        return done
    r = _scape_rows(pname, seed)
    Xp, Xh, y, yh, Q, qc, ev, classes = (r[k] for k in ("Xp", "Xh", "y", "yh", "Q", "qc", "events", "classes"))
    code = {c: i for i, c in enumerate(classes)}
    y_codes = np.array([code[v] for v in y])
    (Xs,) = C.standardise(Xp)
    rng = np.random.default_rng([seed, 31])
    for peer in PEERS:
        if peer in done:
            continue
        t0 = time.perf_counter()
        select = peer_selector(peer, Xs, y_codes, len(classes), seed)
        learner = ActiveLearner(Xp, classes, model="linear", seed=seed, views=list(zip(*_views_of(DEFAULT))))
        lab = S.search_start(learner, [Q[qc.index(c)] for c in ev])  # the same first labels as DEFAULT's
        learner.teach(lab, list(y[lab]))
        while len(lab) < S.BUDGET:
            picks = peer_step(peer, select, lab, min(S.BATCH, S.BUDGET - len(lab)), y_codes, rng)
            lab.extend(int(i) for i in picks)
            learner.teach(picks, list(y[picks]))
        done[peer] = C.mean_average_precision(yh, learner.predict_proba(Xh), learner.classes, ev)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(done, indent=1))
        print(f"  {pname} seed {seed} {peer}: mAP@100 {done[peer]:.3f} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return done


def gains() -> dict:
    """pool -> candidate -> paired gains over logmel (one per seed), from the saved results."""
    out: dict = {}
    for f in sorted(RESULTS.glob("clips-*.json")):
        runs = json.loads(f.read_text())
        pname = f.stem.split("-seeds")[0][len("clips-") :]
        if all(c in runs for c in CANDIDATES):  # a pool still running is left out
            ref = np.array(runs["logmel"]["margin"])
            out[pname] = {c: np.array(runs[c]["margin"]) - ref for c in CANDIDATES}
    scapes: dict = {}
    for f in sorted(RESULTS.glob("soundscape-*.json")):
        pname = f.stem.split("-seed")[0][len("soundscape-") :].rsplit("-", 1)[0]
        scapes.setdefault(pname, []).append(json.loads(f.read_text()))
    for pname, runs in scapes.items():
        runs = [r for r in runs if all(f"map100 {c}" in r for c in CANDIDATES)]
        if not runs:
            continue
        ref = np.array([r["map100 logmel"] for r in runs])
        out[pname] = {c: np.array([r[f"map100 {c}"] for r in runs]) - ref for c in CANDIDATES}
    return out


def search() -> dict:
    """soundscape pool -> rows -> p@10 per seed, from the saved results."""
    out: dict = {}
    for f in sorted(RESULTS.glob("soundscape-*.json")):
        pname = f.stem.split("-seed")[0][len("soundscape-") :].rsplit("-", 1)[0]
        r = json.loads(f.read_text())
        for c in ("logmel", "aisfx", "concat"):
            if f"p10 {c}" in r:
                out.setdefault(pname, {}).setdefault(c, []).append(r[f"p10 {c}"])
    return out


def _head(title: str, columns: list[str]) -> list[str]:
    """A markdown table's title line and header rows."""
    return ["", title, "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]


def _scape_peers_table() -> list[str]:
    """Peer − DEFAULT held-out mAP@100 on each soundscape pool, paired by seed, from the saved results."""
    diffs: dict = {}
    for f in sorted(RESULTS.glob(f"scapepeers-{DEFAULT}-*.json")):
        ours = RESULTS / f.name.replace(f"scapepeers-{DEFAULT}-", "soundscape-")
        if not ours.exists():
            continue
        pname = f.stem.split("-seed")[0][len(f"scapepeers-{DEFAULT}-") :].rsplit("-", 1)[0]
        runs, base = json.loads(f.read_text()), json.loads(ours.read_text())[f"map100 {DEFAULT}"]
        for peer in PEERS:
            if peer in runs:
                diffs.setdefault(pname, {}).setdefault(peer, []).append(runs[peer] - base)
    if not diffs:
        return []
    lines = _head(f"Peers on the soundscapes, the same search start: peer − `{DEFAULT}` mAP@100 (s.e.; seeds):",
                  ["peer", *diffs])  # fmt: skip
    for peer in PEERS:
        cells = []
        for per in diffs.values():
            d = np.array(per.get(peer, []))
            cells.append(f"{d.mean():+.3f} ({C.std_err(d) if len(d) > 1 else 0:.3f}; {len(d)})" if len(d) else "")
        lines.append(f"| {peer} | " + " | ".join(cells) + " |")
    return lines


def report() -> str:
    g = gains()
    pools = list(g)
    lines = _head(
        "Paired gain over `logmel` (clip pools: AULC; soundscapes: held-out mAP@100), mean (s.e.; seeds):",
        ["candidate", *(p.replace("-soundscape", " (scape)") for p in pools), "mean", "worst"],
    )[1:]
    for c in CANDIDATES:
        cells = [
            f"{g[p][c].mean():+.3f} ({C.std_err(g[p][c]) if len(g[p][c]) > 1 else 0:.3f}; {len(g[p][c])})"
            for p in pools
        ]
        means = [g[p][c].mean() for p in pools]
        lines.append(f"| {c} | " + " | ".join(cells) + f" | {np.mean(means):+.3f} | {min(means):+.3f} |")
    scapes = search()
    if scapes:
        lines += _head(
            "Search by a reference file (p@10, `ds.embed_query`), mean over seeds; a model's views do not change it:",
            ["rows", *scapes, "mean", "worst"],
        )
        for c in ("logmel", "aisfx", "concat"):
            m = [np.mean(v[c]) for v in scapes.values()]
            lines.append(f"| {c} | " + " | ".join(f"{x:.3f}" for x in m) + f" | {np.mean(m):.3f} | {min(m):.3f} |")
    peers = {
        f.stem.split("-seeds")[0][len(f"peers-{DEFAULT}-") :]: json.loads(f.read_text())
        for f in RESULTS.glob(f"peers-{DEFAULT}-*.json")
    }
    if peers:
        lines += _head(
            f"Peers on both views, their picks scored with `{DEFAULT}`: peer − `{DEFAULT}` AULC (s.e.; seeds):",
            ["peer", *peers],
        )
        for peer in PEERS:
            cells = []
            for pname, runs in peers.items():
                clips = next(RESULTS.glob(f"clips-{pname}-seeds*.json"), None)
                if peer not in runs or clips is None:
                    cells.append("")
                    continue
                a = np.array(runs[peer])
                d = a - np.array(json.loads(clips.read_text())[DEFAULT]["margin"])[: len(a)]
                cells.append(f"{d.mean():+.3f} ({C.std_err(d):.3f}; {len(d)})")
            lines.append(f"| {peer} | " + " | ".join(cells) + " |")
    lines += _scape_peers_table()
    if len(pools) < 2:
        return "\n".join(lines)
    mean = lambda c, rest: np.mean([g[q][c].mean() for q in rest])  # noqa: E731
    worst = lambda c, rest: min(g[q][c].mean() for q in rest)  # noqa: E731
    rules = {
        "best mean": mean,
        "best worst pool": worst,
        # the best worst pool, ties within TOLERANCE broken by the best mean
        "best mean near the best worst": lambda c, rest: (
            mean(c, rest) if worst(c, rest) >= max(worst(d, rest) for d in CANDIDATES) - TOLERANCE else -np.inf
        ),
    }
    lines += _head(
        "Leave one pool out: the pick on the other five pools, by each rule, scored on the pool left out (s.e.):",
        ["left out", *(x for r in rules for x in (f"pick by {r}", "its gain there"))],
    )
    held = {r: [] for r in rules}
    for p in pools:
        rest = [q for q in pools if q != p]
        cells = []
        for r, score in rules.items():
            pick = max(CANDIDATES, key=lambda c, rest=rest, score=score: score(c, rest))
            d = g[p][pick]
            held[r].append(d.mean())
            cells.append(f"{pick} | {d.mean():+.3f} ({C.std_err(d) if len(d) > 1 else 0:.3f})")
        lines.append(f"| {p} | " + " | ".join(cells) + " |")
    lines.append("| mean / worst | " + " | ".join(f"| {np.mean(v):+.3f} / {min(v):+.3f}" for v in held.values()) + " |")
    final = {r: max(CANDIDATES, key=lambda c, score=score: score(c, pools)) for r, score in rules.items()}
    lines += ["", "On all six pools: " + "; ".join(f"{r}: {c}" for r, c in final.items()) + "."]
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--pools", nargs="*", default=None)
    ap.add_argument("--soundscapes", action="store_true", help="the soundscape pools (default: the clip pools)")
    ap.add_argument("--peers", action="store_true", help="the peers' picks on both views, scored as DEFAULT")
    ap.add_argument("--report", action="store_true", help="print the tables from the saved results only")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    print(f"Machine: {C.machine('aisfx')}\n", flush=True)
    if not args.report:
        with threadpool_limits(1):
            if args.peers and args.soundscapes:
                from benchmarks.evidence import soundscapes as S

                for seed in range(args.seeds):
                    for pname in args.pools or list(S.SOURCES):
                        soundscape_peers(pname, seed)
            elif args.peers:
                for pname in args.pools or list(C.SOURCES):
                    clip_peers(pname, list(range(args.seeds)))
            elif args.soundscapes:
                from benchmarks.evidence import soundscapes as S

                for seed in range(args.seeds):
                    for pname in args.pools or list(S.SOURCES):
                        r = soundscape(pname, seed)
                        print(f"  {pname} seed {seed}: " + ", ".join(f"{k} {v:.3f}" for k, v in r.items()), flush=True)
            else:
                for pname in args.pools or list(C.SOURCES):
                    clip_pool(pname, list(range(args.seeds)))
    print(report())


if __name__ == "__main__":
    main()
