"""Short names for two checkpoints shown side by side, long enough to tell them apart.

A checkpoint is named by the last part of its prefix (`model-3000`), but two training runs often
save under the same name (`run1/model`, `run2/model`), and "model ↔ model" says nothing. So when
the last parts collide, each name takes parent folders until the two differ: the shortest
distinguishing parent path. Prefixes are paths or URLs; both `/` and `\\` separate parts. A
SavedModel's variables (`my_model/variables/variables`) are named by the SavedModel's folder.
"""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[/\\]+")


def pair_names(prefix_a: str, prefix_b: str) -> tuple[str, str]:
    """The names of `prefix_a` and `prefix_b` for a title: their last parts, or when those are
    equal, each with as many parent folders as it takes to differ.

    `run1/model` and `run2/model` for `/x/run1/model` and `/x/run2/model`; `model-3000` and
    `model-5000` for two saves in one folder. A prefix whose parts run out first is shown whole.
    Two equal prefixes (a checkpoint against itself) keep their last part.
    """
    parts_a, parts_b = _parts(prefix_a), _parts(prefix_b)
    if parts_a == parts_b:
        return parts_a[-1], parts_b[-1]
    depth = 1
    while parts_a[-depth:] == parts_b[-depth:]:  # the lists differ, so this stops
        depth += 1
    return _tail(prefix_a, parts_a, depth), _tail(prefix_b, parts_b, depth)


def checkpoint_name(prefix: str) -> str:
    """The name of one checkpoint for a window title: `model-3000`, or `my_model` for the
    variables of the SavedModel in folder `my_model`."""
    return _parts(prefix)[-1]


_SAVED_MODEL_VARIABLES = ["variables", "variables"]


def _parts(prefix: str) -> list[str]:
    parts = [part for part in _SEPARATORS.split(prefix) if part]
    if len(parts) > 2 and parts[-2:] == _SAVED_MODEL_VARIABLES:
        parts = parts[:-2]  # the SavedModel's folder names it
    return parts or [prefix]


def _tail(prefix: str, parts: list[str], depth: int) -> str:
    """The last `depth` parts joined by "/", or the whole prefix if it has no more parts."""
    if depth > len(parts):  # every part shared with the other, which is longer: show it all
        return prefix
    return "/".join(parts[-depth:])
