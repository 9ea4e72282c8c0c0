"""Start the window: `run_gui` is what `ckpt-browser PATH` calls.

With `screenshot`, the window is rendered offscreen-capable: it opens the checkpoint, selects the
requested variable, waits until its statistics, histogram and values are on screen, grabs itself
to a PNG and quits. That makes the window scriptable (documentation images, smoke tests, CI).

Every error a user sees is one sentence, in a dialog or as `error: ...`: an exception no part of
the window expected is shown that way too (`error_sentence`), its traceback printed on stderr only
with `debug`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from types import TracebackType

from PySide6.QtCore import (
    QMessageLogContext,
    QSettings,
    QTimer,
    QtMsgType,
    qInstallMessageHandler,
)
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from ckpt_browser.core.error_text import error_sentence
from ckpt_browser.core.printable import printable
from ckpt_browser.ui import about_dialog
from ckpt_browser.ui.browse.main_window import MainWindow
from ckpt_browser.ui.display_check import display_problem
from ckpt_browser.ui.gui_gc import collect_garbage_in_gui_thread
from ckpt_browser.ui.widgets import theme

ORGANIZATION = "ckpt-browser"
APPLICATION = "ckpt-browser"
SCREENSHOT_TIMEOUT_MS = 60_000
_POLL_MS = 10

log = logging.getLogger(__name__)


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
    debug: bool = False,
    preset: str | None = None,
) -> int:
    """Open the window on `paths` and run until it closes (or until the screenshot is written).

    `graph` shows the graph panel even when no graph was found beside the checkpoint; `debug`
    prints the traceback of unexpected errors on stderr; `preset` sees A through a preset when
    two paths are compared.
    """
    problem = display_problem()
    if problem is not None:  # rather than Qt's page of text and an abort
        _print_error(problem)
        return 2
    if debug:  # the program's own log only, not that of every library
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        logging.getLogger("ckpt_browser").addHandler(handler)
        logging.getLogger("ckpt_browser").setLevel(logging.DEBUG)
    app = make_application()
    try:
        if compare or len(paths) > 1:
            return _run_compare(
                app, paths, select=select, screenshot=screenshot, size=size, preset=preset
            )
        return _run_main(app, paths, select=select, screenshot=screenshot, size=size, graph=graph)
    except Exception as error:  # before the event loop: the window could not be built
        log.debug("the window failed", exc_info=True)
        _print_error(error_sentence(error, f"show {', '.join(paths) or 'the window'}"))
        return 2


def _print_error(message: str) -> None:
    print(f"error: {printable(message)}", file=sys.stderr)


@contextlib.contextmanager
def _errors_shown_in(window) -> Iterator[None]:
    """While the event loop runs, an exception escaping a slot is shown in `window` as one
    sentence (Qt would print its traceback and go on as if nothing happened)."""

    def hook(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
        if not isinstance(error, Exception):  # KeyboardInterrupt, SystemExit: as Python does
            sys.__excepthook__(kind, error, trace)
            return
        log.debug("unexpected error", exc_info=(kind, error, trace))
        checkpoint = getattr(window, "checkpoint", None)
        where = f" on {checkpoint.prefix}" if checkpoint is not None else ""
        window.show_error(error_sentence(error, f"finish what was asked{where}"))

    previous, sys.excepthook = sys.excepthook, hook
    try:
        yield
    finally:
        sys.excepthook = previous


def _run_main(
    app: QApplication,
    paths: list[str],
    *,
    select: str | None,
    screenshot: str | None,
    size: tuple[int, int] | None,
    graph: bool,
) -> int:
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
        with _errors_shown_in(window):
            return app.exec()
    if not opened or window.last_error:
        _print_error(window.last_error or "the checkpoint did not open")
        return 2
    return _screenshot_when_idle(app, window, screenshot)


def _run_compare(
    app: QApplication,
    paths: list[str],
    *,
    select: str | None,
    screenshot: str | None,
    size: tuple[int, int] | None,
    preset: str | None = None,
) -> int:
    """Two checkpoints: the compare window (A is the first path) instead of the main window."""
    from ckpt_browser.ui.compare.window import CompareWindow

    if len(paths) != 2:
        print("error: give two checkpoints to compare", file=sys.stderr)
        return 2
    window = CompareWindow(None if screenshot else QSettings())
    if size is not None:
        window.resize(*size)
    window.show()
    opened = window.open_pair(paths[0], paths[1], select=select, preset=preset)
    if screenshot is None:
        with _errors_shown_in(window):
            return app.exec()
    if not opened or window.last_error:
        _print_error(window.last_error or "the checkpoints did not open")
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
    with _errors_shown_in(window):
        app.exec()
    window.close()
    if outcome["code"] != 0:
        _print_error(str(outcome["message"]))
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
