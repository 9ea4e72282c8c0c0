"""The compare window driven like a user would: rows and values, sorting, filters, the selected
name's histograms and heatmaps, alignment, swapping, the report, and the ways to open it.

numpy on the values TensorFlow reads is the oracle for every number the window shows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tf_checkpoints as tfc
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QImage

from ckpt_browser.core.compare.report import comparison_record
from ckpt_browser.ui.compare.table import COLUMN_KEYS, STATUS_ROLE
from ckpt_browser.ui.compare.window import CompareWindow

DEMO_DIR = Path(__file__).resolve().parents[3] / "resources" / "demo"


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    rng = np.random.default_rng(8)
    cube = rng.standard_normal((3, 5, 7)).astype(np.float32)
    a = {
        "net/cube": cube,
        "net/kernel": rng.standard_normal((6, 4)).astype(np.float32),
        "net/bias": np.zeros(4, np.float32),
        "net/frozen": np.arange(10, dtype=np.float32),
        "net/old": np.ones(2, np.float32),
        "net/embedding": np.ones((5, 2), np.float32),
        "net/steps": np.array([1, 2, 3], np.int32),
    }
    b = dict(a)
    b["net/cube"] = cube + rng.standard_normal(cube.shape).astype(np.float32) * 0.1
    b["net/cube"][1, 2, 3] = np.nan
    b["net/kernel"] = a["net/kernel"] * 1.5
    b["net/bias"] = np.full(4, 0.25, np.float32)
    del b["net/old"]
    b["net/new"] = np.ones(2, np.float32)
    b["net/embedding"] = np.ones((6, 2), np.float32)
    b["net/steps"] = np.array([1, 2, 3], np.int64)
    directory = tmp_path_factory.mktemp("compare_view")
    return tfc.write_with_tf(directory / "a", a), tfc.write_with_tf(directory / "b", b)


@pytest.fixture
def compare_window(qtbot) -> Iterator[CompareWindow]:
    window = CompareWindow(QSettings())
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    yield window
    window.view.shutdown()


def opened(qtbot, window: CompareWindow, a: str, b: str, **kwargs) -> CompareWindow:
    assert window.open_pair(a, b, **kwargs), window.last_error
    qtbot.waitUntil(window.is_idle, timeout=30_000)
    return window


def tf_value(prefix: str, name: str) -> np.ndarray:
    return tfc.import_tensorflow().train.load_checkpoint(prefix).get_tensor(name)


def shown_rows(window: CompareWindow) -> list[dict[str, str]]:
    """The table as the user sees it: the proxy's rows, in order, cell texts by column key."""
    proxy = window.view.proxy
    return [
        {key: proxy.index(row, column).data() for column, key in enumerate(COLUMN_KEYS)}
        for row in range(proxy.rowCount())
    ]


def test_rows_statuses_and_distances(qtbot, compare_window, pair):
    window = opened(qtbot, compare_window, *pair)
    rows = {row["name"]: row for row in shown_rows(window)}
    assert {name: row["status"] for name, row in rows.items()} == {
        "net/cube": "changed",
        "net/kernel": "changed",
        "net/bias": "changed",
        "net/frozen": "same",
        "net/old": "removed",
        "net/new": "added",
        "net/embedding": "shape changed",
        "net/steps": "dtype changed",
    }
    a = tf_value(pair[0], "net/kernel").astype(np.float64)
    b = tf_value(pair[1], "net/kernel").astype(np.float64)
    d = np.abs(a - b)
    kernel = rows["net/kernel"]
    assert float(kernel["max_abs_diff"]) == pytest.approx(d.max(), rel=1e-3)
    at = np.unravel_index(np.argmax(d), d.shape)
    assert kernel["where"] == "[" + ", ".join(str(int(i)) for i in at) + "]"
    assert float(kernel["rel_l2"]) == pytest.approx(np.linalg.norm(d) / np.linalg.norm(a), 1e-3)
    assert float(kernel["cosine"]) == pytest.approx(1.0, abs=1e-6)
    assert kernel["mismatch_fraction"] == "100.00%"
    assert rows["net/embedding"]["shape"] == "[5, 2] → [6, 2]"
    assert rows["net/steps"]["dtype"] == "int32 → int64"
    assert rows["net/bias"]["rel_l2"] == ""  # ||a|| = 0: undefined, left blank
    totals = window.view.totals_label.text()
    assert totals.startswith("3 changed, 1 added, 1 removed, 1 shape changed, 1 dtype changed")
    assert "1 same — 8 names" in totals


def test_most_changed_first_and_column_sort(qtbot, compare_window, pair):
    window = opened(qtbot, compare_window, *pair)
    order = [row["name"] for row in shown_rows(window)]
    assert order[:4] == ["net/old", "net/new", "net/embedding", "net/steps"]
    # Changed rows by relative change: bias from zeros (infinite) first, then kernel, then cube.
    assert order[4:7] == ["net/bias", "net/kernel", "net/cube"]
    assert order[-1] == "net/frozen"
    view = window.view
    assert view.select("net/kernel")
    view.table.sortByColumn(COLUMN_KEYS.index("name"), Qt.SortOrder.AscendingOrder)
    assert [row["name"] for row in shown_rows(window)] == sorted(order)
    current = view.table.currentIndex()  # the selection follows its row
    assert current.siblingAtColumn(0).data() == "net/kernel"
    assert view.detail.item.name == "net/kernel"
    view.table.sortByColumn(COLUMN_KEYS.index("rel_l2"), Qt.SortOrder.DescendingOrder)
    rel_l2 = [row["rel_l2"] for row in shown_rows(window)]
    numbers = [float(v) for v in rel_l2 if v]
    assert numbers == sorted(numbers, reverse=True) and rel_l2[len(numbers) :] == [""] * (
        len(rel_l2) - len(numbers)
    )


def test_filters_by_status_and_name(qtbot, compare_window, pair):
    window = opened(qtbot, compare_window, *pair)
    view = window.view
    view.status_combo.setCurrentText("Differences")
    assert "net/frozen" not in [row["name"] for row in shown_rows(window)]
    assert len(shown_rows(window)) == 7
    view.status_combo.setCurrentText("Added")
    assert [row["name"] for row in shown_rows(window)] == ["net/new"]
    view.status_combo.setCurrentText("All names")
    view.filter_edit.setText("KERN")
    assert [row["name"] for row in shown_rows(window)] == ["net/kernel"]
    proxy = view.proxy
    assert proxy.index(0, 0).data(STATUS_ROLE) == "changed"


def test_selected_name_shows_histograms_and_heatmaps(qtbot, compare_window, pair):
    window = opened(qtbot, compare_window, *pair, select="net/cube")
    detail = window.view.detail
    assert detail.item.name == "net/cube"
    qtbot.waitUntil(window.is_idle, timeout=30_000)
    a32, b32 = tf_value(pair[0], "net/cube"), tf_value(pair[1], "net/cube")
    a, b = a32.astype(np.float64), b32.astype(np.float64)

    edges = detail.histograms.edges  # one set of bins over both, as np.histogram makes them
    finite_b = b32[np.isfinite(b32)]
    low, high = min(a32.min(), finite_b.min()), max(a32.max(), finite_b.max())
    assert edges[0] == pytest.approx(low, rel=1e-6) and edges[-1] == pytest.approx(high, rel=1e-6)
    bins = np.histogram_bin_edges(np.empty(0, np.float32), len(edges) - 1, range=(low, high))
    assert np.array_equal(detail.histograms.counts, np.histogram(a32, bins=bins)[0])
    assert np.array_equal(detail.histograms.counts_b, np.histogram(finite_b, bins=bins)[0])
    assert "B: NaN 1" in detail.histograms.note_label.text()

    difference = a - b
    finite = difference[np.isfinite(difference)]
    limit = np.abs(finite).max()
    bins = detail.difference_histogram.bins
    expected, expected_edges = np.histogram(finite, bins=bins, range=(-limit, limit))
    assert np.array_equal(detail.difference_histogram.counts, expected)
    assert np.allclose(detail.difference_histogram.edges, expected_edges)

    # The default slice: axis 0 at index 0, axes 1 and 2 shown; A - B uses the diverging map.
    heatmaps = detail.heatmaps
    assert np.allclose(heatmaps["A"].values, a[0], rtol=1e-6)
    assert np.allclose(heatmaps["B"].values, b[0], rtol=1e-6, equal_nan=True)
    assert np.allclose(heatmaps["A − B"].values, difference[0], rtol=1e-6, equal_nan=True)
    assert heatmaps["A − B"].diverging
    assert heatmaps["A"].color_bar.levels() == heatmaps["B"].color_bar.levels()

    detail.slicer.set_position(0, 1)  # the shared slicer moves all three
    qtbot.waitUntil(window.is_idle, timeout=30_000)
    assert np.allclose(heatmaps["A"].values, a[1], rtol=1e-6)
    assert np.allclose(heatmaps["A − B"].values, difference[1], rtol=1e-6, equal_nan=True)
    assert "max |a−b|" in detail.distances_label.text()


def test_shape_change_shows_both_sides_and_no_difference(qtbot, compare_window, pair):
    window = opened(qtbot, compare_window, *pair, select="net/embedding")
    detail = window.view.detail
    qtbot.waitUntil(window.is_idle, timeout=30_000)
    assert "[5, 2]" in detail.side_labels["A"].text()
    assert "[6, 2]" in detail.side_labels["B"].text()
    assert "shape [5, 2] -> [6, 2]" in detail.distances_label.text()
    assert detail.heatmaps["A"].values.shape == (5, 2)
    assert detail.heatmaps["B"].values.shape == (6, 2)
    assert detail.heatmaps["A − B"].values.size == 0
    assert detail.difference_histogram.counts.size == 0
    assert detail.difference_histogram.empty_label.text() == "shapes differ"
    assert int(detail.histograms.counts.sum()) == 10 and int(detail.histograms.counts_b.sum()) == 12


def test_prefix_alignment_and_swap(qtbot, compare_window, pair):
    window = opened(qtbot, compare_window, *pair)
    view = window.view
    view.prefix_edits["a_old"].setText("net/")
    view.prefix_edits["a_old"].editingFinished.emit()
    qtbot.waitUntil(window.is_idle, timeout=30_000)
    names = {row["name"]: row["status"] for row in shown_rows(window)}
    assert names["kernel"] == "removed" and names["net/kernel"] == "added"
    view.prefix_edits["b_old"].setText("net/")
    view.prefix_edits["b_old"].editingFinished.emit()
    qtbot.waitUntil(window.is_idle, timeout=30_000)
    names = {row["name"]: row["status"] for row in shown_rows(window)}
    assert names["kernel"] == "changed" and "net/kernel" not in names

    view.swap()
    qtbot.waitUntil(window.is_idle, timeout=30_000)
    names = {row["name"]: row["status"] for row in shown_rows(window)}
    assert names["old"] == "added" and names["new"] == "removed"
    assert view.checkpoints[0].prefix == os.path.abspath(pair[1])


def test_tolerance_makes_small_changes_same(qtbot, compare_window, pair):
    window = opened(qtbot, compare_window, *pair)
    window.view.atol_edit.setText("0.3")
    window.view.atol_edit.editingFinished.emit()
    qtbot.waitUntil(window.is_idle, timeout=30_000)
    names = {row["name"]: row["status"] for row in shown_rows(window)}
    assert names["net/bias"] == "same"  # |0.25 - 0| <= 0.3 everywhere
    assert names["net/cube"] == "changed"  # the NaN in B still differs


def test_report_matches_the_command_line(qtbot, compare_window, pair, tmp_path, capsys):
    from ckpt_browser.cli import main

    window = opened(qtbot, compare_window, *pair)
    out = tmp_path / "report.json"
    window.save_report(str(out))
    saved = json.loads(out.read_text())
    assert saved == comparison_record(window.view.comparison())
    assert main(["diff", *pair, "--json"]) == 1
    printed = json.loads(capsys.readouterr().out)
    assert saved == printed


def test_bad_path_shows_the_error_and_stays_up(qtbot, compare_window, pair, tmp_path):
    assert not compare_window.open_pair(pair[0], str(tmp_path / "missing"))
    assert "missing" in compare_window.last_error
    assert compare_window.isVisible()
    assert compare_window.view.model.rowCount() == 0


def test_main_window_switcher_and_file_menu_open_the_compare_view(qtbot, window, tf1_training_dir):
    assert window.open_path(str(tf1_training_dir.directory))  # the latest, step 30
    launcher = window.compare
    assert launcher.action.isEnabled() and launcher.button.isEnabled()
    assert launcher.action in window.menuBar().actions()[0].menu().actions()
    entries = launcher.menu.actions()
    assert len(entries) == 1 and entries[0].text().startswith("with model.ckpt-20")
    entries[0].trigger()
    compare = launcher.last_window
    assert compare is not None
    qtbot.waitUntil(compare.is_idle, timeout=30_000)
    a, b = compare.view.checkpoints
    assert (a.step, b.step) == (20, 30)  # older is A
    assert len(compare.view.model.items) == len(tf1_training_dir.variable_names)
    compare.close()

    other = launcher.compare(window.checkpoint.prefix, str(DEMO_DIR))
    qtbot.waitUntil(other.is_idle, timeout=30_000)
    tf1_names, demo_names = (set(c) for c in other.view.checkpoints)
    summary = other.view.comparison().summary
    assert summary["added"] == len(demo_names - tf1_names) > 0
    assert summary["removed"] == len(tf1_names - demo_names) > 0
    other.close()


def test_two_paths_on_the_command_line_screenshot(pair, tmp_path):
    out = tmp_path / "compare.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    command = [sys.executable, "-m", "ckpt_browser.cli", *pair, "--select", "net/cube"]
    result = subprocess.run(
        [*command, "--screenshot", str(out), "--size", "1300x800"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1300, 800)
    colours = {image.pixel((i * 7919) % 1300, (i * 104729) % 800) for i in range(400)}
    assert len(colours) > 8


def test_title_tells_two_runs_named_model_apart(qtbot, compare_window, tmp_path):
    tensors = {"w": np.ones(3, np.float32)}
    a = tfc.write_with_tf(tmp_path / "run1" / "model", tensors)
    b = tfc.write_with_tf(tmp_path / "run2" / "model", tensors)
    window = opened(qtbot, compare_window, a, b)
    assert window.windowTitle().startswith("run1/model ↔ run2/model")
    assert window.view.a_label.text().startswith("run1/model")
    assert window.view.b_label.text().startswith("run2/model")
    window.view.swap()
    qtbot.waitUntil(window.is_idle, timeout=30_000)
    assert window.windowTitle().startswith("run2/model ↔ run1/model")


def test_title_of_two_saves_in_one_folder_keeps_their_names(qtbot, compare_window, tmp_path):
    tensors = {"w": np.ones(3, np.float32)}
    a = tfc.write_with_tf(tmp_path / "model-3000", tensors)
    b = tfc.write_with_tf(tmp_path / "model-5000", tensors)
    window = opened(qtbot, compare_window, a, b)
    assert window.windowTitle().startswith("model-3000 ↔ model-5000 —")
