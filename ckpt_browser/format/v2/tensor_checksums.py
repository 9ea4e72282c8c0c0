"""Where a tensor's bytes and their stored CRC32C lie, and the sentence when the two disagree.

TensorFlow checks a tensor's CRC32C whenever it restores it and refuses a mismatch, so a damaged
tensor must never be copied, exported or compared as if it were intact. A caller that streams a
tensor's stored bytes anyway (remap, compare) checks the CRC of what it streamed against
`StoredChecksum`, which costs no second read; `Checkpoint.checksum_problem` reads and checks the
rest (strings, partitioned tensors, big-endian files).
"""

from __future__ import annotations

from typing import NamedTuple

from ckpt_browser.format.crc import mask
from ckpt_browser.format.errors import ChecksumError


class StoredChecksum(NamedTuple):
    """The stored bytes of one tensor (or one slice of a partitioned one) and their CRC."""

    tensor: str  # as shown: the key, with the slice for a piece of a partitioned tensor
    shard_path: str
    offset: int
    size: int
    masked_crc: int  # as the index stores it

    def problem(self, crc: int) -> str | None:
        """None when `crc`, the CRC32C of the tensor's stored bytes, is the one stored; else
        the sentence that says which tensor, where, and that TensorFlow refuses it."""
        return self.problem_masked(mask(crc))

    def problem_masked(self, masked_crc: int) -> str | None:
        if masked_crc == self.masked_crc:
            return None
        return str(self.error(masked_crc))

    def error(self, masked_crc: int) -> ChecksumError:
        return ChecksumError(
            f"tensor {self.tensor!r} ({self.size} bytes at offset {self.offset}): checksum does "
            f"not match (stored {self.masked_crc:#010x}, computed {masked_crc:#010x}), so "
            "TensorFlow refuses to read it",
            self.shard_path,
        )
