"""Reading and writing TensorFlow checkpoints without TensorFlow.

A small API in the manner of h5py's `File` and safetensors' `safe_open`::

    from ckpt_browser.format import open_checkpoint

    with open_checkpoint("runs/model") as ckpt:   # a directory, prefix, .index, .data-*, .meta ...
        for name, info in ckpt.items():           # a Mapping of name -> TensorInfo
            print(name, info.dtype.name, info.shape, info.nbytes)
        kernel = ckpt.read("dense/kernel")        # a read-only numpy array over a memory map
        rows = ckpt.read("embedding", (slice(0, 10),))   # reads only those rows
"""

from ckpt_browser.format.checkpoint import Checkpoint, ChecksumProblem, TensorInfo, open_checkpoint
from ckpt_browser.format.dtypes import DType
from ckpt_browser.format.errors import CheckpointError, ChecksumError
from ckpt_browser.format.kinds import TensorKind
from ckpt_browser.format.paths import CheckpointRecord, history, resolve_prefix
from ckpt_browser.format.v2.shard_check import ShardCheck

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "CheckpointRecord",
    "CheckpointWriter",
    "ChecksumError",
    "ChecksumProblem",
    "DType",
    "ShardCheck",
    "TensorInfo",
    "TensorKind",
    "WriteCancelled",
    "history",
    "open_checkpoint",
    "resolve_prefix",
    "write_checkpoint_state",
]


def __getattr__(name: str) -> object:
    # The writer (threads, text_format) loads on first use: listing a checkpoint never needs it.
    if name in ("CheckpointWriter", "WriteCancelled", "write_checkpoint_state"):
        from ckpt_browser.format.v2 import writer

        return getattr(writer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
