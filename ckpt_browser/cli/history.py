"""`ckpt-browser history`: a variable or scope across every checkpoint of a run, or the whole run.

`--fail-on-nan` is the check CI jobs ask for ("fail if any weight of the last save holds NaN"): a
flag rather than a recipe for `--json | jq`, because it needs no jq on the runner, covers every
parameter in one call (the JSON of a scope sums its members), and names the tensors it found.
"""

from __future__ import annotations

import argparse

from ckpt_browser.cli.compute import cluster_runner
from ckpt_browser.cli.output import EXIT_DIFFERENT, EXIT_OK, UsageError, say, warn
from ckpt_browser.cli.progress import ProgressLine
from ckpt_browser.core.printable import printable


def cmd_history(args: argparse.Namespace) -> int:
    from ckpt_browser.core.timeline import (
        Run,
        TimelineCache,
        compute_overview,
        compute_timeline,
        report,
    )

    stats = _stat_names(args.stat, report.STAT_CHOICES)
    if args.depth < 1:
        raise UsageError(f"--depth must be 1 or more, not {args.depth}")
    cache = None if args.no_cache else TimelineCache()
    with (
        Run.open(args.directory) as run,
        ProgressLine("history") as line,
        cluster_runner(args) as runner,
    ):
        if runner is not None:
            runner.refuse_unreachable([run.directory])
        if args.name is not None:
            timeline = compute_timeline(
                run, args.name, cache=cache, progress=line.fraction, runner=runner
            )
            line.close()
            if args.json:
                print(
                    report.format_json(
                        report.timeline_records(timeline, stats or report.STAT_CHOICES)
                    )
                )
            else:
                say(report.format_timeline_table(timeline, stats or report.TABLE_STATS))
            problems = _nonfinite_in_timeline(timeline) if args.fail_on_nan else []
        else:
            overview = compute_overview(
                run, depth=args.depth, cache=cache, progress=line.fraction, runner=runner
            )
            line.close()
            if args.json:
                print(report.format_json(report.overview_records(overview)))
            else:
                say(report.format_overview_table(overview))
            problems = _nonfinite_in_newest(run, cache, line, runner) if args.fail_on_nan else []
    for problem in problems:
        warn("nan check", problem)
    return EXIT_DIFFERENT if problems else EXIT_OK


def _stat_names(text: str | None, choices: tuple[str, ...]) -> tuple[str, ...]:
    if text is None:
        return ()
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in choices]
    if unknown or not names:
        raise UsageError(
            f"unknown statistic {unknown[0] if unknown else text!r} for --stat; "
            f"choose from {','.join(choices)}"
        )
    return names


def _nonfinite_in_timeline(timeline) -> list[str]:
    """What the newest checkpoint holding the subject says: NaN or Inf, or that it cannot be
    read (the check cannot pass then)."""
    newest = timeline.points[-1]
    if newest.status.value == "error":
        return [f"the newest checkpoint cannot be read: {newest.reason}"]
    readable = [point for point in timeline.points if point.stats is not None]
    if not readable:
        return [f"{timeline.subject.name} could not be read in any checkpoint"]
    point = readable[-1]
    if not point.stats.nonfinite_count:
        return []
    return [_sentence(timeline.subject.name, point.stats, point.step, point.prefix)]


def _nonfinite_in_newest(run, cache, line: ProgressLine, runner) -> list[str]:
    """Every parameter of the newest checkpoint that holds NaN or Inf (or cannot be read)."""
    from ckpt_browser.core.timeline.scan import scan_parameters

    newest = run.entries[-1]
    if run.checkpoint(newest) is None:
        return [f"the newest checkpoint cannot be read: {newest.error}"]
    found = scan_parameters(run, newest, cache=cache, progress=line.fraction, runner=runner)
    line.close()
    problems = []
    for item in found:
        if item.error is not None:
            problems.append(f"{printable(item.label)} cannot be read: {item.error}")
        elif item.stats is not None and item.stats.nonfinite_count:
            problems.append(_sentence(item.label, item.stats, newest.step, newest.prefix))
    return problems


def _sentence(name: str, stats, step: int | None, prefix: str) -> str:
    where = f"step {step}" if step is not None else prefix
    return (
        f"{printable(name)} holds {stats.nan_count:,} NaN and {stats.inf_count:,} Inf of "
        f"{stats.count:,} values at {where} ({printable(prefix)})"
    )
