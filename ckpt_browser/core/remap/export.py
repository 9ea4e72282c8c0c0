"""The mapping as Python for TensorFlow: `assignment_map`s and `Saver` var_lists.

For users who would rather restore inside their own training script than write a new
checkpoint. The script restores each source by name: `init_from_checkpoint` takes
{checkpoint name: variable name}; a `tf.compat.v1.train.Saver` takes {checkpoint name: variable}.
Neither can cast, reshape or use a template's value; such rows are listed in a comment at the end
(write a new checkpoint with `ckpt-browser remap` for those).

Names are data from the checkpoints: in code they are `repr()` literals, and in the comment they are
escaped onto one line (`printable`), so no name can end the comment and start a line of code.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from ckpt_browser.core.formatting import plural
from ckpt_browser.core.printable import printable
from ckpt_browser.core.remap.plan import Plan, Status
from ckpt_browser.data_files import resource_path
from ckpt_browser.format.names import key_text

# The generated module, with {what}, {sources} and {maps} to fill in (literal braces doubled).
# A resource of its own: it is TensorFlow code for the user's script, never run by this package.
_TEMPLATE = "remap_script.tmpl"


def tensorflow_script(plan: Plan, source_prefixes: Sequence[str]) -> str:
    """A Python module restoring the plan's plain copies; see the module text."""
    maps: list[dict[str, str]] = [{} for _ in source_prefixes]
    not_by_name: list[str] = []
    for row in plan.rows:
        if row.status is Status.OK and row.source is not None:
            # The script names keys as TensorFlow does, by their text (see `format.names`).
            source_key, target_key = key_text(row.source.key), key_text(row.name)
            if source_key is not None and target_key is not None:
                maps[row.source.source][source_key] = target_key
            else:
                not_by_name.append(f"{row.name}: its key is bytes that are not text")
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
    template = resource_path(_TEMPLATE)
    if template is None:
        raise FileNotFoundError(f"the script template resources/{_TEMPLATE} is not installed")
    header = template.read_text(encoding="utf-8")
    text = header.format(
        what=f"{plural(count, 'variable')} from {plural(len(source_prefixes), 'checkpoint')}",
        sources=sources,
        maps=rendered_maps,
    )
    if not_by_name:
        text += (
            "\n# Not restorable by name (need a cast, a reshape or the template's value);\n"
            "# write a new checkpoint with `ckpt-browser remap` for these:\n"
        )
        text += "".join(f"#   {printable(line)}\n" for line in not_by_name)
    return text
