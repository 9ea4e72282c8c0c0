"""The wizard's first pages: the source checkpoints, then the target they must satisfy."""

from __future__ import annotations

import os

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWizardPage,
)

from ckpt_browser.core.error_text import error_sentence
from ckpt_browser.core.formatting import format_bytes, plural
from ckpt_browser.ui.remap.problem_bar import ProblemBar
from ckpt_browser.ui.remap.session import RemapSession
from ckpt_browser.ui.widgets.file_filters import CHECKPOINT_FILTER, TARGET_FILTER


class EnterUsesThePath(QObject):
    """Return in a path box with text in it uses the path and stays on the page.

    Without this the line edit passes the key on and the wizard's default button (Next) fires
    too, leaving the page before the user has seen whether the path opened.
    """

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        is_enter = event.type() == QEvent.Type.KeyPress and event.key() in (
            Qt.Key.Key_Return,
            Qt.Key.Key_Enter,
        )
        if is_enter and isinstance(watched, QLineEdit) and watched.text().strip():
            watched.returnPressed.emit()
            return True
        return super().eventFilter(watched, event)


class SourcesPage(QWizardPage):
    """Add one or more checkpoints whose tensors the output takes."""

    start_afresh = Signal()

    def __init__(self, session: RemapSession) -> None:
        super().__init__()
        self.session = session
        self.setTitle("Sources")
        self.setSubTitle(
            "The checkpoints to take tensors from: a pretrained backbone, a head from another "
            "run... Rules can address one source or all."
        )
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("checkpoint directory, prefix, .index, .meta or V1 file")
        self.path_edit.returnPressed.connect(self._add_typed)
        self._enter = EnterUsesThePath(self)
        self.path_edit.installEventFilter(self._enter)
        add = QPushButton("Add")
        add.clicked.connect(self._add_typed)
        browse_file = QPushButton("File…")
        browse_file.clicked.connect(self._browse_file)
        browse_folder = QPushButton("Folder…")
        browse_folder.clicked.connect(self._browse_folder)
        row = QHBoxLayout()
        for widget in (self.path_edit, add, browse_file, browse_folder):
            row.addWidget(widget)
        self.list = QListWidget()
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self._remove_selected)
        self.error_label = QLabel()
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)  # names are text
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #d63031")
        self.restored_label = QLabel()
        self.restored_label.setTextFormat(Qt.TextFormat.PlainText)
        self.restored_label.setWordWrap(True)
        afresh = QPushButton("Start Afresh")
        afresh.setToolTip("Forget the kept configuration: only the sources the wizard opened with")
        afresh.clicked.connect(self.start_afresh)
        afresh.setAutoDefault(False)  # Enter goes on to the next page, it does not start afresh
        self.restored_bar = QFrame()
        self.restored_bar.setFrameShape(QFrame.Shape.StyledPanel)
        bar_layout = QHBoxLayout(self.restored_bar)
        bar_layout.addWidget(self.restored_label, 1)
        bar_layout.addWidget(afresh)
        self.restored_bar.hide()
        layout = QVBoxLayout(self)
        layout.addWidget(self.restored_bar)
        layout.addLayout(row)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.remove_button)
        layout.addWidget(self.error_label)
        layout.addWidget(ProblemBar(session))
        session.inputs_changed.connect(self._refresh)
        self._refresh()

    def add_source(self, path: str) -> bool:
        """Open `path` as one more source; on failure say why below the list."""
        try:
            self.session.add_source(path)
        except Exception as exc:  # CheckpointError, OSError, or a case not foreseen
            self.error_label.setText(error_sentence(exc, f"open {path}"))
            return False
        self.error_label.clear()
        self.path_edit.clear()
        return True

    def isComplete(self) -> bool:
        return bool(self.session.sources)

    def show_restored(self, text: str) -> None:
        """Say that a kept configuration was restored ("" hides the notice)."""
        self.restored_label.setText(text)
        self.restored_bar.setVisible(bool(text))

    def _refresh(self) -> None:
        self.list.clear()
        for number, checkpoint in enumerate(self.session.sources, start=1):
            total = sum(info.nbytes for info in checkpoint.values())
            style = "TF2" if checkpoint.object_graph is not None else "TF1"
            if checkpoint.format_name == "V1":
                style += ", legacy V1 format"
            self.list.addItem(
                f"{number}. {checkpoint.prefix}  —  {plural(len(checkpoint), 'tensor')}, "
                f"{format_bytes(total)}, {style}"
            )
        self.remove_button.setEnabled(bool(self.session.sources))
        self.completeChanged.emit()

    def _add_typed(self) -> None:
        if self.path_edit.text().strip():
            self.add_source(self.path_edit.text().strip())

    def _browse_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Add source", "", CHECKPOINT_FILTER)
        if path:
            self.add_source(path)

    def _browse_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Add source folder")
        if path:
            self.add_source(path)

    def _remove_selected(self) -> None:
        row = self.list.currentRow()
        if row >= 0:
            self.session.remove_source(row)


class TargetPage(QWizardPage):
    """Optionally, what the output must satisfy: a graph, a template checkpoint, a SavedModel."""

    def __init__(self, session: RemapSession) -> None:
        super().__init__()
        self.session = session
        self.setTitle("Target")
        self.setSubTitle(
            "What the output must satisfy: a .meta graph's variables, a checkpoint used as a "
            "template (TF1 or TF2) or a SavedModel. Without a target, the rules decide the names."
        )
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("no target: the names are what the rules produce")
        self.path_edit.returnPressed.connect(self._use_typed)
        self._enter = EnterUsesThePath(self)
        self.path_edit.installEventFilter(self._enter)
        use = QPushButton("Use")
        use.clicked.connect(self._use_typed)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        clear = QPushButton("No target")
        clear.clicked.connect(lambda: self.set_target(None))
        row = QHBoxLayout()
        for widget in (self.path_edit, use, browse, clear):
            row.addWidget(widget)
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.keep_template = QCheckBox(
            "Target names without a source keep the template's own value"
        )
        self.keep_template.toggled.connect(self.session.set_keep_template)
        self.error_label = QLabel()
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #d63031")
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.description)
        layout.addWidget(self.keep_template)
        layout.addStretch(1)
        layout.addWidget(self.error_label)
        layout.addWidget(ProblemBar(session))
        session.inputs_changed.connect(self._refresh)
        self._refresh()

    def set_target(self, path: str | None) -> bool:
        try:
            self.session.set_target(path)
        except Exception as exc:  # CheckpointError, OSError, or a case not foreseen
            self.error_label.setText(error_sentence(exc, f"open the target {path}"))
            return False
        self.error_label.clear()
        return True

    def _refresh(self) -> None:
        target = self.session.target
        self.path_edit.setText(target.path if target is not None else "")
        if target is None:
            self.description.setText("No target.")
        else:
            lines = [target.description]
            if target.object_graph is not None:
                lines.append("The output will carry this template's object graph (TF2).")
            if target.meta_path:
                lines.append(
                    f"Its graph {os.path.basename(target.meta_path)} can be copied "
                    "beside the output."
                )
            self.description.setText("\n".join(lines))
        has_template = target is not None and target.template is not None
        self.keep_template.setEnabled(has_template)
        self.keep_template.setChecked(self.session.spec.keep_template)

    def _use_typed(self) -> None:
        self.set_target(self.path_edit.text().strip() or None)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Target", "", TARGET_FILTER)
        if path:
            self.set_target(path)
