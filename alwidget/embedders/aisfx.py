"""``embedder="aisfx"``: pretrained sound-effects embeddings (d = 512), offline.

The aiSFX model ("X-Sequential-CE") was trained on sound-effects libraries
labelled with the Universal Category System. alwidget defines the network
and its audio front end itself and only reads the checkpoint file that the
``aisfx`` wheel ships, found through the installed package's metadata
(``importlib.metadata``) without importing the package, whose modules pin
old numpy and librosa. Install the weights (about 25 MB, nothing else) with::

    pip install --no-deps aisfx==0.1.2

Attribution (the model and its weights are licensed CC BY 4.0,
https://creativecommons.org/licenses/by/4.0/): Copyright (c) 2022 A. B. Ma
and A. Lerch. Alison Bernice Ma and Alexander Lerch, "Representation
Learning for the Automatic Indexing of Sound Effects Libraries", Proceedings
of the 23rd International Society for Music Information Retrieval Conference
(ISMIR), 2022, pp. 866-875. https://github.com/alisonbma/aisfx. The network
(``EmbeddingNet``, after the DCASE 2018 cross-task baseline CNN by Kong et
al.) and the front end below follow aisfx 0.1.2's ``models/cnn2d.py``,
``spectrogram/spectrogram_librosa.py``, ``preprocessing.py`` and
``inference.py``; alwidget does not change the weights.

Pipeline per clip, as aisfx computes it:

1. resample to 44.1 kHz (soxr, only when the dataset's ``sr`` differs: build
   the dataset with ``sr=44100`` for full-band input), then divide by the
   clip's peak ``max |y|``;
2. power mel spectrogram, librosa style: STFT of 2048 samples (periodic Hann,
   centred, zero padding), hop 1024 (23 ms), 96 HTK mel bands 0-22050 Hz
   with filters normalised to unit area (``norm=1``); then
   ``log10(1e4 * S + 1) / 9.457798957824707`` (aisfx's "original" min-max
   scaling of its training data);
3. blocks of 100 frames (2.3 s) with a hop of 50 frames; a clip shorter than
   one block is zero-padded to one block, a final partial block of a longer
   clip is dropped (aisfx's ``drop_partial_block=True``);
4. the CNN maps each block ``(100, 96)`` to 512 values (mean over frequency,
   max over time of its last feature maps);
5. one row per clip: the mean over its blocks (``pooling="mean"``; or
   ``"max"``).

aisfx's paper used an Essentia front end (AGPL, not replicated here); its
librosa front end is the package's documented alternative. aisfx 0.1.2's
``inference.main()`` with the librosa front end feeds the spectrogram
transposed (mel bands as time); alwidget feeds ``(time, mel)`` as the network
was trained. Results agree with aisfx's own code (librosa 0.9.2, transposed
spectrogram) to about 1e-5; see ``tests/test_embedders.py``.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import os
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from alwidget._resample import resample
from alwidget.embedders.base import Embedder
from alwidget.errors import AlwidgetWarning, InvalidInputError, MissingDependencyError

__all__ = ["AISFX_VERSION", "INSTALL_COMMAND", "AisfxEmbedder", "locate_checkpoint", "missing_weights"]

AISFX_VERSION = "0.1.2"
INSTALL_COMMAND = f"pip install --no-deps aisfx=={AISFX_VERSION}"
# Bump when alwidget's implementation changes its outputs, so cached rows are not reused.
_IMPL_VERSION = 1
_CHECKPOINT = "aisfx/models/checkpoint.pth"
# sha256 of aisfx 0.1.2's checkpoint.pth (from the wheel's RECORD)
_CHECKPOINT_SHA256 = "499ea75909c932a2f94c35fa722fa4fabc5bcb7e84917209cc5f7402627b7eb5"

SAMPLE_RATE = 44100
N_FFT, HOP = 2048, 1024
N_MELS, FMIN, FMAX = 96, 0.0, 22050.0
SPEC_MAX = 9.457798957824707  # aisfx.preprocessing.spectrogram_normalize(spec_norm="original"): (S - 0) / max
BLOCK, BLOCK_HOP = 100, 50  # frames; aisfx EMB_BLOCK_LENGTH and emb_hop_size=0.5
DIM = 512


def _distribution(name: str) -> Any:
    """``importlib.metadata.distribution``; a seam for tests that simulate absence."""
    return importlib.metadata.distribution(name)


def _not_installed(reason: str) -> MissingDependencyError:
    return MissingDependencyError(
        f'embedder "aisfx" needs the aisfx {AISFX_VERSION} weights: {reason}. Install them '
        f"(a 25 MB checkpoint, nothing else) with:\n    {INSTALL_COMMAND}\n"
        "(--no-deps matters: aisfx pins numpy 1.23 and librosa 0.9.2, which alwidget does not need.)"
    )


def _find_checkpoint() -> tuple[str, str] | str:
    """``(path of checkpoint.pth, aisfx version)``, or why the weights cannot be found."""
    try:
        dist = _distribution("aisfx")
    except importlib.metadata.PackageNotFoundError:
        return "the aisfx package is not installed"
    version = dist.version
    if version != AISFX_VERSION:
        return f"aisfx {version} is installed, and alwidget supports only {AISFX_VERSION}"
    path = None
    for file in dist.files or ():
        if file.as_posix() == _CHECKPOINT:
            path = os.fspath(dist.locate_file(file))
            break
    if path is None:  # no RECORD (some installers): the package folder, found without importing it
        spec = importlib.util.find_spec("aisfx")
        if spec is not None and spec.submodule_search_locations:
            path = os.path.join(next(iter(spec.submodule_search_locations)), "models", "checkpoint.pth")
    if path is None or not os.path.isfile(path):
        return f"aisfx {version} is installed but its {_CHECKPOINT} is missing (reinstall it)"
    return path, version


def locate_checkpoint() -> tuple[str, str]:
    """``(path of checkpoint.pth, aisfx version)`` of the installed aisfx, without importing it.

    Raises
    ------
    MissingDependencyError
        If aisfx is not installed, is another version, or lacks its checkpoint.
    """
    found = _find_checkpoint()
    if isinstance(found, str):
        raise _not_installed(found)
    return found


def missing_weights() -> str | None:
    """Why aiSFX's weights cannot be used here (aisfx absent, another version, no checkpoint), or None."""
    found = _find_checkpoint()
    return found if isinstance(found, str) else None


@functools.lru_cache(maxsize=4)
def _load_weights(path: str) -> dict:
    """The embedding network's state dict (the classifier heads dropped), checked by hash."""
    import torch

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != _CHECKPOINT_SHA256:
        msg = (
            f"{path} is not aisfx {AISFX_VERSION}'s checkpoint (sha256 differs: corrupt or modified); "
            f"reinstall it with: pip install --force-reinstall {INSTALL_COMMAND.removeprefix('pip install ')}"
        )
        raise InvalidInputError(msg)
    # The checkpoint is (state_dict, {dataset: (np.int64 index, n_classes)}): numpy scalars
    # need an allowlist for weights_only=True. The hash above already vouches for the file.
    allow = [(np._core.multiarray.scalar, "numpy.core.multiarray.scalar"), np.dtype, type(np.dtype(np.int64))]
    try:
        with torch.serialization.safe_globals(allow):
            weights, _ = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - an allowlist API change in torch or numpy: the file is verified
        weights, _ = torch.load(path, map_location="cpu", weights_only=False)
    prefix = "embedding_net."
    return {k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)}


def _build_network() -> Any:
    """aisfx's ``EmbeddingNet('max', 3, 1, 64)``: four double-conv blocks, 64-512 channels."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class ConvBlock(nn.Module):
        def __init__(self, cin: int, cout: int):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, kernel_size=3, padding=1, bias=False)
            self.conv2 = nn.Conv2d(cout, cout, kernel_size=3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.bn2 = nn.BatchNorm2d(cout)

        def forward(self, x, pool: bool = True):
            x = F.relu(self.bn1(self.conv1(x)))
            x = F.relu(self.bn2(self.conv2(x)))
            return F.max_pool2d(x, kernel_size=2) if pool else x  # the last block pools (1, 1): identity

    class EmbeddingNet(nn.Module):
        """Input ``(b, 100 frames, 96 mels)`` -> ``(b, 512)``."""

        def __init__(self):
            super().__init__()
            self.conv_block1 = ConvBlock(1, 64)
            self.conv_block2 = ConvBlock(64, 128)
            self.conv_block3 = ConvBlock(128, 256)
            self.conv_block4 = ConvBlock(256, 512)

        def forward(self, x):
            x = x[:, None]
            x = self.conv_block1(x)
            x = self.conv_block2(x)
            x = self.conv_block3(x)
            x = self.conv_block4(x, pool=False)
            return torch.amax(x.mean(dim=3), dim=2)  # mean over frequency, max over time

    return EmbeddingNet()


_networks: dict[tuple[str, str], Any] = {}


def _network(path: str, device: str) -> Any:
    """The loaded network on ``device``, built once per process and device."""
    key = (path, device)
    if key not in _networks:
        net = _build_network()
        net.load_state_dict(_load_weights(path))
        _networks[key] = net.to(device).eval()
    return _networks[key]


@functools.lru_cache(maxsize=4)
def _mel_filters() -> np.ndarray:
    """librosa's HTK mel filter bank with unit-area filters, as aisfx asks for: ``(96, 1025)``."""
    import librosa

    return librosa.filters.mel(
        sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=FMIN, fmax=FMAX, htk=True, norm=1.0
    ).astype(np.float32)


def _n_blocks(n_frames: int) -> int:
    """aisfx ``blocking(..., drop_partial_block=True)``: blocks starting every 50 frames."""
    n = int(np.ceil((n_frames - BLOCK) / BLOCK_HOP + 1))
    if (n_frames - BLOCK) % BLOCK_HOP != 0:
        n -= 1
    return max(n, 1)


class AisfxEmbedder(Embedder):
    """Pretrained aiSFX embeddings (``embedder="aisfx"``, d = 512); see the module docstring.

    Model and weights: Copyright (c) 2022 A. B. Ma and A. Lerch, CC BY 4.0.
    Ma and Lerch, "Representation Learning for the Automatic Indexing of
    Sound Effects Libraries", ISMIR 2022. Weights from
    ``pip install --no-deps aisfx==0.1.2``; nothing is downloaded at run time.

    Parameters
    ----------
    device : str
        Torch device for the spectrogram and the network (``"cpu"``,
        ``"cuda"``, ``"mps"``). On CUDA, TF32 convolutions (if enabled in
        torch) change results in the third or fourth digit.
    pooling : {"mean", "max"}
        How a clip's 2.3 s blocks (hop 1.16 s) become one row.
    batch_blocks : int
        Blocks per forward pass; bounds memory (about 10 MB per block on the
        CPU), does not change results beyond float rounding.
    full_band_warning : bool
        Warn when the dataset's rate is below 44.1 kHz (the default
        ``embedder="auto"`` turns it off: at 16 kHz it did as well).

    Raises
    ------
    MissingDependencyError
        If aisfx 0.1.2 is not installed; the message says how to install it.
    """

    name = "aisfx"
    dim = 512
    credits = (
        "aiSFX embeddings: A. B. Ma and A. Lerch, ISMIR 2022 (https://github.com/alisonbma/aisfx); "
        "weights licensed CC BY 4.0"
    )

    def __init__(
        self, *, device: str = "cpu", pooling: str = "mean", batch_blocks: int = 16, full_band_warning: bool = True
    ):
        if pooling not in ("mean", "max"):
            msg = f'pooling must be "mean" or "max", got {pooling!r}'
            raise InvalidInputError(msg)
        if isinstance(batch_blocks, bool) or not isinstance(batch_blocks, int) or batch_blocks <= 0:
            msg = f"batch_blocks must be a positive integer, got {batch_blocks!r}"
            raise InvalidInputError(msg)
        self.device = str(device)
        self.pooling = pooling
        self.batch_blocks = batch_blocks
        self.full_band_warning = bool(full_band_warning)
        self.checkpoint, self.version = locate_checkpoint()
        self._filters: np.ndarray | None = None

    def __repr__(self) -> str:
        return f"AisfxEmbedder(device={self.device!r}, pooling={self.pooling!r})"

    def cache_params(self) -> dict:
        return {
            "aisfx": self.version,
            "checkpoint_sha256": _CHECKPOINT_SHA256,
            "implementation": _IMPL_VERSION,
            "pooling": self.pooling,
        }

    def prepare(self, sr: int) -> None:
        """Check and load the weights and the mel filters once, in the main process."""
        _load_weights(self.checkpoint)
        self._filters = _mel_filters()
        if sr < SAMPLE_RATE and self.full_band_warning:
            msg = (
                f'embedder "aisfx" was trained on 44.1 kHz audio; this dataset is at {sr} Hz, so it sees nothing '
                f"above {sr / 2000:g} kHz. Build the dataset with sr=44100 for full-band embeddings."
            )
            warnings.warn(msg, AlwidgetWarning, stacklevel=4)

    def __getstate__(self) -> dict:
        return dict(vars(self))  # the network is per process (module cache), never pickled

    def spectrogram(self, y: np.ndarray, sr: int) -> Any:
        """Scaled log-mel input ``(frames, 96)`` of one clip, a float32 tensor on ``device``."""
        import torch

        y = resample(np.asarray(y, dtype=np.float32), sr, SAMPLE_RATE)
        if len(y) == 0:
            y = np.zeros(1, np.float32)
        dev = torch.device(self.device)
        x = torch.from_numpy(np.ascontiguousarray(y)).to(dev)
        peak = x.abs().max()
        x = x / torch.where(peak > 0, peak, torch.ones_like(peak))
        window = torch.hann_window(N_FFT, periodic=True, device=dev)
        spec = torch.stft(x, N_FFT, HOP, window=window, center=True, pad_mode="constant", return_complex=True)
        power = spec.real**2 + spec.imag**2  # (1025, frames)
        filters = self._filters if self._filters is not None else _mel_filters()
        mel = torch.from_numpy(filters).to(dev) @ power  # (96, frames)
        return (torch.log10(mel * 1e4 + 1.0) / SPEC_MAX).T

    def blocks(self, spec: Any) -> Any:
        """Cut ``(frames, 96)`` into aisfx's blocks ``(n_blocks, 100, 96)`` (zero-padded)."""
        import torch

        n = _n_blocks(spec.shape[0])
        padded = torch.cat([spec, spec.new_zeros(BLOCK, spec.shape[1])])
        return torch.stack([padded[k * BLOCK_HOP : k * BLOCK_HOP + BLOCK] for k in range(n)])

    def __call__(self, waveforms: Sequence[np.ndarray], sr: int) -> np.ndarray:
        import torch

        net = _network(self.checkpoint, self.device)
        with torch.inference_mode():
            per_clip = [self.blocks(self.spectrogram(y, sr)) for y in waveforms]
            counts = [len(b) for b in per_clip]
            if not per_clip:
                return np.zeros((0, DIM), np.float32)
            blocks = torch.cat(per_clip)
            out = torch.cat([net(blocks[k : k + self.batch_blocks]) for k in range(0, len(blocks), self.batch_blocks)])
            rows = torch.split(out, counts)
            pooled = [r.mean(dim=0) if self.pooling == "mean" else r.amax(dim=0) for r in rows]
            return torch.stack(pooled).cpu().numpy().astype(np.float32)
