"""File > Export Tensor: the selected tensor to .npy (any shape) or .csv (1-D and 2-D).

The files are the ones `ckpt-browser export` writes: .npy loads with `np.load` without pickle
(scalars as scalars, strings byte for byte, bfloat16 and float8 bit-exact), .csv has one row per
row of the tensor. Writing
runs in a worker thread and goes through a temporary file, so a large export neither freezes the
window nor leaves half a file behind.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtWidgets import QFileDialog

from ckpt_browser.core.export import ExportError, export_arrays
from ckpt_browser.ui.workers import USER_ERRORS, TaskContext, TaskHandle, TaskRunner

if TYPE_CHECKING:
    from ckpt_browser.ui.main_window import MainWindow

NPY_FILTER = "NumPy array (*.npy)"
CSV_FILTER = "CSV, 1-D or 2-D (*.csv)"


def export_tensor(array: np.ndarray, path: str, name: str) -> str:
    """Write `array` to `path` (.npy or .csv by its suffix) and return the path written."""
    if Path(path).suffix.lower() not in (".npy", ".csv"):
        raise ExportError(f"cannot export to {path!r}: the name must end in .npy or .csv")
    return export_arrays({name: array}, path)


class ExportController:
    """Asks where to export the window's selected tensor and writes it in the background."""

    def __init__(self, window: MainWindow, runner: TaskRunner) -> None:
        self._window = window
        self._runner = runner
        self.pending: TaskHandle | None = None
        self.last_written: str | None = None

    def ask_and_export(self) -> None:
        key = self._window.tensor_view.key
        checkpoint = self._window.checkpoint
        if key is None or checkpoint is None:
            return
        info = checkpoint[key]
        filters = f"{NPY_FILTER};;{CSV_FILTER}" if len(info.shape) <= 2 else NPY_FILTER
        default = os.path.join(checkpoint.directory, key.replace("/", "_") + ".npy")
        path, chosen = QFileDialog.getSaveFileName(self._window, "Export tensor", default, filters)
        if not path:
            return
        if not Path(path).suffix:
            path += ".csv" if chosen == CSV_FILTER else ".npy"
        self.export(path)

    def export(self, path: str) -> TaskHandle | None:
        """Write the selected tensor to `path` in a worker; report the outcome in the window."""
        key = self._window.tensor_view.key
        checkpoint = self._window.checkpoint
        if key is None or checkpoint is None:
            return None
        window = self._window

        def work(context: TaskContext) -> str:
            context.report(0.0)
            return export_tensor(checkpoint.read(key), path, key)

        def done(written: str) -> None:
            self.last_written = written
            window.statusBar().showMessage(f"Exported {key} to {written}", 8000)

        def failed(message: str) -> None:
            window.show_error(message)

        self.pending = self._runner.start(
            work, done, on_failed=failed, user_errors=(*USER_ERRORS, ValueError)
        )
        return self.pending
