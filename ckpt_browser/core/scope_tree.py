"""The variables of a checkpoint as a tree of name scopes, with totals, filtering and natural order.

Names split on "/" into scopes (TF2 keys by their readable object path, `model/dense/kernel`,
keeping the raw key on the leaf). A name can be a tensor and a scope at once (TF1 `w` beside its
optimizer slot `w/Adam`): that node has `info` set and children, and totals count each tensor once.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ckpt_browser.format import TensorInfo
    from ckpt_browser.format.dtypes import DType

FILTER_MODES = ("substring", "glob", "regex")
_DIGIT_RUNS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple:
    """A sort key that orders digit runs by value: `layer_2` < `layer_10`, `block1/x` < `block10/x`.

    Text compares case-insensitively; the name itself breaks ties (`Dense` vs `dense`, `01` vs `1`).
    """
    parts: list[str | int] = _DIGIT_RUNS.split(name)
    for i in range(1, len(parts), 2):  # split() puts the digit runs at the odd positions
        parts[i] = int(parts[i])
    for i in range(0, len(parts), 2):
        parts[i] = parts[i].casefold()  # type: ignore[union-attr]
    return (tuple(parts), name)  # nested: a trailing name must not meet an int of a longer key


@dataclass(eq=False, slots=True)
class ScopeNode:
    """A scope (folder), a tensor (leaf, `info` set), or both; totals cover everything below."""

    name: str  # the last path segment; "" for the root
    path: str  # segments joined by "/"; "" for the root
    info: TensorInfo | None = None
    children: list[ScopeNode] = field(default_factory=list)  # in natural order
    parameters: int = 0  # numeric elements of this tensor and of every tensor below
    nbytes: int = 0  # stored bytes, likewise
    leaf_count: int = 0  # tensors here and below
    parent: ScopeNode | None = field(default=None, repr=False)

    @property
    def is_tensor(self) -> bool:
        return self.info is not None

    @property
    def key(self) -> str | None:
        """The checkpoint key of this tensor (differs from `path` for TF2 readable names)."""
        return self.info.name if self.info is not None else None

    @property
    def dtype(self) -> DType | None:
        return self.info.dtype if self.info is not None else None

    @property
    def shape(self) -> tuple[int, ...] | None:
        return self.info.shape if self.info is not None else None

    def child(self, name: str) -> ScopeNode | None:
        """The direct child called `name`, if any."""
        for node in self.children:
            if node.name == name:
                return node
        return None

    def find(self, path: str) -> ScopeNode | None:
        """The node at `path` below this one ("" is this node)."""
        node: ScopeNode | None = self
        for segment in _segments(path):
            node = node.child(segment) if node is not None else None
        return node

    def walk(self) -> Iterator[ScopeNode]:
        """This node and every node below it, depth first in display order."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))

    def tensors(self) -> Iterator[ScopeNode]:
        """Every node below (and including) this one that holds a tensor, in display order."""
        return (node for node in self.walk() if node.info is not None)


def parameters_of(info: TensorInfo) -> int:
    """The tensor's elements if they are numbers (or bools); 0 for strings, variants, resources.

    A vocabulary or the TF2 object-graph string is data, not parameters: counting its elements
    made a model's parameter count depend on what else was saved beside it.
    """
    return info.size if info.dtype.is_fixed_size else 0


@dataclass(frozen=True)
class Totals:
    """What a status bar says of a set of tensors."""

    variables: int  # tensors (partitioned ones once)
    parameters: int  # numeric elements of all of them (see `parameters_of`)
    nbytes: int  # stored bytes
    model_parameters: int  # numeric elements of model variables only (no optimizer, EMA, counters)
    strings: int = 0  # elements of string tensors, counted apart from the parameters

    @classmethod
    def of(cls, infos: Iterable[TensorInfo]) -> Totals:
        variables = parameters = nbytes = model_parameters = strings = 0
        for info in infos:
            variables += 1
            numeric = parameters_of(info)
            parameters += numeric
            nbytes += info.nbytes
            if info.dtype.is_string:
                strings += info.size
            if _kind_value(info.kind) == "variable":
                model_parameters += numeric
        return cls(variables, parameters, nbytes, model_parameters, strings)


def build_tree(infos: Iterable[TensorInfo], *, use_readable_names: bool = True) -> ScopeNode:
    """The scope tree of `infos`, children in natural order and totals filled in.

    Two tensors that would land on the same path (their readable names agree, or `a//b` and
    `a/b`) both stay: the later one is shown under its raw checkpoint key beside the first.
    """
    root = ScopeNode("", "")
    # Children by name while building; the lists are filled and sorted once at the end.
    children_of: dict[int, dict[str, ScopeNode]] = {id(root): {}}
    # Scope path -> node: most tensors share their scope with the previous one, so one lookup
    # replaces walking down from the root.
    scopes: dict[str, ScopeNode] = {"": root}
    for info in infos:
        path = info.readable_name if use_readable_names else info.name
        scope_path, _, leaf = path.rpartition("/")
        parent = scopes.get(scope_path)
        if parent is None or not leaf:
            segments = _segments(path)
            leaf = segments.pop() if segments else ""
            parent = root
            for segment in segments:
                parent = _child_for(parent, segment, children_of)
                scopes[parent.path] = parent
        node = _child_for(parent, leaf, children_of) if leaf else root
        if node is root or node.info is not None:
            node = _free_node_for_key(parent, info.name, children_of)
        else:
            scopes[node.path] = node  # TF1 `w` is the scope of `w/Adam`
        node.info = info
    for children in children_of.values():
        for child in children.values():
            child.parent.children.append(child)  # type: ignore[union-attr]
    _sort_and_total(root, sort=True)
    return root


def _free_node_for_key(parent: ScopeNode, key: str, children_of: dict[int, dict[str, ScopeNode]]):
    """A node under `parent` named after the raw key, for a tensor whose path is taken."""
    node, suffix = _child_for(parent, key, children_of), 1
    while node.info is not None:
        suffix += 1
        node = _child_for(parent, f"{key} ({suffix})", children_of)
    return node


def _child_for(parent: ScopeNode, segment: str, children_of: dict[int, dict[str, ScopeNode]]):
    children = children_of[id(parent)]
    node = children.get(segment)
    if node is None:
        node = ScopeNode(segment, f"{parent.path}/{segment}" if parent.path else segment)
        node.parent = parent
        children[segment] = node
        children_of[id(node)] = {}
    return node


def _segments(path: str) -> list[str]:
    return [segment for segment in path.split("/") if segment]


def _sort_and_total(root: ScopeNode, *, sort: bool) -> None:
    """Sum the totals bottom up (without recursion), sorting children naturally if asked."""
    for node in reversed(_preorder(root)):  # children before their parent
        if sort and len(node.children) > 1:
            node.children.sort(key=_name_key)
        parameters = nbytes = leaves = 0
        if node.info is not None:
            parameters, nbytes, leaves = parameters_of(node.info), node.info.nbytes, 1
        for child in node.children:
            parameters += child.parameters
            nbytes += child.nbytes
            leaves += child.leaf_count
        node.parameters, node.nbytes, node.leaf_count = parameters, nbytes, leaves


@lru_cache(maxsize=1 << 16)
def _cached_natural_key(name: str) -> tuple:
    return natural_key(
        name
    )  # the same segment names (kernel, bias, layer_3) recur thousands of times


def _name_key(node: ScopeNode) -> tuple:
    return _cached_natural_key(node.name)


def _preorder(root: ScopeNode) -> list[ScopeNode]:
    order, stack = [], [root]
    while stack:
        node = stack.pop()
        order.append(node)
        stack.extend(node.children)
    return order


def filter_tree(
    root: ScopeNode,
    pattern: str,
    mode: str = "substring",
    hidden_kinds: Iterable[object] = frozenset(),
) -> ScopeNode:
    """A new tree of the tensors that match `pattern` and are not of a hidden kind.

    Matching is case-insensitive, on the path and on the raw key. `substring` finds the text
    anywhere; `glob` (`*`, `?`, `[...]`) must match the whole path or a tail of it that starts at a
    scope (`kernel`, `dense*/kernel`); `regex` searches. A scope that matches keeps all of its
    tensors; the parents of every kept tensor stay, with totals recomputed. An empty pattern keeps
    every tensor. `hidden_kinds` holds TensorKind values (or their strings: "optimizer", "ema",
    "counter", "object_graph"). An invalid regex raises ValueError saying what is wrong.
    """
    matches = _matcher(pattern, mode)
    hidden = {_kind_value(kind) for kind in hidden_kinds}
    # A scope's path is the start of every path below it, so for a substring a matching scope
    # adds nothing; glob and regex (`dense$`) can match a scope but none of its tensors.
    check_scopes = bool(pattern) and mode != "substring"
    kept: list[ScopeNode] = []  # matching tensors, in display order
    stack: list[tuple[ScopeNode, bool]] = [(child, False) for child in reversed(root.children)]
    while stack:
        node, inherited = stack.pop()
        info = node.info
        visible = info is not None and (not hidden or _kind_value(info.kind) not in hidden)
        if visible and (inherited or matches(node.path, info.name)):
            kept.append(node)
        if node.children:
            below = inherited or (check_scopes and matches(node.path, None))
            stack.extend((child, below) for child in reversed(node.children))
    return _copy_with_ancestors(root, kept)


def _copy_with_ancestors(root: ScopeNode, kept: list[ScopeNode]) -> ScopeNode:
    """A new tree holding the `kept` tensor nodes and the scopes above them (same order)."""
    new_root = ScopeNode(root.name, root.path)
    copies: dict[int, ScopeNode] = {id(root): new_root}
    for node in kept:
        chain = []  # the node and its ancestors that have no copy yet, bottom up
        original: ScopeNode | None = node
        while original is not None and id(original) not in copies:
            chain.append(original)
            original = original.parent
        parent_copy = copies[id(original)]
        for original in reversed(chain):
            copy = ScopeNode(original.name, original.path)
            copy.parent = parent_copy
            parent_copy.children.append(copy)
            copies[id(original)] = parent_copy = copy
        copies[id(node)].info = node.info
    _sort_and_total(new_root, sort=False)
    return new_root


def _matcher(pattern: str, mode: str) -> Callable[[str, str | None], bool]:
    """A test (path, raw key) -> bool for `pattern` in `mode`."""
    if mode not in FILTER_MODES:
        raise ValueError(f"unknown filter mode {mode!r}; use one of {', '.join(FILTER_MODES)}")
    if not pattern:
        return lambda path, key: True
    if mode == "substring":
        needle = pattern.casefold()
        return lambda path, key: (
            needle in path.casefold()
            or (key is not None and key != path and needle in key.casefold())
        )
    if mode == "regex":
        try:
            compiled = re.compile(pattern, re.IGNORECASE)
        except re.error as error:
            where = f" at position {error.pos}" if error.pos is not None else ""
            message = f"invalid regular expression {pattern!r}: {error.msg}{where}"
            raise ValueError(message) from None
    else:
        # The whole text, or a tail of it that starts after a "/", must match the glob.
        compiled = re.compile(r"(?:\A|(?<=/))" + fnmatch.translate(pattern), re.IGNORECASE)
    return lambda path, key: bool(
        compiled.search(path) or (key is not None and key != path and compiled.search(key))
    )


def _kind_value(kind: object) -> str:
    # TensorKind is a str Enum whose hash is its member name's: compare by value, not by member.
    return str(getattr(kind, "value", kind))
