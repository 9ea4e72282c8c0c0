"""A guard against a reference-count bug in PySide6's signals on Python before 3.12.

PySide6 6.12.0 returns `True` from `SignalInstance.emit()` and `.disconnect()` without taking a
reference to it. Each call therefore gives away one reference to the `True` singleton. From
Python 3.12 on, `True` is immortal and nothing happens; on 3.11 every signal emitted from Python
(pyqtgraph emits one per mouse move over a plot) brings `True` closer to being freed, and the
interpreter aborts with "Fatal Python error: bool_dealloc" (at the latest when it exits).

The guard checks whether this PySide6 has the bug (a few emits on a probe object) and, if so,
gives `True` a reference count so large that it cannot run out, which is what Python 3.12 does
for every bool. It is applied once, when `ckpt_browser.ui` is imported.
"""

from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QObject, Signal

_PROBE_EMITS = 16
_RESERVE = 1 << 40  # more references than a process can give away in its lifetime


class _Probe(QObject):
    fired = Signal()


def emit_loses_references() -> bool:
    """True if emitting a signal takes a reference away from `True` (the PySide6 bug)."""
    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(_PROBE_EMITS):
        probe.fired.emit()
    lost = before - sys.getrefcount(True)
    return lost >= _PROBE_EMITS


def protect_bool_singletons() -> bool:
    """Make `True` practically immortal if this Python and PySide6 need it; True if applied."""
    if sys.version_info >= (3, 12) or not emit_loses_references():
        return False
    # ob_refcnt is the first field of every CPython object header (a Py_ssize_t).
    refcount = ctypes.c_ssize_t.from_address(id(True))
    refcount.value += _RESERVE
    return True
