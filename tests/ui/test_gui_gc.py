"""Cyclic garbage is collected in the GUI thread, never in a worker (where Qt objects can't die)."""

from __future__ import annotations

import gc
import threading
import weakref

from PySide6.QtCore import QObject

from ckpt_browser.ui.app import make_application
from ckpt_browser.ui.gui_gc import INTERVAL_MS


def test_a_qt_object_in_a_reference_cycle_dies_in_the_gui_thread(qtbot):
    make_application()
    assert not gc.isenabled()  # the automatic collector would run in any allocating thread
    destroyed_in: list[str] = []

    class Holder:
        pass

    holder = Holder()
    holder.obj = QObject()
    holder.itself = holder  # a cycle: only the collector frees it
    holder.obj.destroyed.connect(lambda: destroyed_in.append(threading.current_thread().name))
    alive = weakref.ref(holder)
    del holder

    def allocate_in_a_worker() -> None:
        garbage = [[i] for i in range(200_000)]  # would trigger an automatic collection
        del garbage

    worker = threading.Thread(target=allocate_in_a_worker, name="worker")
    worker.start()
    worker.join()
    assert alive() is not None  # the worker did not collect it
    qtbot.waitUntil(lambda: alive() is None, timeout=20 * INTERVAL_MS)
    assert destroyed_in == [threading.main_thread().name]
