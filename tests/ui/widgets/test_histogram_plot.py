"""The histogram: y labels stay whole for any count; an empty or bad tensor leaves no stale plot."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tf_checkpoints as tfc
from PySide6.QtGui import QImage, QPainter

from ckpt_browser.ui.widgets.histogram_plot import HistogramPlot, count_label, count_labels


def test_count_labels_are_short_and_exact_enough() -> None:
    assert [count_label(v) for v in (0, 5, 2500, 99_999)] == ["0", "5", "2,500", "99,999"]
    assert [count_label(v) for v in (100_000, 1_250_000, 3e7, 5e9, 2e12)] == [
        "100K",
        "1.25M",
        "30M",
        "5B",
        "2T",
    ]
    assert count_label(0.5) == "0.5"


def test_the_ticks_of_one_axis_share_one_unit() -> None:
    ticks = [0, 20_000, 40_000, 60_000, 80_000, 100_000, 120_000]
    assert count_labels(ticks) == ["0", "20K", "40K", "60K", "80K", "100K", "120K"]
    assert count_labels([0, 500_000, 1_000_000, 1_500_000]) == ["0", "0.5M", "1M", "1.5M"]
    assert count_labels([0, 25_000, 50_000, 75_000]) == ["0", "25,000", "50,000", "75,000"]
    assert count_label(0.5) == "0.5"  # a plot of a few counts may tick at halves


def _drawn_labels(plot: HistogramPlot) -> list[str]:
    """The y labels pyqtgraph paints, each checked to lie wholly inside the axis."""
    axis = plot.count_axis
    image = QImage(10, 10, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        _axis_spec, _tick_specs, text_specs = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    bounds = axis.mapRectFromParent(axis.geometry())
    for rect, _flags, text in text_specs:
        assert bounds.left() <= rect.left() and rect.right() <= bounds.right(), text
    return [text for _rect, _flags, text in text_specs]


@pytest.mark.parametrize("largest", [99_999, 100_000, 734_512, 30_000_000, 5_000_000_000])
def test_y_labels_stay_for_large_counts(qtbot, largest: int) -> None:
    plot = HistogramPlot()
    qtbot.addWidget(plot)
    plot.resize(420, 260)
    plot.show()
    counts = np.array([3, 40, largest, 17, 0], dtype=np.int64)
    plot.set_histogram(counts, np.linspace(-1, 1, 6), exact=True)
    for log_y in (False, True):
        plot.log_check.setChecked(log_y)
        qtbot.wait(50)  # layout and paint, as on screen
        labels = _drawn_labels(plot)
        assert len(labels) >= 3, labels
        # Labels in counts, not scaled by a "(x1e+09)" in the title nor below one count.
        assert "(x" not in plot.count_axis.labelString() and "⁻" not in "".join(labels)
        if not log_y:  # the labels climb to near the largest count
            assert max(_count_value(text) for text in labels) >= largest / 2, labels


def _count_value(label: str) -> float:
    scale = {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}.get(label[-1], 1.0)
    return float(label.rstrip("KMBT").replace(",", "")) * scale


def test_empty_and_failed_tensors_leave_no_stale_histogram(window, wait_idle, tmp_path):
    rng = np.random.default_rng(5)
    tensors = {
        "good": rng.standard_normal((50, 40)).astype(np.float32),
        "empty": np.zeros((3, 0), dtype=np.float32),
        "lost": rng.standard_normal(4096).astype(np.float32),
    }
    prefix = tfc.write_with_tf(tmp_path / "ckpt", tensors)
    window.open_path(prefix)
    view = window.tensor_view
    plot = None

    def show(name: str) -> None:
        nonlocal plot
        assert window.select(name), name
        wait_idle(window)
        plot = view.histogram_plot

    show("good")
    assert plot.stack.currentWidget() is plot.plot_widget and plot.counts.sum() == 2000
    show("empty")
    assert plot.stack.currentWidget() is plot.empty_label and not plot.plot_widget.isVisible()
    assert plot.empty_label.text() == "empty tensor" and plot.counts.size == 0

    show("good")
    data = prefix + ".data-00000-of-00001"
    os.truncate(data, os.path.getsize(data) // 2)  # "lost" now lies past the end of the file
    window.open_path(prefix)
    wait_idle(window)
    show("lost")
    assert plot.stack.currentWidget() is plot.empty_label and not plot.plot_widget.isVisible()
    assert plot.empty_label.text() and plot.counts.size == 0  # says why, in place of the plot
