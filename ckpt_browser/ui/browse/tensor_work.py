"""What the tensor view runs in its worker threads for one tensor (the exact analysis, a histogram
with other bins, the stored checksum's check), here or, for a huge tensor, on the Dask cluster
chosen in Edit > Compute Settings (`ComputeTarget`): the same results either way."""

from __future__ import annotations

from collections.abc import Callable

from ckpt_browser.core.tasks.choice import ComputeTarget
from ckpt_browser.core.tasks.cluster import ClusterError
from ckpt_browser.core.tasks.statistics import (
    analyse_with,
    checksum_problem_with,
    histogram_with,
)
from ckpt_browser.core.tensor.analysis import Analysis, analyse_tensor, rebin
from ckpt_browser.core.tensor.stats import Histogram, TensorStats
from ckpt_browser.format import Checkpoint, TensorInfo
from ckpt_browser.ui.widgets.workers import USER_ERRORS, TaskContext

# A cluster that cannot be reached is the user's set-up, not a bug: shown as its sentence.
WORK_ERRORS = (*USER_ERRORS, ClusterError)


def analysis_work(
    compute: ComputeTarget, checkpoint: Checkpoint, info: TensorInfo, bins: int, preview: bool
) -> Callable[[TaskContext], Analysis]:
    """The exact statistics and histogram; `preview`: publish a sampled estimate first (not on
    the cluster, where a sample would fetch the tensor's bytes here)."""
    if compute.wants(checkpoint, info):
        return lambda context: _on_cluster(compute, checkpoint, info, bins, context)

    def work(context: TaskContext) -> Analysis:
        return analyse_tensor(
            lambda: checkpoint.read(info.name),
            bins,
            publish=context.publish if preview else None,
            progress=context.report,
            cancel=context.cancelled,
        )

    return work


def histogram_work(
    compute: ComputeTarget,
    checkpoint: Checkpoint,
    info: TensorInfo,
    stats: TensorStats,
    bins: int,
) -> Callable[[TaskContext], Histogram]:
    """The exact histogram with another bin count, the statistics being known."""
    if compute.wants(checkpoint, info):

        def on_cluster(context: TaskContext) -> Histogram:
            runner = compute.runner()
            return histogram_with(
                runner,
                checkpoint,
                info.name,
                stats,
                bins,
                progress=context.report,
                cancel=context.cancelled,
            )

        return on_cluster

    def work(context: TaskContext) -> Histogram:
        return rebin(
            lambda: checkpoint.read(info.name),
            stats,
            bins,
            progress=context.report,
            cancel=context.cancelled,
        )

    return work


def checksum_work(
    compute: ComputeTarget, checkpoint: Checkpoint, info: TensorInfo
) -> Callable[[TaskContext], str | None]:
    """The sentence of a stored checksum that does not match, or None."""
    if compute.wants(checkpoint, info):  # the worker near the data reads it, not this machine

        def on_cluster(context: TaskContext) -> str | None:
            runner = compute.runner()
            return checksum_problem_with(runner, checkpoint, info.name, cancel=context.cancelled)

        return on_cluster
    return lambda context: checkpoint.checksum_problem(info.name)


def _on_cluster(
    compute: ComputeTarget, checkpoint: Checkpoint, info: TensorInfo, bins: int, context
) -> Analysis:
    runner = compute.runner()
    return analyse_with(
        runner, checkpoint, info.name, bins, progress=context.report, cancel=context.cancelled
    )
