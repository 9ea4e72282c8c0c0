"""Writing a remap plan: a new checkpoint that TensorFlow restores as it is.

Tensors stream from the sources' memory maps through the format layer's `CheckpointWriter`, a
few MB at a time, cast or reshaped on the way; nothing is ever whole in memory. The writer
publishes the checkpoint atomically (an error or a cancel leaves nothing under the final name).
Then a `checkpoint` state file names it, the target's `.meta` is copied beside it if asked, and
every tensor is read back and checked against the CRC32C its index entry stores.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ckpt_browser.core.formatting import plural
from ckpt_browser.format import CheckpointError, open_checkpoint
from ckpt_browser.format.atomic import atomic_output
from ckpt_browser.format.bundle import BundleIndex
from ckpt_browser.format.crc import mask
from ckpt_browser.format.dtypes import from_name
from ckpt_browser.format.kinds import OBJECT_GRAPH_KEY
from ckpt_browser.format.paths import resolve_prefix
from ckpt_browser.format.writer import CheckpointWriter, WriteCancelled, write_checkpoint_state

from .remap_plan import Plan, RemapInputs, Row, Status
from .remap_stream import checksum_of, chunks

__all__ = ["WriteCancelled", "WriteResult", "output_bytes", "write_remap"]

Progress = Callable[[int, int], None]  # (bytes done, bytes in all)


@dataclass
class WriteResult:
    prefix: str
    tensors: int
    nbytes: int
    seconds: float
    state_file: str | None  # the `checkpoint` file written, None if left alone (see notes)
    meta_path: str | None  # the `.meta` copied beside the output
    notes: list[str] = field(default_factory=list)


def output_bytes(plan: Plan) -> int:
    """Bytes of tensor data the plan writes (strings counted as stored in the source)."""
    total = 0
    for row in plan.rows:
        if row.written and row.dtype is not None and row.shape is not None:
            itemsize = from_name(row.dtype).itemsize
            total += int(np.prod(row.shape, dtype=np.int64)) * (itemsize or 0)
    return total


def write_remap(
    plan: Plan,
    inputs: RemapInputs,
    destination: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    copy_meta: bool = True,
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
) -> WriteResult:
    """Write `plan` to the prefix `destination`; raises CheckpointError if it cannot be done."""
    start = time.perf_counter()
    blocking = plan.blocking
    if blocking:
        names = sum(len(p.names) for p in blocking)
        raise CheckpointError(
            f"problems that would break a restore in {plural(names, 'name')} "
            f"({blocking[0].message})"
        )
    prefix = os.path.abspath(os.fspath(destination))
    _refuse_inputs_as_output(prefix, inputs)
    rows = [row for row in plan.rows if row.written]
    total = output_bytes(plan)
    report = (lambda done: progress(done, total)) if progress else None
    sent: dict[str, np.ndarray | None] = {}  # name -> the strings written (None for numbers)
    with CheckpointWriter(prefix, overwrite=overwrite, progress=report, cancel=cancel) as writer:
        for row in rows:
            sent[row.name] = _write_row(writer, row, inputs)
        if plan.object_graph.data is not None:
            writer.add(OBJECT_GRAPH_KEY, np.array(plan.object_graph.data, dtype=object))
    notes: list[str] = []
    state_file = _write_state(prefix, inputs, notes)
    meta = inputs.target.meta_path if inputs.target is not None else None
    meta_copy = _copy_meta(meta, prefix) if copy_meta and meta else None
    _read_back(prefix, rows, sent, plan)
    return WriteResult(
        prefix=prefix,
        tensors=len(rows) + (plan.object_graph.data is not None),
        nbytes=total,
        seconds=time.perf_counter() - start,
        state_file=state_file,
        meta_path=meta_copy,
        notes=notes,
    )


def _write_row(writer: CheckpointWriter, row: Row, inputs: RemapInputs) -> np.ndarray | None:
    """Stream one tensor into the writer; strings are returned, to compare when read back."""
    array = _source_array(row, inputs)
    dtype = from_name(row.dtype)
    if dtype.is_string:
        strings = array.reshape(row.shape)
        writer.add(row.name, strings, dtype)
        return strings
    cast_to = dtype.numpy if dtype.numpy != array.dtype else None
    writer.add_stream(row.name, dtype, row.shape, chunks(array, cast_to))
    return None


def _source_array(row: Row, inputs: RemapInputs) -> np.ndarray:
    if row.status is Status.TEMPLATE:
        return inputs.target.template.read(row.name)
    ref = row.source
    return inputs.sources[ref.source].read(ref.key)


def _refuse_inputs_as_output(prefix: str, inputs: RemapInputs) -> None:
    """The output is never one of the inputs, even with overwriting allowed."""
    inputs_prefixes = [s.prefix for s in inputs.sources]
    if inputs.target is not None and inputs.target.template is not None:
        inputs_prefixes.append(inputs.target.template.prefix)
    real = os.path.realpath(prefix)
    for existing in inputs_prefixes:
        if os.path.realpath(existing) == real:
            raise CheckpointError("the output would replace an input checkpoint", prefix)


def _write_state(prefix: str, inputs: RemapInputs, notes: list[str]) -> str | None:
    """Name the output in its directory's `checkpoint` file, unless that file names others."""
    directory = os.path.dirname(prefix)
    state = os.path.join(directory, "checkpoint")
    if os.path.exists(state):
        try:
            current = os.path.realpath(resolve_prefix(directory))
        except CheckpointError:
            current = None
        if current is not None and current != os.path.realpath(prefix):
            notes.append(
                f"{state} names another checkpoint ({os.path.basename(current)}) and was left "
                "alone; open the output by its prefix"
            )
            return None
    return write_checkpoint_state(directory, prefix)


def _copy_meta(meta: str, prefix: str) -> str:
    destination = prefix + ".meta"
    with open(meta, "rb") as source, atomic_output(destination, "wb") as out:
        shutil.copyfileobj(source, out)
    return destination


def _read_back(
    prefix: str, rows: list[Row], sent: dict[str, np.ndarray | None], plan: Plan
) -> None:
    """Open the output and check every tensor: name, dtype, shape, and its bytes.

    Numbers are checked as TensorFlow checks them, against the CRC32C stored in the index, but a
    chunk at a time so that memory stays flat (`Checkpoint.verify` maps whole shards); strings
    (small: vocabularies, the object graph) are compared with what was written.
    """
    object_graph = plan.object_graph.data
    if object_graph is not None:
        sent = {**sent, OBJECT_GRAPH_KEY: np.array(object_graph, dtype=object)}
    stored = BundleIndex(prefix).entries
    with open_checkpoint(prefix) as written:
        if set(written) != set(sent):
            missing = sorted(set(sent) - set(written))[:3]
            raise CheckpointError(f"read back: the output lacks {missing}", prefix)
        for row in rows:
            info = written[row.name]
            if info.dtype.name != row.dtype or info.shape != tuple(row.shape):
                raise CheckpointError(
                    f"read back: {row.name!r} is {info.dtype.name} {list(info.shape)}, "
                    f"expected {row.dtype} {list(row.shape)}",
                    prefix,
                )
        for name, strings in sent.items():
            back = written.read(name)
            if strings is not None:
                same = np.array_equal(back.reshape(-1), strings.reshape(-1))
            else:
                same = mask(checksum_of(back)) == stored[name].crc32c
            if not same:
                raise CheckpointError(f"read back: the bytes of {name!r} differ", prefix)
