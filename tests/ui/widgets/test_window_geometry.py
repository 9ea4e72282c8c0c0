"""The window fits the screen it is on, the tree takes a share of the width (not fixed pixels),
and the graph dock takes its room from the tensor view before the tree."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QRect, QSettings, QSize, Qt
from PySide6.QtWidgets import QApplication

from ckpt_browser.ui.browse.main_window import MainWindow
from ckpt_browser.ui.widgets import window_geometry as geometry

DEMO_DIR = Path(__file__).resolve().parents[3] / "resources" / "demo"


@pytest.mark.parametrize(
    ("screen", "expected"),
    [
        (QRect(0, 0, 1920, 1080), QSize(1400, 900)),  # room to spare: the default
        (QRect(0, 0, 1024, 700), QSize(942, 644)),  # a small laptop screen
        (QRect(0, 0, 800, 500), QSize(736, 460)),  # 1600x1000 at scale 2
    ],
)
def test_the_default_size_fits_the_screen(screen: QRect, expected: QSize) -> None:
    rect = geometry.default_rect(screen, QSize(700, 400))
    assert rect.size() == expected
    assert screen.contains(rect) and rect.center() == screen.center()


def test_a_geometry_from_another_monitor_layout_is_brought_onto_the_screen() -> None:
    laptop = QRect(0, 0, 1024, 700)
    from_a_big_second_monitor = QRect(3000, 100, 2800, 1800)
    fitted = geometry.fit_rect(from_a_big_second_monitor, laptop)
    assert fitted == QRect(0, 0, 1024, 700)
    fitting = QRect(100, 50, 800, 600)
    assert geometry.fit_rect(fitting, laptop) == fitting  # what fits stays as it was
    assert geometry.fit_rect(QRect(900, 600, 400, 300), laptop) == QRect(624, 400, 400, 300)


def test_the_tree_takes_a_share_of_the_width() -> None:
    assert geometry.tree_width(1024, 300) == 369
    assert geometry.tree_width(1400, 300) == 504
    assert geometry.tree_width(2560, 300) == geometry.TREE_MAX
    assert geometry.tree_width(700, 344) == 344  # never below what the tree's controls need


def test_the_dock_takes_from_the_tensor_view_first() -> None:
    # Room enough: the tree keeps its width.
    assert geometry.dock_width(1800, 560, 344, 320, 20) == int(1800 * geometry.DOCK_SHARE)
    # Not enough: the tree gives up to its floor (its minimum, or 30% of the window), no more.
    assert geometry.dock_width(1024, 369, 344, 320, 20) == 1024 - 20 - 344 - 320
    assert geometry.dock_width(1400, 504, 344, 376, 20) == 1400 - 20 - 420 - 376


def _screen_area(window: MainWindow) -> QRect:
    return window.screen().availableGeometry()


def test_a_new_window_fits_its_screen(qtbot) -> None:
    window = MainWindow(QSettings())
    qtbot.addWidget(window)
    area = _screen_area(window)
    assert area.contains(window.geometry())
    assert window.width() <= area.width() * geometry.SCREEN_SHARE + 1


def test_a_saved_geometry_too_big_for_this_screen_is_fitted(qtbot) -> None:
    first = MainWindow(QSettings())
    qtbot.addWidget(first)
    first.setGeometry(QRect(3000, 100, 2800, 1800))  # as saved on a large second monitor
    first.close()
    settings = QSettings()
    assert settings.value("window/geometry") is not None
    again = MainWindow(settings)
    qtbot.addWidget(again)
    assert _screen_area(again).contains(again.geometry())


def _settle(qtbot, window: MainWindow) -> None:
    qtbot.wait(50)  # the splitter is sized once the layout has run
    QApplication.processEvents()


def test_the_tree_share_follows_the_window_until_the_user_drags(qtbot, window) -> None:
    assert window.open_path(str(DEMO_DIR))
    tree_min = window.tree.minimumSizeHint().width()
    for width in (1024, 1400, 1800):
        window.resize(width, 700)
        _settle(qtbot, window)
        tree, view = window.splitter.sizes()
        assert tree == geometry.tree_width(width, tree_min)
        assert view == window.splitter.width() - tree - window.splitter.handleWidth()

    handle = window.splitter.handle(1)
    qtbot.mousePress(handle, Qt.MouseButton.LeftButton, pos=QPoint(2, 100))
    qtbot.mouseMove(handle, QPoint(-98, 100))
    qtbot.mouseRelease(handle, Qt.MouseButton.LeftButton, pos=QPoint(-98, 100))
    dragged = window.splitter.sizes()[0]
    assert dragged != geometry.tree_width(1800, tree_min)
    window.resize(1600, 700)
    _settle(qtbot, window)
    assert window.splitter.sizes()[0] == dragged  # the user's width stays


@pytest.mark.parametrize("width", [1400, 1800])
def test_opening_the_graph_dock_keeps_the_tree(qtbot, window, wait_idle, width) -> None:
    window.resize(width, 900)
    assert window.open_path(str(DEMO_DIR))
    assert window.select("conv2/kernel")
    wait_idle(window)
    _settle(qtbot, window)
    tree_before = window.splitter.sizes()[0]
    window.graph_dock.toggleViewAction().trigger()  # View > Graph (Ctrl+G)
    _settle(qtbot, window)
    tree, view = window.splitter.sizes()
    tree_min = window.tree.minimumSizeHint().width()
    view_min = max(geometry.TENSOR_MIN, window.tensor_view.minimumSizeHint().width())
    assert window.graph_dock.width() >= 0.3 * width  # the graph gets real room
    assert tree >= min(tree_before, max(tree_min, 0.3 * width))
    assert view >= view_min - 2
    if width >= 1800:
        assert tree == tree_before  # with room to spare only the tensor view gives


def test_a_graph_without_room_beside_floats_instead_of_pushing_the_window_off_screen(
    qtbot, window, wait_idle
) -> None:
    area = _screen_area(window)
    window.resize(area.width() - 40, area.height() - 60)  # a maximised window on a small screen
    assert window.open_path(str(DEMO_DIR))
    assert window.select("conv2/kernel")  # the tensor view now needs its full minimum width
    wait_idle(window)
    _settle(qtbot, window)
    needed = (
        window.tree.minimumSizeHint().width()
        + window.tensor_view.minimumSizeHint().width()
        + window.graph_dock.minimumSizeHint().width()
    )
    assert needed > area.width()  # the premise: three panes cannot share this screen
    width = window.width()
    window.graph_dock.toggleViewAction().trigger()
    _settle(qtbot, window)
    dock = window.graph_dock
    assert dock.isVisible() and dock.isFloating()
    assert window.width() == width  # docked, it would have widened the window by its own width
    assert area.contains(dock.geometry())
