"""Edit > Remote Settings: how checkpoints behind URLs are read (caches, timeouts, parallelism).

The values live in QSettings under `remote/` and are handed to the format layer's
`remote_settings.configure` at start-up and when the dialog is accepted. Credentials are not
here: each protocol's library reads its own (environment, config files), and the program keeps
none.
"""

from __future__ import annotations

import os
import shutil

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ckpt_browser.core.formatting import format_bytes
from ckpt_browser.format.sources import remote_settings
from ckpt_browser.format.sources.disk_cache import remote_cache_dir

MB = 1 << 20
GB = 1 << 30
# QSettings key -> (RemoteSettings field, how the dialog shows it: divisor for the unit)
_KEYS = {
    "remote/memory_cache_mb": ("memory_cache_bytes", MB),
    "remote/disk_cache": ("disk_cache", None),
    "remote/disk_cache_gb": ("disk_cache_bytes", GB),
    "remote/timeout_s": ("timeout_s", 1),
    "remote/parallel_parts": ("parallel_parts", 1),
}


def apply_saved(settings: QSettings | None) -> None:
    """Hand the saved remote settings (if any) to the format layer."""
    if settings is None:
        return
    current = remote_settings.settings()
    changes: dict[str, object] = {}
    for key, (field, unit) in _KEYS.items():
        value = settings.value(key)
        if value is None:
            continue
        try:
            if unit is None:
                changes[field] = str(value).lower() in ("true", "1")
            else:
                number = float(value) * unit
                kind = type(getattr(current, field))
                changes[field] = kind(number) if number > 0 else getattr(current, field)
        except (TypeError, ValueError):
            continue  # a hand-edited value that is not a number: keep the default
    if changes:
        remote_settings.configure(**changes)


class RemoteSettingsDialog(QDialog):
    """The remote settings, edited and saved on OK."""

    def __init__(self, settings: QSettings | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Remote settings")
        self._settings = settings
        current = remote_settings.settings()
        form = QFormLayout()
        self.memory_cache = QSpinBox()
        self.memory_cache.setRange(16, 64 * 1024)
        self.memory_cache.setSuffix(" MB")
        self.memory_cache.setValue(current.memory_cache_bytes // MB)
        self.memory_cache.setToolTip("Fetched ranges kept in memory, for all open files together")
        form.addRow("Memory cache:", self.memory_cache)
        self.disk_cache = QCheckBox("Keep fetched ranges on disk, so reopening fetches nothing")
        self.disk_cache.setChecked(current.disk_cache)
        form.addRow("", self.disk_cache)
        self.disk_cache_size = QDoubleSpinBox()
        self.disk_cache_size.setRange(0.1, 10_000)
        self.disk_cache_size.setDecimals(1)
        self.disk_cache_size.setSuffix(" GB")
        self.disk_cache_size.setValue(current.disk_cache_bytes / GB)
        self.disk_cache_size.setEnabled(current.disk_cache)
        self.disk_cache.toggled.connect(self.disk_cache_size.setEnabled)
        form.addRow("Disk cache size:", self.disk_cache_size)
        folder = remote_cache_dir()
        self.folder_label = QLabel(folder)
        self.folder_label.setWordWrap(True)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Delete the ranges kept on disk (checked again on next use)")
        self.clear_button.clicked.connect(self.clear_disk_cache)
        row = QHBoxLayout()
        row.addWidget(self.folder_label, 1)
        row.addWidget(self.clear_button)
        form.addRow("Cache folder:", row)
        self.timeout = QDoubleSpinBox()
        self.timeout.setRange(1, 3600)
        self.timeout.setSuffix(" s")
        self.timeout.setValue(current.timeout_s)
        self.timeout.setToolTip("How long a server may stay silent before the read fails")
        form.addRow("Timeout:", self.timeout)
        self.parallel = QSpinBox()
        self.parallel.setRange(1, 64)
        self.parallel.setValue(current.parallel_parts)
        self.parallel.setToolTip("Range requests in flight at once (large tensors come in parts)")
        form.addRow("Parallel requests:", self.parallel)
        note = QLabel(
            "Credentials come from where each library looks (environment variables, "
            "~/.aws, gcloud, az login, HF_TOKEN); the program stores none."
        )
        note.setWordWrap(True)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(buttons)

    def values(self) -> dict[str, object]:
        """The settings as shown, in QSettings keys and units."""
        return {
            "remote/memory_cache_mb": self.memory_cache.value(),
            "remote/disk_cache": self.disk_cache.isChecked(),
            "remote/disk_cache_gb": self.disk_cache_size.value(),
            "remote/timeout_s": self.timeout.value(),
            "remote/parallel_parts": self.parallel.value(),
        }

    def accept(self) -> None:
        values = self.values()
        if self._settings is not None:
            for key, value in values.items():
                self._settings.setValue(key, value)
        remote_settings.configure(
            memory_cache_bytes=int(values["remote/memory_cache_mb"]) * MB,
            disk_cache=bool(values["remote/disk_cache"]),
            disk_cache_bytes=int(float(values["remote/disk_cache_gb"]) * GB),
            timeout_s=float(values["remote/timeout_s"]),
            parallel_parts=int(values["remote/parallel_parts"]),
        )
        super().accept()

    def clear_disk_cache(self) -> None:
        """Delete the on-disk cache's folder; files open now start filling a new one."""
        folder = remote_cache_dir()
        freed = sum(
            os.path.getsize(os.path.join(root, name))
            for root, _, names in os.walk(folder)
            for name in names
        )
        shutil.rmtree(folder, ignore_errors=True)
        self.clear_button.setText(f"Cleared {format_bytes(freed)}")
        self.clear_button.setEnabled(False)
