"""`verify` as tasks: every stored entry of a V2 checkpoint checked where the tasks run, a large
entry in byte ranges whose CRCs merge into its own, the verdicts put together here in `verify`'s
order and words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from ckpt_browser.core.tasks.model import (
    TASK_BYTES,
    CheckpointRef,
    Sources,
    batches,
    byte_ranges,
)
from ckpt_browser.core.tasks.runner import Runner
from ckpt_browser.core.tensor.chunked import Cancel, Progress
from ckpt_browser.format import Checkpoint, ChecksumProblem
from ckpt_browser.format.crc import PartialChecksum


class _Check(NamedTuple):
    """One piece of work: a whole entry (`start` None), or bytes `start:stop` of one."""

    piece: object  # format.v2.bundle.VerifyPiece
    start: int | None = None
    stop: int | None = None

    @property
    def weight(self) -> int:
        return self.piece.size if self.start is None else self.stop - self.start


@dataclass(frozen=True)
class VerifyTask:
    """Checks of one checkpoint's entries; each gives a problem, None, or a range's checksum."""

    checkpoint: CheckpointRef
    checks: tuple[_Check, ...]
    weight: int

    def run(self, sources: Sources) -> list:
        checkpoint = sources(self.checkpoint)
        return [
            checkpoint.verify_piece(check.piece)
            if check.start is None
            else checkpoint.piece_range_checksum(check.piece, check.start, check.stop)
            for check in self.checks
        ]


def can_verify_in_tasks(checkpoint: Checkpoint) -> bool:
    """V2 checkpoints are checked entry by entry; V1 files and graphs are read whole, here."""
    return hasattr(checkpoint, "verify_pieces")


def verify_tasks(
    checkpoint: Checkpoint, task_bytes: int = TASK_BYTES
) -> tuple[list[ChecksumProblem], list, list[VerifyTask]]:
    """What needs no data read (problems found from the index), the pieces, and the tasks."""
    problems, pieces = checkpoint.verify_pieces()
    checks = []
    for piece in pieces:
        if piece.by_range and piece.size > task_bytes:
            ranges = byte_ranges(piece.size, task_bytes)
            checks += [_Check(piece, start, stop) for start, stop in ranges]
        else:
            checks.append(_Check(piece))
    ref = CheckpointRef.of(checkpoint)
    tasks = [
        VerifyTask(ref, tuple(group), sum(check.weight for check in group))
        for group in batches(checks, lambda check: check.weight, task_bytes)
    ]
    return problems, pieces, tasks


def verify_with(
    runner: Runner,
    checkpoint: Checkpoint,
    *,
    progress: Progress = None,
    cancel: Cancel = None,
    task_bytes: int = TASK_BYTES,
) -> list[ChecksumProblem]:
    """What `checkpoint.verify()` finds, with the reading done by `runner`'s tasks."""
    problems, pieces, tasks = verify_tasks(checkpoint, task_bytes)
    runner.refuse_unreachable([checkpoint.prefix])
    outcomes = [outcome for result in runner.run(tasks, progress, cancel) for outcome in result]
    checks = [check for task in tasks for check in task.checks]
    by_piece: dict[bytes, list] = {}
    for check, outcome in zip(checks, outcomes):
        by_piece.setdefault(check.piece.key, []).append(outcome)
    for piece in pieces:
        found = by_piece[piece.key]
        if len(found) == 1 and not isinstance(found[0], PartialChecksum):
            problem = found[0]
        else:
            problem = next((part for part in found if isinstance(part, ChecksumProblem)), None)
            if problem is None:
                whole = PartialChecksum()
                for part in found:
                    whole.merge(part)
                problem = checkpoint.piece_problem(piece, whole.crc)
        if problem is not None:
            problems.append(problem)
    return problems
