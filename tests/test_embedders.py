"""Named embedders: the registry, and the pretrained "aisfx" embedder against aisfx's own code.

The reference tests need ``pip install --no-deps aisfx==0.1.2`` and are skipped
without it (unless ``ALWIDGET_REQUIRE_AISFX=1``: then they fail).
``tests/data/aisfx_reference.npz`` holds embeddings computed once with aisfx
0.1.2's own code in a throwaway venv; the script that made them, with the
exact environment, is stored in the file itself::

    python -c "import numpy as np; print(np.load('tests/data/aisfx_reference.npz')['script'])"
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from alwidget.audio import AudioDataset
from alwidget.embedders import CallableEmbedder, LogMelEmbedder, available_embedders, get_embedder, register_embedder
from alwidget.errors import AlwidgetError, AlwidgetWarning, InvalidInputError

REFERENCE = Path(__file__).parent / "data" / "aisfx_reference.npz"
INSTALL = "pip install --no-deps aisfx==0.1.2"


def _aisfx_installed() -> bool:
    try:
        return importlib.metadata.distribution("aisfx").version == "0.1.2"
    except importlib.metadata.PackageNotFoundError:
        return False


# CI that installs aisfx sets ALWIDGET_REQUIRE_AISFX=1, so a failed install fails these tests instead of skipping them
needs_aisfx = pytest.mark.skipif(
    not _aisfx_installed() and not os.environ.get("ALWIDGET_REQUIRE_AISFX"),
    reason=f"aisfx 0.1.2 (the weights of embedder='aisfx') is not installed; install it with: {INSTALL}",
)


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """A private default cache, and a registry restored after each test."""
    from alwidget.embedders import _registry

    monkeypatch.setenv("ALWIDGET_CACHE_DIR", str(tmp_path / "default-cache"))
    monkeypatch.setattr(_registry, "_REGISTRY", dict(_registry._REGISTRY))


# --- clip generator: identical to make_clip in the script stored in the reference file ---
def make_clip(seed, seconds, sines, noise, fade, sr=44100):
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    y = noise * rng.standard_normal(n)
    for freq, amp in sines:
        y = y + amp * np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi))
    if fade > 0:  # linear fade-in and fade-out of `fade` seconds
        ramp = np.minimum(1.0, np.minimum(t, t[-1] - t) / fade)
        y = y * ramp
    return y.astype(np.float32)


def small_dataset(n: int = 3, sr: int = 16000) -> AudioDataset:
    rng = np.random.default_rng(0)
    return AudioDataset.from_arrays([0.1 * rng.standard_normal(sr // 4).astype(np.float32) for _ in range(n)], sr=sr)


# ---------------------------------------------------------------------- registry
def test_builtin_names_are_registered():
    assert {"auto", "logmel", "mfcc", "aisfx", "logmel+aisfx"} <= set(available_embedders())
    for name in ("logmel", "mfcc"):
        emb = get_embedder(name, device="cpu")
        assert isinstance(emb, LogMelEmbedder)
        assert emb.name == name
        assert emb.cache_key() == LogMelEmbedder(name).cache_key()
    assert get_embedder("mfcc", device="cuda").device == "cuda"


def test_unknown_name_lists_the_registered_ones():
    register_embedder("bands", lambda: lambda batch, sr: batch[:, :4])
    with pytest.raises(InvalidInputError, match='unknown embedder \'vggish\'.*"aisfx", "auto", "bands", "logmel"'):
        get_embedder("vggish")
    with pytest.raises(InvalidInputError, match="name= is for plug-in"):
        get_embedder("bands", name="x")


def test_register_a_callable_and_embed_by_name():
    def energy_bands(batch, sr):
        spec = np.abs(np.fft.rfft(batch, axis=1)) ** 2
        return np.log1p(np.stack([b.sum(1) for b in np.array_split(spec, 8, axis=1)], 1))

    register_embedder("bands", lambda: energy_bands)
    ds = small_dataset()
    X = ds.embed("bands", progress=False)
    assert X.shape == (3, 8)
    np.testing.assert_allclose(X, ds.embed(energy_bands, cache_dir=False, progress=False))
    register_embedder("bands", lambda: CallableEmbedder(energy_bands, name="bands-v2"))  # a re-run cell replaces it
    assert get_embedder("bands").name == "bands-v2"


def test_factory_receives_the_device_when_it_asks_for_it():
    seen = []

    def factory(device="cpu"):
        seen.append(device)
        return LogMelEmbedder("mfcc", n_mfcc=13, device=device)

    register_embedder("mfcc13", factory)
    emb = get_embedder("mfcc13", device="cuda:1")
    assert seen == ["cuda:1"] and emb.device == "cuda:1" and emb.n_mfcc == 13


def test_register_rejects_bad_input():
    with pytest.raises(InvalidInputError, match="built-in"):
        register_embedder("logmel", lambda: None)
    with pytest.raises(InvalidInputError, match="non-empty string"):
        register_embedder("", lambda: None)
    with pytest.raises(InvalidInputError, match="factory must be callable"):
        register_embedder("x", 3)
    register_embedder("selfref", lambda: "logmel")
    with pytest.raises(InvalidInputError, match="returned the string"):
        get_embedder("selfref")
    register_embedder("logmel", lambda device="cpu": LogMelEmbedder("logmel", n_mels=32), overwrite=True)
    assert get_embedder("logmel").n_mels == 32


# ---------------------------------------------------------------------- aisfx without the package
class _FakeDist:
    def __init__(self, version, files=()):
        self.version = version
        self.files = list(files)

    def locate_file(self, path):
        return Path("/nonexistent") / path


def _pretend(monkeypatch, outcome):
    from alwidget.embedders import aisfx

    def distribution(name):
        assert name == "aisfx"
        if outcome is None:
            raise importlib.metadata.PackageNotFoundError(name)
        return outcome

    monkeypatch.setattr(aisfx, "_distribution", distribution)
    monkeypatch.setattr(aisfx.importlib.util, "find_spec", lambda name: None)


def test_aisfx_absent_gives_the_install_command(monkeypatch):
    from alwidget.embedders import MissingDependencyError

    _pretend(monkeypatch, None)
    ds = small_dataset()
    with pytest.raises(MissingDependencyError) as info:
        ds.embed("aisfx", progress=False)
    err = info.value
    assert isinstance(err, AlwidgetError) and isinstance(err, InvalidInputError) and isinstance(err, ImportError)
    assert INSTALL in str(err)
    assert "not installed" in str(err)


def test_logmel_plus_aisfx_without_aisfx_gives_the_install_command(monkeypatch):
    from alwidget.embedders import MissingDependencyError

    _pretend(monkeypatch, None)
    with pytest.raises(MissingDependencyError, match="not installed") as info:
        small_dataset().embed("logmel+aisfx", progress=False)
    assert INSTALL in str(info.value)


@pytest.mark.parametrize(
    ("dist", "reason"),
    [
        (_FakeDist("0.2.0"), "aisfx 0.2.0 is installed"),
        (_FakeDist("0.1.2"), "checkpoint.pth is missing"),
    ],
)
def test_aisfx_wrong_version_or_missing_checkpoint(monkeypatch, dist, reason):
    from alwidget.embedders import MissingDependencyError

    _pretend(monkeypatch, dist)
    with pytest.raises(MissingDependencyError, match=reason) as info:
        get_embedder("aisfx")
    assert INSTALL in str(info.value)


def test_aisfx_rejects_a_modified_checkpoint(tmp_path):
    from alwidget.embedders.aisfx import _load_weights

    bad = tmp_path / "checkpoint.pth"
    bad.write_bytes(b"not the aisfx weights")
    with pytest.raises(InvalidInputError, match="sha256 differs"):
        _load_weights.__wrapped__(str(bad))


def test_aisfx_cache_key_is_stable(monkeypatch):
    from alwidget.embedders import aisfx

    monkeypatch.setattr(aisfx, "locate_checkpoint", lambda: ("/x/checkpoint.pth", "0.1.2"))
    key = get_embedder("aisfx", device="cuda").cache_key()
    assert key == {
        "name": "aisfx",
        "params": {
            "aisfx": "0.1.2",
            "checkpoint_sha256": "499ea75909c932a2f94c35fa722fa4fabc5bcb7e84917209cc5f7402627b7eb5",
            "implementation": 1,
            "pooling": "mean",
        },
    }
    assert key == aisfx.AisfxEmbedder(device="cpu").cache_key()  # the device does not split the cache
    assert aisfx.AisfxEmbedder(pooling="max").cache_key() != key
    with pytest.raises(InvalidInputError, match="pooling"):
        aisfx.AisfxEmbedder(pooling="median")


# ---------------------------------------------------------------------- aisfx against its own code
@pytest.fixture(scope="module")
def reference():
    ref = np.load(REFERENCE)
    clips = json.loads(str(ref["clips"]))
    waves = [make_clip(**c) for c in clips]
    # the clips are regenerated: check they are the ones the reference was computed from
    np.testing.assert_allclose(np.stack([w[:256] for w in waves]), ref["clip_heads"], atol=1e-6)
    np.testing.assert_allclose([np.sqrt(np.mean(w.astype(np.float64) ** 2)) for w in waves], ref["clip_rms"], rtol=1e-6)
    return ref, waves


# Tolerance: aisfx's own code (librosa 0.9.2: STFT in float64 numpy FFT, rounded to complex64)
# and alwidget's (torch float32 STFT) differ by float32 rounding in the spectrogram; through the
# CNN that left at most 2.2e-6 absolute (3e-7 of each row's largest value, 7.3) on this machine,
# with AVX-512 or AVX2 kernels and 1 or 2 threads alike. 2e-5 leaves 10x headroom for other
# BLAS/oneDNN kernels, and is far below any real front-end mistake: reflect padding moves rows by
# 0.32, Slaney mel filters by 1.9-2.6, max pooling over blocks by 1.3.
ATOL = 2e-5


@needs_aisfx
def test_aisfx_matches_the_packages_own_code(reference, tmp_path):
    ref, waves = reference
    folder = tmp_path / "clips"
    folder.mkdir()
    for k, y in enumerate(waves):
        sf.write(folder / f"clip{k}.wav", y, int(ref["sr"]), subtype="FLOAT")
    ds = AudioDataset.from_folder(folder, sr=44100)
    X = ds.embed("aisfx", cache_dir=tmp_path / "cache", batch_size=2, progress=False)
    assert X.shape == (4, 512) and X.dtype == np.float32
    np.testing.assert_allclose(X, ref["embeddings"], rtol=0, atol=ATOL)
    # the cache hands back the very same rows; one-clip batches give the same rows
    np.testing.assert_array_equal(ds.embed("aisfx", cache_dir=tmp_path / "cache", progress=False), X)
    np.testing.assert_allclose(ds.embed("aisfx", cache_dir=False, batch_size=1, progress=False), X, rtol=0, atol=1e-6)
    assert "aisfx" not in sys.modules  # the weights are read, the package's modules never imported


@needs_aisfx
def test_aisfx_blocks_match_the_packages_own_code(reference):
    from alwidget.embedders.aisfx import AisfxEmbedder, _network

    ref, waves = reference
    emb = AisfxEmbedder()
    emb.prepare(44100)
    blocks = [emb.blocks(emb.spectrogram(y, 44100)) for y in waves]
    assert [len(b) for b in blocks] == list(ref["block_counts"])  # 1, 1, 3 and 1 blocks of 100 frames
    import torch

    with torch.inference_mode():
        out = _network(emb.checkpoint, "cpu")(torch.cat(blocks)).numpy()
    np.testing.assert_allclose(out, ref["block_embeddings"], rtol=0, atol=ATOL)
    X = AisfxEmbedder(pooling="max")(waves, 44100)
    split = np.split(ref["block_embeddings"], np.cumsum(ref["block_counts"])[:-1])
    np.testing.assert_allclose(X, np.stack([b.max(0) for b in split]), rtol=0, atol=ATOL)


@needs_aisfx
def test_aisfx_odd_clips_and_rates(tmp_path):
    from alwidget.embedders.aisfx import AisfxEmbedder

    emb = AisfxEmbedder()
    rows = emb([np.zeros(44100, np.float32), np.full(10, 0.3, np.float32), make_clip(5, 0.2, [[500, 1]], 0, 0)], 44100)
    assert rows.shape == (3, 512) and np.isfinite(rows).all()  # silence, a 10-sample clip, a 0.2 s clip
    # peak normalisation: the gain of a clip does not matter
    y = make_clip(6, 2.0, [[300, 0.3]], 0.05, 0.1)
    np.testing.assert_allclose(emb([0.01 * y], 44100), emb([y], 44100), rtol=0, atol=1e-5)
    # other rates are resampled to 44.1 kHz; below it the missing band is reported
    ds = AudioDataset.from_arrays([y[::2].copy(), y[1::2].copy()], sr=22050)
    with pytest.warns(AlwidgetWarning, match="trained on 44.1 kHz"):
        X = ds.embed("aisfx", cache_dir=False, progress=False)
    assert X.shape == (2, 512) and np.isfinite(X).all()
    # parallel workers get the embedder pickled, without the network
    clone = pickle.loads(pickle.dumps(emb))
    np.testing.assert_array_equal(clone([y], 44100), emb([y], 44100))


@needs_aisfx
def test_logmel_plus_aisfx_is_the_default_features_at_16k_beside_aisfx(tmp_path):
    import soxr

    from alwidget.embedders import ConcatEmbedder

    waves = [make_clip(10 + k, 1.5 + 0.5 * k, [[220 * (k + 1), 0.3]], 0.05, 0.1) for k in range(3)]
    ds = AudioDataset.from_arrays(waves, sr=44100)
    emb = get_embedder("logmel+aisfx")
    assert isinstance(emb, ConcatEmbedder) and emb.name == "logmel@16000+aisfx" and emb.rates == [16000, None]
    X = ds.embed("logmel+aisfx", cache_dir=tmp_path, progress=False)
    assert X.shape == (3, 384 + 512)
    # the learner's pooled model weighs log-mel 0.6 and aiSFX 0.4 (benchmarks/README.md, "Views")
    assert emb.views == ds.last_views == [(384, 0.6), (512, 0.4)]
    at16 = [soxr.resample(y, 44100, 16000, quality="HQ") for y in waves]
    np.testing.assert_allclose(X[:, :384], LogMelEmbedder()(at16, 16000), rtol=0, atol=1e-4)
    np.testing.assert_array_equal(X[:, 384:], ds.embed("aisfx", cache_dir=False, progress=False))


def test_concat_embedder_names_its_views_widths_and_weights():
    from alwidget.embedders import ConcatEmbedder

    emb = ConcatEmbedder(["logmel", "mfcc"])
    assert emb.views == [(384, 0.5), (120, 0.5)] and emb.dim == 504
    assert ConcatEmbedder(["logmel", "mfcc"], weights=[1, 3]).views == [(384, 0.25), (120, 0.75)]
    # the weights are the learner's concern: the rows and the cache key do not change with them
    assert ConcatEmbedder(["logmel", "mfcc"], weights=[1, 3]).cache_key() == emb.cache_key()
    # a part whose width is unknown before embedding (a plain callable): no views
    assert ConcatEmbedder(["logmel", lambda waves, sr: np.zeros((len(waves), 2))]).views is None
    assert get_embedder("logmel").views is None
    for bad in ([1], [1, -1], [0, 0], [1, float("inf")]):
        with pytest.raises(InvalidInputError, match="weights must be 2"):
            ConcatEmbedder(["logmel", "mfcc"], weights=bad)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_zero_padding_is_left_out_so_a_padded_clip_embeds_like_the_sound(backend):
    """A short clip padded to a dataset's duration is embedded as the sound itself: silence does not dominate."""
    from alwidget.embedders import LogMelEmbedder

    sr = 16000
    rng = np.random.default_rng(3)
    sound = (0.1 * rng.standard_normal(int(0.7 * sr))).astype(np.float32)
    padded = np.concatenate([sound, np.zeros(5 * sr - len(sound), dtype=np.float32)])
    emb = LogMelEmbedder(backend=backend)
    emb.prepare(sr)
    rows = emb([sound, padded, np.zeros(sr, dtype=np.float32)], sr)
    np.testing.assert_allclose(rows[1], rows[0], rtol=1e-5, atol=1e-4)
    assert np.isfinite(rows[2]).all()  # an all-silent clip still has a row
    # silence inside the sound is kept: only the trailing padding goes
    gap = np.concatenate([sound, np.zeros(sr, dtype=np.float32), sound])
    assert not np.allclose(emb([gap], sr)[0], rows[0], atol=1e-2)


# --- the default, embedder="auto" ---
@needs_aisfx
def test_auto_is_logmel_beside_aisfx_with_two_views_and_credits(tmp_path):
    from alwidget import ActiveLearner
    from alwidget.embedders import default_embedder

    assert default_embedder() == ("logmel+aisfx", "")
    assert "auto" in available_embedders()
    sr = 16000  # below aiSFX's 44.1 kHz: the default says nothing about it (an explicit "aisfx" warns)
    waves = [make_clip(seed, 1.5, [(440 * (1 + seed % 3), 0.3)], 0.02, 0.05, sr=sr) for seed in range(6)]
    ds = AudioDataset.from_arrays(waves, sr)
    X = ds.embed(cache_dir=tmp_path / "cache", progress=False)  # no warning (warnings are errors here)
    assert X.shape == (6, 896) and ds.last_embedder.name == "logmel@16000+aisfx"
    assert ds.last_views == [(384, 0.6), (512, 0.4)]
    assert "CC BY 4.0" in ds.last_embedder.credits and "Ma and A. Lerch" in ds.last_embedder.credits
    # the same rows, and the same cache entries, as naming "logmel+aisfx"
    with pytest.warns(AlwidgetWarning, match="44.1 kHz"):
        named = ds.embed("logmel+aisfx", cache_dir=tmp_path / "cache", progress=False)
    np.testing.assert_array_equal(named, X)
    learner = ActiveLearner(X, ["a", "b", "c"], dataset=ds)
    assert learner.model_views == [(384, 0.6), (512, 0.4)]


def test_auto_without_aisfx_falls_back_to_logmel_and_says_how_to_install(monkeypatch):
    from alwidget.embedders import default_embedder

    _pretend(monkeypatch, None)
    name, why = default_embedder()
    assert name == "logmel" and INSTALL in why and "not installed" in why
    ds = small_dataset()
    with pytest.warns(AlwidgetWarning, match="log-mel statistics only") as record:
        X = ds.embed(cache_dir=False, progress=False)
    assert INSTALL in str(record[0].message) and 'embedder="logmel"' in str(record[0].message)
    assert X.shape == (len(ds), 384) and ds.last_views is None and ds.last_embedder.credits == ""
    np.testing.assert_array_equal(X, ds.embed("logmel", cache_dir=False, progress=False))
    # another version installed: named in the warning
    _pretend(monkeypatch, _FakeDist("0.1.1"))
    assert "aisfx 0.1.1 is installed" in default_embedder()[1]
