"""Layout steps a rule can attach to the tensors it matches: an axis permutation (transpose),
a reshape, a cast. Ports between frameworks need them: TensorFlow's dense `kernel` is
[in, out], PyTorch's `weight` is [out, in], and a square one loaded untransposed gives no error.

Steps apply in order. The plan checks the shape and dtype they give against the target's; the
writers apply them a tensor at a time (a transpose is a view of the source's memory map, copied
out in row blocks; a cast is done chunk by chunk).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from ckpt_browser.format.dtypes import BY_NAME

TRANSPOSE, RESHAPE, CAST = "transpose", "reshape", "cast"
OPS = (TRANSPOSE, RESHAPE, CAST)


class LayoutError(ValueError):
    """A step that cannot apply to a tensor (a permutation of the wrong rank, a reshape that
    changes the element count, a cast of strings)."""


class LayoutStep(NamedTuple):
    op: str  # transpose, reshape or cast
    axes: tuple[int, ...] = ()  # transpose: the permutation; reshape: the new shape (one -1)
    dtype: str = ""  # cast: the dtype name

    def describe(self) -> str:
        if self.op == CAST:
            return f"cast {self.dtype}"
        return f"{self.op} {list(self.axes)}"

    def to_json(self) -> dict:
        return {self.op: self.dtype if self.op == CAST else list(self.axes)}

    @classmethod
    def from_json(cls, data: object) -> LayoutStep:
        if not isinstance(data, dict) or len(data) != 1 or next(iter(data)) not in OPS:
            raise ValueError(
                f"a layout step is one of {{'transpose': [axes]}}, {{'reshape': [sizes]}}, "
                f"{{'cast': 'dtype'}}, not {data!r}"
            )
        op, value = next(iter(data.items()))
        if op == CAST:
            if value not in BY_NAME:
                raise ValueError(f"cannot cast to {value!r}: not a dtype name such as bfloat16")
            return cls(CAST, (), value)
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            raise ValueError(f"{op} takes a list of integers, not {value!r}")
        step = cls(op, tuple(value))
        step.validate()
        return step

    def validate(self) -> None:
        if self.op == TRANSPOSE and sorted(self.axes) != list(range(len(self.axes))):
            raise ValueError(f"transpose {list(self.axes)} is not a permutation of 0..n-1")
        if self.op == RESHAPE and (
            sum(a == -1 for a in self.axes) > 1 or any(a < -1 for a in self.axes)
        ):
            raise ValueError(f"reshape {list(self.axes)}: sizes >= 0 and at most one -1")


def parse_steps(text: str) -> tuple[LayoutStep, ...]:
    """Steps as typed in the wizard: `transpose 1 0; reshape 2 -1; cast bfloat16`."""
    steps = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        op, *values = part.replace(",", " ").split()
        if op == CAST and len(values) == 1:
            steps.append(LayoutStep.from_json({op: values[0]}))
            continue
        try:
            numbers = [int(v) for v in values]
        except ValueError:
            raise ValueError(f"bad layout step {part!r}: expected e.g. transpose 1 0") from None
        steps.append(LayoutStep.from_json({op: numbers}))
    return tuple(steps)


def format_steps(steps: Sequence[LayoutStep]) -> str:
    """The text `parse_steps` reads back."""
    return "; ".join(
        f"cast {s.dtype}" if s.op == CAST else " ".join([s.op, *map(str, s.axes)]) for s in steps
    )


def describe(steps: Sequence[LayoutStep]) -> str:
    """`transpose [1, 0], cast bfloat16`."""
    return ", ".join(step.describe() for step in steps)


def laid_out(
    steps: Sequence[LayoutStep], shape: tuple[int, ...], dtype: str
) -> tuple[tuple[int, ...], str]:
    """The shape and dtype after `steps`; LayoutError with a sentence if one cannot apply."""
    for step in steps:
        if step.op == TRANSPOSE:
            if len(step.axes) != len(shape):
                raise LayoutError(
                    f"transpose {list(step.axes)} needs {len(step.axes)} axes, the tensor has "
                    f"{len(shape)} ({list(shape)})"
                )
            shape = tuple(shape[a] for a in step.axes)
        elif step.op == RESHAPE:
            shape = _reshaped(shape, step.axes)
        else:
            if dtype in ("string", "variant", "resource"):
                raise LayoutError(f"a {dtype} tensor cannot be cast to {step.dtype}")
            dtype = step.dtype
    return shape, dtype


def _reshaped(shape: tuple[int, ...], sizes: tuple[int, ...]) -> tuple[int, ...]:
    count = math.prod(shape)
    known = math.prod(s for s in sizes if s != -1)
    if -1 in sizes:
        if known == 0 or count % known:
            raise LayoutError(f"reshape {list(sizes)} does not fit {list(shape)}")
        sizes = tuple(count // known if s == -1 else s for s in sizes)
    if math.prod(sizes) != count:
        raise LayoutError(
            f"reshape {list(sizes)} holds {math.prod(sizes):,} elements, the tensor "
            f"{list(shape)} {count:,}"
        )
    return sizes


def lay_out(steps: Sequence[LayoutStep], array: np.ndarray, *, cast: bool = True) -> np.ndarray:
    """`array` with the steps applied: a transpose is a view; a cast copies, so writers that
    cast chunk by chunk pass `cast=False` and cast the pieces."""
    for step in steps:
        if step.op == TRANSPOSE:
            array = np.transpose(array, step.axes)
        elif step.op == RESHAPE:
            array = array.reshape(_reshaped(array.shape, step.axes))
        elif cast:
            array = array.astype(BY_NAME[step.dtype].numpy)
    return array


def moves_elements(steps: Sequence[LayoutStep]) -> bool:
    """Whether the steps change the order of the elements (so the source's stored bytes and
    the written bytes no longer match chunk for chunk)."""
    return any(step.op == TRANSPOSE and step.axes != tuple(sorted(step.axes)) for step in steps)
