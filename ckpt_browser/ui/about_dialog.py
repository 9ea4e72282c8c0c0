"""Help > About: what the program is, its icon, and the versions a bug report needs.

The versions shown are those of the libraries actually loaded (the Qt in use can differ from the
one PySide6 was built against). TensorFlow is looked up, never imported: importing it takes
seconds, and the program reads checkpoints without it.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import platform
from pathlib import Path

import numpy as np
import PySide6
from PySide6.QtCore import QSize, Qt, qVersion
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from ckpt_browser.data_files import resource_path

APP_NAME = "ckpt-browser"
DISTRIBUTION = "ckpt-browser"
# The name of the .desktop entry, AppStream component and icon in resources/.
APP_ID = "io.github.ckpt_browser.ckpt_browser"
DESCRIPTION = "Look inside TensorFlow checkpoints: variables, values, diffs, renames and graphs."
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256)


def resources_dir() -> Path | None:
    """The resources folder: in the package when installed or bundled, else the checkout's."""
    icons = resource_path("icons")
    return icons.parent if icons is not None else None


def application_icon() -> QIcon:
    """The program's icon at every size drawn for it (empty when the resources are missing)."""
    icon = QIcon()
    resources = resources_dir()
    if resources is None:
        return icon
    for size in ICON_SIZES:
        path = resources / "icons" / f"ckpt-browser-{size}.png"
        if path.is_file():
            icon.addFile(str(path), QSize(size, size))
    return icon


def program_version() -> str:
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def tensorflow_status() -> str:
    """Whether TensorFlow is importable and which distribution provides it, without importing it."""
    if importlib.util.find_spec("tensorflow") is None:
        return "not installed (not needed to read checkpoints)"
    for name in importlib.metadata.packages_distributions().get("tensorflow", []):
        try:
            metadata = importlib.metadata.distribution(name).metadata
        except importlib.metadata.PackageNotFoundError:
            continue
        return f"installed ({metadata['Name']} {metadata['Version']}); not loaded, not needed"
    return "installed; not loaded, not needed"


def version_rows() -> list[tuple[str, str]]:
    """(component, version) for the program, its runtime and the libraries it uses."""
    return [
        (APP_NAME, program_version()),
        ("Python", platform.python_version()),
        ("Qt", qVersion()),
        ("PySide6", PySide6.__version__),
        ("pyqtgraph", importlib.metadata.version("pyqtgraph")),  # importing it costs 0.3 s
        ("numpy", np.__version__),
        ("TensorFlow", tensorflow_status()),
        ("System", f"{platform.platform(terse=True)}, Qt platform {_qt_platform()}"),
    ]


def version_report(rows: list[tuple[str, str]] | None = None) -> str:
    """The version rows as plain text, one `name: version` a line, for a bug report."""
    return "\n".join(f"{name}: {version}" for name, version in rows or version_rows())


def _qt_platform() -> str:
    return QGuiApplication.platformName() or "none"


class AboutDialog(QDialog):
    """The icon, name, version and one-line purpose, then the versions in a selectable form."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"About {APP_NAME}")
        self.rows = version_rows()

        icon_label = QLabel()
        icon_label.setPixmap(application_icon().pixmap(QSize(64, 64)))
        title = QLabel(f"<h2>{APP_NAME} {program_version()}</h2>{DESCRIPTION}")
        title.setWordWrap(True)
        header = QHBoxLayout()
        header.addWidget(icon_label, 0, Qt.AlignmentFlag.AlignTop)
        header.addWidget(title, 1)

        form = QFormLayout()
        self.version_labels: dict[str, QLabel] = {}
        for name, version in self.rows:
            label = QLabel(version)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.version_labels[name] = label
            form.addRow(f"{name}:", label)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = buttons.addButton(
            "&Copy Versions", QDialogButtonBox.ButtonRole.ActionRole
        )
        self.copy_button.setToolTip("Copy these versions to the clipboard, for a bug report")
        self.copy_button.clicked.connect(self.copy_versions)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def copy_versions(self) -> None:
        QGuiApplication.clipboard().setText(version_report(self.rows))
