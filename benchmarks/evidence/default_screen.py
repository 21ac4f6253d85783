"""Challengers to the default pipeline on the real pools of ``real_audio``, paired over many seeds.

The default is margin sampling, the ``"spread"`` model and log-mel
statistics of 128 bands at 16 kHz; before the ``model`` group's evidence it
was margin, the linear model (l2 = 1) and the same features, and the
``strategy`` and ``features`` groups keep that reference. Each challenger
changes one thing and runs on the same pools, split and seeds (cold start,
batches of 5 up to 150 labels, through :func:`alwidget.simulate`). The tables
give, per pool, the challenger's AULC and accuracy at 20 labels and their
paired difference to the reference: mean ± std over seeds, the standard
error of the mean, and on how many seeds the challenger is ahead. Five seeds leave differences of
0.01-0.03 inside the noise on the two small pools, hence 20 by default.

Groups (``--groups``):

* ``strategy``: ``entropy``, ``diverse``; margin weighted by typicality
  (information density, Settles & Craven 2008: ``(1 - margin) * t**beta``,
  ``t`` = inverse mean distance to the 20 nearest pool clips, scaled to a
  maximum of 1); a k-means++ or TypiClust cold start for the first 10 labels;
  a 20 % share of random picks; l2 = 0.3.
* ``strategy-spread``: the same strategies, ``least_confidence``, and random
  picks for the first 10 or 20 labels (the peers' cold start), every one
  with the default model ``"spread"``, paired with the default (margin):
  the strategy was chosen with the linear model, before ``"spread"``.
  ``--challengers`` runs a subset.
* ``features``: the default's 384 statistics plus the same three statistics
  of 16 mel bands from 8 kHz to the Nyquist frequency, read at 44.1 kHz (the
  high band that 16 kHz drops), against the 384 alone computed the same way.
* ``peers`` (slow on the largest pool): modAL's and scikit-activeml's
  strategies of ``real_audio`` (random picks until two classes have
  labels, scored with the default model, ``"spread"``, as the default's own
  picks are), each paired with the default (margin with ``"spread"``).
* ``model``: the classifier uses the unlabelled pool. ``model="spread"``
  (:class:`alwidget.SpreadRegression`) spreads the labels over a
  10-nearest-neighbour graph of the standardised pool (label spreading, Zhou
  et al. 2003) and trains the linear model on the labels plus every pool
  clip's most likely class as a pseudo-label, weighted by confidence,
  balanced over classes, with total weight 0.3 times the number of labels.
  ``--model-variants`` adds the model without its gate, a gate that drops
  ties, graphs of a sample of the pool (300 clips, or half), or gates that
  tolerate spreading a few points behind the regression (``tol05``,
  ``tol10``, ``tol20``), or a gate over three repeats of its 5-fold check
  (``repeat3``), or the whole pool's graph up to 20,000 clips, gated or
  not (``nodes20k``, ``ungated20k``), or a gate whose 5-fold check compares
  the regression with and without the pseudo-labels (``modelgate``) instead
  of label spreading alone, or pseudo-labels worth 0.1 of the labels
  instead of 0.3 (``weight01``). The reference is the linear model
  (``--model-reference`` picks another row). ``--pools demo-sounds`` adds
  notebook 3's synthetic pool, whose nearest neighbours do not share
  classes: the case the gate is for. ``--pools asterisk-lang-windows`` is
  language ID cut into 1-second windows (12,630 pool windows: above the
  5,000 clips where ``"spread"`` stops building a graph), and
  ``asterisk-lang-windows-4k`` a seeded sample of 4,000 of them.

Every table's curves are saved in the cache folder
(``screen-curves-<group>-<pool>-seeds<n>-<rows>.npz``: steps, row names,
curves ``(rows, seeds, steps)``), so any two rows can be paired later.

Run from the repository root (the packages are downloaded on first use, as for
``real_audio``; embeddings are cached)::

    python -m benchmarks.evidence.default_screen                     # strategy + features, 20 seeds, ~9 min
    python -m benchmarks.evidence.default_screen --groups model       # spread vs linear, 20 seeds
    python -m benchmarks.evidence.default_screen --groups strategy-spread   # strategies under "spread", ~25 min
    python -m benchmarks.evidence.default_screen --groups model --pools demo-sounds --model-variants spread ungated
    python -m benchmarks.evidence.default_screen --groups model --model-reference spread --model-variants tol20 \
        --seeded-variants --seeds 40                                 # the 20-point gate against the default
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
import warnings

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from alwidget import AudioDataset, SpreadRegression
from alwidget import strategies as S
from alwidget.features import LogMelEmbedder
from benchmarks import _common as C
from benchmarks._common import BATCH, BUDGET, CACHE, SOURCES, Pool
from benchmarks.evidence.real_audio import ALL_PEERS, kpp_cover, margin_after, margin_random, typiclust_cover
from benchmarks.evidence.real_audio import peer_curves as score_peer

LINEAR = "margin, linear model"  # the reference of the strategy group (the default before "spread")
DEFAULT = 'margin, "spread" (default)'  # the reference of the peers group


# ----------------------------------------------------------------------------- strategy challengers
_typicality_cache: dict = {}


def _typicality(learner, k: int = 20) -> np.ndarray:
    """Inverse mean distance of every pool clip to its ``k`` nearest neighbours, scaled to max 1."""
    pool = learner.embeddings  # a view: the same memory for every learner of the same pool
    key = (pool.__array_interface__["data"][0], pool.shape)
    if key not in _typicality_cache:
        X = learner.features(np.arange(learner.n_pool)).astype(np.float64)
        d = np.sqrt(np.maximum(C.sq_dist(X, X), 0.0))
        t = 1.0 / (np.sort(d, axis=1)[:, 1 : k + 1].mean(axis=1) + 1e-8)
        _typicality_cache.clear()
        _typicality_cache[key] = t / t.max()
    return _typicality_cache[key]


def density_margin(beta: float):
    """Information density: ``(1 - margin) * typicality ** beta``, highest first."""

    def strategy(learner, candidates, n, rng):
        score = 1.0 - C.candidate_scores(S.margin, learner, candidates)
        return candidates[S.select_top(score * _typicality(learner)[candidates] ** beta, n, rng)]

    strategy.__name__ = f"density_margin_{beta:g}"
    return strategy


def strategy_challengers() -> dict:
    """name -> (strategy, l2) for :func:`benchmarks._common.alwidget_curves`."""
    return {
        LINEAR: ("margin", 1.0),
        "entropy": ("entropy", 1.0),
        "diverse": ("diverse", 1.0),
        "margin x typicality": (density_margin(1.0), 1.0),
        "margin x typicality^2": (density_margin(2.0), 1.0),
        "k-means++ cold start to 10": (margin_after(kpp_cover, 10), 1.0),
        "TypiClust cold start to 10": (margin_after(typiclust_cover, 10), 1.0),
        "margin + 20% random": (margin_random(0.2), 1.0),
        "margin, l2=0.3": ("margin", 0.3),
    }


def spread_strategy_challengers() -> dict:
    """The strategy challengers again, every one scored and picking with the default model, ``"spread"``."""
    return {
        DEFAULT: ("margin", "spread"),
        "entropy": ("entropy", "spread"),
        "least_confidence": ("least_confidence", "spread"),
        "diverse": ("diverse", "spread"),
        "margin x typicality": (density_margin(1.0), "spread"),
        "k-means++ cold start to 10": (margin_after(kpp_cover, 10), "spread"),
        "TypiClust cold start to 10": (margin_after(typiclust_cover, 10), "spread"),
        "margin + 20% random": (margin_random(0.2), "spread"),
        "random picks to 10 labels": (margin_after(S.random_sampling, 10), "spread"),
        "random picks to 20 labels": (margin_after(S.random_sampling, 20), "spread"),
    }


# ----------------------------------------------------------------------------- feature challenger
class HighBand(LogMelEmbedder):
    """The default 384 statistics (128 bands, at 16 kHz) + the same of 16 bands from 8 kHz to Nyquist at ``sr``."""

    n_high = 16

    @property
    def name(self) -> str:
        return "logmel-highband"

    def cache_params(self) -> dict:
        return {**super().cache_params(), "n_high": self.n_high}

    def __call__(self, waveforms, sr):
        import soxr  # librosa's resampler

        low = LogMelEmbedder(n_mels=self.n_mels, n_fft=self.n_fft, hop_length=self.hop, top_db=self.top_db)
        high = LogMelEmbedder(
            n_mels=self.n_high, n_fft=self.n_fft, hop_length=self.hop, fmin=8000.0, top_db=self.top_db
        )
        rows = []
        for y in waveforms:
            y = np.asarray(y, dtype=np.float32)
            y16 = np.asarray(soxr.resample(y, sr, 16000), dtype=np.float32)
            rows.append(np.concatenate([low([y16], 16000)[0], high([y], sr)[0]]))
        return np.stack(rows).astype(np.float32)


# ----------------------------------------------------------------------------- model challengers
# gates other than the default's are subclasses of SpreadRegression: benchmarks._common.gate_variant
MODEL_CHALLENGERS = {  # key (for --model-variants) -> (row name, model passed to simulate)
    "linear": ("linear (l2 = 1)", "linear"),
    "spread": ('"spread" (default: gated)', "spread"),
    "ungated": ("spread without the gate", SpreadRegression(gate=False)),
    "strict": ("spread, the gate drops ties", C.gate_variant("strict")),
    "nodes300": ("ungated, graph of 300 sampled clips", SpreadRegression(gate=False, max_nodes=300, sample=True)),
    "nodes300k2": (
        "ungated, graph of 300 sampled clips, 2 neighbours",
        SpreadRegression(gate=False, max_nodes=300, n_neighbors=2, sample=True),
    ),
    "half": ("ungated, graph of a sample of half the pool", "half"),
    "tol05": ("gate open unless spreading is 5 points behind", C.gate_variant("tolerant", 0.05)),
    "tol10": ("gate open unless spreading is 10 points behind", C.gate_variant("tolerant", 0.1)),
    "tol20": ("gate open unless spreading is 20 points behind", C.gate_variant("tolerant", 0.2)),
    "repeat3": ("gate over 3 repeats of the 5-fold check", C.gate_variant("repeated", 3)),
    "nodes20k": ("gated, graph of the whole pool up to 20,000 clips", SpreadRegression(max_nodes=20000)),
    "ungated20k": (
        "ungated, graph of the whole pool up to 20,000 clips",
        SpreadRegression(gate=False, max_nodes=20000),
    ),
    "weight01": ("pseudo-labels worth 0.1 of the labels (default 0.3)", SpreadRegression(weight=0.1)),
    "modelgate": ("gate checks the regression with pseudo-labels, not spreading alone", C.gate_variant("model")),
    # an instance keeps its own seed (0) in every run, so its gate's folds are the same in every run:
    # the rows of the instances above compare with this one, not with "spread" (folds from the learner's seed)
    "seed0": ("gated, the folds of seed 0 in every run", SpreadRegression()),
}


DEMO = "demo-sounds"  # notebook 3's synthetic pool: its nearest neighbours do not share classes


def demo_pool():
    """Notebook 3's pool: 240 clips of ``make_sounds`` (6 classes), tested on 120 others."""
    from alwidget.datasets import make_sounds

    pool, test = make_sounds(n_per_class=40, seed=0), make_sounds(n_per_class=20, seed=1)
    X = pool.embed("logmel", progress=False, cache_dir=False)
    y = np.asarray(pool.labels, dtype=object)
    X_test, y_test = test.embed("logmel", progress=False, cache_dir=False), np.asarray(test.labels, dtype=object)
    return Pool(DEMO, None, X, y, X_test, y_test, sorted(set(y)))


WINDOWS = "asterisk-lang-windows"  # language ID on 1-s windows (hop 0.5 s): a pool above 5,000 clips


def windows_pool():
    """Language ID on 1-second windows (hop 0.5 s) of the Asterisk prompts, split as ``asterisk-lang``.

    Every window of a prompt gets its language, so windows of silence at a
    prompt's ends are labelled too, as in a long recording cut into windows.
    12,630 pool windows and 1,134 test windows: the pool for models whose cost grows with the pool.
    """
    src = C.asterisk_lang()
    paths = [os.path.abspath(str(p)) for p in src.paths]
    label = dict(zip(paths, src.labels))
    test = dict(zip(paths, src.test))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = AudioDataset.from_recordings(paths, window=1.0, hop=0.5, sr=16000, min_window=0.5)
        X = ds.embed("logmel", progress=False, cache_dir=str(CACHE / "embeddings"), n_jobs=1)
    files = np.array([os.path.abspath(p) for p in ds.paths])
    y = np.array([label[f] for f in files], dtype=object)
    is_test = np.array([test[f] for f in files])
    keep = np.isfinite(X).all(axis=1)
    tr, te = keep & ~is_test, keep & is_test
    return Pool(WINDOWS, src, X[tr], y[tr], X[te], y[te], sorted(set(y[tr])))


WINDOWS_4K = "asterisk-lang-windows-4k"  # a seeded sample of 4,000 of those windows: below 5,000 clips


def windows_sample_pool(n: int = 4000):
    """:func:`windows_pool` with a seeded sample of ``n`` pool windows (the test windows are all kept)."""
    full = windows_pool()
    keep = np.sort(np.random.default_rng(0).choice(len(full.X), size=n, replace=False))
    return Pool(WINDOWS_4K, full.src, full.X[keep], full.y[keep], full.X_test, full.y_test, full.classes)


def model_curves(pool, seeds, names=None, reference="linear") -> tuple[np.ndarray, dict]:
    """Curves of the ``reference`` model and the model challengers with keys ``names`` (default: ``spread``)."""
    names = ["spread"] if names is None else names
    runs = {}
    for key, (name, model) in MODEL_CHALLENGERS.items():
        if key == reference or key in names:
            if model == "half":
                model = SpreadRegression(gate=False, max_nodes=len(pool.X) // 2, sample=True)
            runs[name] = ("margin", model)
    return C.alwidget_curves(pool, runs, seeds)


def peer_curves(peer: str, pool, pname: str, seeds, steps) -> np.ndarray:
    """:func:`benchmarks.evidence.real_audio.peer_curves` scored with the default model, kept in the cache folder."""
    path = CACHE / f"screen-{pname}-{peer.replace(' ', '-')}-seeds{len(seeds)}-spread.npy"
    if path.exists():
        return np.load(path)
    curves = score_peer(peer, pool, seeds, steps, model="spread")
    np.save(path, curves)
    return curves


# ----------------------------------------------------------------------------- report
def rows(curves: dict, steps, ref: str) -> list[tuple]:
    i20 = int(np.flatnonzero(steps == 20)[0])
    base, base20 = C.aulc(curves[ref], steps), curves[ref][:, i20]
    out = []
    for name, c in curves.items():
        a, a20 = C.aulc(c, steps), c[:, i20]
        d, d20 = C.paired(a, base), C.paired(a20, base20)
        out.append((name, a, d, a20, d20))
    return out


def print_table(pname: str, group: str, curves: dict, steps, ref: str, results: dict) -> None:
    n = len(curves[ref])
    print(f"\n**`{pname}`, {group}** ({n} seeds; differences paired with `{ref}`)\n")
    print("| challenger | AULC | − ref (± std; s.e.) | seeds ahead | acc@20 | − ref (± std) |")
    print("|---|---|---|---|---|---|")
    # every run's curves are kept, so any two rows can be paired later
    slug = "-".join("".join(c if c.isalnum() else " " for c in group).split())
    rows_id = hashlib.sha1("\n".join(curves).encode()).hexdigest()[:8]  # runs of other rows keep their file
    np.savez(
        CACHE / f"screen-curves-{slug}-{pname}-seeds{n}-{rows_id}.npz",
        steps=steps,
        names=np.array(list(curves)),
        curves=np.stack([curves[k] for k in curves]),
    )
    for name, a, d, a20, d20 in rows(curves, steps, ref):
        if name == ref:
            print(f"| {name} | {a.mean():.3f} | | | {a20.mean():.3f} | |")
            continue
        se = C.std_err(d, ddof=0)  # ddof=0, as the published 20- and 40-seed tables were computed
        print(
            f"| {name} | {a.mean():.3f} | {C.mean_std(d, signed=True)}; {se:.3f} | "
            f"{C.seeds_ahead(d)}/{n} | {a20.mean():.3f} | {C.mean_std(d20, signed=True)} |"
        )
        results.setdefault(name, {})[pname] = (d.mean(), se, d20.mean())
    sys.stdout.flush()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--groups",
        nargs="+",
        default=["strategy", "features"],
        choices=["strategy", "strategy-spread", "features", "peers", "model"],
    )
    ap.add_argument(
        "--pools",
        nargs="+",
        default=list(SOURCES),
        choices=[*SOURCES, DEMO, WINDOWS, WINDOWS_4K],
        help=f"{DEMO}: notebook 3's synthetic pool, a check that the model group's gate works; "
        f"{WINDOWS}: language ID on 1-s windows, a pool above 5,000 clips; {WINDOWS_4K}: 4,000 of them",
    )
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument(
        "--challengers", nargs="+", default=None, help="strategy-spread: run only these challengers (and the default)"
    )
    ap.add_argument("--model-variants", nargs="+", default=None, choices=list(MODEL_CHALLENGERS)[1:])
    ap.add_argument(
        "--model-reference",
        default="linear",
        choices=list(MODEL_CHALLENGERS),
        help="model group: the row the others are paired with",
    )
    ap.add_argument(
        "--seeded-variants",
        action="store_true",
        help="model variants check their gate on folds from each run's seed, as the default does (not seed 0)",
    )
    args = ap.parse_args(argv)
    if args.seeded_variants:
        C.seed_spread_instances()
    torch.set_num_threads(1)
    seeds = list(range(args.seeds))
    t_start = time.perf_counter()
    print(f"# Challengers to the default: cold start, batch {BATCH}, budget {BUDGET}, seeds 0..{len(seeds) - 1}")
    print(f"\nMachine: {C.machine('scikit-learn', 'modAL-python', 'scikit-activeml')}")
    results: dict = {}
    with threadpool_limits(1):
        for pname in args.pools:
            if pname == DEMO:
                src, pool = None, demo_pool()
            elif pname == WINDOWS:
                src, pool = None, windows_pool()
            elif pname == WINDOWS_4K:
                src, pool = None, windows_sample_pool()
            else:
                src = SOURCES[pname]()
                pool = C.make_pool(src, *C.embed(src, 16000))
            if "strategy" in args.groups:
                t0 = time.perf_counter()
                steps, curves = C.alwidget_curves(pool, strategy_challengers(), seeds)
                print_table(pname, "strategy and l2 (linear model)", curves, steps, LINEAR, results)
                print(f"- {pname} strategy: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
            if "strategy-spread" in args.groups:
                t0 = time.perf_counter()
                runs = spread_strategy_challengers()
                if args.challengers:
                    unknown = sorted(set(args.challengers) - set(runs))
                    if unknown:
                        ap.error(f"unknown challengers {unknown}; choose from {sorted(runs)}")
                    runs = {k: v for k, v in runs.items() if k == DEFAULT or k in args.challengers}
                steps, curves = C.alwidget_curves(pool, runs, seeds)
                print_table(pname, 'strategy (model "spread")', curves, steps, DEFAULT, results)
                print(f"- {pname} strategy-spread: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
            if "features" in args.groups and src is not None:  # the demo sounds have no files to re-read
                t0 = time.perf_counter()
                X, keep = C.embed(src, 44100, HighBand())
                both = C.make_pool(src, X, keep)
                low = C.make_pool(src, X[:, :384], keep)
                steps, c_low = C.alwidget_curves(low, {"margin": ("margin", 1.0)}, seeds)
                _, c_both = C.alwidget_curves(both, {"margin": ("margin", 1.0)}, seeds)
                curves = {"384 low-band statistics": c_low["margin"], "+ 48 high-band statistics": c_both["margin"]}
                print_table(pname, "features (read at 44.1 kHz)", curves, steps, "384 low-band statistics", results)
                print(
                    f"\nCeilings: 384 statistics {C.ceiling(low):.3f}, with the high band {C.ceiling(both):.3f}",
                    flush=True,
                )
                print(f"- {pname} features: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
            if "peers" in args.groups:
                t0 = time.perf_counter()
                steps, curves = C.alwidget_curves(pool, {DEFAULT: ("margin", "spread")}, seeds)
                for peer in ALL_PEERS:
                    curves[peer] = peer_curves(peer, pool, pname, seeds, steps)
                print_table(pname, "peers", curves, steps, DEFAULT, results)
                print(f"- {pname} peers: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
            if "model" in args.groups:
                t0 = time.perf_counter()
                steps, curves = model_curves(pool, seeds, args.model_variants, args.model_reference)
                ref = MODEL_CHALLENGERS[args.model_reference][0]
                print_table(pname, "model (margin sampling)", curves, steps, ref, results)
                print(f"- {pname} model: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    if len(args.pools) > 1:
        print("\n**Across pools**: AULC difference (s.e.) and acc@20 difference to the reference\n")
        print("| challenger | " + " | ".join(args.pools) + " |")
        print("|---|" + "---|" * len(args.pools))
        for name, per in results.items():
            cells = [f"{per[p][0]:+.3f} ({per[p][1]:.3f}); {per[p][2]:+.3f}" if p in per else "" for p in args.pools]
            print(f"| {name} | " + " | ".join(cells) + " |")
    print(f"\nTotal runtime: {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
