"""What the command line prints about tensors: readable lines and JSON that scripts read."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np

from ckpt_browser.core.formatting import format_bytes, format_number, format_shape, plural
from ckpt_browser.core.printable import printable

if TYPE_CHECKING:  # the statistics module loads thread pools: `ls` has no need of it
    from ckpt_browser.core.tensor.stats import TensorStats
    from ckpt_browser.format import TensorInfo


def describe_tensor(info: TensorInfo, stats: TensorStats) -> str:
    """A tensor's facts and statistics as a few readable lines."""

    def number(value: object) -> str:
        return "-" if value is None else format_number(value)

    title = f"{printable(info.name)}  {info.dtype.name} {format_shape(info.shape)}"
    size = f"{plural(info.size, 'parameter')}, {format_bytes(info.nbytes)}"
    lines = [f"{title}  {size}  ({info.kind.value})"]
    if info.readable_name != info.name:
        lines.append(f"  object path  {printable(info.readable_name)}")
    if info.slot_of:
        lines.append(f"  slot of      {printable(info.slot_of)}")
    measure = "" if stats.measure == "value" else f" (of the {stats.measure})"
    lines.append(
        f"  min {number(stats.min)}   max {number(stats.max)}   mean {number(stats.mean)}   "
        f"std {number(stats.std)}   L2 norm {number(stats.l2_norm)}{measure}"
    )
    if stats.quantiles:
        parts = "   ".join(f"{q}% {number(v)}" for q, v in sorted(stats.quantiles.items()))
        lines.append(f"  quantiles    {parts}")
    share = stats.zero_count / stats.count if stats.count else 0.0
    lines.append(
        f"  zeros {stats.zero_count:,} ({share:.2%})   NaN {stats.nan_count:,}   "
        f"+Inf {stats.posinf_count:,}   -Inf {stats.neginf_count:,}"
    )
    return "\n".join(lines)


def values_text(array: np.ndarray) -> str:
    """The values as `show` prints them: numpy's summary (three values from each end) past 100."""
    with np.printoptions(threshold=100, edgeitems=3, linewidth=100, precision=6):
        return str(array)


def variable_record(info: TensorInfo) -> dict:
    """A tensor as `ls --json` lists it: the keys of `tf.train.list_variables`, and its bytes."""
    return {
        "name": info.name,
        "dtype": info.dtype.name,
        "shape": list(info.shape),
        "nbytes": info.nbytes,
    }


def json_one_item_per_line(record: dict) -> str:
    """JSON with each item of a top-level list on its own line.

    Readable and diffable, and fast: `json.dumps(indent=...)` falls back to the pure-Python
    encoder, ten times slower for 20,000 variables or 50,000 graph nodes.
    """
    parts = []
    for key, value in record.items():
        if isinstance(value, list) and value:
            items = ",\n  ".join(json.dumps(item) for item in value)
            parts.append(f"{json.dumps(key)}: [\n  {items}\n]")
        else:
            parts.append(f"{json.dumps(key)}: {json.dumps(value)}")
    return "{" + ", ".join(parts) + "}"


def json_default(value: object) -> object:
    """Numpy scalars and bytes for `json.dumps(default=...)`."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")
