"""Pairing by value the tensors that no name pairs: which Const is which variable.

A graph frozen with TF2's `convert_variables_to_constants_v2` names its constants after the ops
that read the variables (`sequential_1/dense_1/MatMul/ReadVariableOp/resource`, `Cast_2`), and
nothing in the file says which variable each came from. The values do: a tensor of one side with
the same dtype, shape and bytes as exactly one tensor of the other is that tensor. Only unique
matches are paired; two equal tensors on one side (zero biases) stay unpaired, as a guess could
pair the wrong names.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np

from ckpt_browser.core.compare.alignment import AlignedPair
from ckpt_browser.format import Checkpoint, CheckpointError, TensorInfo

PAIRED = " ↔ "  # joins the two names of a pair made by value


def pair_by_value(
    a: Checkpoint,
    b: Checkpoint,
    pairs: list[AlignedPair],
    check_cancel: Callable[[], None] = lambda: None,
) -> list[AlignedPair]:
    """`pairs` with each A-only and B-only tensor that has a unique equal on the other side
    joined into one pair named `a-name ↔ b-name`; the rest unchanged, in name order."""
    only_a = [pair for pair in pairs if pair.b is None and pair.a is not None]
    only_b = [pair for pair in pairs if pair.a is None and pair.b is not None]
    shapes_b = {_layout(pair.b) for pair in only_b}
    candidates_a = [pair for pair in only_a if _layout(pair.a) in shapes_b]
    shapes_a = {_layout(pair.a) for pair in candidates_a}
    candidates_b = [pair for pair in only_b if _layout(pair.b) in shapes_a]
    if not candidates_a or not candidates_b:
        return pairs
    digests_a = _unique_digests(a, candidates_a, lambda pair: pair.a, check_cancel)
    digests_b = _unique_digests(b, candidates_b, lambda pair: pair.b, check_cancel)
    joined: dict[str, AlignedPair] = {}  # name of the A-only pair -> the pair made by value
    used_b = set()
    for digest, pair_a in digests_a.items():
        pair_b = digests_b.get(digest)
        if pair_b is not None:
            joined[pair_a.name] = AlignedPair(
                pair_a.name + PAIRED + pair_b.name, pair_a.a, pair_b.b
            )
            used_b.add(pair_b.name)
    if not joined:
        return pairs
    out = [
        joined.get(pair.name, pair)
        for pair in pairs
        if not (pair.a is None and pair.name in used_b)
    ]
    return sorted(out, key=lambda pair: pair.name)


def _layout(info: TensorInfo | None) -> tuple:
    return (info.dtype.name, info.shape) if info is not None else ()


def _unique_digests(
    checkpoint: Checkpoint,
    pairs: list[AlignedPair],
    info_of: Callable[[AlignedPair], TensorInfo | None],
    check_cancel: Callable[[], None],
) -> dict[tuple, AlignedPair]:
    """(layout, digest of the bytes) -> the one pair with it; digests two tensors share, and
    tensors that cannot be read (strings, damaged), are left out."""
    found: dict[tuple, AlignedPair | None] = {}
    for pair in pairs:
        check_cancel()
        info = info_of(pair)
        if info is None or not info.dtype.is_fixed_size:
            continue
        try:
            values = np.ascontiguousarray(checkpoint.read(info.name))
        except CheckpointError:
            continue
        digest = hashlib.blake2b(memoryview(values.reshape(-1).view(np.uint8)), digest_size=16)
        key = (_layout(info), digest.digest())
        found[key] = None if key in found else pair
    return {key: pair for key, pair in found.items() if pair is not None}
