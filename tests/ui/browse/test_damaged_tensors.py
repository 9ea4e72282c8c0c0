"""The window with a tensor whose checksum fails (TensorFlow refuses it): the tensor view says
so, the export asks before writing it, and the remap wizard copies it only when its box is ticked,
and then says so in the result."""

from __future__ import annotations

import numpy as np
import pytest
from damaged_files import flip_stored_byte, folder_digest
from PySide6.QtCore import Qt
from tf_checkpoints import write_with_tf

from ckpt_browser.ui.remap.wizard import RemapWizard

VALUES = {"dense/kernel": np.arange(12, dtype=np.float32).reshape(3, 4), "step": np.array(3)}


@pytest.fixture
def damaged(tmp_path) -> str:
    prefix = write_with_tf(tmp_path / "src" / "model.ckpt", VALUES)
    flip_stored_byte(prefix, "dense/kernel", at=2)
    return prefix


def test_the_tensor_view_notes_a_damaged_tensor(window, wait_idle, damaged):
    assert window.open_path(damaged)
    assert window.select("dense/kernel")
    wait_idle(window)
    view = window.tensor_view
    assert view.checksum_label.isVisible()
    assert "do not match their stored checksum" in view.checksum_label.text()
    assert "'dense/kernel'" in view.checksum_label.toolTip()
    assert view.analysis is not None  # the values are still shown, marked
    assert window.select("step")
    wait_idle(window)
    assert not view.checksum_label.isVisible()


def test_export_asks_before_writing_a_damaged_tensor(window, wait_idle, damaged, tmp_path):
    assert window.open_path(damaged)
    assert window.select("dense/kernel")
    wait_idle(window)
    out = tmp_path / "kernel.npy"
    window.export.export(str(out))
    wait_idle(window)
    box = window.export.damaged_box
    assert box is not None and box.isVisible() and not out.exists()
    assert "'dense/kernel'" in box.text() and "Nothing was exported" in box.text()
    window.export.export_anyway.click()
    wait_idle(window)
    assert out.exists()
    assert "1 damaged tensor among them" in window.statusBar().currentMessage()
    assert np.sum(np.load(out) != VALUES["dense/kernel"]) == 1


def _write(qtbot, wizard: RemapWizard, prefix: str, allow: bool):
    while wizard.currentPage() is not wizard.write_page:
        wizard.next()
    page = wizard.write_page
    page.prefix_edit.setText(prefix)
    page.allow_bad_checksums.setChecked(allow)
    qtbot.mouseClick(page.write_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not page.writing, timeout=20_000)
    return page


def test_the_wizard_copies_a_damaged_tensor_only_when_its_box_is_ticked(qtbot, damaged, tmp_path):
    before = folder_digest(tmp_path / "src")
    wizard = RemapWizard([damaged])
    qtbot.addWidget(wizard)
    wizard.show()
    out = str(tmp_path / "out" / "model.ckpt")
    page = _write(qtbot, wizard, out, allow=False)
    assert page.result is None
    assert "Not written:" in page.result_label.text()
    assert "checksum does not match" in page.result_label.text()
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())

    wizard.back()
    page = _write(qtbot, wizard, out, allow=True)
    assert page.result is not None and len(page.result.damaged) == 1
    assert "1 tensor copied from damaged source bytes" in page.result_label.text()
    assert folder_digest(tmp_path / "src") == before
    wizard.session.close()
