"""Training over time: a variable or scope across every checkpoint of a run, and the whole run.

Imports format, core.tensor and core's shared modules; no other core feature. The API, for the
timeline window and the `history` command:

- `Run.open(directory)`: the checkpoints in step order, opened lazily; `refresh()` after the
  directory changed (a run that is still writing) says what came, went or was rewritten.
- `compute_timeline(run, name, cache=..., progress=..., cancel=...)` -> `Timeline`: one point per
  checkpoint (`ok`, `gap` with its reason, `error` with its sentence), each with `StepStats`
  (STAT_NAMES, exact quantiles at TIMELINE_PERCENTS, a histogram) and `Change` (CHANGE_NAMES);
  `series(name)` for a plot, `distribution(bins)` for the heatmap and the quantile bands.
- `compute_overview(run, ...)` -> `Overview`: relative change per save of each top-level scope.
- `TimelineCache()`: the results kept in the user cache directory, so that reopening is instant.

All of it runs in a worker thread: `progress(fraction)` is called as it goes (from whichever
thread), `cancel()` is polled and raises `Cancelled`.
"""

from ckpt_browser.core.timeline.cache import TimelineCache
from ckpt_browser.core.timeline.changes import CHANGE_NAMES, Change
from ckpt_browser.core.timeline.measures import (
    STAT_NAMES,
    TIMELINE_PERCENTS,
    StepHistogram,
    StepStats,
)
from ckpt_browser.core.timeline.overview import Overview, OverviewColumn, compute_overview
from ckpt_browser.core.timeline.run import Run, RunChanges, RunEntry
from ckpt_browser.core.timeline.subject import Subject
from ckpt_browser.core.timeline.timeline import (
    Distribution,
    Status,
    Timeline,
    TimelinePoint,
    compute_timeline,
)

__all__ = [
    "CHANGE_NAMES",
    "STAT_NAMES",
    "TIMELINE_PERCENTS",
    "Change",
    "Distribution",
    "Overview",
    "OverviewColumn",
    "Run",
    "RunChanges",
    "RunEntry",
    "Status",
    "StepHistogram",
    "StepStats",
    "Subject",
    "Timeline",
    "TimelineCache",
    "TimelinePoint",
    "compute_overview",
    "compute_timeline",
]
