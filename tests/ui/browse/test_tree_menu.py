"""What a tree row offers (Export, Compare With, Show in Graph), the export folder kept across
runs, and one Open Recent entry per checkpoint however it was opened."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import tf_checkpoints as tfc
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QFileDialog

from ckpt_browser.ui.browse.main_window import MainWindow

DEMO_DIR = Path(__file__).resolve().parents[3] / "resources" / "demo"


def _menu_actions(window, path: str) -> dict[str, object]:
    index = window.tree.model.index_of_path(path)
    assert index.isValid()
    menu = window.tree.build_menu(index)
    return {action.text().replace("&", ""): action for action in menu.actions() if action.text()}


@pytest.fixture
def save_dialog(monkeypatch):
    """Answers the save dialog with the next of `answers`; records where it started."""
    offered: list[str] = []
    answers: list[str] = []

    def get_save_file_name(parent, title, start, filters):
        offered.append(start)
        return answers.pop(0), filters.split(";;")[0]

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(get_save_file_name))
    return offered, answers


def test_recent_files_hold_a_checkpoint_once_however_it_was_opened(window, tf1_training_dir):
    assert window.open_path(str(DEMO_DIR))
    window_prefix = window.checkpoint.prefix
    for prefix in (window_prefix, window_prefix + ".index", str(DEMO_DIR)):
        assert window.open_path(prefix)
    assert window.open_path(str(tf1_training_dir.directory))
    entries = [a.text() for a in window.recent_menu.actions() if a.text() not in ("", "Clear")]
    assert entries == [str(tf1_training_dir.directory), str(DEMO_DIR)]
    older = str(Path(window_prefix).with_name("model.ckpt-100"))
    assert window.open_path(older)  # another save of the run is another checkpoint
    entries = [a.text() for a in window.recent_menu.actions() if a.text() not in ("", "Clear")]
    assert entries == [older, str(tf1_training_dir.directory), str(DEMO_DIR)]


def test_a_tensor_row_offers_export_compare_and_graph(window, qtbot):
    assert window.open_path(str(DEMO_DIR))
    actions = _menu_actions(window, "conv1/kernel")
    assert list(actions)[:4] == ["Copy name", "Export…", "Compare With…", "Show in Graph"]
    assert window.tree.selected_key() == "conv1/kernel"  # the menu acts on the clicked row
    assert all(action.isEnabled() for action in actions.values())
    assert "Export 0 Tensors…" not in actions  # a TF1 variable with slots below is one tensor


def test_export_from_the_menu_remembers_its_folder(window, qtbot, wait_idle, save_dialog, tmp_path):
    offered, answers = save_dialog
    assert window.open_path(str(DEMO_DIR))
    prefix = window.checkpoint.prefix
    tf = tfc.import_tensorflow()
    reader = tf.train.load_checkpoint(prefix)

    elsewhere = tmp_path / "exports"
    elsewhere.mkdir()
    answers.append(str(elsewhere / "kernel.npy"))
    _menu_actions(window, "conv1/kernel")["Export…"].trigger()
    wait_idle(window)
    assert offered[0] == str(Path(prefix).parent / "conv1_kernel.npy")  # first: beside the ckpt
    np.testing.assert_array_equal(
        np.load(elsewhere / "kernel.npy", allow_pickle=False), reader.get_tensor("conv1/kernel")
    )

    folder = window.tree.model.index_of_path("conv1")
    under = [leaf.info.name for leaf in window.tree.model.node(folder).tensors()]
    actions = _menu_actions(window, "conv1")
    answers.append(str(elsewhere / "conv1"))  # no suffix typed: several tensors make an .npz
    actions[f"Export {len(under)} Tensors…"].trigger()
    wait_idle(window)
    assert offered[1] == str(elsewhere / "conv1.npz")  # the folder of the last export
    with np.load(elsewhere / "conv1.npz", allow_pickle=False) as archive:
        assert sorted(archive.files) == sorted(under)
        for name in under:
            np.testing.assert_array_equal(archive[name], reader.get_tensor(name))

    later = MainWindow(QSettings())  # the next run offers the same folder
    qtbot.addWidget(later)
    assert later.open_path(str(DEMO_DIR))
    assert later.export.suggested_path(["conv1/bias"]) == str(elsewhere / "conv1_bias.npy")


def test_compare_with_opens_this_checkpoint_as_a_on_the_row(window, qtbot, monkeypatch):
    assert window.open_path(str(DEMO_DIR))
    this = window.checkpoint.prefix
    other = str(Path(this).with_name("model.ckpt-100.index"))
    monkeypatch.setattr(
        QFileDialog, "getOpenFileName", staticmethod(lambda *args: (other, "")), raising=True
    )
    _menu_actions(window, "conv1/kernel")["Compare With…"].trigger()
    compare = window.compare.last_window
    assert compare is not None
    qtbot.waitUntil(compare.is_idle, timeout=30_000)
    a, b = compare.view.checkpoints
    assert a.prefix == this and b.prefix == other[: -len(".index")]
    assert compare.view.selected_name() == "conv1/kernel"
    compare.close()


def test_show_in_graph_opens_the_dock_on_the_variable(window, qtbot, wait_idle):
    window.resize(1200, 800)  # too narrow for the graph to open by itself
    assert window.open_path(str(DEMO_DIR))
    dock = window.graph_dock
    assert not dock.isVisible()
    qtbot.waitUntil(lambda: dock.panel.model is not None, timeout=30_000)
    _menu_actions(window, "conv1/kernel")["Show in Graph"].trigger()
    assert dock.isVisible()
    panel = dock.panel
    qtbot.waitUntil(lambda: panel.selected_item() is not None and not panel.busy, timeout=30_000)
    assert panel.model.items[panel.selected_item()].name == "conv1/kernel"
    assert window.tree.selected_key() == "conv1/kernel"
    wait_idle(window)
    assert window.tensor_view.key == "conv1/kernel"


def test_show_in_graph_is_disabled_without_a_node(window, qtbot, shapes_ckpt, tmp_path):
    assert window.open_path(shapes_ckpt.prefix)  # no graph beside it
    assert not _menu_actions(window, "net/scalar")["Show in Graph"].isEnabled()

    # The same checkpoint with another model's graph beside it: none of its variables is drawn.
    source = Path(shapes_ckpt.prefix)
    for file in source.parent.iterdir():
        if file.name.startswith(source.name + "."):
            shutil.copy(file, tmp_path / file.name)
    shutil.copy(DEMO_DIR / "model.ckpt-300.meta", tmp_path / (source.name + ".meta"))
    assert window.open_path(str(tmp_path / source.name))
    panel = window.graph_dock.panel
    qtbot.waitUntil(lambda: panel.model is not None and not panel.busy, timeout=30_000)
    assert not _menu_actions(window, "net/scalar")["Show in Graph"].isEnabled()
