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
    return (*parts, name)


@dataclass(eq=False)
class ScopeNode:
    """A scope (folder), a tensor (leaf, `info` set), or both; totals cover everything below."""

    name: str  # the last path segment; "" for the root
    path: str  # segments joined by "/"; "" for the root
    info: TensorInfo | None = None
    children: list[ScopeNode] = field(default_factory=list)  # in natural order
    parameters: int = 0  # elements of this tensor and of every tensor below
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


@dataclass(frozen=True)
class Totals:
    """What a status bar says of a set of tensors."""

    variables: int  # tensors (partitioned ones once)
    parameters: int  # elements of all of them
    nbytes: int  # stored bytes
    model_parameters: int  # elements of model variables only (no optimizer, EMA, counters)

    @classmethod
    def of(cls, infos: Iterable[TensorInfo]) -> Totals:
        variables = parameters = nbytes = model_parameters = 0
        for info in infos:
            variables += 1
            parameters += info.size
            nbytes += info.nbytes
            if _kind_value(info.kind) == "variable":
                model_parameters += info.size
        return cls(variables, parameters, nbytes, model_parameters)


def build_tree(infos: Iterable[TensorInfo], *, use_readable_names: bool = True) -> ScopeNode:
    """The scope tree of `infos`, children in natural order and totals filled in.

    Two tensors that would land on the same path (their readable names agree, or `a//b` and
    `a/b`) both stay: the later one is shown under its raw checkpoint key beside the first.
    """
    root = ScopeNode("", "")
    # Children by name while building; the lists are filled and sorted once at the end.
    index: dict[int, dict[str, ScopeNode]] = {id(root): {}}
    for info in infos:
        node = root
        for segment in _segments(info.readable_name if use_readable_names else info.name):
            node = _child_for(node, segment, index)
        if node is root or node.info is not None:
            node = _free_node_for_key(node.parent or root, info.name, index)
        node.info = info
    for children in index.values():
        for child in children.values():
            child.parent.children.append(child)  # type: ignore[union-attr]
    _finish(root)
    return root


def _free_node_for_key(parent: ScopeNode, key: str, index: dict[int, dict[str, ScopeNode]]):
    """A node under `parent` named after the raw key, for a tensor whose path is taken."""
    node, suffix = _child_for(parent, key, index), 1
    while node.info is not None:
        suffix += 1
        node = _child_for(parent, f"{key} ({suffix})", index)
    return node


def _child_for(parent: ScopeNode, segment: str, index: dict[int, dict[str, ScopeNode]]):
    children = index[id(parent)]
    node = children.get(segment)
    if node is None:
        path = f"{parent.path}/{segment}" if parent.path else segment
        node = ScopeNode(segment, path, parent=parent)
        children[segment] = node
        index[id(node)] = {}
    return node


def _segments(path: str) -> list[str]:
    return [segment for segment in path.split("/") if segment]


def _finish(root: ScopeNode) -> None:
    """Sort children naturally and sum the totals, bottom up, without recursion."""
    for node in reversed(_preorder(root)):  # children before their parent
        node.children.sort(key=lambda child: natural_key(child.name))
        parameters = nbytes = leaves = 0
        if node.info is not None:
            parameters, nbytes, leaves = node.info.size, node.info.nbytes, 1
        for child in node.children:
            parameters += child.parameters
            nbytes += child.nbytes
            leaves += child.leaf_count
        node.parameters, node.nbytes, node.leaf_count = parameters, nbytes, leaves


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
    new_root = ScopeNode(root.name, root.path)
    # Depth first; each entry: (original node, its copy, whether a scope above it matched).
    stack: list[tuple[ScopeNode, ScopeNode, bool]] = [(root, new_root, False)]
    while stack:
        node, copy, inherited = stack.pop()
        matched = inherited or (node is not root and matches(node.path, node.key))
        if node.info is not None and matched and _kind_value(node.info.kind) not in hidden:
            copy.info = node.info
        for child in node.children:
            child_copy = ScopeNode(child.name, child.path, parent=copy)
            copy.children.append(child_copy)
            stack.append((child, child_copy, matched))
    _prune_and_total(new_root)
    return new_root


def _prune_and_total(root: ScopeNode) -> None:
    """Drop scopes left without tensors and recompute totals (children already in order)."""
    for node in reversed(_preorder(root)):
        node.children = [child for child in node.children if child.leaf_count]
        parameters = nbytes = leaves = 0
        if node.info is not None:
            parameters, nbytes, leaves = node.info.size, node.info.nbytes, 1
        for child in node.children:
            parameters += child.parameters
            nbytes += child.nbytes
            leaves += child.leaf_count
        node.parameters, node.nbytes, node.leaf_count = parameters, nbytes, leaves


def _matcher(pattern: str, mode: str) -> Callable[[str, str | None], bool]:
    """A test (path, raw key) -> bool for `pattern` in `mode`."""
    if mode not in FILTER_MODES:
        raise ValueError(f"unknown filter mode {mode!r}; use one of {', '.join(FILTER_MODES)}")
    if not pattern:
        return lambda path, key: True
    if mode == "substring":
        needle = pattern.casefold()
        return lambda path, key: (
            needle in path.casefold() or (key is not None and needle in key.casefold())
        )
    if mode == "regex":
        try:
            compiled = re.compile(pattern, re.IGNORECASE)
        except re.error as error:
            where = f" at position {error.pos}" if error.pos is not None else ""
            message = f"invalid regular expression {pattern!r}: {error.msg}{where}"
            raise ValueError(message) from None
        return lambda path, key: bool(
            compiled.search(path) or (key is not None and compiled.search(key))
        )
    glob = re.compile(fnmatch.translate(pattern), re.IGNORECASE)

    def glob_matches(path: str, key: str | None) -> bool:
        for text in (path, key) if key is not None else (path,):
            segments = text.split("/")
            if any(glob.match("/".join(segments[i:])) for i in range(len(segments))):
                return True
        return False

    return glob_matches


def _kind_value(kind: object) -> str:
    # TensorKind is a str Enum whose hash is its member name's: compare by value, not by member.
    return str(getattr(kind, "value", kind))
