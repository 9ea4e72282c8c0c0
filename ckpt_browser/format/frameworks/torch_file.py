"""PyTorch state dicts (`.bin`, `.pt`, `.pth`) as a `Checkpoint`, only through PyTorch's own
`torch.load(weights_only=True)`.

These files are pickles, and unpickling runs whatever code the file names. PyTorch's
`weights_only` loader allows tensors and plain containers only; without PyTorch nothing here
reads the file at all (no pickle module is ever pointed at it).
"""

from __future__ import annotations

import importlib
import os

import numpy as np

from ckpt_browser.format.checkpoint import Index, as_index
from ckpt_browser.format.dtypes import from_numpy
from ckpt_browser.format.errors import CheckpointError
from ckpt_browser.format.files import open_regular
from ckpt_browser.format.frameworks.foreign import ForeignCheckpoint


def _torch(path: str):
    try:  # by name, as for every optional package (only the default ones are imported plainly)
        torch = importlib.import_module("torch")
    except ImportError:
        raise CheckpointError(
            "a PyTorch file is a pickle, which can run code when it is read, so it is read only "
            "by PyTorch's weights_only loader: pip install 'ckpt-browser[torch]' (or convert it "
            "to safetensors)",
            path,
        ) from None
    return torch


class TorchCheckpoint(ForeignCheckpoint):
    """The tensors of a state dict (nested dicts give `a.b` names, as PyTorch's keys are)."""

    format_name = "torch"

    def __init__(self, path: str) -> None:
        path = os.path.abspath(path)
        super().__init__(path, [path])
        torch = _torch(path)
        with open_regular(path, "PyTorch file"):
            pass  # a FIFO or a device is refused before torch opens it
        try:
            loaded = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except Exception as exc:  # torch raises many kinds; each is a refusal of this file
            raise CheckpointError(
                f"PyTorch's weights_only loader refuses the file ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''})",
                path,
            ) from None
        self._tensors: dict[str, np.ndarray] = {}
        self._flatten(torch, loaded, "")
        for name in sorted(self._tensors):
            array = self._tensors[name]
            self.add_info(name, from_numpy(array.dtype), array.shape)

    def _flatten(self, torch, value: object, prefix: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                self._flatten(torch, item, f"{prefix}{key}" if not prefix else f"{prefix}.{key}")
        elif isinstance(value, torch.Tensor):
            tensor = value.detach().cpu()
            if tensor.dtype == torch.bfloat16:
                import ml_dtypes

                array = tensor.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
            else:
                array = tensor.numpy()
            self._tensors[prefix or "tensor"] = array

    def read(self, name: str, index: Index | None = None) -> np.ndarray:
        self.info(name)
        values = self._tensors[name]
        return values if index is None else values[as_index(index)]
