"""AudioDataset: formats, resampling, duration/offset, bounded decode, bad files."""

from __future__ import annotations

import io
import os
import tracemalloc
import warnings

import numpy as np
import pytest
import soundfile as sf

from alwidget.audio import AudioDataset, AudioError, load_audio
from alwidget.errors import AudioLoadError, IndexOutOfRangeError, InvalidInputError

SR = 16000


@pytest.fixture(autouse=True)
def _tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ALWIDGET_CACHE_DIR", str(tmp_path / "cache"))


def tone(freq: float = 440.0, seconds: float = 0.5, sr: int = SR, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_hz(y: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return float(np.argmax(spec) * sr / len(y))


@pytest.mark.parametrize(
    ("ext", "fmt", "subtype", "lossless"),
    [
        ("wav", "WAV", "PCM_16", True),
        ("flac", "FLAC", "PCM_16", True),
        ("ogg", "OGG", "VORBIS", False),
        ("mp3", "MP3", "MPEG_LAYER_III", False),
    ],
)
def test_format_round_trip(tmp_path, ext, fmt, subtype, lossless):
    if fmt not in sf.available_formats():
        pytest.skip(f"libsndfile here cannot write {fmt}")
    y = tone(440.0, 1.0)
    path = tmp_path / f"a.{ext}"
    sf.write(path, y, SR, format=fmt, subtype=subtype)
    ds = AudioDataset.from_files([path], sr=SR)
    out, sr = ds[0]
    assert sr == SR and out.dtype == np.float32 and out.ndim == 1
    assert ds.duration(0) == pytest.approx(len(out) / SR, abs=0.01)
    if lossless:
        np.testing.assert_allclose(out, y, atol=1.5 / 32768)
    else:  # lossy codecs shift and smear the signal: compare pitch and length
        assert abs(len(out) - len(y)) < 0.1 * SR
        assert peak_hz(out, SR) == pytest.approx(440.0, abs=5)


def test_resample_and_mono_mixdown(tmp_path):
    native = 44100
    left, right = tone(1000.0, 1.0, native, 0.6), tone(1000.0, 1.0, native, 0.2)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), native, subtype="FLOAT")
    y, sr = AudioDataset.from_files([path], sr=SR)[0]
    assert sr == SR and len(y) == SR
    assert peak_hz(y, SR) == pytest.approx(1000.0, abs=3)
    # mixdown = mean of channels: amplitude (0.6 + 0.2) / 2
    assert np.abs(y[100:-100]).max() == pytest.approx(0.4, abs=0.01)


def test_duration_and_offset_select_exact_samples(tmp_path):
    ramp = (np.arange(SR) / SR).astype(np.float32)  # 1 s, sample k = k / SR
    path = tmp_path / "ramp.wav"
    sf.write(path, ramp, SR, subtype="FLOAT")
    ds = AudioDataset.from_files([path], sr=SR, offset=0.5, duration=0.25)
    y, _ = ds[0]
    np.testing.assert_array_equal(y, ramp[8000:12000])
    assert ds.duration(0) == 0.25
    padded, _ = AudioDataset.from_files([path], sr=SR, offset=0.75, duration=0.5)[0]
    assert len(padded) == 8000
    np.testing.assert_array_equal(padded[:4000], ramp[12000:])
    assert not padded[4000:].any()
    rest = AudioDataset.from_files([path], sr=SR, offset=0.25)
    assert len(rest[0][0]) == 12000 and rest.duration(0) == 0.75


def test_long_file_decodes_only_the_segment(tmp_path, monkeypatch):
    sr, minutes = 8000, 20
    path = tmp_path / "long.wav"
    block = np.tile(np.arange(sr, dtype=np.float32) / sr, 60)  # 1 minute ramp, repeats every second
    with sf.SoundFile(path, "w", sr, 1, subtype="FLOAT") as f:
        for _ in range(minutes):
            f.write(block)
    ds = AudioDataset.from_files([path], sr=sr, offset=600.25, duration=0.5)

    frames_read = []
    real_read = sf.SoundFile.read

    def spy(self, frames=-1, *args, **kwargs):
        out = real_read(self, frames, *args, **kwargs)
        frames_read.append(len(out))
        return out

    monkeypatch.setattr(sf.SoundFile, "read", spy)
    tracemalloc.start()
    y, _ = ds[0]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert frames_read == [4000]
    assert peak < 1_000_000  # the whole file would be 9.6 M samples = 38 MB
    np.testing.assert_array_equal(y, np.arange(2000, 6000, dtype=np.float32) / sr)


def write_bad_files(folder) -> dict[str, str]:
    """Random bytes, truncated flac, empty file, zero-frame wav; returns name -> kind."""
    rng = np.random.default_rng(0)
    (folder / "noise.wav").write_bytes(rng.bytes(4000))
    buf = io.BytesIO()
    sf.write(buf, tone(300.0, 1.0), SR, format="FLAC")
    (folder / "cut.flac").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    (folder / "empty.ogg").write_bytes(b"")
    sf.write(folder / "zero.wav", np.zeros(0, np.float32), SR)
    return {
        "noise.wav": "not a readable",
        "cut.flac": "truncated",
        "empty.ogg": "not a readable",
        "zero.wav": "zero-length",
    }


def test_bad_files_are_listed_with_one_warning(tmp_path):
    sf.write(tmp_path / "good.wav", tone(), SR)
    kinds = write_bad_files(tmp_path)
    (tmp_path / "notes.txt").write_text("not audio")
    with pytest.warns(UserWarning, match=r"4 of 5 audio files were skipped") as record:
        ds = AudioDataset.from_folder(tmp_path)
    assert len(record) == 1
    assert len(ds) == 1 and ds.names == ["good.wav"]
    reasons = {os.path.basename(e.path): e.reason for e in ds.errors}
    assert set(reasons) == set(kinds)
    for fname, kind in kinds.items():
        assert kind in reasons[fname], (fname, reasons[fname])
    assert all(isinstance(e, AudioError) for e in ds.errors)


def test_non_audio_and_missing_files_given_explicitly(tmp_path):
    sf.write(tmp_path / "good.wav", tone(), SR)
    txt = tmp_path / "readme.txt"
    txt.write_text("hello")
    with pytest.warns(UserWarning, match="skipped"):
        ds = AudioDataset.from_files([tmp_path / "good.wav", txt, tmp_path / "gone.wav"], labels=["a", "b", "c"])
    assert ds.labels == ["a"]
    assert [e.reason for e in ds.errors][1] == "file not found"
    assert "not a readable audio file" in ds.errors[0].reason


def test_all_bad_or_no_audio_is_a_clear_error(tmp_path):
    with pytest.raises(InvalidInputError, match="does not exist"):
        AudioDataset.from_folder(tmp_path / "nope")
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(InvalidInputError, match=r"no audio files found in .*1 other files ignored"):
        AudioDataset.from_folder(tmp_path)
    with pytest.raises(InvalidInputError, match="is a file"):
        AudioDataset.from_folder(tmp_path / "a.txt")
    write_bad_files(tmp_path)
    with pytest.raises(InvalidInputError, match="none of the 4 audio files could be read"):
        AudioDataset.from_folder(tmp_path)


def test_folder_labels_recursion_and_hidden_files(tmp_path):
    for rel in ["dog/a.wav", "dog/2021/b.flac", "cat/c.WAV", "top.wav", ".hidden/d.wav", "cat/._e.wav"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        sf.write(tmp_path / rel, tone(), SR, format="FLAC" if rel.endswith("flac") else "WAV")
    (tmp_path / "cat/._e.wav").write_bytes(b"\x00\x05\x16\x07 AppleDouble junk")
    ds = AudioDataset.from_folder(tmp_path, labels_from="subfolder")
    assert ds.clip_ids == ["cat/c.WAV", "dog/2021/b.flac", "dog/a.wav", "top.wav"]
    assert ds.labels == ["cat", "dog", "dog", None]
    assert ds.names[1] == "b.flac" and ds.paths[1] == str(tmp_path.resolve() / "dog/2021/b.flac")
    assert ds.errors == []
    flat = AudioDataset.from_folder(tmp_path, recursive=False)
    assert flat.clip_ids == ["top.wav"] and flat.labels is None
    with pytest.raises(InvalidInputError, match="labels_from"):
        AudioDataset.from_folder(tmp_path, labels_from="csv")


def test_from_arrays_ids_names_labels():
    a, b = tone(440.0), tone(880.0)
    ds = AudioDataset.from_arrays([a, b, a], SR, labels=["x", "y", "x"])
    again = AudioDataset.from_arrays([a.copy()], SR)
    assert ds.clip_ids[0] == again.clip_id(0) and ds.clip_ids[1] != ds.clip_ids[0]
    assert ds.clip_ids[2] == ds.clip_ids[0] + "#2"
    assert ds.names == ["clip_00000", "clip_00001", "clip_00002"] and ds.paths == [None] * 3
    np.testing.assert_array_equal(ds[-1][0], a)
    assert ds.duration(1) == 0.5
    fixed = AudioDataset.from_arrays(np.stack([a, b]), SR, names=["p", "q"], duration=1.0, offset=0.25)
    assert len(fixed[1][0]) == SR and fixed.names == ["p", "q"]
    np.testing.assert_array_equal(fixed[1][0][:4000], b[4000:])


@pytest.mark.parametrize(
    ("waveforms", "kwargs", "match"),
    [
        ([np.zeros((2, 100))], {}, "1-D mono"),
        ([np.array([0.0, np.nan])], {}, "NaN"),
        ([], {}, "no waveforms"),
        ([np.zeros(10)], {"labels": ["a", "b"]}, "labels has 2 entries"),
        ([np.zeros(10)], {"sr": 0}, "sr must be a positive integer"),
        ([np.zeros(10)], {"duration": -1}, "duration must be"),
        ([np.zeros(10)], {"offset": 1.0}, "beyond the end"),
    ],
)
def test_from_arrays_rejects_bad_input(waveforms, kwargs, match):
    kwargs = {"sr": SR, **kwargs}
    with pytest.raises(InvalidInputError, match=match):
        AudioDataset.from_arrays(waveforms, **kwargs)


def test_wav_bytes_is_a_playable_pcm16_file():
    y = tone(440.0, 0.25) * 3  # clipped to [-1, 1] for playback
    ds = AudioDataset.from_arrays([y], 22050)
    data = ds.wav_bytes(0)
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    info = sf.info(io.BytesIO(data))
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (22050, 1, len(y), "PCM_16")
    back, _ = sf.read(io.BytesIO(data), dtype="float32")
    np.testing.assert_allclose(back, np.clip(y, -1, 1), atol=1 / 16000)


def test_indexing_subset_and_repr(tmp_path):
    ds = AudioDataset.from_arrays([tone(), tone(500.0), tone(600.0)], SR, labels=[1, 2, 3])
    with pytest.raises(IndexOutOfRangeError, match="out of range"):
        ds[3]
    with pytest.raises(InvalidInputError, match="integer"):
        ds["a"]
    sub = ds.subset(np.array([True, False, True]))
    assert len(sub) == 2 and sub.labels == [1, 3] and sub.clip_ids == [ds.clip_id(0), ds.clip_id(2)]
    assert ds.subset([2]).labels == [3]
    assert "n=3" in repr(ds) and "classes=3" in repr(ds)


def test_file_broken_after_construction_raises_on_access(tmp_path):
    path = tmp_path / "a.flac"
    sf.write(path, tone(seconds=1.0), SR, format="FLAC")
    ds = AudioDataset.from_files([path])
    data = path.read_bytes()
    path.write_bytes(data[:200] + bytes(len(data) - 200))  # header intact, frames garbage
    with pytest.raises(AudioLoadError, match="a.flac"):
        ds[0]


def test_load_audio_on_array_and_no_warning_for_clean_folder(tmp_path):
    y = load_audio(np.arange(10, dtype=np.float64), SR, duration=20 / SR)
    assert y.dtype == np.float32 and len(y) == 20
    sf.write(tmp_path / "a.wav", tone(), SR)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        AudioDataset.from_folder(tmp_path)


# ---------------------------------------------------------------- fuzz (issue 5)
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_ODD_NAMES = ["clip one.wav", "ñandú.flac", "鳥の声.wav", "a'b\"c.ogg", "-dash.wav", "#hash.flac", "x" * 80 + ".wav"]


def _bad_payload(kind: str, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    sf.write(buf, tone(seconds=0.3), SR, format="WAV", subtype="PCM_16")
    wav = buf.getvalue()
    if kind == "random":
        return rng.integers(0, 256, int(rng.integers(1, 2000)), dtype=np.uint8).tobytes()
    if kind == "empty":
        return b""
    if kind == "header_only":
        return wav[:44]
    if kind == "truncated":
        return wav[: int(rng.integers(1, 40))]
    # a RIFF header that promises far more data than the file holds
    return wav[:40] + (10**9).to_bytes(4, "little") + wav[44:200]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    bad=st.lists(
        st.tuples(
            st.sampled_from(["random", "empty", "header_only", "truncated", "lying_header"]), st.integers(0, 999)
        ),
        min_size=1,
        max_size=5,
    ),
    names=st.permutations(_ODD_NAMES),
)
def test_fuzz_bad_files_never_crash_and_are_all_reported(tmp_path_factory, bad, names):
    folder = tmp_path_factory.mktemp("fuzz")
    good = {names[0]: tone(300.0), names[1]: np.zeros(SR // 2, dtype=np.float32)}  # a silent clip is valid audio
    formats = {".flac": "FLAC", ".ogg": "OGG", ".wav": "WAV"}
    for name, y in good.items():
        sf.write(folder / name, y, SR, format=formats[os.path.splitext(name)[1]])
    bad_names = [f"bad {i} {kind}.wav" for i, (kind, _) in enumerate(bad)]
    for name, (kind, seed) in zip(bad_names, bad):
        (folder / name).write_bytes(_bad_payload(kind, seed))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = AudioDataset.from_folder(folder, sr=SR)
    reported = {os.path.basename(e.path) for e in ds.errors}
    loaded = set(ds.names)
    # every file is either loaded or reported, never both, never lost
    assert loaded | reported == set(good) | set(bad_names)
    assert not loaded & reported
    assert set(good) <= loaded, ds.errors
    if reported:
        assert sum("skipped" in str(w.message) for w in caught) == 1  # one summary warning
    for i in range(len(ds)):
        y, sr = ds[i]
        assert sr == SR and y.dtype == np.float32 and np.isfinite(y).all()
    X = ds.embed("logmel", progress=False, cache_dir=False)
    assert np.isfinite(X).all()  # the silent clip included


# ---------------------------------------------------------------- non-finite samples, cache keys (issue 10)
def test_nan_or_inf_samples_fail_to_load_naming_the_file(tmp_path):
    y = tone(seconds=0.5)
    y[1234], y[5000] = np.nan, np.inf
    sf.write(tmp_path / "bad.wav", y, SR, subtype="FLOAT")
    sf.write(tmp_path / "good.wav", tone(seconds=0.5), SR, subtype="FLOAT")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = AudioDataset.from_folder(tmp_path)  # the probe only reads the header and the last frame
    assert ds.names == ["bad.wav", "good.wav"]
    with pytest.raises(AudioLoadError, match=r"'.*bad\.wav'.*non-finite audio: 2 of its 8000 samples .*at 0\.077 s"):
        ds[0]
    assert np.isfinite(ds[1][0]).all()
    late = AudioDataset.from_files([tmp_path / "bad.wav"], offset=0.1)  # only the inf sample is in the segment
    with pytest.raises(AudioLoadError, match=r"1 of its 6400 samples .*first at 0\.312 s"):
        late[0]
    with pytest.raises(AudioLoadError, match="cannot decode the array: non-finite audio"):
        load_audio(np.array([0.0, np.nan, 0.5]), SR)


def _fixed_time_folder(folder, seed: int) -> AudioDataset:
    folder.mkdir()
    rng = np.random.default_rng(seed)
    for name in ("a.wav", "b.wav"):
        sf.write(folder / name, (0.1 * rng.standard_normal(SR)).astype(np.float32), SR, subtype="FLOAT")
        os.utime(folder / name, ns=(10**18, 10**18))
    return AudioDataset.from_folder(folder)


def test_cache_keys_tell_twin_folders_apart_and_survive_a_move(tmp_path):
    one, two = _fixed_time_folder(tmp_path / "one", 1), _fixed_time_folder(tmp_path / "two", 2)
    assert one.clip_ids == two.clip_ids
    same = [(st.st_size, st.st_mtime_ns) for st in map(os.stat, one.paths)]  # the change time cannot be set
    assert same == [(st.st_size, st.st_mtime_ns) for st in map(os.stat, two.paths)]
    keys = one.cache_keys()
    assert not set(keys) & set(two.cache_keys())
    assert one.cache_keys() == keys  # stable
    os.rename(tmp_path / "one", tmp_path / "moved")
    assert AudioDataset.from_folder(tmp_path / "moved").cache_keys() == keys
    # rewritten in place with another signal of the same size, mtime put back: a new key
    path = tmp_path / "moved" / "a.wav"
    sf.write(path, tone(seconds=1.0), SR, subtype="FLOAT")
    os.utime(path, ns=(10**18, 10**18))
    new = AudioDataset.from_folder(tmp_path / "moved").cache_keys()
    assert new[0] != keys[0] and new[1] == keys[1]
