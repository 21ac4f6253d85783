"""alwidget.audio_io: decoding, probing and cache keys of single files, without a dataset."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from alwidget.audio_io import clip_cache_keys, content_hash, decode_clip, file_fingerprint, load_audio, probe_clip
from alwidget.errors import AudioLoadError

SR = 16000


def test_decode_clip_cuts_pads_and_gives_reasons(tmp_path):
    y = np.linspace(-0.5, 0.5, SR, dtype=np.float32)
    path = tmp_path / "a.wav"
    sf.write(path, y, SR, subtype="FLOAT")
    np.testing.assert_array_equal(decode_clip(str(path), SR, 0.25, 0.5), y[SR // 4 : 3 * SR // 4])
    padded = decode_clip(y, SR, 0.5, 1.0)  # an array is already at sr: cut at the offset, zero-padded
    np.testing.assert_array_equal(padded, np.concatenate([y[SR // 2 :], np.zeros(SR // 2, np.float32)]))
    bad = y.copy()
    bad[10] = np.nan
    with pytest.raises(ValueError, match="non-finite audio"):
        decode_clip(bad, SR, 0.0, None)
    with pytest.raises(AudioLoadError, match="cannot decode the array"):
        load_audio(bad, SR)
    assert probe_clip(str(path), 0.25, None) == (0.75, 1.0)


def test_clip_cache_keys(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, np.zeros(800, np.float32), SR)
    st = path.stat()
    stamp = f"{st.st_size}\0{st.st_mtime_ns}\0{file_fingerprint(str(path), st)}"
    keys = clip_cache_keys([("h1", None), ("a.wav@0.0", str(path)), ("a.wav@0.5", str(path)), ("b", "/nope.wav")])
    assert keys == ["h1", f"a.wav@0.0\0{stamp}", f"a.wav@0.5\0{stamp}", None]
    assert content_hash(np.ones(3), SR) == content_hash(np.ones(3, np.float32), SR) != content_hash(np.ones(3), 8000)
