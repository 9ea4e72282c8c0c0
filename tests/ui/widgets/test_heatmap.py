"""The heatmap's readout names the element whose value it shows; zooming in loads full resolution.

The tensors' values encode their own index (row * 10000 + column), so any mismatch between the
named element and the value shows.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import tf_checkpoints as tfc
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QApplication

from ckpt_browser.ui.browse.values_view import BLOCK_MEAN_MAX_CELLS

ELEMENT = re.compile(r"element \[(\d+), (\d+)\]: ([\d.]+)")
BLOCK = re.compile(r"rows (\d+)–(\d+), columns (\d+)–(\d+)")


def _index_coded(rows: int, columns: int) -> np.ndarray:
    return (np.arange(rows, dtype=np.int32)[:, None] * 10000) + np.arange(columns, dtype=np.int32)


TENSORS = {
    # Over BLOCK_MEAN_MAX_CELLS: drawn as every k-th value (3 rows, 3 columns per pixel).
    "coded/strided": _index_coded(2600, 2100),
    # Under it: drawn as block means (2 x 2 cells per pixel).
    "coded/means": _index_coded(1900, 1700),
}


@pytest.fixture(scope="module")
def coded_ckpt(tmp_path_factory: pytest.TempPathFactory) -> str:
    assert TENSORS["coded/strided"].size > BLOCK_MEAN_MAX_CELLS > TENSORS["coded/means"].size
    return tfc.write_with_tf(tmp_path_factory.mktemp("coded") / "coded", TENSORS)


def _heatmap_of(window, wait_idle, name: str):
    assert window.select(name), name
    wait_idle(window)
    values = window.tensor_view.values
    values.tabs.setCurrentWidget(values.heatmap)
    return values.heatmap


def _hover(qtbot, heatmap, x: float, y: float) -> tuple[str, float, float]:
    """Move the mouse over map position (x, y): the readout and the point the event landed on.

    The move is a mouse event sent to the map's viewport, which passes it through the graphics
    scene as the window system's would (QTest.mouseMove on the offscreen platform sometimes
    delivers a move late or not at all).
    """
    view = heatmap.plot_widget
    pixel = view.mapFromScene(heatmap.plot.vb.mapViewToScene(QPointF(x, y)))
    viewport = view.viewport()
    move = QMouseEvent(
        QEvent.Type.MouseMove,
        QPointF(pixel),
        QPointF(viewport.mapToGlobal(pixel)),
        Qt.MouseButton.NoButton,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(viewport, move)
    landed = heatmap.plot.vb.mapSceneToView(view.mapToScene(pixel))
    return heatmap.hover_label.text(), landed.x(), landed.y()


def _positions(shape, count: int = 40, seed: int = 3):
    rng = np.random.default_rng(seed)
    rows, columns = shape
    return zip(rng.uniform(0, columns - 1, count), rng.uniform(0, rows - 1, count), strict=True)


@pytest.mark.parametrize("name", ["coded/strided", "coded/means"])
def test_hover_names_the_element_whose_value_it_shows(window, wait_idle, qtbot, coded_ckpt, name):
    window.open_path(coded_ckpt)
    heatmap = _heatmap_of(window, wait_idle, name)
    tensor = TENSORS[name]
    method = "stride" if name == "coded/strided" else "mean"
    assert heatmap.grid.downsampled and heatmap.grid.method == method
    for x, y in _positions(tensor.shape):
        text, landed_x, landed_y = _hover(qtbot, heatmap, x, y)
        row, column = round(landed_y), round(landed_x)
        named = ELEMENT.match(text)
        assert named, text
        named_row, named_column, value = int(named[1]), int(named[2]), float(named[3])
        assert (named_row, named_column) == (row, column), text
        assert value == tensor[row, column] == row * 10000 + column, text
        # The pixel under the cursor: its value and the cells it stands for, as drawn.
        top, bottom, left, right = (int(n) for n in BLOCK.search(text).groups())
        assert top <= row <= bottom and left <= column <= right, text
        pixel = heatmap.values[heatmap.grid.pixel_of(row, column)]
        block = tensor[top : bottom + 1, left : right + 1]
        if method == "stride":
            shown = ELEMENT.findall(text)[1]
            assert (int(shown[0]), int(shown[1])) == (top, left)
            assert float(shown[2]) == pixel == tensor[top, left], text
        else:
            assert pixel == pytest.approx(block.mean()), text


def _wheel(qtbot, heatmap, steps: int) -> None:
    """Turn the mouse wheel over the middle of the map, `steps` notches away from the user."""
    viewport = heatmap.plot_widget.viewport()
    centre = QPointF(viewport.rect().center())
    for _ in range(steps):
        event = QWheelEvent(
            centre,
            QPointF(viewport.mapToGlobal(centre.toPoint())),
            QPoint(0, 0),
            QPoint(0, 120),
            Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.NoModifier,
            Qt.ScrollPhase.NoScrollPhase,
            False,
        )
        QApplication.sendEvent(viewport, event)


def test_zooming_in_loads_the_visible_block_at_full_resolution(
    window, wait_idle, qtbot, coded_ckpt
):
    window.open_path(coded_ckpt)
    heatmap = _heatmap_of(window, wait_idle, "coded/strided")
    tensor = TENSORS["coded/strided"]
    assert heatmap.detail_block is None and "zoom in" in heatmap.plot.titleLabel.text

    _wheel(qtbot, heatmap, 12)
    qtbot.waitUntil(lambda: heatmap.detail_block is not None, timeout=5000)
    wait_idle(window)
    block = heatmap.detail_block
    (x0, x1), (y0, y1) = heatmap.plot.vb.viewRange()
    visible = heatmap.grid.visible_block((x0, x1), (y0, y1))
    assert visible is not None and block.contains(visible)
    assert block.shape[0] <= 1000 and block.shape[1] <= 1000
    np.testing.assert_array_equal(
        heatmap.detail_values, tensor[block.top : block.bottom, block.left : block.right]
    )
    assert "full resolution over" in heatmap.plot.titleLabel.text

    # Over the full-resolution block a pixel is one element: no pixel note in the readout.
    x, y = (x0 + x1) / 2, (y0 + y1) / 2
    text, landed_x, landed_y = _hover(qtbot, heatmap, x, y)
    named = ELEMENT.fullmatch(text)
    assert named, text
    row, column = int(named[1]), int(named[2])
    assert (row, column) == (round(landed_y), round(landed_x))
    assert float(named[3]) == row * 10000 + column

    heatmap.plot.vb.autoRange(padding=0)  # zoomed out again: the block goes
    qtbot.waitUntil(lambda: heatmap.detail_block is None, timeout=5000)
