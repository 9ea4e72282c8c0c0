"""The remap wizard: compose a name-mapped checkpoint point and click.

Pages: sources -> target -> rules -> mapping table -> write. They share one `RemapSession`, whose
plan is rebuilt on every change, so each page shows the live problem counts. The mapping can be
saved to and loaded from JSON (the same file `ckpt-browser remap --map` reads) and exported as
Python for TensorFlow (`assignment_map`s and `Saver` var_lists), from any page.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget, QWizard

from ckpt_browser.format import CheckpointError
from ckpt_browser.ui.remap_input_pages import SourcesPage, TargetPage
from ckpt_browser.ui.remap_mapping_page import MappingPage
from ckpt_browser.ui.remap_rules_page import RulesPage
from ckpt_browser.ui.remap_session import RemapSession
from ckpt_browser.ui.remap_write_page import WritePage

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
        for path in sources:
            self.sources_page.add_source(path)
        if target:
            self.target_page.set_target(target)

    # -- mapping files ----------------------------------------------------------------------------

    def save_mapping(self, path: str) -> bool:
        return self._try(lambda: self.session.save(path))

    def load_mapping(self, path: str) -> bool:
        """Load a mapping file; sources or a target that do not open are reported."""
        problems: list[str] = []
        if not self._try(lambda: problems.extend(self.session.load(path))):
            return False
        if problems:
            self.show_error("Some inputs of the mapping did not open:\n" + "\n".join(problems))
        return True

    def export_script(self, path: str) -> bool:
        return self._try(lambda: self.session.export_script(path))

    def show_error(self, message: str) -> None:
        self.last_error = message
        box = QMessageBox(QMessageBox.Icon.Critical, "Remap Wizard", message, parent=self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    # -- Qt ---------------------------------------------------------------------------------------

    def done(self, result: int) -> None:
        self.write_page.shutdown()
        super().done(result)
        self.session.close()

    # -- internals --------------------------------------------------------------------------------

    def _try(self, action) -> bool:
        try:
            action()
        except (CheckpointError, OSError, ValueError) as exc:
            self.show_error(str(exc))
            return False
        return True

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
