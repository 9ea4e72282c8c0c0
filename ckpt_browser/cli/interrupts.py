"""SIGTERM handled like Ctrl-C while a command runs, so that a killed write cleans up after itself.

Python ends on SIGTERM without running `finally` blocks or `with` exits, so `kill` during a remap
or an export would leave its temporary files behind (a data file of up to hundreds of MB). Inside
`sigterm_interrupts()`, SIGTERM raises `Terminated` in the main thread instead: a KeyboardInterrupt,
so that no `except Exception` swallows it, and every writer removes its temporary files as for
Ctrl-C. A second SIGTERM during that cleanup ends the process at once.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

EXIT_TERMINATED = 128 + int(signal.SIGTERM)  # what a shell reports for a process ended by SIGTERM


class Terminated(KeyboardInterrupt):
    """The process was asked to terminate (SIGTERM)."""


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Within the block, SIGTERM raises Terminated (only the main thread can take signals)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
