"""The remap wizard driven page by page with pytest-qt; TensorFlow restores what it writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWizard
from tf_checkpoints import import_tensorflow, write_with_tf

from ckpt_browser.core.remap.plan import Status
from ckpt_browser.core.remap.rules import Rule, RuleKind
from ckpt_browser.ui.remap.wizard import RemapWizard

V = {"v1": np.array([1.0, 2.0], np.float32), "v2": np.array([[3.0]], np.float32)}


@pytest.fixture
def wizard(qtbot):
    remap_wizard = RemapWizard()
    qtbot.addWidget(remap_wizard)
    remap_wizard.show()
    yield remap_wizard
    remap_wizard.write_page.shutdown()
    remap_wizard.session.close()


@pytest.fixture
def seeds(tmp_path) -> tuple[str, str]:
    """A source with v1, v2 and a template of the new graph: other-v1, other-v2 and v3."""
    (tmp_path / "src").mkdir()
    (tmp_path / "template").mkdir()
    source = write_with_tf(tmp_path / "src" / "model.ckpt", V)
    template = write_with_tf(
        tmp_path / "template" / "model.ckpt",
        {
            "other-v1": np.zeros(2, np.float32),
            "other-v2": np.zeros((1, 1), np.float32),
            "v3": np.array([7.0, 8.0, 9.0], np.float32),
        },
    )
    return source, template


def enter(qtbot, line_edit, text: str) -> None:
    line_edit.setText(text)
    qtbot.keyClick(line_edit, Qt.Key.Key_Return)


def restore(prefix: str, shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """Initialize variables of these names from the checkpoint, as init_from_checkpoint does."""
    tf = import_tensorflow()
    v1 = tf.compat.v1
    with tf.Graph().as_default(), v1.Session() as session:
        variables = {n: v1.get_variable(n, s, use_resource=True) for n, s in shapes.items()}
        v1.train.init_from_checkpoint(prefix, {"/": "/"})  # every variable from its own name
        session.run(v1.global_variables_initializer())
        return session.run(variables)


def test_page_by_page_to_a_checkpoint_tensorflow_restores(qtbot, wizard, seeds, tmp_path):
    source, template = seeds
    sources_page = wizard.sources_page
    assert not sources_page.isComplete()
    enter(qtbot, sources_page.path_edit, str(tmp_path / "missing"))
    assert "missing" in sources_page.error_label.text()
    enter(qtbot, sources_page.path_edit, source)
    assert sources_page.list.count() == 1 and sources_page.isComplete()

    wizard.next()
    enter(qtbot, wizard.target_page.path_edit, template)
    assert "template" in wizard.target_page.description.text()
    assert "3 missing" in wizard.session.plan.summary()  # nothing maps onto the target yet

    wizard.next()
    rules = wizard.rules_page
    rules.kind.setCurrentIndex(rules.kind.findData(RuleKind.REGEX))
    rules.pattern.setText(r"^(v\d)$")
    rules.replacement.setText(r"other-\1")
    qtbot.mouseClick(rules.buttons["Add"], Qt.MouseButton.LeftButton)
    assert rules.list.count() == 1
    assert rules.preview_label.text() == "Rule 1: 2 names renamed, 0 dropped"
    assert "v1  ->  other-v1" in rules.preview.toPlainText()

    wizard.next()
    mapping = wizard.mapping_page
    assert mapping.model.rowCount() == 3
    assert not mapping.isComplete()
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()
    mapping.status_filter.setCurrentText("Problems")
    assert mapping.model.rowCount() == 1 and mapping.model.row_at(0).name == "v3"
    mapping.table.clicked.emit(mapping.model.index(0, 0))  # a click on the row
    picker = mapping.picker
    assert picker is not None and picker.isVisible()
    picker.filter_edit.setText("v2")
    assert picker.proxy.rowCount() == 1
    template_button = next(
        b
        for b in picker.findChildren(type(rules.buttons["Add"]))
        if b.text() == "Keep Template Value"
    )
    qtbot.mouseClick(template_button, Qt.MouseButton.LeftButton)
    row = wizard.session.plan.rows_by_name["v3"]
    assert row.status is Status.TEMPLATE and row.by_hand
    assert mapping.isComplete() and "no blocking problems" in wizard.session.plan.summary()

    wizard.next()
    write = wizard.write_page
    out = tmp_path / "out" / "model.ckpt"
    write.prefix_edit.setText(str(out))
    qtbot.mouseClick(write.write_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: write.result is not None or write.error is not None, timeout=20_000)
    assert write.error is None
    assert "read back and verified" in write.result_label.text()
    assert wizard.button(QWizard.WizardButton.FinishButton).isEnabled()
    restored = restore(str(out), {"other-v1": (2,), "other-v2": (1, 1), "v3": (3,)})
    np.testing.assert_array_equal(restored["other-v1"], V["v1"])
    np.testing.assert_array_equal(restored["other-v2"], V["v2"])
    np.testing.assert_array_equal(restored["v3"], [7.0, 8.0, 9.0])


def test_suggestions_picker_and_options(qtbot, wizard, tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "target").mkdir()
    source = write_with_tf(
        tmp_path / "src" / "bert.ckpt",
        {
            "bert/layer_0/kernel": np.ones((2, 3), np.float32),
            "bert/layer_0/bias": np.ones(3, np.float32),
        },
    )
    target = write_with_tf(
        tmp_path / "target" / "enc.ckpt",
        {
            "encoder/layer_0/kernel": np.zeros(6, np.float32),
            "encoder/layer_0/bias": np.zeros(3, np.float32),
        },
    )
    wizard.sources_page.add_source(source)
    wizard.target_page.set_target(target)
    wizard.setCurrentId(3)  # straight to the mapping table
    mapping = wizard.mapping_page
    assert wizard.session.plan.count(wizard.session.plan.blocking[0].kind) == 2
    assert mapping.find_suggestions() == 2
    top = mapping.problems.topLevelItem(0)
    assert "suggestion: bert/layer_0/bias" in top.child(0).child(0).text(0)
    assert mapping.accept_suggestions() == 2
    assert Status.SHAPE in {row.status for row in wizard.session.plan.rows}
    mapping.allow_reshape.setChecked(True)
    assert not wizard.session.plan.blocking and mapping.isComplete()
    # a name picked by hand from the searchable list
    picker = mapping.open_picker("encoder/layer_0/bias")
    picker.filter_edit.setText("bias")
    picker.view.setCurrentIndex(picker.proxy.index(0, 0))
    picker.use_selected()
    assert wizard.session.spec.overrides["encoder/layer_0/bias"].key == "bert/layer_0/bias"


def test_mapping_saves_loads_and_exports(qtbot, wizard, seeds, tmp_path):
    source, template = seeds
    wizard.sources_page.add_source(source)
    wizard.target_page.set_target(template)
    wizard.rules_page.add_rule(Rule(RuleKind.REGEX, r"^(v\d)$", r"other-\1"))
    wizard.session.set_keep_template(True)
    path = tmp_path / "map.json"
    assert wizard.save_mapping(str(path))
    saved = json.loads(path.read_text())
    assert saved["options"]["keep_template"] and saved["sources"] == [str(Path(source))]

    other = RemapWizard()
    qtbot.addWidget(other)
    assert other.load_mapping(str(path))
    assert other.rules_page.list.count() == 1
    assert other.session.plan.summary() == wizard.session.plan.summary()
    script = tmp_path / "restore.py"
    assert other.export_script(str(script))
    assert "'v1': 'other-v1'" in script.read_text()
    assert not other.load_mapping(str(tmp_path / "nothing.json"))
    assert "cannot read the mapping file" in other.last_error
    other.session.close()


def test_cancelled_write_leaves_nothing(qtbot, wizard, tmp_path):
    (tmp_path / "src").mkdir()
    big = {f"w{i}": np.full((1024, 4096), i, np.float32) for i in range(4)}  # 64 MB
    source = write_with_tf(tmp_path / "src" / "model.ckpt", big)
    wizard.sources_page.add_source(source)
    wizard.setCurrentId(4)
    write = wizard.write_page
    out = tmp_path / "out" / "model.ckpt"
    write.prefix_edit.setText(str(out))
    assert write.start_write()
    write.cancel_write()
    qtbot.waitUntil(lambda: not write.writing, timeout=20_000)
    qtbot.waitUntil(lambda: "Cancelled" in write.result_label.text(), timeout=5_000)
    assert write.result is None
    assert not out.parent.exists() or not any(out.parent.iterdir())
    assert not write.isComplete()


def test_tools_menu_opens_the_wizard_on_the_open_checkpoint(qtbot, window, seeds):
    source, _ = seeds
    assert window.open_path(source)
    window.remap_action.trigger()
    remap_wizard = window.remap_wizard
    assert [c.prefix for c in remap_wizard.session.sources] == [str(Path(source))]
    assert remap_wizard.isVisible() and remap_wizard.sources_page.isComplete()
    remap_wizard.reject()


def test_return_in_a_path_box_uses_the_path_and_stays_on_the_page(qtbot, wizard, seeds):
    source, template = seeds
    qtbot.keyClicks(wizard.sources_page.path_edit, source)
    qtbot.keyClick(wizard.sources_page.path_edit, Qt.Key.Key_Return)
    assert wizard.currentPage() is wizard.sources_page  # the user sees the source in the list
    assert wizard.sources_page.list.count() == 1
    wizard.next()
    qtbot.keyClicks(wizard.target_page.path_edit, template)
    qtbot.keyClick(wizard.target_page.path_edit, Qt.Key.Key_Return)
    assert wizard.currentPage() is wizard.target_page
    assert "template" in wizard.target_page.description.text()
