"""Which reader a path of another framework's weights means, by its name (as the frameworks
themselves tell their files apart)."""

from __future__ import annotations

import os

from ckpt_browser.format.checkpoint import Checkpoint
from ckpt_browser.format.errors import CheckpointError
from ckpt_browser.format.sources.locations import is_plain_local

KERAS_SUFFIXES = (".weights.h5", ".h5", ".hdf5", ".keras")
TORCH_SUFFIXES = (".bin", ".pt", ".pth")
_SAFETENSORS = (".safetensors", ".safetensors.index.json")
SUFFIXES = (*_SAFETENSORS, ".npz", *KERAS_SUFFIXES, *TORCH_SUFFIXES)
# What File > Open offers, by name pattern.
FILE_PATTERNS = (
    "*.safetensors",
    "*.safetensors.index.json",
    "*.npz",
    "*.h5",
    "*.hdf5",
    "*.keras",
    "*.bin",
    "*.pt",
    "*.pth",
)
# A model folder as the Hugging Face Hub lays it out: the index of a sharded set, else one file.
FOLDER_FILES = ("model.safetensors.index.json", "model.safetensors")


def is_foreign_path(path: str) -> bool:
    return path.endswith(SUFFIXES)


def open_foreign(path: str) -> Checkpoint:
    """The checkpoint of a file `is_foreign_path` accepts."""
    if not is_plain_local(path):
        raise CheckpointError(
            "safetensors, Keras, npz and PyTorch files are read from local paths only", path
        )
    if not os.path.lexists(path):
        raise CheckpointError("no such file", path)
    if path.endswith(_SAFETENSORS):
        from ckpt_browser.format.frameworks.safetensors_file import SafetensorsCheckpoint

        return SafetensorsCheckpoint(path)
    if path.endswith(".npz"):
        from ckpt_browser.format.frameworks.npz_file import NpzCheckpoint

        return NpzCheckpoint(path)
    if path.endswith(KERAS_SUFFIXES):
        from ckpt_browser.format.frameworks.keras_file import KerasCheckpoint

        return KerasCheckpoint(path)
    from ckpt_browser.format.frameworks.torch_file import TorchCheckpoint

    return TorchCheckpoint(path)


def model_folder_file(directory: str) -> str | None:
    """The weights file a model folder (no TensorFlow checkpoint in it) means, if any."""
    if not is_plain_local(directory) or not os.path.isdir(directory):
        return None
    for name in FOLDER_FILES:
        if os.path.isfile(os.path.join(directory, name)):
            return os.path.join(directory, name)
    return None
