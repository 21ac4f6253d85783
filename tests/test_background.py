"""Background subtraction for window embeddings (alwidget/background.py), checked against a plain reference."""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import alwidget.background as B
from alwidget.background import subtract_background
from alwidget.errors import InvalidInputError


def reference(X, groups, order, radius, statistic):
    """Window by window: the statistic of the non-NaN rows within ``radius`` windows in its recording."""
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    groups = np.zeros(n, int) if groups is None else np.asarray(groups)
    order = np.arange(n, dtype=float) if order is None else np.asarray(order, dtype=float)
    valid = ~np.isnan(X).any(axis=1)
    out = np.full((n, d), np.nan)
    stat = np.median if statistic == "median" else np.mean
    for g in np.unique(groups):
        rows = np.flatnonzero(groups == g)
        rows = rows[np.argsort(order[rows], kind="stable")]
        for j, i in enumerate(rows):
            if valid[i]:
                near = rows[max(0, j - radius) : j + radius + 1]
                out[i] = X[i] - stat(X[near[valid[near]]], axis=0)
    return out


def soundscape(seed=0, n_rec=3, m=200, d=8, event_rate=0.1):
    """Windows of ``n_rec`` recordings: a constant background per recording, noise, sparse events of one shape."""
    g = np.random.default_rng(seed)
    backgrounds = g.normal(0, 5, size=(n_rec, d))
    event = np.zeros(d)
    event[:2] = 3.0
    groups = np.repeat(np.arange(n_rec), m)
    is_event = g.random(n_rec * m) < event_rate
    X = backgrounds[groups] + 0.1 * g.normal(size=(n_rec * m, d)) + is_event[:, None] * event
    return X.astype(np.float32), groups, is_event, event


@pytest.mark.parametrize("statistic", ["median", "mean"])
def test_a_constant_offset_per_recording_is_removed_exactly(statistic):
    g = np.random.default_rng(1)
    groups = np.repeat(["a", "b", "c"], [50, 7, 120])
    offsets = {"a": 100.0, "b": -40.0, "c": 3.5}
    X = np.stack([np.full(4, offsets[k]) for k in groups]).astype(np.float32)
    np.testing.assert_array_equal(subtract_background(X, groups, statistic=statistic), 0.0)
    # with the same offsets under windows that vary, only the variation is left
    Z = g.normal(size=X.shape).astype(np.float32)
    np.testing.assert_allclose(
        subtract_background(X + Z, groups, statistic=statistic),
        subtract_background(Z, groups, statistic=statistic),
        atol=2e-4,
    )


def test_events_stand_out_and_the_background_no_longer_separates_recordings():
    X, groups, is_event, event = soundscape()
    Y = subtract_background(X, groups, radius=30)
    # event windows are the event (plus noise), the others about zero, in every recording
    np.testing.assert_allclose(Y[is_event].mean(axis=0), event, atol=0.1)
    assert np.abs(Y[~is_event]).mean() < 0.15
    # raw, an event window is nearer the background of its own recording than any window of another one;
    # subtracted, its nearest window in another recording is an event window
    ev = np.flatnonzero(is_event)
    for Z, subtracted in ((X, False), (Y, True)):
        D = ((Z[ev, None, :] - Z[None, :, :]) ** 2).sum(-1)
        other = groups[ev, None] != groups[None, :]
        own_bg = np.where(~other & ~is_event[None, :], D, np.inf).min(axis=1)
        across = np.where(other, D, np.inf)
        if subtracted:
            assert is_event[across.argmin(axis=1)].all()
        else:
            assert (own_bg < across.min(axis=1)).all()


@pytest.mark.parametrize("statistic", ["median", "mean"])
@pytest.mark.parametrize("block", [None, 40, 3])
def test_matches_the_reference_with_edges_groups_order_and_small_blocks(monkeypatch, statistic, block):
    g = np.random.default_rng(2)
    n, d = 400, 5
    X = g.normal(size=(n, d)).astype(np.float32)
    X[g.random(n) < 0.05] = np.nan
    groups = g.integers(0, 6, n)  # interleaved recordings of 40-90 windows
    order = g.permutation(n).astype(float)
    if block is not None:
        monkeypatch.setattr(B, "_BLOCK", block * d)  # many blocks per recording: the overlaps must be right
    got = subtract_background(X, groups, order, radius=7, statistic=statistic)
    np.testing.assert_allclose(got, reference(X, groups, order, 7, statistic), atol=1e-5)


def test_nan_rows_stay_nan_and_do_not_poison_their_neighbours():
    X, groups, _, _ = soundscape(n_rec=2, m=100)
    Xn = X.copy()
    Xn[[5, 6, 150]] = np.nan
    Xn[40, 3] = np.nan  # one NaN makes the whole row missing
    for statistic in ("median", "mean"):
        Y = subtract_background(Xn, groups, radius=10, statistic=statistic)
        missing = np.isnan(Y).any(axis=1)
        np.testing.assert_array_equal(np.flatnonzero(missing), [5, 6, 40, 150])
        assert np.isnan(Y[missing]).all()
        np.testing.assert_allclose(Y, reference(Xn, groups, None, 10, statistic), atol=1e-5)
    # a recording of missing windows only stays missing
    X2 = np.full((3, 2), np.nan, dtype=np.float32)
    assert np.isnan(subtract_background(X2, radius=2)).all()


def test_shapes_dtypes_and_out():
    X = np.random.default_rng(3).normal(size=(30, 4))
    for dtype in (np.float16, np.float32, np.float64, np.int32):
        Y = subtract_background(X.astype(dtype), radius=3)
        assert Y.shape == (30, 4) and Y.dtype == np.float32
    out = np.zeros((30, 4), dtype=np.float16)
    assert subtract_background(X, radius=3, out=out) is out
    np.testing.assert_allclose(out, reference(X, None, None, 3, "median"), atol=1e-2)
    assert subtract_background(np.zeros((0, 4)), np.array([], dtype=str)).shape == (0, 4)


def test_a_memory_mapped_pool_is_read_in_place(tmp_path):
    X, groups, _, _ = soundscape(n_rec=4, m=60)
    path = tmp_path / "pool.npy"
    np.save(path, X.astype(np.float16))
    Xm = np.load(path, mmap_mode="r")
    out = np.lib.format.open_memmap(tmp_path / "out.npy", mode="w+", dtype=np.float32, shape=X.shape)
    subtract_background(Xm, groups, radius=5, out=out)
    np.testing.assert_allclose(out, subtract_background(X.astype(np.float16), groups, radius=5))


def test_one_window_and_short_recordings():
    X = np.array([[1.0, 2.0], [3.0, 5.0], [4.0, 4.0], [10.0, 0.0]], dtype=np.float32)
    # a recording of one window is its own background: zeros
    np.testing.assert_array_equal(subtract_background(X[:1], radius=30), [[0.0, 0.0]])
    # a recording shorter than the span uses all its windows for every window
    np.testing.assert_allclose(subtract_background(X, radius=30), X - np.median(X, axis=0))
    np.testing.assert_allclose(subtract_background(X, radius=30, statistic="mean"), X - X.mean(axis=0), atol=1e-6)
    # every recording apart, whatever the order of the rows
    Y = subtract_background(X, ["b", "a", "b", "a"], radius=30)
    np.testing.assert_allclose(Y[[0, 2]], X[[0, 2]] - np.median(X[[0, 2]], axis=0))
    np.testing.assert_allclose(Y[[1, 3]], X[[1, 3]] - np.median(X[[1, 3]], axis=0))


def test_the_order_within_a_recording_is_time_not_rows():
    g = np.random.default_rng(4)
    X = g.normal(size=(80, 3)).astype(np.float32)
    perm = g.permutation(80)
    times = np.arange(80.0)
    Y = subtract_background(X, order=times, radius=5)
    Yp = subtract_background(X[perm], order=times[perm], radius=5)
    np.testing.assert_array_equal(Yp, Y[perm])


def test_deterministic():
    X, groups, _, _ = soundscape(seed=5)
    a = subtract_background(X, groups.astype(str), radius=15)
    b = subtract_background(X.copy(), groups.astype(str), radius=15)
    np.testing.assert_array_equal(a, b)


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 40), min_size=1, max_size=4),
    d=st.integers(1, 5),
    radius=st.integers(1, 12),
    statistic=st.sampled_from(["median", "mean"]),
    seed=st.integers(0, 2**31),
)
def test_adding_a_constant_vector_per_recording_leaves_the_output_unchanged(sizes, d, radius, statistic, seed):
    g = np.random.default_rng(seed)
    groups = np.repeat(np.arange(len(sizes)), sizes)
    g.shuffle(groups)
    X = g.integers(-3, 4, size=(len(groups), d)).astype(np.float32)  # small integers: ties, exact sums
    X[g.random(len(groups)) < 0.1] = np.nan
    shift = g.integers(-50, 51, size=(len(sizes), d)).astype(np.float32)
    Y = subtract_background(X, groups, radius=radius, statistic=statistic)
    Ys = subtract_background(X + shift[groups], groups, radius=radius, statistic=statistic)
    np.testing.assert_allclose(Ys, Y, atol=1e-4)
    np.testing.assert_allclose(Y, reference(X, groups, None, radius, statistic), atol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"X": np.zeros(5)}, "2-D"),
        ({"X": np.zeros((3, 0))}, "no features"),
        ({"X": np.array([["a"]])}, "real numbers"),
        ({"X": np.array([[1.0], [np.inf]])}, r"infinite value \(inf\) at row 1"),
        ({"groups": [0, 1]}, "one recording per row of X \\(3\\)"),
        ({"groups": "abc"}, "single value"),
        ({"groups": np.array([0, "a", 1.5], dtype=object)}, "comparable"),
        ({"order": [0.0, 1.0]}, "one time per row"),
        ({"order": [0.0, np.nan, 1.0]}, "finite"),
        ({"order": ["x", "y", "z"]}, "real number"),
        ({"radius": 0}, "positive integer"),
        ({"radius": 2.5}, "positive integer"),
        ({"radius": True}, "positive integer"),
        ({"statistic": "max"}, "median"),
        ({"out": np.zeros((2, 2), np.float32)}, "shape"),
        ({"out": np.zeros((3, 2), np.int32)}, "float16"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(kwargs, match):
    args = {"X": np.ones((3, 2), np.float32), **kwargs}
    X = args.pop("X")
    with pytest.raises(InvalidInputError) as info:
        subtract_background(X, **args)
    assert re.search(match, str(info.value)), str(info.value)
    ro = np.zeros((3, 2), np.float32)
    ro.flags.writeable = False
    with pytest.raises(InvalidInputError, match="read-only"):
        subtract_background(np.ones((3, 2)), out=ro)
