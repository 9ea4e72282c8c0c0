"""The statistics of a tensor as a two-column list of selectable labels.

Rows that do not apply (quantiles of strings, an empty tensor's mean) show a dash, so the panel
keeps its shape from one tensor to the next.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFormLayout, QLabel, QPushButton, QWidget

from ckpt_browser.core.formatting import format_count, format_number
from ckpt_browser.core.tensor.stats import TensorStats

DASH = "—"

# (label, key) in display order; keys name the text of `stats_rows`.
ROWS = (
    ("Elements", "count"),
    ("Min", "min"),
    ("Max", "max"),
    ("Mean", "mean"),
    ("Std", "std"),
    ("L2 norm", "l2_norm"),
    ("1 %", "q1"),
    ("25 %", "q25"),
    ("Median", "q50"),
    ("75 %", "q75"),
    ("99 %", "q99"),
    ("Zeros", "zeros"),
    ("NaN", "nan"),
    ("Inf", "inf"),
)


def _number(value: float | int | None, notation: str) -> str:
    return DASH if value is None else format_number(value, notation=notation)


def stats_rows(
    stats: TensorStats, notation: str = "auto", approximate: bool = False
) -> dict[str, str]:
    """The text of every row of the panel for `stats`; estimates (all but the element count)
    start with "≈ " when `approximate`."""
    rows = {key: DASH for _, key in ROWS}
    rows["count"] = format_count(stats.count)
    if stats.count:
        share = stats.zero_count / stats.count
        rows["zeros"] = f"{format_count(stats.zero_count)} ({share:.2%})"
    rows["nan"] = format_count(stats.nan_count)
    rows["inf"] = (
        f"{format_count(stats.posinf_count + stats.neginf_count)} "
        f"(+{format_count(stats.posinf_count)} / −{format_count(stats.neginf_count)})"
    )
    for key in ("min", "max", "mean", "std", "l2_norm"):
        rows[key] = _number(getattr(stats, key), notation)
    for percent in (1, 25, 50, 75, 99):
        rows[f"q{percent}"] = _number(stats.quantiles.get(percent), notation)
    if approximate:
        rows = {k: v if k == "count" or v == DASH else f"≈ {v}" for k, v in rows.items()}
    return rows


class StatsPanel(QWidget):
    """A form of statistic names and values; `note` says what they are of (e.g. magnitudes).

    Estimates from a sample are marked "≈"; after a cancel a button offers the exact values.
    """

    compute_exact_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.note_label = QLabel()
        self.note_label.setWordWrap(True)
        self.value_labels: dict[str, QLabel] = {}
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setVerticalSpacing(2)
        for label, key in ROWS:
            value = QLabel(DASH)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            form.addRow(label, value)
            self.value_labels[key] = value
        form.addRow(self.note_label)
        self.exact_button = QPushButton("Compute exact")
        self.exact_button.setToolTip("Compute the exact statistics and histogram of every value")
        self.exact_button.clicked.connect(self.compute_exact_requested)
        self.exact_button.setVisible(False)
        form.addRow(self.exact_button)
        self._stats: TensorStats | None = None
        self._notation = "auto"
        self.approximate = False

    @property
    def stats(self) -> TensorStats | None:
        return self._stats

    def set_stats(
        self, stats: TensorStats | None, note: str = "", approximate: bool = False
    ) -> None:
        """Show `stats` (None: dashes) and `note` below them; `approximate` marks estimates."""
        self._stats = stats
        self.approximate = approximate and stats is not None
        self.note_label.setText(note)
        self._refresh()

    def set_notation(self, notation: str) -> None:
        self._notation = notation
        self._refresh()

    def offer_exact(self, offered: bool) -> None:
        """Show or hide the "Compute exact" button."""
        self.exact_button.setVisible(offered)

    def text(self, key: str) -> str:
        return self.value_labels[key].text()

    def _refresh(self) -> None:
        stats = self._stats
        rows = stats_rows(stats, self._notation, self.approximate) if stats is not None else {}
        for key, label in self.value_labels.items():
            label.setText(rows.get(key, DASH))
