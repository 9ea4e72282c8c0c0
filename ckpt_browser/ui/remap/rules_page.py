"""The rules page: an ordered list of rename rules to add, edit, reorder and preview."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from ckpt_browser.core.formatting import plural
from ckpt_browser.core.remap.layout import format_steps, parse_steps
from ckpt_browser.core.remap.presets import load_preset, shipped_presets
from ckpt_browser.core.remap.rules import (
    KIND_LABELS,
    NEEDS_PATTERN,
    NEEDS_REPLACEMENT,
    Rule,
    RuleKind,
)
from ckpt_browser.format import CheckpointError
from ckpt_browser.ui.remap.problem_bar import ProblemBar
from ckpt_browser.ui.remap.session import RemapSession

# Lines of a rule's preview shown at most (a rule may touch tens of thousands of names).
PREVIEW_LINES = 500
_HINTS = {
    RuleKind.SCOPE: ("old scope, e.g. bert/ (or / for all)", "new scope, e.g. encoder/"),
    RuleKind.NAME: ("exact name", "new name"),
    RuleKind.REGEX: ("regex, e.g. ^layer_(\\d+)/", "replacement, e.g. block_\\1/"),
    RuleKind.DROP: ("regex of names to drop", ""),
    RuleKind.KEEP: ("regex of names to keep", ""),
    RuleKind.LAYOUT: ("regex of the names it applies to, e.g. /kernel$", ""),
}


class RulesPage(QWizardPage):
    def __init__(self, session: RemapSession) -> None:
        super().__init__()
        self.session = session
        self.setTitle("Rules")
        self.setSubTitle(
            "Rules apply in order, each to the names the previous ones made. Select a rule to "
            "see what it changes."
        )
        self.list = QListWidget()
        self.list.currentRowChanged.connect(self._on_selected)
        buttons = QHBoxLayout()
        self.buttons = {}
        for label, slot in (
            ("Add", self._add_from_editor),
            ("Update", self._update_from_editor),
            ("Remove", lambda: self.remove_rule(self.list.currentRow())),
            ("Up", lambda: self.move_rule(self.list.currentRow(), -1)),
            ("Down", lambda: self.move_rule(self.list.currentRow(), 1)),
        ):
            button = QPushButton(label)
            button.clicked.connect(slot)
            buttons.addWidget(button)
            self.buttons[label] = button

        self.kind = QComboBox()
        for kind, label in KIND_LABELS.items():
            self.kind.addItem(label, kind)
        self.kind.currentIndexChanged.connect(self._update_editor_fields)
        self.pattern = QLineEdit()
        self.replacement = QLineEdit()
        self.layout_steps = QLineEdit()
        self.layout_steps.setPlaceholderText("e.g. transpose 1 0; reshape 2 -1; cast bfloat16")
        self.source = QComboBox()
        self.preset = QComboBox()
        self.preset.addItem("Choose a preset…", None)
        for name in shipped_presets():
            self.preset.addItem(name, name)
            self.preset.setItemData(
                self.preset.count() - 1, load_preset(name).description, Qt.ItemDataRole.ToolTipRole
            )
        self.preset_button = QPushButton("Use Preset")
        self.preset_button.setToolTip("Replace the rules with the preset's")
        self.preset_button.clicked.connect(lambda: self.use_preset(self.preset.currentData()))
        presets = QHBoxLayout()
        presets.addWidget(self.preset, 1)
        presets.addWidget(self.preset_button)
        editor = QFormLayout()
        editor.addRow("Preset", presets)
        editor.addRow("Rule", self.kind)
        editor.addRow("Match", self.pattern)
        editor.addRow("Replace with", self.replacement)
        editor.addRow("Layout steps", self.layout_steps)
        editor.addRow("Applies to", self.source)
        self.rule_error = QLabel()
        self.rule_error.setStyleSheet("color: #d63031")
        self.rule_error.setWordWrap(True)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.list, 1)
        left_layout.addLayout(buttons)
        left_layout.addLayout(editor)
        left_layout.addWidget(self.rule_error)

        self.preview_label = QLabel("Select a rule to preview it.")
        self.preview = QPlainTextEdit()
        self.preview.setReadOnly(True)
        self.preview.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.preview_label)
        right_layout.addWidget(self.preview, 1)

        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setSizes([420, 480])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addWidget(ProblemBar(session))
        session.plan_changed.connect(lambda _plan: self._refresh_preview())
        session.inputs_changed.connect(self._refresh_sources)
        session.inputs_changed.connect(self._refresh_list)  # a loaded mapping brings its rules
        self._refresh_sources()
        self._update_editor_fields()
        self._refresh_list()

    # -- editing (also what the buttons call) -----------------------------------------------------

    @property
    def rules(self) -> list[Rule]:
        return list(self.session.spec.rules)

    def add_rule(self, rule: Rule) -> bool:
        return self._set_rules([*self.rules, rule], select=len(self.rules))

    def update_rule(self, index: int, rule: Rule) -> bool:
        if not 0 <= index < len(self.rules):
            return False
        rules = self.rules
        rules[index] = rule
        return self._set_rules(rules, select=index)

    def remove_rule(self, index: int) -> None:
        rules = self.rules
        if 0 <= index < len(rules):
            del rules[index]
            self._set_rules(rules, select=min(index, len(rules) - 1))

    def move_rule(self, index: int, delta: int) -> None:
        rules = self.rules
        other = index + delta
        if 0 <= index < len(rules) and 0 <= other < len(rules):
            rules[index], rules[other] = rules[other], rules[index]
            self._set_rules(rules, select=other)

    def use_preset(self, name: str | None) -> bool:
        """Replace the rules with a shipped preset's (names and layout steps)."""
        if not name:
            return False
        try:
            rules = list(load_preset(name).rules)
        except CheckpointError as exc:
            self.rule_error.setText(str(exc))
            return False
        return self._set_rules(rules, select=0)

    def editor_rule(self) -> Rule:
        """The rule the editor fields describe (ValueError if it cannot work)."""
        kind = RuleKind(self.kind.currentData())
        steps = parse_steps(self.layout_steps.text()) if kind is RuleKind.LAYOUT else ()
        rule = Rule(
            kind, self.pattern.text(), self.replacement.text(), self.source.currentData(), steps
        )
        rule.validate()
        return rule

    # -- internals --------------------------------------------------------------------------------

    def _set_rules(self, rules: list[Rule], select: int) -> bool:
        try:
            for rule in rules:
                rule.validate()
        except ValueError as exc:
            self.rule_error.setText(str(exc))
            return False
        self.rule_error.clear()
        self.session.set_rules(rules)
        self._refresh_list()
        self.list.setCurrentRow(select)
        return True

    def _add_from_editor(self) -> None:
        try:
            self.add_rule(self.editor_rule())
        except ValueError as exc:
            self.rule_error.setText(str(exc))

    def _update_from_editor(self) -> None:
        try:
            self.update_rule(self.list.currentRow(), self.editor_rule())
        except ValueError as exc:
            self.rule_error.setText(str(exc))

    def _refresh_list(self) -> None:
        current = self.list.currentRow()
        self.list.blockSignals(True)
        self.list.clear()
        for number, rule in enumerate(self.rules, start=1):
            self.list.addItem(f"{number}. {rule.describe()}")
        self.list.blockSignals(False)
        if 0 <= current < self.list.count():
            self.list.setCurrentRow(current)
        self._refresh_preview()

    def _refresh_sources(self) -> None:
        self.source.clear()
        self.source.addItem("All sources", None)
        for number, name in enumerate(self.session.source_names):
            self.source.addItem(f"Source {number + 1}: {name}", number)

    def _update_editor_fields(self) -> None:
        kind = RuleKind(self.kind.currentData())
        pattern_hint, replacement_hint = _HINTS.get(kind, ("", ""))
        self.pattern.setEnabled(kind in NEEDS_PATTERN)
        self.replacement.setEnabled(kind in NEEDS_REPLACEMENT)
        self.layout_steps.setEnabled(kind is RuleKind.LAYOUT)
        self.pattern.setPlaceholderText(pattern_hint)
        self.replacement.setPlaceholderText(replacement_hint)

    def _on_selected(self, row: int) -> None:
        if 0 <= row < len(self.rules):
            rule = self.rules[row]
            self.kind.setCurrentIndex(self.kind.findData(rule.kind))
            self.pattern.setText(rule.pattern)
            self.replacement.setText(rule.replacement)
            self.layout_steps.setText(format_steps(rule.layout))
            self.source.setCurrentIndex(max(0, self.source.findData(rule.source)))
        self._refresh_preview()

    def _refresh_preview(self) -> None:
        plan = self.session.plan
        row = self.list.currentRow()
        if plan is None or not 0 <= row < len(plan.effects):
            self.preview_label.setText("Select a rule to preview it.")
            self.preview.clear()
            return
        effect = plan.effects[row]
        self.preview_label.setText(
            f"Rule {row + 1}: {plural(len(effect.renamed), 'name')} renamed, "
            f"{len(effect.dropped)} dropped"
        )
        lines = [f"{old}  ->  {new}" for old, new in effect.renamed[:PREVIEW_LINES]]
        lines += [f"{name}  (dropped)" for name in effect.dropped[: PREVIEW_LINES - len(lines)]]
        hidden = len(effect.renamed) + len(effect.dropped) - len(lines)
        if hidden > 0:
            lines.append(f"... and {hidden} more")
        self.preview.setPlainText("\n".join(lines))
