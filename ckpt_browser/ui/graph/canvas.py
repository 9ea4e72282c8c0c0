"""The drawing of the graph panel: a QGraphicsView of one laid-out Scene, with pan, zoom and fit.

Nodes are plain QGraphicsItems that paint a rounded box with two lines of text; expanded groups
are boxes with a title holding their children; edges are paths with an arrow head, dashed for
control dependencies and thicker when they stand for many graph edges. Text is left out when
zoomed far out, so a view of thousands of nodes still pans smoothly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QImage,
    QPainter,
    QPainterPath,
    QPen,
    QPolygonF,
)
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsScene,
    QGraphicsView,
    QStyleOptionGraphicsItem,
    QWidget,
)

from ckpt_browser.core.formatting import plural
from ckpt_browser.core.graph.kinds import NodeKind
from ckpt_browser.core.graph.model import GraphModel, ItemKind
from ckpt_browser.core.graph.view import Metrics, PlacedEdge, PlacedItem, Scene
from ckpt_browser.ui.widgets.plain_text import plain_tooltip

ZOOM_STEP = 1.25
MIN_SCALE, MAX_SCALE = 0.01, 8.0
TEXT_MIN_SCALE = 0.35  # below this zoom the labels are not drawn
READABLE_SCALE = 0.7  # a newly loaded graph is shown at least this large


@dataclass(frozen=True)
class Style:
    fill: str
    border: str
    text: str = "#1d1d1f"


STYLES = {
    NodeKind.VARIABLE: Style("#f8c98f", "#c0742a"),
    NodeKind.CONSTANT: Style("#cdd9ea", "#61809f"),
    NodeKind.INPUT: Style("#c3e6c4", "#4b9650"),
    NodeKind.COMPUTE: Style("#e9e9f5", "#8585ad"),
    NodeKind.PLUMBING: Style("#eeeeee", "#b3b3b3", "#7a7a7a"),
}
GROUP_STYLE = Style("#dbe7f6", "#4f78ad")
FUNCTION_STYLE = Style("#eee1f7", "#925fb5")
BOX_FILL = QColor(110, 135, 185, 22)
BOX_BORDER = QColor("#7b8fb4")
MISSING_BORDER = QColor("#d3302f")
SELECTED_BORDER = QColor("#1769e0")
EDGE_COLOUR = QColor("#8d939c")
TRACE_COLOUR = QColor("#e0621b")


_SAMPLE_TEXT = "gradients/MatMul_grad/Shape kernel Adam_1 layer_10 ReadVariableOp"


def metrics_for(font: QFont) -> Metrics:
    """Layout metrics that fit `font` (labels are elided to the box the layout gives them)."""
    measure = QFontMetricsF(font)
    return Metrics(
        char_width=measure.horizontalAdvance(_SAMPLE_TEXT) / len(_SAMPLE_TEXT) * 1.3,
        line_height=measure.height(),
        header=measure.height() + 8,
    )


class NodeItem(QGraphicsItem):
    """A collapsed item (op, group, series) or the frame of an expanded one."""

    def __init__(self, canvas: GraphCanvas, placed: PlacedItem) -> None:
        super().__init__()
        self.canvas = canvas
        self.placed = placed
        self.item_id = placed.item
        self.setPos(placed.x, placed.y)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable, True)
        self.setZValue(placed.depth * 2 if placed.expanded else 1000 + placed.depth)
        self.setToolTip(plain_tooltip(canvas.tooltip(placed.item)))
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.dimmed = False

    def boundingRect(self) -> QRectF:
        return QRectF(-2, -2, self.placed.width + 4, self.placed.height + 4)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        placed = self.placed
        rect = QRectF(0, 0, placed.width, placed.height)
        style = self.canvas.style_of(placed.item)
        selected = self.isSelected()
        border = QColor(style.border)
        if self.canvas.is_missing(placed.item):
            border = MISSING_BORDER
        if self.canvas.traced is not None and self.canvas.traced[placed.item]:
            border = TRACE_COLOUR
        if selected:
            border = SELECTED_BORDER
        pen = QPen(border, 2.4 if selected else 1.2)
        if self.canvas.is_missing(placed.item):
            pen.setStyle(Qt.PenStyle.DashLine)
        painter.setOpacity(0.25 if self.dimmed else 1.0)
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        if placed.expanded:
            self._paint_box(painter, rect, pen, lod)
            return
        entry = self.canvas.model.items[placed.item]
        painter.setPen(pen)
        fill = QColor(style.fill)
        if entry.kind is ItemKind.SERIES:  # a stack of cards
            painter.setBrush(QBrush(fill.darker(110)))
            painter.drawRoundedRect(rect.translated(4, -4), 6, 6)
        painter.setBrush(QBrush(fill))
        radius = 6 if entry.is_container else rect.height() / 2
        painter.drawRoundedRect(rect, radius, radius)
        if entry.is_container and entry.kind is not ItemKind.SERIES:
            painter.drawRoundedRect(rect.adjusted(3, 3, -3, -3), 4, 4)
        self._paint_stubs(painter, rect)
        if lod < TEXT_MIN_SCALE:
            return
        first, second = self.canvas.lines(placed.item)
        metrics = self.canvas.metrics
        inner = rect.adjusted(metrics.padding, metrics.padding / 2, -metrics.padding, 0)
        font_metrics = QFontMetricsF(self.canvas.font())
        painter.setPen(QColor(style.text))
        line = QRectF(inner.left(), inner.top(), inner.width(), metrics.line_height)
        painter.setFont(self.canvas.bold_font)
        bold_metrics = QFontMetricsF(self.canvas.bold_font)
        painter.drawText(
            line, Qt.AlignmentFlag.AlignCenter, self._elide(first, bold_metrics, inner)
        )
        painter.setFont(self.canvas.font())
        painter.setPen(QColor(style.text).lighter(160))
        line.translate(0, metrics.line_height)
        painter.drawText(
            line, Qt.AlignmentFlag.AlignCenter, self._elide(second, font_metrics, inner)
        )

    def _paint_box(self, painter: QPainter, rect: QRectF, pen: QPen, lod: float) -> None:
        painter.setPen(QPen(pen.color() if self.isSelected() else BOX_BORDER, pen.widthF()))
        painter.setBrush(BOX_FILL)
        painter.drawRoundedRect(rect, 8, 8)
        if lod < TEXT_MIN_SCALE:
            return
        metrics = self.canvas.metrics
        title = self.canvas.model.items[self.placed.item].name or "graph"
        header = QRectF(metrics.padding, 2, rect.width() - 2 * metrics.padding, metrics.header)
        painter.setFont(self.canvas.bold_font)
        painter.setPen(BOX_BORDER.darker(140))
        elided = QFontMetricsF(self.canvas.bold_font).elidedText(
            f"▾ {title}", Qt.TextElideMode.ElideLeft, header.width()
        )
        painter.drawText(header, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, elided)

    def _paint_stubs(self, painter: QPainter, rect: QRectF) -> None:
        """Short arrows for edges that cross the enclosing box's border."""
        painter.setPen(QPen(EDGE_COLOUR, 1.0, Qt.PenStyle.DotLine))
        centre = rect.center().x()
        if self.placed.fed_from_outside:
            painter.drawLine(QPointF(centre - 8, -10), QPointF(centre - 8, 0))
        if self.placed.feeds_outside:
            painter.drawLine(
                QPointF(centre + 8, rect.bottom()), QPointF(centre + 8, rect.bottom() + 10)
            )

    @staticmethod
    def _elide(text: str, metrics: QFontMetricsF, rect: QRectF) -> str:
        return metrics.elidedText(text, Qt.TextElideMode.ElideMiddle, rect.width())

    def mousePressEvent(self, event) -> None:
        already = self.isSelected()
        super().mousePressEvent(event)
        if already and event.button() == Qt.MouseButton.LeftButton:
            # No selection change, yet the user chose this node (again): the tree may have moved.
            self.canvas.item_selected.emit(self.item_id)

    def mouseDoubleClickEvent(self, event) -> None:
        self.canvas.item_activated.emit(self.item_id)
        event.accept()


class EdgeItem(QGraphicsPathItem):
    """One drawn edge: a smooth path through the layout's bend points, with an arrow head."""

    def __init__(self, edge: PlacedEdge) -> None:
        super().__init__()
        self.edge = edge
        points = edge.points
        path = QPainterPath(QPointF(*points[0]))
        if len(points) == 2:
            path.lineTo(QPointF(*points[1]))
        else:
            for index in range(1, len(points)):
                previous, current = points[index - 1], points[index]
                middle_y = (previous[1] + current[1]) / 2
                path.cubicTo(
                    QPointF(previous[0], middle_y),
                    QPointF(current[0], middle_y),
                    QPointF(*current),
                )
        self.arrow = _arrow_head(points)
        path.addPolygon(self.arrow)
        self.setPath(path)
        width = 1.0 + min(3.0, math.log10(max(edge.count, 1)) * 1.5)
        self.base_pen = QPen(EDGE_COLOUR, width)
        if edge.control:
            self.base_pen.setStyle(Qt.PenStyle.DashLine)
        self.setPen(self.base_pen)
        self.setZValue(500)
        self.setToolTip(
            f"{edge.count} {'control ' if edge.control else ''}edge{'s' if edge.count != 1 else ''}"
        )

    def set_traced(self, traced: bool | None) -> None:
        """None: normal; True: part of the trace; False: dimmed."""
        pen = QPen(self.base_pen)
        if traced:
            pen.setColor(TRACE_COLOUR)
            pen.setWidthF(self.base_pen.widthF() + 1.2)
        elif traced is False:
            pen.setColor(QColor(EDGE_COLOUR.red(), EDGE_COLOUR.green(), EDGE_COLOUR.blue(), 60))
        self.setPen(pen)


def _arrow_head(points: np.ndarray, size: float = 7.0) -> QPolygonF:
    end = points[-1]
    before = points[-2] if len(points) > 1 else end - (0, 1)
    dx, dy = end[0] - before[0], end[1] - before[1]
    length = math.hypot(dx, dy) or 1.0
    dx, dy = dx / length, dy / length
    left = (end[0] - size * dx - size * 0.5 * dy, end[1] - size * dy + size * 0.5 * dx)
    right = (end[0] - size * dx + size * 0.5 * dy, end[1] - size * dy - size * 0.5 * dx)
    return QPolygonF([QPointF(*end), QPointF(*left), QPointF(*right), QPointF(*end)])


class GraphCanvas(QGraphicsView):
    """Shows one Scene; emits what the user clicks (select) and double-clicks (expand)."""

    item_selected = Signal(object)  # item id the user clicked (selected or again), or None
    item_activated = Signal(int)  # double-click: expand or collapse

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.bold_font = QFont(self.font())
        self.bold_font.setBold(True)
        self.metrics = metrics_for(self.bold_font)
        self.model: GraphModel | None = None
        self.missing_ops: set[int] = set()  # variable ops the checkpoint lacks
        self.traced: np.ndarray | None = None  # per item: on the traced path
        self._scene_data: Scene | None = None
        self._nodes: dict[int, NodeItem] = {}
        self._edges: list[EdgeItem] = []
        self._lines: dict[int, tuple[str, str]] = {}
        self._quiet = False
        self.scene().selectionChanged.connect(self._on_selection_changed)

    # -- content ----------------------------------------------------------------------------------

    def show_scene(self, model: GraphModel, scene: Scene, lines) -> None:
        """Replace the drawing by `scene`; `lines(item)` gives the two lines of a node."""
        selected = self.selected_item()
        graphics = self.scene()
        self._quiet = True
        graphics.clear()
        self.model = model
        self._scene_data = scene
        self._lines_of = lines
        self._lines = {}
        self._nodes = {}
        self._edges = []
        for placed in scene.items:
            node = NodeItem(self, placed)
            graphics.addItem(node)
            self._nodes[placed.item] = node
        for edge in scene.edges:
            item = EdgeItem(edge)
            graphics.addItem(item)
            self._edges.append(item)
        margin = 40
        graphics.setSceneRect(
            QRectF(-margin, -margin, scene.width + 2 * margin, scene.height + 2 * margin)
        )
        if selected in self._nodes:
            self._nodes[selected].setSelected(True)
        self._quiet = False
        self.apply_trace()

    def clear(self) -> None:
        self.scene().clear()
        self.model = None
        self._scene_data = None
        self._nodes, self._edges = {}, []
        self.traced = None

    @property
    def current_scene(self) -> Scene | None:
        return self._scene_data

    def node_items(self) -> dict[int, NodeItem]:
        return dict(self._nodes)

    def edge_items(self) -> list[EdgeItem]:
        return list(self._edges)

    def lines(self, item: int) -> tuple[str, str]:
        if item not in self._lines:
            self._lines[item] = self._lines_of(item)
        return self._lines[item]

    def style_of(self, item: int) -> Style:
        model = self.model
        entry = model.items[item]
        if entry.kind is ItemKind.OP:
            return STYLES[model.kind_of(entry.op)]
        if entry.kind in (ItemKind.FUNCTION, ItemKind.LIBRARY):
            return FUNCTION_STYLE
        own = model.own_op(item)
        if own is not None and model.kind_of(own) in (NodeKind.VARIABLE, NodeKind.CONSTANT):
            return STYLES[model.kind_of(own)]  # a variable's scope is drawn as the variable
        return GROUP_STYLE

    def is_missing(self, item: int) -> bool:
        model = self.model
        entry = model.items[item]
        op = entry.op if entry.kind is ItemKind.OP else model.own_op(item)
        return op is not None and op in self.missing_ops

    def tooltip(self, item: int) -> str:
        model = self.model
        entry = model.items[item]
        if entry.kind is ItemKind.OP:
            node = model.nodes[entry.op]
            text = f"{node.name}\nop: {node.op}\nkind: {model.kind_of(entry.op).value}"
        else:
            text = f"{entry.name or 'graph'}\n{entry.kind.value}, {plural(entry.size, 'node')}"
            text += (
                "\ndouble-click to collapse"
                if self._is_expanded(item)
                else "\ndouble-click to expand"
            )
        if self.is_missing(item):
            text += "\nthis variable is not in the checkpoint"
        return text

    def _is_expanded(self, item: int) -> bool:
        return self._scene_data is not None and item in self._scene_data.state.expanded

    # -- selection and trace ----------------------------------------------------------------------

    def selected_item(self) -> int | None:
        items = self.scene().selectedItems()
        return items[0].item_id if items and isinstance(items[0], NodeItem) else None

    def select_item(self, item: int | None, centre: bool = True) -> bool:
        """Select `item` if it is drawn (and scroll to it); None clears the selection."""
        graphics = self.scene()
        self._quiet = True
        graphics.clearSelection()
        node = self._nodes.get(item) if item is not None else None
        if node is not None:
            node.setSelected(True)
            if centre:
                self.centerOn(node)
                # A scene drawn just now may not have its scroll range yet: centre again after.
                QTimer.singleShot(0, lambda: self._centre_if_current(node))
        self._quiet = False
        return node is not None

    def _centre_if_current(self, node: NodeItem) -> None:
        if self._nodes.get(node.item_id) is node:
            self.centerOn(node)

    def _on_selection_changed(self) -> None:
        if not self._quiet:  # selections made by the program are not echoed as clicks
            self.item_selected.emit(self.selected_item())

    def set_trace(
        self, traced_items: np.ndarray | None, traced_edges: set[tuple[int, int]]
    ) -> None:
        self.traced = traced_items
        self._traced_edges = traced_edges
        self.apply_trace()

    def apply_trace(self) -> None:
        traced = self.traced
        for item, node in self._nodes.items():
            node.dimmed = traced is not None and not traced[item] and not node.placed.expanded
            node.update()
        edges = getattr(self, "_traced_edges", set())
        for edge in self._edges:
            key = (edge.edge.source, edge.edge.target)
            edge.set_traced(None if traced is None else key in edges)

    # -- view -------------------------------------------------------------------------------------

    def wheelEvent(self, event) -> None:
        factor = ZOOM_STEP if event.angleDelta().y() > 0 else 1 / ZOOM_STEP
        self.zoom(factor)

    def zoom(self, factor: float) -> None:
        scale = self.transform().m11() * factor
        if MIN_SCALE <= scale <= MAX_SCALE:
            self.scale(factor, factor)

    def fit(self) -> None:
        """Show the whole drawing (never magnified beyond 1:1)."""
        rect = self.scene().itemsBoundingRect()
        if rect.isEmpty():
            return
        self.fitInView(rect.adjusted(-20, -20, 20, 20), Qt.AspectRatioMode.KeepAspectRatio)
        if self.transform().m11() > 1.0:
            self.resetTransform()
            self.centerOn(rect.center())

    def fit_readable(self) -> None:
        """Fit, unless the labels would be too small to read: then show the top at that size."""
        self.fit()
        if self.transform().m11() >= READABLE_SCALE:
            return
        self.resetTransform()
        self.scale(READABLE_SCALE, READABLE_SCALE)
        rect = self.scene().itemsBoundingRect()
        visible = self.visible_rect()
        self.centerOn(rect.center().x(), rect.top() + visible.height() / 2 - 20)

    def visible_rect(self) -> QRectF:
        return self.mapToScene(self.viewport().rect()).boundingRect()

    def export_png(self, path: str, scale: float = 2.0) -> bool:
        """The current view as a PNG (at `scale` times the screen resolution)."""
        source = self.visible_rect()
        size = self.viewport().size() * scale
        image = QImage(size, QImage.Format.Format_ARGB32)
        image.fill(self.palette().base().color())
        painter = QPainter(image)
        painter.setRenderHints(
            QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing
        )
        self.scene().render(painter, QRectF(0, 0, size.width(), size.height()), source)
        painter.end()
        return image.save(path, "PNG")

    def export_svg(self, path: str) -> bool:
        """The current view as an SVG drawing (vector: zoom in as far as you like)."""
        source = self.visible_rect()
        generator = QSvgGenerator()
        generator.setFileName(path)
        generator.setSize(QSize(int(source.width()), int(source.height())))
        generator.setViewBox(QRectF(0, 0, source.width(), source.height()))
        generator.setTitle("ckpt-browser graph")
        painter = QPainter()
        if not painter.begin(generator):
            return False
        self.scene().render(painter, QRectF(0, 0, source.width(), source.height()), source)
        return painter.end()
