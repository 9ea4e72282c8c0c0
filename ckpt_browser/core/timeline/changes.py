"""How far a subject moved between two saves: relative L2 distance and cosine, from sums that merge.

Both tensors are read a chunk at a time (`core.tensor.chunks`), their pages given back as the pass
goes, and each chunk pair gives a `PartialDistances` (`core.tensor.distances.sums_kernel`: the
comparison's sums in float64, NaN and Inf positions left out, without what the timeline does not
show). The sums of a scope's members merge into those of one vector, so a scope's relative
change is ||a-b|| / ||a|| over all of its parameters, and the cache keeps them per tensor pair
(`to_record`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ckpt_browser.core.tensor import chunked
from ckpt_browser.core.tensor import chunks as tensor_chunks
from ckpt_browser.core.tensor.chunked import Cancel, Progress
from ckpt_browser.core.tensor.chunks import ChunkedTensor, PageReleaser, map_pair_chunks
from ckpt_browser.core.tensor.distances import (
    FLOAT,
    PartialDistances,
    comparison_category,
    finish,
    sums_kernel,
)
from ckpt_browser.format import Checkpoint, TensorInfo

CHANGE_NAMES = ("rel_l2_prev", "rel_l2_first", "cosine_prev")


@dataclass(frozen=True)
class Change:
    """The change of a subject at one step (None where it does not apply: the first save, a
    reference of norm 0, nothing finite to compare)."""

    rel_l2_prev: float | None = None  # ||x - previous|| / ||previous||
    rel_l2_first: float | None = None  # ||x - first|| / ||first||
    cosine_prev: float | None = None
    prev_step: int | None = None  # the saves compared with (gaps and failed reads skipped)
    first_step: int | None = None
    prev_prefix: str | None = None  # None at the first save that could be read
    first_prefix: str | None = None

    def value(self, name: str) -> float | None:
        if name not in CHANGE_NAMES:
            raise ValueError(f"unknown change {name!r}; known: {', '.join(CHANGE_NAMES)}")
        return getattr(self, name)


@dataclass(frozen=True)
class PairFigures:
    """Relative L2 distance ||b-a|| / ||a|| and cosine of a pair of saves (a: the earlier)."""

    rel_l2: float | None
    cosine: float | None


def pair_partial(
    a: Checkpoint,
    info_a: TensorInfo,
    b: Checkpoint,
    info_b: TensorInfo,
    *,
    releaser: PageReleaser | None = None,
    progress: Progress = None,
    cancel: Cancel = None,
) -> PartialDistances:
    """The summed distances of one tensor in two saves (equal shapes, comparable dtypes)."""
    kernel = sums_kernel(info_a.dtype.numpy, info_b.dtype.numpy)
    if kernel is None:
        raise TypeError(f"values of dtype {info_a.dtype.name} have no distances")
    small = max(info_a.nbytes, info_b.nbytes) <= tensor_chunks.CHUNK_BYTES
    if small and not (info_a.partitioned or info_b.partitioned):
        # One chunk: the chunk machinery would cost more than the work (see compare).
        x, y = a.read(info_a.name).reshape(-1), b.read(info_b.name).reshape(-1)
        part = kernel(x, y, 0)
        for array in (x, y):
            if releaser is not None:
                releaser.release(array)
        chunked.report(1.0, progress, cancel)
        return part
    tensor_a = ChunkedTensor(a, info_a, releaser)
    tensor_b = ChunkedTensor(b, info_b, releaser)
    parts = map_pair_chunks(tensor_a, tensor_b, kernel, progress=progress, cancel=cancel)
    merged = PartialDistances()
    for part in parts:
        merged.merge(part)
    return merged


def figures(parts: list[PartialDistances]) -> PairFigures:
    """The relative L2 distance and cosine of the vector made of every part."""
    merged = PartialDistances()
    for part in parts:
        merged.merge(part)
    distances = finish(merged, (max(merged.elements, 1),), FLOAT)
    return PairFigures(distances.rel_l2, distances.cosine)


def comparable(info_a: TensorInfo, info_b: TensorInfo) -> bool:
    numpy_a, numpy_b = info_a.dtype.numpy, info_b.dtype.numpy
    if numpy_a is None or numpy_b is None or tuple(info_a.shape) != tuple(info_b.shape):
        return False
    return comparison_category(numpy_a, numpy_b) not in (None, "string")


def to_record(part: PartialDistances) -> dict[str, Any]:
    return asdict(part)


def from_record(record: dict[str, Any]) -> PartialDistances:
    return PartialDistances(**record)
