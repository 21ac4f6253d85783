"""On-disk cache of embedding rows, one small checksummed file per clip.

Layout: ``<cache_dir>/<embedder-name>-<config hash>/<key hash[:2]>/<key hash>.emb``
where the config hash covers the embedder's name and parameters and the
dataset's sr / duration / offset, and the key hash covers the clip id and, for
files, size and mtime. A ``config.json`` in each config folder says what it
holds. Each entry is ``MAGIC | blake2b(payload) | payload`` with payload a
float32 vector; entries failing the check are treated as missing and
rewritten. Writes go to a temporary file first and are moved in place with
``os.replace``, so readers never see half-written entries, and several
processes may share a cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path

import numpy as np

_MAGIC = b"ALWEMB1\n"
_DIGEST = 16
_HEADER = len(_MAGIC) + _DIGEST


def default_cache_dir() -> Path:
    """``$ALWIDGET_CACHE_DIR`` if set, else ``~/.cache/alwidget``."""
    env = os.environ.get("ALWIDGET_CACHE_DIR")
    return Path(env).expanduser() if env else Path("~/.cache/alwidget").expanduser()


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=_DIGEST).digest()


class EmbeddingCache:
    """Rows of one embedding configuration, stored under ``directory``.

    Parameters
    ----------
    directory : str or Path
        Root cache folder.
    config : dict
        JSON-serialisable description of everything the rows depend on
        besides the clip itself (embedder name and parameters, sr, ...).
    label : str
        Readable prefix of the config folder name (e.g. the embedder name).
    """

    def __init__(self, directory: str | os.PathLike, config: dict, label: str = "embedder"):
        self.directory = Path(directory)
        self.config = config
        self.label = label
        text = json.dumps(config, sort_keys=True, default=str)
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", label)[-40:] or "embedder"
        self.folder = self.directory / f"{safe}-{hashlib.blake2b(text.encode(), digest_size=8).hexdigest()}"
        self.n_corrupt = 0

    def _path(self, key: str) -> Path:
        h = hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
        return self.folder / h[:2] / f"{h}.emb"

    def get(self, key: str) -> np.ndarray | None:
        """The stored row for ``key``, or None if missing or corrupt."""
        try:
            data = self._path(key).read_bytes()
        except OSError:
            return None
        payload = data[_HEADER:]
        if data[: len(_MAGIC)] != _MAGIC or data[len(_MAGIC) : _HEADER] != _digest(payload) or len(payload) % 4:
            self.n_corrupt += 1
            return None
        return np.frombuffer(payload, dtype="<f4").astype(np.float32)

    def put(self, key: str, row: np.ndarray) -> None:
        """Store ``row`` (1-D float32) for ``key`` atomically."""
        path = self._path(key)
        if not self.folder.is_dir():
            self.folder.mkdir(parents=True, exist_ok=True)
            info = json.dumps(self.config, sort_keys=True, indent=1, default=str)
            self._write(self.folder / "config.json", info.encode())
        path.parent.mkdir(exist_ok=True)
        payload = np.ascontiguousarray(row, dtype="<f4").tobytes()
        self._write(path, _MAGIC + _digest(payload) + payload)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
