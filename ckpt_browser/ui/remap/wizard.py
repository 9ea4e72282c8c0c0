"""The remap wizard: compose a name-mapped checkpoint point and click.

Pages: sources -> target -> rules -> mapping table -> write. They share one `RemapSession`, whose
plan is rebuilt on every change, so each page shows the live problem counts. The mapping can be
saved to and loaded from JSON (the same file `ckpt-browser remap --map` reads) and exported as
Python for TensorFlow (`assignment_map`s and `Saver` var_lists), from any page.

Closing the wizard unfinished (Escape, Cancel, the window's close button) after changing the
configuration asks whether to keep it; a kept configuration comes back when the wizard opens again
for the same sources.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence

from PySide6.QtCore import QEvent, QObject, QSettings, Qt
from PySide6.QtWidgets import QAbstractButton, QDialog, QFileDialog, QMessageBox, QWidget, QWizard

from ckpt_browser.core.error_text import error_sentence
from ckpt_browser.core.remap.drafts import Draft, draft_key
from ckpt_browser.core.remap.spec import RemapSpec
from ckpt_browser.format import CheckpointError
from ckpt_browser.ui.remap.input_pages import SourcesPage, TargetPage
from ckpt_browser.ui.remap.kept import CloseChoice, KeptRemaps, ask_to_keep
from ckpt_browser.ui.remap.mapping_page import MappingPage
from ckpt_browser.ui.remap.rules_page import RulesPage
from ckpt_browser.ui.remap.session import RemapSession
from ckpt_browser.ui.remap.write_page import WritePage

MAPPING_FILTER = "Remap mappings (*.json);;All files (*)"
SAVE_BUTTON = QWizard.WizardButton.CustomButton1
LOAD_BUTTON = QWizard.WizardButton.CustomButton2
EXPORT_BUTTON = QWizard.WizardButton.CustomButton3


class RemapWizard(QWizard):
    def __init__(
        self,
        sources: Sequence[str] = (),
        target: str | None = None,
        parent: QWidget | None = None,
        settings: QSettings | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Remap Wizard")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.resize(1100, 760)
        self.session = RemapSession(self)
        self.sources_page = SourcesPage(self.session)
        self.target_page = TargetPage(self.session)
        self.rules_page = RulesPage(self.session)
        self.mapping_page = MappingPage(self.session)
        self.write_page = WritePage(self.session)
        for page in (
            self.sources_page,
            self.target_page,
            self.rules_page,
            self.mapping_page,
            self.write_page,
        ):
            self.addPage(page)
        for button, text, slot in (
            (SAVE_BUTTON, "Save Mapping…", self._ask_save),
            (LOAD_BUTTON, "Load Mapping…", self._ask_load),
            (EXPORT_BUTTON, "Export for TensorFlow…", self._ask_export),
        ):
            self.setOption(getattr(QWizard.WizardOption, f"Have{button.name}"), True)
            self.setButtonText(button, text)
            self.button(button).clicked.connect(slot)
        self.setButtonLayout(
            [
                SAVE_BUTTON,
                LOAD_BUTTON,
                EXPORT_BUTTON,
                QWizard.WizardButton.Stretch,
                QWizard.WizardButton.BackButton,
                QWizard.WizardButton.NextButton,
                QWizard.WizardButton.FinishButton,
                QWizard.WizardButton.CancelButton,
            ]
        )
        self.last_error: str | None = None
        self.write_page.open_requested.connect(lambda _prefix: self.accept())  # done: show it
        self.kept = KeptRemaps(settings)
        self.close_question: QMessageBox | None = None
        self.sources_page.start_afresh.connect(self.start_afresh)
        for path in sources:
            self.sources_page.add_source(path)
        if target:
            self.target_page.set_target(target)
        self._opened_with = RemapSpec(sources=list(self.session.spec.sources), target=target)
        self._key = draft_key(self._opened_with.sources)
        kept = self.kept.get(self._key)
        if kept is not None:
            self.restore(kept)
        self._baseline = self.draft().to_json()
        if parent is not None:
            parent.installEventFilter(self)  # the main window closing: keep without asking

    # -- the configuration kept for later ---------------------------------------------------------

    def draft(self) -> Draft:
        """The configuration as it stands: the spec and the output the user chose."""
        return Draft(copy.deepcopy(self.session.spec), self.write_page.chosen_output)

    @property
    def changed(self) -> bool:
        """Whether closing now would lose something the user did since the wizard opened."""
        return self.draft().to_json() != self._baseline

    def restore(self, draft: Draft) -> None:
        """Take a kept configuration back, and say so on the first page."""
        problems = self.session.apply_spec(draft.spec)
        self.write_page.set_chosen_output(draft.output)
        self.sources_page.show_restored(f"Restored what you kept for later: {draft.describe()}.")
        if problems:
            self.show_error("Some inputs of the kept remap did not open:\n" + "\n".join(problems))

    def start_afresh(self) -> None:
        """Back to the sources the wizard was opened with, and nothing else."""
        self.session.apply_spec(copy.deepcopy(self._opened_with))
        self.write_page.set_chosen_output("")
        self.sources_page.show_restored("")
        self.restart()

    # -- mapping files ----------------------------------------------------------------------------

    def save_mapping(self, path: str) -> bool:
        return self._try(lambda: self.session.save(path), f"save the mapping to {path}")

    def load_mapping(self, path: str) -> bool:
        """Load a mapping file; sources or a target that do not open are reported."""
        problems: list[str] = []
        if not self._try(lambda: problems.extend(self.session.load(path)), f"load {path}"):
            return False
        if problems:
            self.show_error("Some inputs of the mapping did not open:\n" + "\n".join(problems))
        return True

    def export_script(self, path: str) -> bool:
        return self._try(lambda: self.session.export_script(path), f"export the script {path}")

    def show_error(self, message: str) -> None:
        self.last_error = message
        box = QMessageBox(QMessageBox.Icon.Critical, "Remap Wizard", message, parent=self)
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    # -- Qt ---------------------------------------------------------------------------------------

    def reject(self) -> None:
        """Escape, Cancel and the close button: ask first when there is something to lose."""
        if self.close_question is not None:
            return  # already asking
        if not self.changed:
            super().reject()
            return
        names = ", ".join(os.path.basename(p) for p in self._opened_with.sources) or "no source"
        box = ask_to_keep(self, self.draft(), names, self.kept.persistent)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.buttonClicked.connect(self._on_close_choice)
        self.close_question = box
        box.open()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        closing = watched is self.parent() and event.type() == QEvent.Type.Close
        if closing and self.isVisible() and self.changed:
            self.kept.keep(self._key, self.draft())
        return super().eventFilter(watched, event)

    def done(self, result: int) -> None:
        if result == QDialog.DialogCode.Accepted:
            self.kept.discard(self._key)  # finished: what was kept has been used
        self.write_page.shutdown()
        super().done(result)
        self.session.close()

    # -- internals --------------------------------------------------------------------------------

    def _try(self, action, doing: str) -> bool:
        """Run `action`; an error is shown as one sentence (a mapping file's ValueError says what
        is wrong with it)."""
        try:
            action()
        except Exception as exc:
            self.show_error(error_sentence(exc, doing, expected=(CheckpointError, ValueError)))
            return False
        return True

    def _on_close_choice(self, button: QAbstractButton) -> None:
        choice = CloseChoice[button.property("choice")]
        self.close_question = None
        if choice is CloseChoice.CONTINUE:
            return
        if choice is CloseChoice.KEEP:
            self.kept.keep(self._key, self.draft())
        else:
            self.kept.discard(self._key)
        super().reject()

    def _ask_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save mapping", "mapping.json", MAPPING_FILTER)
        if path:
            self.save_mapping(path)

    def _ask_load(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load mapping", "", MAPPING_FILTER)
        if path:
            self.load_mapping(path)

    def _ask_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export for TensorFlow", "assignment_map.py", "Python (*.py);;All files (*)"
        )
        if path:
            self.export_script(path)
