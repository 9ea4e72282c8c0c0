"""The mapping as Python for TensorFlow: `assignment_map`s and `Saver` var_lists.

For users who would rather restore inside their own training script than write a new
checkpoint. The script restores each source by name: `init_from_checkpoint` takes
{checkpoint name: variable name}; a `tf.compat.v1.train.Saver` takes {checkpoint name: variable}.
Neither can cast, reshape or use a template's value; such rows are listed in a comment at the end
(write a new checkpoint with `ckpt-browser remap` for those).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from .remap_plan import Plan, Status

_HEADER = '''"""Restore {what} into the current TensorFlow graph by name (ckpt-browser remap).

Call `init_from_checkpoints()` while building the graph (before the variable initializer runs),
or `restore_with_savers(session)` after it.
"""

import tensorflow as tf

SOURCES = {sources}

# One dict per source: checkpoint name -> variable name in the graph.
ASSIGNMENT_MAPS = {maps}


def init_from_checkpoints():
    """Make the graph's initializers load the mapped values from the sources."""
    for source, assignment_map in zip(SOURCES, ASSIGNMENT_MAPS):
        if assignment_map:
            tf.compat.v1.train.init_from_checkpoint(source, assignment_map)


def restore_with_savers(session):
    """Restore the mapped variables with one tf.compat.v1.train.Saver per source."""
    variables = {{v.op.name: v for v in tf.compat.v1.global_variables()}}
    for source, assignment_map in zip(SOURCES, ASSIGNMENT_MAPS):
        if assignment_map:
            var_list = {{name: variables[target] for name, target in assignment_map.items()}}
            tf.compat.v1.train.Saver(var_list).restore(session, source)
'''


def tensorflow_script(plan: Plan, source_prefixes: Sequence[str]) -> str:
    """A Python module restoring the plan's plain copies; see the module text."""
    maps: list[dict[str, str]] = [{} for _ in source_prefixes]
    not_by_name: list[str] = []
    for row in plan.rows:
        if row.status is Status.OK and row.source is not None:
            maps[row.source.source][row.source.key] = row.name
        elif row.written:
            not_by_name.append(f"{row.name}: {row.status} ({row.detail})")
    sources = "[\n" + "".join(f"    {os.path.abspath(p)!r},\n" for p in source_prefixes) + "]"
    rendered_maps = "[\n"
    for mapping in maps:
        rendered_maps += "    {\n"
        rendered_maps += "".join(f"        {k!r}: {v!r},\n" for k, v in sorted(mapping.items()))
        rendered_maps += "    },\n"
    rendered_maps += "]"
    count = sum(len(m) for m in maps)
    text = _HEADER.format(
        what=f"{count} variables from {len(source_prefixes)} checkpoint(s)",
        sources=sources,
        maps=rendered_maps,
    )
    if not_by_name:
        text += (
            "\n# Not restorable by name (need a cast, a reshape or the template's value);\n"
            "# write a new checkpoint with `ckpt-browser remap` for these:\n"
        )
        text += "".join(f"#   {line}\n" for line in not_by_name)
    return text
