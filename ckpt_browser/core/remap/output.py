"""Where a remapped checkpoint goes unless the user says otherwise.

Beside the source's folder, not inside it: checkpoints often sit in read-only or shared folders
(a downloaded release, a team's run directory), and a new folder next to the old one is where a
user looks for it. A folder that exists is never reused (`-2`, `-3`, ...); when the source's
parent cannot be written, the output goes to the user's Documents folder (or home) instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import NamedTuple

SUFFIX = "-remapped"


class DefaultOutput(NamedTuple):
    prefix: str
    note: str  # why the output is not beside the source ("" when it is)


def is_writable(directory: str) -> bool:
    return os.path.isdir(directory) and os.access(directory, os.W_OK | os.X_OK)


def default_output(
    source_prefix: str,
    *,
    home: str | None = None,
    writable: Callable[[str], bool] = is_writable,
) -> DefaultOutput:
    """`<parent>/<source folder>-remapped/<prefix name>`, or the same under Documents or home."""
    name = os.path.basename(source_prefix) or "model.ckpt"
    if "://" in source_prefix:  # a URL: no local folder beside it
        source_dir, parent = "checkpoint", ""
    else:
        source_dir = os.path.dirname(os.path.abspath(source_prefix))
        parent = os.path.dirname(source_dir)
    folder = (os.path.basename(source_dir) or "checkpoint") + SUFFIX
    note = ""
    has_parent = bool(parent) and parent != source_dir
    if not (has_parent and writable(parent)):
        home = home if home is not None else os.path.expanduser("~")
        documents = os.path.join(home, "Documents")
        base = documents if os.path.isdir(documents) else home
        why = f"{parent} cannot be written to" if has_parent else "the source has no folder"
        note = f"{why}, so the output goes to {base}."
        parent = base
    candidate, number = folder, 1
    while os.path.lexists(os.path.join(parent, candidate)):
        number += 1
        candidate = f"{folder}-{number}"
    return DefaultOutput(os.path.join(parent, candidate, name), note)
