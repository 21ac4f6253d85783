"""make_sounds: determinism, files on disk, and honest class overlap."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from alwidget.audio import AudioDataset
from alwidget.datasets import SOUND_CLASSES, make_sounds
from alwidget.errors import InvalidInputError


@pytest.fixture(autouse=True)
def _tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ALWIDGET_CACHE_DIR", str(tmp_path / "cache"))


def test_deterministic_per_seed():
    a, b, c = make_sounds(3, seed=0), make_sounds(3, seed=0), make_sounds(3, seed=1)
    assert len(a) == 18 and len(SOUND_CLASSES) >= 6
    assert a.labels == b.labels and a.clip_ids == b.clip_ids
    for i in range(len(a)):
        np.testing.assert_array_equal(a[i][0], b[i][0])
    assert a.clip_ids != c.clip_ids


def test_clips_vary_and_look_like_audio():
    ds = make_sounds(4, classes=["bird", "engine"], sr=8000, lengths=(0.5, 1.0))
    assert sorted(set(ds.labels)) == ["bird", "engine"] and ds.sr == 8000
    lengths = [len(ds[i][0]) for i in range(len(ds))]
    peaks = [np.abs(ds[i][0]).max() for i in range(len(ds))]
    assert all(4000 <= n <= 8000 for n in lengths) and len(set(lengths)) > 1
    assert all(0 < p <= 1 for p in peaks) and np.ptp(peaks) > 0.05


def test_writes_wav_folders_and_labels_csv(tmp_path):
    ds = make_sounds(2, classes=["bell", "knock", "voice"], path=tmp_path / "demo")
    with open(tmp_path / "demo" / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["file"] for r in rows] == ds.clip_ids and [r["label"] for r in rows] == ds.labels
    again = AudioDataset.from_folder(tmp_path / "demo", labels_from="subfolder")
    assert sorted(zip(again.clip_ids, again.labels)) == sorted(zip(ds.clip_ids, ds.labels))
    mem = make_sounds(2, classes=["bell", "knock", "voice"])
    np.testing.assert_allclose(ds[0][0], mem[0][0], atol=1 / 32768)  # same audio, 16-bit
    flat = make_sounds(1, classes=["bell", "bird"], path=tmp_path / "flat", layout="flat")
    assert flat.clip_ids == ["clip_00000.wav", "clip_00001.wav"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"classes": ["dog"]}, "unknown sound classes"),
        ({"n_per_class": 0}, "n_per_class"),
        ({"layout": "tree"}, "layout"),
        ({"lengths": (2.0, 1.0)}, "lengths"),
    ],
)
def test_rejects_bad_arguments(kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        make_sounds(**kwargs)


def test_linear_probe_is_good_but_not_perfect():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    ds = make_sounds(40, seed=3)
    X, y = ds.embed("logmel", cache_dir=False, progress=False), np.array(ds.labels)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X_tr, y_tr)
    accuracy = clf.score(X_te, y_te)
    assert 0.65 <= accuracy < 1.0, accuracy  # chance is 1/6: clearly learnable, with some overlap
