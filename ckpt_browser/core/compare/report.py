"""A comparison as `ckpt-browser diff` prints it: a table for people, JSON for scripts.

The JSON is a contract (docs/design.md):

    {"a": PREFIX, "b": PREFIX, "summary": {status: count},
     "tensors": [{"name", "status", "dtype_a", "dtype_b", "shape_a", "shape_b", "max_abs_diff",
                  "mean_abs_diff", "rms_diff", "rel_l2", "cosine", "mismatch_fraction"}]}

Tensors are listed most changed first; a distance that does not apply (or is not a finite
number) is null, and so are the dtype and shape of the side that lacks the name.
"""

from __future__ import annotations

import json
import math

from ckpt_browser.core.compare.checkpoints import Comparison, Status, TensorComparison
from ckpt_browser.core.formatting import format_shape
from ckpt_browser.core.printable import printable

DISTANCE_FIELDS = (
    "max_abs_diff",
    "mean_abs_diff",
    "rms_diff",
    "rel_l2",
    "cosine",
    "mismatch_fraction",
)
TENSOR_FIELDS = ("name", "status", "dtype_a", "dtype_b", "shape_a", "shape_b", *DISTANCE_FIELDS)

# Column headings of the table, in the order of DISTANCE_FIELDS.
_HEADINGS = ("max|a-b|", "mean|a-b|", "rms(a-b)", "rel_l2", "cosine", "mismatch")
_DIGITS = {"cosine": 7}  # a cosine of 0.9999994 must not print as 1
_NAME_WIDTH_LIMIT = 80


def tensor_record(item: TensorComparison) -> dict[str, object]:
    """One entry of the JSON `tensors` list, with exactly the keys of TENSOR_FIELDS."""
    record: dict[str, object] = {
        "name": item.name,
        "status": item.status.value,
        "dtype_a": item.dtype_a,
        "dtype_b": item.dtype_b,
        "shape_a": list(item.shape_a) if item.shape_a is not None else None,
        "shape_b": list(item.shape_b) if item.shape_b is not None else None,
    }
    for field_name in DISTANCE_FIELDS:
        record[field_name] = _json_number(item.distance(field_name))
    return record


def comparison_record(comparison: Comparison) -> dict[str, object]:
    """The whole JSON document of `ckpt-browser diff --json`."""
    return {
        "a": comparison.prefix_a,
        "b": comparison.prefix_b,
        "summary": comparison.summary,
        "tensors": [tensor_record(item) for item in comparison.most_changed_first()],
    }


def format_json(comparison: Comparison) -> str:
    """`comparison_record` as JSON text with one tensor per line.

    json.dumps with `indent` falls back to its pure-Python encoder, which takes a second for a
    model of 20,000 tensors; one compact line per tensor keeps the C encoder and stays readable.
    """
    head = {"a": comparison.prefix_a, "b": comparison.prefix_b, "summary": comparison.summary}
    tensors = [
        " " + json.dumps(tensor_record(item), allow_nan=False)
        for item in comparison.most_changed_first()
    ]
    opening = json.dumps(head, allow_nan=False)[:-1] + ', "tensors": ['
    return "\n".join([opening, *([",\n".join(tensors)] if tensors else []), "]}"])


def format_summary(summary: dict[str, int]) -> str:
    """`3 changed, 1 added, 12 same`: differences first, statuses with no names left out."""
    ordered = sorted(summary.items(), key=lambda item: item[0] == "same")  # stable: same last
    parts = [f"{count} {status}" for status, count in ordered if count]
    return ", ".join(parts) if parts else "nothing to compare"


def format_table(comparison: Comparison) -> str:
    """The readable report: one line per name, most changed first, then a summary line."""
    items = comparison.most_changed_first()
    names = [printable(item.name) for item in items]
    width = min(max((len(name) for name in names), default=4), _NAME_WIDTH_LIMIT)
    header = f"{'name':<{width}}  {'status':<13} " + " ".join(f"{h:>10}" for h in _HEADINGS)
    lines = [header]
    for item, name in zip(items, names):
        lines.append(f"{name:<{width}}  {item.status.value:<13} {_details(item)}")
    lines.append(
        f"{format_summary(comparison.summary)}; A: {printable(comparison.prefix_a)}, "
        f"B: {printable(comparison.prefix_b)}{printable(_options_note(comparison))}"
    )
    return "\n".join(lines)


def format_distance(field_name: str, value: float | int | None) -> str:
    """A distance as the table and the window show it ("" when it does not apply)."""
    if value is None:
        return ""
    if field_name == "mismatch_fraction":
        return _percent(float(value))
    if isinstance(value, int):
        return str(value)
    # What format_number(value, digits=...) gives for a finite float (distances always are),
    # written out because a table of 20,000 tensors calls this 120,000 times.
    return f"{value:.{_DIGITS.get(field_name, 4)}g}"


def describe_difference(item: TensorComparison) -> str:
    """What differs in structure: `shape [3, 4] -> [3, 5]`, `float32 -> bfloat16`, `only in B`."""
    if item.status is Status.ADDED:
        return f"only in B: {item.dtype_b} {format_shape(item.shape_b or ())}"
    if item.status is Status.REMOVED:
        return f"only in A: {item.dtype_a} {format_shape(item.shape_a or ())}"
    parts = []
    if item.shape_a != item.shape_b:
        before, after = format_shape(item.shape_a or ()), format_shape(item.shape_b or ())
        parts.append(f"shape {before} -> {after}")
    if item.dtype_a != item.dtype_b:
        parts.append(f"{item.dtype_a} -> {item.dtype_b}")
    return ", ".join(parts)


def _details(item: TensorComparison) -> str:
    """The distance cells (blank where one does not apply), then what differs in structure."""
    structural = describe_difference(item)
    if item.distances is None:
        return structural
    text = " ".join(f"{format_distance(f, item.distance(f)):>10}" for f in DISTANCE_FIELDS)
    if item.distances.nonfinite_mismatches:
        text += f"  ({item.distances.nonfinite_mismatches} NaN/Inf mismatches)"
    return f"{text}  ({structural})" if structural else text


def _options_note(comparison: Comparison) -> str:
    notes: list[str] = []
    options = comparison.options
    if options.rtol or options.atol:
        notes.append(f"same within rtol={options.rtol:g}, atol={options.atol:g}")
    aligned = options.alignment.describe()
    if aligned:
        notes.append(aligned)
    return f" ({'; '.join(notes)})" if notes else ""


def _percent(fraction: float) -> str:
    if fraction == 0.0:
        return "0%"
    percent = fraction * 100.0
    if percent < 0.01:
        return "<0.01%"
    if percent > 99.99 and fraction < 1.0:
        return ">99.99%"
    return f"{percent:.2f}%"


def _json_number(value: float | int | None) -> float | int | None:
    if value is None or isinstance(value, int):
        return value
    return value if math.isfinite(value) else None
