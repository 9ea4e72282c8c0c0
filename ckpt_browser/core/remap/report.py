"""A remap plan as text: the table of names and the problems, for the command line."""

from __future__ import annotations

from ckpt_browser.core.formatting import format_shape
from ckpt_browser.core.printable import printable
from ckpt_browser.core.remap.layout import describe as describe_layout
from ckpt_browser.core.remap.plan import Plan, RemapInputs, Row
from ckpt_browser.core.remap.suggest import Suggestion

# How many names of one problem are listed before "... and N more".
NAMES_SHOWN = 10


def plan_lines(plan: Plan, inputs: RemapInputs) -> list[str]:
    """One line a name: `target <- source (source N)  dtype shape  [status: detail]`."""
    lines = []
    several = len(inputs.sources) > 1
    names = [printable(row.name) for row in plan.rows]
    width = min(max((len(name) for name in names), default=4), 60)
    for row, name in zip(plan.rows, names):
        lines.append(f"{name:<{width}}  <-  {_origin(row, several)}{_facts(row)}")
    return lines


def problem_lines(plan: Plan, suggestions: dict[str, list[Suggestion]] | None = None) -> list[str]:
    """Each problem with the names involved; suggestions under the missing names."""
    lines = []
    for problem in plan.problems:
        mark = "error" if problem.blocking else "note"
        lines.append(f"{mark}: {printable(problem.message)}")
        for name in problem.names[:NAMES_SHOWN]:
            lines.append(f"    {printable(name) or repr(name)}")  # '' for an empty name
            for suggestion in (suggestions or {}).get(name, [])[:1]:
                ref = suggestion.source
                lines.append(
                    f"        suggestion: {printable(ref.key)} (source {ref.source + 1}, "
                    f"{printable(suggestion.reason)})"
                )
        if len(problem.names) > NAMES_SHOWN:
            lines.append(f"    ... and {len(problem.names) - NAMES_SHOWN} more")
    return lines


def _origin(row: Row, several: bool) -> str:
    if row.source is not None:
        where = f" (source {row.source.source + 1})" if several else ""
        return printable(row.source.key) + where + (" [by hand]" if row.by_hand else "")
    if row.sources:
        return " + ".join(printable(ref.key) for ref in row.sources)
    return "(template)" if row.written else "(nothing)"


def _facts(row: Row) -> str:
    dtype = row.dtype or row.source_dtype or row.target_dtype or "?"
    shape = row.shape or row.source_shape or row.target_shape
    text = f"  {dtype} {format_shape(shape) if shape is not None else '?'}"
    if row.layout and row.status.value == "ok":
        text += f"  [{describe_layout(row.layout)}]"
    if row.status.value != "ok":
        text += f"  [{row.status}" + (f": {printable(row.detail)}]" if row.detail else "]")
    return text
