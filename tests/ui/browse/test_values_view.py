"""The values pane: the slicer picks the right 2-D slice; table, heatmap, line and copying."""

from __future__ import annotations

import numpy as np
import pytest
import tf_checkpoints as tfc
from PySide6.QtCore import QItemSelection, QItemSelectionModel
from PySide6.QtGui import QGuiApplication

from ckpt_browser.core.formatting import format_number, shortest_text
from ckpt_browser.ui.browse.values_view import LINE_MAX_POINTS


def _values_of(window, wait_idle, name: str):
    assert window.select(name), name
    wait_idle(window)
    return window.tensor_view.values


def test_default_slice_of_a_4d_tensor(window, wait_idle, shapes_ckpt):
    window.open_path(shapes_ckpt.prefix)
    values = _values_of(window, wait_idle, "net/layer_10/kernel")
    kernel = shapes_ckpt.expected["net/layer_10/kernel"]
    assert values.slicer.isVisible()
    assert values.slicer.spec().row_axis == 2 and values.slicer.spec().col_axis == 3
    np.testing.assert_array_equal(values.table_model.values, kernel[0, 0])
    values.tabs.setCurrentWidget(values.heatmap)  # tabs get the slice when they are shown
    np.testing.assert_array_equal(values.heatmap.values, kernel[0, 0])
    assert values.slice_label.text() == "slice [0, 0, :, :]: 5 × 6"


def test_sliders_and_axis_choice_pick_the_right_values(window, wait_idle, shapes_ckpt):
    window.open_path(shapes_ckpt.prefix)
    values = _values_of(window, wait_idle, "net/layer_10/kernel")
    kernel = shapes_ckpt.expected["net/layer_10/kernel"]
    slicer = values.slicer

    slicer.set_position(0, 2)
    slicer.set_position(1, 3)
    wait_idle(window)
    np.testing.assert_array_equal(values.table_model.values, kernel[2, 3])

    slicer.set_axes(3, 1)  # rows: axis 3, columns: axis 1; axes 0 and 2 get sliders
    slicer.set_position(0, 1)
    slicer.set_position(2, 4)
    wait_idle(window)
    np.testing.assert_array_equal(values.table_model.values, kernel[1, :, 4, :].T)
    assert values.table_model.values.shape == (6, 4)
    assert "(transposed)" in values.slice_label.text()
    assert slicer.fixed_axes == [0, 2]

    # Picking the column axis for the rows swaps the two.
    slicer.row_combo.setCurrentIndex(1)
    slicer.row_combo.activated.emit(1)
    wait_idle(window)
    assert (slicer.spec().row_axis, slicer.spec().col_axis) == (1, 3)
    np.testing.assert_array_equal(values.table_model.values, kernel[1, :, 4, :])


def test_a_3d_integer_tensor(window, wait_idle, shapes_ckpt):
    window.open_path(shapes_ckpt.prefix)
    values = _values_of(window, wait_idle, "net/cube")
    cube = shapes_ckpt.expected["net/cube"]
    values.slicer.slider_for(0).setValue(1)  # the slider moves the spin box and the slice
    wait_idle(window)
    assert values.slicer.spin_for(0).value() == 1
    np.testing.assert_array_equal(values.table_model.values, cube[1])
    assert values.table_model.text(2, 3) == str(cube[1, 2, 3])


def test_notation_changes_table_and_statistics(window, wait_idle, shapes_ckpt):
    window.open_path(shapes_ckpt.prefix)
    values = _values_of(window, wait_idle, "net/layer_2/kernel")
    kernel = shapes_ckpt.expected["net/layer_2/kernel"]
    for notation in ("scientific", "fixed", "auto"):
        values.notation_combo.setCurrentText(notation)
        # "auto" cells show the value in full: the shortest text that reads back as the float32.
        cell = (
            shortest_text(kernel[0, 0])
            if notation == "auto"
            else format_number(kernel[0, 0], notation=notation)
        )
        assert values.table_model.text(0, 0) == cell
        panel = window.tensor_view.stats_panel
        finite_max = np.nanmax(np.where(np.isinf(kernel), np.nan, kernel))
        assert panel.text("max") == format_number(finite_max, notation=notation)


def test_copy_a_selection_as_tab_separated_exact_values(window, wait_idle, shapes_ckpt):
    window.open_path(shapes_ckpt.prefix)
    values = _values_of(window, wait_idle, "net/layer_2/kernel")
    kernel = shapes_ckpt.expected["net/layer_2/kernel"]
    model = values.table_model
    selection = QItemSelection(model.index(1, 2), model.index(2, 4))
    values.table.selectionModel().select(selection, QItemSelectionModel.SelectionFlag.Select)
    text = values.table.copy_selection()
    assert QGuiApplication.clipboard().text() == text
    rows = [line.split("\t") for line in text.split("\n")]
    assert np.array(rows, dtype=np.float32).tolist() == kernel[1:3, 2:5].tolist()


def test_heatmap_is_diverging_and_symmetric_for_weights(window, wait_idle, shapes_ckpt):
    window.open_path(shapes_ckpt.prefix)
    values = _values_of(window, wait_idle, "net/layer_2/kernel")
    kernel = shapes_ckpt.expected["net/layer_2/kernel"]
    values.tabs.setCurrentWidget(values.heatmap)
    heatmap = values.heatmap
    assert heatmap.diverging
    low, high = heatmap.color_bar.levels()
    limit = np.max(np.abs(kernel[np.isfinite(kernel)]))
    assert (low, high) == pytest.approx((-limit, limit))

    values = _values_of(window, wait_idle, "net/mask")  # 0/1: one-signed, a sequential map
    assert values.tabs.currentWidget() is values.heatmap  # the chosen tab stays
    assert not values.heatmap.diverging


def test_1d_tensor_gets_a_line_downsampled_for_drawing(window, wait_idle, shapes_ckpt):
    window.open_path(shapes_ckpt.prefix)
    values = _values_of(window, wait_idle, "long_vector")
    vector = shapes_ckpt.expected["long_vector"]
    assert not values.slicer.isVisible()
    assert values.tabs.isTabVisible(2) and not values.tabs.isTabVisible(1)
    assert values.table_model.rowCount() == vector.size
    values.tabs.setCurrentWidget(values.line)
    x, y = values.line.curve.getData()
    assert len(y) <= LINE_MAX_POINTS and x[-1] == pytest.approx(vector.size - 1)
    assert "of 300,000" in values.line.note.text()

    values = _values_of(window, wait_idle, "net/layer_10/bias")
    _, y = values.line.curve.getData()
    np.testing.assert_allclose(y, shapes_ckpt.expected["net/layer_10/bias"])
    assert values.line.note.text() == ""


def test_2d_strings_are_a_text_table_without_heatmap(window, wait_idle, shapes_ckpt):
    window.open_path(shapes_ckpt.prefix)
    values = _values_of(window, wait_idle, "vocab/grid")
    assert not values.tabs.isTabVisible(1)
    model = values.table_model
    assert [[model.text(r, c) for c in range(2)] for r in range(2)] == [["a", "b"], ["c", "d"]]


def test_the_tf2_object_graph_shows_as_its_tree(window, wait_idle, tf2_module_ckpt):
    window.open_path(tf2_module_ckpt.prefix)
    values = _values_of(window, wait_idle, "_CHECKPOINTABLE_OBJECT_GRAPH")
    assert values.stack.currentWidget() is values.text_view
    text = values.text_view.toPlainText()
    assert text.startswith("TF2 object graph: ")
    for key in tf2_module_ckpt.expected:  # every variable's key, under its object
        assert f": {key}" in text
    assert "slot 'm' of #" in text


def test_a_binary_scalar_string_shows_as_hex(window, wait_idle, tmp_path):
    blob = b"\x08\x96\x01\x12\x07testing\xff\x00"
    prefix = tfc.write_with_tf(
        tmp_path / "blob", {"blob": np.array(blob, dtype=object), "word": np.array(b"plain")}
    )
    window.open_path(prefix)
    values = _values_of(window, wait_idle, "blob")
    assert values.stack.currentWidget() is values.text_view
    text = values.text_view.toPlainText()
    assert text.startswith(f"{len(blob)} bytes, not text; shown as hex:")
    assert "00000000  08 96 01 12 07 74 65 73 74 69 6e 67 ff 00" in text
    assert text.endswith("|.....testing..|")

    values = _values_of(window, wait_idle, "word")  # text stays text
    assert values.stack.currentWidget() is values.message
    assert values.message.text() == "plain"
