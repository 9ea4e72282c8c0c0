"""The statistics of every parameter of one save: what a check such as "no weight of the newest
checkpoint holds NaN or Inf" looks at. Each tensor is measured as a timeline of it would be, and
shares its cache entries."""

from __future__ import annotations

from dataclasses import dataclass

from ckpt_browser.core.tasks.runner import Runner
from ckpt_browser.core.tensor.chunked import Cancel, Progress
from ckpt_browser.core.timeline.cache import TimelineCache
from ckpt_browser.core.timeline.measures import StepStats
from ckpt_browser.core.timeline.run import Run, RunEntry
from ckpt_browser.core.timeline.subject import label_of, parameters
from ckpt_browser.core.timeline.work import Failure, Work, stats_key
from ckpt_browser.format import CheckpointError


@dataclass(frozen=True)
class ParameterStats:
    label: str
    stats: StepStats | None
    error: str | None = None  # why its bytes could not be read (or are damaged)


def scan_parameters(
    run: Run,
    entry: RunEntry,
    *,
    cache: TimelineCache | None = None,
    progress: Progress = None,
    cancel: Cancel = None,
    runner: Runner | None = None,
) -> list[ParameterStats]:
    """Every parameter of `entry`'s checkpoint (`subject.parameters`) with its statistics, in
    name order; CheckpointError when the checkpoint cannot be opened."""
    checkpoint = run.checkpoint(entry)
    if checkpoint is None:
        raise CheckpointError(f"cannot be read: {entry.error}", entry.prefix)
    infos = parameters(checkpoint)
    work = Work(run, cache, runner)
    keys = [stats_key(entry, [info]) for info in infos]
    cached = work.lookup(keys)
    missing = [index for index, key in enumerate(keys) if key not in cached]
    requests = [(entry, [infos[index]]) for index in missing]
    measured = dict(zip(missing, work.measure_all(requests, progress, cancel)))
    found, fresh = [], {}
    for index, (info, key) in enumerate(zip(infos, keys)):
        label = label_of(info)
        if key in cached:
            found.append(ParameterStats(label, StepStats.from_record(cached[key])))
            continue
        result = measured[index]
        if isinstance(result, Failure):
            found.append(ParameterStats(label, None, result.message))
        else:
            found.append(ParameterStats(label, result))
            fresh[key] = result.to_record()
    work.store(fresh)
    return found
