"""The one resampler of alwidget: soxr HQ, what ``librosa.resample(res_type="soxr_hq")`` runs, without librosa."""

from __future__ import annotations

import numpy as np


def resample(y: np.ndarray, sr_from: int, sr_to: int) -> np.ndarray:
    """``y`` ``(n,)`` float32 at ``sr_from`` Hz -> float32 at ``sr_to`` Hz; ``y`` itself when the rates match."""
    if sr_from == sr_to:
        return y
    import soxr

    return soxr.resample(y, sr_from, sr_to, quality="HQ").astype(np.float32, copy=False)
