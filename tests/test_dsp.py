"""alwidget.dsp: log-mel spectrograms and frame statistics, the public pieces the embedders are made of."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import scipy.fft
import scipy.signal

from alwidget.dsp import (
    dct_matrix,
    frame_stats,
    hann_window,
    log_mel,
    log_mel_spectrogram,
    mel_filters,
    power_to_db,
)
from alwidget.embedders import LogMelEmbedder
from alwidget.errors import InvalidInputError

SR = 16000


def tone(seconds: float = 0.8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * 880 * t) + 0.05 * rng.standard_normal(len(t))).astype(np.float32)


def test_log_mel_spectrogram_is_log_mel_with_the_sparse_filters():
    y = tone()
    F = log_mel_spectrogram(y, SR, 40, n_fft=512, hop_length=128, top_db=60.0)
    assert F.shape == (40, 1 + len(y) // 128) and F.dtype == np.float32
    np.testing.assert_array_equal(F, log_mel(y, mel_filters(SR, 512, 40, 0.0, None)[1], 128, 60.0))
    # the dense filter bank gives the same spectrogram up to float32 rounding
    np.testing.assert_allclose(F, log_mel(y, mel_filters(SR, 512, 40, 0.0, None)[0], 128, 60.0), atol=1e-3)


def test_mel_filters_are_librosas_dense_and_sparse():
    dense, sparse = mel_filters(SR, 1024, 64, 50.0, 7000.0)
    ref = librosa.filters.mel(sr=SR, n_fft=1024, n_mels=64, fmin=50.0, fmax=7000.0)
    np.testing.assert_allclose(dense, ref, rtol=1e-6)
    np.testing.assert_array_equal(sparse.toarray(), dense)
    assert mel_filters(SR, 1024, 64, 50.0, 7000.0)[0] is dense  # cached


def test_power_to_db_matches_librosa_and_floors_at_top_db():
    S = np.abs(np.random.default_rng(1).standard_normal((8, 30))).astype(np.float32) ** 4
    np.testing.assert_allclose(power_to_db(S, 40.0), librosa.power_to_db(S, top_db=40.0), atol=1e-4)
    db = power_to_db(np.array([[1.0, 1e-20]], np.float32), None)
    np.testing.assert_allclose(db, [[0.0, -100.0]])  # amin = 1e-10: -100 dB, no floor without top_db


def test_hann_window_and_dct_matrix():
    np.testing.assert_allclose(hann_window(256), scipy.signal.get_window("hann", 256, fftbins=True), atol=1e-7)
    D = dct_matrix(13, 40)
    assert D.shape == (13, 40) and D.dtype == np.float32
    x = np.random.default_rng(2).standard_normal(40)
    np.testing.assert_allclose(D @ x, scipy.fft.dct(x, type=2, norm="ortho")[:13], atol=1e-5)
    np.testing.assert_allclose(dct_matrix(40, 40) @ dct_matrix(40, 40).T, np.eye(40), atol=1e-5)


def test_frame_stats_are_mean_std_and_delta_std_per_row():
    F = np.array([[0.0, 1.0, 3.0], [2.0, 2.0, 2.0]], np.float32)
    out = frame_stats(F)
    assert out.dtype == np.float32 and out.shape == (6,)
    np.testing.assert_allclose(out, [4 / 3, 2.0, np.std([0, 1, 3]), 0.0, 0.5, 0.0], rtol=1e-6)


@pytest.mark.parametrize("kind", ["logmel", "mfcc"])
def test_the_builtin_embedders_are_frame_stats_of_the_public_functions(kind):
    y = tone(1.3, seed=3)
    emb = LogMelEmbedder(kind, n_mels=48, n_mfcc=20)
    F = log_mel_spectrogram(y, SR, 48)  # n_fft 1024, hop 256, top_db 80: the embedder's defaults
    if kind == "mfcc":
        F = dct_matrix(20, 48) @ F
    np.testing.assert_array_equal(emb([y], SR)[0], frame_stats(F))


def test_log_mel_spectrogram_rejects_stereo():
    with pytest.raises(InvalidInputError, match="1-D mono"):
        log_mel_spectrogram(np.zeros((2, 1000), np.float32), SR)
