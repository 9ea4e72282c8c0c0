"""The whole run at a glance: for each top-level scope, how much its parameters moved per save.

    overview = compute_overview(run, cache=TimelineCache(), progress=report, cancel=cancelled)
    overview.scopes            # rows: `net/layer_1`, `net/layer_2`, ... (see `top_level_scopes`)
    overview.columns           # one per checkpoint, oldest first, with its status
    overview.rel_change        # scopes x checkpoints: ||x - previous|| / ||previous||

A layer that stopped learning reads 0 from the save it froze at; one that blew up stands out by
orders of magnitude. The scopes are those of the newest checkpoint's parameters (`subject`); a cell
sums the members present with the same shape and dtype in both saves (NaN when none is). A
checkpoint that cannot be opened, or whose data files cannot hold a parameter (`check_shards`), is
marked with the reason and skipped: the next save is compared with the one before it. Per tensor
pair the sums are cached, shared with the timelines of the same tensors.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from ckpt_browser.core.tasks.runner import Runner
from ckpt_browser.core.tensor.chunked import Cancel, Progress, scaled
from ckpt_browser.core.timeline import changes
from ckpt_browser.core.timeline.cache import TimelineCache
from ckpt_browser.core.timeline.changes import comparable
from ckpt_browser.core.timeline.run import Run, RunEntry
from ckpt_browser.core.timeline.subject import label_of, parameters, top_level_scopes
from ckpt_browser.core.timeline.timeline import OPENING_SHARE, Status
from ckpt_browser.core.timeline.work import Failure, Work, pair_key
from ckpt_browser.format import CheckpointError, TensorInfo


@dataclass(frozen=True)
class OverviewColumn:
    """One checkpoint of the overview."""

    step: int | None
    prefix: str
    status: Status  # OK, or ERROR with the reason (GAP is not used here)
    reason: str | None = None
    previous_step: int | None = None  # the save it is compared with


@dataclass(frozen=True)
class Overview:
    scopes: tuple[str, ...]
    members: dict[str, tuple[str, ...]]  # scope -> the labels of its parameters
    columns: tuple[OverviewColumn, ...]
    rel_change: np.ndarray  # float64, scopes x columns; NaN: the first save, an error, no member

    def row(self, scope: str) -> np.ndarray:
        return self.rel_change[self.scopes.index(scope)]

    @property
    def steps(self) -> list[int | None]:
        return [column.step for column in self.columns]


def compute_overview(
    run: Run,
    *,
    depth: int = 1,
    cache: TimelineCache | None = None,
    progress: Progress = None,
    cancel: Cancel = None,
    runner: Runner | None = None,
) -> Overview:
    """The relative change per save of each scope `depth` levels below the parameters' common
    root; CheckpointError when no checkpoint of the run can be opened. The values are read on
    this machine's threads, or by `runner`'s tasks (a Dask cluster)."""
    run.open_all(scaled(progress, 0.0, OPENING_SHARE), cancel)
    reference = next((e for e in reversed(run.entries) if e.checkpoint is not None), None)
    if reference is None:
        first = run.entries[0]
        raise CheckpointError(
            f"no checkpoint of the run can be opened: {first.error}", run.directory
        )
    assert reference.checkpoint is not None
    groups = top_level_scopes([label_of(info) for info in parameters(reference.checkpoint)], depth)
    wanted = {label for labels in groups.values() for label in labels}
    by_label: dict[int, dict[str, TensorInfo]] = {}
    reasons: dict[int, str] = {}
    for index, entry in enumerate(run.entries):
        if entry.checkpoint is None:
            reasons[index] = entry.error or "cannot be opened"
            continue
        present = {label_of(info): info for info in parameters(entry.checkpoint)}
        present = {label: info for label, info in present.items() if label in wanted}
        damaged = _unreadable(entry, present.values())
        if damaged is not None:
            reasons[index] = damaged
            continue
        by_label[index] = present
    order = sorted(by_label)
    pairs = list(itertools.pairwise(order))
    work = Work(run, cache, runner)
    sums = _sums(work, by_label, pairs, scaled(progress, OPENING_SHARE, 1.0), cancel)
    scopes = tuple(groups)
    matrix = np.full((len(scopes), len(run.entries)), np.nan)
    previous_of = {b: a for a, b in pairs}
    for (_a, b), per_label in sums.items():
        if isinstance(per_label, Failure):
            reasons[b] = per_label.message
            continue
        for row, scope in enumerate(scopes):
            parts = [per_label[label] for label in groups[scope] if label in per_label]
            if parts:
                value = changes.figures(parts).rel_l2
                matrix[row, b] = np.nan if value is None else value
    columns = []
    for index, entry in enumerate(run.entries):
        status = Status.ERROR if index in reasons else Status.OK
        previous = previous_of.get(index)
        previous_step = run.entries[previous].step if previous is not None else None
        columns.append(
            OverviewColumn(entry.step, entry.prefix, status, reasons.get(index), previous_step)
        )
    members = {scope: tuple(labels) for scope, labels in groups.items()}
    return Overview(scopes, members, tuple(columns), matrix)


def _unreadable(entry: RunEntry, infos) -> str | None:
    """The first sentence of `check_shards` about a parameter, if the files cannot hold one."""
    checkpoint = entry.checkpoint
    assert checkpoint is not None
    try:
        check = checkpoint.check_shards()
    except (NotImplementedError, CheckpointError, OSError) as exc:
        return None if isinstance(exc, NotImplementedError) else str(exc)
    problems = getattr(check, "problems", {})
    for info in infos:
        if info.name in problems:
            return problems[info.name]
    return None


def _sums(
    work: Work,
    by_label: dict[int, dict[str, TensorInfo]],
    pairs: list[tuple[int, int]],
    progress: Progress,
    cancel: Cancel,
) -> dict[tuple[int, int], dict | Failure]:
    """For each pair of consecutive saves: label -> summed distances (or the Failure)."""
    entries = work.run.entries
    shared: dict[tuple[int, int], list[str]] = {}
    keys: dict[tuple[int, int], list[str]] = {}
    for a, b in pairs:
        labels = [
            label
            for label, info in by_label[b].items()
            if label in by_label[a] and comparable(by_label[a][label], info)
        ]
        shared[(a, b)] = labels
        keys[(a, b)] = [
            pair_key(entries[a], by_label[a][label], entries[b], by_label[b][label])
            for label in labels
        ]
    cached = work.lookup([key for pair_keys in keys.values() for key in pair_keys])
    result: dict[tuple[int, int], dict | Failure] = {}
    missing = []
    for pair, pair_keys in keys.items():
        if all(key in cached for key in pair_keys):
            parts = [changes.from_record(cached[key]) for key in pair_keys]
            result[pair] = dict(zip(shared[pair], parts))
        else:
            missing.append(pair)
    requests = []
    for a, b in missing:
        infos_a = [by_label[a][label] for label in shared[(a, b)]]
        infos_b = [by_label[b][label] for label in shared[(a, b)]]
        requests.append((entries[a], infos_a, entries[b], infos_b))
    fresh = {}
    for pair, outcome in zip(missing, work.pair_sums_all(requests, progress, cancel)):
        if isinstance(outcome, Failure):
            result[pair] = outcome
            continue
        result[pair] = dict(zip(shared[pair], outcome))
        fresh.update({key: changes.to_record(part) for key, part in zip(keys[pair], outcome)})
    work.store(fresh)
    return result
