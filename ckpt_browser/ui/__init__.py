"""The Qt window (PySide6 + pyqtgraph); the only layer that imports Qt.

One folder per feature (`browse`, `compare`, `remap`, `graph`) over shared `widgets`; a feature
imports `core`, `format` and `widgets`, and only `browse` (the main window) opens the others.
"""
