"""The graph side panel: the `.meta` / frozen `.pb` / SavedModel graph, linked to the variables.

Loading the file, building the model and every layout run in worker threads; the panel only
draws finished scenes, so a graph of 50,000 nodes never stalls the window. Name scopes start
collapsed; double-click expands or collapses one. Every way of choosing a node (a click, a click
on the node already selected, a search result, a row of the variables list, an input named in
the properties) ends in `_chosen`, which tells the window through `variable_selected` (a
variable: select it in the tree) or `constant_selected` (a Const: show it as a tensor);
`select_variable` does the reverse for the tree, without echo.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ckpt_browser.core.graph.kinds import NodeKind
from ckpt_browser.core.graph.link import (
    GraphConstants,
    VariableLink,
    choice_of,
    item_of_key,
    link_summary,
    link_variables,
    op_of_item,
)
from ckpt_browser.core.graph.model import GraphModel
from ckpt_browser.core.graph.view import Scene, SceneBuilder, ViewState, traced_in_scene
from ckpt_browser.format import TensorInfo
from ckpt_browser.format.gc_pause import gc_paused
from ckpt_browser.format.graph.meta_graphs import format_tags
from ckpt_browser.format.graph.reader import load_graph
from ckpt_browser.ui.graph.canvas import GraphCanvas
from ckpt_browser.ui.graph.details import PropertiesView, VariablesView
from ckpt_browser.ui.graph.search import GraphSearch
from ckpt_browser.ui.graph.tags import MetaGraphChooser
from ckpt_browser.ui.graph.toolbar import GraphToolbar
from ckpt_browser.ui.widgets.workers import TaskContext, TaskHandle, TaskRunner


@dataclass(frozen=True)
class LoadedGraph:
    """What the loading worker hands back: the model, its scene builder and the first scene."""

    model: GraphModel
    builder: SceneBuilder
    scene: Scene
    constants: GraphConstants
    link: VariableLink
    checkpoint: Mapping[str, TensorInfo] | None  # the one `link` was made for


def load_graph_view(
    path: str, tags, builder_metrics, state: ViewState, checkpoint, context: TaskContext
) -> LoadedGraph:
    """Read the graph file (the MetaGraph tagged `tags` of a SavedModel; None: the serving one),
    build the model, link the variables and lay out the collapsed view (in a worker: only
    drawing is left for the GUI thread)."""
    with gc_paused():
        graph = load_graph(path, tags)
        context.raise_if_cancelled()
        model = GraphModel(graph)
    context.raise_if_cancelled()
    link = link_variables(model, checkpoint)
    builder = SceneBuilder(model, builder_metrics)
    scene = builder.build(state, context.cancelled)
    return LoadedGraph(model, builder, scene, GraphConstants(graph), link, checkpoint)


class GraphPanel(QWidget):
    """Toolbar, drawing, and tabs (properties, search results, variables) for one graph."""

    variable_selected = Signal(str)  # key of the variable chosen in the graph (maybe missing)
    constant_selected = Signal(object, str)  # (GraphConstants, Const node name)
    busy_changed = Signal(bool)
    graph_loaded = Signal()
    scene_shown = Signal()
    load_failed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = TaskRunner(self)
        self.runner.busy_changed.connect(self.busy_changed)
        self.path: str | None = None
        self.tags: tuple[str, ...] | None = None  # the MetaGraph asked for (None: the default)
        self.model: GraphModel | None = None
        self.constants: GraphConstants | None = None
        self._builder: SceneBuilder | None = None
        self._state = ViewState(hide_plumbing=True)
        self._checkpoint: Mapping[str, TensorInfo] | None = None
        self.link = VariableLink()
        self._load_task: TaskHandle | None = None
        self._layout_task: TaskHandle | None = None
        self._after_layout: list = []
        self._trace_op: int | None = None
        self._pending_key: str | None = None
        self._reveal_request = 0  # only the latest reveal selects once its layout is drawn

        self.canvas = GraphCanvas()
        self.canvas.item_selected.connect(self._on_item_selected)
        self.canvas.item_activated.connect(self.toggle)
        self.message = QLabel(
            "No graph: open a checkpoint with a .meta beside it, a frozen .pb or a SavedModel."
        )
        self.message.setTextFormat(Qt.TextFormat.PlainText)  # names are text
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.pages = QStackedWidget()
        self.pages.addWidget(self.message)
        self.pages.addWidget(self.canvas)

        self.search = GraphSearch(self)
        self.search.node_chosen.connect(self.select_node)
        self.search_edit, self.results = self.search.edit, self.search.results
        self.toolbar = self._build_toolbar()
        # Beside the search box, not in the toolbar: a narrow dock would hide it in the overflow.
        self.meta_graphs = MetaGraphChooser()
        self.meta_graphs.tags_chosen.connect(self.set_tags)

        self.properties = PropertiesView()
        self.properties.node_chosen.connect(self.select_node)
        self.variables = VariablesView()
        self.variables.key_chosen.connect(self._on_variable_row)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.properties, "Properties")
        self.tabs.addTab(self.results, "Search")
        self.tabs.addTab(self.variables, "Variables")
        self.search.count_changed.connect(lambda title: self.tabs.setTabText(1, title))
        self.search.results_shown.connect(lambda: self.tabs.setCurrentWidget(self.results))
        self.summary = QLabel()
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setObjectName("graph_splitter")
        self.splitter.addWidget(self.pages)
        self.splitter.addWidget(self.tabs)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([600, 220])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.toolbar)
        search_row = QHBoxLayout()
        search_row.addWidget(self.search_edit, 1)
        search_row.addWidget(self.meta_graphs)
        layout.addLayout(search_row)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.summary)
        self._update_actions()

    def _build_toolbar(self) -> GraphToolbar:
        bar = GraphToolbar()
        self.hide_plumbing_action, self.trace_action = bar.hide_plumbing_action, bar.trace_action
        bar.hide_plumbing_action.toggled.connect(self.set_hide_plumbing)
        bar.trace_action.toggled.connect(self._on_trace_toggled)
        bar.collapse_action.triggered.connect(self.collapse_all)
        bar.fit_action.triggered.connect(self.canvas.fit)
        bar.zoom_in_action.triggered.connect(lambda: self.canvas.zoom(1.25))
        bar.zoom_out_action.triggered.connect(lambda: self.canvas.zoom(0.8))
        bar.export_png_action.triggered.connect(lambda: self._ask_export("png"))
        bar.export_svg_action.triggered.connect(lambda: self._ask_export("svg"))
        return bar

    # -- loading ----------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self.runner.busy

    @property
    def state(self) -> ViewState:
        return self._state

    def set_graph(self, path: str | None, tags: tuple[str, ...] | None = None) -> None:
        """Show the graph file at `path` (None: no graph); of a SavedModel, the MetaGraph tagged
        `tags` (None: the serving one). Loading runs in a worker."""
        self._cancel_tasks()
        if path != self.path:
            self.meta_graphs.show_graph(None)  # the same file keeps its list while it reloads
        self.path, self.tags = path, tags
        self.model = self._builder = self.constants = None
        self.link = VariableLink()
        self.canvas.clear()
        self.properties.clear()
        self.search.set_model(None)
        self.variables.clear()
        self._trace_op = None
        self.trace_action.setChecked(False)
        self._state = ViewState(hide_plumbing=self.hide_plumbing_action.isChecked())
        if path is None:
            self.message.setText("No graph beside this checkpoint.")
            self.pages.setCurrentWidget(self.message)
            self.summary.clear()
            self._update_actions()
            return
        what = os.path.basename(path) + (f" [{format_tags(tags)}]" if tags is not None else "")
        self.message.setText(f"Loading {what}…")
        self.summary.setText("Loading graph…")  # nothing of the previous graph meanwhile
        self.pages.setCurrentWidget(self.message)
        metrics, state, checkpoint = self.canvas.metrics, self._state, self._checkpoint
        self._load_task = self.runner.start(
            lambda context: load_graph_view(path, tags, metrics, state, checkpoint, context),
            self._on_loaded,
            on_failed=self._on_load_failed,
            doing=f"load the graph {path}",
        )
        self._update_actions()

    def set_tags(self, tags: tuple[str, ...]) -> None:
        """Show the SavedModel's MetaGraph tagged `tags` instead (loaded in a worker)."""
        if self.path is not None:
            self.set_graph(self.path, tuple(tags))

    def set_checkpoint(self, checkpoint: Mapping[str, TensorInfo] | None) -> None:
        """Compare the graph's variables with this checkpoint's keys (None: no checkpoint)."""
        self._checkpoint = checkpoint
        self._relink()

    def show_checkpoint(
        self, checkpoint: Mapping[str, TensorInfo] | None, graph_path: str | None
    ) -> None:
        """The window opened `checkpoint`, whose graph is `graph_path` (None: it has none).

        Another graph file starts loading with nothing of the previous one left on show (its
        comparison with the new checkpoint would be wrong); the same file is compared again."""
        self._checkpoint = checkpoint
        if graph_path != self.path:
            self.set_graph(graph_path)
        else:
            self._relink()

    def _on_loaded(self, loaded: LoadedGraph) -> None:
        self._load_task = None
        self.model, self._builder, self.constants = loaded.model, loaded.builder, loaded.constants
        self.search.set_model(loaded.model)
        self.meta_graphs.show_graph(loaded.model.graph)
        self.pages.setCurrentWidget(self.canvas)
        if loaded.checkpoint is self._checkpoint:
            self._show_link(loaded.link)
        else:  # the checkpoint changed while the graph loaded
            self._relink()
        self._show(loaded.scene)
        self.canvas.fit_readable()
        self._update_actions()
        pending, self._pending_key = self._pending_key, None
        if pending is not None:
            self.select_variable(pending)
        self.graph_loaded.emit()

    def _on_load_failed(self, message: str) -> None:
        self._load_task = None
        self._pending_key = None
        self.summary.clear()
        self.message.setText(f"Cannot show the graph: {message}")
        self.pages.setCurrentWidget(self.message)
        self.load_failed.emit(message)

    def _relink(self) -> None:
        if self.model is None:
            return
        self._show_link(link_variables(self.model, self._checkpoint))

    def _show_link(self, link: VariableLink) -> None:
        self.link = link
        self.canvas.missing_ops = self.link.missing_ops
        self.variables.show_link(self.model, self.link, self._checkpoint)
        self._update_summary()
        self.canvas.viewport().update()

    def _update_summary(self) -> None:
        self.summary.setText(link_summary(self.model, self.link, self.meta_graphs.shown))

    # -- view state -------------------------------------------------------------------------------

    def set_hide_plumbing(self, hide: bool) -> None:
        if self.hide_plumbing_action.isChecked() != hide:
            self.hide_plumbing_action.setChecked(hide)  # comes back here through `toggled`
            return
        self._apply(replace(self._state, hide_plumbing=hide))

    def expand(self, item: int) -> None:
        if self.model is not None and self.model.items[item].is_container:
            self._apply(replace(self._state, expanded=self._state.expanded | {item}))

    def collapse(self, item: int) -> None:
        self._apply(replace(self._state, expanded=self._state.expanded - {item}))

    def toggle(self, item: int) -> None:
        """Double-click: expand or collapse a group; open a Const in the tensor view."""
        model = self.model
        if model is None:
            return
        entry = model.items[item]
        if entry.is_container:
            if item in self._state.expanded:
                self.collapse(item)
            else:
                self.expand(item)
        elif model.kind_of(entry.op) is NodeKind.CONSTANT:
            self._offer_constant(entry.op)

    def collapse_all(self) -> None:
        self._apply(replace(self._state, expanded=frozenset()))

    def _apply(self, state: ViewState, then=None) -> None:
        """Lay out `state` in a worker; `then()` runs once it is drawn."""
        self._state = state
        if then is not None:
            self._after_layout.append(then)
        builder = self._builder
        if builder is None:
            return
        if self._layout_task is not None and self._layout_task.pending:
            self._layout_task.cancel()
        self._layout_task = self.runner.start(
            lambda context: builder.build(state, context.cancelled),
            self._on_laid_out,
            on_failed=self.load_failed.emit,
            doing=f"lay out the graph {self.path}",
        )

    def _on_laid_out(self, scene: Scene) -> None:
        if scene.state != self._state:
            return  # an older request finished after a newer one started
        self._layout_task = None
        self._show(scene)
        pending, self._after_layout = self._after_layout, []
        for callback in pending:
            callback()

    def _show(self, scene: Scene) -> None:
        hide = scene.state.hide_plumbing
        self.canvas.show_scene(self.model, scene, lambda item: self._builder.node_lines(item, hide))
        self._refresh_trace()
        self.scene_shown.emit()

    # -- selection --------------------------------------------------------------------------------

    def selected_item(self) -> int | None:
        return self.canvas.selected_item()

    def reveal(self, item: int, then=None) -> None:
        """Expand whatever hides `item`, then select it and scroll to it (no signal: a request
        of the program's). Only the latest request selects: an older one's layout may finish
        after a newer choice was made."""
        self._reveal_request += 1
        request = self._reveal_request

        def select() -> None:
            if request != self._reveal_request or self.model is None:
                return
            self.canvas.select_item(item)
            self._show_properties(item)
            self._update_actions()
            if then is not None:
                then()

        needed = frozenset(self.model.ancestors(item))
        scene = self.canvas.current_scene
        if scene is not None and scene.state == self._state and needed <= scene.state.expanded:
            select()
        else:
            self._apply(replace(self._state, expanded=self._state.expanded | needed), select)

    def select_node(self, name: str) -> bool:
        """Select the node called `name` as the user's choice (a search result, an input named
        in the properties): it is revealed, then the window follows. False if there is none."""
        if self.model is None:
            return False
        op = self.model.find(name)
        if op is None:
            return False
        item = int(self.model.item_of_op[op])
        self.reveal(item, lambda: self._chosen(item))
        return True

    def select_variable(self, key: str | None) -> bool:
        """Follow the tree: select and centre the node of checkpoint key `key`. A key the graph
        lacks (or None, a folder) clears the selection, so the graph never shows another
        variable than the tree. Returns whether the graph has the key."""
        if self.model is None and self._load_task is not None:
            self._pending_key = key  # selected once the graph has loaded
            return key is not None
        if self.model is None:
            return False
        item = item_of_key(self.model, self.link, key)
        if item is None:
            self._reveal_request += 1  # a pending reveal is out of date
            self.canvas.select_item(None)
            self._show_properties(None)
            self._update_actions()
            return False
        self.reveal(item)
        return True

    def _on_item_selected(self, item: int | None) -> None:
        """A click in the drawing (on the selected node again too)."""
        self._reveal_request += 1  # the user's click wins over a reveal still laying out
        if item is None or self.model is None:
            self._show_properties(None)
            self._update_actions()
            return
        self._chosen(item)

    def _chosen(self, item: int) -> None:
        """The user chose `item`: show it and tell the window what it stands for."""
        self._show_properties(item)
        choice = choice_of(self.model, self.link, self._checkpoint, item)
        if choice.key is not None:
            self.variable_selected.emit(choice.key)
        elif choice.constant is not None:
            self._offer_constant(choice.op)
        if self.trace_action.isChecked():
            self._trace_op = choice.op
            self._refresh_trace()
        self._update_actions()

    def _op_of(self, item: int) -> int | None:
        return op_of_item(self.model, item)

    def _offer_constant(self, op: int) -> None:
        node = self.model.nodes[op]
        if self.constants is not None and node.name in self.constants:
            self.constant_selected.emit(self.constants, node.name)

    def _show_properties(self, item: int | None) -> None:
        self.properties.show_item(self.model, item, self.link, self._checkpoint)

    def _on_variable_row(self, key: str) -> None:
        """A row of the variables list: a variable of the graph, or a tensor only the checkpoint
        has (then nothing is selected in the drawing, and the tree shows it)."""
        item = item_of_key(self.model, self.link, key) if self.model is not None else None
        if item is not None:
            self.reveal(item, lambda: self._chosen(item))
            return
        self.select_variable(None)
        if self._checkpoint is not None and key in self._checkpoint:
            self.variable_selected.emit(key)

    # -- search and trace -------------------------------------------------------------------------

    def run_search(self) -> list[str]:
        """List the nodes matching the search box; returns their names."""
        return self.search.run()

    def trace_inputs(self, item: int | None = None) -> np.ndarray | None:
        """Light up what feeds `item` (default: the selection); returns the traced op mask."""
        item = self.canvas.selected_item() if item is None else item
        self._trace_op = self._op_of(item) if item is not None and self.model else None
        if not self.trace_action.isChecked():
            self.trace_action.setChecked(True)  # refreshes through `toggled`
        else:
            self._refresh_trace()
        if self._trace_op is None:
            return None
        return self.model.trace_inputs(self._trace_op)

    def _on_trace_toggled(self, on: bool) -> None:
        if on and self._trace_op is None:
            item = self.canvas.selected_item()
            self._trace_op = self._op_of(item) if item is not None and self.model else None
        if not on:
            self._trace_op = None
        self._refresh_trace()

    def _refresh_trace(self) -> None:
        scene, model, op = self.canvas.current_scene, self.model, self._trace_op
        if scene is None or model is None or op is None or not self.trace_action.isChecked():
            self.canvas.set_trace(None, set())
            return
        self.canvas.set_trace(*traced_in_scene(model, scene, op))

    # -- export -----------------------------------------------------------------------------------

    def export_png(self, path: str) -> bool:
        return self.canvas.export_png(path)

    def export_svg(self, path: str) -> bool:
        return self.canvas.export_svg(path)

    def _ask_export(self, kind: str) -> None:
        if self.model is None:
            return
        stem = os.path.splitext(os.path.basename(self.model.graph.path))[0]
        start = os.path.join(os.path.dirname(self.model.graph.path), f"{stem}-graph.{kind}")
        path, _ = QFileDialog.getSaveFileName(
            self, f"Export graph view as {kind.upper()}", start, f"{kind.upper()} (*.{kind})"
        )
        if path:
            (self.export_png if kind == "png" else self.export_svg)(path)

    # -- housekeeping -----------------------------------------------------------------------------

    def _update_actions(self) -> None:
        loaded = self.model is not None
        self.toolbar.update_enabled(loaded, self.canvas.selected_item() is not None)
        self.search_edit.setEnabled(loaded)

    def _cancel_tasks(self) -> None:
        for task in (self._load_task, self._layout_task):
            if task is not None and task.pending:
                task.cancel()
        self._load_task = self._layout_task = None
        self._after_layout = []

    def shutdown(self) -> None:
        """Stop the workers (before the window goes)."""
        self._cancel_tasks()
        self.runner.cancel_all()
        self.runner.wait_all(5000)
