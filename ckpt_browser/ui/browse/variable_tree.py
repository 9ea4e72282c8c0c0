"""The left pane: filter box, kind toggles and the tree of scopes and tensors.

Filtering and hiding kinds build a new tree in core (`filter_tree`) and hand it to the model, so
the parents of every match stay visible with their totals recomputed. Expanded folders and the
selection survive re-filtering and re-sorting because they are remembered by path.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping

from PySide6.QtCore import QEvent, QItemSelectionModel, QModelIndex, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QToolButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from ckpt_browser.core.formatting import plural
from ckpt_browser.core.scope_tree import FILTER_MODES, ScopeNode, build_tree, filter_tree
from ckpt_browser.format import TensorInfo, TensorKind
from ckpt_browser.ui.browse.tree_model import KEY_ROLE, Column, VariableTreeModel

# The kinds a user can hide, with the label of their toggle. Plain variables are always shown.
KIND_TOGGLES = (
    (TensorKind.OPTIMIZER, "Optimizer", "Optimizer slots (Adam m and v, momentum, beta powers)"),
    (TensorKind.EMA, "EMA", "Exponential moving average shadow variables"),
    (TensorKind.COUNTER, "Counters", "global_step, save_counter, optimizer iterations"),
    (TensorKind.OBJECT_GRAPH, "Object graph", "The TF2 object graph entry"),
    (TensorKind.CONSTANT, "Constants", "A frozen graph's constants that are not weights"),
)
# Hidden until shown: a frozen graph's shape and axis constants are not what a user looks for.
HIDDEN_AT_FIRST = {TensorKind.CONSTANT}
# Toggles only a graph's constants need: their button shows only when there are some.
ONLY_WHEN_PRESENT = {TensorKind.CONSTANT}

# Expanding every folder after a filter is pleasant for a few hundred rows and slow for 20,000.
_EXPAND_ALL_LIMIT = 2_000
# A small checkpoint opens with its top-level scopes expanded.
_EXPAND_TOP_LIMIT = 300
# Up to this many tensors the name column widens to fit what is expanded, up to a width.
_FIT_NAMES_LIMIT = 5_000
_NAME_COLUMN_MAX = 420


class VariableTree(QWidget):
    """Filter + toggles + tree view. Emits the selected tensor's key (or None for a folder)."""

    tensor_selected = Signal(object)  # str | None
    filter_error = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full_tree: ScopeNode | None = None
        self._infos: list[TensorInfo] = []
        self._hidden_kinds: set[TensorKind] = set(HIDDEN_AT_FIRST)

        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter names…")
        self.filter_edit.setClearButtonEnabled(True)
        self.mode_combo = QComboBox()
        self.mode_combo.addItems(FILTER_MODES)
        self.mode_combo.setToolTip("How the filter text matches names")
        self.filter_status = QLabel()
        self._filter_timer = QTimer(self)
        self._filter_timer.setSingleShot(True)
        self._filter_timer.setInterval(150)  # re-filter once typing pauses
        self._filter_timer.timeout.connect(self.apply_filter)
        self.filter_edit.textChanged.connect(lambda _text: self._filter_timer.start())
        self.filter_edit.installEventFilter(self)  # Escape clears; Enter and Down go to the tree
        self.mode_combo.currentIndexChanged.connect(lambda _i: self.apply_filter())

        self.kind_buttons: dict[TensorKind, QToolButton] = {}
        toggles = QHBoxLayout()
        toggles.setContentsMargins(0, 0, 0, 0)
        toggles.addWidget(QLabel("Show:"))
        for kind, label, tip in KIND_TOGGLES:
            button = QToolButton()
            button.setText(label)
            button.setToolTip(tip)
            button.setCheckable(True)
            button.setChecked(kind not in HIDDEN_AT_FIRST)
            button.setVisible(kind not in ONLY_WHEN_PRESENT)
            button.toggled.connect(lambda on, kind=kind: self.set_kind_visible(kind, on))
            toggles.addWidget(button)
            self.kind_buttons[kind] = button
        toggles.addStretch(1)

        self.model = VariableTreeModel(self)
        self.view = QTreeView()
        self.view.setModel(self.model)
        self.view.setUniformRowHeights(True)  # lets Qt lay out 20,000 rows without measuring each
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(Column.NAME, Qt.SortOrder.AscendingOrder)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setAlternatingRowColors(True)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._show_menu)
        header = self.view.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for column, width in (
            (Column.NAME, 190),
            (Column.DTYPE, 88),
            (Column.SHAPE, 96),
            (Column.PARAMETERS, 84),
            (Column.BYTES, 76),
            (Column.KEY, 320),
        ):
            header.resizeSection(column, width)
        self.view.selectionModel().currentChanged.connect(self._on_current_changed)
        self.view.expanded.connect(lambda _index: self._fit_name_column())
        self.model.modelAboutToBeReset.connect(self._remember_view_state)
        self.model.modelReset.connect(self._restore_view_state)
        self._expanded_paths: set[str] = set()
        self._restored_expansions = 0
        self._selected_path: str | None = None

        # The window adds what it can do with a row (export, compare, show in graph).
        self.add_menu_actions: Callable[[QMenu, ScopeNode], None] | None = None
        self.copy_action = QAction("Copy name", self)
        self.copy_action.setShortcut(QKeySequence.StandardKey.Copy)
        self.copy_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.copy_action.triggered.connect(self.copy_name)
        self.view.addAction(self.copy_action)

        filter_row = QHBoxLayout()
        filter_row.setContentsMargins(0, 0, 0, 0)
        filter_row.addWidget(self.filter_edit, 1)
        filter_row.addWidget(self.mode_combo)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(filter_row)
        layout.addLayout(toggles)
        layout.addWidget(self.filter_status)
        layout.addWidget(self.view, 1)
        self.filter_status.setVisible(False)

    # -- content ----------------------------------------------------------------------------------

    def set_tensors(
        self, infos: Iterable[TensorInfo], unreadable: Mapping[str, str] | None = None
    ) -> None:
        """Show a new checkpoint's tensors; filter, toggles and selection (if present) stay.

        `unreadable` (key -> why) marks tensors whose bytes the data files do not hold.
        """
        self._infos = list(infos)
        self.model.set_unreadable(unreadable or {})
        self._full_tree = build_tree(self._infos)
        has_object_paths = any(info.readable_name != info.name for info in self._infos)
        self.view.setColumnHidden(Column.KEY, not has_object_paths)
        counts = Counter(info.kind for info in self._infos)
        for kind, _label, tip in KIND_TOGGLES:
            # The count goes in the tooltip: in the label it would make the pane too wide.
            button = self.kind_buttons[kind]
            button.setToolTip(f"{tip}: {counts[kind]} in this checkpoint")
            button.setEnabled(counts[kind] > 0)
            if kind in ONLY_WHEN_PRESENT:
                button.setVisible(counts[kind] > 0)
        self.apply_filter()

    def clear(self) -> None:
        self._infos = []
        self._full_tree = None
        self.model.set_root(None)

    @property
    def hidden_kinds(self) -> frozenset[TensorKind]:
        return frozenset(self._hidden_kinds)

    def set_kind_visible(self, kind: TensorKind, visible: bool) -> None:
        button = self.kind_buttons[kind]
        if button.isChecked() != visible:
            button.setChecked(visible)  # re-enters through the toggled signal
            return
        if visible:
            self._hidden_kinds.discard(kind)
        else:
            self._hidden_kinds.add(kind)
        self.apply_filter()

    def set_filter(self, text: str, mode: str = "substring") -> None:
        """Filter now (as typing does after a short pause)."""
        self.mode_combo.blockSignals(True)
        self.mode_combo.setCurrentText(mode)
        self.mode_combo.blockSignals(False)
        self.filter_edit.setText(text)
        self._filter_timer.stop()
        self.apply_filter()

    def apply_filter(self) -> None:
        self._filter_timer.stop()
        if self._full_tree is None:
            return
        pattern = self.filter_edit.text()
        try:
            tree = self._full_tree
            if pattern or self._hidden_kinds:  # filtering copies the tree: skip when it is a no-op
                tree = filter_tree(
                    self._full_tree,
                    pattern,
                    mode=self.mode_combo.currentText(),
                    hidden_kinds=frozenset(self._hidden_kinds),
                )
        except ValueError as error:  # an unfinished regex while typing
            self.filter_status.setText(str(error))
            self.filter_status.setVisible(True)
            self.filter_error.emit(str(error))
            return
        filtering = bool(pattern)
        if filtering:
            shown = tree.leaf_count
            total = plural(self._full_tree.leaf_count, "tensor")
            self.filter_status.setText(f"{plural(shown, 'match')} among {total}")
        self.filter_status.setVisible(filtering)
        self.model.set_root(tree)  # the reset handlers re-expand what was expanded before
        if filtering and tree.leaf_count <= _EXPAND_ALL_LIMIT:
            self.view.expandAll()
        elif self._restored_expansions == 0 and tree.leaf_count <= _EXPAND_TOP_LIMIT:
            self.view.expandToDepth(0)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.filter_edit and event.type() == QEvent.Type.KeyPress:
            key = event.key()  # type: ignore[attr-defined]
            if key == Qt.Key.Key_Escape and self.filter_edit.text():
                self.filter_edit.clear()
                self.apply_filter()
                return True
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Down):
                self.go_to_first_match()
                return True
        return super().eventFilter(watched, event)

    def go_to_first_match(self) -> bool:
        """Filter now, then select the first tensor shown (in the view's order) and focus the
        tree, so arrow keys carry on from there. False when nothing matches."""
        if self._filter_timer.isActive():
            self.apply_filter()
        index = self._first_tensor(QModelIndex())
        if index is None:
            return False
        self.view.setFocus(Qt.FocusReason.ShortcutFocusReason)
        node = self.model.node(index)
        current = self.view.currentIndex()
        if not (current.isValid() and self.model.node(current) is node):
            self._select_path(node.path)  # keep a selection that already is the first match
        return True

    def _first_tensor(self, parent: QModelIndex) -> QModelIndex | None:
        for row in range(self.model.rowCount(parent)):
            index = self.model.index(row, 0, parent)
            node = self.model.node(index)
            if node is not None and node.info is not None:
                return index
            found = self._first_tensor(index)
            if found is not None:
                return found
        return None

    # -- selection --------------------------------------------------------------------------------

    def selected_key(self) -> str | None:
        """The checkpoint key of the selected tensor (None if a folder or nothing is selected)."""
        node = self.model.node(self.view.currentIndex())
        if node is None or node.info is None or not self.view.currentIndex().isValid():
            return None
        return node.info.name

    def select_key(self, key: str) -> bool:
        """Select the tensor whose checkpoint key (or readable name) is `key`; False if hidden."""
        for info in self._infos:
            if key in (info.name, info.readable_name):
                break
        else:
            return False
        root = self.model.root
        if root is None:
            return False
        for leaf in root.tensors():
            if leaf.key == info.name:
                return self._select_path(leaf.path)
        return False

    def select_path(self, path: str) -> bool:
        """Select the row of a scope or tensor by its path in the tree; False if hidden."""
        return self._select_path(path)

    def copy_name(self) -> str | None:
        """Put the full checkpoint key of the current row on the clipboard."""
        index = self.view.currentIndex()
        if not index.isValid():
            return None
        name = self.model.data(index, KEY_ROLE)
        QGuiApplication.clipboard().setText(name)
        return name

    def _select_path(self, path: str) -> bool:
        index = self.model.index_of_path(path)
        if not index.isValid():
            return False
        parent = index.parent()
        while parent.isValid():
            self.view.expand(parent)
            parent = parent.parent()
        self.view.selectionModel().setCurrentIndex(
            index,
            QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows,
        )
        self.view.scrollTo(index)
        return True

    def _on_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        node = self.model.node(current) if current.isValid() else None
        self.tensor_selected.emit(node.info.name if node is not None and node.info else None)

    def _remember_view_state(self) -> None:
        self._expanded_paths = set()
        self._collect_expanded(QModelIndex())
        current = self.view.currentIndex()
        node = self.model.node(current) if current.isValid() else None
        self._selected_path = node.path if node is not None else None

    def _collect_expanded(self, parent: QModelIndex) -> None:
        for row in range(self.model.rowCount(parent)):
            index = self.model.index(row, 0, parent)
            if self.view.isExpanded(index):
                node = self.model.node(index)
                if node is not None:
                    self._expanded_paths.add(node.path)
                self._collect_expanded(index)

    def _restore_view_state(self) -> None:
        self._restored_expansions = 0
        for path in sorted(self._expanded_paths, key=lambda p: p.count("/")):
            index = self.model.index_of_path(path)
            if index.isValid():
                self.view.expand(index)
                self._restored_expansions += 1
        if self._selected_path and not self._select_path(self._selected_path):
            self.tensor_selected.emit(None)

    def _fit_name_column(self) -> None:
        """Widen the name column to show expanded names (never narrower; at most half the view,
        so the numbers stay in sight; tooltips have the full names).

        Measuring walks every expanded row, so very large trees keep the width the user set.
        """
        root = self.model.root
        if root is None or root.leaf_count > _FIT_NAMES_LIMIT:
            return
        header = self.view.header()
        current = header.sectionSize(Column.NAME)
        limit = min(_NAME_COLUMN_MAX, self.view.viewport().width() // 2)
        wanted = min(self.view.sizeHintForColumn(Column.NAME), limit)
        if wanted > current:
            header.resizeSection(Column.NAME, wanted)

    def _show_menu(self, position) -> None:
        menu = self.build_menu(self.view.indexAt(position))
        if menu is not None:
            menu.exec(self.view.viewport().mapToGlobal(position))

    def build_menu(self, index: QModelIndex) -> QMenu | None:
        """The context menu of the row at `index` (made current first: the menu acts on it)."""
        if not index.isValid():
            return None
        node = self.model.node(index)
        if node is None:
            return None
        if self.model.node(self.view.currentIndex()) is not node:
            self._select_path(node.path)
        menu = QMenu(self)
        menu.addAction(self.copy_action)
        if self.add_menu_actions is not None:
            self.add_menu_actions(menu, node)
        if node.children:
            menu.addSeparator()
            menu.addAction("Expand all below", lambda: self.view.expandRecursively(index))
            menu.addAction("Collapse", lambda: self.view.collapse(index))
        return menu
