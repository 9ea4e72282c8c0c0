"""How big the main window and its panes are: fitted to the screen it is on, shared by proportion.

A fixed default (1400x900) is taller than a 1024x700 laptop screen and than a 1600x1000 screen at
scale 2 (800x500 logical pixels); a geometry saved on another monitor layout can lie off every
screen. Panes in fixed pixels left the tree 560 px of a 1024 px window and squeezed the tensor view
to nothing when the graph dock opened. Here sizes follow the screen and the window instead.
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QEvent, QObject, QRect, QSize, QTimer
from PySide6.QtGui import QGuiApplication, QScreen
from PySide6.QtWidgets import QMainWindow, QSplitter, QStyle, QWidget

DEFAULT_SIZE = (1400, 900)
# The largest share of the screen a new window takes: room for the desktop's panels and a margin.
SCREEN_SHARE = 0.92
# The tree's share of the window: its names and columns need about this at small widths, and the
# tensor view (statistics, histogram, values) makes better use of any width beyond.
TREE_SHARE = 0.36
TREE_MAX = 560
# The tensor view keeps at least this when the graph dock opens (a histogram still reads).
TENSOR_MIN = 320
# The graph dock takes at most this share of the window when it opens, and leaves the tree at
# least the other share (a tree of ~400 px at 1400 hid the numbers of every row).
DOCK_SHARE = 0.45
TREE_SHARE_BESIDE_DOCK = 0.3


def screen_for(rect: QRect) -> QScreen | None:
    """The screen holding the middle of `rect`, else the primary one."""
    return QGuiApplication.screenAt(rect.center()) or QGuiApplication.primaryScreen()


def default_rect(
    available: QRect, minimum: QSize, default: tuple[int, int] = DEFAULT_SIZE
) -> QRect:
    """The `default` size, no larger than SCREEN_SHARE of the `available` area (nor smaller than
    `minimum` where the screen allows it), centred in it."""
    width = min(default[0], int(available.width() * SCREEN_SHARE))
    height = min(default[1], int(available.height() * SCREEN_SHARE))
    width = min(max(width, minimum.width()), available.width())
    height = min(max(height, minimum.height()), available.height())
    rect = QRect(0, 0, width, height)
    rect.moveCenter(available.center())
    return rect


def fit_rect(rect: QRect, available: QRect) -> QRect:
    """`rect` shrunk to fit `available` and moved inside it (unchanged when it already fits)."""
    fitted = QRect(rect)
    fitted.setWidth(min(rect.width(), available.width()))
    fitted.setHeight(min(rect.height(), available.height()))
    right = available.left() + available.width() - fitted.width()
    bottom = available.top() + available.height() - fitted.height()
    fitted.moveLeft(min(max(fitted.left(), available.left()), right))
    fitted.moveTop(min(max(fitted.top(), available.top()), bottom))
    return fitted


def tree_width(total: int, tree_min: int) -> int:
    """The tree's share of a splitter `total` pixels wide: TREE_SHARE, within [tree_min, TREE_MAX]
    (and never more than the splitter)."""
    return min(total, max(tree_min, min(TREE_MAX, round(total * TREE_SHARE))))


def dock_width(window: int, tree: int, tree_min: int, tensor_min: int, chrome: int) -> int:
    """How wide the graph dock opens: DOCK_SHARE of the window, taken from the tensor view (down
    to `tensor_min`), and from the tree only down to TREE_SHARE_BESIDE_DOCK of the window (or its
    own minimum). `chrome` is what splitter handles, dock borders and margins take."""
    wanted = int(window * DOCK_SHARE)
    tree_floor = min(tree, max(tree_min, round(window * TREE_SHARE_BESIDE_DOCK)))
    return max(0, min(wanted, window - chrome - tree_floor - tensor_min))


def place_on_screen(
    window: QWidget, *, restored: bool = False, default: tuple[int, int] = DEFAULT_SIZE
) -> None:
    """Size a new top-level window: `default` fitted to its screen, or (`restored`) the
    geometry QSettings gave back, shrunk and moved onto the screen if it no longer fits."""
    current = window.geometry()
    screen = screen_for(current) if restored else window.screen()
    if screen is None:
        return
    available = screen.availableGeometry()
    if restored:
        rect = fit_rect(current, _without_title_bar(available, window))
    else:
        rect = default_rect(
            _without_title_bar(available, window), window.minimumSizeHint(), default
        )
    if rect != current:
        window.setGeometry(rect)


def _without_title_bar(available: QRect, window: QWidget) -> QRect:
    # Before it is shown a window's frame is unknown; the style's title bar height stands in.
    title = window.style().pixelMetric(QStyle.PixelMetric.PM_TitleBarHeight)
    return available.adjusted(0, title, 0, 0)


class PaneSizer(QObject):
    """Keeps the tree's share of the main splitter as the window changes size, until the user
    drags the splitter; and makes room for the graph dock from the tensor view first."""

    def __init__(self, window: QMainWindow, splitter: QSplitter) -> None:
        super().__init__(window)
        self._window = window
        self._splitter = splitter
        self.user_sized = False  # a drag of the handle, or sizes restored from settings
        splitter.splitterMoved.connect(self._on_moved)
        window.installEventFilter(self)

    def restore(self, state: QByteArray) -> None:
        self.user_sized = self._splitter.restoreState(state)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._window and event.type() == QEvent.Type.Resize:
            QTimer.singleShot(0, self.apply)  # once the layout has given the splitter its width
        return False

    def apply(self) -> None:
        """Give the tree its share of the window (not of the splitter: an open dock takes its
        room from the tensor view), unless the user chose a width that leaves the tensor view
        at least half."""
        sizes = self._splitter.sizes()
        total = sum(sizes)
        if total <= 0 or len(sizes) != 2:
            return
        if self.user_sized and sizes[0] <= total // 2:
            return
        self._set_tree(tree_width(self._window.width(), self._tree_min()))

    def dock_width(self) -> int:
        """How wide a dock may open beside the splitter (see `dock_width`)."""
        window, splitter = self._window, self._splitter
        chrome = window.width() - splitter.width() + splitter.handleWidth() + _DOCK_CHROME
        tree = splitter.sizes()[0]
        width = dock_width(window.width(), tree, self._tree_min(), self._tensor_min(), chrome)
        return max(1, width)

    def fits_beside(self, dock: QWidget) -> bool:
        """Whether the screen is wide enough for the tree, the tensor view and `dock` at their
        minimum widths (Qt would otherwise widen the window past the screen's edge)."""
        splitter = self._splitter
        needed = (
            self._tree_min()
            + splitter.widget(1).minimumSizeHint().width()
            + dock.minimumSizeHint().width()
            + splitter.handleWidth()
            + _DOCK_CHROME
        )
        screen = self._window.screen()
        room = self._window.width()
        if screen is not None:
            room = max(room, screen.availableGeometry().width())
        return needed <= room

    def floating_rect(self, dock: QWidget) -> QRect:
        """Where `dock` floats when it does not fit beside: the right part of the screen."""
        screen = self._window.screen()
        available = screen.availableGeometry() if screen is not None else self._window.geometry()
        width = max(dock.minimumSizeHint().width(), int(available.width() * DOCK_SHARE))
        rect = QRect(0, 0, min(width, available.width()), available.height())
        rect.moveTopRight(available.topRight())
        return _without_title_bar(rect, dock)

    def keep_tree_beside_dock(self, tree: int) -> None:
        """After a dock opened: the tree keeps `tree` pixels (down to its minimum) and the
        tensor view, which gave the dock its room, has the rest."""
        self._set_tree(tree)

    def _set_tree(self, tree: int) -> None:
        total = sum(self._splitter.sizes())
        kept = max(self._tree_min(), min(tree, total - self._tensor_min()))
        if self._splitter.sizes()[0] != kept:
            self._splitter.setSizes([kept, max(0, total - kept)])

    def _tensor_min(self) -> int:
        return max(TENSOR_MIN, self._splitter.widget(1).minimumSizeHint().width())

    def _tree_min(self) -> int:
        return self._splitter.widget(0).minimumSizeHint().width()

    def _on_moved(self, _pos: int, _index: int) -> None:
        self.user_sized = True


# The main window's separator between the central widget and a dock, and the dock's frame.
_DOCK_CHROME = 16
