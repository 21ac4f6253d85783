"""Moved to :mod:`alwidget.session.media`; this name is kept for one release."""

from alwidget.session.media import (
    ClipMedia,
    MediaCache,
    check_context,
    freq_ticks,
    load_media,
    spectrogram_pixels,
    wav_bytes,
)

__all__ = ["ClipMedia", "MediaCache", "check_context", "freq_ticks", "load_media", "spectrogram_pixels", "wav_bytes"]
