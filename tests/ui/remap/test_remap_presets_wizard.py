"""The remap wizard with a preset: Use Preset fills the rules (layout steps shown beside the
names), a layout rule is typed in the editor, and the write page writes safetensors."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from tf_checkpoints import write_with_tf

from ckpt_browser.core.remap.rules import RuleKind
from ckpt_browser.ui.remap.wizard import RemapWizard

safetensors_numpy = pytest.importorskip("safetensors.numpy")
QUERY = np.arange(9, dtype=np.float32).reshape(3, 3)
UP = np.arange(6, dtype=np.float32).reshape(3, 2)


@pytest.fixture
def source(tmp_path) -> str:
    return write_with_tf(
        tmp_path / "bert" / "bert_model.ckpt",
        {
            "bert/encoder/layer_0/attention/self/query/kernel": QUERY,
            "bert/encoder/layer_0/intermediate/dense/kernel": UP,
            "global_step": np.array(7, np.int64),
        },
    )


def test_use_preset_then_write_safetensors(qtbot, source, tmp_path):
    wizard = RemapWizard([source])
    qtbot.addWidget(wizard)
    wizard.show()
    while wizard.currentPage() is not wizard.rules_page:
        wizard.next()
    page = wizard.rules_page
    page.preset.setCurrentIndex(page.preset.findData("tf-bert-to-hf"))
    qtbot.mouseClick(page.preset_button, Qt.MouseButton.LeftButton)
    assert page.list.count() == 8
    page.list.setCurrentRow(1)
    assert page.kind.currentData() == RuleKind.LAYOUT
    assert page.layout_steps.text() == "transpose 1 0"
    plan = wizard.session.plan
    row = plan.rows_by_name["bert.encoder.layer.0.intermediate.dense.weight"]
    assert (row.shape, row.detail) == ((2, 3), "transpose [1, 0]")
    while wizard.currentPage() is not wizard.write_page:
        wizard.next()
    output = tmp_path / "port" / "model.safetensors"
    output.parent.mkdir()
    wizard.write_page.prefix_edit.setText(str(output))
    qtbot.mouseClick(wizard.write_page.write_button, Qt.MouseButton.LeftButton)
    page = wizard.write_page
    qtbot.waitUntil(lambda: page.result is not None or page.error is not None, timeout=20_000)
    assert wizard.write_page.error is None
    assert wizard.write_page.result.prefix == str(output)
    written = safetensors_numpy.load_file(str(output))
    np.testing.assert_array_equal(
        written["bert.encoder.layer.0.attention.self.query.weight"], QUERY.T
    )
    np.testing.assert_array_equal(written["bert.encoder.layer.0.intermediate.dense.weight"], UP.T)
    wizard.session.close()


def test_a_layout_rule_typed_in_the_editor(qtbot, source):
    wizard = RemapWizard([source])
    qtbot.addWidget(wizard)
    page = wizard.rules_page
    page.kind.setCurrentIndex(page.kind.findData(RuleKind.LAYOUT))
    page.pattern.setText("intermediate/dense/kernel$")
    page.layout_steps.setText("transpose 1 0; reshape -1")
    qtbot.mouseClick(page.buttons["Add"], Qt.MouseButton.LeftButton)
    assert page.rule_error.text() == ""
    row = wizard.session.plan.rows_by_name["bert/encoder/layer_0/intermediate/dense/kernel"]
    assert row.shape == (6,)
    page.layout_steps.setText("transpose 0 0")
    qtbot.mouseClick(page.buttons["Add"], Qt.MouseButton.LeftButton)
    assert "not a permutation" in page.rule_error.text()
    wizard.session.close()
