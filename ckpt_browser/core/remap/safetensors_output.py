"""Writing a remap plan as a safetensors file (what transformers and other PyTorch or JAX code
load by name), streamed a tensor at a time with each row's layout steps applied.

Source tensors are checked against their stored checksums as for a TensorFlow output (a damaged
one stops the write unless allowed). The file is read back before the call returns: every
tensor's bytes must match, by CRC32C, the bytes that were sent.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

import numpy as np

from ckpt_browser.core.remap.plan import Plan, RemapInputs, Row
from ckpt_browser.core.remap.write import (
    WriteResult,
    checked_output,
    input_files,
    output_bytes,
    row_pieces,
)
from ckpt_browser.core.tensor.source_checksums import ChecksumPolicy
from ckpt_browser.core.tensor.stream import ChecksumAccumulator, checksum_of
from ckpt_browser.format import CheckpointError, open_checkpoint
from ckpt_browser.format.frameworks.extras import require
from ckpt_browser.format.frameworks.safetensors_writer import (
    PlannedTensor,
    refusal,
    write_safetensors,
)

SUFFIX = ".safetensors"
# transformers refuses a safetensors file whose metadata names no framework it knows.
METADATA = {"format": "pt"}


def is_safetensors_output(destination: str | os.PathLike[str]) -> bool:
    return os.fspath(destination).endswith(SUFFIX)


def write_remap_safetensors(
    plan: Plan,
    inputs: RemapInputs,
    destination: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    allow_bad_checksums: bool = False,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> WriteResult:
    """Write `plan` to the safetensors file `destination`; CheckpointError if it cannot be."""
    start = time.perf_counter()
    require("safetensors", "safetensors", "and writing safetensors files")
    path = checked_output(plan, inputs, destination)
    for existing in input_files(inputs):
        if os.path.exists(existing) and os.path.exists(path) and os.path.samefile(existing, path):
            raise CheckpointError("the output would replace an input file", path)
    rows = [row for row in plan.rows if row.written]
    for row in rows:
        why = refusal(row.dtype)
        if why is not None:
            raise CheckpointError(f"{row.name!r} cannot be written: {why}", path)
    by_name = {row.name: row for row in rows}
    checksums = ChecksumPolicy(allow_bad_checksums)
    sent: dict[str, ChecksumAccumulator] = {}
    total = output_bytes(plan)

    def pieces(tensor: PlannedTensor) -> Iterator[np.ndarray]:
        accumulator = sent[tensor.name] = ChecksumAccumulator()
        for piece in row_pieces(by_name[tensor.name], inputs, checksums):
            accumulator.add(piece)
            yield piece

    write_safetensors(
        path,
        [PlannedTensor(row.name, row.dtype, tuple(row.shape)) for row in rows],
        pieces,
        metadata=METADATA,
        overwrite=overwrite,
        progress=(lambda done: progress(done, total)) if progress else None,
        cancel=cancel,
    )
    try:
        _read_back(path, rows, sent)
    except CheckpointError:
        os.remove(path)  # never leave a file that does not read back as written
        raise
    return WriteResult(
        prefix=path,
        tensors=len(rows),
        nbytes=total,
        seconds=time.perf_counter() - start,
        state_file=None,
        meta_path=None,
        damaged=checksums.damaged,
    )


def _read_back(path: str, rows: list[Row], sent: dict[str, ChecksumAccumulator]) -> None:
    with open_checkpoint(path) as written:
        for row in rows:
            info = written.get(row.name)
            if info is None or info.dtype.name != row.dtype or info.shape != tuple(row.shape):
                raise CheckpointError(f"read back: {row.name!r} is not as written", path)
            if checksum_of(written.read(row.name)) != sent[row.name].value:
                raise CheckpointError(f"read back: the bytes of {row.name!r} differ", path)
