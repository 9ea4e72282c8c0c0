"""Edit > Compute Settings: where the statistics of huge tensors are computed, this machine or a
Dask scheduler (`ComputeChoice`). Kept in QSettings under `compute/`; the command line's
equivalent is `--cluster ADDRESS`."""

from __future__ import annotations

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from ckpt_browser.core.formatting import format_bytes
from ckpt_browser.core.tasks.choice import CLUSTER_MIN_BYTES, ComputeChoice, ComputeTarget

SCHEDULER_KEY = "compute/scheduler"
SHARED_PATHS_KEY = "compute/shared_paths"


def saved_choice(settings: QSettings | None) -> ComputeChoice:
    if settings is None:
        return ComputeChoice()
    scheduler = str(settings.value(SCHEDULER_KEY, "") or "").strip() or None
    shared = str(settings.value(SHARED_PATHS_KEY, "false")).lower() in ("true", "1")
    return ComputeChoice(scheduler, shared)


def save_choice(settings: QSettings | None, choice: ComputeChoice) -> None:
    if settings is None:
        return
    settings.setValue(SCHEDULER_KEY, choice.scheduler or "")
    settings.setValue(SHARED_PATHS_KEY, choice.shared_paths)


class ComputeSettingsDialog(QDialog):
    """The choice, edited; `chosen()` is what OK saves."""

    def __init__(self, choice: ComputeChoice, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Compute settings")
        layout = QVBoxLayout(self)
        intro = QLabel(
            "Where the exact statistics and histogram of tensors of "
            f"{format_bytes(CLUSTER_MIN_BYTES)} or more are computed. A Dask cluster's workers "
            "read the tensor themselves, by its URL, with their own credentials: only the "
            "results come back here."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.this_machine = QRadioButton("This machine")
        self.cluster = QRadioButton("A Dask scheduler:")
        group = QButtonGroup(self)
        group.addButton(self.this_machine)
        group.addButton(self.cluster)
        self.address = QLineEdit(choice.scheduler or "")
        self.address.setPlaceholderText("tcp://scheduler:8786")
        self.shared_paths = QCheckBox("Its workers see this machine's paths (a shared file system)")
        self.shared_paths.setChecked(choice.shared_paths)
        layout.addWidget(self.this_machine)
        layout.addWidget(self.cluster)
        layout.addWidget(self.address)
        layout.addWidget(self.shared_paths)
        self.cluster.toggled.connect(self._enable)
        (self.cluster if choice.scheduler else self.this_machine).setChecked(True)
        self._enable(self.cluster.isChecked())
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.address.textChanged.connect(self._check)
        self.ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self._check()

    def chosen(self) -> ComputeChoice:
        address = self.address.text().strip()
        if not self.cluster.isChecked() or not address:
            return ComputeChoice()
        return ComputeChoice(address, self.shared_paths.isChecked())

    def _enable(self, on: bool) -> None:
        self.address.setEnabled(on)
        self.shared_paths.setEnabled(on)
        self._check()

    def _check(self) -> None:
        if hasattr(self, "ok_button"):
            wanted = self.cluster.isChecked()
            self.ok_button.setEnabled(not wanted or bool(self.address.text().strip()))


def open_compute_settings(
    parent: QWidget, settings: QSettings | None, target: ComputeTarget
) -> ComputeSettingsDialog:
    """Show the dialog; OK saves the choice and hands it to `target`."""
    dialog = ComputeSettingsDialog(target.choice, parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    def accepted() -> None:
        choice = dialog.chosen()
        save_choice(settings, choice)
        target.set_choice(choice)

    dialog.accepted.connect(accepted)
    dialog.open()
    return dialog
