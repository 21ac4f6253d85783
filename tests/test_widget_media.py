"""What the widget plays and draws for a clip: plain clips, and windows of long recordings with context."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import soundfile as sf

from alwidget.audio import AudioDataset
from alwidget.errors import InvalidInputError
from alwidget.session.media import ClipMedia, MediaCache, check_context, freq_ticks, load_media, spectrogram_pixels

SR = 16000
N_MELS = 32


class Windows:
    """A long recording cut into 1 s windows (hop 1 s): the windowed-dataset API, in memory."""

    is_windowed = True

    def __init__(self, waveform: np.ndarray, sr: int = SR, window: float = 1.0, name: str = "rec.flac"):
        self.y, self.sr, self.window, self.name = waveform.astype(np.float32), sr, window, name
        total = len(waveform) / sr
        self.starts = np.arange(0.0, total - window + 1e-9, window)
        self.names = [f"{name}@{s:g}" for s in self.starts]

    def __len__(self) -> int:
        return len(self.starts)

    def _span(self, a: float, b: float) -> np.ndarray:
        return self.y[round(a * self.sr) : round(b * self.sr)]

    def __getitem__(self, i: int):
        return self._span(self.start(i), self.end(i)), self.sr

    def wav_bytes(self, i: int) -> bytes:
        buf = io.BytesIO()
        sf.write(buf, self[i][0], self.sr, format="WAV", subtype="PCM_16")
        return buf.getvalue()

    def duration(self, i: int) -> float:
        return self.window

    def clip_id(self, i: int) -> str:
        return f"w{i}"

    def recording(self, i: int) -> str:
        return self.name

    def start(self, i: int) -> float:
        return float(self.starts[i])

    def end(self, i: int) -> float:
        return float(self.starts[i]) + self.window

    def context(self, i: int, before: float = 1.0, after: float = 1.0):
        total = len(self.y) / self.sr
        a, b = max(0.0, self.start(i) - before), min(total, self.end(i) + after)
        return self._span(a, b), self.sr, self.start(i) - a, self.end(i) - a


def _quiet(seconds: float, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(int(seconds * SR)) * 1e-3).astype(np.float32)


def _tone(y: np.ndarray, a: float, b: float, hz: float = 1000.0) -> np.ndarray:
    y = y.copy()
    t = np.arange(round(a * SR), round(b * SR))
    y[t] += 0.5 * np.sin(2 * np.pi * hz * t / SR).astype(np.float32)
    return y


def _decoded_seconds(wav: bytes) -> float:
    y, sr = sf.read(io.BytesIO(wav), dtype="float32")
    assert sr == SR and y.ndim == 1
    return len(y) / sr


@pytest.fixture(scope="module")
def windows():
    return Windows(_tone(_quiet(10.0), 2.0, 3.0))  # a loud tone at 2-3 s, just before window 3 (3-4 s)


def test_a_window_is_played_and_drawn_with_its_context(windows):
    frames = []
    for ctx in (0.0, 0.5, 1.0, 2.0):
        m = load_media(windows, 5, N_MELS, context=ctx)
        assert m.duration == pytest.approx(1.0 + 2 * ctx)
        assert _decoded_seconds(m.wav) == pytest.approx(m.duration, abs=1e-3)
        assert (m.window_start, m.window_end) == pytest.approx((ctx, ctx + 1.0))
        assert (m.recording, m.start, m.end) == ("rec.flac", 5.0, 6.0)
        assert len(m.spectrogram) == m.n_mels * m.frames == N_MELS * m.frames
        frames.append(m.frames)
    assert frames == sorted(frames) and len(set(frames)) == 4  # the spectrogram grows with the context
    waveform, sr, _, _ = windows.context(5, before=1.0, after=1.0)
    spec, _, cols, _ = spectrogram_pixels(waveform, sr, N_MELS)
    m = load_media(windows, 5, N_MELS, context=(1.0, 1.0))
    assert (m.spectrogram, m.frames) == (spec, cols)  # exactly the context span's spectrogram


def test_the_context_is_really_drawn_left_of_the_window(windows):
    m = load_media(windows, 3, N_MELS, context=1.0)  # plays 2-5 s: the tone is the first third
    assert (m.window_start, m.window_end, m.duration) == pytest.approx((1.0, 2.0, 3.0))
    px = np.frombuffer(m.spectrogram, np.uint8).reshape(m.n_mels, m.frames).astype(float)
    loud = px.mean(axis=0) > px.mean()
    where = np.flatnonzero(loud) / m.frames
    assert where.size and where.max() < m.window_start / m.duration + 0.05
    plain = load_media(windows, 3, N_MELS, context=0)  # the window alone holds no tone
    assert plain.duration == pytest.approx(1.0) and (plain.window_start, plain.window_end) == (0.0, 1.0)
    assert (plain.recording, plain.start, plain.end) == ("rec.flac", 3.0, 4.0)
    assert plain.wav == windows.wav_bytes(3)


def test_the_context_is_clipped_at_the_recording_bounds(windows):
    first = load_media(windows, 0, N_MELS, context=1.0)
    assert (first.window_start, first.window_end, first.duration) == pytest.approx((0.0, 1.0, 2.0))
    assert (first.start, first.end) == (0.0, 1.0)
    last = load_media(windows, len(windows) - 1, N_MELS, context=1.0)
    assert (last.window_start, last.window_end, last.duration) == pytest.approx((1.0, 2.0, 2.0))
    assert (last.start, last.end) == (9.0, 10.0)
    lopsided = load_media(windows, 0, N_MELS, context=(5.0, 0.5))
    assert (lopsided.window_start, lopsided.window_end, lopsided.duration) == pytest.approx((0.0, 1.0, 1.5))
    one = Windows(_quiet(1.0))  # a recording as long as its only window: no context at all
    m = load_media(one, 0, N_MELS, context=3.0)
    assert (m.window_start, m.window_end, m.duration) == pytest.approx((0.0, 1.0, 1.0))


def test_plain_clips_are_unchanged_by_the_context():
    y = [_tone(_quiet(1.5, seed=k), 0.2, 0.6, hz=500 * (k + 1)) for k in range(3)]
    ds = AudioDataset.from_arrays(y, SR, names=["a.wav", "b.wav", "c.wav"])
    for i in range(len(ds)):
        base = load_media(ds, i, N_MELS, context=0)
        for ctx in (1.0, (2.0, 0.5)):
            m = load_media(ds, i, N_MELS, context=ctx)
            assert m == base
        assert base.wav == ds.wav_bytes(i) and base.duration == pytest.approx(1.5)
        assert (base.window_start, base.window_end) == (0.0, base.duration)
        assert (base.recording, base.start, base.end) == ("", 0.0, base.duration)
        assert base.name == ds.names[i]


def test_the_cache_uses_its_context(windows):
    cache = MediaCache(windows, N_MELS, capacity=4, context=(0.5, 0.25))
    assert cache.context == (0.5, 0.25)
    cache.prefetch([4, 5])
    assert 4 in cache and 5 in cache
    m = cache.get(4)
    assert (m.window_start, m.window_end, m.duration) == pytest.approx((0.5, 1.5, 1.75))
    assert MediaCache(windows, N_MELS, capacity=2).get(4).duration == pytest.approx(3.0)  # default: 1 s each side


def test_clip_media_without_window_fields_spans_the_whole_clip():
    m = ClipMedia(index=0, name="x", clip_id="x", duration=2.5, wav=b"", spectrogram=b"", n_mels=0, frames=0)
    assert (m.window_start, m.window_end, m.recording, m.start, m.end) == (0.0, 2.5, "", 0.0, 2.5)
    assert m.offset == 0.0 and m.db_range == (-80.0, 0.0)


def test_the_offset_places_the_played_audio_in_the_recording(windows):
    # window 5 (5-6 s) with 1 s around it: the audio plays 4-7 s of the recording
    assert load_media(windows, 5, N_MELS, context=1.0).offset == pytest.approx(4.0)
    assert load_media(windows, 5, N_MELS, context=(0.25, 2.0)).offset == pytest.approx(4.75)
    assert load_media(windows, 5, N_MELS, context=0).offset == pytest.approx(5.0)
    assert load_media(windows, 0, N_MELS, context=1.0).offset == 0.0  # no context before the recording's start
    y = [_quiet(1.0, seed=k) for k in range(2)]
    plain = load_media(AudioDataset.from_arrays(y, SR, names=["a.wav", "b.wav"]), 1, N_MELS, context=1.0)
    assert plain.offset == 0.0


def test_the_spectrogram_says_its_top_frequency_and_level_range(windows):
    m = load_media(windows, 2, N_MELS, context=1.0)
    assert m.top_hz == SR / 2 and m.db_range == (-80.0, 0.0)
    waveform, sr, _, _ = windows.context(2, before=1.0, after=1.0)
    spec, rows, cols, db_range = spectrogram_pixels(waveform, sr, N_MELS)
    assert db_range == m.db_range
    # the level that pixel value v stands for, relative to the loudest bin, is lo + v / 255 * (hi - lo)
    from alwidget.dsp import log_mel_spectrogram

    S = log_mel_spectrogram(waveform, sr, n_mels=N_MELS)
    assert cols == S.shape[1] and rows == N_MELS  # short enough: no frames averaged
    px = np.frombuffer(spec, np.uint8).reshape(rows, cols).astype(float)
    lo, hi = db_range
    level = lo + px / 255 * (hi - lo)
    rel = np.maximum(S - S.max(), lo)
    assert np.abs(level - rel).max() <= (hi - lo) / 255 + 1e-6
    assert px.max() == 255 and (px == 0).any()  # the tone is 80 dB above the quietest bins


def test_frequency_ticks_leave_the_top_to_the_top_frequency():
    for sr in (8000, 16000, 22050, 32000, 44100, 48000):
        ticks = freq_ticks(sr, 64)
        assert ticks and all(0.04 < frac <= 0.84 for frac, _ in ticks), (sr, ticks)
    # 8 kHz sits at 91% of a 22.05 kHz recording's mel axis: dropped, the top label (11 kHz) is there
    assert [label for _, label in freq_ticks(22050, 64)][-1] == "4k"
    assert [label for _, label in freq_ticks(44100, 64)][-1] == "8k"


@pytest.mark.parametrize(
    "bad",
    [
        -1.0,
        math.nan,
        math.inf,
        (1.0, -0.5),
        (math.nan, 1.0),
        (1.0, math.inf),
        (1.0, 2.0, 3.0),
        (1.0,),
        "1",
        None,
        True,
        (True, 1.0),
        ("1", "1"),
    ],
)
def test_bad_contexts_are_rejected(bad, windows):
    with pytest.raises(InvalidInputError, match="context must"):
        check_context(bad)
    with pytest.raises(InvalidInputError, match="context must"):
        MediaCache(windows, N_MELS, capacity=2, context=bad)
    with pytest.raises(InvalidInputError, match="context must"):
        load_media(windows, 0, N_MELS, context=bad)


def test_good_contexts_are_normalised():
    assert check_context(0) == (0.0, 0.0)
    assert check_context(1.5) == (1.5, 1.5)
    assert check_context(np.float32(0.5)) == (0.5, 0.5)
    assert check_context([2, 0]) == (2.0, 0.0)
    assert check_context(np.array([0.25, 3.0])) == (0.25, 3.0)


# ---------------------------------------------------------------------- the widget's side
class _Recorder:
    """Stands in for the session: records what the widget passes on."""

    def __init__(self, fail: Exception | None = None):
        self.calls, self.fail, self.error = [], fail, ""

    def search_audio(self, data, name):
        self.calls.append(("search_audio", data, name))
        if self.fail is not None:
            raise self.fail

    def search(self, query, n=None):
        self.calls.append(("search", query, n))

    def set_mode(self, mode):
        self.calls.append(("set_mode", mode))


@pytest.fixture
def widget(windows):
    from alwidget import ActiveLearner
    from alwidget.widget import LabelingWidget

    X = np.random.default_rng(0).standard_normal((len(windows), 8)).astype(np.float32)
    w = LabelingWidget(ActiveLearner(X, ["tone", "quiet"]), windows, autoplay=False, context=(0.5, 0.25), n_mels=N_MELS)
    assert w.wait_idle(60)
    yield w
    w.close()


def test_the_widget_shows_windows_with_the_context_it_was_given(widget):
    clip = widget.clip
    assert clip["recording"] == "rec.flac" and clip["end"] - clip["start"] == pytest.approx(1.0)
    assert clip["window_end"] - clip["window_start"] == pytest.approx(1.0)
    assert clip["window_start"] == pytest.approx(min(0.5, clip["start"]))
    assert clip["duration"] == pytest.approx(clip["window_end"] + min(0.25, 10.0 - clip["end"]))
    # what the front end labels the spectrogram with: the recording's clock, the top frequency, the dB range
    assert clip["offset"] == pytest.approx(clip["start"] - clip["window_start"])
    assert clip["top_hz"] == SR / 2 and clip["db_range"] == [-80.0, 0.0]
    assert "search" in widget.keys and isinstance(widget.search, dict)


def test_a_file_from_the_browser_reaches_the_session_as_bytes(widget):
    real, rec = widget.session, _Recorder()
    widget.session = rec
    try:
        # as ipywidgets delivers `model.send({kind: "search_audio", name}, undefined, [buffer])`
        widget._handle_custom_msg({"kind": "search_audio", "name": "owl.wav"}, [memoryview(b"RIFF1234")])
        widget._handle_custom_msg({"kind": "search_audio"}, [b"RIFF5678"])
        widget._handle_custom_msg({"kind": "something else"}, [b"RIFF"])  # not ours: ignored
        assert rec.calls == [("search_audio", b"RIFF1234", "owl.wav"), ("search_audio", b"RIFF5678", "query")]
        assert all(type(c[1]) is bytes for c in rec.calls) and widget.error == ""
        widget._handle_custom_msg({"kind": "search_audio", "name": "owl.wav"}, [])
        assert len(rec.calls) == 2 and "no audio arrived" in widget.error and "owl.wav" in widget.error
        rec.fail = InvalidInputError("not audio")
        widget._handle_custom_msg({"kind": "search_audio", "name": "notes.txt"}, [b"hello"])
        assert "notes.txt" in widget.error and "not audio" in widget.error  # shown, not lost in the kernel log
        widget.search_for(3, n=5)
        widget.set_mode("active")
        assert rec.calls[-2:] == [("search", 3, 5), ("set_mode", "active")]
        widget.session = None  # as when the journal could not be opened
        widget._handle_custom_msg({"kind": "search_audio", "name": "owl.wav"}, [b"RIFF"])
        assert "labelling is off" in widget.error and "owl.wav" in widget.error
    finally:
        widget.session = real
    widget._handle_custom_msg({"kind": "dismiss", "view": "t", "clip": None}, [])  # the error line's x button
    assert widget.error == real.error == ""


def test_a_short_file_padded_to_the_duration_plays_and_shows_as_itself(tmp_path):
    """duration=5 pads a 0.8 s file for the embedder; the widget plays and draws the 0.8 s, not 5 s of silence."""
    y = _tone(_quiet(0.8), 0.1, 0.6)
    sf.write(tmp_path / "short.wav", y, SR)
    sf.write(tmp_path / "long.wav", _tone(_quiet(7.0), 1.0, 2.0), SR)
    ds = AudioDataset.from_folder(tmp_path, sr=SR, duration=5.0)
    assert len(ds[ds.names.index("short.wav")][0]) == 5 * SR  # the embedder still gets equal lengths
    short = load_media(ds, ds.names.index("short.wav"), n_mels=32)
    assert short.duration == pytest.approx(0.8, abs=1e-3)
    assert _decoded_seconds(short.wav) == pytest.approx(0.8, abs=1e-3)
    long = load_media(ds, ds.names.index("long.wav"), n_mels=32)
    assert long.duration == pytest.approx(5.0) and _decoded_seconds(long.wav) == pytest.approx(5.0)
    assert short.frames < long.frames / 4
