"""The pool object (alwidget._pool.Pool): rows, standardisation and reads, memory-mapped or not."""

import numpy as np
import pytest

from alwidget import ActiveLearner
from alwidget._pool import Pool


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("mapped", [False, True])
def test_pool_reads_equal_plain_indexing(tmp_path, dtype, mapped):
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(500, 6)) * [1, 2, 3, 4, 5, 0] + 7).astype(dtype)  # the last feature is constant
    if mapped:
        np.save(tmp_path / "x.npy", X)
        X = np.load(tmp_path / "x.npy", mmap_mode="r")
    pool = Pool(X)
    assert len(pool) == 500 and pool.dim == 6 and pool.X is X  # never copied
    wide = np.asarray(X, dtype=np.float64)
    np.testing.assert_allclose(pool.mean, wide.mean(0), rtol=1e-5)
    np.testing.assert_allclose(pool.scale[:5], wide.std(0)[:5], rtol=1e-4)
    assert pool.scale[5] == 1.0  # a constant feature is left unscaled
    idx = np.array([400, 3, 17, 3])
    assert np.array_equal(pool.rows(idx), np.asarray(X)[idx])
    expected = (np.asarray(X)[idx].astype(np.float32) - pool.mean) / pool.scale
    np.testing.assert_array_equal(pool.standardized(idx), expected)
    blocks = list(pool.blocks(chunk=128))
    assert [s for s, _ in blocks] == [0, 128, 256, 384]
    assert np.array_equal(np.concatenate([b for _, b in blocks]), np.asarray(X))


def test_the_learner_shares_its_pool_and_snapshots_its_labels():
    X = np.arange(40, dtype=np.float32).reshape(10, 4)
    learner = ActiveLearner(X, ["a", "b"])
    assert learner.pool.X is learner.embeddings.base or np.shares_memory(learner.pool.X, X)
    learner.teach([4, 1], ["b", "a"])
    learner.skip(2)
    learner.unsure(3)
    codes = learner.label_codes()
    assert codes.tolist() == [-1, 0, -2, -3, 1, -1, -1, -1, -1, -1]
    codes[0] = 1  # a copy: the learner is unchanged
    assert learner.label_codes()[0] == -1
    lab, y, classes = learner.labeled_snapshot()
    assert lab.tolist() == [1, 4] and y.tolist() == [0, 1] and classes == ["a", "b"]
