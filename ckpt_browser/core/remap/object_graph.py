"""Keeping a TF2 output a valid object-based checkpoint.

`tf.train.Checkpoint.restore` finds each object's tensors through the object graph stored under
`_CHECKPOINTABLE_OBJECT_GRAPH`, by the `checkpoint_key` of each attribute. So:

- with a TF2 template as target, the output carries the template's graph, whose keys are exactly
  the target names;
- without a target, a single TF2 source's graph is carried with its `checkpoint_key` entries
  rewritten to the new names, and the attributes of dropped tensors removed (TensorFlow would
  otherwise look for them and fail);
- several TF2 sources cannot share one graph, so it is dropped and the plan says so plainly: the
  output then restores by name (Saver, init_from_checkpoint), not with `tf.train.Checkpoint`.
"""

from __future__ import annotations

import bisect
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ckpt_browser.core.formatting import plural
from ckpt_browser.format import Checkpoint, CheckpointError, protos
from ckpt_browser.format.kinds import OBJECT_GRAPH_KEY
from ckpt_browser.format.names import key_text, name_of_key

if TYPE_CHECKING:
    from ckpt_browser.core.remap.plan import Row
    from ckpt_browser.core.remap.target import Target


@dataclass(frozen=True)
class ObjectGraphPlan:
    """What goes under `_CHECKPOINTABLE_OBJECT_GRAPH` in the output (nothing if `data` is None)."""

    data: bytes | None
    message: str  # for the preview; empty when there is nothing to say
    # The checkpoint whose stored graph `data` comes from, or whose graph cannot be read.
    source: Checkpoint | None = None


def plan_object_graph(
    sources: Sequence[Checkpoint], target: Target | None, rows: Sequence[Row]
) -> ObjectGraphPlan:
    if target is not None:
        if target.object_graph is None:
            tf2_sources = sum(OBJECT_GRAPH_KEY in s for s in sources)  # readable graph or not
            note = (
                "the sources' object graphs are not carried: the target restores by name"
                if tf2_sources
                else ""
            )
            return ObjectGraphPlan(None, note + _damaged_graphs(sources))
        # Every target name is written (or the plan blocks), so the graph's keys all resolve.
        return ObjectGraphPlan(
            target.object_graph, "the output carries the template's object graph", target.template
        )

    with_graph = [n for n, s in enumerate(sources) if s.object_graph is not None]
    if not with_graph:
        return _unreadable_graph(sources)
    if len(with_graph) > 1:
        return ObjectGraphPlan(
            None,
            "the object graph is dropped: several sources are TF2 checkpoints and their graphs "
            "cannot be merged. The output restores by name (Saver, init_from_checkpoint), not "
            "with tf.train.Checkpoint; give a TF2 template as target to keep one.",
        )
    number = with_graph[0]
    renames = {
        row.source.key: row.name
        for row in rows
        if row.written and row.source is not None and row.source.source == number
    }
    source = sources[number]
    data = bytes(source.read(OBJECT_GRAPH_KEY).item())
    new_data, removed = rewrite_object_graph(data, renames, source)
    changed = sum(old != new for old, new in renames.items())
    parts = []
    if changed:
        parts.append(f"{plural(changed, 'checkpoint key')} rewritten")
    if removed:
        parts.append(f"{plural(removed, 'attribute')} of dropped tensors removed")
    note = "the output carries the object graph of source "
    note += f"{number + 1}" + (f" ({', '.join(parts)})" if parts else "")
    return ObjectGraphPlan(new_data, note, source)


def _damaged_graphs(sources: Sequence[Checkpoint]) -> str:
    """A graph left behind is not copied, so its damage stops nothing; but a graph that cannot be
    read because its checksum fails is said (the source is damaged, whatever the output)."""
    damaged = []
    for number, source in enumerate(sources):
        if OBJECT_GRAPH_KEY in source and source.object_graph is None:
            try:
                problem = source.checksum_problem(OBJECT_GRAPH_KEY)
            except CheckpointError:
                problem = None  # not even readable: the warning at open said why
            if problem is not None:
                damaged.append(str(number + 1))
    if not damaged:
        return ""
    which = ("source " if len(damaged) == 1 else "sources ") + ", ".join(damaged)
    return f"; the object graph of {which} is damaged (its checksum does not match)"


def _unreadable_graph(sources: Sequence[Checkpoint]) -> ObjectGraphPlan:
    """No source graph to carry: none is TF2, or one is but its graph cannot be read (damaged
    bytes, a missing shard). The latter is said, and its source kept so that the write checks
    the graph's checksum: a damaged graph is refused like any damaged tensor."""
    unreadable = [n for n, s in enumerate(sources) if OBJECT_GRAPH_KEY in s]
    if len(unreadable) != 1:
        return ObjectGraphPlan(None, "")
    number = unreadable[0]
    return ObjectGraphPlan(
        None,
        f"the object graph of source {number + 1} cannot be read, so the output carries none: "
        "it restores by name (Saver, init_from_checkpoint), not with tf.train.Checkpoint",
        sources[number],
    )


def rewrite_object_graph(
    data: bytes, keys: Mapping[str, str], source_names: Collection[str] = ()
) -> tuple[bytes, int]:
    """Rename attribute keys by `keys` (old -> new names of the written tensors, see
    `format.names`); remove attributes whose tensors are not all written or whose new key is not
    text. `source_names` are all the source's tensors (see `_renamed_attribute`).

    Returns the serialized graph and how many attributes were removed.
    """
    try:
        graph = protos.TrackableObjectGraph.FromString(data)
    except Exception as exc:  # protobuf raises DecodeError or others on bad bytes
        raise CheckpointError(f"the object graph does not parse ({exc})") from None
    sorted_names: list[str] = []  # sorted when first needed: most attributes name one tensor
    removed = 0
    for node in graph.nodes:
        kept = []
        for attribute in node.attributes:
            old_name = name_of_key(attribute.checkpoint_key.encode())
            new_name = keys.get(old_name)
            if new_name is None:
                sorted_names = sorted_names or sorted(source_names)
                new_name = _renamed_prefix(old_name, keys, sorted_names)
            new_key = None if new_name is None else key_text(new_name)
            if new_key is None:
                removed += 1
                continue
            attribute.checkpoint_key = new_key
            kept.append(attribute)
        if len(kept) != len(node.attributes):
            copies = [type(a)() for a in kept]
            for copy, original in zip(copies, kept):
                copy.CopyFrom(original)
            del node.attributes[:]
            node.attributes.extend(copies)
    return graph.SerializeToString(), removed


def _renamed_prefix(old: str, keys: Mapping[str, str], sorted_names: list[str]) -> str | None:
    """The new key of an attribute that names no written tensor, or None if the output cannot
    restore it.

    An attribute's key is its tensor's key, or, for an object saved as several tensors, the
    prefix of theirs: a tf.data iterator saves `<key>_STATE`, a lookup table `<key>-keys` and
    `<key>-values`, and TensorFlow finds them by adding the suffix. Such a key is renamed when
    every source tensor under it is written, each under one new prefix with its own suffix.
    """
    start = bisect.bisect_left(sorted_names, old)
    if start < len(sorted_names) and sorted_names[start] == old:
        return None  # the tensor itself was dropped
    parts = []
    for name in sorted_names[start:]:
        if not name.startswith(old):
            break
        parts.append(name)
    prefixes = set()
    for name in parts:
        suffix, new = name[len(old) :], keys.get(name)
        if new is None or not new.endswith(suffix):
            return None  # dropped, or renamed so that no one key finds it
        prefixes.add(new[: len(new) - len(suffix)])
    return prefixes.pop() if len(prefixes) == 1 else None
