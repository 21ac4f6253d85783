"""Embeddings: log-mel features, torch path, plug-ins, cache, parallel runs."""

from __future__ import annotations

import os
from pathlib import Path

import joblib
import librosa
import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from alwidget.audio import AudioDataset
from alwidget.dsp import log_mel_spectrogram
from alwidget.embedders import CallableEmbedder, ConcatEmbedder, LogMelEmbedder, get_embedder
from alwidget.errors import InvalidInputError

SR = 16000


@pytest.fixture(autouse=True)
def _tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ALWIDGET_CACHE_DIR", str(tmp_path / "default-cache"))


def clips(n: int = 6, seed: int = 0) -> list[np.ndarray]:
    """Tones and noise of different lengths, including one shorter than n_fft."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        m = 700 if k == 0 else int(rng.integers(SR // 4, SR // 2))
        t = np.arange(m) / SR
        y = 0.3 * np.sin(2 * np.pi * rng.uniform(200, 4000) * t) + 0.05 * rng.standard_normal(m)
        out.append(y.astype(np.float32))
    return out


def file_dataset(folder: Path, n: int = 4, **kwargs) -> AudioDataset:
    for k, y in enumerate(clips(n)):
        sf.write(folder / f"c{k}.wav", y, SR, subtype="FLOAT")
    return AudioDataset.from_folder(folder, **kwargs)


class Counting:
    """A plug-in that records how many clips it embedded."""

    def __init__(self):
        self.seen = 0

    def __call__(self, batch, sr):
        self.seen += len(batch)
        return np.stack([batch.mean(1), batch.std(1), np.full(len(batch), sr / 1000)], axis=1)


def test_log_mel_spectrogram_matches_librosa():
    y = clips(2)[1]
    ours = log_mel_spectrogram(y, SR, n_mels=40, hop_length=200)
    ref = librosa.power_to_db(
        librosa.feature.melspectrogram(y=y, sr=SR, n_fft=1024, hop_length=200, n_mels=40, pad_mode="constant"),
        top_db=80,
    )
    assert ours.dtype == np.float32 and ours.shape == ref.shape == (40, 1 + len(y) // 200)
    np.testing.assert_allclose(ours, ref, atol=1e-3)
    with pytest.raises(InvalidInputError, match="1-D mono"):
        log_mel_spectrogram(np.zeros((2, 100)), SR)


@pytest.mark.parametrize(("kind", "d"), [("logmel", 384), ("mfcc", 120)])
def test_embeddings_shape_and_finite(kind, d):
    waves = [*clips(3), np.zeros(SR // 4, np.float32)]  # includes a short and a silent clip
    X = AudioDataset.from_arrays(waves, SR).embed(kind, cache_dir=False, progress=False)
    assert X.shape == (4, d) and X.dtype == np.float32 and np.isfinite(X).all()
    assert not np.allclose(X[1], X[2])


@pytest.mark.parametrize("kind", ["logmel", "mfcc"])
def test_torch_backend_matches_numpy(kind):
    ds = AudioDataset.from_arrays(clips(6), SR)
    X_np = ds.embed(kind, cache_dir=False, progress=False)
    X_torch = ds.embed(LogMelEmbedder(kind, backend="torch", device="cpu"), cache_dir=False, progress=False)
    np.testing.assert_allclose(X_torch, X_np, rtol=1e-3, atol=2e-3)
    assert get_embedder(kind, device="cuda").uses_torch and not get_embedder(kind).uses_torch


@settings(max_examples=20, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 6000), min_size=1, max_size=5),
    hop=st.sampled_from([128, 256, 300]),
    seed=st.integers(0, 2**16),
)
def test_torch_batches_of_mixed_lengths_match_per_clip_numpy(lengths, hop, seed):
    rng = np.random.default_rng(seed)
    waves = [(rng.standard_normal(m) * rng.uniform(0.01, 1)).astype(np.float32) for m in lengths]
    spec = log_mel_spectrogram(waves[0], SR, hop_length=hop)
    assert spec.shape == (64, 1 + max(lengths[0], 1024) // hop)
    X_np = LogMelEmbedder(hop_length=hop)(waves, SR)
    X_torch = LogMelEmbedder(hop_length=hop, backend="torch")(waves, SR)  # one zero-padded, masked batch
    np.testing.assert_allclose(X_torch, X_np, rtol=1e-3, atol=2e-3)


def test_cache_hit_miss_invalidation(tmp_path):
    cache = tmp_path / "cache"
    (tmp_path / "d").mkdir()
    ds = file_dataset(tmp_path / "d")
    counting = Counting()
    X1 = ds.embed(counting, name="counting", cache_dir=cache, progress=False)
    assert counting.seen == 4
    X2 = ds.embed(counting, name="counting", cache_dir=cache, progress=False)
    assert counting.seen == 4
    np.testing.assert_array_equal(X1, X2)

    path = Path(ds.paths[2])  # change one file: only that clip is recomputed
    sf.write(path, clips(4, seed=9)[2], SR, subtype="FLOAT")
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    X3 = ds.embed(counting, name="counting", cache_dir=cache, progress=False)
    assert counting.seen == 5
    np.testing.assert_array_equal(X3[[0, 1, 3]], X1[[0, 1, 3]])
    assert not np.allclose(X3[2], X1[2])

    other = AudioDataset.from_folder(ds.root, duration=0.2)  # dataset parameters are part of the key
    other.embed(counting, name="counting", cache_dir=cache, progress=False)
    assert counting.seen == 9
    ds.embed(counting, name="counting-v2", cache_dir=cache, progress=False)
    assert counting.seen == 13
    ds.embed(counting, name="counting", cache_dir=False, progress=False)
    assert counting.seen == 17
    assert not list(cache.rglob(".tmp-*"))


def test_builtin_cache_keys_on_parameters(tmp_path, monkeypatch):
    ds = AudioDataset.from_arrays(clips(3), SR)
    X = ds.embed("logmel", cache_dir=tmp_path, progress=False)

    def fail(*args):
        raise AssertionError("should have been read from the cache")

    with monkeypatch.context() as m:
        m.setattr(LogMelEmbedder, "__call__", fail)
        np.testing.assert_array_equal(ds.embed("logmel", cache_dir=tmp_path, progress=False), X)
        # the torch backend shares entries with the numpy one
        ds.embed(LogMelEmbedder(backend="torch"), cache_dir=tmp_path, progress=False)
        with pytest.raises(AssertionError, match="cache"):
            ds.embed(LogMelEmbedder(n_mels=32), cache_dir=tmp_path, progress=False)
    assert ds.embed(LogMelEmbedder(n_mels=32), cache_dir=tmp_path, progress=False).shape == (3, 96)


def test_corrupt_cache_files_are_rebuilt(tmp_path):
    ds = AudioDataset.from_arrays(clips(3), SR)
    X = ds.embed("logmel", cache_dir=tmp_path, progress=False)
    rows = sorted(p for p in tmp_path.rglob("*.emb") if p.parent.name != "sets")
    (whole,) = tmp_path.rglob("sets/*.emb")
    assert len(rows) == 3
    good = [p.read_bytes() for p in (*rows, whole)]
    for path in (rows[0], whole):  # flip one bit of the data: only the checksum can tell
        data = bytearray(path.read_bytes())
        data[-3] ^= 0x01
        path.write_bytes(bytes(data))
    rows[1].write_bytes(b"garbage")
    np.testing.assert_array_equal(ds.embed("logmel", cache_dir=tmp_path, progress=False), X)
    assert [p.read_bytes() for p in (*rows, whole)] == good  # rewritten


def test_unwritable_cache_warns_but_returns_embeddings(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    ds = AudioDataset.from_arrays(clips(2), SR)
    with pytest.warns(UserWarning, match="could not write the embedding cache") as record:
        X = ds.embed("logmel", cache_dir=blocker / "cache", progress=False, batch_size=1)
    assert len(record) == 1
    np.testing.assert_array_equal(X, ds.embed("logmel", cache_dir=False, progress=False))


def test_default_cache_dir_from_env(tmp_path):
    AudioDataset.from_arrays(clips(2), SR).embed("logmel", progress=False)
    assert len(list((tmp_path / "default-cache").rglob("*.emb"))) == 2 + 1  # rows + whole set


def test_callable_plugin_gets_equal_length_batches():
    shapes = []

    def plug(batch, sr):
        shapes.append(batch.shape)
        assert isinstance(batch, np.ndarray) and batch.dtype == np.float32 and sr == SR
        return torch.from_numpy(batch[:, :5].copy())  # tensors are accepted too

    waves = [np.full(100, k, np.float32) for k in range(3)] + [np.full(50, 7, np.float32)]
    X = AudioDataset.from_arrays(waves, SR).embed(plug, batch_size=8, cache_dir=False, progress=False)
    assert sorted(shapes) == [(1, 50), (3, 100)]
    np.testing.assert_array_equal(X[:, 0], [0, 1, 2, 7])


def test_plugin_outputs_are_validated():
    ds = AudioDataset.from_arrays(clips(3), SR)
    with pytest.raises(InvalidInputError, match=r"embedder 'flat' returned shape \(1,\).*n_clips, n_features"):
        ds.embed(lambda b, sr: np.zeros(1), name="flat", cache_dir=False, progress=False)

    def nan_for_loud(batch, sr):
        return np.where(np.abs(batch).max(1, keepdims=True) > 0.3, np.nan, 1.0) * np.ones((len(batch), 2))

    with pytest.raises(InvalidInputError, match=rf"'nan_for_loud'.*NaN.*clip '{ds.clip_id(0)}'"):
        ds.embed(nan_for_loud, name="nan_for_loud", cache_dir=False, progress=False)
    with pytest.raises(InvalidInputError, match="unknown embedder 'vggish'"):
        ds.embed("vggish")
    with pytest.raises(InvalidInputError, match="name= is for plug-in"):
        ds.embed("logmel", name="x")


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv1d(1, 8, 64, stride=32)

    def forward(self, x):  # (b, n) -> (b, 8)
        return self.conv(x[:, None]).relu().mean(-1)


def test_torch_module_plugin_and_weight_fingerprint(tmp_path):
    torch.manual_seed(0)
    model = Tiny()
    ds = AudioDataset.from_arrays(clips(4), SR)
    X = ds.embed(model, cache_dir=tmp_path, progress=False, device="cpu")
    with torch.no_grad():
        expected = model(torch.from_numpy(ds[1][0][None]))[0].numpy()
    np.testing.assert_allclose(X[1], expected, rtol=1e-5, atol=1e-6)
    assert X.shape == (4, 8) and not model.training
    with torch.no_grad():
        model.conv.bias += 1.0  # new weights: new cache entries, not stale rows
    X2 = ds.embed(model, cache_dir=tmp_path, progress=False)
    assert not np.allclose(X, X2)
    assert len(list(tmp_path.iterdir())) == 2  # one folder per weight version


def test_unnamed_callable_keyed_by_source_and_state(tmp_path):
    ds = AudioDataset.from_arrays(clips(2), SR)
    scale = 2.0

    def scaled(batch, sr):
        return batch[:, :3] * scale

    X = ds.embed(scaled, cache_dir=tmp_path, progress=False)
    scale = 3.0  # closure value changed -> new key
    X2 = ds.embed(scaled, cache_dir=tmp_path, progress=False)
    np.testing.assert_allclose(X2, X * 1.5, rtol=1e-6)
    folders = [p.name for p in tmp_path.iterdir()]
    assert len(folders) == 2 and all(".scaled-" in f for f in folders)


def test_decode_failure_gives_nan_row_error_and_warning(tmp_path):
    ds = file_dataset(tmp_path, n=3)
    path = Path(ds.paths[1])
    path.write_bytes(np.random.default_rng(0).bytes(3000))  # replaced by garbage after the probe
    with pytest.warns(UserWarning, match=r"1 of 3 clips failed to decode.*indices \[1\]") as record:
        X = ds.embed("logmel", cache_dir=False, progress=False)
    assert len(record) == 1
    assert np.isnan(X[1]).all() and np.isfinite(X[[0, 2]]).all()
    assert ds.errors[-1].path == str(path) and "not recognised" in ds.errors[-1].reason
    keep = np.isfinite(X).all(1)
    assert len(ds.subset(keep)) == 2


def test_parallel_matches_serial_and_shows_progress(tmp_path, capsys):
    ds = file_dataset(tmp_path, n=6)
    X1 = ds.embed("logmel", cache_dir=False, progress=True, batch_size=2)
    assert "embedding (logmel)" in capsys.readouterr().err
    with joblib.parallel_config(backend="threading"):
        X2 = ds.embed("logmel", cache_dir=False, progress=False, batch_size=2, n_jobs=2)
    X3 = ds.embed("logmel", cache_dir=False, progress=False, batch_size=3, n_jobs=2)  # loky processes
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_allclose(X1, X3, rtol=1e-5, atol=1e-5)  # workers may sum in another order


def test_linear_probe_separates_distinct_sounds():
    rng = np.random.default_rng(1)
    tones = [np.sin(2 * np.pi * rng.uniform(300, 600) * np.arange(SR // 4) / SR) for _ in range(10)]
    noise = [rng.standard_normal(SR // 4) * 0.3 for _ in range(10)]
    X = AudioDataset.from_arrays([*tones, *noise], SR).embed("logmel", cache_dir=False, progress=False)
    from sklearn.linear_model import LogisticRegression

    y = np.repeat([0, 1], 10)
    train = np.arange(20) % 2 == 0
    clf = LogisticRegression(max_iter=1000).fit(X[train], y[train])
    assert clf.score(X[~train], y[~train]) == 1.0


def test_runs_on_a_local_dask_cluster_through_joblib():
    distributed = pytest.importorskip("distributed")
    ds = AudioDataset.from_arrays(clips(4), SR)
    expected = ds.embed("logmel", cache_dir=False, progress=False)
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None)
    with cluster, distributed.Client(cluster), joblib.parallel_config(backend="dask"):
        X = ds.embed("logmel", cache_dir=False, progress=False, n_jobs=-1, batch_size=1)
    np.testing.assert_allclose(X, expected, rtol=1e-6)


def test_torch_module_defined_in_a_notebook_cell_is_fingerprinted():
    # IPython keeps each cell's source in linecache under a fake file name:
    # functions defined there have a source, the class itself does not.
    import linecache

    import torch

    from alwidget.embedders.base import fingerprint

    code = (
        "class CellNet(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.lin = torch.nn.Linear(4, 2)\n"
        "    def forward(self, x):\n"
        "        return self.lin(x)\n"
    )
    filename = "<ipython-input-alwidget-test>"
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    namespace = {"torch": torch, "__name__": "__main__"}
    exec(compile(code, filename, "exec"), namespace)
    torch.manual_seed(0)
    net = namespace["CellNet"]()
    first = fingerprint(net)
    assert first == fingerprint(net)
    with torch.no_grad():
        net.lin.weight.add_(1.0)
    assert fingerprint(net) != first  # new weights, new cache key


# ---------------------------------------------------------------- bad samples, cache collisions (issue 10)
def _bad_sample_folder(folder: Path) -> tuple[list[str], dict[str, str]]:
    """Four good float WAVs plus three with NaN, inf and 1e30 samples; returns good paths, bad name -> reason."""
    good = []
    for k, y in enumerate(clips(4)):
        sf.write(folder / f"c{k}.wav", y, SR, subtype="FLOAT")
        good.append(str((folder / f"c{k}.wav").resolve()))
    base = clips(1, seed=5)[0][:4000] if len(clips(1, seed=5)[0]) >= 4000 else np.zeros(4000, np.float32)
    for name, value in (("nan.wav", np.nan), ("inf.wav", -np.inf)):
        y = base.copy()
        y[1234] = value
        sf.write(folder / name, y, SR, subtype="FLOAT")
    sf.write(folder / "huge.wav", np.full(4000, 1e30, np.float32) * np.sign(base + 1e-3), SR, subtype="FLOAT")
    return good, {"nan.wav": "non-finite audio", "inf.wav": "non-finite audio", "huge.wav": "overflowing audio"}


@pytest.mark.parametrize(
    "how",
    ["numpy", "torch", pytest.param("loky", marks=pytest.mark.slow)],
)
def test_nan_inf_and_overflowing_clips_get_nan_rows_not_an_embedder_error(tmp_path, how):
    (tmp_path / "d").mkdir()
    good, bad = _bad_sample_folder(tmp_path / "d")
    ds = AudioDataset.from_folder(tmp_path / "d")  # all pass the probe
    assert len(ds) == 7 and ds.errors == []
    kwargs = {
        "numpy": {"embedder": "logmel", "batch_size": 8},
        "torch": {"embedder": LogMelEmbedder(backend="torch"), "batch_size": 8},  # one padded batch for all
        "loky": {"embedder": "logmel", "n_jobs": 2, "batch_size": 2},
    }[how]
    with pytest.warns(UserWarning, match=r"3 of 7 clips failed to decode or have unusable audio") as record:
        X = ds.embed(cache_dir=tmp_path / "cache", progress=False, **kwargs)
    assert len(record) == 1
    assert "fix the embedder" not in str(record[0].message)
    names = ds.names
    bad_rows = [names.index(b) for b in bad]
    good_rows = [i for i in range(7) if i not in bad_rows]
    assert np.isnan(X[bad_rows]).all()
    expected = AudioDataset.from_files(good).embed(cache_dir=False, progress=False, **kwargs)
    np.testing.assert_allclose(X[good_rows], expected, rtol=1e-6, atol=1e-6)
    reasons = {os.path.basename(e.path): e.reason for e in ds.errors}
    assert set(reasons) == set(bad)
    for name, reason in bad.items():
        assert reasons[name].startswith(reason) and "embedder" not in reasons[name].split(";")[-1]
    assert "1e+30" in reasons["huge.wav"] and "rescale" in reasons["huge.wav"]
    # bad rows are not cached: a second call reports them again, and lists each once
    with pytest.warns(UserWarning, match="3 of 7 clips") as record:
        X2 = ds.embed(cache_dir=tmp_path / "cache", progress=False, **kwargs)
    assert len(record) == 1 and len(ds.errors) == 3
    np.testing.assert_array_equal(X2, X)


def test_overflow_spoiling_a_batch_is_redone_and_broken_embedders_still_blamed(tmp_path):
    (tmp_path / "d").mkdir()
    _bad_sample_folder(tmp_path / "d")
    ds = AudioDataset.from_folder(tmp_path / "d", duration=0.25)  # equal lengths: one plug-in batch

    def batchwise(batch, sr):  # normalised by the whole batch: one inf makes every row NaN
        with np.errstate(over="ignore", invalid="ignore"):
            total = (batch.astype(np.float32) ** 2).sum()
            return np.stack([batch.std(1), batch.mean(1)], 1) * (total / total)

    with pytest.warns(UserWarning, match="3 of 7 clips") as record:
        X = ds.embed(batchwise, name="batchwise", cache_dir=False, progress=False, batch_size=16)
    assert len(record) == 1
    huge = ds.names.index("huge.wav")
    good = [i for i in range(7) if np.isfinite(X[i]).all()]
    assert len(good) == 4 and huge not in good
    np.testing.assert_allclose(X[good], ds.subset(good).embed(batchwise, name="b2", cache_dir=False, progress=False))
    reasons = {os.path.basename(e.path): e.reason.split(":")[0] for e in ds.errors}
    assert reasons == {"huge.wav": "overflowing audio", "inf.wav": "non-finite audio", "nan.wav": "non-finite audio"}

    def nan_for_quiet(batch, sr):  # broken on good audio: the embedder is blamed, even beside a huge clip
        return np.where(np.abs(batch).max(1, keepdims=True) < 1.0, np.nan, 1.0) * np.ones((len(batch), 2))

    n_errors = len(ds.errors)
    with pytest.raises(InvalidInputError, match=r"'nan_for_quiet' returned NaN.*fix the embedder"):
        ds.embed(nan_for_quiet, name="nan_for_quiet", cache_dir=False, progress=False)
    assert len(ds.errors) == n_errors


def _twin_folder(folder: Path, seed: int) -> AudioDataset:
    """Four 0.3 s float WAVs (same names and sizes for every seed) with a fixed mtime."""
    folder.mkdir()
    rng = np.random.default_rng(seed)
    for k in range(4):
        path = folder / f"c{k}.wav"
        sf.write(path, (0.2 * rng.standard_normal(SR * 3 // 10)).astype(np.float32), SR, subtype="FLOAT")
        os.utime(path, ns=(1_600_000_000 * 10**9, 1_600_000_000 * 10**9))  # e.g. an archive's fixed timestamp
    return AudioDataset.from_folder(folder)


def test_cache_keeps_folders_with_equal_names_sizes_and_mtimes_apart(tmp_path):
    cache = tmp_path / "cache"
    a, b = _twin_folder(tmp_path / "a", seed=1), _twin_folder(tmp_path / "b", seed=2)
    assert [os.stat(p).st_size for p in a.paths] == [os.stat(p).st_size for p in b.paths]
    counting = Counting()
    Xa = a.embed(counting, name="counting", cache_dir=cache, progress=False)
    Xb = b.embed(counting, name="counting", cache_dir=cache, progress=False)
    assert counting.seen == 8
    np.testing.assert_array_equal(Xb, b.embed(counting, name="counting", cache_dir=False, progress=False))
    np.testing.assert_array_equal(Xa, a.embed(counting, name="counting", cache_dir=False, progress=False))
    assert not np.allclose(Xa, Xb)
    for ds in (a, b):  # the built-in embedder too
        X1 = ds.embed("logmel", cache_dir=cache, progress=False)
        np.testing.assert_array_equal(X1, ds.embed("logmel", cache_dir=False, progress=False))
    # a moved folder keeps its cache entries
    os.rename(tmp_path / "a", tmp_path / "moved")
    seen = counting.seen
    moved = AudioDataset.from_folder(tmp_path / "moved")
    np.testing.assert_array_equal(moved.embed(counting, name="counting", cache_dir=cache, progress=False), Xa)
    assert counting.seen == seen


# ---------------------------------------------------------------------- ConcatEmbedder
def clip_stats(batch, sr):
    return np.stack([batch.mean(1), batch.std(1), np.full(len(batch), sr / 1000)], axis=1)


def test_concat_embedder_joins_parts_each_at_its_own_rate(tmp_path, monkeypatch):
    import soxr

    waves = [np.asarray(librosa.resample(y, orig_sr=SR, target_sr=44100), np.float32) for y in clips(3)]
    ds = AudioDataset.from_arrays(waves, 44100)
    emb = ConcatEmbedder(["logmel", clip_stats], rates=[16000, None])
    assert emb.name == "logmel@16000+test_features.clip_stats"
    X = ds.embed(emb, cache_dir=tmp_path, progress=False)
    assert X.shape == (3, 384 + 3) and X.dtype == np.float32
    # the log-mel part sees each clip resampled to 16 kHz, as the audio loader would resample a file
    at16 = [soxr.resample(y, 44100, 16000, quality="HQ") for y in waves]
    np.testing.assert_allclose(X[:, :384], LogMelEmbedder()(at16, 16000), rtol=0, atol=1e-4)
    # the second part sees the dataset's rate: its third column is sr / 1000
    np.testing.assert_array_equal(X[:, -1], np.float32(44.1))
    np.testing.assert_allclose(X[:, 384], [y.mean() for y in waves], rtol=1e-5, atol=1e-7)

    def fail(*args):
        raise AssertionError("should have been read from the cache")

    with monkeypatch.context() as m:  # cached like any embedder, keyed by its parts and rates
        m.setattr(LogMelEmbedder, "__call__", fail)
        np.testing.assert_array_equal(ds.embed(emb, cache_dir=tmp_path, progress=False), X)
        with pytest.raises(AssertionError, match="cache"):
            ds.embed(ConcatEmbedder(["logmel", clip_stats], rates=[22050, None]), cache_dir=tmp_path, progress=False)
    assert emb.cache_key() != ConcatEmbedder(["logmel", clip_stats]).cache_key()


def test_concat_embedder_rejects_bad_parts_and_rates():
    with pytest.raises(InvalidInputError, match="two or more embedders"):
        ConcatEmbedder(["logmel"])
    with pytest.raises(InvalidInputError, match="two or more embedders"):
        ConcatEmbedder("logmel")
    with pytest.raises(InvalidInputError, match="one sample rate .* per part: 2 parts, 1 rates"):
        ConcatEmbedder(["logmel", "mfcc"], rates=[16000])
    for bad in (0, -8000, True, 16000.5):
        with pytest.raises(InvalidInputError, match="positive integer in Hz or None"):
            ConcatEmbedder(["logmel", "mfcc"], rates=[bad, None])
    with pytest.raises(InvalidInputError, match="unknown embedder 'vggish'"):
        ConcatEmbedder(["logmel", "vggish"])
    ds = AudioDataset.from_arrays(clips(2), SR)
    broken = ConcatEmbedder(["mfcc", CallableEmbedder(lambda b, sr: np.zeros(3), name="flat")])
    with pytest.raises(InvalidInputError, match="'flat' returned shape"):
        ds.embed(broken, cache_dir=False, progress=False)
