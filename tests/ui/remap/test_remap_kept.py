"""Closing the remap wizard unfinished: it asks, keeps the configuration, and brings it back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt
from tf_checkpoints import write_with_tf

from ckpt_browser.core.remap.rules import Rule, RuleKind
from ckpt_browser.core.remap.spec import Override
from ckpt_browser.ui.remap.kept import CloseChoice, button_for
from ckpt_browser.ui.remap.wizard import RemapWizard


@pytest.fixture
def source_and_template(tmp_path) -> tuple[str, str]:
    (tmp_path / "src").mkdir()
    (tmp_path / "template").mkdir()
    source = write_with_tf(
        tmp_path / "src" / "model.ckpt",
        {"v1": np.ones(2, np.float32), "v2": np.ones((1, 1), np.float32)},
    )
    template = write_with_tf(
        tmp_path / "template" / "model.ckpt",
        {"other-v1": np.zeros(2, np.float32), "v3": np.zeros(3, np.float32)},
    )
    return source, template


@pytest.fixture
def open_wizard(qtbot) -> Iterator:
    """Open a wizard as the main window does: on these sources, with the window's settings."""
    opened: list[RemapWizard] = []

    def open_on(sources, settings: QSettings | None = None) -> RemapWizard:
        wizard = RemapWizard(sources, settings=settings if settings is not None else QSettings())
        qtbot.addWidget(wizard)
        wizard.show()
        qtbot.waitExposed(wizard)
        opened.append(wizard)
        return wizard

    yield open_on
    for wizard in opened:
        wizard.write_page.shutdown()
        wizard.session.close()


def configure(wizard: RemapWizard, template: str, output: str) -> None:
    """What a user does before being interrupted: target, two rules, a hand pick, options."""
    wizard.next()
    assert wizard.target_page.set_target(template)
    wizard.next()
    wizard.rules_page.add_rule(Rule(RuleKind.NAME, "v1", "other-v1"))
    wizard.rules_page.add_rule(Rule(RuleKind.DROP, "^v2$"))
    wizard.session.set_override("v3", Override.from_template())
    wizard.next()
    wizard.mapping_page.allow_reshape.setChecked(True)
    wizard.next()
    wizard.write_page.prefix_edit.setText(output)


def press_escape(qtbot, wizard: RemapWizard):
    qtbot.keyClick(wizard, Qt.Key.Key_Escape)
    return wizard.close_question


def answer(qtbot, question, choice: CloseChoice) -> None:
    qtbot.mouseClick(button_for(question, choice), Qt.MouseButton.LeftButton)


def test_escape_asks_keep_and_reopening_restores_everything(
    qtbot, open_wizard, source_and_template, tmp_path
):
    source, template = source_and_template
    output = str(tmp_path / "elsewhere" / "new.ckpt")
    wizard = open_wizard([source])
    configure(wizard, template, output)
    kept = wizard.draft().to_json()

    question = press_escape(qtbot, wizard)
    assert question is not None and question.isVisible() and wizard.isVisible()
    assert "Keep this remap configuration" in question.text()
    assert "the target model.ckpt, 2 rules, 1 name decided by hand" in question.informativeText()
    answer(qtbot, question, CloseChoice.KEEP)
    assert not wizard.isVisible()

    again = open_wizard([source], QSettings())  # a fresh settings object: as after a restart
    assert again.draft().to_json() == kept
    assert [r.describe() for r in again.session.spec.rules] == [
        r.describe() for r in wizard.session.spec.rules
    ]
    assert again.rules_page.list.count() == 2
    assert again.target_page.path_edit.text() == kept["spec"]["target"]
    assert again.session.spec.overrides == {"v3": Override.from_template()}
    assert again.sources_page.restored_bar.isVisible()
    assert "2 rules" in again.sources_page.restored_label.text()
    again.setCurrentId(3)
    assert again.mapping_page.allow_reshape.isChecked()
    again.setCurrentId(4)
    assert again.write_page.prefix_edit.text() == output
    assert not again.changed  # closing a restored, untouched wizard asks nothing
    again.reject()
    assert again.close_question is None and not again.isVisible()
    assert open_wizard([source]).draft().to_json() == kept  # and the draft is still there


def test_discard_forgets_and_continue_editing_keeps_the_wizard_open(
    qtbot, open_wizard, source_and_template, tmp_path
):
    source, template = source_and_template
    wizard = open_wizard([source])
    configure(wizard, template, str(tmp_path / "out" / "m.ckpt"))
    before = wizard.draft().to_json()

    question = press_escape(qtbot, wizard)
    qtbot.keyClick(question, Qt.Key.Key_Escape)  # a second Escape must not throw work away
    assert wizard.isVisible() and wizard.close_question is None
    assert wizard.draft().to_json() == before

    wizard.close()  # the window's close button asks the same question
    question = wizard.close_question
    assert question is not None and wizard.isVisible()
    answer(qtbot, question, CloseChoice.DISCARD)
    assert not wizard.isVisible()

    fresh = open_wizard([source])
    assert fresh.session.spec.rules == [] and fresh.session.target is None
    assert not fresh.sources_page.restored_bar.isVisible()


def test_an_untouched_wizard_closes_without_a_question(qtbot, open_wizard, source_and_template):
    source, _ = source_and_template
    wizard = open_wizard([source])
    wizard.next()
    wizard.next()  # looking around changes nothing
    assert press_escape(qtbot, wizard) is None
    assert not wizard.isVisible()


def test_start_afresh_and_other_sources_do_not_see_the_draft(
    qtbot, open_wizard, source_and_template, tmp_path
):
    source, template = source_and_template
    wizard = open_wizard([source])
    configure(wizard, template, "")
    answer(qtbot, press_escape(qtbot, wizard), CloseChoice.KEEP)

    assert open_wizard([template]).session.spec.rules == []  # other sources: nothing restored
    restored = open_wizard([source])
    assert len(restored.session.spec.rules) == 2
    qtbot.mouseClick(
        next(
            b
            for b in restored.sources_page.findChildren(type(restored.write_page.write_button))
            if b.text() == "Start Afresh"
        ),
        Qt.MouseButton.LeftButton,
    )
    assert restored.session.spec.rules == [] and restored.session.target is None
    assert [c.prefix for c in restored.session.sources] == [str(Path(source))]
    assert not restored.sources_page.restored_bar.isVisible()


def test_without_settings_the_draft_lasts_for_the_run(qtbot, source_and_template, tmp_path):
    source, template = source_and_template
    wizard = RemapWizard([source], settings=None)
    qtbot.addWidget(wizard)
    wizard.show()
    configure(wizard, template, "")
    answer(qtbot, press_escape(qtbot, wizard), CloseChoice.KEEP)
    again = RemapWizard([source], settings=None)
    qtbot.addWidget(again)
    assert len(again.session.spec.rules) == 2
    assert QSettings().value("remap/kept") is None  # nothing written to the user's settings
    for each in (wizard, again):
        each.session.close()


def test_closing_the_main_window_keeps_an_open_wizard_s_work(qtbot, window, source_and_template):
    source, template = source_and_template
    assert window.open_path(source)
    wizard = window.open_remap_wizard()
    configure(wizard, template, "")
    window.close()
    again = window.open_remap_wizard()
    assert len(again.session.spec.rules) == 2 and again.session.target is not None
