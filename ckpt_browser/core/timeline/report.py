"""A timeline and an overview as `ckpt-browser history` prints them: a table for people, JSON
records for scripts.

The JSON is a contract (docs/design.md); a list with one record per checkpoint, oldest first:

    timeline: {"step", "prefix", "name", "status", "reason",
               "stats": {STAT_NAMES..., "quantiles": {"0": v, "7": v, ...}} or null,
               "delta_prev": {"rel_l2", "cosine", "step"} or null,
               "delta_first": {"rel_l2", "step"} or null}
    overview: {"step", "prefix", "status", "reason", "previous_step",
               "delta_prev": {scope: rel_l2, ...}}

`status` is "ok", "gap" (the name is missing or differs; `reason` says how) or "error" (the
checkpoint could not be read; `reason` is the sentence). A number that does not apply is null.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence

from ckpt_browser.core.formatting import format_number
from ckpt_browser.core.printable import printable
from ckpt_browser.core.timeline.measures import STAT_NAMES, TIMELINE_PERCENTS
from ckpt_browser.core.timeline.overview import Overview
from ckpt_browser.core.timeline.timeline import Status, Timeline, TimelinePoint

QUANTILES = "quantiles"  # a statistic name of its own for --stat
STAT_CHOICES = (*STAT_NAMES, QUANTILES)
TABLE_STATS = tuple(name for name in STAT_NAMES if name != "count")
_COUNTS = ("nan_count", "inf_count", "count")


def timeline_records(timeline: Timeline, stats: Sequence[str] = STAT_CHOICES) -> list[dict]:
    return [_point_record(timeline, point, stats) for point in timeline.points]


def _point_record(timeline: Timeline, point: TimelinePoint, stats: Sequence[str]) -> dict:
    record: dict = {
        "step": point.step,
        "prefix": point.prefix,
        "name": timeline.subject.name,
        "status": point.status.value,
        "reason": point.reason,
        "stats": None,
        "delta_prev": None,
        "delta_first": None,
    }
    if point.stats is not None:
        values = {name: _number(point.stats.value(name)) for name in stats if name != QUANTILES}
        if QUANTILES in stats:
            quantiles = point.stats.quantiles
            values[QUANTILES] = {
                f"{p:g}": _number(quantiles.get(float(p))) for p in TIMELINE_PERCENTS
            }
        record["stats"] = values
    change = point.change
    if change is not None and change.prev_prefix is not None:
        record["delta_prev"] = {
            "rel_l2": _number(change.rel_l2_prev),
            "cosine": _number(change.cosine_prev),
            "step": change.prev_step,
        }
        record["delta_first"] = {"rel_l2": _number(change.rel_l2_first), "step": change.first_step}
    return record


def overview_records(overview: Overview) -> list[dict]:
    records = []
    for column_index, column in enumerate(overview.columns):
        changes = {
            scope: _number(float(overview.rel_change[row, column_index]))
            for row, scope in enumerate(overview.scopes)
        }
        records.append(
            {
                "step": column.step,
                "prefix": column.prefix,
                "status": column.status.value,
                "reason": column.reason,
                "previous_step": column.previous_step,
                "delta_prev": changes,
            }
        )
    return records


def format_json(records: list[dict]) -> str:
    """A JSON list with one record per line (json.dumps with `indent` is ten times slower)."""
    if not records:
        return "[]"
    lines = [json.dumps(record, allow_nan=False) for record in records]
    return "[\n " + ",\n ".join(lines) + "\n]"


def format_timeline_table(timeline: Timeline, stats: Sequence[str] = TABLE_STATS) -> str:
    """One line per checkpoint: step, checkpoint, the statistics, the change to the previous
    save and to the first; a gap or an error says why instead."""
    columns = [name for name in stats if name != QUANTILES]
    if QUANTILES in stats:
        columns += [f"p{p:g}" for p in TIMELINE_PERCENTS]
    columns += ["rel_l2_prev", "cosine_prev", "rel_l2_first"]
    rows = []
    for point in timeline.points:
        if point.status is not Status.OK or point.stats is None:
            rows.append([*_lead(point.step, point.prefix), f"{point.status}: {point.reason}"])
            continue
        cells = [_cell(name, _stat(point, name)) for name in columns]
        rows.append(_lead(point.step, point.prefix) + cells)
    subject = timeline.subject
    what = (
        f"scope {subject.name} ({len(subject.members)} tensors)"
        if subject.is_scope
        else subject.name
    )
    counts = _status_counts([point.status for point in timeline.points])
    footer = f"{printable(what)}: {subject.size:,} values; {counts}"
    return _table(["step", "checkpoint", *columns], rows, footer)


def format_overview_table(overview: Overview) -> str:
    """One line per checkpoint, one column per scope: the relative change since the save
    before it."""
    rows = []
    for column_index, column in enumerate(overview.columns):
        lead = _lead(column.step, column.prefix)
        if column.status is not Status.OK:
            rows.append([*lead, f"{column.status}: {column.reason}"])
            continue
        values = overview.rel_change[:, column_index]
        rows.append(lead + [_cell("rel_l2_prev", _nan_to_none(v)) for v in values])
    counts = _status_counts([column.status for column in overview.columns])
    footer = f"relative L2 change since the save before, per scope; {counts}"
    return _table(["step", "checkpoint", *map(printable, overview.scopes)], rows, footer)


def _stat(point: TimelinePoint, column: str) -> float | None:
    assert point.stats is not None
    if column.startswith("p") and column[1:].replace(".", "").isdigit():
        return point.stats.quantiles.get(float(column[1:]))
    return point.value(column)


def _cell(name: str, value: float | int | None) -> str:
    if value is None:
        return "-"
    if name in _COUNTS:
        return f"{int(value):,}"
    if name == "zero_share":
        return f"{value:.2%}"
    digits = 7 if name.startswith("cosine") else 5
    return format_number(value, digits=digits)


def _lead(step: int | None, prefix: str) -> list[str]:
    return ["" if step is None else str(step), printable(os.path.basename(prefix))]


def _table(header: list[str], rows: list[list[str]], footer: str) -> str:
    """Columns right-aligned to their widest cell (the checkpoint's left); a row's last cell may
    run on past the header (a gap's reason)."""
    widths = [len(title) for title in header]
    for row in rows:
        if len(row) == len(header):
            widths = [max(width, len(cell)) for width, cell in zip(widths, row)]

    def line(cells: list[str]) -> str:
        parts = []
        for index, cell in enumerate(cells):
            if len(cells) < len(header) and index == len(cells) - 1:
                parts.append(cell)
            elif index == 1:
                parts.append(cell.ljust(widths[index]))
            else:
                parts.append(cell.rjust(widths[index]))
        return "  ".join(parts).rstrip()

    return "\n".join([line(header), *(line(row) for row in rows), footer])


def _status_counts(statuses: list[Status]) -> str:
    parts = [f"{len(statuses)} checkpoints"]
    for status, word in ((Status.GAP, "gaps"), (Status.ERROR, "unreadable")):
        count = statuses.count(status)
        if count:
            parts.append(f"{count} {word}")
    return ", ".join(parts)


def _number(value: float | int | None) -> float | int | None:
    if value is None or isinstance(value, int):
        return value
    return value if math.isfinite(value) else None


def _nan_to_none(value: float) -> float | None:
    return None if math.isnan(value) else float(value)
