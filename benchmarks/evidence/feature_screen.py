"""Screen clip features on the real pools of ``real_audio``: ceiling and margin-sampling AULC.

The evidence behind the default embedder (128 mel bands at 16 kHz, d = 384).
For each feature set and pool it embeds the pool and test clips, reports the
all-labels ceiling of the linear model, and runs alwidget's ``margin`` and
``random`` strategies (cold start, batches of 5 up to 150 labels) through
:func:`alwidget.simulate`, with the paired AULC difference of margin against
the first feature set (mean ± std over seeds) and the accuracy at 20 labels.

Run from the repository root (the packages are downloaded on first use, as for
``real_audio``; embeddings are cached)::

    python -m benchmarks.evidence.feature_screen            # every feature set, 5 seeds, about 5 minutes
    python -m benchmarks.evidence.feature_screen --sets logmel64 logmel128 --seeds 20

The pretrained embedder against the default features, under the default model
(needs ``pip install --no-deps aisfx==0.1.2``; the first run embeds every
clip with aiSFX, about 30 clips/s on two cores)::

    python -m benchmarks.evidence.feature_screen --model spread --seeds 20 \
        --sets logmel128 aisfx@44k logmel128+aisfx logmel+aisfx@44k
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from alwidget import log_mel_spectrogram
from alwidget.features import LogMelEmbedder
from benchmarks import _common as C
from benchmarks._common import BATCH, BUDGET, SOURCES


class RichStats(LogMelEmbedder):
    """Log-mel statistics plus percentiles (10, 50, 90 per band) and/or six loudness-envelope statistics."""

    def __init__(self, stats: str = "pct", **kw):
        super().__init__(**kw)
        self.stats = stats

    @property
    def name(self) -> str:
        return f"logmel-{self.stats}"

    def cache_params(self) -> dict:
        return {**super().cache_params(), "stats": self.stats}

    def __call__(self, waveforms, sr):
        rows = []
        with np.errstate(over="ignore", invalid="ignore"):
            for y in waveforms:
                y = np.asarray(y, dtype=np.float32)
                F = log_mel_spectrogram(
                    y,
                    sr,
                    self.n_mels,
                    n_fft=self.n_fft,
                    hop_length=self.hop,
                    fmin=self.fmin,
                    fmax=self.fmax,
                    top_db=self.top_db,
                )
                parts = [super().__call__([y], sr)[0]]  # the default statistics of the same log-mel
                if "pct" in self.stats:
                    parts.append(np.percentile(F, [10, 50, 90], axis=1).ravel())
                if "env" in self.stats:
                    e = F.mean(axis=0)  # frame loudness, dB
                    n, peak = len(e), int(np.argmax(e))
                    tail = e[peak:]
                    slope = np.polyfit(np.arange(len(tail)), tail, 1)[0] if len(tail) > 2 else 0.0
                    rise = (e[1:] - e[:-1]).max() if n > 1 else 0.0
                    parts.append(
                        np.array([peak / max(n - 1, 1), (e > e.max() - 20).mean(), slope, np.log(n), e.std(), rise])
                    )
                rows.append(np.concatenate(parts).astype(np.float32))
        return np.stack(rows)


# name -> (sample rate, embedder factory); the first is the reference of the paired differences
SETS = {
    "logmel64": (16000, lambda: LogMelEmbedder(n_mels=64)),
    "logmel128": (16000, lambda: LogMelEmbedder(n_mels=128)),
    "logmel96": (16000, lambda: LogMelEmbedder(n_mels=96)),
    "logmel160": (16000, lambda: LogMelEmbedder(n_mels=160)),
    "logmel128-fft2048": (16000, lambda: LogMelEmbedder(n_mels=128, n_fft=2048)),
    "logmel64+pct": (16000, lambda: RichStats("pct", n_mels=64)),
    "logmel64+env": (16000, lambda: RichStats("env", n_mels=64)),
    "logmel64+pct+env": (16000, lambda: RichStats("pct+env", n_mels=64)),
    "logmel64@32k": (32000, lambda: LogMelEmbedder(n_mels=64)),
    "logmel96@22k": (22050, lambda: LogMelEmbedder(n_mels=96)),
    "logmel128@22k-fft2048": (22050, lambda: LogMelEmbedder(n_mels=128, n_fft=2048, hop_length=441)),
    # the pretrained embedder, at its own rate, alone and beside the default features
    "aisfx@44k": (44100, lambda: "aisfx"),
    "logmel128+aisfx": ("logmel128", "aisfx@44k"),  # two datasets, at 16 and 44.1 kHz
    "logmel+aisfx@44k": (44100, lambda: "logmel+aisfx"),  # the built-in: one dataset at 44.1 kHz
}


def features(src, name: str) -> tuple[np.ndarray, np.ndarray]:
    """One row per source file and a keep mask; a pair of set names is their side-by-side concatenation."""
    a, b = SETS[name]
    if isinstance(a, str):
        (Xa, ka), (Xb, kb) = features(src, a), features(src, b)
        return np.hstack([Xa, Xb]), ka & kb
    return C.embed(src, a, b())


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    ap.add_argument("--pools", nargs="+", default=list(SOURCES), choices=list(SOURCES))
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument(
        "--model",
        default="linear",
        choices=["linear", "spread"],
        help="the model that picks and is scored (default: the linear model, as in the tables of the 128-band change)",
    )
    args = ap.parse_args(argv)
    spec = 1.0 if args.model == "linear" else "spread"
    torch.set_num_threads(1)
    seeds = list(range(args.seeds))
    print(
        f"# Feature screen: margin and random, model {args.model!r}, cold start, batch {BATCH}, "
        f"budget {BUDGET}, seeds {seeds}\n\nMachine: {C.machine('aisfx')}\n"
    )
    print(
        "| pool | features | d | ceiling | margin AULC | − first set (paired ± std; s.e.; seeds ahead) "
        "| margin acc@20 | − first set | random AULC |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    with threadpool_limits(1):
        for pname in args.pools:
            src = SOURCES[pname]()
            ref = ref20 = None
            for name in args.sets:
                t0 = time.perf_counter()
                pool = C.make_pool(src, *features(src, name))
                strategies = {"margin": ("margin", spec), "random": ("random", spec)}
                steps, curves = C.alwidget_curves(pool, strategies, seeds)
                margin, rand = C.aulc(curves["margin"], steps), C.aulc(curves["random"], steps)
                at20 = curves["margin"][:, int(np.flatnonzero(steps == 20)[0])]
                ref = margin if ref is None else ref
                ref20 = at20 if ref20 is None else ref20
                d, d20 = C.paired(margin, ref), C.paired(at20, ref20)
                print(
                    f"| {pname} | {name} | {pool.X.shape[1]} | {C.ceiling(pool):.3f} | "
                    f"{C.mean_std(margin)} | {C.mean_std(d, signed=True)}; {C.std_err(d):.3f}; "
                    f"{C.seeds_ahead(d, eps=0.0)}/{len(d)} | {at20.mean():.3f} | {d20.mean():+.3f} | "
                    f"{rand.mean():.3f} |",
                    flush=True,
                )
                print(f"- {pname} {name}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
