"""alwidget.embedding: the engine works on a small public interface and sits below the dataset.

Layers, bottom to top (a module may import only modules of its own or a lower layer):
errors/_resample -> _recordings/_cache -> audio_io/_audio_inputs/dsp -> embedders._registry
-> embedders.base -> embedders.logmel/aisfx -> embedders -> embedding -> audio -> datasets/features.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import alwidget
from alwidget._recordings import Recording
from alwidget.audio import AudioDataset, AudioError
from alwidget.embedders import get_embedder
from alwidget.embedding import embed_query, embed_rows, prepare_embedder
from alwidget.errors import InvalidInputError

PACKAGE = Path(alwidget.__file__).parent
SR = 16000

LAYERS = {
    "alwidget.errors": 0,
    "alwidget._resample": 0,
    "alwidget._recordings": 1,
    "alwidget._cache": 1,
    "alwidget.audio_io": 2,
    "alwidget._audio_inputs": 2,
    "alwidget.dsp": 2,
    "alwidget.embedders._registry": 3,
    "alwidget.embedders.base": 4,
    "alwidget.embedders.logmel": 5,
    "alwidget.embedders.aisfx": 5,
    "alwidget.embedders": 6,
    "alwidget.embedding": 7,
    "alwidget.audio": 8,
    "alwidget.datasets": 9,
    "alwidget.features": 9,
}


def _module_path(name: str) -> Path:
    rel = Path(*name.split(".")[1:])
    package = PACKAGE / rel / "__init__.py"
    return package if package.exists() else PACKAGE / rel.with_suffix(".py")


def _imports(name: str) -> set[str]:
    """alwidget modules that ``name`` imports anywhere in its source (module level or inside functions)."""
    path = _module_path(name)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return {m for m in found if m.startswith("alwidget.") and m in LAYERS or m == "alwidget"}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_imports_run_one_way(name):
    assert _module_path(name).exists(), name
    upward = sorted(m for m in _imports(name) if m != name and (m == "alwidget" or LAYERS[m] > LAYERS[name]))
    assert not upward, f"{name} (layer {LAYERS[name]}) imports a module above it: {upward}"


def test_no_lower_module_imports_audio_py():
    lower = [m for m, layer in LAYERS.items() if layer < LAYERS["alwidget.audio"]]
    offenders = [m for m in lower if {"alwidget.audio", "alwidget.features", "alwidget.datasets"} & _imports(m)]
    assert offenders == []


def test_the_engine_does_not_load_the_dataset_module():
    code = (
        "import sys, alwidget.embedding, alwidget.embedders.aisfx, alwidget.dsp, alwidget.audio_io\n"
        "assert 'alwidget.audio' not in sys.modules and 'alwidget.features' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------- the interface to the dataset
class ArraySource:
    """A minimal EmbeddingSource over in-memory clips, not an AudioDataset; it refuses new attributes."""

    __slots__ = ("_arrays", "reported", "sr", "offset", "clip_duration", "window", "hop")

    def __init__(self, arrays):
        self._arrays = arrays
        self.reported = {}
        self.sr, self.offset, self.clip_duration, self.window, self.hop = SR, 0.0, None, None, None

    is_windowed = False

    @property
    def clip_ids(self):
        return [f"a{k}" for k in range(len(self._arrays))]

    def __len__(self):
        return len(self._arrays)

    def sources(self, indices):
        return [self._arrays[i] for i in indices]

    def windows(self, indices):
        raise AssertionError("not windowed")

    def cache_keys(self):
        return self.clip_ids

    def report_errors(self, failures):
        self.reported.update(failures)


def clips(n=5, seed=0):
    rng = np.random.default_rng(seed)
    return [(0.1 * rng.standard_normal(int(rng.integers(3000, 9000)))).astype(np.float32) for _ in range(n)]


def test_embed_rows_needs_only_the_interface_and_keeps_no_state(tmp_path):
    ys = clips()
    ys[2] = np.full(4000, 1e30, np.float32)  # overflows: a NaN row, reported through report_errors
    src = ArraySource(ys)
    emb = prepare_embedder("mfcc", SR)
    with pytest.warns(UserWarning, match="1 of 5 clips"):
        X = embed_rows(src, emb, cache_dir=tmp_path, progress=False)
    assert list(src.reported) == [2] and "overflowing audio" in src.reported[2]
    ds = AudioDataset.from_arrays([y for k, y in enumerate(ys) if k != 2], SR)
    ref = ds.embed("mfcc", cache_dir=False, progress=False)
    np.testing.assert_array_equal(np.delete(X, 2, axis=0), ref)
    assert np.isnan(X[2]).all()
    np.testing.assert_array_equal(embed_query(src, ys[0], sr=SR, embedder=emb), ref[0])


def test_prepare_embedder_checks_batch_size_before_building_anything():
    with pytest.raises(InvalidInputError, match="batch_size"):
        prepare_embedder("no-such-embedder", SR, batch_size=0)
    with pytest.raises(InvalidInputError, match="unknown embedder"):
        prepare_embedder("no-such-embedder", SR)


def test_dataset_keeps_the_last_embedder_for_queries():
    ds = AudioDataset.from_arrays(clips(4), SR)
    assert ds.last_embedder is None
    from alwidget.embedders.aisfx import missing_weights

    default_dim = 384 if missing_weights() else 384 + 512  # the default "auto" before any embed()
    assert ds.embed_query(ds[0][0], sr=SR).shape == (default_dim,)
    X = ds.embed("mfcc", cache_dir=False, progress=False)
    assert ds.last_embedder.name == "mfcc"
    sub = ds.subset([3, 1])
    assert sub.last_embedder is ds.last_embedder
    np.testing.assert_array_equal(sub.embed_query(sub[0][0], sr=SR), X[3])


def test_dataset_interface_for_the_engine(tmp_path):
    import soundfile as sf

    y = clips(1)[0]
    sf.write(tmp_path / "rec.wav", np.tile(y, 4), SR, subtype="FLOAT")
    ds = AudioDataset.from_recordings(tmp_path, window=0.5, hop=0.25)
    wins = ds.windows([0, 2])
    assert [start for _, start in wins] == [0, SR // 2] and all(isinstance(r, Recording) for r, _ in wins)
    keys = ds.cache_keys()
    assert len(keys) == len(ds) and keys[0].startswith("rec.wav@0.0\0")
    ds.report_errors({1: "bad", 0: "worse"})
    ds.report_errors({0: "worse"})  # listed once
    path = str(tmp_path / "rec.wav")
    assert ds.errors == [AudioError(f"{path}@0.0", "worse"), AudioError(f"{path}@0.25", "bad")]
    clip_ds = AudioDataset.from_arrays([y], SR, names=["one"])
    assert clip_ds.sources([0])[0] is clip_ds.sources([0])[0] and clip_ds.cache_keys() == clip_ds.clip_ids


def test_features_is_a_re_export_of_the_same_objects():
    import alwidget.dsp
    import alwidget.embedders
    import alwidget.features as features

    for name in features.__all__:
        if name != "embed_dataset":
            home = alwidget.dsp if name == "log_mel_spectrogram" else alwidget.embedders
            assert getattr(features, name) is getattr(home, name), name
    assert alwidget.log_mel_spectrogram is alwidget.dsp.log_mel_spectrogram
    assert alwidget.register_embedder is alwidget.embedders.register_embedder


def test_features_embed_dataset_is_ds_embed():
    import alwidget.features as features

    ds = AudioDataset.from_arrays(clips(3), SR)
    X = features.embed_dataset(ds, "mfcc", cache_dir=False, progress=False)
    np.testing.assert_array_equal(X, ds.embed("mfcc", cache_dir=False, progress=False))
    assert ds.last_embedder.name == "mfcc"
    np.testing.assert_array_equal(features.embed_query(ds, ds[1][0], sr=SR), X[1])
    assert get_embedder("mfcc").cache_key() == ds.last_embedder.cache_key()
