"""One way to compile a numeric kernel with numba: once per process, cached on disk, without the GIL."""

from __future__ import annotations

import functools
import threading

_lock = threading.Lock()


@functools.cache
def _compile(fn):
    import numba  # librosa's dependency: installed with alwidget

    return numba.njit(cache=True, nogil=True)(fn)


def compiled(fn):
    """``fn`` compiled by numba (the first call compiles, later calls return the same function)."""
    with _lock:  # two threads never compile the same kernel at once
        return _compile(fn)
