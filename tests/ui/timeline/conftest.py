"""Fixtures for the timeline tests: a private cache directory and a window showing a timeline."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from PySide6.QtCore import QPointF, Qt

from ckpt_browser.ui.browse.main_window import MainWindow
from ckpt_browser.ui.timeline.panel import TimelinePanel


@pytest.fixture(autouse=True)
def cache_directory(tmp_path, monkeypatch) -> str:
    """Nothing of the tests goes into the user's cache directory."""
    directory = str(tmp_path / "cache")
    monkeypatch.setenv("CKPT_BROWSER_CACHE_DIR", directory)
    return directory


@pytest.fixture
def show_timeline(qtbot) -> Callable[..., TimelinePanel]:
    """Open `path` in the window, select `name` (a key, or a scope path ending in "/"), show the
    timeline dock and wait until its timeline is drawn."""

    def show(window: MainWindow, path: str, name: str, timeout: int = 30_000) -> TimelinePanel:
        assert window.open_path(path)
        if name.endswith("/"):
            assert window.tree.select_path(name.rstrip("/"))
        else:
            assert window.select(name)
        panel = window.timeline_dock.show_timeline()
        qtbot.waitUntil(lambda: panel.model.timeline is not None, timeout=timeout)
        return panel

    return show


@pytest.fixture
def click_plot(qtbot) -> Callable[..., None]:
    """A real mouse click on a plot of a GraphicsLayoutWidget at (x, y) in the plot's values
    (y: half-way up when not given)."""

    def click(graphics, plot, x: float, y: float | None = None, modifiers=None) -> None:
        if y is None:
            y_low, y_high = plot.vb.viewRange()[1]
            y = (y_low + y_high) / 2
        view_point = graphics.mapFromScene(plot.vb.mapViewToScene(QPointF(x, y)))
        modifiers = modifiers or Qt.KeyboardModifier.NoModifier
        qtbot.mouseClick(graphics.viewport(), Qt.MouseButton.LeftButton, modifiers, view_point)

    return click
