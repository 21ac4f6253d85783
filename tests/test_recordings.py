"""Long recordings cut into windows: boundaries, ids, context, streaming embed, bad files, memory."""

from __future__ import annotations

import io
import math
import os
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

import alwidget.embedding as embedding
from alwidget._recordings import Recording, read_window, stream_windows, window_spans
from alwidget.audio import AudioDataset
from alwidget.errors import AlwidgetError, AudioLoadError, InvalidInputError

SR = 16000


@pytest.fixture(autouse=True)
def _tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ALWIDGET_CACHE_DIR", str(tmp_path / "default-cache"))


def noise(seconds: float, sr: int = SR, seed: int = 0) -> np.ndarray:
    """Band-limited-ish test audio: tones plus noise, about -20 dBFS."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    y = 0.2 * np.sin(2 * np.pi * rng.uniform(200, 2000) * t) + 0.05 * rng.standard_normal(n)
    return y.astype(np.float32)


def write(path: Path, y: np.ndarray, sr: int = SR, subtype: str = "FLOAT") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y, sr, subtype=subtype)
    return path


def windowed(path, **kwargs) -> AudioDataset:
    return AudioDataset.from_recordings(path, **kwargs)


# ---------------------------------------------------------------------- boundaries
@pytest.mark.parametrize(
    ("window", "hop", "starts", "lengths"),
    [
        (5.0, None, [0.0, 5.0, 10.0], [5.0, 5.0, 2.0]),  # partial last window
        (5.0, 2.5, [0.0, 2.5, 5.0, 7.5], [5.0, 5.0, 5.0, 4.5]),  # overlap: stops after the first reaching the end
        (3.0, 4.0, [0.0, 4.0, 8.0], [3.0, 3.0, 3.0]),  # gaps: 8 + 3 < 12 and the next start (12) is past the end
        (4.0, 4.0, [0.0, 4.0, 8.0], [4.0, 4.0, 4.0]),  # ends exactly on the recording's end: no empty window
        (20.0, None, [0.0], [12.0]),  # one window longer than the recording
    ],
)
def test_window_starts_ends_and_samples(tmp_path, window, hop, starts, lengths):
    y = noise(12.0)
    write(tmp_path / "rec.wav", y)
    ds = windowed(tmp_path / "rec.wav", window=window, hop=hop)
    assert ds.is_windowed and ds.sr == SR and len(ds) == len(starts)
    assert ds.clip_ids == [f"rec.wav@{s!r}" for s in starts]
    win_n = int(round(window * SR))
    for i, (s, n) in enumerate(zip(starts, lengths)):
        assert ds.start(i) == s and ds.duration(i) == pytest.approx(n) and ds.end(i) == pytest.approx(s + n)
        out, sr = ds[i]
        assert sr == SR and out.dtype == np.float32 and out.shape == (win_n,)
        a = int(round(s * SR))
        expected = np.zeros(win_n, np.float32)
        part = y[a : a + win_n]
        expected[: len(part)] = part
        np.testing.assert_array_equal(out, expected)  # float WAV, native rate: exact samples, zero-padded


def test_partial_last_window_and_min_window(tmp_path):
    write(tmp_path / "rec.wav", noise(12.0))
    assert len(windowed(tmp_path, window=5.0)) == 3
    assert len(windowed(tmp_path, window=5.0, min_window=2.0)) == 3  # the 2 s tail is long enough
    ds = windowed(tmp_path, window=5.0, min_window=2.5)
    assert len(ds) == 2 and ds.end(1) == 10.0
    write(tmp_path / "short.wav", noise(1.0))
    with pytest.warns(UserWarning, match=r"1 of 2 audio files were skipped: .*short\.wav: shorter"):
        ds = windowed(tmp_path, window=5.0, min_window=2.5)
    assert ds.recordings == ["rec.wav"] and len(ds.errors) == 1 and "min_window=2.5" in ds.errors[0].reason
    with pytest.raises(InvalidInputError, match=r"none of the 1 recordings could be used .*short\.wav"):
        windowed(tmp_path / "short.wav", window=5.0, min_window=2.0)


def test_ids_stable_nested_sorted_and_labels(tmp_path):
    write(tmp_path / "b" / "x.flac", noise(25.0), subtype="PCM_16")
    write(tmp_path / "a" / "deep" / "y.wav", noise(3.0))
    write(tmp_path / "top.wav", noise(1.0))
    (tmp_path / "notes.txt").write_text("not audio")
    first = windowed(tmp_path, window=12.5, labels_from="subfolder")
    again = windowed(tmp_path, window=12.5, labels_from="subfolder")
    assert first.clip_ids == again.clip_ids == ["a/deep/y.wav@0.0", "b/x.flac@0.0", "b/x.flac@12.5", "top.wav@0.0"]
    assert first.labels == ["a", "b", "b", None]
    assert first.recordings == ["a/deep/y.wav", "b/x.flac", "top.wav"]
    assert [first.recording(i) for i in range(len(first))] == ["a/deep/y.wav", "b/x.flac", "b/x.flac", "top.wav"]
    assert first.paths[1] == str((tmp_path / "b" / "x.flac").resolve())
    # a list of files and one file give the same ids (relative to the common folder / the file's folder)
    files = windowed([tmp_path / "b" / "x.flac", tmp_path / "top.wav"], window=12.5)
    assert files.clip_ids == ["b/x.flac@0.0", "b/x.flac@12.5", "top.wav@0.0"]
    assert windowed(tmp_path / "b" / "x.flac", window=12.5).clip_ids == ["x.flac@0.0", "x.flac@12.5"]
    # ids round to milliseconds and never repeat
    ids = windowed(tmp_path / "top.wav", window=0.3, hop=0.1).clip_ids
    assert ids[:4] == ["top.wav@0.0", "top.wav@0.1", "top.wav@0.2", "top.wav@0.3"] and len(set(ids)) == len(ids)


def test_sr_none_is_the_first_recordings_rate_and_others_are_resampled(tmp_path):
    write(tmp_path / "a.wav", noise(6.0, sr=22050), sr=22050)
    write(tmp_path / "b.wav", noise(6.0, sr=SR), sr=SR)
    ds = windowed(tmp_path, window=2.0)
    assert ds.sr == 22050 and len(ds) == 6
    assert all(ds[i][0].shape == (44100,) for i in range(len(ds)))
    ds16 = windowed(tmp_path, window=2.0, sr=SR)
    assert ds16.sr == SR and ds16[0][0].shape == (32000,)


def test_repr_subset_and_wav_bytes(tmp_path):
    write(tmp_path / "a.wav", noise(12.0))
    write(tmp_path / "b.wav", noise(4.0))
    ds = windowed(tmp_path, window=5.0, hop=2.5)
    assert repr(ds) == f"AudioDataset(n=5, sr=16000, window=5.0, hop=2.5, recordings=2, root={str(tmp_path)!r})"
    sub = ds.subset([4, 1])
    assert sub.is_windowed and sub.clip_ids == ["b.wav@0.0", "a.wav@2.5"] and sub.recordings == ["b.wav", "a.wav"]
    np.testing.assert_array_equal(sub[1][0], ds[1][0])
    assert sub.start(1) == 2.5 and sub.end(0) == 4.0 and "recordings=2" in repr(sub)
    y, sr = sf.read(io.BytesIO(ds.wav_bytes(0)), dtype="float32")
    assert sr == SR and len(y) == 5 * SR


# ---------------------------------------------------------------------- recording / start / end / context
def test_context_of_windows_seeks_and_clips_to_the_recording(tmp_path):
    y = noise(12.0)
    write(tmp_path / "rec.wav", y)
    ds = windowed(tmp_path, window=5.0, hop=2.5)
    ctx, sr, begin, end = ds.context(1, before=1.0, after=2.0)  # window 2.5-7.5 -> span 1.5-9.5
    assert sr == SR and (begin, end) == (1.0, 6.0) and ctx.dtype == np.float32
    np.testing.assert_array_equal(ctx, y[int(1.5 * SR) : int(9.5 * SR)])
    ctx, _, begin, end = ds.context(0, before=3.0, after=0.5)  # clipped at the start
    assert (begin, end) == (0.0, 5.0)
    np.testing.assert_array_equal(ctx, y[: int(5.5 * SR)])
    ctx, _, begin, end = ds.context(3, before=0.5, after=3.0)  # partial last window 7.5-12, clipped at the end
    assert (begin, end) == (0.5, 5.0) and len(ctx) == int(5.0 * SR)
    np.testing.assert_array_equal(ctx, y[int(7.0 * SR) :])
    with pytest.raises(InvalidInputError, match="before must be a non-negative"):
        ds.context(0, before=-1.0)


def test_recording_start_end_context_on_plain_clips(tmp_path):
    write(tmp_path / "a.wav", noise(3.0))
    write(tmp_path / "sub" / "b.wav", noise(1.0))
    ds = AudioDataset.from_folder(tmp_path, offset=0.5, duration=2.0)
    assert not ds.is_windowed and ds.window is None
    assert ds.recordings == ["a.wav", "sub/b.wav"] and ds.recording(1) == "sub/b.wav"
    assert (ds.start(0), ds.end(0)) == (0.5, 2.5)
    assert (ds.start(1), ds.end(1)) == (0.5, 1.0)  # end clipped to the 1 s file
    y, sr, begin, end = ds.context(0)
    np.testing.assert_array_equal(y, ds[0][0])
    assert (sr, begin, end) == (SR, 0.0, 2.0)
    arrays = AudioDataset.from_arrays([noise(1.0), noise(1.0)], SR)  # same audio twice: ids differ
    assert arrays.recordings == arrays.clip_ids and len(set(arrays.recordings)) == 2
    assert (arrays.start(1), arrays.end(1)) == (0.0, 1.0)
    assert arrays.context(0, before=2.0)[2:] == (0.0, 1.0)


# ---------------------------------------------------------------------- streaming = per-window decode
@pytest.mark.parametrize("native_sr", [SR, 22050, 44100, 48000, 8000])
def test_streamed_windows_equal_seeked_windows(tmp_path, native_sr):
    y = noise(9.7, sr=native_sr, seed=3)
    rec_path = write(tmp_path / "rec.flac", y, sr=native_sr, subtype="PCM_24")
    rec = Recording("rec.flac", str(rec_path), native_sr, sf.info(rec_path).frames, SR)
    spans = window_spans(rec.length, SR, 1.3, 0.7)
    win_n = int(round(1.3 * SR))
    starts = [int(a) for a, _ in spans]
    # tiny blocks: many block edges and resampler chunks inside windows
    streamed = dict(stream_windows(rec, starts, win_n, block=3001))
    assert sorted(streamed) == list(range(len(starts)))
    worst = 0.0
    for k, s in enumerate(starts):
        seeked = read_window(rec, s, win_n)
        assert streamed[k].shape == seeked.shape == (win_n,)
        worst = max(worst, float(np.abs(streamed[k] - seeked).max()))
    if native_sr == SR:
        assert worst == 0.0
    else:  # measured: at most 2.1e-7 for these rates (float32 rounding in soxr); a cut would show as 1e-3 or more
        assert worst < 2e-6


def test_embed_windows_equals_embedding_each_window(tmp_path):
    write(tmp_path / "a.wav", noise(31.0, seed=1), subtype="PCM_16")
    write(tmp_path / "b" / "c.flac", noise(17.3, seed=2), subtype="PCM_16")
    ds = windowed(tmp_path, window=4.0, hop=3.0)
    X = ds.embed("logmel", batch_size=5, cache_dir=False, progress=False, background=None)
    ref = AudioDataset.from_arrays([ds[i][0] for i in range(len(ds))], SR).embed(
        "logmel", cache_dir=False, progress=False
    )
    assert X.shape == (len(ds), 384) and X.dtype == np.float32
    np.testing.assert_array_equal(X, ref)


def test_embed_resampled_windows_close_to_embedding_each_window(tmp_path):
    write(tmp_path / "a.wav", noise(20.0, sr=44100, seed=4), sr=44100, subtype="PCM_16")
    ds = windowed(tmp_path, window=3.0, hop=2.0, sr=SR)
    X = ds.embed("logmel", cache_dir=False, progress=False, background=None)
    ref = AudioDataset.from_arrays([ds[i][0] for i in range(len(ds))], SR).embed(
        "logmel", cache_dir=False, progress=False
    )
    np.testing.assert_allclose(X, ref, atol=1e-3)  # dB statistics of waveforms equal to ~1e-6


def test_cache_hit_and_windowings_do_not_share_rows(tmp_path):
    write(tmp_path / "rec.wav", noise(20.0))

    class Counting:
        def __init__(self):
            self.seen = 0

        def __call__(self, batch, sr):
            self.seen += len(batch)
            return np.stack([batch.mean(1), batch.std(1), np.full(len(batch), batch.shape[1] / sr)], axis=1)

    emb = Counting()
    cache = tmp_path / "cache"
    ds = windowed(tmp_path / "rec.wav", window=5.0)
    X1 = ds.embed(emb, name="counting", cache_dir=cache, progress=False, background=None)
    assert emb.seen == 4
    X2 = windowed(tmp_path / "rec.wav", window=5.0).embed(
        emb, name="counting", cache_dir=cache, progress=False, background=None
    )
    assert emb.seen == 4 and np.array_equal(X1, X2)  # second call: cache only
    sub = ds.subset([1, 3])  # per-window entries still hit
    assert np.array_equal(sub.embed(emb, name="counting", cache_dir=cache, progress=False, background=None), X1[[1, 3]])
    assert emb.seen == 4
    # same ids (rec.wav@0.0, @5.0 ...) under another window or hop: own rows
    other = windowed(tmp_path / "rec.wav", window=4.0, hop=5.0)
    X3 = other.embed(emb, name="counting", cache_dir=cache, progress=False, background=None)
    assert emb.seen == 8 and X3[0, 2] == 4.0
    overlap = windowed(tmp_path / "rec.wav", window=5.0, hop=2.5)
    overlap.embed(emb, name="counting", cache_dir=cache, progress=False, background=None)
    assert emb.seen == 8 + 7
    # a changed file misses
    os.utime(tmp_path / "rec.wav", ns=(1, 1))
    ds.embed(emb, name="counting", cache_dir=cache, progress=False, background=None)
    assert emb.seen == 8 + 7 + 4


# ---------------------------------------------------------------------- bad recordings
def _truncate(path: Path, fraction: float) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(int(size * fraction))


@pytest.mark.parametrize("ext", ["flac", "wav"])
def test_truncated_or_bad_recording_is_reported_and_skipped(tmp_path, ext):
    write(tmp_path / "good.wav", noise(11.0))
    bad = write(tmp_path / f"cut.{ext}", noise(30.0, seed=5), subtype="PCM_16")
    _truncate(bad, 0.5)
    (tmp_path / "empty.wav").write_bytes(b"")
    # libsndfile cannot decode the end of a cut FLAC: skipped. A cut WAV's frames are counted from the
    # file's size: it is kept, with the audio that is left
    skipped = {"cut.flac", "empty.wav"} if ext == "flac" else {"empty.wav"}
    with pytest.warns(UserWarning, match=rf"{len(skipped)} of 3 audio files were skipped") as rec:
        ds = windowed(tmp_path, window=5.0)
    assert len(rec) == 1 and {Path(e.path).name for e in ds.errors} == skipped
    assert ds.recordings == (["good.wav"] if ext == "flac" else ["cut.wav", "good.wav"])
    if ext == "wav":
        assert 14.0 < ds.end(ds.clip_ids.index("cut.wav@10.0")) < 16.0
    X = ds.embed("logmel", cache_dir=False, progress=False, background=None)
    assert np.isfinite(X).all() and len(ds.errors) == len(skipped)
    with pytest.raises(InvalidInputError, match=r"none of the 2 recordings could be used .*empty\.wav"):
        windowed([tmp_path / "empty.wav", tmp_path / "notes.wav"], window=5.0)


def test_recording_truncated_after_build_keeps_the_windows_before_the_cut(tmp_path):
    write(tmp_path / "good.wav", noise(6.0))
    cut = write(tmp_path / "long.flac", noise(40.0, seed=6), subtype="PCM_16")
    ds = windowed(tmp_path, window=5.0)
    full = ds.embed("logmel", cache_dir=False, progress=False, background=None)
    _truncate(cut, 0.5)  # about 20 s of 40 s left
    with pytest.warns(UserWarning, match=r"windows failed to decode .*NaN rows") as rec:
        X = ds.embed("logmel", cache_dir=False, progress=False, background=None)
    assert len(rec) == 1
    ok = np.isfinite(X).all(axis=1)
    ids = ds.clip_ids
    assert ok[ids.index("good.wav@0.0")] and ok[ids.index("good.wav@5.0")]
    first = [ok[ids.index(f"long.flac@{s!r}")] for s in (0.0, 5.0, 10.0)]
    last = [ok[ids.index(f"long.flac@{s!r}")] for s in (25.0, 30.0, 35.0)]
    assert all(first) and not any(last)
    np.testing.assert_array_equal(X[ok], full[ok])  # the windows that decoded are unchanged
    failed = {e.path.rsplit("@", 1)[1] for e in ds.errors}
    assert {"25.0", "30.0", "35.0"} <= failed and all(e.path.startswith(str(cut)) for e in ds.errors)
    with pytest.raises(AudioLoadError, match=r"long\.flac@35\.0"):
        ds[ids.index("long.flac@35.0")]


# ---------------------------------------------------------------------- memory and parallel runs
def test_embed_streams_a_long_recording_in_bounded_memory(tmp_path):
    sr, minutes = SR, 12
    path = tmp_path / "long.wav"
    with sf.SoundFile(path, "w", sr, 1, subtype="PCM_16") as f:  # written in pieces: no 12-minute array here
        for k in range(minutes):
            f.write(noise(60.0, sr, seed=k))
    whole = minutes * 60 * sr * 4  # the recording decoded as float32: 46 MB
    ds = windowed(path, window=5.0, hop=2.5)
    assert len(ds) == minutes * 24 - 1
    ds.subset([0]).embed("logmel", cache_dir=False, progress=False)  # imports (librosa's mel basis) are not the point
    tracemalloc.start()
    try:
        X = ds.embed("logmel", batch_size=4, cache_dir=False, progress=False, background=None, n_jobs=1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert np.isfinite(X).all() and X.shape == (len(ds), 384)
    # a batch of 4 windows (1.3 MB), one decode block and the STFT of one window: about 6 MB measured.
    # Holding the recording, or one 10-minute run of it (38 MB), fails.
    assert peak < whole / 4, f"peak {peak / 1e6:.1f} MB for a {whole / 1e6:.0f} MB recording"


def test_parallel_runs_give_the_same_rows(tmp_path, monkeypatch):
    write(tmp_path / "a.wav", noise(50.0, seed=7), subtype="PCM_16")
    write(tmp_path / "b.wav", noise(20.0, sr=44100, seed=8), sr=44100, subtype="PCM_16")
    monkeypatch.setattr(embedding, "_RUN_SECONDS", 12.0)  # several runs per recording
    ds = windowed(tmp_path, window=4.0, hop=3.0, sr=SR)
    runs = embedding._plan_runs(ds, list(range(len(ds))))
    assert len(runs) >= 6 and sorted(i for _, run, _ in runs for i in run) == list(range(len(ds)))
    X1 = ds.embed("logmel", cache_dir=False, progress=False, background=None, n_jobs=1)
    X2 = ds.embed("logmel", cache_dir=False, progress=False, background=None, n_jobs=2)
    np.testing.assert_array_equal(X1, X2)
    ref = AudioDataset.from_arrays([ds[i][0] for i in range(len(ds))], SR).embed(
        "logmel", cache_dir=False, progress=False
    )
    np.testing.assert_allclose(X1, ref, atol=1e-3)


# ---------------------------------------------------------------------- queries
def test_embed_query_equals_the_row_of_the_same_window(tmp_path):
    y = noise(14.0, seed=9)
    write(tmp_path / "rec.wav", y)
    ds = windowed(tmp_path / "rec.wav", window=5.0, hop=4.0)
    X = ds.embed("logmel", cache_dir=False, progress=False, background=None)
    q0 = ds.embed_query(tmp_path / "rec.wav")  # the first 5 s of the file
    np.testing.assert_array_equal(q0, X[0])
    for i in range(len(ds)):
        np.testing.assert_array_equal(ds.embed_query(ds[i][0], sr=SR), X[i])
    # a short query is zero-padded like the last window; another rate is resampled
    np.testing.assert_array_equal(ds.embed_query(y[12 * SR :], sr=SR), X[3])
    assert ds.embed_query(noise(2.0, sr=8000), sr=8000).shape == (384,)
    # the embedder of the last embed() call
    Xm = ds.embed("mfcc", cache_dir=False, progress=False, background=None)
    q = ds.embed_query(ds[1][0], sr=SR)
    assert q.shape == (120,) and q.dtype == np.float32
    np.testing.assert_array_equal(q, Xm[1])
    assert ds.subset([1]).embed_query(ds[1][0], sr=SR).shape == (120,)


def test_embed_query_on_clips_and_bad_queries(tmp_path):
    write(tmp_path / "a.wav", noise(1.5))
    write(tmp_path / "b.wav", noise(0.7, seed=1))
    ds = AudioDataset.from_folder(tmp_path, duration=1.0)
    X = ds.embed("logmel", cache_dir=False, progress=False, background=None)
    np.testing.assert_array_equal(ds.embed_query(tmp_path / "b.wav"), X[1])
    np.testing.assert_array_equal(ds.embed_query(ds[0][0], sr=SR), X[0])
    with pytest.raises(InvalidInputError, match="needs its sample rate"):
        ds.embed_query(ds[0][0])
    with pytest.raises(InvalidInputError, match=r"missing\.wav.*does not exist"):
        ds.embed_query(tmp_path / "missing.wav")
    with pytest.raises(InvalidInputError, match="drop sr="):
        ds.embed_query(tmp_path / "a.wav", sr=SR)
    (tmp_path / "junk.wav").write_bytes(b"RIFF0000WAVEjunk" * 10)
    with pytest.raises(AudioLoadError, match=r"junk\.wav"):
        ds.embed_query(tmp_path / "junk.wav")
    with pytest.raises(InvalidInputError, match="1-D mono"):
        ds.embed_query(np.zeros((2, 100)), sr=SR)
    with pytest.raises(InvalidInputError, match="finite"):
        ds.embed_query(np.array([0.0, np.nan]), sr=SR)


# ---------------------------------------------------------------------- arguments
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"window": 0}, r"window must be a positive, finite number of seconds, got 0"),
        ({"window": float("inf")}, r"window must be .* got inf"),
        ({"window": "5"}, r"window must be .* got '5'"),
        ({"hop": -1.0}, r"hop must be a positive.* got -1\.0"),
        ({"hop": 0.0001}, r"hop=0\.0001 s is below 1 ms"),
        ({"min_window": 6.0}, r"min_window=6\.0 s exceeds window=5\.0 s"),
        ({"min_window": 0.0}, r"min_window must be a positive"),
        ({"sr": 0}, r"sr must be None .* got 0"),
        ({"sr": 16000.0}, r"sr must be None .* got 16000\.0"),
        ({"labels_from": "parent"}, r"labels_from must be None or \"subfolder\""),
        ({"window": 1e-5, "hop": 0.01}, r"window=1e-05 s is shorter than one sample at 16000 Hz"),
    ],
)
def test_argument_errors(tmp_path, kwargs, match):
    write(tmp_path / "rec.wav", noise(2.0))
    with pytest.raises(InvalidInputError, match=match) as info:
        windowed(tmp_path, **kwargs)
    assert isinstance(info.value, AlwidgetError)


def test_input_errors(tmp_path):
    with pytest.raises(InvalidInputError, match=r"nothing-here.*does not exist"):
        windowed(tmp_path / "nothing-here")
    with pytest.raises(InvalidInputError, match="no audio files found"):
        windowed(tmp_path)
    with pytest.raises(InvalidInputError, match="empty list of files"):
        windowed([])
    with pytest.raises(InvalidInputError, match="from_arrays"):
        windowed(np.zeros(100))
    write(tmp_path / "rec.wav", noise(2.0))
    with pytest.raises(InvalidInputError, match="listed twice"):
        windowed([tmp_path / "rec.wav", str(tmp_path / "rec.wav")])


# ---------------------------------------------------------------------- windowing invariants
@settings(max_examples=300, deadline=None)
@given(
    length=st.integers(1, 5000),
    win=st.integers(1, 700),
    hop=st.integers(1, 900),
    min_win=st.one_of(st.none(), st.integers(1, 700)),
)
def test_window_spans_invariants(length, win, hop, min_win):
    sr = 100  # window, hop and min_window in whole samples: the formula below is exact
    min_win = None if min_win is None else min(min_win, win)
    spans = window_spans(length, sr, win / sr, hop / sr, None if min_win is None else min_win / sr)
    starts, stops = spans[:, 0], spans[:, 1]
    # count: windows start every hop while inside the recording, up to the first one reaching the end
    n = min(math.ceil((length - win) / hop) + 1 if length > win else 1, math.ceil(length / hop))
    if min_win is not None and length - (n - 1) * hop < min(win, min_win):
        n -= 1
    assert len(spans) == n
    assert (starts == np.arange(n) * hop).all() and (np.diff(starts) > 0).all()
    assert (stops <= length).all() and (stops - starts <= win).all() and (stops > starts).all()
    assert (stops[:-1] - starts[:-1] == win).all()  # only the last window may be partial
    if hop <= win and min_win is None:  # no gaps: the windows cover the whole recording
        assert starts[0] == 0 and stops[-1] == length and (starts[1:] <= stops[:-1]).all()


# ---------------------------------------------------------------------- absurd windows and hops
@pytest.mark.parametrize("sr", [None, SR])
@pytest.mark.parametrize("window", [1e15, 1e9, 1e6, 10800.001])
def test_window_too_large_for_memory_is_rejected_before_decoding(tmp_path, sr, window):
    write(tmp_path / "rec.wav", noise(2.0))
    with pytest.raises(InvalidInputError, match=r"window=.* samples at 16000 Hz, more than the 172,800,000") as info:
        windowed(tmp_path, window=window, sr=sr)
    assert isinstance(info.value, AlwidgetError) and "use window <= 10800 s" in str(info.value)
    # the largest window allowed at this rate: one padded window of the 2 s recording (not decoded here)
    ds = windowed(tmp_path, window=10800.0, sr=sr)
    assert ds.clip_ids == ["rec.wav@0.0"] and ds.duration(0) == 2.0 and ds.end(0) == 2.0


@pytest.mark.parametrize(
    ("hop", "long_starts"),
    [
        (12.0, ["0.0", "12.0", "24.0"]),
        (13.0, ["0.0", "13.0", "26.0"]),
        (1e6, ["0.0"]),
        (1e15, ["0.0"]),
        (1e300, ["0.0"]),
    ],
)
def test_hop_past_the_end_gives_one_window_and_no_phantom_starts(tmp_path, hop, long_starts):
    # hop=1e15 made phantom windows (k * hop * sr overflowed int64) that failed later, blaming the file
    y = noise(12.0)
    write(tmp_path / "rec.wav", y)
    write(tmp_path / "long.wav", noise(30.0, seed=1))
    ds = windowed(tmp_path, window=5.0, hop=hop)
    assert ds.clip_ids == [f"long.wav@{s}" for s in long_starts] + ["rec.wav@0.0"]
    assert all(0 <= start < rec.length for rec, start in ds.windows(range(len(ds))))  # none past the end
    np.testing.assert_array_equal(ds[len(ds) - 1][0], y[: 5 * SR])
    X = ds.embed("logmel", cache_dir=False, progress=False, background=None)
    assert np.isfinite(X).all() and ds.errors == []
    np.testing.assert_array_equal(window_spans(12 * SR, SR, 5.0, hop), [[0, 5 * SR]])
    np.testing.assert_array_equal(window_spans(12 * SR, SR, 1e15, hop), [[0, 12 * SR]])  # no int64 overflow


# ---------------------------------------------------------------------- recording replaced after the build
def _replace_at_rate(path: Path, y: np.ndarray, sr_from: int, sr_to: int) -> None:
    """Overwrite ``path`` with the same audio resampled to ``sr_to``."""
    import soxr

    sf.write(path, soxr.resample(y, sr_from, sr_to), sr_to, subtype="FLOAT")


def _window_of(y: np.ndarray, sr: int, start: float, window: float) -> np.ndarray:
    """Window ``[start, start + window)`` of the 16 kHz audio ``y``, at ``sr``."""
    import soxr

    z = y if sr == SR else soxr.resample(y, SR, sr)
    return z[int(round(start * sr)) : int(round((start + window) * sr))]


@pytest.mark.parametrize("sr", [None, 8000])  # native rate, and resampled to 8 kHz
def test_recording_replaced_at_another_rate_is_reported_not_misread(tmp_path, sr):
    from alwidget.errors import RecordingChangedError

    y = noise(6.0, seed=2)
    keep = write(tmp_path / "a.wav", noise(6.0, seed=1))
    changed = write(tmp_path / "b.wav", y)
    ds = windowed(tmp_path, window=2.0, sr=sr)
    ids = ds.clip_ids
    assert ids == [f"{n}.wav@{s!r}" for n in "ab" for s in (0.0, 2.0, 4.0)]
    before = ds.embed("logmel", cache_dir=False, progress=False, background=None)
    good = ds[1][0]
    _replace_at_rate(changed, y, SR, 22050)
    for i in (3, 4, 5):  # every window of b.wav: a clear error on the seek path, never wrong samples
        with pytest.raises(RecordingChangedError, match=r"b\.wav.*changed since the dataset was built") as info:
            ds[i]
        assert isinstance(info.value, AudioLoadError) and isinstance(info.value, AlwidgetError)
        assert "22050 Hz, not 16000 Hz" in str(info.value) and "rebuild the dataset" in str(info.value)
    with pytest.raises(RecordingChangedError, match=r"context of window 'b\.wav@2\.0'.*changed since"):
        ds.context(4)
    assert ds.errors == []  # ds[i] raised, nothing else changed
    np.testing.assert_array_equal(ds[1][0], good)  # a.wav untouched
    # streaming embed: b's windows get NaN rows and ds.errors entries naming the file; a's rows unchanged
    with pytest.warns(UserWarning, match=r"3 of 6 windows failed .*changed since the dataset was built"):
        X = ds.embed("logmel", cache_dir=False, progress=False, background=None)
    assert np.isnan(X[3:]).all() and np.isfinite(X[:3]).all()
    np.testing.assert_array_equal(X[:3], before[:3])
    assert [e.path for e in ds.errors] == [f"{changed}@{s!r}" for s in (0.0, 2.0, 4.0)]
    assert all("changed since the dataset was built" in e.reason and "rebuild" in e.reason for e in ds.errors)
    assert str(keep) not in {e.path.rsplit("@", 1)[0] for e in ds.errors}
    # a rebuilt dataset reads the new file: the same audio again, to resampling accuracy
    fresh = windowed(tmp_path, window=2.0, sr=sr or SR)
    assert fresh.errors == [] and np.abs(fresh[4][0] - _window_of(y, sr or SR, 2.0, 2.0)).max() < 0.05
    # one recording only: nothing can be embedded, the error says why
    alone = windowed(tmp_path / "a.wav", window=2.0, sr=sr)
    _replace_at_rate(keep, noise(6.0, seed=1), SR, 44100)
    with pytest.raises(AudioLoadError, match="changed since the dataset was built"):
        alone.embed("logmel", cache_dir=False, progress=False, background=None)


# ---------------------------------------------------------------------- codecs: streamed rows = seeked rows
def write_codec(path: Path, y: np.ndarray, sr: int, fmt: str, subtype: str) -> Path:
    """Write in 1 s pieces (libsndfile 1.2 can crash writing long Vorbis in one call)."""
    if fmt not in sf.available_formats() or subtype not in sf.available_subtypes(fmt):
        pytest.skip(f"this libsndfile ({sf.__libsndfile_version__}) cannot write {fmt}/{subtype}")
    with sf.SoundFile(path, "w", sr, 1, format=fmt, subtype=subtype) as f:
        for k in range(0, len(y), sr):
            f.write(y[k : k + sr])
    return path


CODECS = [
    ("wav", "WAV", "PCM_16", True),
    ("flac", "FLAC", "PCM_24", True),
    ("ogg", "OGG", "VORBIS", True),
    ("mp3", "MP3", "MPEG_LAYER_III", False),
    ("opus", "OGG", "OPUS", False),
]


@pytest.mark.parametrize(("ext", "fmt", "subtype", "exact"), CODECS)
@pytest.mark.parametrize("native_sr", [SR, 48000])
def test_streamed_windows_equal_seeked_windows_for_every_codec(
    tmp_path, monkeypatch, ext, fmt, subtype, exact, native_sr
):
    from alwidget import _recordings

    path = write_codec(tmp_path / f"rec.{ext}", noise(12.0, sr=native_sr, seed=11), native_sr, fmt, subtype)
    info = sf.info(path)
    rec = Recording(f"rec.{ext}", str(path), info.samplerate, info.frames, SR)
    with sf.SoundFile(path) as f:
        assert _recordings.block_exact(f) is exact
    monkeypatch.setattr(_recordings, "_ANCHOR_SECONDS", 2.5)  # lossy codecs: several anchors (seeks) in 12 s
    win_n = int(round(1.3 * SR))
    starts = [int(a) for a, _ in window_spans(rec.length, SR, 1.3, 0.7)]
    seeked = [read_window(rec, s, win_n) for s in starts]
    if exact:  # streamed in one pass, never seeked: a seek would fail here
        monkeypatch.setattr(_recordings, "read_window", None)
        monkeypatch.setattr(_recordings, "read_span", None)
    streamed = dict(stream_windows(rec, starts, win_n, block=3001))
    assert sorted(streamed) == list(range(len(starts)))
    worst = max(float(np.abs(streamed[k] - seeked[k]).max()) for k in range(len(starts)))
    if native_sr == SR or not exact:  # decoded alike: the same samples
        assert worst == 0.0
    else:  # streamed through soxr.ResampleStream: float32 rounding (measured 1.5e-7)
        assert worst < 2e-6


@pytest.mark.parametrize(("ext", "fmt", "subtype", "exact"), CODECS)
def test_embed_windows_equals_embedding_each_seeked_window_for_every_codec(tmp_path, ext, fmt, subtype, exact):
    # MP3 was streamed too: its rows differed from embedding ds[i] by 1-2 % (libsndfile decodes MP3
    # differently after a seek and in other read sizes)
    write_codec(tmp_path / f"a.{ext}", noise(20.0, seed=12), SR, fmt, subtype)
    write_codec(tmp_path / f"b.{ext}", noise(9.0, seed=13), SR, fmt, subtype)
    ds = windowed(tmp_path, window=1.5, hop=1.0)
    X = ds.embed("logmel", batch_size=4, cache_dir=False, progress=False, background=None)
    ref = AudioDataset.from_arrays([ds[i][0] for i in range(len(ds))], SR).embed(
        "logmel", cache_dir=False, progress=False
    )
    assert np.isfinite(X).all() and ds.errors == []
    np.testing.assert_array_equal(X, ref)
    if not exact:  # and with resampling
        ds48 = windowed(tmp_path, window=1.5, hop=1.0, sr=48000)
        X48 = ds48.embed("logmel", batch_size=4, cache_dir=False, progress=False, background=None)
        ref48 = AudioDataset.from_arrays([ds48[i][0] for i in range(len(ds48))], 48000)
        np.testing.assert_array_equal(X48, ref48.embed("logmel", cache_dir=False, progress=False, background=None))


def test_mp3_windows_start_with_a_settled_decoder(tmp_path, monkeypatch):
    """A seek into an MP3 starts decoding early (the bit reservoir): ds[i] is the file decoded in one go."""
    from alwidget import _recordings

    monkeypatch.setattr(_recordings, "_ANCHOR_SECONDS", 2.0, raising=False)  # seeks to 0, 2, 4 ... s, >= 1 s early
    path = write_codec(tmp_path / "rec.mp3", noise(12.0, seed=14), SR, "MP3", "MPEG_LAYER_III")
    whole = sf.read(path, dtype="float32")[0]
    ds = windowed(path, window=1.0, hop=0.37)
    worst = max(
        float(np.abs(ds[i][0][: len(whole) - start] - whole[start : start + SR]).max())
        for i, (_, start) in enumerate(ds.windows(range(len(ds))))
    )
    assert worst < 1e-6  # measured 6e-8 (float rounding after a seek); seeking right to the window: up to 0.2
    X = ds.embed("logmel", cache_dir=False, progress=False, background=None)
    ref = AudioDataset.from_arrays([ds[i][0] for i in range(len(ds))], SR).embed(
        "logmel", cache_dir=False, progress=False
    )
    np.testing.assert_array_equal(X, ref)


def test_mp3_truncated_after_build_keeps_the_windows_before_the_cut(tmp_path, monkeypatch):
    from alwidget import _recordings

    monkeypatch.setattr(_recordings, "_ANCHOR_SECONDS", 5.0)
    cut = write_codec(tmp_path / "rec.mp3", noise(30.0, seed=15), SR, "MP3", "MPEG_LAYER_III")
    ds = windowed(cut, window=2.0, hop=1.5)
    _truncate(cut, 0.5)  # about 15 s of 30 s left
    with pytest.warns(UserWarning, match=r"windows failed to decode .*NaN rows"):
        X = ds.embed("logmel", batch_size=3, cache_dir=False, progress=False, background=None)
    ok = np.isfinite(X).all(axis=1)
    assert ok[: int(12 / 1.5)].all() and not ok[int(17 / 1.5) :].any()
    ref = AudioDataset.from_arrays([ds[i][0] for i in np.flatnonzero(ok)], SR).embed(
        "logmel", cache_dir=False, progress=False
    )
    np.testing.assert_array_equal(X[ok], ref)  # what decodes equals ds[i]
    for i in np.flatnonzero(~ok):
        with pytest.raises(AudioLoadError, match=r"rec\.mp3.*truncated"):
            ds[int(i)]
    assert {e.path for e in ds.errors} == {f"{cut}@{ds.clip_id(int(i)).rsplit('@', 1)[1]}" for i in np.flatnonzero(~ok)}


# ------------------------------------------------------------ background subtraction (the default for windows)
def _tone_recordings(tmp_path, n_rec: int = 2, seconds: int = 60) -> tuple[AudioDataset, np.ndarray, Path]:
    """Recordings of steady noise with a 0.5 s 1 kHz tone every 11 s, and a clean query file of the tone."""
    rng = np.random.default_rng(0)
    tone = (0.3 * np.sin(2 * np.pi * 1000 * np.arange(SR // 2) / SR)).astype(np.float32)
    paths = []
    for r in range(n_rec):
        y = (0.05 * rng.standard_normal(SR * seconds)).astype(np.float32)
        for t in range(5, seconds, 11):
            y[t * SR : t * SR + len(tone)] += tone
        paths.append(write(tmp_path / f"rec{r}.wav", y))
    query = write(tmp_path / "query.wav", tone)
    ds = AudioDataset.from_recordings(paths, window=2.0, hop=1.0, sr=SR)
    starts = np.array([start / SR for _, start in ds.windows(range(len(ds)))])
    hit = np.array([any(s <= t + 0.25 <= s + 2.0 for t in range(5, seconds, 11)) for s in starts])
    return ds, hit, query


def test_windows_default_to_their_recordings_running_median_taken_out(tmp_path):
    from alwidget.background import subtract_background

    ds, _, _ = _tone_recordings(tmp_path)
    raw = ds.embed("logmel", cache_dir=False, progress=False, background=None)
    assert ds.last_background is None
    X = ds.embed("logmel", cache_dir=False, progress=False)
    groups = [rec.path for rec, _ in ds.windows(range(len(ds)))]
    starts = [start for _, start in ds.windows(range(len(ds)))]
    np.testing.assert_array_equal(X, subtract_background(raw, groups, starts, radius=30, statistic="median"))
    assert ds.last_background.statistic == "median" and ds.last_background.radius == 30
    assert ds.subset([0, 1]).last_background is ds.last_background
    Xm = ds.embed("logmel", cache_dir=False, progress=False, background="mean", background_radius=5)
    np.testing.assert_array_equal(Xm, subtract_background(raw, groups, starts, radius=5, statistic="mean"))
    # separate clips are never changed, and refuse an explicit statistic
    clips = AudioDataset.from_arrays([ds[i][0] for i in range(4)], SR)
    np.testing.assert_array_equal(clips.embed("logmel", cache_dir=False, progress=False), raw[:4])
    assert clips.last_background is None
    with pytest.raises(InvalidInputError, match="separate clips"):
        clips.embed("logmel", cache_dir=False, progress=False, background="median")
    for bad in ("medain", 3, True):
        with pytest.raises(InvalidInputError, match="background must be"):
            ds.embed("logmel", cache_dir=False, progress=False, background=bad)
    for bad in (0, -2, 2.5, True):
        with pytest.raises(InvalidInputError, match="background_radius"):
            ds.embed("logmel", cache_dir=False, progress=False, background_radius=bad)


def test_a_clean_reference_file_finds_its_windows_after_background_subtraction(tmp_path):
    """A clean file, placed into background windows of the pool, finds the windows holding its sound."""
    from alwidget import ActiveLearner

    ds, hit, query = _tone_recordings(tmp_path)
    found = {}
    for background in ("auto", None):
        X = ds.embed("logmel", cache_dir=False, progress=False, background=background)
        learner = ActiveLearner(X, ["tone", "other"], seed=0)
        found[background] = hit[learner.similar(ds.embed_query(query), n=10).indices].mean()
    assert found["auto"] >= 0.9 > 0.5 > found[None]
    hosts = ds.last_background is None  # background=None was last: the plain query again
    assert hosts
    ds.embed("logmel", cache_dir=False, progress=False)
    assert len(ds.last_background.hosts) == 3
    assert len({rec.path for rec, _ in ds.last_background.hosts}) == 2  # one per recording first
    with pytest.raises(InvalidInputError, match="silent"):
        ds.embed_query(np.zeros(SR, dtype=np.float32), sr=SR)
