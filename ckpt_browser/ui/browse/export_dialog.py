"""File > Export Tensor: the selected tensor to .npy (any shape) or .csv (1-D and 2-D); from the
tree's context menu, the tensors of a scope to one .npz.

The files are the ones `ckpt-browser export` writes: .npy loads with `np.load` without pickle
(scalars as scalars, strings byte for byte, bfloat16 and float8 bit-exact), .csv has one row per
row of the tensor. Writing
runs in a worker thread and goes through a temporary file, so a large export neither freezes the
window nor leaves half a file behind. A tensor whose stored checksum does not match its bytes
(TensorFlow refuses it) is exported only when the user confirms it in a dialog.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QFileDialog, QMessageBox, QPushButton

from ckpt_browser.core.formatting import plural
from ckpt_browser.core.tensor.export import (
    ExportError,
    ExportResult,
    export_tensors,
    suggested_file_name,
)
from ckpt_browser.format import ChecksumError
from ckpt_browser.ui.widgets.workers import USER_ERRORS, TaskContext, TaskHandle, TaskRunner

if TYPE_CHECKING:
    from ckpt_browser.ui.browse.main_window import MainWindow

NPY_FILTER = "NumPy array (*.npy)"
NPZ_FILTER = "NumPy archive of several arrays (*.npz)"
CSV_FILTER = "CSV, 1-D or 2-D (*.csv)"
_FOLDER_KEY = "export/folder"


class ExportController:
    """Asks where to export tensors (the one on view, or those a tree row holds) and writes
    them in the background. The folder last exported to is offered again, across runs."""

    def __init__(
        self, window: MainWindow, runner: TaskRunner, settings: QSettings | None = None
    ) -> None:
        self._window = window
        self._runner = runner
        self._settings = settings
        self._folder: str | None = None  # without settings (screenshots, tests): this run only
        self.pending: TaskHandle | None = None
        self.last_written: str | None = None
        self.damaged_box: QMessageBox | None = None  # asks whether to export damaged tensors
        self.export_anyway: QPushButton | None = None

    @property
    def folder(self) -> str | None:
        """The folder of the last export, if it still exists."""
        folder = self._settings.value(_FOLDER_KEY) if self._settings is not None else self._folder
        return str(folder) if folder and os.path.isdir(str(folder)) else None

    def suggested_path(self, keys: Sequence[str]) -> str:
        """Where the save dialog starts: the last export folder (else the checkpoint's), and a
        name made of the tensor's key, or of the scope the tensors share (.npz for several)."""
        checkpoint = self._window.checkpoint
        folder = self.folder or (checkpoint.directory if checkpoint is not None else "")
        base = os.path.basename(checkpoint.prefix) if checkpoint is not None else "tensors"
        return os.path.join(folder, suggested_file_name(keys, base))

    def ask_and_export(self, keys: Sequence[str] | None = None) -> None:
        """Ask for a file, then export `keys` (default: the tensor on view) to it."""
        checkpoint = self._window.checkpoint
        keys = self._keys(keys)
        if not keys or checkpoint is None:
            return
        if len(keys) > 1:
            filters, title = NPZ_FILTER, f"Export {len(keys)} tensors"
        elif len(checkpoint[keys[0]].shape) <= 2:
            filters, title = f"{NPY_FILTER};;{CSV_FILTER}", "Export tensor"
        else:
            filters, title = NPY_FILTER, "Export tensor"
        default = self.suggested_path(keys)
        path, chosen = QFileDialog.getSaveFileName(self._window, title, default, filters)
        if not path:
            return
        if not Path(path).suffix:
            path += ".npz" if len(keys) > 1 else ".csv" if chosen == CSV_FILTER else ".npy"
        self.export(path, keys)

    def export(
        self,
        path: str,
        keys: Sequence[str] | None = None,
        *,
        allow_bad_checksums: bool = False,
    ) -> TaskHandle | None:
        """Write `keys` (default: the tensor on view) to `path` in a worker; report the outcome
        in the window. A damaged tensor stops the export and asks whether to export it anyway."""
        checkpoint = self._window.checkpoint
        keys = self._keys(keys)
        if not keys or checkpoint is None:
            return None
        window = self._window
        self._remember_folder(os.path.dirname(os.path.abspath(path)))

        def work(context: TaskContext) -> ExportResult | ChecksumError:
            context.raise_if_cancelled()
            if len(keys) == 1 and Path(path).suffix.lower() not in (".npy", ".csv"):
                raise ExportError(f"cannot export to {path!r}: the name must end in .npy or .csv")
            try:
                return export_tensors(
                    checkpoint, keys, path, allow_bad_checksums=allow_bad_checksums
                )
            except ChecksumError as exc:
                return exc  # for the question, in the GUI thread

        def done(outcome: ExportResult | ChecksumError) -> None:
            if isinstance(outcome, ChecksumError):
                self._ask_to_export_damaged(path, keys, str(outcome))
                return
            self.last_written = outcome.path
            what = keys[0] if len(keys) == 1 else f"{len(keys)} tensors"
            damaged = len(outcome.damaged)
            note = f", {plural(damaged, 'damaged tensor')} among them" if damaged else ""
            window.statusBar().showMessage(f"Exported {what} to {outcome.path}{note}", 8000)

        def failed(message: str) -> None:
            window.show_error(message)

        self.pending = self._runner.start(
            work,
            done,
            on_failed=failed,
            user_errors=(*USER_ERRORS, ExportError),
            doing=f"export to {path}",
        )
        return self.pending

    def _ask_to_export_damaged(self, path: str, keys: Sequence[str], problem: str) -> None:
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Export Damaged Tensor",
            f"{problem}. Nothing was exported.",
            parent=self._window,
        )
        box.setInformativeText("Export it anyway, damaged values and all?")
        self.export_anyway = box.addButton("Export Anyway", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        anyway = self.export_anyway

        def chosen(button: object) -> None:
            if button is anyway:
                self.export(path, keys, allow_bad_checksums=True)

        box.buttonClicked.connect(chosen)
        self.damaged_box = box
        box.open()

    def _keys(self, keys: Sequence[str] | None) -> list[str]:
        if keys is not None:
            return list(keys)
        key = self._window.tensor_view.key
        return [key] if key is not None else []

    def _remember_folder(self, folder: str) -> None:
        self._folder = folder
        if self._settings is not None:
            self._settings.setValue(_FOLDER_KEY, folder)
