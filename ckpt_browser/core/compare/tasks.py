"""`diff` as tasks: the chunks of every pair of tensors compared where the tasks run (this
machine's threads or a Dask cluster), and merged here in chunk order into the same outcomes as
`compare_checkpoints`, bit for bit.

The names are aligned and the statuses that need no values are decided here from the indexes;
each pair of equal shape becomes the chunk ranges `compare_checkpoints` uses (one range for a small
pair), consecutive ranges are batched into tasks of about `TASK_BYTES`, and each range gives its
partial distances and the CRCs of the stored bytes it read. A side whose stored bytes are not what
is read (strings, partitioned tensors) is checked by a task of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from ckpt_browser.core.compare.alignment import align
from ckpt_browser.core.compare.checkpoints import (
    CompareOptions,
    Comparison,
    SourceCheck,
    TensorComparison,
    conclude,
    one_chunk,
    outcome_without_values,
)
from ckpt_browser.core.compare.value_match import pair_by_value
from ckpt_browser.core.tasks.model import TASK_BYTES, CheckpointRef, Sources, batches
from ckpt_browser.core.tasks.runner import Runner
from ckpt_browser.core.tensor.chunked import Cancel, Cancelled, Progress
from ckpt_browser.core.tensor.chunks import PageReleaser, pair_chunk_ranges
from ckpt_browser.core.tensor.distances import kernel_for
from ckpt_browser.format import Checkpoint, TensorInfo
from ckpt_browser.format.crc import PartialChecksum


class _Range(NamedTuple):
    """Elements `start:stop` of a pair; `crc_a`/`crc_b`: checksum what is read of that side."""

    name_a: str
    name_b: str
    start: int
    stop: int
    crc_a: bool
    crc_b: bool
    weight: int


class _Whole(NamedTuple):
    """Check one side's stored bytes by reading them whole (`checksum_problem`)."""

    side: int  # 0: A, 1: B
    name: str
    weight: int


@dataclass(frozen=True)
class CompareTask:
    """Ranges and checks of two checkpoints named by location."""

    checkpoint_a: CheckpointRef
    checkpoint_b: CheckpointRef
    rtol: float
    atol: float
    units: tuple[_Range | _Whole, ...]
    weight: int

    def run(self, sources: Sources) -> list:
        a, b = sources(self.checkpoint_a), sources(self.checkpoint_b)
        return [self._one(a, b, unit) for unit in self.units]

    def _one(self, a: Checkpoint, b: Checkpoint, unit: _Range | _Whole) -> object:
        if isinstance(unit, _Whole):
            return (a, b)[unit.side].checksum_problem(unit.name)
        info_a, info_b = a.info(unit.name_a), b.info(unit.name_b)
        kernel = kernel_for(info_a.dtype.numpy, info_b.dtype.numpy, self.rtol, self.atol)
        assert kernel is not None
        x = a.read_flat(unit.name_a, unit.start, unit.stop)
        y = b.read_flat(unit.name_b, unit.start, unit.stop)
        part = (
            kernel(x, y, unit.start),
            PartialChecksum.of(x) if unit.crc_a else None,
            PartialChecksum.of(y) if unit.crc_b else None,
        )
        _RELEASER.release(x)
        _RELEASER.release(y)
        return part


_RELEASER = PageReleaser()  # mapped pages of local shards, given back in batches


@dataclass
class _PairPlan:
    """A pair whose values are compared: where its units' results will be."""

    pair: object  # AlignedPair
    how: str
    checks: tuple[SourceCheck, SourceCheck]
    ranges: list[int]  # indexes of its ranges' results
    wholes: list[tuple[int, int]]  # (side, index) of its whole-tensor checks


def compare_with(
    runner: Runner,
    a: Checkpoint,
    b: Checkpoint,
    options: CompareOptions | None = None,
    *,
    progress: Progress = None,
    cancel: Cancel = None,
    task_bytes: int = TASK_BYTES,
) -> Comparison:
    """What `compare_checkpoints(a, b, options)` gives, with the values read by `runner`'s
    tasks. (Pairing by value, `match_values`, reads its candidates here.)"""
    options = options or CompareOptions()
    runner.refuse_unreachable([a.prefix, b.prefix])
    pairs = align(a, b, options.alignment)
    if options.alignment.match_values:
        pairs = pair_by_value(a, b, pairs, lambda: _check(cancel))
    outcomes: list[TensorComparison | _PairPlan] = []
    units: list[_Range | _Whole] = []
    for pair in pairs:
        outcome = outcome_without_values(pair)
        if isinstance(outcome, TensorComparison):
            outcomes.append(outcome)
            continue
        info_a, info_b = pair.a, pair.b
        assert info_a is not None and info_b is not None
        checks = (
            SourceCheck(a.stored_checksum(info_a.name)),
            SourceCheck(b.stored_checksum(info_b.name)),
        )
        plan = _PairPlan(pair, outcome, checks, [], [])
        for side, (info, check) in enumerate(zip((info_a, info_b), checks)):
            if check.stored is None:
                plan.wholes.append((side, len(units)))
                units.append(_Whole(side, info.name, info.nbytes))
        for start, stop in _ranges(info_a, info_b):
            plan.ranges.append(len(units))
            weight = _range_bytes(info_a, start, stop) + _range_bytes(info_b, start, stop)
            crc_a, crc_b = checks[0].stored is not None, checks[1].stored is not None
            units.append(_Range(info_a.name, info_b.name, start, stop, crc_a, crc_b, weight))
        outcomes.append(plan)
    ref_a, ref_b = CheckpointRef.of(a), CheckpointRef.of(b)
    tasks = [
        CompareTask(
            ref_a,
            ref_b,
            options.rtol,
            options.atol,
            tuple(group),
            sum(unit.weight for unit in group),
        )
        for group in batches(units, lambda unit: unit.weight, task_bytes)
    ]
    results = [part for result in runner.run(tasks, progress, cancel) for part in result]
    compared = []
    for outcome in outcomes:
        if isinstance(outcome, TensorComparison):
            compared.append(outcome)
            continue
        for side, index in outcome.wholes:
            outcome.checks[side].problem = results[index]
        parts = [results[index] for index in outcome.ranges]
        compared.append(conclude(outcome.pair, outcome.how, parts, outcome.checks, options))
    return Comparison(a.prefix, b.prefix, options, compared)


def _ranges(info_a: TensorInfo, info_b: TensorInfo) -> list[tuple[int, int]]:
    """The ranges `compare_checkpoints` works a pair in (so the partial sums merge the same)."""
    if one_chunk(info_a, info_b):
        return [(0, info_a.size)]
    return pair_chunk_ranges(info_a, info_b)


def _range_bytes(info: TensorInfo, start: int, stop: int) -> int:
    if info.size == 0:
        return 0
    return info.nbytes * (stop - start) // info.size


def _check(cancel: Cancel) -> None:
    if cancel is not None and cancel():
        raise Cancelled()
