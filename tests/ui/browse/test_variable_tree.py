"""The variable tree: rows, filter modes, kind toggles, sorting, readable names, copying names."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import tf_checkpoints as tfc
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QGuiApplication

from ckpt_browser.core.formatting import format_count
from ckpt_browser.format import TensorKind
from ckpt_browser.ui.browse.tree_model import KEY_ROLE, Column
from ckpt_browser.ui.browse.variable_tree import VariableTree


def shown_keys(tree: VariableTree, parent: QModelIndex | None = None) -> set[str]:
    """Every tensor key the model offers, walking it through the Qt model interface."""
    model = tree.model
    parent = parent or QModelIndex()
    keys = set()
    for row in range(model.rowCount(parent)):
        index = model.index(row, 0, parent)
        node = model.node(index)
        if node.info is not None:
            keys.add(model.data(index, KEY_ROLE))
        keys |= shown_keys(tree, index)
    return keys


def _scopes_of(name: str) -> list[str]:
    """`a/b/c` -> `a`, `a/b`, `a/b/c`."""
    parts = name.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def child_names(tree: VariableTree, path: str = "") -> list[str]:
    model = tree.model
    parent = model.index_of_path(path) if path else QModelIndex()
    return [model.index(row, 0, parent).data() for row in range(model.rowCount(parent))]


def test_tree_holds_every_tensor_once(window, tf1_training_dir):
    window.open_path(str(tf1_training_dir.directory))
    assert shown_keys(window.tree) == set(tf1_training_dir.variable_names)


def test_natural_sort_and_sorting_by_a_column(window, tf1_training_dir):
    window.open_path(str(tf1_training_dir.directory))
    tree = window.tree
    layers = [name for name in child_names(tree, "net") if name.startswith("layer_")]
    assert layers == ["layer_1", "layer_2", "layer_10"]

    tree.view.sortByColumn(Column.PARAMETERS, Qt.SortOrder.DescendingOrder)
    model = tree.model
    net = model.index_of_path("net")
    sizes = [model.node(model.index(r, 0, net)).parameters for r in range(model.rowCount(net))]
    assert sizes == sorted(sizes, reverse=True)
    tree.view.sortByColumn(Column.NAME, Qt.SortOrder.AscendingOrder)
    assert [n for n in child_names(tree, "net") if n.startswith("layer_")] == layers


def test_filter_modes_keep_parents_of_matches(window, tf1_training_dir):
    window.open_path(str(tf1_training_dir.directory))
    tree = window.tree
    names = tf1_training_dir.variable_names

    tree.set_filter("KERNEL", "substring")
    assert shown_keys(tree) == {n for n in names if "kernel" in n.lower()}
    assert "net" in child_names(tree)  # the parents of the matches stay
    assert tree.filter_status.isVisible()

    tree.set_filter("layer_1*/bias", "glob")
    expected = {n for n in names if n.startswith(("net/layer_1/bias", "net/layer_10/bias"))}
    assert shown_keys(tree) == expected

    pattern = r"layer_(2|10)/kernel$"
    tree.set_filter(pattern, "regex")
    # A matching scope keeps what is under it: the kernels' Adam and EMA slots.
    expected = {n for n in names if any(re.search(pattern, s) for s in _scopes_of(n))}
    assert {"net/layer_2/kernel", "net/layer_10/kernel"} < expected
    assert shown_keys(tree) == expected

    tree.set_filter("layer_(", "regex")  # not a valid regex: say so, keep the last good tree
    assert "invalid regular expression" in tree.filter_status.text()
    assert shown_keys(tree) == expected

    tree.set_filter("", "substring")
    assert shown_keys(tree) == set(names)
    assert not tree.filter_status.isVisible()


def test_kind_toggles_hide_and_show(window, tf1_training_dir):
    window.open_path(str(tf1_training_dir.directory))
    tree = window.tree
    everything = set(tf1_training_dir.variable_names)
    groups = {
        TensorKind.OPTIMIZER: set(tf1_training_dir.optimizer_slots),
        TensorKind.EMA: set(tf1_training_dir.ema_shadows),
        TensorKind.COUNTER: set(tf1_training_dir.counters),
    }
    for kind, members in groups.items():
        button = tree.kind_buttons[kind]
        assert button.isEnabled() and f": {len(members)} in this" in button.toolTip()
        button.click()
        assert shown_keys(tree) == everything - members
        button.click()
        assert shown_keys(tree) == everything
    assert not tree.kind_buttons[TensorKind.OBJECT_GRAPH].isEnabled()  # TF1: no object graph

    for kind in groups:
        tree.set_kind_visible(kind, False)
    assert shown_keys(tree) == set(tf1_training_dir.model_variables)


def test_tf2_rows_use_object_paths_with_the_key_in_column_and_tooltip(window, tf2_module_ckpt):
    window.open_path(str(tf2_module_ckpt.directory))
    tree = window.tree
    assert not tree.view.isColumnHidden(Column.KEY)
    key, path = next(
        (k, "/".join(p)) for k, p in tf2_module_ckpt.object_paths.items() if len(p) > 1
    )
    index = tree.model.index_of_path(path)
    assert index.isValid(), path
    assert index.data() == path.rsplit("/", 1)[-1]
    key_cell = tree.model.index(index.row(), Column.KEY, index.parent())
    assert key_cell.data() == key
    assert key in index.data(Qt.ItemDataRole.ToolTipRole)
    assert window.select(path) and tree.selected_key() == key


def test_tf1_has_no_key_column(window, tf1_training_dir):
    window.open_path(str(tf1_training_dir.directory))
    assert window.tree.view.isColumnHidden(Column.KEY)


def test_copy_name_with_ctrl_c_and_the_menu_action(window, qtbot, tf2_module_ckpt):
    window.open_path(str(tf2_module_ckpt.directory))
    key, path = next((k, "/".join(p)) for k, p in tf2_module_ckpt.object_paths.items())
    assert window.select(path)
    clipboard = QGuiApplication.clipboard()
    clipboard.clear()
    window.tree.view.setFocus()
    qtbot.keyClick(window.tree.view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert clipboard.text() == key
    clipboard.clear()
    window.tree.copy_action.trigger()
    assert clipboard.text() == key


def test_folder_rows_show_totals(window, shapes_ckpt):
    window.open_path(shapes_ckpt.prefix)
    model = window.tree.model
    net = model.index_of_path("net")
    members = [v for k, v in shapes_ckpt.expected.items() if k.startswith("net/")]
    total = sum(int(np.size(v)) for v in members)
    assert model.index(net.row(), Column.PARAMETERS, net.parent()).data() == format_count(total)
    assert model.index(net.row(), Column.DTYPE, net.parent()).data() == ""


def test_twenty_thousand_variables(window, many_variables_ckpt):
    assert window.open_path(many_variables_ckpt.prefix)
    tree = window.tree
    assert tree.model.root.leaf_count == len(many_variables_ckpt.names) == 20_000
    tf = tfc.import_tensorflow()
    top_level = {
        name.split("/")[0] for name, _ in tf.train.list_variables(many_variables_ckpt.prefix)
    }
    assert set(child_names(tree)) == top_level
    some = many_variables_ckpt.names[12345]
    assert window.select(some) and tree.selected_key() == some
    tree.set_filter(some.rsplit("/", 1)[0] + "/", "substring")
    assert some in shown_keys(tree)
    assert Path(window.checkpoint.prefix).name == Path(many_variables_ckpt.prefix).name
