"""Building many small objects without Python's cyclic garbage collector running meanwhile.

Opening an index of 100,000 tensors, planning a remap or loading a graph allocates that many small
objects, none of them in reference cycles; the collector would walk them again and again (a
quarter to a third of the time, and pauses of ~100 ms that make a window stutter).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Disable the cyclic collector inside the block (reference counting still frees objects)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
