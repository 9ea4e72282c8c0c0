"""What a timeline follows: one variable, or a scope's parameters taken together as one vector.

A subject is found in a reference checkpoint (by default the newest that has it) and looked up in
every other checkpoint of the run. A variable is matched by its key, else by its readable name (a
TF2 object path); a scope by the readable names of its parameters. A checkpoint where a member is
missing, or has another shape or dtype, is a gap whose reason says which and how.

A scope's parameters are its model variables with floating-point values (no optimizer slots, EMA
shadows or counters); a scope holding no model variable, such as `optimizer`, takes every float
tensor under it. A name that is both a variable and a scope (TF1 `w` beside `w/Adam`) means the
variable; a trailing `/` asks for the scope.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ckpt_browser.core.tensor.distances import FLOAT, category
from ckpt_browser.format import Checkpoint, CheckpointError, TensorInfo, TensorKind


@dataclass(frozen=True)
class Member:
    """One tensor of a subject as the reference checkpoint holds it."""

    key: str  # the checkpoint key
    label: str  # the readable name (TF2: object path), what scopes are made of
    shape: tuple[int, ...]
    dtype: str  # numpy's name: float32, bfloat16 ...

    @classmethod
    def of(cls, info: TensorInfo) -> Member:
        return cls(info.name, label_of(info), tuple(info.shape), info.dtype.name)

    @property
    def size(self) -> int:
        count = 1
        for length in self.shape:
            count *= length
        return count


@dataclass(frozen=True)
class Subject:
    """A variable (one member) or a scope (its parameters, in name order)."""

    name: str  # the variable's label or the scope's path, as shown
    is_scope: bool
    members: tuple[Member, ...]

    @property
    def size(self) -> int:
        return sum(member.size for member in self.members)


def label_of(info: TensorInfo) -> str:
    return info.readable_name or info.name


def is_float(info: TensorInfo) -> bool:
    numpy_dtype = info.dtype.numpy
    return numpy_dtype is not None and category(numpy_dtype) == FLOAT


def parameters(checkpoint: Checkpoint) -> list[TensorInfo]:
    """The model variables with float values, in name order: what a model learns."""
    found = [
        info for info in checkpoint.values() if info.kind is TensorKind.VARIABLE and is_float(info)
    ]
    return sorted(found, key=label_of)


def find_subject(checkpoint: Checkpoint, name: str) -> Subject:
    """The variable or scope `name` means in `checkpoint`; CheckpointError when neither."""
    wants_scope = name.endswith("/")
    scope = name.strip("/")
    if not wants_scope:
        info = _variable(checkpoint, name)
        if info is not None:
            return Subject(label_of(info), False, (Member.of(info),))
    members = scope_members(checkpoint, scope)
    if members:
        return Subject(scope, True, tuple(Member.of(info) for info in members))
    if wants_scope or not scope:
        raise CheckpointError(f"no float tensors under the scope {scope!r}", checkpoint.prefix)
    raise CheckpointError(f"{name!r} is neither a variable nor a scope", checkpoint.prefix)


def scope_members(checkpoint: Checkpoint, scope: str) -> list[TensorInfo]:
    """The parameters under `scope` (all of them for ""), or else every float tensor under it."""
    prefix = scope + "/" if scope else ""
    under = [info for info in checkpoint.values() if label_of(info).startswith(prefix)]
    floats = [info for info in under if is_float(info) and info.kind is not TensorKind.OBJECT_GRAPH]
    chosen = [info for info in floats if info.kind is TensorKind.VARIABLE] or floats
    return sorted(chosen, key=label_of)


def _variable(checkpoint: Checkpoint, name: str) -> TensorInfo | None:
    if name in checkpoint:
        return checkpoint[name]
    by_label = [info for info in checkpoint.values() if label_of(info) == name]
    return by_label[0] if len(by_label) == 1 else None


def match(checkpoint: Checkpoint, subject: Subject) -> tuple[list[TensorInfo], str | None]:
    """The infos of the subject's members in `checkpoint`, or ([], the reason it is a gap)."""
    if not subject.is_scope:
        member = subject.members[0]
        info = _member_info(checkpoint, member)
        reason = difference(member, info)
        return ([], reason) if reason is not None or info is None else ([info], None)
    present = {label_of(info): info for info in scope_members(checkpoint, subject.name)}
    found = []
    for member in subject.members:
        info = present.get(member.label)
        reason = difference(member, info)
        if reason is not None or info is None:
            return [], f"{member.label}: {reason}"
        found.append(info)
    if len(present) > len(found):
        extra = sorted(set(present) - {member.label for member in subject.members})
        return [], f"{extra[0]}: here, not in the reference" + _more(len(extra) - 1)
    return found, None


def _member_info(checkpoint: Checkpoint, member: Member) -> TensorInfo | None:
    if member.key in checkpoint:
        return checkpoint[member.key]
    return _variable(checkpoint, member.label)


def difference(member: Member, info: TensorInfo | None) -> str | None:
    """Why `info` is not the member of the reference; None when it is."""
    if info is None:
        return "not in this checkpoint"
    if tuple(info.shape) != member.shape:
        return f"shape {list(info.shape)} here, {list(member.shape)} in the reference"
    if info.dtype.name != member.dtype:
        return f"dtype {info.dtype.name} here, {member.dtype} in the reference"
    return None


def _more(count: int) -> str:
    return f" (and {count} more)" if count else ""


def common_root(labels: Iterable[str]) -> str:
    """The longest scope every label lies under ("" when they share none)."""
    split = [label.split("/")[:-1] for label in labels]
    if not split:
        return ""
    root: list[str] = []
    for parts in zip(*split):
        if any(part != parts[0] for part in parts):
            break
        root.append(parts[0])
    return "/".join(root)


def top_level_scopes(labels: Iterable[str], depth: int = 1) -> dict[str, list[str]]:
    """Labels grouped by their scope `depth` levels below the common root of all of them (for a
    TF1 model under `net/`: `net/layer_1`, `net/layer_2`, ...); a label with fewer levels is a
    group of its own. Groups in name order."""
    labels = sorted(labels)
    root = common_root(labels)
    skip = len(root.split("/")) if root else 0
    groups: dict[str, list[str]] = {}
    for label in labels:
        parts = label.split("/")
        scope = "/".join(parts[: min(len(parts), skip + max(1, depth))])
        groups.setdefault(scope, []).append(label)
    return groups
