"""Suggested sources for target names that nothing maps onto yet.

Four kinds, best first: a source tensor with the very same name (that a rule renamed away or
dropped); one whose name ends the same way under another scope (`bert/layer_0/kernel` for
`encoder/layer_0/kernel`); one of the same shape whose name is similar; one whose shape is the
target's transposed (a port between frameworks: TensorFlow's [in, out] `kernel` for PyTorch's
[out, in] `weight`, which needs a transpose layout step). Shape matches are ranked by how many
name parts they share from the end, split at `/`, `.` and `_` so that `layer.0.query.weight`
and `layer_0/query/kernel` share `layer 0 query`. Only tensors whose element count fits are
proposed, and tensors no row uses yet come first. The user accepts a suggestion as a one-by-one
override.
"""

from __future__ import annotations

import difflib
import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from ckpt_browser.core.remap.plan import Plan, RemapInputs, SourceRef, Status
from ckpt_browser.format.kinds import strip_attribute

# A shape bucket bigger than this is not searched for similar names (it would take seconds on
# tens of thousands of same-shaped biases, and a name that similar would share a tail anyway).
_MAX_SIMILAR_CANDIDATES = 2000
_MIN_SIMILARITY = 0.6
_TAIL_SEGMENTS = 4


@dataclass(frozen=True)
class Suggestion:
    target: str
    source: SourceRef
    reason: str
    score: float


def suggest(
    plan: Plan, inputs: RemapInputs, names: Iterable[str] | None = None, limit: int = 3
) -> dict[str, list[Suggestion]]:
    """Up to `limit` suggestions for each missing target name (or for `names`), best first."""
    wanted = (
        list(names)
        if names is not None
        else [row.name for row in plan.rows if row.status is Status.MISSING]
    )
    if not wanted:
        return {}
    index = _Index(plan, inputs)
    result = {}
    for name in wanted:
        found = index.candidates(name, _wanted_shape(plan, inputs, name))
        if found:
            result[name] = found[:limit]
    return result


def _wanted_shape(plan: Plan, inputs: RemapInputs, name: str) -> tuple[int, ...] | None:
    if inputs.target is not None and name in inputs.target.tensors:
        return inputs.target.tensors[name].shape
    row = plan.rows_by_name.get(name)
    return row.shape if row is not None else None


class _Index:
    """Source tensors looked up by exact name, by name tail and by shape."""

    def __init__(self, plan: Plan, inputs: RemapInputs) -> None:
        self.inputs = inputs
        used = {ref for row in plan.rows for ref in row.sources if row.written}
        self.used = used
        self.by_name: dict[str, list[SourceRef]] = defaultdict(list)
        self.by_tail: dict[tuple[str, ...], list[SourceRef]] = defaultdict(list)
        self.by_size: dict[int, list[SourceRef]] = defaultdict(list)
        self.shapes: dict[SourceRef, tuple[int, ...]] = {}
        for tensor, info in zip(inputs.tensors, inputs.infos):
            ref = SourceRef(tensor.source, tensor.key)
            self.shapes[ref] = info.shape
            plain = strip_attribute(tensor.key)
            self.by_name[tensor.key].append(ref)
            if plain != tensor.key:
                self.by_name[plain].append(ref)
            segments = tuple(plain.split("/"))
            for k in range(1, min(_TAIL_SEGMENTS, len(segments)) + 1):
                self.by_tail[segments[-k:]].append(ref)
            self.by_size[math.prod(info.shape)].append(ref)

    def candidates(self, name: str, shape: tuple[int, ...] | None) -> list[Suggestion]:
        found: dict[SourceRef, Suggestion] = {}

        def offer(ref: SourceRef, reason: str, score: float) -> None:
            if not self._fits(ref, shape):
                return
            score -= 0.05 if ref in self.used else 0.0
            if ref not in found or found[ref].score < score:
                found[ref] = Suggestion(name, ref, reason, score)

        plain = strip_attribute(name)
        for ref in self.by_name.get(name, []) + self.by_name.get(plain, []):
            offer(ref, "same name", 1.0)
        segments = tuple(plain.split("/"))
        for k in range(min(_TAIL_SEGMENTS, len(segments)), 0, -1):
            matches = self.by_tail.get(segments[-k:], [])
            if matches:
                tail = "/".join(segments[-k:])
                for ref in matches:
                    offer(ref, f"same tail {tail!r}", 0.5 + 0.1 * k)
                break
        if shape is not None:
            bucket = [
                ref
                for ref in self.by_size.get(math.prod(shape), [])[:_MAX_SIMILAR_CANDIDATES]
                if self.shapes[ref] == shape
            ]
            for ref in bucket:
                ratio = difflib.SequenceMatcher(None, plain, strip_attribute(ref.key)).ratio()
                if ratio >= _MIN_SIMILARITY:
                    offer(ref, f"same shape, similar name ({ratio:.0%})", 0.5 * ratio)
            self._offer_by_shape(name, shape, offer)
        return sorted(found.values(), key=lambda s: (-s.score, s.source.source, s.source.key))

    def _offer_by_shape(self, name: str, shape: tuple[int, ...], offer) -> None:
        """Tensors of the same shape or its transpose, ranked by the name parts they share
        from the end (a tensor sharing none is offered only if it is the one candidate)."""
        transposed = tuple(reversed(shape))
        wanted = _tail_tokens(name)
        found = []
        for ref in self.by_size.get(math.prod(shape), [])[:_MAX_SIMILAR_CANDIDATES]:
            source_shape = self.shapes[ref]
            if source_shape == shape:
                how = "same shape"
            elif len(shape) > 1 and source_shape == transposed and shape != transposed:
                how = f"transposed shape {list(source_shape)}: add a transpose layout step"
            else:
                continue
            shared = _shared_tail(wanted, _tail_tokens(ref.key))
            shared += _leaf_kind(name) is not None and _leaf_kind(name) == _leaf_kind(ref.key)
            found.append((ref, how, shared))
        for ref, how, shared in found:
            if shared or len(found) == 1:
                parts = f", {shared} name parts alike from the end" if shared else ""
                offer(ref, how + parts, 0.3 + 0.25 * shared / (shared + 1))

    def _fits(self, ref: SourceRef, shape: tuple[int, ...] | None) -> bool:
        return shape is None or math.prod(self.shapes[ref]) == math.prod(shape)


# Last names that differ between frameworks for the same thing: compared by kind only.
_LEAF_KINDS = {
    **dict.fromkeys(("kernel", "weight", "weights", "gamma", "scale", "w", "output_weights"), "w"),
    **dict.fromkeys(("bias", "beta", "b", "output_bias"), "b"),
}
_LEAF_NAMES = {*_LEAF_KINDS, "0", "1"}


def _leaf_kind(name: str) -> str | None:
    return _LEAF_KINDS.get(re.split(r"[/.:]+", strip_attribute(name))[-1].lower())


def _tail_tokens(name: str) -> list[str]:
    tokens = [t.lower() for t in re.split(r"[/._:]+", strip_attribute(name)) if t]
    return tokens[:-1] if tokens and tokens[-1].lower() in _LEAF_NAMES else tokens


def _shared_tail(a: list[str], b: list[str]) -> int:
    """How many tokens `a` and `b` share from the end."""
    count = 0
    for x, y in zip(reversed(a), reversed(b)):
        if x != y:
            break
        count += 1
    return count
