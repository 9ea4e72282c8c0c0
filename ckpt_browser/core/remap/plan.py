"""The remap plan: which source tensor becomes which output name, and what would go wrong.

`build_plan(spec, inputs)` runs the rules over every source tensor, applies the one-by-one
overrides, and compares the result with the target. Each output name becomes a `Row` with a
status; problems are gathered by kind with the names involved, and the blocking ones are exactly
those that would make TensorFlow's restore fail:

- a target name without a source: "Key ... not found in checkpoint" (unless the template's own
  value is kept);
- a shape that differs from the target's: "Assign requires shapes of both tensors to match"
  (unless the element count matches and reshaping is allowed);
- a dtype that differs from the target's (unless casting is allowed);
- two sources onto one name (one must be dropped or picked by hand).

Sources left unused are reported but do not block. Building a plan reads no tensor data, so it
takes milliseconds even for tens of thousands of names.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum

from ckpt_browser.core.formatting import plural
from ckpt_browser.core.remap.inputs import RemapInputs, SourceRef
from ckpt_browser.core.remap.layout import LayoutError, LayoutStep, laid_out
from ckpt_browser.core.remap.layout import describe as describe_layout
from ckpt_browser.core.remap.object_graph import ObjectGraphPlan, plan_object_graph
from ckpt_browser.core.remap.rules import RuleEffect, apply_rules
from ckpt_browser.core.remap.spec import CAST_TO_TARGET, RemapSpec
from ckpt_browser.core.remap.target import TargetTensor
from ckpt_browser.format.gc_pause import gc_paused

# RemapInputs and SourceRef live in remap_inputs; they are part of this module's interface too.
__all__ = [
    "Plan",
    "Problem",
    "ProblemKind",
    "RemapInputs",
    "Row",
    "SourceRef",
    "Status",
    "build_plan",
    "can_cast",
]


class Status(str, Enum):
    OK = "ok"
    RESHAPE = "reshape"
    CAST = "cast"
    TEMPLATE = "template value"
    MISSING = "missing"
    SHAPE = "shape mismatch"
    DTYPE = "dtype mismatch"
    DUPLICATE = "two sources"
    EMPTY_NAME = "empty name"
    LAYOUT = "layout error"

    def __str__(self) -> str:
        return self.value


WRITTEN_STATUSES = {Status.OK, Status.RESHAPE, Status.CAST, Status.TEMPLATE}


class ProblemKind(str, Enum):
    MISSING = "missing"
    SHAPE = "shape"
    DTYPE = "dtype"
    DUPLICATE = "duplicate"
    UNUSED = "unused"
    RESHAPED = "reshaped"
    CAST = "cast"
    TEMPLATE = "template"
    OBJECT_GRAPH = "object graph"
    EMPTY_NAME = "empty name"
    LAYOUT = "layout"

    def __str__(self) -> str:
        return self.value


BLOCKING_KINDS = {
    ProblemKind.MISSING,
    ProblemKind.SHAPE,
    ProblemKind.DTYPE,
    ProblemKind.DUPLICATE,
    ProblemKind.EMPTY_NAME,
    ProblemKind.LAYOUT,
}


@dataclass(frozen=True)
class Problem:
    kind: ProblemKind
    message: str
    names: tuple[str, ...]

    @property
    def blocking(self) -> bool:
        return self.kind in BLOCKING_KINDS


@dataclass(slots=True)  # not frozen: a plan has tens of thousands and frozen init is slow
class Row:
    """One output name with where it comes from and how it compares with the target."""

    name: str
    sources: tuple[SourceRef, ...]  # none when missing or from the template; two+ when clashing
    by_hand: bool  # decided by an override rather than the rules
    source_dtype: str | None
    source_shape: tuple[int, ...] | None
    target_dtype: str | None  # None when there is no target
    target_shape: tuple[int, ...] | None
    dtype: str | None  # what is written
    shape: tuple[int, ...] | None
    status: Status
    detail: str = ""  # why, in a few words ("float32 -> bfloat16", "[4, 6] -> [24]")
    also: tuple[Status, ...] = ()  # more of the same row: a dtype besides a shape problem
    layout: tuple[LayoutStep, ...] = ()  # applied to the source before it is written

    @property
    def source(self) -> SourceRef | None:
        return self.sources[0] if len(self.sources) == 1 else None

    @property
    def written(self) -> bool:
        return self.status in WRITTEN_STATUSES

    @property
    def blocking(self) -> bool:
        return not self.written


@dataclass
class Plan:
    rows: list[Row]
    problems: list[Problem]
    effects: list[RuleEffect]  # per rule, for its preview
    unused: list[SourceRef]
    dropped: int  # source tensors a rule dropped
    object_graph: ObjectGraphPlan
    has_target: bool
    rows_by_name: dict[str, Row] = field(init=False, repr=False)
    _summary: str | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.rows_by_name = {row.name: row for row in self.rows}
        self._summary: str | None = None

    @property
    def blocking(self) -> list[Problem]:
        return [p for p in self.problems if p.blocking]

    def count(self, kind: ProblemKind) -> int:
        return sum(len(p.names) for p in self.problems if p.kind is kind)

    def summary(self) -> str:
        """One line: how many names are written, and the problem counts."""
        if self._summary is None:
            self._summary = self._make_summary()
        return self._summary

    def _make_summary(self) -> str:
        written = sum(row.status in WRITTEN_STATUSES for row in self.rows)
        parts = [f"{written} of {plural(len(self.rows), 'name')} ready"]
        for kind in (*BLOCKING_KINDS_ORDER, ProblemKind.UNUSED):
            n = self.count(kind)
            if n:
                parts.append(plural(n, *PROBLEM_LABELS[kind]))
        if not self.blocking:
            parts.append("no blocking problems")
        return ", ".join(parts)


BLOCKING_KINDS_ORDER = (
    ProblemKind.MISSING,
    ProblemKind.SHAPE,
    ProblemKind.DTYPE,
    ProblemKind.DUPLICATE,
    ProblemKind.LAYOUT,
)
PROBLEM_LABELS = {  # singular and plural, as `plural` takes them
    ProblemKind.MISSING: ("missing", "missing"),
    ProblemKind.SHAPE: ("shape mismatch", "shape mismatches"),
    ProblemKind.DTYPE: ("dtype mismatch", "dtype mismatches"),
    ProblemKind.DUPLICATE: ("with two sources", "with two sources"),
    ProblemKind.UNUSED: ("source unused", "sources unused"),
    ProblemKind.RESHAPED: ("reshaped", "reshaped"),
    ProblemKind.CAST: ("cast", "cast"),
    ProblemKind.TEMPLATE: ("from the template", "from the template"),
    ProblemKind.OBJECT_GRAPH: ("object graph", "object graph"),
    ProblemKind.LAYOUT: ("layout error", "layout errors"),
}


def build_plan(spec: RemapSpec, inputs: RemapInputs) -> Plan:
    """Apply `spec` to `inputs` (see the module text). A bad rule raises ValueError."""
    spec.validate()
    with gc_paused():
        return _build_plan(spec, inputs)


def _build_plan(spec: RemapSpec, inputs: RemapInputs) -> Plan:
    outcome = apply_rules(spec.rules, inputs.tensors)
    mapped: dict[str, list[SourceRef]] = defaultdict(list)
    layouts: dict[SourceRef, tuple[LayoutStep, ...]] = {}
    for ref, name, steps in zip(inputs.refs, outcome.names, outcome.layouts):
        if name is not None:
            mapped[name].append(ref)
            if steps:
                layouts[ref] = steps
    target = inputs.target
    if target is not None:
        names = list(target.tensors)
    else:
        overridden = [n for n, o in spec.overrides.items() if not o.is_left_out]
        names = sorted(set(mapped) | set(overridden)) if overridden else sorted(mapped)
    rows = []
    for name in names:
        candidates = mapped.get(name, ())
        row = None
        plain = len(candidates) == 1 and candidates[0] not in layouts
        if plain and spec.cast is None and name not in spec.overrides:
            row = _plain_row(name, candidates[0], inputs)  # the usual case, made quick
        if row is None:
            row = _row(name, spec, inputs, candidates, layouts)
        if row is not None:
            if not name and row.written:  # a V1 checkpoint can hold it; V2 keeps its header there
                row.status, row.detail = Status.EMPTY_NAME, "a V2 checkpoint cannot hold it"
            rows.append(row)

    used = {ref for row in rows for ref in row.sources}  # a clash or mismatch is reported there
    used.update(
        ref for name, o in spec.overrides.items() if o.is_left_out for ref in mapped.get(name, ())
    )  # left out by hand is not "unused"
    unused = [
        (ref, name)
        for ref, name in zip(inputs.refs, outcome.names)
        if name is not None and ref not in used
    ]
    object_graph = plan_object_graph(inputs.sources, target, rows)
    problems = _problems(rows, unused, object_graph)
    return Plan(
        rows=rows,
        problems=problems,
        effects=outcome.effects,
        unused=[ref for ref, _ in unused],
        dropped=sum(d is not None for d in outcome.dropped_by),
        object_graph=object_graph,
        has_target=target is not None,
    )


def _row(
    name: str,
    spec: RemapSpec,
    inputs: RemapInputs,
    candidates: Sequence[SourceRef],
    layouts: dict[SourceRef, tuple[LayoutStep, ...]],
) -> Row | None:
    target = inputs.target
    wanted = target.tensors.get(name) if target is not None else None
    target_dtype = wanted.dtype if wanted else None
    target_shape = wanted.shape if wanted else None
    override = spec.overrides.get(name)
    by_hand = override is not None

    if override is not None:
        if override.template:
            row = _template_row(name, inputs, by_hand=True)
            return row or _missing(name, wanted, by_hand, "the template lacks it")
        if override.is_left_out:
            return None if target is None else _missing(name, wanted, by_hand, "left out by hand")
        candidates = [SourceRef(override.source, override.key)]
        if inputs.info(candidates[0]) is None:
            detail = f"source {override.source + 1} has no {override.key!r}"
            return _missing(name, wanted, by_hand, detail)
    if not candidates:
        if spec.keep_template:
            row = _template_row(name, inputs, by_hand=False)
            if row is not None:
                return row
        return _missing(name, wanted, by_hand, "no source maps onto it")
    first = inputs.info(candidates[0])
    if len(candidates) > 1:
        detail = ", ".join(f"{ref.key} (source {ref.source + 1})" for ref in candidates)
        return Row(
            name,
            tuple(candidates),
            by_hand,
            first.dtype.name,
            first.shape,
            target_dtype,
            target_shape,
            None,
            None,
            Status.DUPLICATE,
            detail,
        )
    steps = layouts.get(candidates[0], ()) if not by_hand else ()
    try:
        shape, laid_dtype = laid_out(steps, first.shape, first.dtype.name)
    except LayoutError as exc:  # written as nothing; the row says why
        shape, laid_dtype, layout_error = None, None, str(exc)
    else:
        layout_error = None
    if layout_error is not None:
        dtype, status, detail = None, Status.LAYOUT, layout_error
    else:
        dtype, status, detail = _dtype_decision(laid_dtype, target_dtype, spec.cast)
    if steps and layout_error is None:
        detail = f"{describe_layout(steps)}; {detail}" if detail else describe_layout(steps)
    also = ()
    if layout_error is None and target_shape is not None and shape != target_shape:
        same_count = math.prod(shape) == math.prod(target_shape)
        change = f"{list(shape)} -> {list(target_shape)}"
        if same_count and spec.allow_reshape:
            shape = target_shape
            if status is Status.OK:
                status = Status.RESHAPE
            elif status is Status.CAST:
                also = (Status.RESHAPE,)
            detail = f"{detail}; {change}" if detail else change
        else:
            if len(shape) > 1 and tuple(reversed(shape)) == target_shape:
                change += " (the transpose: add a layout rule with a transpose step)"
            elif same_count:
                change += " (same element count: reshape possible)"
            if status is Status.DTYPE:  # both wrong: report both, the shape first as TF does
                also = (Status.DTYPE,)
            status = Status.SHAPE
            detail = f"{change}; {detail}" if detail else change
    return Row(
        name,
        (candidates[0],),
        by_hand,
        first.dtype.name,
        first.shape,
        target_dtype,
        target_shape,
        dtype,
        shape,
        status,
        detail,
        also,
        steps,
    )


def _plain_row(name: str, ref: SourceRef, inputs: RemapInputs) -> Row | None:
    """The row of a plain copy (dtype and shape as the target wants), or None if it is not one."""
    info = inputs.infos[inputs.position[ref]]
    dtype, shape = info.dtype.name, info.shape
    wanted = inputs.target.tensors.get(name) if inputs.target is not None else None
    if wanted is None:
        if inputs.target is not None:
            return None
        return Row(name, (ref,), False, dtype, shape, None, None, dtype, shape, Status.OK)
    if wanted.dtype not in (None, dtype) or wanted.shape not in (None, shape):
        return None
    return Row(
        name, (ref,), False, dtype, shape, wanted.dtype, wanted.shape, dtype, shape, Status.OK
    )


def _missing(name: str, wanted: TargetTensor | None, by_hand: bool, detail: str) -> Row:
    dtype, shape = (wanted.dtype, wanted.shape) if wanted else (None, None)
    return Row(name, (), by_hand, None, None, dtype, shape, None, None, Status.MISSING, detail)


def _template_row(name: str, inputs: RemapInputs, *, by_hand: bool) -> Row | None:
    target = inputs.target
    if target is None or target.template is None or name not in target.template:
        return None
    info = target.template[name]
    wanted = target.tensors.get(name)
    return Row(
        name,
        (),
        by_hand,
        None,
        None,
        wanted.dtype if wanted else None,
        wanted.shape if wanted else None,
        info.dtype.name,
        info.shape,
        Status.TEMPLATE,
        "kept from the template",
    )


def _dtype_decision(
    source: str, target: str | None, cast: str | None
) -> tuple[str | None, Status, str]:
    """The dtype to write, and whether that is a plain copy, a cast or a refused mismatch."""
    if cast is None and target in (None, source):
        return source, Status.OK, ""
    dtype = source
    if cast not in (None, CAST_TO_TARGET) and is_floating(source):
        dtype = cast
    if target is not None and dtype != target:
        if cast == CAST_TO_TARGET and can_cast(source, target):
            dtype = target
        else:
            hint = "" if can_cast(source, target) else " (no cast possible)"
            return None, Status.DTYPE, f"{source} vs {target}{hint}"
    if dtype != source:
        return dtype, Status.CAST, f"{source} -> {dtype}"
    return dtype, Status.OK, ""


_NOT_NUMERIC = {"string", "variant", "resource"}


def is_floating(dtype: str) -> bool:
    return dtype.startswith(("float", "bfloat"))


def can_cast(source: str, target: str) -> bool:
    """Numbers cast to numbers; complex only to complex; strings never."""
    if source in _NOT_NUMERIC or target in _NOT_NUMERIC:
        return False
    return not (source.startswith("complex") and not target.startswith("complex"))


def _problems(
    rows: list[Row],
    unused: list[tuple[SourceRef, str]],
    object_graph: ObjectGraphPlan,
) -> list[Problem]:
    by_status: dict[Status, list[str]] = defaultdict(list)
    for row in rows:
        for status in (row.status, *row.also):
            by_status[status].append(row.name)
    problems = []

    def add(kind: ProblemKind, status: Status | None, words: str, rest: str, names=None) -> None:
        """`words` is "one|many" (a subject and its verb), chosen by the count of names."""
        names = by_status.get(status, []) if names is None else names
        if names:
            message = plural(len(names), *words.split("|")) + rest
            problems.append(Problem(kind, message, tuple(names)))

    add(
        ProblemKind.MISSING,
        Status.MISSING,
        "target name has|target names have",
        ' no source: the restore would fail with "Key ... not found in checkpoint". Map them '
        "(see the suggestions) or keep the template's values.",
    )
    add(
        ProblemKind.SHAPE,
        Status.SHAPE,
        "shape differs|shapes differ",
        " from the target's: TensorFlow would refuse with \"Assign requires shapes of both "
        'tensors to match". Allow reshape where the element count matches.',
    )
    add(
        ProblemKind.DTYPE,
        Status.DTYPE,
        "dtype differs|dtypes differ",
        " from the target's: allow a cast to the target's dtype.",
    )
    add(
        ProblemKind.DUPLICATE,
        Status.DUPLICATE,
        "name gets|names get",
        " two or more sources: drop one with a rule or pick one by hand.",
    )
    add(
        ProblemKind.EMPTY_NAME,
        Status.EMPTY_NAME,
        "tensor has|tensors have",
        " an empty name, which a V2 checkpoint cannot hold (its header has that key): rename it"
        ' with a regex rule such as "^$=name".',
    )
    unused_names = [
        f"{ref.key} (source {ref.source + 1}" + (f" -> {name})" if name != ref.key else ")")
        for ref, name in unused
    ]
    unused_words = "source tensor is|source tensors are"
    add(ProblemKind.UNUSED, None, unused_words, " not used.", unused_names)
    add(
        ProblemKind.LAYOUT,
        Status.LAYOUT,
        "layout step does|layout steps do",
        " not fit the tensor they match: correct the layout rule's pattern or steps.",
    )
    add(ProblemKind.RESHAPED, Status.RESHAPE, "tensor is|tensors are", " reshaped (same count).")
    add(ProblemKind.CAST, Status.CAST, "tensor is|tensors are", " cast to another dtype.")
    add(ProblemKind.TEMPLATE, Status.TEMPLATE, "name keeps|names keep", " the template's value.")
    if object_graph.message:
        problems.append(Problem(ProblemKind.OBJECT_GRAPH, object_graph.message, ()))
    return problems
