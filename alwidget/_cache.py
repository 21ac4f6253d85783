"""On-disk cache of embedding rows: one checksummed file per clip, plus whole-set files.

Layout under ``<cache_dir>/<embedder-name>-<config hash>/``, where the config
hash covers the embedder's name and parameters and the dataset's sr /
duration / offset (``config.json`` there says what it holds):

- ``<h>.emb``: one row, ``h`` = hash of the clip key (clip id and, for
  files, size, mtime and a fingerprint of the content, so two folders with
  the same names, sizes and mtimes never share rows). Changed clips miss;
  the others still hit.
- ``sets/<h>.emb``: the whole ``(n, d)`` matrix of one list of clip keys,
  written after a complete call, so repeating a call reads one file
  instead of n.

Every file is ``MAGIC | blake2b(payload) | payload``; a file failing the
check counts as missing and is rewritten. Writes go to a temporary file
that is moved in place with ``os.replace``: readers never see half-written
files, and several processes may share a cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import tempfile
from pathlib import Path

import numpy as np

_MAGIC = b"ALWEMB2\n"
_DIGEST = 16
_HEADER = len(_MAGIC) + _DIGEST
_SHAPE = struct.Struct("<II")


def default_cache_dir() -> Path:
    """``$ALWIDGET_CACHE_DIR`` if set, else ``~/.cache/alwidget``."""
    env = os.environ.get("ALWIDGET_CACHE_DIR")
    return Path(env).expanduser() if env else Path("~/.cache/alwidget").expanduser()


def _hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


class EmbeddingCache:
    """Embedding rows of one configuration, stored under ``directory``.

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
        self.folder = self.directory / f"{safe}-{_hash(text.encode())[:16]}"
        self._folder = str(self.folder)  # plain strings: pathlib would triple the lookup time
        self.n_corrupt = 0

    # ------------------------------------------------------------------ rows
    def _row_path(self, key: str) -> str:
        return os.path.join(self._folder, f"{_hash(key.encode())}.emb")

    def get(self, key: str) -> np.ndarray | None:
        """The row stored for ``key``, or None if missing or corrupt."""
        payload = self._read(self._row_path(key))
        return None if payload is None else np.frombuffer(payload, dtype="<f4").astype(np.float32)

    def put(self, key: str, row: np.ndarray) -> None:
        """Store a 1-D row for ``key``."""
        self._write(self._row_path(key), np.ascontiguousarray(row, dtype="<f4").tobytes())

    def put_many(self, items: list[tuple[str, np.ndarray]]) -> None:
        """Store ``(key, row)`` pairs."""
        for key, row in items:
            self.put(key, row)

    # ------------------------------------------------------------------ whole sets
    def _set_path(self, keys: list[str]) -> str:
        return os.path.join(self._folder, "sets", f"{_hash(chr(0).join(keys).encode())}.emb")

    def get_set(self, keys: list[str]) -> np.ndarray | None:
        """The ``(len(keys), d)`` matrix stored for exactly these keys, or None."""
        payload = self._read(self._set_path(keys))
        if payload is None or len(payload) < _SHAPE.size:
            return None
        n, d = _SHAPE.unpack_from(payload)
        if n != len(keys) or len(payload) != _SHAPE.size + 4 * n * d:
            self.n_corrupt += 1
            return None
        return np.frombuffer(payload, dtype="<f4", offset=_SHAPE.size).reshape(n, d).astype(np.float32)

    def put_set(self, keys: list[str], X: np.ndarray) -> None:
        """Store the matrix ``X`` (row i for ``keys[i]``)."""
        X = np.ascontiguousarray(X, dtype="<f4")
        self._write(self._set_path(keys), _SHAPE.pack(*X.shape) + X.tobytes())

    # ------------------------------------------------------------------ files
    def _read(self, path: str) -> bytes | None:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            return None
        payload = data[_HEADER:]
        if (
            data[: len(_MAGIC)] != _MAGIC
            or data[len(_MAGIC) : _HEADER] != hashlib.blake2b(payload, digest_size=_DIGEST).digest()
            or len(payload) % 4
        ):
            self.n_corrupt += 1
            return None
        return payload

    def _write(self, path: str, payload: bytes) -> None:
        folder = os.path.dirname(path)
        if not os.path.isdir(folder):
            if not self.folder.is_dir():
                self.folder.mkdir(parents=True, exist_ok=True)
                info = json.dumps(self.config, sort_keys=True, indent=1, default=str).encode()
                self._atomic_write(os.path.join(self._folder, "config.json"), info)
            os.makedirs(folder, exist_ok=True)
        data = _MAGIC + hashlib.blake2b(payload, digest_size=_DIGEST).digest() + payload
        self._atomic_write(path, data)

    @staticmethod
    def _atomic_write(path: str, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
