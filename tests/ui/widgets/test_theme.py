"""Light and dark: plots take their colours from the application palette and follow changes."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from ckpt_browser.ui.widgets import theme
from ckpt_browser.ui.widgets.histogram_plot import HistogramPlot


def _background(plot: HistogramPlot):
    return plot.plot_widget.backgroundBrush().color()


def test_plots_follow_a_switch_to_dark_and_back(qtbot):
    app = QApplication.instance()
    light = app.palette()
    plot = HistogramPlot()
    qtbot.addWidget(plot)
    assert _background(plot) == light.color(QPalette.ColorRole.Base)
    try:
        theme.apply_scheme(app, Qt.ColorScheme.Dark)
        assert theme.is_dark()
        dark_base = theme.dark_palette().color(QPalette.ColorRole.Base)
        qtbot.waitUntil(lambda: _background(plot) == dark_base)
        axis_pen = plot.plot_widget.getAxis("left").pen().color()
        assert axis_pen == theme.dark_palette().color(QPalette.ColorRole.Text)

        theme.apply_scheme(app, Qt.ColorScheme.Light)
        qtbot.waitUntil(lambda: _background(plot) != dark_base)
        assert not theme.is_dark()
    finally:
        app.setPalette(light)
