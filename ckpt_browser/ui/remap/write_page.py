"""The last page: where to write, then the write itself with progress, cancel and the result.

After a write the result can be opened in the main window or compared with a source there; the
page only asks for that (`open_requested`, `compare_requested`), the window does it.
"""

from __future__ import annotations

import html
import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWizard,
    QWizardPage,
)

from ckpt_browser.core.formatting import format_bytes, plural
from ckpt_browser.core.remap.output import default_output
from ckpt_browser.core.remap.safetensors_output import (
    is_safetensors_output,
    write_remap_safetensors,
)
from ckpt_browser.core.remap.write import WriteCancelled, WriteResult, output_bytes, write_remap
from ckpt_browser.core.tensor.stats import Cancelled
from ckpt_browser.ui.remap.problem_bar import ProblemBar
from ckpt_browser.ui.remap.session import RemapSession
from ckpt_browser.ui.widgets.workers import TaskContext, TaskHandle, TaskRunner


class WritePage(QWizardPage):
    open_requested = Signal(str)  # the written prefix
    compare_requested = Signal(str, str)  # a source's prefix, the written prefix

    def __init__(self, session: RemapSession) -> None:
        super().__init__()
        self.session = session
        self.result: WriteResult | None = None
        self.error: str | None = None
        self._handle: TaskHandle | None = None
        self._existed = False
        self._prefix = ""
        self._default_prefix = ""
        self.runner = TaskRunner(self)
        self.runner.busy_changed.connect(self._on_busy_changed)
        self.setTitle("Write")
        self.setSubTitle(
            "A new checkpoint prefix, or a file ending in .safetensors. Tensors stream from the "
            "sources; nothing appears under the final name unless everything was written, and "
            "the result is read back and verified."
        )
        self.prefix_edit = QLineEdit()
        self.prefix_edit.setPlaceholderText("e.g. /path/to/remapped/model.ckpt")
        self.prefix_edit.textChanged.connect(lambda _text: self._on_prefix_edited())
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.prefix_edit, 1)
        row.addWidget(browse)
        self.note_label = QLabel()
        self.note_label.setWordWrap(True)
        self.note_label.setStyleSheet("color: #e17000")
        self.overwrite = QCheckBox("Overwrite a checkpoint that exists there")
        self.copy_meta = QCheckBox("Copy the target's .meta graph beside the output")
        self.copy_meta.setChecked(True)
        self.allow_bad_checksums = QCheckBox(
            "Copy tensors whose stored checksum does not match (TensorFlow refuses them)"
        )
        self.allow_bad_checksums.setToolTip(
            "Off: a damaged source tensor stops the write. On: it is copied with a fresh, valid "
            "checksum, and the result lists it."
        )
        self.write_button = QPushButton("Write Checkpoint")
        self.write_button.clicked.connect(self.start_write)
        self.cancel_button = QPushButton("Cancel Writing")
        self.cancel_button.clicked.connect(self.cancel_write)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.result_label = QLabel()
        self.result_label.setTextFormat(Qt.TextFormat.RichText)  # whatever the text: escaped
        self.result_label.setWordWrap(True)
        self.open_button = QPushButton("Open Result")
        self.open_button.setToolTip("Open the new checkpoint in the main window")
        self.open_button.clicked.connect(self._open_result)
        self.compare_button = QPushButton("Compare with Source")
        self.compare_button.setToolTip("Show what changed between a source and the result")
        self.compare_button.clicked.connect(lambda: self.compare_with(0))
        self.compare_menu = QMenu(self)
        result_actions = QHBoxLayout()
        result_actions.addWidget(self.open_button)
        result_actions.addWidget(self.compare_button)
        result_actions.addStretch(1)
        actions = QHBoxLayout()
        actions.addWidget(self.write_button)
        actions.addWidget(self.cancel_button)
        actions.addWidget(self.progress, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.note_label)
        layout.addWidget(self.overwrite)
        layout.addWidget(self.copy_meta)
        layout.addWidget(self.allow_bad_checksums)
        layout.addWidget(self.summary)
        layout.addLayout(actions)
        layout.addWidget(self.result_label)
        layout.addLayout(result_actions)
        layout.addStretch(1)
        layout.addWidget(ProblemBar(session))
        self._update_buttons()
        self._show_result_actions()

    def initializePage(self) -> None:
        """Entered with Next: the plan may have changed since the last write, so start afresh."""
        if not self.writing:
            self.result, self.error = None, None
            self.result_label.clear()
            self.progress.setValue(0)
            self._show_result_actions()
        plan, target = self.session.plan, self.session.target
        has_meta = target is not None and target.meta_path is not None
        self.copy_meta.setEnabled(has_meta)
        self.copy_meta.setChecked(has_meta)
        self.copy_meta.setToolTip(target.meta_path if has_meta else "the target has no .meta")
        if plan is not None:
            written = sum(row.written for row in plan.rows)
            self.summary.setText(
                f"{plural(written, 'tensor')}, {format_bytes(output_bytes(plan))} of tensor data."
                + (
                    f" Object graph: {plan.object_graph.message}."
                    if plan.object_graph.message
                    else ""
                )
            )
        text = self.prefix_edit.text().strip()
        if (not text or text == self._default_prefix) and self.session.sources:
            default = default_output(self.session.sources[0].prefix)
            self._default_prefix = default.prefix
            self.prefix_edit.setText(default.prefix)
            self.note_label.setText(default.note)
        self.note_label.setVisible(bool(self.note_label.text()) and not self.chosen_output)

    @property
    def chosen_output(self) -> str:
        """The output prefix the user chose ("" while it is the default, or empty)."""
        text = self.prefix_edit.text().strip()
        return "" if text == self._default_prefix else text

    def set_chosen_output(self, prefix: str) -> None:
        """Use `prefix` as the output ("": the default, filled in when the page is entered)."""
        self._default_prefix = ""
        self.prefix_edit.setText(prefix)

    def isComplete(self) -> bool:
        return self.result is not None and not self.writing

    @property
    def writing(self) -> bool:
        return self._handle is not None and self._handle.pending

    def start_write(self) -> bool:
        """Write the current plan in the background; False if it cannot start."""
        plan, inputs = self.session.plan, self.session.inputs
        prefix = self.prefix_edit.text().strip()
        if plan is None or inputs is None or not prefix or self.writing:
            return False
        self.result, self.error = None, None
        self._existed = os.path.exists(
            prefix if is_safetensors_output(prefix) else prefix + ".index"
        )
        self._prefix = os.path.abspath(prefix)
        overwrite, copy_meta = self.overwrite.isChecked(), self.copy_meta.isChecked()
        allow_bad_checksums = self.allow_bad_checksums.isChecked()

        def work(context: TaskContext) -> WriteResult:
            options = {
                "overwrite": overwrite,
                "allow_bad_checksums": allow_bad_checksums,
                "progress": lambda done, total: context.report(done / total if total else 1.0),
                "cancel": context.cancelled,
            }
            try:
                if is_safetensors_output(prefix):
                    return write_remap_safetensors(plan, inputs, prefix, **options)
                return write_remap(plan, inputs, prefix, copy_meta=copy_meta, **options)
            except WriteCancelled:
                raise Cancelled() from None

        self.progress.setValue(0)
        self.result_label.setText("Writing…")
        self._show_result_actions()
        self._handle = self.runner.start(
            work,
            self._on_done,
            on_failed=self._on_failed,
            on_progress=self._on_progress,
            doing=f"write {prefix}",
        )
        self._update_buttons()
        return True

    def cancel_write(self) -> None:
        if self.writing:
            self._handle.cancel()
            self.result_label.setText("Cancelling…")

    def shutdown(self) -> None:
        """Stop a running write and wait for it (the wizard is closing)."""
        self.runner.cancel_all()
        self.runner.wait_all()

    # -- results ----------------------------------------------------------------------------------

    def _on_progress(self, fraction: float) -> None:
        self.progress.setValue(int(fraction * 1000))

    def _on_done(self, result: WriteResult) -> None:
        self.result = result
        self.progress.setValue(1000)
        # Rich text for the bold line; paths and notes (which may hold names) escaped.
        lines = [
            f"<b>Wrote {plural(result.tensors, 'tensor')} ({format_bytes(result.nbytes)}) to "
            f"{html.escape(result.prefix)} in {result.seconds:.2f} s; read back and verified.</b>"
        ]
        if result.damaged:
            lines.append(
                f"<b style='color:#d63031'>{plural(len(result.damaged), 'tensor')} copied from "
                "damaged source bytes (checksum mismatch); TensorFlow restores them without "
                "noticing:</b>"
            )
            lines += [html.escape(problem) for problem in result.damaged]
        if result.state_file:
            lines.append(f"Checkpoint state file: {html.escape(result.state_file)}")
        if result.meta_path:
            lines.append(f"Graph copied: {html.escape(result.meta_path)}")
        lines += [html.escape(note) for note in result.notes]
        self.result_label.setText("<br>".join(lines))
        self._show_result_actions()

    def compare_with(self, source: int) -> None:
        """Ask for the compare view of source number `source` (from 0) against the result."""
        if self.result is not None and 0 <= source < len(self.session.spec.sources):
            self.compare_requested.emit(self.session.spec.sources[source], self.result.prefix)

    def _open_result(self) -> None:
        if self.result is not None:
            self.open_requested.emit(self.result.prefix)

    def _show_result_actions(self) -> None:
        """The two buttons once there is a result; with several sources, Compare asks which."""
        written = self.result is not None
        self.open_button.setVisible(written)
        self.compare_button.setVisible(written)
        sources = self.session.source_names
        self.compare_menu.clear()
        for number, name in enumerate(sources):
            action = self.compare_menu.addAction(f"Source {number + 1}: {name}")
            action.triggered.connect(lambda _checked=False, n=number: self.compare_with(n))
        self.compare_button.setMenu(self.compare_menu if len(sources) > 1 else None)

    def _on_failed(self, message: str) -> None:
        self.error = message
        self.progress.setValue(0)
        escaped = html.escape(message)
        self.result_label.setText(f"<b style='color:#d63031'>Not written:</b> {escaped}")

    def _on_busy_changed(self, busy: bool) -> None:
        if not busy and self.result is None and self.error is None:
            self.progress.setValue(0)
            if not self._existed and os.path.exists(self._prefix + ".index"):
                written = html.escape(self._prefix)
                self.result_label.setText(f"Cancelled too late: {written} was written.")
            else:
                self.result_label.setText("Cancelled: nothing was written.")
        self._update_buttons()
        self.completeChanged.emit()

    def _on_prefix_edited(self) -> None:
        self.note_label.setVisible(bool(self.note_label.text()) and not self.chosen_output)
        self._update_buttons()

    def _update_buttons(self) -> None:
        writing = self.writing
        self.write_button.setEnabled(not writing and bool(self.prefix_edit.text().strip()))
        self.cancel_button.setEnabled(writing)
        wizard = self.wizard()
        if wizard is not None:
            wizard.button(QWizard.WizardButton.BackButton).setEnabled(not writing)

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self,
            "Output checkpoint prefix or safetensors file",
            "",
            "TensorFlow checkpoint prefix (*);;safetensors (*.safetensors)",
        )
        if path:
            self.prefix_edit.setText(path.removesuffix(".index"))
