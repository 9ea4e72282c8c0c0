"""Help > About: the versions it shows are the ones loaded, and TensorFlow is never imported."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import platform
import subprocess
import sys

import numpy as np
import pyqtgraph as pg
import PySide6
from PySide6.QtCore import QSize, qVersion
from PySide6.QtWidgets import QApplication

from ckpt_browser.ui import about_dialog
from ckpt_browser.ui.about_dialog import AboutDialog, application_icon, version_report


def _help_menu(window):
    for action in window.menuBar().actions():
        if action.text().replace("&", "") == "Help":
            return action.menu()
    raise AssertionError("the window has no Help menu")


def test_help_menu_opens_about_with_the_loaded_versions(window, qtbot):
    menu = _help_menu(window)
    about = next(a for a in menu.actions() if a.text().replace("&", "").startswith("About ckpt"))
    about.trigger()
    dialog = window.about_dialog
    qtbot.waitExposed(dialog)
    shown = {name: label.text() for name, label in dialog.version_labels.items()}
    assert shown["ckpt-browser"] == importlib.metadata.version("ckpt-browser")
    assert shown["Python"] == platform.python_version()
    assert shown["Qt"] == qVersion()
    assert shown["PySide6"] == PySide6.__version__
    assert shown["pyqtgraph"] == pg.__version__
    assert shown["numpy"] == np.__version__
    dialog.reject()


def test_tensorflow_row_says_whether_it_is_installed(qtbot, monkeypatch):
    installed = importlib.util.find_spec("tensorflow") is not None
    dialog = AboutDialog()
    qtbot.addWidget(dialog)
    text = dialog.version_labels["TensorFlow"].text()
    assert text.startswith("installed" if installed else "not installed")

    real_find_spec = importlib.util.find_spec

    def tensorflow_absent(name, *args, **kwargs):
        return None if name == "tensorflow" else real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(about_dialog.importlib.util, "find_spec", tensorflow_absent)
    assert about_dialog.tensorflow_status().startswith("not installed")


def test_about_does_not_import_tensorflow():
    """In a fresh interpreter (other tests import TensorFlow as the oracle)."""
    code = (
        "import os, sys\n"
        "os.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
        "from ckpt_browser.ui.app import make_application\n"
        "from ckpt_browser.ui.about_dialog import AboutDialog\n"
        "app = make_application()\n"
        "dialog = AboutDialog()\n"
        "print(dialog.version_labels['TensorFlow'].text())\n"
        "print('tensorflow' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    *_, tensorflow_loaded = result.stdout.split()
    assert tensorflow_loaded == "False"


def test_copy_versions_puts_the_report_on_the_clipboard(qtbot):
    dialog = AboutDialog()
    qtbot.addWidget(dialog)
    QApplication.clipboard().clear()
    dialog.copy_button.click()
    copied = QApplication.clipboard().text()
    assert copied == version_report(dialog.rows)
    assert f"numpy: {np.__version__}" in copied.splitlines()
    assert len(copied.splitlines()) == len(dialog.rows)


def test_window_icon_has_every_drawn_size(window):
    sizes = {(size.width(), size.height()) for size in window.windowIcon().availableSizes()}
    assert sizes == {(n, n) for n in about_dialog.ICON_SIZES}
    pixmap = application_icon().pixmap(QSize(48, 48))
    assert not pixmap.isNull()
    assert pixmap.toImage().pixelColor(24, 24).alpha() == 255  # drawn, not transparent
