"""Python's cyclic garbage collector runs in the GUI thread only.

The collector runs in whichever thread happens to allocate when a generation fills up. If that is
a worker thread and the garbage holds a Qt object (a closed dialog in a reference cycle), Qt
destroys it there: a QObject must die in its own thread, and PySide can deadlock doing it (the
worker waits for the GIL inside Qt's destructor while the GUI thread holds the GIL and waits for
Qt's lock). So the automatic collector is switched off and a timer in the GUI thread collects
instead, generation by generation.

pyqtgraph has the same idea (`pyqtgraph.util.garbage_collector`), but importing it loads all of
pyqtgraph, which the window otherwise defers until a plot is first shown.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 500


class GuiThreadCollector(QObject):
    """Collect cyclic garbage on a GUI-thread timer, with the collector's own thresholds."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thresholds = gc.get_threshold()
        gc.disable()
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.collect_if_due)
        self.timer.start(INTERVAL_MS)

    def collect_if_due(self) -> int:
        """Collect the youngest generation at every tick (cheap: it holds only what is new) and
        an older one when its count passed its threshold; returns how many objects were freed."""
        counts = gc.get_count()
        due = [gen for gen in (1, 2) if counts[gen] > self.thresholds[gen]]
        return gc.collect(max(due, default=0))


_collector: GuiThreadCollector | None = None


def collect_garbage_in_gui_thread(app: QObject) -> GuiThreadCollector:
    """Install the collector once for `app` (the QApplication); it lives as long as `app`."""
    global _collector
    if _collector is None:
        _collector = GuiThreadCollector(app)
    return _collector
