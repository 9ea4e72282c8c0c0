"""The Qt window (PySide6 + pyqtgraph); the only layer that imports Qt."""
