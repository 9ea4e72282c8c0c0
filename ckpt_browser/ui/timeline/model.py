"""What the timeline plots show, without Qt: the measures to pick from, their curves, the marked
steps (gaps, failed reads, NaN/Inf) and the readout of one step.

The widgets draw what this model hands them and ask it which step a position on the x axis means,
so that what a test reads here is what the plots draw.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import numpy as np

from ckpt_browser.core.formatting import format_number, plural
from ckpt_browser.core.timeline import Status, Timeline, TimelinePoint


@dataclass(frozen=True)
class Measure:
    """One entry of the list of things to plot: one plot of one or more series."""

    key: str
    label: str
    series: tuple[str, ...]  # STAT_NAMES or CHANGE_NAMES, drawn in the same plot
    tip: str


MEASURES = (
    Measure("norm", "L2 norm", ("norm",), "The L2 norm of the finite values"),
    Measure("mean", "Mean", ("mean",), "The mean of the finite values"),
    Measure("std", "Standard deviation", ("std",), "The standard deviation of the finite values"),
    Measure("min_max", "Min / max", ("min", "max"), "The smallest and largest finite value"),
    Measure("max_abs", "|max|", ("max_abs",), "The largest magnitude"),
    Measure("zero_share", "Share of zeros", ("zero_share",), "Exact zeros among all values"),
    Measure(
        "nonfinite", "NaN / Inf count", ("nan_count", "inf_count"), "Values that are not finite"
    ),
    Measure(
        "rel_l2_prev",
        "Change to previous save",
        ("rel_l2_prev",),
        "||x − previous|| / ||previous||: 0 means it did not move",
    ),
    Measure(
        "rel_l2_first",
        "Change from first save",
        ("rel_l2_first",),
        "||x − first|| / ||first||: how far it moved from the first save",
    ),
    Measure(
        "cosine_prev",
        "Cosine to previous save",
        ("cosine_prev",),
        "1 means the direction did not change",
    ),
)
MEASURE_BY_KEY = {measure.key: measure for measure in MEASURES}
DEFAULT_MEASURES = ("norm", "rel_l2_prev")
SERIES_LABELS = {
    "norm": "L2 norm",
    "mean": "mean",
    "std": "std",
    "min": "min",
    "max": "max",
    "max_abs": "|max|",
    "zero_share": "zeros",
    "nan_count": "NaN",
    "inf_count": "Inf",
    "count": "count",
    "rel_l2_prev": "Δ previous",
    "rel_l2_first": "Δ first",
    "cosine_prev": "cos previous",
}


class MarkKind(str, Enum):
    GAP = "gap"  # the subject is missing or differs here
    ERROR = "error"  # the checkpoint or the subject's bytes could not be read
    NONFINITE = "nonfinite"  # read fine, but holds NaN or Inf


@dataclass(frozen=True)
class Mark:
    """A step the plots mark, with the sentence that says why."""

    index: int  # of the point in the timeline
    position: float  # on the x axis
    kind: MarkKind
    text: str


@dataclass(frozen=True)
class Curve:
    name: str  # the series (STAT_NAMES or CHANGE_NAMES)
    label: str
    x: np.ndarray
    y: np.ndarray  # NaN where the point has no value (drawn as a break)


def point_title(point: TimelinePoint) -> str:
    """`step 40` (or the checkpoint's file name when it has no step)."""
    if point.step is not None:
        return f"step {point.step}"
    return point.prefix.rsplit("/", 1)[-1]


def marks_of(timeline: Timeline) -> list[Mark]:
    """Gaps, failed reads and steps holding NaN or Inf, oldest first."""
    positions = timeline.positions()
    marks = []
    for index, point in enumerate(timeline.points):
        position = float(positions[index])
        if point.status is Status.GAP:
            marks.append(Mark(index, position, MarkKind.GAP, f"gap: {point.reason}"))
        elif point.status is Status.ERROR:
            marks.append(Mark(index, position, MarkKind.ERROR, f"not read: {point.reason}"))
        elif point.stats is not None and point.stats.nonfinite_count:
            counts = []
            if point.stats.nan_count:
                counts.append(plural(point.stats.nan_count, "NaN", "NaNs"))
            if point.stats.inf_count:
                counts.append(plural(point.stats.inf_count, "Inf", "Infs"))
            marks.append(Mark(index, position, MarkKind.NONFINITE, " and ".join(counts)))
    return marks


class TimelineModel:
    """The timeline on show and the measures picked for plotting."""

    def __init__(self) -> None:
        self.timeline: Timeline | None = None
        self.chosen: list[str] = list(DEFAULT_MEASURES)
        self.current_prefix: str | None = None  # the checkpoint open in the window
        self.picked: list[str] = []  # up to two prefixes picked for comparing, in picking order

    def set_timeline(self, timeline: Timeline | None) -> None:
        self.timeline = timeline

    def set_chosen(self, keys: list[str]) -> None:
        self.chosen = [key for key in keys if key in MEASURE_BY_KEY]

    def measures(self) -> list[Measure]:
        return [MEASURE_BY_KEY[key] for key in self.chosen]

    def curves(self, measure: Measure) -> list[Curve]:
        if self.timeline is None:
            return []
        curves = []
        for name in measure.series:
            x, y = self.timeline.series(name)
            curves.append(Curve(name, SERIES_LABELS[name], x, y))
        return curves

    def marks(self) -> list[Mark]:
        return [] if self.timeline is None else marks_of(self.timeline)

    def positions(self) -> np.ndarray:
        return np.empty(0) if self.timeline is None else self.timeline.positions()

    def index_near(self, x: float) -> int | None:
        """The point whose position is nearest to `x` on the axis (None with no timeline)."""
        positions = self.positions()
        if positions.size == 0 or not math.isfinite(x):
            return None
        return int(np.argmin(np.abs(positions - x)))

    def index_of_prefix(self, prefix: str | None) -> int | None:
        if self.timeline is None or prefix is None:
            return None
        for index, point in enumerate(self.timeline.points):
            if point.prefix == prefix:
                return index
        return None

    def current_index(self) -> int | None:
        return self.index_of_prefix(self.current_prefix)

    def toggle_pick(self, index: int) -> None:
        """Pick the step for comparing, or drop it if it was picked; a third pick replaces the
        first."""
        assert self.timeline is not None
        prefix = self.timeline.points[index].prefix
        if prefix in self.picked:
            self.picked.remove(prefix)
            return
        self.picked = [*self.picked[-1:], prefix]

    def picked_indices(self) -> list[int]:
        found = [self.index_of_prefix(prefix) for prefix in self.picked]
        return [index for index in found if index is not None]

    def compare_pair(self) -> tuple[str, str] | None:
        """The two picked checkpoints, older first (A), when two are picked."""
        indices = sorted(self.picked_indices())
        if len(indices) != 2 or self.timeline is None:
            return None
        points = self.timeline.points
        return points[indices[0]].prefix, points[indices[1]].prefix

    def readout(self, index: int) -> str:
        """One line on one step: its values for the picked measures, or why it has none."""
        assert self.timeline is not None
        point = self.timeline.points[index]
        parts = [point_title(point)]
        if point.status is not Status.OK:
            word = "gap" if point.status is Status.GAP else "not read"
            return f"{parts[0]} · {word}: {point.reason}"
        for measure in self.measures():
            for name in measure.series:
                parts.append(f"{SERIES_LABELS[name]} {value_text(point.value(name))}")
        if (
            point.stats is not None
            and point.stats.nonfinite_count
            and "nonfinite" not in self.chosen
        ):
            parts.append(f"NaN {point.stats.nan_count}, Inf {point.stats.inf_count}")
        return " · ".join(parts)


def value_text(value: float | int | None) -> str:
    if value is None:
        return "–"
    return format_number(value, digits=5)


def cell_edges(positions: np.ndarray) -> np.ndarray:
    """Edges of one cell per position, meeting half-way between neighbours: the columns of the
    distribution heatmap stay on their steps when saves are unevenly spaced."""
    positions = np.asarray(positions, dtype=np.float64)
    if positions.size == 0:
        return np.empty(0)
    if positions.size == 1:
        return np.array([positions[0] - 0.5, positions[0] + 0.5])
    middles = (positions[1:] + positions[:-1]) / 2
    first = positions[0] - (middles[0] - positions[0])
    last = positions[-1] + (positions[-1] - middles[-1])
    return np.concatenate([[first], middles, [last]])
