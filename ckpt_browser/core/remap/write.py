"""Writing a remap plan: a new checkpoint that TensorFlow restores as it is.

Tensors stream from the sources' memory maps through the format layer's `CheckpointWriter`, a
few MB at a time, cast or reshaped on the way; nothing is ever whole in memory. Each source
tensor's bytes are checked against its stored CRC32C as they stream: a damaged tensor stops the
write (TensorFlow would refuse it; copying it would give it a fresh, valid checksum) unless the
user allowed it, and then the result says so. The output is staged under hidden names, every
tensor read back and checked against the CRC32C its index entry stores, and only then published
with its `.meta` and the `checkpoint` state file in one step (`StagedCheckpoint`): an error, a
cancel or a full disk at any point leaves nothing under the final names.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from ckpt_browser.core.formatting import plural
from ckpt_browser.core.remap.layout import lay_out, moves_elements
from ckpt_browser.core.remap.object_graph import ObjectGraphPlan
from ckpt_browser.core.remap.plan import Plan, RemapInputs, Row, Status
from ckpt_browser.core.tensor.source_checksums import ChecksumPolicy
from ckpt_browser.core.tensor.stream import ChecksumAccumulator, checksum_of, chunks
from ckpt_browser.format import Checkpoint, CheckpointError, ChecksumError, open_checkpoint
from ckpt_browser.format.atomic import refuse_remote_output
from ckpt_browser.format.crc import mask
from ckpt_browser.format.dtypes import from_name
from ckpt_browser.format.files import open_regular
from ckpt_browser.format.kinds import OBJECT_GRAPH_KEY
from ckpt_browser.format.paths import resolve_prefix
from ckpt_browser.format.v2.bundle import BundleIndex
from ckpt_browser.format.v2.staged_checkpoint import StagedCheckpoint
from ckpt_browser.format.v2.writer import CheckpointWriter, WriteCancelled, checkpoint_state_text

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
    # Source tensors copied although their checksum does not match (allowed by the user): the
    # sentence for each, to show as loudly as the result.
    damaged: list[str] = field(default_factory=list)


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
    allow_bad_checksums: bool = False,
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
) -> WriteResult:
    """Write `plan` to the prefix `destination`; raises CheckpointError if it cannot be done
    (ChecksumError for a damaged source tensor, unless `allow_bad_checksums`: then it is copied
    and listed in the result's `damaged`)."""
    start = time.perf_counter()
    prefix = checked_output(plan, inputs, destination)
    wanted_meta = inputs.target.meta_path if copy_meta and inputs.target is not None else None
    meta = wanted_meta
    if meta is not None and _same_file(meta, prefix + ".meta"):
        meta = None  # the target's graph already lies beside the output
    rows = [row for row in plan.rows if row.written]
    total = output_bytes(plan)
    report = (lambda done: progress(done, total)) if progress else None
    checksums = ChecksumPolicy(allow_bad_checksums)
    notes: list[str] = []
    extras = [prefix + ".meta"] if meta else []
    with StagedCheckpoint(prefix, overwrite=overwrite, extra_files=extras) as staged:
        staged.refuse_replacing(input_files(inputs))
        sent: dict[str, np.ndarray | None] = {}  # name -> the strings written (None: numbers)
        with CheckpointWriter(staged.prefix, progress=report, cancel=cancel) as writer:
            for row in rows:
                sent[row.name] = _write_row(writer, row, inputs, checksums)
            object_graph = plan.object_graph
            if object_graph.source is not None:
                _check_object_graph(object_graph, checksums, notes)
            if object_graph.data is not None:
                writer.add(OBJECT_GRAPH_KEY, np.array(object_graph.data, dtype=object))
        _read_back(staged.prefix, rows, sent, plan)
        if meta:
            with (
                open_regular(meta, "graph file") as source,
                staged.new_file(prefix + ".meta") as out,
            ):
                shutil.copyfileobj(source, out)
        state_file = _stage_state(staged, prefix, notes)
        staged.refuse_replacing(input_files(inputs))  # the state file is known only now
        staged.publish()
    return WriteResult(
        prefix=prefix,
        tensors=len(rows) + (plan.object_graph.data is not None),
        nbytes=total,
        seconds=time.perf_counter() - start,
        state_file=state_file,
        meta_path=prefix + ".meta" if wanted_meta else None,
        notes=notes,
        damaged=checksums.damaged,
    )


def checked_output(plan: Plan, inputs: RemapInputs, destination: str | os.PathLike[str]) -> str:
    """The absolute output path, once the plan has no blocking problem and the output is local
    and none of the inputs; else CheckpointError."""
    blocking = plan.blocking
    if blocking:
        names = sum(len(p.names) for p in blocking)
        raise CheckpointError(
            f"problems that would break a restore in {plural(names, 'name')} "
            f"({blocking[0].message})"
        )
    refuse_remote_output(os.fspath(destination))
    prefix = os.path.abspath(os.fspath(destination))
    _refuse_inputs_as_output(prefix, inputs)
    return prefix


def _write_row(
    writer: CheckpointWriter, row: Row, inputs: RemapInputs, checksums: ChecksumPolicy
) -> np.ndarray | None:
    """Stream one tensor into the writer, checking the source's checksum on the way; strings are
    returned, to compare when read back."""
    dtype = from_name(row.dtype)
    if dtype.is_fixed_size:
        writer.add_stream(row.name, dtype, row.shape, row_pieces(row, inputs, checksums))
        return None
    # strings, and variants (each element the bytes TF stores): checked, then written whole
    source, key = _source_of(row, inputs)
    strings = lay_out(row.layout, source.read(key), cast=False).reshape(row.shape)
    if moves_elements(row.layout) or source.stored_checksum(key) is None:
        checksums.check(source, key)
    writer.add(row.name, strings, dtype)
    return strings


def row_pieces(row: Row, inputs: RemapInputs, checksums: ChecksumPolicy) -> Iterator[np.ndarray]:
    """A fixed-size row's values in row-major pieces, laid out and cast as the plan says; the
    source's stored checksum is checked as they pass (or first, when the layout reorders the
    bytes, or there is none to follow: partitioned tensors, big-endian files). A failing check
    raises unless the policy allows damaged sources (a refusal aborts the writer: no output)."""
    source, key = _source_of(row, inputs)
    array = lay_out(row.layout, source.read(key), cast=False)
    stored = None if moves_elements(row.layout) else source.stored_checksum(key)
    if stored is None:
        checksums.check(source, key)
    cast = from_name(row.dtype).numpy
    read = ChecksumAccumulator() if stored is not None else None
    yield from chunks(array, cast if cast != array.dtype else None, read)
    if stored is not None:
        checksums.report(stored.problem(read.value))


def _check_object_graph(
    object_graph: ObjectGraphPlan, checksums: ChecksumPolicy, notes: list[str]
) -> None:
    """The source graph is checked like a tensor: one carried into the output (rewritten or
    not) whose checksum fails is refused or copied and listed. One that cannot be read is left
    out (the plan says so); if that is because its bytes are damaged, the write is refused as
    well, or goes on with a note when the user allowed damaged sources."""
    source = object_graph.source
    if object_graph.data is not None:
        checksums.check(source, OBJECT_GRAPH_KEY)
        return
    try:
        problem = source.checksum_problem(OBJECT_GRAPH_KEY)
    except CheckpointError:
        return  # its bytes cannot be read at all (a missing shard): nothing to launder
    if problem is None:
        return
    if not checksums.allow_bad_checksums:
        raise ChecksumError(problem)
    notes.append(f"the object graph left out is damaged as well: {problem}")


def _source_of(row: Row, inputs: RemapInputs) -> tuple[Checkpoint, str]:
    if row.status is Status.TEMPLATE:
        return inputs.target.template, row.name
    ref = row.source
    return inputs.sources[ref.source], ref.key


def input_files(inputs: RemapInputs) -> Iterator[str]:
    """Every file the inputs are read from: what the output must never replace."""
    checkpoints = list(inputs.sources)
    target = inputs.target
    if target is not None:
        if target.template is not None:
            checkpoints.append(target.template)
        yield from (path for path in (target.path, target.meta_path) if path)
    for checkpoint in checkpoints:
        yield from checkpoint.files()


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _refuse_inputs_as_output(prefix: str, inputs: RemapInputs) -> None:
    """The output is never one of the inputs, even with overwriting allowed."""
    inputs_prefixes = [s.prefix for s in inputs.sources]
    if inputs.target is not None and inputs.target.template is not None:
        inputs_prefixes.append(inputs.target.template.prefix)
    real = os.path.realpath(prefix)
    for existing in inputs_prefixes:
        if os.path.realpath(existing) == real:
            raise CheckpointError("the output would replace an input checkpoint", prefix)


def _stage_state(staged: StagedCheckpoint, prefix: str, notes: list[str]) -> str | None:
    """Name the output in its directory's `checkpoint` file, unless that file names others."""
    directory = os.path.dirname(prefix)
    state = os.path.join(directory, "checkpoint")
    if os.path.lexists(state):
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
    with staged.new_file(state, after_index=True) as file:
        file.write(checkpoint_state_text(directory, prefix).encode("utf-8"))
    return state


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
