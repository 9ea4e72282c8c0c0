"""The window around the compare view: opening the pair, errors, the JSON report, screenshots.

Opened with two paths on the command line (`ckpt-browser A B`), from the main window's
File > Compare With..., or from its checkpoint switcher (`compare_launcher`). Like the main window,
it shows a bad file's one-line message in a dialog and stays up, and `is_idle` tells the
`--screenshot` mode when everything asked for is on screen.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QApplication, QFileDialog, QMainWindow, QMessageBox, QWidget

from ckpt_browser.core.compare.report import comparison_record
from ckpt_browser.core.error_text import error_sentence
from ckpt_browser.core.remap.presets import load_preset, shipped_presets
from ckpt_browser.core.remap.view import RemappedCheckpoint
from ckpt_browser.format import Checkpoint, open_checkpoint
from ckpt_browser.format.atomic import atomic_output
from ckpt_browser.format.sources.locations import shown
from ckpt_browser.ui.compare.view import CompareView
from ckpt_browser.ui.widgets.location_opener import LocationOpener, opens_in_background
from ckpt_browser.ui.widgets.window_geometry import place_on_screen
from ckpt_browser.ui.widgets.workers import TaskContext

APP_TITLE = "ckpt-browser"
DEFAULT_SIZE = (1500, 950)

log = logging.getLogger(__name__)


class CompareWindow(QMainWindow):
    """A top-level window around a CompareView: opening, errors, reports, screenshots."""

    def __init__(self, settings: QSettings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        if parent is not None:
            self.setWindowFlag(Qt.WindowType.Window, True)
            self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self._settings = settings
        self.last_error: str | None = None
        self._error_box: QMessageBox | None = None
        self.view = CompareView()
        self.view.error.connect(self.show_error)
        self.view.checkpoints_changed.connect(self._update_title)
        self.setCentralWidget(self.view)
        self.view.setFocus()  # the table: arrow keys move through the names from the start
        self.setWindowTitle(f"Compare — {APP_TITLE}")
        place_on_screen(self, default=DEFAULT_SIZE)
        file_menu = self.menuBar().addMenu("&File")
        self.save_action = QAction("&Save Report as JSON…", self)
        self.save_action.setShortcut(QKeySequence.StandardKey.Save)
        self.save_action.triggered.connect(self._ask_save_report)
        file_menu.addAction(self.save_action)
        self.swap_action = file_menu.addAction("S&wap A and B", self.view.swap)
        file_menu.addSeparator()
        close = file_menu.addAction("&Close", self.close)
        close.setShortcut(QKeySequence.StandardKey.Close)
        self.preset: str | None = None
        self.preset_actions = self._preset_menu()
        self.opener = LocationOpener(self)
        self.opener.failed.connect(lambda message: setattr(self, "last_error", message))
        if settings is not None:
            geometry = settings.value("compare/geometry")
            if geometry is not None and self.restoreGeometry(geometry):
                place_on_screen(self, restored=True)

    def _preset_menu(self) -> dict[str | None, QAction]:
        """Preset: A seen through a port's names and layouts (`tf-bert-to-hf`), or as it is."""
        menu = self.menuBar().addMenu("&Preset")
        group = QActionGroup(self)
        actions: dict[str | None, QAction] = {}
        for name in (None, *shipped_presets()):
            action = QAction(name or "No Preset (Names as They Are)", self, checkable=True)
            action.setToolTip("" if name is None else load_preset(name).description)
            action.triggered.connect(lambda _checked=False, n=name: self.set_preset(n))
            group.addAction(action)
            menu.addAction(action)
            actions[name] = action
        actions[None].setChecked(True)
        menu.addSeparator()
        menu.addAction("Preset &File…", self._ask_preset_file)
        menu.setToolTipsVisible(True)
        return actions

    def set_preset(self, name_or_path: str | None) -> bool:
        """Compare A through the preset (its names and layouts), or as it is with None; a bad
        preset file shows its sentence and changes nothing."""
        shown = self.view.checkpoints
        raw_a, raw_b = (c.source if isinstance(c, RemappedCheckpoint) else c for c in shown)
        selected = self.view.selected_name()
        return self._compare(
            name_or_path, raw_a, raw_b, lambda a: _carried_selection(shown[0], a, raw_b, selected)
        )

    def _compare(
        self,
        name_or_path: str | None,
        raw_a: Checkpoint | None,
        raw_b: Checkpoint | None,
        selection: Callable[[Checkpoint], str | None],
    ) -> bool:
        """Start comparing `raw_a` through the preset with `raw_b` (when both are open), selecting
        `selection(a)` of the A compared; False, with the sentence shown, if the preset fails."""
        try:
            preset = load_preset(name_or_path) if name_or_path else None
            if raw_a is not None and raw_b is not None:
                a = raw_a if preset is None else RemappedCheckpoint(raw_a, preset.rules)
                self.view.set_checkpoints(a, raw_b, selection(a))
        except Exception as error:  # CheckpointError of the preset file or of a layout step
            self.show_error(error_sentence(error, f"apply the preset {name_or_path}"))
            return False
        self.preset = preset.name if preset is not None else None
        action = self.preset_actions.get(self.preset)
        for each in self.preset_actions.values():
            each.setChecked(each is action)
        self._update_title()
        return True

    def _ask_preset_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Preset", "", "Presets and mappings (*.json)")
        if path:
            self.set_preset(path)

    def open_pair(
        self, path_a: str, path_b: str, *, select: str | None = None, preset: str | None = None
    ) -> bool:
        """Open both checkpoints and start comparing (A through `preset` if given); on failure
        show why and return False. A URL or an archive opens in the background (True then
        means it has started)."""
        if preset is not None:
            try:
                load_preset(preset)
            except Exception as error:
                self.show_error(error_sentence(error, f"load the preset {preset}"))
                return False
            self.preset = preset
        if opens_in_background(path_a) or opens_in_background(path_b):
            self._open_in_background(path_a, path_b, select)
            return True
        try:
            QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
            try:
                a = open_checkpoint(path_a)
                b = open_checkpoint(path_b)
            finally:
                QApplication.restoreOverrideCursor()
        except Exception as error:  # CheckpointError, OSError, or a case not foreseen
            log.debug("could not open %s or %s", path_a, path_b, exc_info=True)
            self.show_error(error_sentence(error, f"open {path_a} and {path_b}"))
            return False
        self._show_pair(a, b, select)
        return True

    def _show_pair(self, a: Checkpoint, b: Checkpoint, select: str | None) -> None:
        """Compare a newly opened pair once: through the preset chosen, or, if it does not apply
        to these files (its sentence shown), as they are."""
        if not self._compare(self.preset, a, b, lambda _a: select):
            self._compare(None, a, b, lambda _a: select)

    def _open_in_background(self, path_a: str, path_b: str, select: str | None) -> None:
        def work(context: TaskContext) -> tuple[Checkpoint, Checkpoint]:
            a = open_checkpoint(path_a)
            try:
                b = open_checkpoint(path_b)
            except BaseException:
                a.close()
                raise
            for checkpoint in (a, b):
                checkpoint.check_shards()  # the shards' sizes: requests, so not on the GUI thread
            return a, b

        what = f"{shown(path_a)} and {shown(path_b)}"
        self.opener.start(what, work, lambda pair: self._show_pair(*pair, select))

    def _update_title(self) -> None:
        name_a, name_b = self.view.names
        through = f" (through {self.preset})" if getattr(self, "preset", None) else ""
        self.setWindowTitle(f"{name_a}{through} ↔ {name_b} — {APP_TITLE}")

    def is_idle(self) -> bool:
        """True when the comparison and the selected name's details are on screen."""
        return self.view.finished and not self.view.busy and not self.opener.busy

    def show_error(self, message: str) -> None:
        self.last_error = message
        if self._error_box is not None:
            self._error_box.close()
        box = QMessageBox(QMessageBox.Icon.Critical, APP_TITLE, message, parent=self)
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _result: setattr(self, "_error_box", None))
        self._error_box = box
        box.open()

    def save_report(self, path: str) -> None:
        """Write what `ckpt-browser diff --json` prints for the comparison on screen."""
        comparison = self.view.comparison()
        if comparison is None:
            return
        with atomic_output(path, "w") as file:
            json.dump(comparison_record(comparison), file, indent=1, allow_nan=False)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._settings is not None:
            self._settings.setValue("compare/geometry", self.saveGeometry())
        self.view.shutdown()
        for checkpoint in self.view.checkpoints:
            if checkpoint is not None:
                checkpoint.close()
        super().closeEvent(event)

    def _ask_save_report(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save report", "diff.json", "JSON (*.json)")
        if path:
            try:
                self.save_report(path)
            except OSError as error:
                self.show_error(f"{path}: {error.strerror or error}")


def _carried_selection(
    before: Checkpoint, after: Checkpoint, b: Checkpoint, name: str | None
) -> str | None:
    """The selected name once A is seen through another preset: the same source tensor under
    its new name, or a name only B has; None when neither is there any more."""
    if name is None:
        return None
    key = (
        before.source_name(name)
        if isinstance(before, RemappedCheckpoint) and name in before
        else name
    )
    if isinstance(after, RemappedCheckpoint):
        carried = after.name_of_source(key)
    else:
        carried = key if key in after else None
    if carried is None and name in b:
        carried = name
    return carried


def open_compare_window(
    parent: QWidget,
    path_a: str,
    path_b: str,
    settings: QSettings | None = None,
    *,
    select: str | None = None,
) -> CompareWindow | None:
    """A compare window owned by `parent` (closed with it), or None if a path would not open."""
    window = CompareWindow(settings, parent)
    if not window.open_pair(path_a, path_b, select=select):
        message = window.last_error or "could not open the checkpoints"
        window.close()
        box = QMessageBox(QMessageBox.Icon.Critical, APP_TITLE, message, parent=parent)
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.exec()
        return None
    window.show()
    return window
