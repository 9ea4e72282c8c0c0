"""The window used from the keyboard: the filter box and stepping through a run's checkpoints."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

DEMO_DIR = Path(__file__).resolve().parents[3] / "resources" / "demo"


def _focus_filter(window, qtbot) -> None:
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
    qtbot.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)  # Edit > Filter
    assert window.tree.filter_edit.hasFocus()


def _shown_tensors(window) -> list[str]:
    return [leaf.key for leaf in window.tree.model.root.tensors()]


def test_escape_in_the_filter_clears_it(window, qtbot):
    assert window.open_path(str(DEMO_DIR))
    everything = _shown_tensors(window)
    _focus_filter(window, qtbot)
    qtbot.keyClicks(window.tree.filter_edit, "bias")
    qtbot.waitUntil(lambda: len(_shown_tensors(window)) < len(everything))
    assert window.tree.filter_status.isVisible()
    qtbot.keyClick(window.tree.filter_edit, Qt.Key.Key_Escape)
    assert window.tree.filter_edit.text() == ""
    assert _shown_tensors(window) == everything
    assert not window.tree.filter_status.isVisible()
    assert window.tree.filter_edit.hasFocus()


def test_enter_and_down_go_to_the_first_match(window, qtbot, wait_idle):
    assert window.open_path(str(DEMO_DIR))
    tree = window.tree
    for key in (Qt.Key.Key_Return, Qt.Key.Key_Down):
        _focus_filter(window, qtbot)
        tree.filter_edit.clear()
        qtbot.keyClicks(tree.filter_edit, "kernel")
        qtbot.keyClick(tree.filter_edit, key)  # at once: the filter applies before moving
        first_row = tree.view.model().index(0, 0)
        while tree.model.node(first_row).info is None:
            first_row = tree.model.index(0, 0, first_row)
        first_match = tree.model.node(first_row).info.name
        assert first_match.endswith("kernel")
        assert tree.view.hasFocus()
        assert tree.selected_key() == first_match
        wait_idle(window)
        assert window.tensor_view.key == first_match
        qtbot.keyClick(tree.view, Qt.Key.Key_Down)  # arrow keys carry on in the tree
        assert tree.selected_key() != first_match


def test_enter_with_no_match_stays_in_the_filter(window, qtbot):
    assert window.open_path(str(DEMO_DIR))
    _focus_filter(window, qtbot)
    qtbot.keyClicks(window.tree.filter_edit, "no such variable")
    qtbot.keyClick(window.tree.filter_edit, Qt.Key.Key_Return)
    assert window.tree.filter_edit.hasFocus()
    assert window.tree.selected_key() is None


def test_next_and_previous_checkpoint_keys(window, qtbot, wait_idle, tf1_training_dir):
    assert window.open_path(str(tf1_training_dir.directory))
    name = tf1_training_dir.model_variables[0]
    assert window.select(name)
    newest, oldest = tf1_training_dir.prefixes[-1], tf1_training_dir.prefixes[0]
    assert Path(window.checkpoint.prefix) == Path(newest)
    assert window.next_action.shortcut().toString() == "Ctrl+PgDown"
    assert window.previous_action.shortcut().toString() == "Ctrl+PgUp"
    assert not window.next_action.isEnabled() and window.previous_action.isEnabled()

    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
    window.tree.view.setFocus()
    for _ in range(len(tf1_training_dir.prefixes) - 1):
        qtbot.keyClick(window.tree.view, Qt.Key.Key_PageUp, Qt.KeyboardModifier.ControlModifier)
    assert Path(window.checkpoint.prefix) == Path(oldest)
    assert window.history.combo.currentIndex() == 0
    assert window.tree.selected_key() == name  # the variable stays selected
    assert window.next_action.isEnabled() and not window.previous_action.isEnabled()
    qtbot.keyClick(window.tree.view, Qt.Key.Key_PageUp, Qt.KeyboardModifier.ControlModifier)
    assert Path(window.checkpoint.prefix) == Path(oldest)  # nothing before the oldest
    qtbot.keyClick(window.tree.view, Qt.Key.Key_PageDown, Qt.KeyboardModifier.ControlModifier)
    assert Path(window.checkpoint.prefix) == Path(tf1_training_dir.prefixes[1])
    wait_idle(window)
