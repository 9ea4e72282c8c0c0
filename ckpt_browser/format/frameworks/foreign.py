"""What the checkpoints read from other frameworks' files share: one or a few files, no history
beside them, no stored checksums (verifying decodes every tensor)."""

from __future__ import annotations

import math
from collections.abc import Callable

from ckpt_browser.format.checkpoint import (
    Checkpoint,
    ChecksumProblem,
    problems_of_each_tensor,
    tf1_info,
)
from ckpt_browser.format.dtypes import DType
from ckpt_browser.format.errors import CheckpointError
from ckpt_browser.format.v2.shard_check import ShardCheck


class ForeignCheckpoint(Checkpoint):
    """A checkpoint read from another framework's files (`paths` lists them, first the main)."""

    def __init__(self, prefix: str, paths: list[str], data_paths: list[str] | None = None) -> None:
        super().__init__(prefix)
        self._paths = paths
        self._data_paths = paths if data_paths is None else data_paths

    @property
    def num_shards(self) -> int:
        return len(self._data_paths)

    def files(self) -> list[str]:
        return list(self._paths)

    def data_files(self) -> list[str]:
        return list(self._data_paths)

    def check_shards(self) -> ShardCheck:
        return ShardCheck()  # each reader checks every extent against its file at open

    def history(self) -> list:
        """A weights file stands alone: the checkpoints beside it are not its history."""
        return []

    @property
    def step(self) -> int | None:
        return None

    def checksum_problem(self, name: str) -> str | None:
        """These formats store no checksums: reading the tensor is the check there is."""
        self.info(name)
        try:
            self.read(name)
        except CheckpointError as exc:
            return exc.message
        return None

    def verify(self, progress: Callable[[int, int], None] | None = None) -> list[ChecksumProblem]:
        return problems_of_each_tensor(self, progress)

    def add_info(self, name: str, dtype: DType, shape: tuple[int, ...], shard: int = 0) -> None:
        """List one tensor; kinds come from the name as for a TF1 checkpoint."""
        nbytes = math.prod(shape) * (dtype.itemsize or 0)
        self._infos[name] = tf1_info(
            name, self._infos, dtype=dtype, shape=tuple(shape), nbytes=nbytes, shard=shard
        )
