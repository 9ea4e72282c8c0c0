"""The main window: menus, the tree beside the tensor view, the status bar, settings.

The window owns the open Checkpoint. Opening replaces it only when the new one opened cleanly; a
bad file leaves the old one on screen and shows the format layer's one-line sentence in a dialog
(any other error as one sentence too: `error_sentence`).
Window geometry, splitter positions and the recent files live in QSettings (none in screenshot
mode, so a scripted run neither reads nor changes the user's layout).
"""

from __future__ import annotations

import logging
import os

from PySide6.QtCore import QByteArray, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QSplitter,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from ckpt_browser.core.compare.pair_names import checkpoint_name
from ckpt_browser.core.error_text import error_sentence
from ckpt_browser.core.formatting import format_bytes, format_count, plural
from ckpt_browser.core.scope_tree import ScopeNode, Totals
from ckpt_browser.format import Checkpoint, CheckpointError, CheckpointRecord, open_checkpoint
from ckpt_browser.format.sources.locations import is_plain_local, shown
from ckpt_browser.ui.about_dialog import AboutDialog, application_icon
from ckpt_browser.ui.browse.compare_launcher import CompareLauncher
from ckpt_browser.ui.browse.compute_settings_dialog import (
    ComputeSettingsDialog,
    open_compute_settings,
    saved_choice,
)
from ckpt_browser.ui.browse.export_dialog import ExportController
from ckpt_browser.ui.browse.graph_dock import GraphDock
from ckpt_browser.ui.browse.history_switcher import HistorySwitcher
from ckpt_browser.ui.browse.notice_bar import NoticeBar
from ckpt_browser.ui.browse.recent_files import RecentFiles
from ckpt_browser.ui.browse.remote_settings_dialog import RemoteSettingsDialog
from ckpt_browser.ui.browse.remote_settings_dialog import apply_saved as apply_saved_remote_settings
from ckpt_browser.ui.browse.tensor_view import TENSOR_SPLITTERS, TensorView
from ckpt_browser.ui.browse.timeline_dock import TimelineDock
from ckpt_browser.ui.browse.variable_tree import KIND_TOGGLES, VariableTree
from ckpt_browser.ui.widgets.file_filters import CHECKPOINT_OR_GRAPH_FILTER
from ckpt_browser.ui.widgets.location_opener import (
    LocationOpener,
    ask_location,
    opens_in_background,
)
from ckpt_browser.ui.widgets.plain_text import plain_tooltip
from ckpt_browser.ui.widgets.window_geometry import PaneSizer, place_on_screen

APP_TITLE = "ckpt-browser"

log = logging.getLogger(__name__)

# What the status bar adds to the path of a checkpoint that is not V2: (label, tooltip line).
FORMAT_NOTES = {
    "V1": ("  (V1 checkpoint)", "\nlegacy V1 format: values are decoded, block CRCs checked"),
    "graph": ("  (frozen graph)", "\nthe graph's constants: weights, and shapes and axes hidden"),
}


class MainWindow(QMainWindow):
    """Tree of the checkpoint's variables on the left, the selected tensor on the right."""

    checkpoint_changed = Signal(object)  # Checkpoint | None
    error_shown = Signal(str)

    def __init__(self, settings: QSettings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._settings = settings
        self._recent = RecentFiles(settings)
        self._checkpoint: Checkpoint | None = None
        self._error_box: QMessageBox | None = None
        self.last_error: str | None = None
        self.setWindowTitle(APP_TITLE)
        self.setWindowIcon(application_icon())
        self.setAcceptDrops(True)

        self.tree = VariableTree()
        self.tensor_view = TensorView()
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("main_splitter")
        self.splitter.addWidget(self.tree)
        self.splitter.addWidget(self.tensor_view)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.panes = PaneSizer(self, self.splitter)
        self.notice_bar = NoticeBar()
        central = QWidget()
        central_layout = QVBoxLayout(central)
        central_layout.setContentsMargins(0, 0, 0, 0)
        central_layout.setSpacing(0)
        central_layout.addWidget(self.notice_bar)
        central_layout.addWidget(self.splitter, 1)
        self.setCentralWidget(central)
        self.tree.tensor_selected.connect(self._on_tensor_selected)
        # A tensor that cannot be read says so in its pane, not in a dialog (see TensorView.failed).
        self.tensor_view.failed.connect(lambda message: setattr(self, "last_error", message))

        self.history = HistorySwitcher()
        self.history.prefix_chosen.connect(self.switch_to)
        toolbar = QToolBar("Checkpoints")
        toolbar.setObjectName("history_toolbar")
        toolbar.setMovable(False)
        toolbar.addWidget(self.history)
        self.compare = CompareLauncher(self, settings)
        toolbar.addWidget(self.compare.button)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, toolbar)
        self.history_toolbar = toolbar
        toolbar.setVisible(False)

        self.export = ExportController(self, self.tensor_view.runner, settings)
        self.tree.add_menu_actions = self._add_tree_menu_actions
        self._build_menus()
        self.graph_dock = GraphDock(self)
        self.timeline_dock = TimelineDock(self)
        self.timeline_dock.session.compute = self.tensor_view.compute  # Compute Settings
        self._build_status_bar()
        place_on_screen(self)
        self._restore_settings()
        apply_saved_remote_settings(settings)
        self.tensor_view.compute.set_choice(saved_choice(settings))
        self._update_actions()

    # -- public -----------------------------------------------------------------------------------

    @property
    def checkpoint(self) -> Checkpoint | None:
        return self._checkpoint

    def open_path(self, path: str, *, select: str | None = None) -> bool:
        """Open a checkpoint (any accepted path form); on failure show why and keep the old one.

        A URL or an archive opens in the background (see `location_opener`): True then means the
        open has started, and `checkpoint_changed` says when it is done."""
        keep = select or self.tree.selected_key()
        if opens_in_background(path):
            self.opener.open(path, lambda ckpt, runs: self._show(ckpt, runs, path, keep, select))
            return True
        try:
            QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
            try:
                checkpoint = open_checkpoint(path)
                history = checkpoint.history()
            finally:
                QApplication.restoreOverrideCursor()
        except CheckpointError as error:
            if self.graph_dock.open_graph_only(path):  # a frozen .pb: no checkpoint, a graph
                return True
            self.show_error(str(error))
            return False
        except Exception as error:  # an OSError, or a file hostile in a way not foreseen
            log.debug("could not open %s", path, exc_info=True)
            self.show_error(error_sentence(error, f"open {path}"))
            return False
        self._show(checkpoint, history, path, keep, select)
        return True

    def _show(
        self,
        checkpoint: Checkpoint,
        history: list[CheckpointRecord],
        path: str,
        keep: str | None,
        select: str | None,
    ) -> None:
        """Make an opened checkpoint the window's, keeping the selected variable if it has it."""
        self.tensor_view.show_tensor(None, None)
        old = self._checkpoint
        self._checkpoint = checkpoint
        if old is not None:
            old.close()  # arrays still held by running work keep their own maps alive
        damage = checkpoint.check_shards()  # sizes of the shards only: no data is read
        self.tree.set_tensors(checkpoint.values(), unreadable=damage.problems)
        self.notice_bar.show_messages([*damage.messages, *checkpoint.warnings])
        self.set_history(history)
        self._update_status()
        self.setWindowTitle(f"{checkpoint_name(shown(checkpoint.prefix))} — {APP_TITLE}")
        self._recent.add(path)
        self._rebuild_recent_menu()
        self._update_actions()
        self.checkpoint_changed.emit(checkpoint)
        if keep and not self.tree.select_key(keep) and select:
            self.show_error(f"{shown(checkpoint.prefix)}: no variable named {select!r}")

    def set_history(self, records: list[CheckpointRecord]) -> None:
        """List the directory's checkpoints as they are now (a run still writing adds some)."""
        if self._checkpoint is not None:
            self.history.set_history(records, self._checkpoint.prefix)
            self.history_toolbar.setVisible(len(records) > 1)
            self.compare.set_records(records)
            self._update_actions()

    def reload(self) -> bool:
        """Open the current checkpoint again (after it was rewritten on disk)."""
        if self._checkpoint is None:
            return False
        return self.open_path(self._checkpoint.prefix)

    def switch_to(self, prefix: str) -> bool:
        """Open another checkpoint of the same directory, keeping the selected variable."""
        return self.open_path(prefix)

    def step_checkpoint(self, step: int) -> bool:
        """Open the next (1) or previous (-1) checkpoint of the directory, keeping the variable."""
        prefix = self.history.neighbour(step)
        return prefix is not None and self.switch_to(prefix)

    def select(self, name: str) -> bool:
        """Select a variable by checkpoint key or readable name."""
        return self.tree.select_key(name)

    def is_idle(self) -> bool:
        """True when nothing is loading or computing (what --screenshot waits for)."""
        busy = (self.tensor_view, self.graph_dock, self.opener, self.timeline_dock)
        return not any(part.busy for part in busy)

    def show_error(self, message: str) -> None:
        """Show `message` in a window-modal dialog; the window stays usable behind it."""
        self.last_error = message
        if self._error_box is not None:
            self._error_box.close()
        box = QMessageBox(QMessageBox.Icon.Critical, APP_TITLE, message, parent=self)
        box.setTextFormat(Qt.TextFormat.PlainText)  # a name such as "<h1>x" stays text
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _result: setattr(self, "_error_box", None))
        self._error_box = box
        box.open()
        self.error_shown.emit(message)

    @property
    def error_box(self) -> QMessageBox | None:
        return self._error_box

    # -- Qt events --------------------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().urls():  # a file, or a link dragged from a browser
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [
            url.toLocalFile() if url.isLocalFile() else url.toString()
            for url in event.mimeData().urls()
        ]
        if paths:
            event.acceptProposedAction()
            self.open_path(paths[0])

    def closeEvent(self, event: QCloseEvent) -> None:
        self._save_settings()
        self.opener.cancel()
        self.tensor_view.shutdown()
        self.graph_dock.panel.shutdown()
        self.timeline_dock.shutdown()
        if self._checkpoint is not None:
            self._checkpoint.close()
        super().closeEvent(event)

    # -- building ---------------------------------------------------------------------------------

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.open_action = file_menu.addAction("&Open File…", self._ask_open_file)
        self.open_action.setShortcut(QKeySequence.StandardKey.Open)
        self.open_folder_action = file_menu.addAction("Open &Folder…", self._ask_open_folder)
        self.open_folder_action.setShortcut(QKeySequence("Ctrl+Shift+O"))
        self.open_location_action = file_menu.addAction("Open &Location…", self._ask_open_location)
        self.open_location_action.setShortcut(QKeySequence("Ctrl+L"))
        self.recent_menu = QMenu("Open &Recent", self)
        file_menu.addMenu(self.recent_menu)
        self._rebuild_recent_menu()
        self.reload_action = file_menu.addAction("&Reload", self.reload)
        self.reload_action.setShortcut(QKeySequence(Qt.Key.Key_F5))
        file_menu.addSeparator()
        self.export_action = file_menu.addAction("&Export Tensor…", self.export.ask_and_export)
        self.export_action.setShortcut(QKeySequence("Ctrl+E"))
        file_menu.addAction(self.compare.action)
        file_menu.addSeparator()
        self.quit_action = file_menu.addAction("&Quit", self.close)
        self.quit_action.setShortcut(QKeySequence.StandardKey.Quit)

        edit_menu = self.menuBar().addMenu("&Edit")
        edit_menu.addAction(self.tree.copy_action)
        find_action = QAction("&Filter Variables", self)
        find_action.setShortcut(QKeySequence.StandardKey.Find)
        find_action.triggered.connect(lambda: self.tree.filter_edit.setFocus())
        edit_menu.addAction(find_action)
        edit_menu.addSeparator()
        self.remote_settings_action = edit_menu.addAction(
            "&Remote Settings…", self.open_remote_settings
        )
        self.compute_settings_action = edit_menu.addAction(
            "&Compute Settings…", self.open_compute_settings
        )

        view_menu = self.menuBar().addMenu("&View")
        for kind, label, _tip in KIND_TOGGLES:
            button = self.tree.kind_buttons[kind]
            action = QAction(f"Show {label}", self)
            action.setCheckable(True)
            action.setChecked(button.isChecked())
            action.toggled.connect(button.setChecked)
            button.toggled.connect(action.setChecked)
            view_menu.addAction(action)

        go_menu = self.menuBar().addMenu("&Go")
        # Ctrl+PgUp/PgDown step through tabs in browsers and editors: here, through the saves.
        self.previous_action = go_menu.addAction(
            "&Previous Checkpoint", lambda: self.step_checkpoint(-1)
        )
        self.previous_action.setShortcut(QKeySequence("Ctrl+PgUp"))
        self.next_action = go_menu.addAction("&Next Checkpoint", lambda: self.step_checkpoint(1))
        self.next_action.setShortcut(QKeySequence("Ctrl+PgDown"))

        tools_menu = self.menuBar().addMenu("&Tools")
        self.remap_action = tools_menu.addAction("&Remap Wizard…", self.open_remap_wizard)
        self.remap_action.setShortcut(QKeySequence("Ctrl+Shift+R"))

        help_menu = self.menuBar().addMenu("&Help")
        self.about_action = help_menu.addAction(f"&About {APP_TITLE}", self.show_about)
        help_menu.addAction("About &Qt", QApplication.aboutQt)

    def open_remote_settings(self) -> RemoteSettingsDialog:
        """Edit > Remote Settings: caches, timeout and parallel requests for URLs."""
        dialog = RemoteSettingsDialog(self._settings, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        self.remote_settings_dialog = dialog
        return dialog

    def open_compute_settings(self) -> ComputeSettingsDialog:
        """Edit > Compute Settings: this machine, or a Dask scheduler for huge tensors."""
        dialog = open_compute_settings(self, self._settings, self.tensor_view.compute)
        self.compute_settings_dialog = dialog
        return dialog

    def show_about(self) -> AboutDialog:
        """Help > About: the version, and the versions of the libraries in use."""
        dialog = AboutDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        self.about_dialog = dialog
        return dialog

    def open_remap_wizard(self) -> QWidget:
        """Tools > Remap Wizard: map names onto a target; the open checkpoint is the source."""
        from ckpt_browser.ui.remap.wizard import RemapWizard

        sources = [self._checkpoint.prefix] if self._checkpoint is not None else []
        wizard = RemapWizard(sources, parent=self, settings=self._settings)
        wizard.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        wizard.write_page.open_requested.connect(self.open_path)
        wizard.write_page.compare_requested.connect(self.compare.compare)
        wizard.show()
        self.remap_wizard = wizard
        return wizard

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.prefix_label = QLabel()
        self.prefix_label.setTextFormat(Qt.TextFormat.PlainText)  # names are text
        self.prefix_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.variables_label = QLabel()
        self.parameters_label = QLabel()
        self.bytes_label = QLabel()
        self.step_label = QLabel()
        bar.addWidget(self.prefix_label, 1)
        for label in (self.variables_label, self.parameters_label, self.bytes_label):
            bar.addPermanentWidget(label)
        bar.addPermanentWidget(self.step_label)
        self.opener = LocationOpener(self)
        self.opener.failed.connect(lambda message: setattr(self, "last_error", message))

    def _update_status(self) -> None:
        checkpoint = self._checkpoint
        if checkpoint is None:
            for label in (
                self.prefix_label,
                self.variables_label,
                self.parameters_label,
                self.bytes_label,
                self.step_label,
            ):
                label.clear()
            return
        totals = Totals.of(checkpoint.values())
        label, about = FORMAT_NOTES.get(checkpoint.format_name, ("", ""))
        self.prefix_label.setText(shown(checkpoint.prefix) + label)
        self.prefix_label.setToolTip(plain_tooltip(shown(checkpoint.prefix) + about))
        self.variables_label.setText(plural(totals.variables, "variable"))
        self.parameters_label.setText(plural(totals.parameters, "parameter"))
        strings = f"; string tensors hold {format_count(totals.strings)} more"
        self.parameters_label.setToolTip(
            "Elements of numeric tensors" + (strings if totals.strings else "")
        )
        self.bytes_label.setText(format_bytes(totals.nbytes))
        step = checkpoint.step
        self.step_label.setText(f"step {step}" if step is not None else "")
        self.step_label.setVisible(step is not None)

    def _update_actions(self) -> None:
        has_checkpoint = self._checkpoint is not None
        self.reload_action.setEnabled(has_checkpoint)
        self.previous_action.setEnabled(self.history.neighbour(-1) is not None)
        self.next_action.setEnabled(self.history.neighbour(1) is not None)
        self.export_action.setEnabled(self.tensor_view.key is not None)

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        paths = self._recent.paths()
        for path in paths:
            self.recent_menu.addAction(path, lambda p=path: self._open_recent(p))
        if paths:
            self.recent_menu.addSeparator()
        clear = self.recent_menu.addAction("Clear", self._clear_recent)
        clear.setEnabled(bool(paths))

    def _open_recent(self, path: str) -> None:
        if not self.open_path(path) and is_plain_local(path) and not os.path.exists(path):
            self._recent.remove(path)  # gone from disk: do not offer it again
            self._rebuild_recent_menu()

    def _clear_recent(self) -> None:
        self._recent.clear()
        self._rebuild_recent_menu()

    def _ask_open_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open checkpoint", self._start_directory(), CHECKPOINT_OR_GRAPH_FILTER
        )
        if path:
            self.open_path(path)

    def _ask_open_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(
            self, "Open checkpoint folder", self._start_directory()
        )
        if path:
            self.open_path(path)

    def _ask_open_location(self) -> None:
        location = ask_location(self, self._recent.paths())
        if location:
            self.open_path(location)

    def _start_directory(self) -> str:
        if self._checkpoint is not None and is_plain_local(self._checkpoint.prefix):
            return self._checkpoint.directory
        recent = [path for path in self._recent.paths() if is_plain_local(path)]
        return os.path.dirname(recent[0]) if recent else os.path.expanduser("~")

    def _add_tree_menu_actions(self, menu: QMenu, node: ScopeNode) -> None:
        """A tree row's Export, Compare With and Show in Graph (the row is already selected)."""
        key = node.info.name if node.info is not None else None
        keys = [key] if key is not None else [leaf.info.name for leaf in node.tensors()]
        label = "&Export…" if key is not None else f"&Export {len(keys)} Tensors…"
        menu.addAction(label, lambda: self.export.ask_and_export(keys)).setEnabled(bool(keys))
        compare = menu.addAction("&Compare With…", lambda: self.compare.ask(select=key))
        compare.setEnabled(self._checkpoint is not None)
        graph = menu.addAction("Show in &Graph", lambda: self.graph_dock.show_variable(key))
        graph.setEnabled(key is not None and self.graph_dock.has_variable(key))
        if not graph.isEnabled():
            graph.setToolTip("No graph beside this checkpoint, or no node for this variable")
        menu.setToolTipsVisible(True)

    def _on_tensor_selected(self, key: str | None) -> None:
        self.tensor_view.show_tensor(self._checkpoint if key else None, key)
        self._update_actions()

    # -- settings ---------------------------------------------------------------------------------

    def _restore_settings(self) -> None:
        settings = self._settings
        if settings is None:
            return
        geometry = settings.value("window/geometry")
        if isinstance(geometry, QByteArray) and self.restoreGeometry(geometry):
            place_on_screen(self, restored=True)  # saved on another monitor layout, maybe
        state = settings.value("window/state")
        if isinstance(state, QByteArray) and self.restoreState(state):
            self.graph_dock.setProperty("sized", True)  # its width as the user left it
        main = settings.value("splitters/main")
        if isinstance(main, QByteArray):
            self.panes.restore(main)
        pane_states = {}
        for name in TENSOR_SPLITTERS:
            state = settings.value(f"splitters/{name}")
            if isinstance(state, QByteArray):
                pane_states[name] = state
        self.tensor_view.restore_splitter_states(pane_states)

    def _save_settings(self) -> None:
        settings = self._settings
        if settings is None:
            return
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/state", self.saveState())
        settings.setValue("splitters/main", self.splitter.saveState())
        for name, state in self.tensor_view.splitter_states().items():
            settings.setValue(f"splitters/{name}", state)
        settings.sync()
