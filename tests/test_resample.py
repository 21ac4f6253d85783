"""alwidget._resample: the one resampler behind files, recordings, queries and embedders."""

from __future__ import annotations

import librosa
import numpy as np

from alwidget._resample import resample


def test_matches_librosa_soxr_hq_and_returns_float32():
    y = np.random.default_rng(0).standard_normal(22050).astype(np.float32)
    out = resample(y, 22050, 16000)
    assert out.dtype == np.float32 and out.shape == (16000,)
    np.testing.assert_array_equal(out, librosa.resample(y, orig_sr=22050, target_sr=16000, res_type="soxr_hq"))


def test_same_rate_returns_the_waveform_itself():
    y = np.ones(10, np.float32)
    assert resample(y, 16000, 16000) is y
