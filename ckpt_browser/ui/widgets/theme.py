"""Light and dark: follow the system colour scheme and keep the plots in step with the palette.

Qt (6.5+) reports the system scheme through `QStyleHints.colorScheme()` and, with the Fusion style,
switches its palette to match. pyqtgraph does not look at the palette, so every plot takes its
background and foreground from it here, and again whenever the palette changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

if TYPE_CHECKING:
    import pyqtgraph as pg


def is_dark() -> bool:
    """True when the system asks for a dark scheme, or the palette in use is a dark one."""
    app = QGuiApplication.instance()
    if app is None:
        return False
    scheme = QGuiApplication.styleHints().colorScheme()
    if scheme == Qt.ColorScheme.Dark:
        return True
    if scheme == Qt.ColorScheme.Light:
        return False
    return QGuiApplication.palette().color(QPalette.ColorRole.Window).lightness() < 128


def follow_system_scheme(app: QApplication) -> None:
    """Use Fusion on every platform and give it a dark palette whenever the system is dark.

    Native Linux styles often keep a light palette under a dark desktop, and not every platform
    theme hands Fusion a dark palette, so the dark one is set here explicitly.
    """
    app.setStyle("Fusion")
    apply_scheme(app, QGuiApplication.styleHints().colorScheme())
    QGuiApplication.styleHints().colorSchemeChanged.connect(
        lambda scheme: apply_scheme(app, scheme)
    )


def apply_scheme(app: QApplication, scheme: Qt.ColorScheme) -> None:
    """Switch the application palette to `scheme` (Unknown leaves the platform's choice)."""
    palette_is_dark = app.palette().color(QPalette.ColorRole.Window).lightness() < 128
    if scheme == Qt.ColorScheme.Dark and not palette_is_dark:
        app.setPalette(dark_palette())
    elif scheme == Qt.ColorScheme.Light and palette_is_dark:
        app.setPalette(app.style().standardPalette())


def dark_palette() -> QPalette:
    """Fusion's customary dark palette."""
    window, base, text = QColor(45, 45, 48), QColor(30, 30, 32), QColor(225, 225, 225)
    disabled_text = QColor(127, 127, 127)
    palette = QPalette()
    roles = QPalette.ColorRole
    for role, color in [
        (roles.Window, window),
        (roles.WindowText, text),
        (roles.Base, base),
        (roles.AlternateBase, QColor(40, 40, 43)),
        (roles.ToolTipBase, window),
        (roles.ToolTipText, text),
        (roles.PlaceholderText, disabled_text),
        (roles.Text, text),
        (roles.Button, window),
        (roles.ButtonText, text),
        (roles.BrightText, QColor(255, 80, 80)),
        (roles.Link, QColor(90, 160, 255)),
        (roles.Highlight, QColor(42, 130, 218)),
        (roles.HighlightedText, QColor(255, 255, 255)),
        (roles.Light, QColor(70, 70, 74)),
        (roles.Midlight, QColor(58, 58, 62)),
        (roles.Mid, QColor(40, 40, 43)),
        (roles.Dark, QColor(20, 20, 22)),
        (roles.Shadow, QColor(0, 0, 0)),
    ]:
        palette.setColor(role, color)
    for role in (roles.WindowText, roles.Text, roles.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, disabled_text)
    return palette


def plot_background() -> QColor:
    return QGuiApplication.palette().color(QPalette.ColorRole.Base)


def plot_foreground() -> QColor:
    return QGuiApplication.palette().color(QPalette.ColorRole.Text)


def accent() -> QColor:
    """The colour for data drawn in plots (bars, lines): the palette's highlight."""
    return QGuiApplication.palette().color(QPalette.ColorRole.Highlight)


def style_plot(widget: pg.GraphicsView) -> None:
    """Give a pyqtgraph widget the palette's background and axis/text colour."""
    widget.setBackground(plot_background())
    plot_item = getattr(widget, "plotItem", None) or getattr(widget, "ci", None)
    if plot_item is None:
        return
    layout_items = getattr(plot_item, "items", None)
    if isinstance(layout_items, dict):  # a GraphicsLayout: each of its plots
        for item in layout_items:
            if hasattr(item, "axes"):
                style_plot_item(item)
    style_plot_item(plot_item)


def style_plot_item(plot_item) -> None:
    """Give one PlotItem's axes and title the palette's text colour."""
    foreground = plot_foreground()
    axes = getattr(plot_item, "axes", {})
    for axis in axes.values():
        item = axis["item"] if isinstance(axis, dict) else axis
        item.setPen(foreground)
        item.setTextPen(foreground)
    title = getattr(plot_item, "titleLabel", None)
    if title is not None:
        title.setAttr("color", foreground)
