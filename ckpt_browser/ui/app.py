"""Start the window: `run_gui` is what `ckpt-browser PATH` calls.

With `screenshot`, the window is rendered offscreen-capable: it opens the checkpoint, selects the
requested variable, waits until its statistics, histogram and values are on screen, grabs itself
to a PNG and quits. That makes the window scriptable (documentation images, smoke tests, CI).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from PySide6.QtCore import (
    QMessageLogContext,
    QSettings,
    QTimer,
    QtMsgType,
    qInstallMessageHandler,
)
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from ckpt_browser.ui import about_dialog, theme
from ckpt_browser.ui.display_check import display_problem
from ckpt_browser.ui.gui_gc import collect_garbage_in_gui_thread
from ckpt_browser.ui.main_window import MainWindow

ORGANIZATION = "ckpt-browser"
APPLICATION = "ckpt-browser"
SCREENSHOT_TIMEOUT_MS = 60_000
_POLL_MS = 10


# Harmless notices of Qt platform plugins that would only clutter stderr (the offscreen plugin,
# used for --screenshot on servers, says this for every top-level window).
_QUIET_QT_MESSAGES = ("This plugin does not support propagateSizeHints()",)


def _qt_message(mode: QtMsgType, context: QMessageLogContext, message: str) -> None:
    if message in _QUIET_QT_MESSAGES:
        return
    print(message, file=sys.stderr)


def make_application(argv: Sequence[str] | None = None) -> QApplication:
    """The QApplication (created once), named so QSettings finds the user's settings."""
    QGuiApplication.setApplicationName(APPLICATION)
    QGuiApplication.setOrganizationName(ORGANIZATION)
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        qInstallMessageHandler(_qt_message)
        app = QApplication(list(argv) if argv is not None else [sys.argv[0]])
        QGuiApplication.setApplicationDisplayName("ckpt-browser")
        # Ties windows to the installed .desktop entry (Wayland shows its icon and name).
        QGuiApplication.setDesktopFileName(about_dialog.APP_ID)
        app.setWindowIcon(about_dialog.application_icon())
        theme.follow_system_scheme(app)
    collect_garbage_in_gui_thread(app)
    return app


def run_gui(
    paths: list[str],
    *,
    select: str | None = None,
    screenshot: str | None = None,
    size: tuple[int, int] | None = None,
    compare: bool = False,
    graph: bool = False,
) -> int:
    """Open the window on `paths` and run until it closes (or until the screenshot is written).

    `graph` shows the graph panel even when no graph was found beside the checkpoint.
    """
    problem = display_problem()
    if problem is not None:  # rather than Qt's page of text and an abort
        print(f"error: {problem}", file=sys.stderr)
        return 2
    app = make_application()
    if compare or len(paths) > 1:
        return _run_compare(app, paths, select=select, screenshot=screenshot, size=size)
    settings = None if screenshot else QSettings()
    window = MainWindow(settings)
    if size is not None:
        window.resize(*size)
    window.show()
    opened = True
    for path in paths:
        opened = window.open_path(path, select=select) and opened
    if graph:
        window.graph_dock.show()
    if screenshot is None:
        QTimer.singleShot(0, window.tensor_view.prepare)  # while the user looks at the tree
        return app.exec()
    if not opened or window.last_error:
        print(f"error: {window.last_error}", file=sys.stderr)
        return 2
    return _screenshot_when_idle(app, window, screenshot)


def _run_compare(
    app: QApplication,
    paths: list[str],
    *,
    select: str | None,
    screenshot: str | None,
    size: tuple[int, int] | None,
) -> int:
    """Two checkpoints: the compare window (A is the first path) instead of the main window."""
    from ckpt_browser.ui.compare_window import CompareWindow

    if len(paths) != 2:
        print("error: give two checkpoints to compare", file=sys.stderr)
        return 2
    window = CompareWindow(None if screenshot else QSettings())
    if size is not None:
        window.resize(*size)
    window.show()
    opened = window.open_pair(paths[0], paths[1], select=select)
    if screenshot is None:
        return app.exec()
    if not opened or window.last_error:
        print(f"error: {window.last_error}", file=sys.stderr)
        return 2
    return _screenshot_when_idle(app, window, screenshot)


def _screenshot_when_idle(app: QApplication, window: MainWindow, out: str) -> int:
    """Poll until no work is pending, grab the window to `out`, quit with 0 (or 2 and an error)."""
    outcome = {"code": 2, "message": f"timed out after {SCREENSHOT_TIMEOUT_MS / 1000:.0f} s"}
    waited = {"ms": 0}
    timer = QTimer()
    timer.setInterval(_POLL_MS)

    def poll() -> None:
        waited["ms"] += _POLL_MS
        if window.last_error:
            outcome["message"] = window.last_error
        elif window.is_idle():
            outcome.update(_grab(window, out))
        elif waited["ms"] < SCREENSHOT_TIMEOUT_MS:
            return
        timer.stop()
        app.quit()

    timer.timeout.connect(poll)
    timer.start()
    app.exec()
    window.close()
    if outcome["code"] != 0:
        print(f"error: {outcome['message']}", file=sys.stderr)
    return int(outcome["code"])


def _grab(window: MainWindow, out: str) -> dict[str, object]:
    QApplication.processEvents()  # let the last results lay themselves out before rendering
    pixmap = window.grab()
    directory = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(directory):
        return {"code": 2, "message": f"{out}: the folder {directory} does not exist"}
    if pixmap.isNull() or not pixmap.save(out, "PNG"):
        return {"code": 2, "message": f"{out}: could not write the PNG"}
    return {"code": 0, "message": ""}
