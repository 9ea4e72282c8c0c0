"""One variable or scope across every checkpoint of a run: its statistics, its distribution and
how much it moved per save.

    timeline = compute_timeline(run, "net/layer_1/kernel", cache=TimelineCache(),
                                progress=report, cancel=cancelled)
    positions, norms = timeline.series("norm")           # NaN at gaps and failed reads
    positions, moved = timeline.series("rel_l2_prev")
    picture = timeline.distribution(bins=64)             # heatmap rows and quantile bands
    for point in timeline.points:                        # one per checkpoint, oldest first
        point.step, point.status, point.reason, point.stats, point.change

The work runs in two phases, each over many checkpoints at once: the statistics of each step
(`measures`; the tensors' stored checksums are checked on the bytes read), then the change of each
step against the previous and the first save that could be read (`changes`). Results come from
and go to the cache; a step found there reads nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from ckpt_browser.core.tasks.runner import Runner
from ckpt_browser.core.tensor.chunked import Cancel, Progress, scaled
from ckpt_browser.core.tensor.distances import PartialDistances
from ckpt_browser.core.timeline import changes
from ckpt_browser.core.timeline.cache import TimelineCache
from ckpt_browser.core.timeline.changes import CHANGE_NAMES, Change, PairFigures
from ckpt_browser.core.timeline.measures import (
    STAT_NAMES,
    TIMELINE_PERCENTS,
    StepStats,
    shared_edges,
)
from ckpt_browser.core.timeline.run import Run, RunEntry
from ckpt_browser.core.timeline.subject import Subject, find_subject, match
from ckpt_browser.core.timeline.work import Failure, Work, pair_key, stats_key
from ckpt_browser.format import CheckpointError, TensorInfo

OPENING_SHARE = 0.05  # of the progress bar: opening every checkpoint's index


class Status(str, Enum):
    OK = "ok"
    GAP = "gap"  # the subject is missing here, or has another shape or dtype
    ERROR = "error"  # the checkpoint, or the subject's bytes in it, could not be read

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class TimelinePoint:
    """The subject in one checkpoint of the run."""

    step: int | None
    prefix: str
    status: Status
    reason: str | None = None  # for a gap or an error: the sentence to show
    stats: StepStats | None = None
    change: Change | None = None

    def value(self, name: str) -> float | None:
        """A statistic (STAT_NAMES) or a change (CHANGE_NAMES) here; None where there is none."""
        if name in CHANGE_NAMES:
            return None if self.change is None else self.change.value(name)
        if name not in STAT_NAMES:
            known = ", ".join((*STAT_NAMES, *CHANGE_NAMES))
            raise ValueError(f"unknown statistic {name!r}; known: {known}")
        return None if self.stats is None else self.stats.value(name)


@dataclass(frozen=True)
class Distribution:
    """The histogram of every step on shared bins, and the quantile bands, for plotting.

    `counts[i]` is the histogram of point i over `edges` (NaN where the point has none);
    `quantiles[p][i]` the p-th percentile at point i (NaN likewise).
    """

    positions: np.ndarray
    edges: np.ndarray  # empty when no point has a histogram
    counts: np.ndarray  # points x bins, float64
    quantiles: dict[float, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class Timeline:
    """The subject at every checkpoint of the run, oldest first (see the module docstring)."""

    subject: Subject
    reference: str  # the prefix the subject was found in (its shape and dtype are the norm)
    points: tuple[TimelinePoint, ...]

    @property
    def steps(self) -> list[int | None]:
        return [point.step for point in self.points]

    def positions(self) -> np.ndarray:
        """Where each point goes on the x axis: its step, or its place in the run when a
        checkpoint has no step number."""
        if all(point.step is not None for point in self.points):
            return np.array([point.step for point in self.points], dtype=np.float64)
        return np.arange(len(self.points), dtype=np.float64)

    def series(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(positions, values) of one statistic or change; NaN where a point has none."""
        values = [point.value(name) for point in self.points]
        array = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
        return self.positions(), array

    def distribution(self, bins: int = 64) -> Distribution:
        """Every step's histogram re-binned onto `bins` bins over the range of all steps (see
        `measures` for how exact that is), and the exact quantile bands."""
        histograms = [p.stats.histogram if p.stats is not None else None for p in self.points]
        edges = shared_edges([h for h in histograms if h is not None], bins)
        counts = np.full((len(self.points), int(bins)), np.nan)
        if edges is None:
            edges = np.empty(0)
        else:
            for row, histogram in enumerate(histograms):
                if histogram is not None:
                    counts[row] = histogram.rebinned(edges)
        bands = {}
        for percent in TIMELINE_PERCENTS:
            bands[float(percent)] = np.array(
                [_quantile(point.stats, percent) for point in self.points], dtype=np.float64
            )
        return Distribution(self.positions(), edges, counts, bands)


def _quantile(stats: StepStats | None, percent: float) -> float:
    if stats is None:
        return np.nan
    value = stats.quantiles.get(float(percent))
    return np.nan if value is None else float(value)


def compute_timeline(
    run: Run,
    name: str,
    *,
    reference: RunEntry | None = None,
    cache: TimelineCache | None = None,
    progress: Progress = None,
    cancel: Cancel = None,
    runner: Runner | None = None,
) -> Timeline:
    """The timeline of the variable or scope `name` (see `subject`) over `run`.

    The subject's shape and dtype are those in `reference`, by default the newest checkpoint that
    has it. CheckpointError when no checkpoint of the run has it; Cancelled on a cancel.
    The values are read on this machine's threads, or by `runner`'s tasks (a Dask cluster).
    """
    run.open_all(scaled(progress, 0.0, OPENING_SHARE), cancel)
    reference, subject = _reference(run, name, reference)
    work = Work(run, cache, runner)
    members: dict[int, list[TensorInfo]] = {}
    points: list[TimelinePoint | None] = []
    for index, entry in enumerate(run.entries):
        checkpoint = entry.checkpoint
        if checkpoint is None:
            points.append(_point(entry, Status.ERROR, entry.error))
            continue
        found, reason = match(checkpoint, subject)
        if reason is not None:
            points.append(_point(entry, Status.GAP, reason))
            continue
        members[index] = found
        points.append(None)
    stats, failures = _all_stats(work, members, progress, cancel)
    for index, message in failures.items():
        points[index] = _point(run.entries[index], Status.ERROR, message)
        del members[index]
    found_changes = _all_changes(work, members, progress, cancel)
    for index in members:
        entry = run.entries[index]
        points[index] = TimelinePoint(
            entry.step, entry.prefix, Status.OK, None, stats[index], found_changes[index]
        )
    assert all(point is not None for point in points)
    return Timeline(subject, reference.prefix, tuple(points))  # type: ignore[arg-type]


def _point(entry: RunEntry, status: Status, reason: str | None) -> TimelinePoint:
    return TimelinePoint(entry.step, entry.prefix, status, reason)


def _reference(run: Run, name: str, chosen: RunEntry | None) -> tuple[RunEntry, Subject]:
    """The checkpoint whose shape and dtype of `name` are the norm, and the subject there."""
    candidates = [chosen] if chosen is not None else list(reversed(run.entries))
    first_error: CheckpointError | None = None
    for entry in candidates:
        checkpoint = run.checkpoint(entry)
        if checkpoint is None:
            continue
        try:
            return entry, find_subject(checkpoint, name)
        except CheckpointError as exc:
            first_error = first_error or exc
    if chosen is not None and first_error is None:
        raise CheckpointError(f"cannot be read: {chosen.error}", chosen.prefix)
    if first_error is not None and len(candidates) == 1:
        raise first_error
    raise CheckpointError(f"{name!r} is in no checkpoint of the run", run.directory)


def _all_stats(
    work: Work, members: dict[int, list[TensorInfo]], progress: Progress, cancel: Cancel
) -> tuple[dict[int, StepStats], dict[int, str]]:
    """The statistics of every step: from the cache, or measured (OPENING_SHARE..half-way)."""
    entries = work.run.entries
    keys = {index: stats_key(entries[index], infos) for index, infos in members.items()}
    cached = work.lookup(list(keys.values()))
    stats = {i: StepStats.from_record(cached[key]) for i, key in keys.items() if key in cached}
    missing = [index for index in members if index not in stats]
    requests = [(entries[i], members[i]) for i in missing]
    results = work.measure_all(requests, scaled(progress, OPENING_SHARE, 0.5), cancel)
    failures: dict[int, str] = {}
    fresh = {}
    for index, result in zip(missing, results):
        if isinstance(result, Failure):
            failures[index] = result.message
        else:
            stats[index] = result
            fresh[keys[index]] = result.to_record()
    work.store(fresh)
    return stats, failures


def _all_changes(
    work: Work, members: dict[int, list[TensorInfo]], progress: Progress, cancel: Cancel
) -> dict[int, Change]:
    """Each readable step against the one before it and the first (half-way..the end)."""
    entries = work.run.entries
    order = sorted(members)
    pairs: set[tuple[int, int]] = set()
    for position, index in enumerate(order[1:], 1):
        pairs.add((order[position - 1], index))
        pairs.add((order[0], index))
    sums = _pair_sums(work, members, sorted(pairs), scaled(progress, 0.5, 1.0), cancel)
    found: dict[int, Change] = {}
    for position, index in enumerate(order):
        if position == 0:
            found[index] = Change()
            continue
        previous, first = order[position - 1], order[0]
        to_previous = _figures(sums.get((previous, index)))
        to_first = _figures(sums.get((first, index)))
        found[index] = Change(
            rel_l2_prev=to_previous.rel_l2,
            rel_l2_first=to_first.rel_l2,
            cosine_prev=to_previous.cosine,
            prev_step=entries[previous].step,
            first_step=entries[first].step,
            prev_prefix=entries[previous].prefix,
            first_prefix=entries[first].prefix,
        )
    return found


def _figures(sums: list[PartialDistances] | None) -> PairFigures:
    return PairFigures(None, None) if sums is None else changes.figures(sums)


def _pair_sums(
    work: Work,
    members: dict[int, list[TensorInfo]],
    pairs: list[tuple[int, int]],
    progress: Progress,
    cancel: Cancel,
) -> dict[tuple[int, int], list[PartialDistances]]:
    """The summed distances of each member for each pair of steps, cached per tensor pair."""
    entries = work.run.entries
    keys: dict[tuple[int, int], list[str]] = {}
    for a, b in pairs:
        zipped = zip(members[a], members[b])
        keys[(a, b)] = [pair_key(entries[a], x, entries[b], y) for x, y in zipped]
    cached = work.lookup([key for pair_keys in keys.values() for key in pair_keys])
    sums: dict[tuple[int, int], list[PartialDistances]] = {}
    missing = []
    for pair, pair_keys in keys.items():
        if all(key in cached for key in pair_keys):
            sums[pair] = [changes.from_record(cached[key]) for key in pair_keys]
        else:
            missing.append(pair)
    requests = [(entries[a], members[a], entries[b], members[b]) for a, b in missing]
    fresh = {}
    for pair, result in zip(missing, work.pair_sums_all(requests, progress, cancel)):
        if isinstance(result, Failure):
            continue  # the change is unknown there; both sides' statistics were read fine
        sums[pair] = result
        fresh.update({key: changes.to_record(part) for key, part in zip(keys[pair], result)})
    work.store(fresh)
    return sums
