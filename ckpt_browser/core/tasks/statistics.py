"""The exact statistics and histogram of one huge tensor (the window's, or what `show` prints),
and its checksum, computed by a worker
of the cluster: it reads the tensor where it is near (the bucket's region) with the same code as
here, and only the result, a few KB, comes back. One tensor is one task (its passes are not split
across workers), so the numbers are those of the local computation."""

from __future__ import annotations

from dataclasses import dataclass

from ckpt_browser.core.tasks.model import CheckpointRef, Sources
from ckpt_browser.core.tasks.runner import Runner
from ckpt_browser.core.tensor.analysis import Analysis, analyse_tensor
from ckpt_browser.core.tensor.chunked import Cancel, Progress
from ckpt_browser.core.tensor.stats import TensorStats, compute_stats
from ckpt_browser.core.text_report import values_text
from ckpt_browser.format import Checkpoint


@dataclass(frozen=True)
class TensorAnalysisTask:
    checkpoint: CheckpointRef
    name: str
    bins: int
    weight: int

    def run(self, sources: Sources) -> list[Analysis]:
        checkpoint = sources(self.checkpoint)
        return [analyse_tensor(lambda: checkpoint.read(self.name), self.bins)]


def analyse_with(
    runner: Runner,
    checkpoint: Checkpoint,
    name: str,
    bins: int,
    *,
    progress: Progress = None,
    cancel: Cancel = None,
) -> Analysis:
    """`analyse_tensor` of tensor `name`, run by `runner`."""
    task = TensorAnalysisTask(CheckpointRef.of(checkpoint), name, bins, checkpoint[name].nbytes)
    return _one(runner, checkpoint, task, progress, cancel)


@dataclass(frozen=True)
class ChecksumTask:
    checkpoint: CheckpointRef
    name: str
    weight: int

    def run(self, sources: Sources) -> list[str | None]:
        return [sources(self.checkpoint).checksum_problem(self.name)]


def checksum_problem_with(
    runner: Runner, checkpoint: Checkpoint, name: str, *, cancel: Cancel = None
) -> str | None:
    """`checkpoint.checksum_problem(name)`, run by `runner`."""
    task = ChecksumTask(CheckpointRef.of(checkpoint), name, checkpoint[name].nbytes)
    return _one(runner, checkpoint, task, None, cancel)


@dataclass(frozen=True)
class ShowTask:
    """What `show` prints of one tensor: its checksum's verdict, statistics and values' text."""

    checkpoint: CheckpointRef
    name: str
    weight: int

    def run(self, sources: Sources) -> list[tuple[str | None, TensorStats, str]]:
        checkpoint = sources(self.checkpoint)
        array = checkpoint.read(self.name)
        damaged = checkpoint.checksum_problem(self.name)
        return [(damaged, compute_stats(array), values_text(array))]


def show_with(
    runner: Runner, checkpoint: Checkpoint, name: str
) -> tuple[str | None, TensorStats, str]:
    """`show`'s checksum verdict, statistics and values' text of tensor `name`, by `runner`."""
    task = ShowTask(CheckpointRef.of(checkpoint), name, checkpoint[name].nbytes)
    return _one(runner, checkpoint, task, None, None)


def _one(runner: Runner, checkpoint: Checkpoint, task, progress: Progress, cancel: Cancel):
    """The result of a task of one tensor of `checkpoint`, which the runner's workers must reach."""
    runner.refuse_unreachable([checkpoint.prefix])
    return runner.run([task], progress, cancel)[0][0]
