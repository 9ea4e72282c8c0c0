"""What the compare window shows without scrolling or hunting: the key columns in sight, most
changed first in one click, the keyboard in the table from the start; 1-D tensors as lines with
real axes, heatmaps that keep their size and colour bars as the pane narrows, legends off the data.

TensorFlow writes the checkpoints; the order "most changed first" is checked against the core's
own `most_changed_first`, which `ckpt-browser diff` lists by.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import tf_checkpoints as tfc
from PySide6.QtCore import QPoint, QRectF, QSettings, Qt
from PySide6.QtWidgets import QApplication

from ckpt_browser.ui.compare.slices import MIN_HEATMAP_WIDTH
from ckpt_browser.ui.compare.table import COLUMN_KEYS
from ckpt_browser.ui.compare.window import CompareWindow

LONG_NAME = "bert/encoder/layer_11/attention/self/query/some_long_scope_name/kernel_variable_ema"


@pytest.fixture(scope="module")
def bert_like_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """Two runs both saved as `model`, with the long names of a real model and changes of
    every size; `small/bias` starts from zeros (relative L2 undefined)."""
    rng = np.random.default_rng(3)
    a: dict[str, np.ndarray] = {}
    for layer in range(6):
        scope = f"bert/encoder/layer_{layer}/attention/self/query"
        a[f"{scope}/kernel"] = rng.standard_normal((16, 16)).astype(np.float32)
        a[f"{scope}/bias"] = rng.standard_normal(16).astype(np.float32)
    a[LONG_NAME] = rng.standard_normal((8, 8)).astype(np.float32)
    a["small/bias"] = np.zeros(5, np.float32)
    a["row"] = rng.standard_normal((1, 40)).astype(np.float32)
    a["global_step"] = np.array(3000, np.int64)
    b = {}
    for step, (name, value) in enumerate(sorted(a.items())):
        b[name] = value + rng.standard_normal(value.shape).astype(value.dtype) * 0.01 * step
    b["global_step"] = np.array(5000, np.int64)
    b["small/bias"] = np.full(5, 0.5, np.float32)
    directory = tmp_path_factory.mktemp("compare_layout")
    return (
        tfc.write_with_tf(directory / "run1" / "model", a),
        tfc.write_with_tf(directory / "run2" / "model", b),
    )


@pytest.fixture
def compare_window(qtbot) -> Iterator[CompareWindow]:
    window = CompareWindow(QSettings())
    qtbot.addWidget(window)
    yield window
    window.view.shutdown()


def opened(qtbot, window: CompareWindow, pair: tuple[str, str], size: tuple[int, int]):
    window.resize(*size)
    window.show()
    assert window.open_pair(*pair), window.last_error
    qtbot.waitUntil(window.is_idle, timeout=30_000)
    return window


def shown_names(window: CompareWindow) -> list[str]:
    proxy = window.view.proxy
    return [proxy.index(row, 0).data() for row in range(proxy.rowCount())]


def click_heading(qtbot, window: CompareWindow, key: str) -> None:
    header = window.view.table.horizontalHeader()
    column = COLUMN_KEYS.index(key)
    x = header.sectionViewportPosition(column) + header.sectionSize(column) // 2
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, 5))


@pytest.mark.parametrize("size", [(1500, 900), (1100, 700)])
def test_name_status_and_headline_distance_in_sight(qtbot, compare_window, bert_like_pair, size):
    window = opened(qtbot, compare_window, bert_like_pair, size)
    table = window.view.table
    header = table.horizontalHeader()
    viewport_width = table.viewport().width()
    in_sight = ["name", "status", "rel_l2"] + (["max_abs_diff"] if size[0] >= 1500 else [])
    for key in in_sight:
        column = COLUMN_KEYS.index(key)
        left = header.sectionViewportPosition(column)
        assert left >= 0 and left + header.sectionSize(column) <= viewport_width, key
    assert header.sectionViewportPosition(COLUMN_KEYS.index("mismatch_fraction")) > 0
    # The long name does not fit: it is elided in the middle, whole in the tooltip.
    assert table.textElideMode() == Qt.TextElideMode.ElideMiddle
    name_width = header.sectionSize(COLUMN_KEYS.index("name"))
    assert table.fontMetrics().horizontalAdvance(LONG_NAME) + 8 > name_width
    assert window.view.select(LONG_NAME)
    tooltip = table.currentIndex().siblingAtColumn(0).data(Qt.ItemDataRole.ToolTipRole)
    assert tooltip.splitlines()[0] == LONG_NAME


def test_name_column_follows_the_pane_until_the_user_sets_it(qtbot, compare_window, bert_like_pair):
    window = opened(qtbot, compare_window, bert_like_pair, (1500, 900))
    view = window.view
    header = view.table.horizontalHeader()
    name = COLUMN_KEYS.index("name")
    wide = header.sectionSize(name)
    view.splitter.setSizes([450, 1050])
    narrow = header.sectionSize(name)
    assert narrow < wide
    status = COLUMN_KEYS.index("rel_l2")
    assert header.sectionViewportPosition(status) + header.sectionSize(status) <= (
        view.table.viewport().width()
    )
    header.resizeSection(name, 400)  # as a drag of the heading's edge does
    view.splitter.setSizes([700, 800])
    assert header.sectionSize(name) == 400


def test_most_changed_first_in_one_click(qtbot, compare_window, bert_like_pair):
    window = opened(qtbot, compare_window, bert_like_pair, (1500, 900))
    expected = [item.name for item in window.view.comparison().most_changed_first()]
    assert shown_names(window) == expected  # the order the window opens with
    click_heading(qtbot, window, "name")
    assert shown_names(window) == sorted(expected)
    qtbot.mouseClick(window.view.most_changed_button, Qt.MouseButton.LeftButton)
    assert shown_names(window) == expected
    assert shown_names(window)[:2] == ["small/bias", "global_step"]  # from zeros: infinite

    # One click on a distance heading: largest first, rows without a value last.
    click_heading(qtbot, window, "rel_l2")
    proxy, column = window.view.proxy, COLUMN_KEYS.index("rel_l2")
    texts = [proxy.index(row, column).data() for row in range(proxy.rowCount())]
    numbers = [float(text) for text in texts if text]
    assert numbers == sorted(numbers, reverse=True) and numbers[0] > 0
    assert texts[len(numbers) :] == [""] * (len(texts) - len(numbers))
    click_heading(qtbot, window, "cosine")  # the least similar first
    column = COLUMN_KEYS.index("cosine")
    cosines = [float(proxy.index(row, column).data() or "nan") for row in range(proxy.rowCount())]
    finite = [c for c in cosines if not np.isnan(c)]
    assert finite == sorted(finite) and np.isnan(cosines[-1])


def test_keyboard_starts_in_the_table(qtbot, compare_window, bert_like_pair):
    window = opened(qtbot, compare_window, bert_like_pair, (1500, 900))
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is window.view.table, timeout=5000)
    view = window.view
    first = view.detail.item.name
    assert first == shown_names(window)[0]
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Down)
    assert view.detail.item.name == shown_names(window)[1]
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Up)
    assert view.detail.item.name == first


def tick_values(axis, low: float, high: float) -> list[float]:
    return [value for _spacing, values in axis.tickValues(low, high, 300) for value in values]


def legend_clear_of_data(plot_item) -> bool:
    """The legend is the plot's title, in its own row above the data; no legend inside it."""
    title = plot_item.titleLabel
    return (
        plot_item.legend is None
        and title.isVisible()
        and not title.sceneBoundingRect().intersects(plot_item.vb.sceneBoundingRect())
    )


def test_one_axis_tensors_are_lines_with_real_axes(qtbot, compare_window, bert_like_pair):
    window = opened(qtbot, compare_window, bert_like_pair, (1500, 900))
    name = "bert/encoder/layer_2/attention/self/query/bias"
    assert window.view.select(name)
    qtbot.waitUntil(window.is_idle, timeout=30_000)
    detail = window.view.detail
    qtbot.waitUntil(lambda: detail.lines.isVisible(), timeout=10_000)
    assert not detail.slices.grid.isVisible() and not detail.slicer.isVisible()
    tf = tfc.import_tensorflow()
    x, y = (tf.train.load_checkpoint(prefix).get_tensor(name) for prefix in bert_like_pair)
    curves = detail.lines.curves
    expected = {"A": x, "B": y, "A − B": x.astype(np.float64) - y.astype(np.float64)}
    for key, values in expected.items():
        index, points = curves[key].getData()
        assert np.array_equal(index, np.arange(16)) and np.allclose(points, values, rtol=1e-6), key
    for plot in (detail.lines.values_plot, detail.lines.difference_plot):
        item = plot.getPlotItem()
        assert all(float(t).is_integer() for t in tick_values(item.getAxis("bottom"), 0, 15))
        for side in ("left", "bottom"):
            assert "(x" not in item.getAxis(side).labelString()  # no "(x0.001)" scaling
    values_item = detail.lines.values_plot.getPlotItem()
    assert legend_clear_of_data(values_item)
    assert "A" in values_item.titleLabel.text and "B" in values_item.titleLabel.text
    assert legend_clear_of_data(detail.histograms.plot_widget.getPlotItem())


def heatmaps_fit(detail) -> bool:
    """Each heatmap at least its minimum size, its colour bar inside its own panel."""
    for heatmap in detail.heatmaps.values():
        view = QRectF(heatmap.plot_widget.viewport().rect())
        bar = heatmap.color_bar.sceneBoundingRect()
        if heatmap.width() < MIN_HEATMAP_WIDTH - 10 or not view.contains(bar):
            return False
    return True


def test_heatmaps_reflow_instead_of_becoming_slivers(qtbot, compare_window, bert_like_pair):
    window = opened(qtbot, compare_window, bert_like_pair, (1500, 900))
    assert window.view.select("bert/encoder/layer_2/attention/self/query/kernel")
    qtbot.waitUntil(window.is_idle, timeout=30_000)
    detail = window.view.detail
    grid = detail.slices.grid
    qtbot.waitUntil(grid.isVisible, timeout=10_000)
    assert grid.columns == 3  # side by side at 1500 px
    qtbot.waitUntil(lambda: heatmaps_fit(detail), timeout=5000)
    window.view.splitter.setSizes([1150, 350])  # the user widens the table
    qtbot.waitUntil(lambda: grid.columns == 1, timeout=5000)
    qtbot.waitUntil(lambda: heatmaps_fit(detail), timeout=5000)
    heights = [heatmap.height() for heatmap in detail.heatmaps.values()]
    assert min(heights) > 150  # stacked at a usable size; the grid scrolls
    assert grid.widget().height() > grid.viewport().height()


def test_one_row_slice_has_no_made_up_rows(qtbot, compare_window, bert_like_pair):
    window = opened(qtbot, compare_window, bert_like_pair, (1500, 900))
    assert window.view.select("row")
    qtbot.waitUntil(window.is_idle, timeout=30_000)
    heatmap = window.view.detail.heatmaps["A"]
    assert heatmap.values.shape == (1, 40)
    left = heatmap.plot.getAxis("left")
    assert tick_values(left, -0.5, 0.5) == [0.0]
    assert "(x" not in left.labelString()
