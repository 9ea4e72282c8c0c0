"""The Qt window (PySide6 + pyqtgraph); the only layer that imports Qt.

Importing it first guards against a PySide6 reference-count bug that would otherwise abort the
interpreter on Python 3.11 (see `qt_compat`).
"""

from ckpt_browser.ui.qt_compat import protect_bool_singletons

protect_bool_singletons()
