"""A checkpoint as a read-only Mapping of names to TensorInfo, and its tensors as numpy arrays.

`Checkpoint` is what every view, command and comparison uses; each format supplies a subclass
(`v2.checkpoint.BundleCheckpoint`, `v1.checkpoint.SliceCheckpoint`) and `open_checkpoint` picks
the one a path means.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ckpt_browser.format import kinds, paths
from ckpt_browser.format.dtypes import DType
from ckpt_browser.format.errors import CheckpointError
from ckpt_browser.format.kinds import TensorKind

Index = tuple  # a tuple of ints and slices, as for numpy basic indexing


class TensorInfo(NamedTuple):
    """What the index says of one tensor; reading its values is `Checkpoint.read(name)`.

    A NamedTuple (immutable, like a frozen dataclass) because opening an index makes one per
    tensor and a frozen dataclass with this many fields costs ten times as much to create.
    """

    name: str  # the checkpoint key
    dtype: DType
    shape: tuple[int, ...]
    nbytes: int  # bytes stored in the data files
    shard: int | None  # None for a partitioned tensor (its slices may lie in several shards)
    kind: TensorKind
    readable_name: str  # TF2: the object path (`model/dense/kernel`); TF1: the name itself
    partitioned: bool = False
    slot_of: str | None = None  # for an optimizer slot: the key of its variable
    full_name: str | None = None  # TF2: the variable's own name (`sequential/dense/kernel`)
    object_path: str | None = None  # TF2: the path of local names from the root object

    @property
    def size(self) -> int:
        """Number of elements."""
        return math.prod(self.shape)


@dataclass(frozen=True)
class ChecksumProblem:
    name: str
    message: str


class Checkpoint(Mapping[str, TensorInfo]):
    """An open checkpoint. Use `open_checkpoint(path)` to make one.

    `prefix` is what TensorFlow would be given to restore it (a V2 prefix, a V1 file or glob).
    `warnings` lists, one sentence each, what the checkpoint lacks but could be opened without;
    callers show them, and the command line prints each as `warning: ...` on stderr. Tensors the
    files cannot hold are `check_shards()`'s to find.
    """

    format_name = ""  # "V2", "V1", "graph", "safetensors", "npz", "keras", "torch"
    object_graph = None  # TF2 checkpoints: the ObjectGraph naming their tensors

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.warnings: list[str] = []
        self._infos: dict[str, TensorInfo] = {}

    # -- Mapping ----------------------------------------------------------------------------------

    def __getitem__(self, name: str) -> TensorInfo:
        return self._infos[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._infos)

    def __len__(self) -> int:
        return len(self._infos)

    def __repr__(self) -> str:
        return f"<Checkpoint {self.prefix!r}: {len(self)} tensors>"

    def __enter__(self) -> Checkpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the memory maps (arrays still in use keep theirs alive)."""

    # -- facts ------------------------------------------------------------------------------------

    @property
    def step(self) -> int | None:
        return paths.step_of(self.prefix)

    @property
    def directory(self) -> str:
        return os.path.dirname(self.prefix)

    @property
    def num_shards(self) -> int:
        raise NotImplementedError

    def files(self) -> list[str]:
        """Every file the checkpoint is read from: what a written output must never replace,
        and what identifies its bytes (sizes and modification times) for caches."""
        raise NotImplementedError

    def data_files(self) -> list[str]:
        """The files that hold the tensors' values."""
        raise NotImplementedError

    def check_shards(self):  # -> ShardCheck
        """Tensors the files cannot hold, found cheaply at open (no values read)."""
        raise NotImplementedError

    def history(self) -> list[paths.CheckpointRecord]:
        """The checkpoints of the same directory, oldest first."""
        return paths.history(self.directory)

    def info(self, name: str) -> TensorInfo:
        """Like `self[name]`, but an unknown name raises CheckpointError with TensorFlow's words."""
        try:
            return self._infos[name]
        except KeyError:
            raise CheckpointError(f"key {name!r} not found in checkpoint", self.prefix) from None

    # -- reading ----------------------------------------------------------------------------------

    def read(self, name: str, index: Index | None = None) -> np.ndarray:
        """The tensor `name` (or `tensor[index]`) as a numpy array; strings as an object array
        of bytes. Only the stored parts that `index` touches are read."""
        raise NotImplementedError

    def read_flat(self, name: str, start: int, stop: int) -> np.ndarray:
        """Elements `start:stop` of the flattened tensor `name`: the part of a pass over it that
        one task works on. A partitioned tensor assembles only the rows the range touches."""
        info = self.info(name)
        if not info.partitioned:
            return self.read(name).reshape(-1)[start:stop]
        row = math.prod(info.shape[1:]) if len(info.shape) > 1 else 1
        rows = slice(start // row, -(-stop // row))
        block = self.read(name, (rows,)).reshape(-1)
        offset = start - rows.start * row
        return block[offset : offset + (stop - start)]

    def stored_checksum(self, name: str):  # -> StoredChecksum | None
        """Where the bytes `read(name)` views lie, with their stored CRC, when a pass over the
        tensor can check them as it goes; None when `checksum_problem` must check them."""
        return None

    def checksum_problem(self, name: str) -> str | None:
        """None when the stored bytes of tensor `name` match their checksums; else the sentence
        saying which do not, and where."""
        raise NotImplementedError

    def verify(self, progress: Callable[[int, int], None] | None = None) -> list[ChecksumProblem]:
        """Check every stored checksum and what reading would check; an empty list means the
        checkpoint is intact."""
        raise NotImplementedError


def problems_of_each_tensor(
    checkpoint: Checkpoint,
    progress: Callable[[int, int], None] | None = None,
    after_each: Callable[[], None] = lambda: None,
) -> list[ChecksumProblem]:
    """`checksum_problem` of every tensor, with progress in bytes: `verify` for the formats
    whose tensors are checked by reading them (V1 files, a graph's constants)."""
    problems: list[ChecksumProblem] = []
    total = sum(info.nbytes for info in checkpoint.values())
    done = 0
    for name, info in checkpoint.items():
        problem = checkpoint.checksum_problem(name)
        if problem is not None:
            problems.append(ChecksumProblem(name, problem))
        after_each()
        done += info.nbytes
        if progress is not None:
            progress(done, total)
    return problems


def tf1_info(name: str, names: Mapping[str, object], **facts: object) -> TensorInfo:
    """The TensorInfo of a key of a checkpoint without an object graph: its kind and, for an
    optimizer slot, its variable, from the naming conventions of TF1 (see `kinds`)."""
    kind = kinds.classify(name)
    slot_of = None
    if kind is TensorKind.OPTIMIZER:
        slot_of = kinds.tf1_slot_owner(name, names)
    readable = name if kinds.ATTRIBUTES_MARKER not in name else kinds.strip_attribute(name)
    return TensorInfo(name=name, kind=kind, readable_name=readable, slot_of=slot_of, **facts)


def as_index(index: object) -> tuple:
    return index if isinstance(index, tuple) else (index,)


def open_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Open the checkpoint a path means: a directory, prefix, .index, .data-*, .meta, SavedModel,
    or a V1 checkpoint file or glob (TensorFlow's rule decides the format: an `.index` beside the
    prefix means V2); or the constants of a frozen graph, given its `.pb` file. Any of these may
    be a URL (`s3://`, `gs://`, `https://`, ...) or lie inside a `.zip` (`sources.locations`).
    Other frameworks' weights open by their file name (`frameworks.opening`): safetensors (or
    a sharded set's index, or a model folder holding them), Keras HDF5, npz, PyTorch."""
    from ckpt_browser.format.frameworks import opening
    from ckpt_browser.format.graph.constants import GraphConstants, is_graph_file
    from ckpt_browser.format.sources.locations import normalize

    path = normalize(path)
    if opening.is_foreign_path(path):
        return opening.open_foreign(path)
    if is_graph_file(path):
        return GraphConstants(path)
    try:
        prefix = paths.resolve_prefix(path)
    except CheckpointError:
        weights = opening.model_folder_file(path)
        if weights is None:
            raise
        return opening.open_foreign(weights)
    if paths.is_v2_prefix(prefix):
        from ckpt_browser.format.v2.checkpoint import BundleCheckpoint

        return BundleCheckpoint(prefix)
    from ckpt_browser.format.v1.checkpoint import SliceCheckpoint

    return SliceCheckpoint(prefix)
