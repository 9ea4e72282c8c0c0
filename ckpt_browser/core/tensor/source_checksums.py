"""Refusing tensors whose stored bytes fail their checksum, or passing them on and saying so.

TensorFlow refuses to restore a tensor whose CRC32C does not match its bytes; copying, exporting or
comparing it as if it were intact would launder the damage (a remap would even store it with a
fresh, valid checksum). Every pass that reads whole tensors reports what it finds to a
`ChecksumPolicy`: by default the first mismatch stops the pass with ChecksumError (one sentence:
the tensor, its shard and offset); when the user allowed it, the tensor goes through and the
sentence is kept in `damaged` for the caller to show.
"""

from __future__ import annotations

from ckpt_browser.format import Checkpoint, ChecksumError


class ChecksumPolicy:
    """What to do when a source tensor's checksum does not match (see the module)."""

    def __init__(self, allow_bad_checksums: bool = False) -> None:
        self.allow_bad_checksums = allow_bad_checksums
        self.damaged: list[str] = []  # the sentences of the tensors let through

    def report(self, problem: str | None) -> None:
        """Refuse (raise ChecksumError) or note `problem`, the sentence of a mismatch."""
        if problem is None:
            return
        if not self.allow_bad_checksums:
            raise ChecksumError(problem)
        self.damaged.append(problem)

    def check(self, checkpoint: Checkpoint, name: str) -> None:
        """Read tensor `name`'s stored bytes and check them (when they cannot be checked in
        passing: strings, partitioned tensors, big-endian files)."""
        self.report(checkpoint.checksum_problem(name))
