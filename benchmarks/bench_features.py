"""Feature extraction throughput: clips per second for N two-second WAV clips.

Rows: a floor (soundfile decode + one Hann STFT per clip, numpy.fft and
scipy.fft), AudioDataset.from_folder (header probe), alwidget cold (empty
cache), alwidget cached (second call), n_jobs=2 cold, and torch batches (CPU;
plus CUDA when available). Files sit in the OS page cache (written just
before), for the floor and alwidget alike. Targets: cold embed >= 0.5x the
numpy floor; cached >= 50x faster than cold.

    python benchmarks/bench_features.py            # 2000 clips
    python benchmarks/bench_features.py --n 300    # quicker

``--embedder NAME[,NAME...]`` instead times named embedders (no cache, one
process, after a warm-up call on 4 clips that loads weights), e.g. the
pretrained one beside log-mel at its native rate::

    python benchmarks/bench_features.py --embedder logmel,aisfx --sr 44100 --n 200
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.fft
import soundfile as sf

from alwidget.audio import AudioDataset
from alwidget.datasets import make_sounds
from alwidget.features import LogMelEmbedder, log_mel_spectrogram

N_FFT, HOP = 1024, 256


def floor(paths: list[str], fft) -> None:
    """Decode each file and compute one power STFT: the least any embedder must do."""
    win = np.hanning(N_FFT + 1)[:-1].astype(np.float32)
    for p in paths:
        y, _ = sf.read(p, dtype="float32")
        frames = np.lib.stride_tricks.sliding_window_view(np.pad(y, N_FFT // 2), N_FFT)[::HOP]
        spec = fft.rfft(frames * win, axis=1)
        _ = spec.real**2 + spec.imag**2


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def compare_embedders(names: list[str], folder: Path, sr: int, device: str) -> None:
    """Clips per second of each named embedder: decode + embed, no cache, n_jobs=1."""
    import torch

    ds = AudioDataset.from_folder(folder, sr=sr)
    warm = ds.subset(list(range(min(4, len(ds)))))
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}")
    print(f"| {'embedder':<10} | {'d':>5} | {'first call, 4 clips (s)':>23} | {'time (s)':>8} | {'clips/s':>8} |")
    print(f"|{'-' * 12}|{'-' * 7}|{'-' * 25}|{'-' * 10}|{'-' * 10}|")
    for name in names:
        kwargs = {"cache_dir": False, "n_jobs": 1, "progress": False, "device": device}
        t_warm = timed(lambda: warm.embed(name, **kwargs))  # noqa: B023
        start = time.perf_counter()
        X = ds.embed(name, **kwargs)
        t = time.perf_counter() - start
        print(f"| {name:<10} | {X.shape[1]:>5} | {t_warm:23.2f} | {t:8.2f} | {len(ds) / t:8.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="number of clips (default 2000)")
    parser.add_argument("--seconds", type=float, default=2.0, help="clip length in seconds")
    parser.add_argument("--sr", type=int, default=16000)
    parser.add_argument(
        "--embedder", default=None, help="comma-separated embedder names to time instead (e.g. logmel,aisfx)"
    )
    parser.add_argument("--device", default="cpu", help="torch device for --embedder (default cpu)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t_gen = timed(
            lambda: make_sounds(
                -(-args.n // 6), sr=args.sr, path=tmp / "clips", lengths=(args.seconds, args.seconds), layout="flat"
            )
        )
        paths = sorted(str(p) for p in (tmp / "clips").glob("*.wav"))[: args.n]
        for p in sorted((tmp / "clips").glob("*.wav"))[args.n :]:
            p.unlink()
        n = len(paths)
        print(f"{n} clips of {args.seconds} s at {args.sr} Hz generated in {t_gen:.1f} s into a temp dir")
        if args.embedder:
            compare_embedders(args.embedder.split(","), tmp / "clips", args.sr, args.device)
            return
        t_import = timed(lambda: log_mel_spectrogram(np.zeros(2048, np.float32), args.sr))
        print(f"one-off first-call cost (imports librosa for the mel filter bank): {t_import:.2f} s, not counted below")

        rows: list[tuple[str, float]] = []
        rows.append(("floor: decode + STFT (numpy.fft)", timed(lambda: floor(paths, np.fft))))
        rows.append(("floor: decode + STFT (scipy.fft)", timed(lambda: floor(paths, scipy.fft))))
        start = time.perf_counter()
        ds = AudioDataset.from_folder(tmp / "clips", sr=args.sr)
        rows.append(("AudioDataset.from_folder (probe)", time.perf_counter() - start))
        if len(ds) != n:
            raise SystemExit(f"expected {n} clips, found {len(ds)}")

        def embed(embedder="logmel", **kwargs):
            return lambda: ds.embed(embedder, progress=False, **kwargs)

        rows.append(("alwidget, cache_dir=False, n_jobs=1", timed(embed(cache_dir=False, n_jobs=1))))
        rows.append(("alwidget cold, n_jobs=1", timed(embed(cache_dir=tmp / "c1", n_jobs=1))))
        rows.append(("alwidget cached", timed(embed(cache_dir=tmp / "c1", n_jobs=1))))
        rows.append(("alwidget cold, n_jobs=2 (starts workers)", timed(embed(cache_dir=tmp / "c2", n_jobs=2))))
        rows.append(("alwidget cold, n_jobs=2 (workers running)", timed(embed(cache_dir=tmp / "c3", n_jobs=2))))
        torch_cpu = LogMelEmbedder(backend="torch", device="cpu")
        rows.append(("torch batches (cpu), bs=64, no cache", timed(embed(torch_cpu, batch_size=64, cache_dir=False))))
        import torch

        if torch.cuda.is_available():
            cuda = embed(device="cuda", batch_size=256, cache_dir=False)
            rows.append(("torch batches (cuda), bs=256, no cache", timed(cuda)))

    times = dict(rows)
    base = times["floor: decode + STFT (numpy.fft)"]
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}\n")
    print(f"| {'step':<42} | {'time (s)':>8} | {'clips/s':>9} | {'speed vs numpy floor':>20} |")
    print(f"|{'-' * 44}|{'-' * 10}|{'-' * 11}|{'-' * 22}|")
    for label, t in rows:
        print(f"| {label:<42} | {t:8.3f} | {n / t:9.0f} | {base / t:19.2f}x |")
    cold, cached = times["alwidget cold, n_jobs=1"], times["alwidget cached"]
    verdict = {True: "met", False: "MISSED"}
    print(f"\ncold embed vs numpy floor: {base / cold:.2f}x (target >= 0.5x): {verdict[base / cold >= 0.5]}")
    print(f"cached vs cold: {cold / cached:.0f}x faster (target >= 50x): {verdict[cold / cached >= 50]}")


if __name__ == "__main__":
    main()
