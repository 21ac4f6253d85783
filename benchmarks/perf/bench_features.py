"""Feature extraction throughput: clips per second for N two-second WAV clips.

Rows: a floor (soundfile decode + one Hann STFT per clip, numpy.fft and
scipy.fft), AudioDataset.from_folder (header probe), alwidget cold (empty
cache), alwidget cached (second call), n_jobs=2 cold, and torch batches (CPU;
plus CUDA when available). Files sit in the OS page cache (written just
before), for the floor and alwidget alike. Targets: cold embed >= 0.5x the
numpy floor; cached >= 50x faster than cold.

    python -m benchmarks.perf.bench_features            # 2000 clips
    python -m benchmarks.perf.bench_features --n 300    # quicker

``--embedder NAME[,NAME...]`` instead times named embedders (no cache, one
process, after a warm-up call on 4 clips that loads weights), e.g. the
pretrained one beside log-mel at its native rate::

    python -m benchmarks.perf.bench_features --embedder logmel,aisfx,logmel+aisfx --sr 44100 --n 200

``--recordings`` instead times windowed embedding of long recordings
(``AudioDataset.from_recordings``): synthetic FLAC recordings, three quarters
at 16 kHz and a quarter at 44.1 kHz (resampled to 16 kHz), in hours of audio
per minute against the floor "decode + one STFT over the same audio"
(``--minutes`` of audio in all, default 48; target >= 0.5x the floor)::

    python -m benchmarks.perf.bench_features --recordings --minutes 48

``--recordings --embedder logmel,logmel+aisfx`` times named embedders on
those recordings instead (windows hop by half their length; aiSFX sets read
at 44.1 kHz), in hours of audio per minute.

Run from the repository root.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.fft
import soundfile as sf

from alwidget.audio import AudioDataset
from alwidget.datasets import make_sounds
from alwidget.features import LogMelEmbedder, log_mel_spectrogram
from benchmarks import _common as C

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
    print(f"\nMachine: {C.machine('aisfx')}; torch threads {torch.get_num_threads()}")
    w = max(10, *(len(n) for n in names))
    print(f"| {'embedder':<{w}} | {'d':>5} | {'first call, 4 clips (s)':>23} | {'time (s)':>8} | {'clips/s':>8} |")
    print(f"|{'-' * (w + 2)}|{'-' * 7}|{'-' * 25}|{'-' * 10}|{'-' * 10}|")
    for name in names:
        kwargs = {"cache_dir": False, "n_jobs": 1, "progress": False, "device": device}
        t_warm = timed(lambda: warm.embed(name, **kwargs))  # noqa: B023
        start = time.perf_counter()
        X = ds.embed(name, **kwargs)
        t = time.perf_counter() - start
        print(f"| {name:<{w}} | {X.shape[1]:>5} | {t_warm:23.2f} | {t:8.2f} | {len(ds) / t:8.1f} |")


def stft_floor(paths: list[str], block: int = 1 << 18) -> None:
    """Decode each recording in blocks and compute one power STFT (scipy.fft) over all of it, at its own rate."""
    win = np.hanning(N_FFT + 1)[:-1].astype(np.float32)
    for p in paths:
        tail = np.zeros(N_FFT // 2, np.float32)  # centred frames, as the embedder pads
        with sf.SoundFile(p) as f:
            for y in f.blocks(blocksize=block, dtype="float32", always_2d=True):
                y = np.concatenate([tail, y.mean(axis=1) if y.shape[1] > 1 else y[:, 0]])
                n = (len(y) - N_FFT) // HOP + 1
                if n > 0:
                    frames = np.lib.stride_tricks.sliding_window_view(y, N_FFT)[: n * HOP : HOP]
                    spec = scipy.fft.rfft(frames * win, axis=1)
                    _ = spec.real**2 + spec.imag**2
                    tail = y[n * HOP :]
                else:
                    tail = y


def write_recordings(folder: Path, minutes: float) -> dict[str, list[str]]:
    """Synthetic field-like recordings (noise floor, tones, chirps), FLAC 16-bit, written in 1-minute pieces.

    Three quarters of the audio at 16 kHz in 10-minute files, a quarter at 44.1 kHz in one file.
    """
    rng = np.random.default_rng(0)
    plan = {16000: minutes * 0.75, 44100: minutes * 0.25}
    out: dict[str, list[str]] = {}
    for sr, total in plan.items():
        n_files = max(1, int(round(total / 10))) if sr == 16000 else 1
        paths = []
        for k in range(n_files):
            path = folder / f"{sr // 1000}k" / f"rec{k:02d}.flac"
            path.parent.mkdir(parents=True, exist_ok=True)
            with sf.SoundFile(path, "w", sr, 1, subtype="PCM_16") as f:
                left = total / n_files * 60
                while left > 0:
                    n = int(min(60.0, left) * sr)
                    t = np.arange(n) / sr
                    y = 0.02 * rng.standard_normal(n)
                    y += 0.1 * np.sin(2 * np.pi * rng.uniform(300, 3000) * t) * (np.sin(2 * np.pi * 0.2 * t) > 0.5)
                    y += 0.05 * np.sin(2 * np.pi * (500 + 2000 * (t % 2.0)) * t)
                    f.write(y.astype(np.float32))
                    left -= n / sr
            paths.append(str(path))
        out[f"{sr} Hz" if sr == 16000 else f"{sr} Hz -> 16 kHz"] = paths
    return out


def best_of(fn, repeat: int = 3) -> float:
    """Shortest of ``repeat`` timings: the machine is shared, noise only ever adds time."""
    return min(timed(fn) for _ in range(repeat))


def bench_recordings(minutes: float, window: float) -> None:
    """Hours of audio per minute: windowed ds.embed("logmel") (logmel, no cache) against decode + one STFT.

    Every time is the best of 3 runs (files in the OS page cache).
    """
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t_gen = timed(lambda: write_recordings(tmp / "rec", minutes))
        groups = {
            "16 kHz files": sorted(str(p) for p in (tmp / "rec" / "16k").glob("*.flac")),
            "44.1 kHz file -> 16 kHz": sorted(str(p) for p in (tmp / "rec" / "44k").glob("*.flac")),
        }
        groups["all"] = groups["16 kHz files"] + groups["44.1 kHz file -> 16 kHz"]
        hours = {g: sum(sf.info(p).duration for p in ps) / 3600 for g, ps in groups.items()}
        print(f"{hours['all'] * 60:.1f} minutes of recordings ({len(groups['all'])} FLAC files) in {t_gen:.1f} s")
        warm = AudioDataset.from_recordings(groups["16 kHz files"][0], window=window, sr=16000)
        warm = warm.subset(range(min(len(warm), int(300 / window))))  # 5 minutes: several runs
        warm.embed("logmel", cache_dir=False, progress=False, n_jobs=1)  # librosa's mel basis: not counted
        for _ in range(2):  # start both loky workers (each imports alwidget and torch): not counted
            warm.embed("logmel", cache_dir=False, progress=False, n_jobs=2)

        rows: list[tuple[str, str, float, float]] = []  # (group, step, hours, seconds)
        for group, paths in groups.items():
            t = best_of(lambda: stft_floor(paths))  # noqa: B023
            rows.append((group, "floor: decode + one STFT (scipy.fft)", hours[group], t))
            t0 = time.perf_counter()
            ds = AudioDataset.from_recordings(paths, window=window, sr=16000)
            rows.append((group, f"from_recordings (probe), {len(ds)} windows", hours[group], time.perf_counter() - t0))
            for n_jobs in (1, 2):
                t = best_of(lambda: ds.embed("logmel", cache_dir=False, progress=False, n_jobs=n_jobs))  # noqa: B023
                rows.append((group, f"embed, window={window:g} s, n_jobs={n_jobs}", hours[group], t))
            if group == "all":
                half = AudioDataset.from_recordings(paths, window=window, hop=window / 2, sr=16000)
                t = best_of(lambda: half.embed("logmel", cache_dir=False, progress=False, n_jobs=1))  # noqa: B023
                rows.append((group, f"embed, hop={window / 2:g} s (2x the windows), n_jobs=1", hours[group], t))

    print(f"\nMachine: {C.machine('scipy', 'soundfile', 'soxr')}\n")
    print(f"| {'audio':<24} | {'step':<47} | {'time (s)':>8} | {'hours/min':>9} | {'vs floor':>8} |")
    print(f"|{'-' * 26}|{'-' * 49}|{'-' * 10}|{'-' * 11}|{'-' * 10}|")
    floors = {g: t for g, step, _, t in rows if step.startswith("floor")}
    for group, step, h, t in rows:
        print(f"| {group:<24} | {step:<47} | {t:8.2f} | {h / (t / 60):9.1f} | {floors[group] / t:7.2f}x |")
    verdict = {True: "met", False: "MISSED"}
    for group in groups:
        t1 = next(t for g, step, _, t in rows if g == group and step.endswith("n_jobs=1") and "hop" not in step)
        ratio = floors[group] / t1
        print(f"{group}: embed n_jobs=1 at {ratio:.2f}x the floor (target >= 0.5x): {verdict[ratio >= 0.5]}")


def compare_recording_embedders(names: list[str], minutes: float, window: float) -> None:
    """Hours of audio per minute of each named embedder on windows of long recordings (no cache, n_jobs=1).

    One run each after a warm-up on 30 s (weights loaded, librosa's basis built); windows hop by half their length
    as in the soundscape benchmark.
    """
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_recordings(tmp / "rec", minutes)
        paths = sorted(str(p) for p in (tmp / "rec").rglob("*.flac"))
        hours = sum(sf.info(p).duration for p in paths) / 3600
        print(f"\nMachine: {C.machine('aisfx', 'soxr')}\n")
        print(f"{hours * 60:.1f} minutes of recordings, window {window:g} s, hop {window / 2:g} s\n")
        print("| embedder | windows | time (s) | windows/s | hours of audio/min |")
        print("|---|---|---|---|---|")
        for name in names:
            sr = 44100 if "aisfx" in name else 16000
            ds = AudioDataset.from_recordings(paths, window=window, hop=window / 2, sr=sr)
            ds.subset(range(min(30, len(ds)))).embed(name, cache_dir=False, progress=False, n_jobs=1)  # warm-up
            t = timed(lambda: ds.embed(name, cache_dir=False, progress=False, n_jobs=1))  # noqa: B023
            print(
                f"| `{name}` (sr {sr}) | {len(ds)} | {t:.1f} | {len(ds) / t:.1f} | {hours / (t / 60):.2f} |", flush=True
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="number of clips (default 2000)")
    parser.add_argument("--seconds", type=float, default=2.0, help="clip length in seconds")
    parser.add_argument("--sr", type=int, default=16000)
    parser.add_argument(
        "--embedder", default=None, help="comma-separated embedder names to time instead (e.g. logmel,aisfx)"
    )
    parser.add_argument("--device", default="cpu", help="torch device for --embedder (default cpu)")
    parser.add_argument("--recordings", action="store_true", help="time windowed embedding of long recordings")
    parser.add_argument("--minutes", type=float, default=48.0, help="--recordings: minutes of audio in all")
    parser.add_argument("--window", type=float, default=5.0, help="--recordings: window length in seconds")
    args = parser.parse_args()
    if args.recordings and args.embedder:
        compare_recording_embedders(args.embedder.split(","), args.minutes, args.window)
        return
    if args.recordings:
        bench_recordings(args.minutes, args.window)
        return

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
    print(f"\nMachine: {C.machine('scipy', 'soundfile', 'soxr')}\n")
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
