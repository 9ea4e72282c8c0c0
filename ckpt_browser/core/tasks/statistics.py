"""The exact statistics and histogram of one huge tensor (the window's, or what `show` prints),
and its checksum, computed by a worker of the cluster: it reads the tensor where it is near (the
bucket's region) with the same code as here, and only the result, a few KB, comes back. One tensor
is one task (its passes are not split across workers), so the numbers are those of the local
computation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ckpt_browser.core.tasks.model import CheckpointRef, Sources
from ckpt_browser.core.tasks.runner import Runner
from ckpt_browser.core.tensor.analysis import Analysis, analyse_tensor, rebin
from ckpt_browser.core.tensor.chunked import Cancel, Progress
from ckpt_browser.core.tensor.stats import Histogram, TensorStats, compute_stats
from ckpt_browser.core.text_report import values_text
from ckpt_browser.format import Checkpoint


def show_parts(checkpoint: Checkpoint, name: str) -> tuple[str | None, TensorStats, str]:
    """What `show` prints of one tensor: its checksum's verdict, statistics and values' text."""
    array = checkpoint.read(name)
    damaged = checkpoint.checksum_problem(name)
    return damaged, compute_stats(array), values_text(array)


def _analysis(checkpoint: Checkpoint, name: str, bins: int) -> Analysis:
    return analyse_tensor(lambda: checkpoint.read(name), bins)


def _histogram(checkpoint: Checkpoint, name: str, stats: TensorStats, bins: int) -> Histogram:
    return rebin(lambda: checkpoint.read(name), stats, bins)


def _checksum_problem(checkpoint: Checkpoint, name: str) -> str | None:
    return checkpoint.checksum_problem(name)


@dataclass(frozen=True)
class TensorTask:
    """`work(checkpoint, name, *arguments)` on a worker (`work` is a module-level function:
    pickled by its name)."""

    checkpoint: CheckpointRef
    name: str
    weight: int
    work: Callable[..., Any]
    arguments: tuple = ()

    def run(self, sources: Sources) -> list:
        return [self.work(sources(self.checkpoint), self.name, *self.arguments)]


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
    return _one(runner, checkpoint, name, _analysis, (bins,), progress, cancel)


def histogram_with(
    runner: Runner,
    checkpoint: Checkpoint,
    name: str,
    stats: TensorStats,
    bins: int,
    *,
    progress: Progress = None,
    cancel: Cancel = None,
) -> Histogram:
    """`rebin` of tensor `name` (its statistics known: one pass, not a new analysis)."""
    return _one(runner, checkpoint, name, _histogram, (stats, bins), progress, cancel)


def checksum_problem_with(
    runner: Runner, checkpoint: Checkpoint, name: str, *, cancel: Cancel = None
) -> str | None:
    """`checkpoint.checksum_problem(name)`, run by `runner`."""
    return _one(runner, checkpoint, name, _checksum_problem, (), None, cancel)


def show_with(
    runner: Runner, checkpoint: Checkpoint, name: str
) -> tuple[str | None, TensorStats, str]:
    """`show_parts` of tensor `name`, run by `runner`."""
    return _one(runner, checkpoint, name, show_parts, (), None, None)


def _one(runner, checkpoint, name, work, arguments, progress: Progress, cancel: Cancel):
    """The result of `work` on one tensor of `checkpoint`, which the runner's workers must reach."""
    runner.refuse_unreachable([checkpoint.prefix])
    task = TensorTask(CheckpointRef.of(checkpoint), name, checkpoint[name].nbytes, work, arguments)
    return runner.run([task], progress, cancel)[0][0]
