"""How the bytes of a string tensor are shown: as text, as hex, or as the TF2 object graph.

A string tensor holds bytes. Most are text (vocabularies, file names), but some are serialized
protos or raw binary: decoding those as UTF-8 with escapes gives a line of noise. Bytes that are
not UTF-8 text, or that hold control characters other than tab and line breaks, are shown as hex
with their printable ASCII alongside, as `xxd` does. The TF2 object graph string is decoded and
shown as the tree of objects it describes.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ckpt_browser.format import CheckpointError

if TYPE_CHECKING:
    from ckpt_browser.format.object_graph import ObjectGraph, ObjectNode

HEX_DUMP_MAX_BYTES = 256 * 1024  # about 1.1 MB of text, which a text view still shows at once
MAX_INDENT = 40  # tree levels drawn indented; deeper objects line up at this depth
_NON_TEXT_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # all but \t \n \r


def is_text(data: bytes) -> bool:
    """True for bytes that are UTF-8 text without control characters besides tab and newlines."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return _NON_TEXT_CONTROLS.search(text) is None


def _printable(data: bytes) -> str:
    return "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in data)


def hex_cell(data: bytes) -> str:
    """One line for a table cell: `ff fe 62 61 64  |..bad|`."""
    return f"{data.hex(' ')}  |{_printable(data)}|"


def hex_dump(data: bytes, width: int = 16, max_bytes: int = HEX_DUMP_MAX_BYTES) -> str:
    """Offset, hex bytes and printable ASCII, `width` bytes a line (the first `max_bytes`)."""
    shown = data[:max_bytes]
    lines = []
    for offset in range(0, len(shown), width):
        chunk = shown[offset : offset + width]
        lines.append(f"{offset:08x}  {chunk.hex(' '):<{3 * width - 1}}  |{_printable(chunk)}|")
    if len(data) > max_bytes:
        lines.append(f"… {len(data) - max_bytes:,} more bytes not shown ({len(data):,} in all)")
    return "\n".join(lines)


def describe_bytes(data: bytes) -> str:
    """A scalar string as a reader wants it: the text itself, or a hex dump under a title."""
    if is_text(data):
        return data.decode("utf-8")
    return f"{len(data):,} bytes, not text; shown as hex:\n\n{hex_dump(data)}"


def object_graph_text(data: bytes) -> str:
    """The `_CHECKPOINTABLE_OBJECT_GRAPH` string decoded: its objects as an indented tree.

    Each object shows its id, its name under its parent, the tensors saved for it (attribute and
    checkpoint key) and, for an optimizer, which of its objects are slots of which variable.
    An object reached a second time (objects may be shared) is named but not expanded again.
    A string that does not parse is shown as hex under the reason.
    """
    # Imported here, as the format layer does: protobuf is not needed until a graph is read.
    from ckpt_browser.format.object_graph import ObjectGraph

    try:
        graph = ObjectGraph.parse(data)
    except CheckpointError as exc:
        return f"The object graph could not be decoded: {exc}\n\n{hex_dump(data)}"
    keys = sum(len(node.attributes) for node in graph.nodes)
    lines = [
        f"TF2 object graph: {len(graph.nodes):,} objects, {keys:,} saved tensors",
        "",
        "#0 (root)",
    ]
    shown = {0}
    _describe_node(graph, graph.nodes[0], "", lines, shown)
    # Depth first, children in stored order; a stack rather than recursion, since a hostile
    # graph may be a chain deeper than Python's recursion limit.
    stack: list[tuple[ObjectNode, int, str]] = [(graph.nodes[0], 0, "")]
    while stack:
        node, child_index, prefix = stack.pop()
        if child_index >= len(node.children):
            continue
        stack.append((node, child_index + 1, prefix))
        last = child_index == len(node.children) - 1
        name, child_id = node.children[child_index]
        branch, inner = ("└─ ", "   ") if last else ("├─ ", "│  ")
        child = graph.nodes[child_id]
        if child_id in shown:
            lines.append(f"{prefix}{branch}{name}  #{child_id}  (shown above)")
            continue
        shown.add(child_id)
        lines.append(f"{prefix}{branch}{name}  #{child_id}")
        # Past MAX_INDENT levels the indentation stops growing: a chain of n objects would
        # otherwise take n * n characters.
        deeper = prefix + inner if len(prefix) < 3 * MAX_INDENT else prefix
        _describe_node(graph, child, deeper, lines, shown)
        stack.append((child, 0, deeper))
    unreached = [node for node in graph.nodes if node.id not in shown]
    if unreached:
        lines += ["", "Objects no path from the root reaches:"]
        for node in unreached:
            lines.append(f"#{node.id}")
            _describe_node(graph, node, "   ", lines, shown)
    return "\n".join(lines)


def _describe_node(
    graph: ObjectGraph, node: ObjectNode, prefix: str, lines: list[str], shown: set[int]
) -> None:
    """The tensors saved for `node` and, for an optimizer, its slots with their tensors."""
    _attribute_lines(node, prefix, lines)
    for slot in node.slot_variables:
        variable = graph.nodes[slot.original_node].path or f"#{slot.original_node}"
        lines.append(
            f"{prefix}  slot {slot.slot_name!r} of #{slot.original_node} ({variable}): "
            f"#{slot.slot_node}"
        )
        if slot.slot_node not in shown:
            shown.add(slot.slot_node)
            _attribute_lines(graph.nodes[slot.slot_node], prefix + "    ", lines)


def _attribute_lines(node: ObjectNode, prefix: str, lines: list[str]) -> None:
    for attribute in node.attributes:
        full_name = f"  ({attribute.full_name})" if attribute.full_name else ""
        lines.append(f"{prefix}  = {attribute.name}: {attribute.checkpoint_key}{full_name}")
