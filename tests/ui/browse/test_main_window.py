"""The main window driven like a user would: open, switch, reload, recent files, drops, errors.

TensorFlow is the oracle for what the window should show (names, counts, values).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import tf_checkpoints as tfc
from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from ckpt_browser.core.formatting import format_bytes, format_count
from ckpt_browser.format import CheckpointError, open_checkpoint
from ckpt_browser.ui.browse.main_window import MainWindow
from ckpt_browser.ui.browse.tree_model import Column

DEMO_DIR = Path(__file__).resolve().parents[3] / "resources" / "demo"


def _tf_variables(prefix: str) -> dict[str, tuple[int, ...]]:
    tf = tfc.import_tensorflow()
    return {name: tuple(shape) for name, shape in tf.train.list_variables(prefix)}


def _top_level_names(window: MainWindow) -> list[str]:
    model = window.tree.model
    return [model.index(row, 0).data() for row in range(model.rowCount())]


def test_open_demo_fills_tree_and_status_bar(window, wait_idle):
    assert window.open_path(str(DEMO_DIR))
    prefix = window.checkpoint.prefix
    expected = _tf_variables(prefix)
    parameters = sum(int(np.prod(shape)) for shape in expected.values())

    assert window.prefix_label.text() == prefix
    assert window.variables_label.text() == f"{format_count(len(expected))} variables"
    assert window.parameters_label.text() == f"{format_count(parameters)} parameters"
    total_bytes = sum(info.nbytes for info in window.checkpoint.values())
    assert window.bytes_label.text() == format_bytes(total_bytes)
    assert window.step_label.text() == "step 300"
    assert window.tree.model.root.leaf_count == len(expected)
    assert "conv1" in _top_level_names(window)
    assert window.windowTitle().startswith("model.ckpt-300")


def test_string_tensors_are_not_counted_as_parameters(window, shapes_ckpt):
    assert window.open_path(shapes_ckpt.prefix)
    expected = _tf_variables(shapes_ckpt.prefix)
    numeric = {n: v for n, v in shapes_ckpt.expected.items() if v.dtype != object}
    assert set(shapes_ckpt.expected) == set(expected)
    parameters = sum(value.size for value in numeric.values())
    strings = sum(v.size for v in shapes_ckpt.expected.values() if v.dtype == object)
    assert window.parameters_label.text() == f"{format_count(parameters)} parameters"
    assert f"string tensors hold {strings} more" in window.parameters_label.toolTip()
    model = window.tree.model
    vocab = model.index_of_path("vocab")
    assert model.index(vocab.row(), Column.PARAMETERS, vocab.parent()).data() == "0"
    words = model.index_of_path("vocab/words")
    assert model.index(words.row(), Column.PARAMETERS, words.parent()).data() == ""


def test_folders_show_totals_and_natural_order(window, tf1_training_dir):
    assert window.open_path(str(tf1_training_dir.directory))
    expected = _tf_variables(window.checkpoint.prefix)
    model = window.tree.model
    net = model.index_of_path("net")
    assert net.isValid()
    children = [model.index(r, 0, net).data() for r in range(model.rowCount(net))]
    layers = [name for name in children if name.startswith("layer_")]
    assert layers == sorted(layers, key=lambda n: int(n.split("_")[1]))  # layer_2 before layer_10
    under_net = [shape for name, shape in expected.items() if name.startswith("net/")]
    net_parameters = sum(int(np.prod(shape)) for shape in under_net)
    shown = model.index(net.row(), Column.PARAMETERS, net.parent()).data()
    assert shown == format_count(net_parameters)


def test_history_switcher_keeps_the_selected_variable(window, wait_idle, tf1_training_dir):
    assert window.open_path(str(tf1_training_dir.directory))
    name = tf1_training_dir.model_variables[0]
    assert window.select(name)
    wait_idle(window)
    combo = window.history.combo
    assert window.history_toolbar.isVisible()
    assert combo.count() == len(tf1_training_dir.prefixes)
    assert all(f"step {step}" in combo.itemText(i) for i, step in enumerate(tf1_training_dir.steps))
    assert combo.currentIndex() == combo.count() - 1

    combo.activated.emit(0)  # the user picks the oldest checkpoint
    wait_idle(window)
    oldest = tf1_training_dir.prefixes[0]
    assert Path(window.checkpoint.prefix) == Path(oldest)
    assert window.tensor_view.key == name
    assert window.tree.selected_key() == name
    tf = tfc.import_tensorflow()
    expected = tf.train.load_checkpoint(str(oldest)).get_tensor(name)
    stats = window.tensor_view.analysis.stats
    assert stats.max == pytest.approx(float(np.max(expected)))
    assert combo.currentIndex() == 0


def test_reload_keeps_selection(window, wait_idle):
    assert window.open_path(str(DEMO_DIR))
    assert window.select("conv1/kernel")
    wait_idle(window)
    window.reload_action.trigger()
    wait_idle(window)
    assert window.tree.selected_key() == "conv1/kernel"
    assert window.tensor_view.analysis is not None


def test_recent_files_are_kept_and_cleared(window, tf1_training_dir, tmp_path):
    window.open_path(str(DEMO_DIR))
    window.open_path(str(tf1_training_dir.directory))
    entries = [a.text() for a in window.recent_menu.actions() if a.text() and a.text() != "Clear"]
    assert entries[:2] == [str(tf1_training_dir.directory), str(DEMO_DIR)]

    other = MainWindow(QSettings())  # a new session sees the same list
    other_entries = [a.text() for a in other.recent_menu.actions()]
    assert str(DEMO_DIR) in other_entries
    other.close()

    gone = tmp_path / "gone"
    shutil.copytree(DEMO_DIR, gone)
    window.open_path(str(gone))
    shutil.rmtree(gone)
    next(a for a in window.recent_menu.actions() if a.text() == str(gone)).trigger()
    assert "gone" in window.last_error
    assert str(gone) not in [a.text() for a in window.recent_menu.actions()]

    clear = next(a for a in window.recent_menu.actions() if a.text() == "Clear")
    clear.trigger()
    assert [a.text() for a in window.recent_menu.actions() if a.text()] == ["Clear"]


def test_dropping_a_folder_opens_it(window):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(DEMO_DIR))])
    where = QPointF(50, 50)
    args = (
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    enter = QDragEnterEvent(where.toPoint(), *args)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(window, QDropEvent(where, *args))
    assert window.checkpoint is not None
    assert window.checkpoint.prefix.endswith("model.ckpt-300")


def _damaged_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "damaged"
    shutil.copytree(DEMO_DIR, copy)
    index = copy / "model.ckpt-300.index"
    data = bytearray(index.read_bytes())
    data[-48:] = bytes(48)  # wipe the footer: the table can no longer be found
    index.write_bytes(bytes(data))
    return index


@pytest.mark.parametrize("damage", ["corrupt index", "not a checkpoint", "missing"])
def test_bad_input_shows_the_format_sentence_and_the_window_survives(
    window, wait_idle, tmp_path, damage
):
    assert window.open_path(str(DEMO_DIR))
    good_prefix = window.checkpoint.prefix
    if damage == "corrupt index":
        bad = _damaged_copy(tmp_path)
    elif damage == "not a checkpoint":
        bad = tmp_path / "notes.txt"
        bad.write_text("hello")
    else:
        bad = tmp_path / "nothing-here"
    with pytest.raises(CheckpointError) as expected:
        open_checkpoint(str(bad))

    assert not window.open_path(str(bad))
    assert window.last_error == str(expected.value)
    box = window.error_box
    assert box is not None and box.isVisible()
    assert box.text() == str(expected.value)
    box.accept()

    # The old checkpoint is still open and usable.
    assert window.checkpoint.prefix == good_prefix
    assert window.select("conv2/kernel")
    wait_idle(window)
    assert window.tensor_view.analysis is not None


def test_window_geometry_and_splitters_persist(qtbot, wait_idle):
    first = MainWindow(QSettings())
    qtbot.addWidget(first)
    first.resize(760, 500)  # inside the 800x600 offscreen screen
    first.show()
    saved_size = first.size()
    first.open_path(str(DEMO_DIR), select="conv1/kernel")  # builds the tensor pane
    wait_idle(first)
    first.splitter.setSizes([250, 450])
    first.tensor_view.vertical_splitter.setSizes([200, 400])
    saved_main = first.splitter.sizes()
    saved_tensor = first.tensor_view.vertical_splitter.sizes()
    first.close()

    second = MainWindow(QSettings())
    qtbot.addWidget(second)
    second.show()
    second.open_path(str(DEMO_DIR), select="conv1/kernel")
    wait_idle(second)
    assert second.size() == saved_size
    assert second.splitter.sizes() == saved_main
    assert second.tensor_view.vertical_splitter.sizes() == saved_tensor
    second.close()


def test_unknown_select_name_is_reported(window):
    assert window.open_path(str(DEMO_DIR), select="no/such/variable")
    assert "no/such/variable" in window.last_error


def test_damaged_tensors_show_their_error_in_the_pane_while_arrow_keys_browse_on(
    window, wait_idle, qtbot, tmp_path
):
    copy = tmp_path / "truncated"
    shutil.copytree(DEMO_DIR, copy)
    with open(copy / "model.ckpt-300.data-00000-of-00001", "r+b") as file:
        file.truncate(1000)  # the first few small tensors stay whole
    assert window.open_path(str(copy))  # the index is intact: opening works
    checkpoint = window.checkpoint
    errors = {}
    for name in checkpoint:
        try:
            checkpoint.read(name)
        except CheckpointError as error:
            errors[name] = str(error)
    whole = next(name for name in checkpoint if name not in errors)
    assert len(errors) >= 3

    view = window.tensor_view
    window.tree.view.expandAll()
    assert window.select(whole)  # a readable tensor first: its results must not linger
    wait_idle(window)
    assert view.analysis is not None and view.histogram_plot.counts.size
    window.tree.view.setFocus()
    seen_damaged = []
    for _ in range(len(checkpoint) + 8):  # down through every row, scopes included
        before = window.tree.view.currentIndex()
        qtbot.keyClick(window.tree.view, Qt.Key.Key_Down)
        wait_idle(window)
        if window.tree.view.currentIndex() == before:
            break  # the last row
        assert not any(
            isinstance(widget, QMessageBox) and widget.isVisible()
            for widget in QApplication.topLevelWidgets()
        )
        assert window.error_box is None
        assert QApplication.focusWidget() is window.tree.view  # browsing goes on
        key = window.tree.selected_key()
        if key in errors:
            seen_damaged.append(key)
            assert view.error_label.isVisible()
            assert view.error_label.text().endswith(errors[key])
            assert view.analysis is None
            assert view.stats_panel.text("min") == view.stats_panel.text("count") == "—"
            assert view.histogram_plot.counts.size == 0
            assert "Could not read" in view.values.message.text()
            assert window.last_error == errors[key]
        elif key is not None:
            assert not view.error_label.isVisible()
            assert view.analysis is not None
    assert len(seen_damaged) == len(errors)


def test_truncated_shard_is_reported_once_at_open_without_a_dialog(
    window, qtbot, sharded_ckpt, tmp_path
):
    from ckpt_browser.ui.browse.tree_model import UNREADABLE_COLOR
    from tests.format.test_bad_input import copy_checkpoint

    prefix = copy_checkpoint(sharded_ckpt.prefix, tmp_path)
    shard = prefix + ".data-00002-of-00003"
    size = Path(shard).stat().st_size
    with open(shard, "r+b") as file:
        file.truncate(size // 2)
    assert window.open_path(prefix)
    bar = window.notice_bar
    assert bar.isVisible()
    total = len(sharded_ckpt.expected)
    assert bar.label.text() == (
        f"2 of {total} tensors lie past the end of shard 2 "
        f"(model.ckpt.data-00002-of-00003, {size // 2:,} bytes): the file is truncated"
    )
    assert window.error_box is None and QApplication.activeModalWidget() is None

    model = window.tree.model
    for name in ("embedding", "split"):  # the two whose bytes lay in the lost half
        index = model.index_of_path(name)
        assert model.data(index, Qt.ItemDataRole.ForegroundRole) == UNREADABLE_COLOR
        tooltip = model.data(index, Qt.ItemDataRole.ToolTipRole)
        assert tooltip.startswith("Cannot be read: bytes ")
        assert "past the end of model.ckpt.data-00002-of-00003" in tooltip
    window.tree.view.collapseAll()
    assert window.tree.model.unreadable_below(model.index_of_path("dense")) == 0
    intact = model.index_of_path("dense/kernel")
    assert model.data(intact, Qt.ItemDataRole.ForegroundRole) != UNREADABLE_COLOR
    assert not model.data(intact, Qt.ItemDataRole.ToolTipRole).startswith("Cannot be read")

    qtbot.mouseClick(bar.close_button, Qt.MouseButton.LeftButton)
    assert not bar.isVisible()
    assert window.reload()  # each open says it again
    assert bar.isVisible()
    assert window.open_path(sharded_ckpt.prefix)  # an intact checkpoint has nothing to say
    assert not bar.isVisible()
    index = model.index_of_path("embedding")
    assert model.data(index, Qt.ItemDataRole.ForegroundRole) != UNREADABLE_COLOR


def test_missing_shard_is_reported_at_open(window, sharded_ckpt, tmp_path):
    from tests.format.test_bad_input import copy_checkpoint

    prefix = copy_checkpoint(sharded_ckpt.prefix, tmp_path)
    Path(prefix + ".data-00001-of-00003").unlink()
    assert window.open_path(prefix)
    lost = {name for name, shard in sharded_ckpt.shard_of.items() if shard == 1} | {"split"}
    total = len(sharded_ckpt.expected)
    assert window.notice_bar.label.text() == (
        f"{len(lost)} of {total} tensors cannot be read: "
        "shard 1 (model.ckpt.data-00001-of-00003) is missing"
    )
    model = window.tree.model
    marked = {
        leaf.key
        for leaf in model.root.tensors()
        if model.unreadable_reason(model.index_of_path(leaf.path))
    }
    assert marked == lost
    dense = model.index_of_path("dense")  # a collapsed scope says what lies below it
    assert model.data(dense, Qt.ItemDataRole.ToolTipRole).startswith(
        "1 tensor below cannot be read\n"
    )
