"""The tensor view: exact statistics and histogram against numpy, previews, cancel, odd dtypes."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

import ckpt_browser.core.tensor.analysis as analysis_module
from ckpt_browser.core.formatting import format_count, format_number
from ckpt_browser.core.tensor.stats import Cancelled


def _finite(values: np.ndarray) -> np.ndarray:
    flat = np.asarray(values, dtype=np.float64).ravel()
    return flat[np.isfinite(flat)]


def _select(window, wait_idle, name: str):
    assert window.select(name), name
    wait_idle(window)
    return window.tensor_view


def test_statistics_match_numpy(window, wait_idle, shapes_ckpt):
    window.open_path(shapes_ckpt.prefix)
    view = _select(window, wait_idle, "net/layer_2/kernel")
    values = shapes_ckpt.expected["net/layer_2/kernel"]
    finite = _finite(values)
    stats = view.analysis.stats
    assert stats.count == values.size
    assert stats.nan_count == 1 and stats.posinf_count == 1 and stats.neginf_count == 1
    assert stats.zero_count == int(np.sum(values == 0))
    assert stats.min == pytest.approx(finite.min())
    assert stats.max == pytest.approx(finite.max())
    assert stats.mean == pytest.approx(finite.mean(), rel=1e-9)
    assert stats.std == pytest.approx(finite.std(), rel=1e-9)
    assert stats.l2_norm == pytest.approx(np.sqrt(np.sum(finite**2)), rel=1e-9)
    for percent in (1, 25, 50, 75, 99):
        assert stats.quantiles[percent] == pytest.approx(np.quantile(finite, percent / 100))

    panel = view.stats_panel
    assert panel.text("min") == format_number(finite.min())
    assert panel.text("q50") == format_number(np.quantile(finite, 0.5))
    assert panel.text("nan") == "1"
    assert panel.text("count") == format_count(values.size)
    assert panel.text("zeros").startswith(f"{int(np.sum(values == 0))} (")
    assert view.title_label.text() == "net/layer_2/kernel"
    assert "float32" in view.info_label.text() and "[40, 30]" in view.info_label.text()


def test_histogram_is_exact_and_follows_the_bin_count(window, wait_idle, shapes_ckpt):
    window.open_path(shapes_ckpt.prefix)
    view = _select(window, wait_idle, "net/layer_2/kernel")
    finite = _finite(shapes_ckpt.expected["net/layer_2/kernel"]).astype(np.float32)
    plot = view.histogram_plot
    counts, edges = np.histogram(finite, bins=100)
    np.testing.assert_array_equal(plot.counts, counts)
    np.testing.assert_allclose(plot.edges, edges, rtol=1e-6)
    assert plot.exact
    assert "NaN: 1" in plot.note_label.text() and "Inf: 2" in plot.note_label.text()

    plot.bins_spin.setValue(17)
    wait_idle(window)
    np.testing.assert_array_equal(plot.counts, np.histogram(finite, bins=17)[0])

    plot.log_check.setChecked(True)
    _, heights = plot.curve.getData()
    expected = np.where(plot.counts > 0, np.log10(np.maximum(plot.counts, 1)), -0.3)
    np.testing.assert_allclose(heights, expected)


def test_large_tensor_shows_a_sampled_preview_then_exact_results(
    window, wait_idle, shapes_ckpt, monkeypatch
):
    monkeypatch.setattr(analysis_module, "QUICK_PREVIEW_THRESHOLD", 10_000)
    monkeypatch.setattr(analysis_module, "QUICK_SAMPLE", 5_000)
    window.open_path(shapes_ckpt.prefix)
    _select(window, wait_idle, "net/layer_10/bias")  # the pane exists once a tensor was shown
    shown = []
    plot = window.tensor_view.histogram_plot
    original = plot.set_histogram

    def spy(counts, edges, **kwargs):
        shown.append((kwargs["exact"], int(np.sum(counts))))
        original(counts, edges, **kwargs)

    monkeypatch.setattr(plot, "set_histogram", spy)
    view = _select(window, wait_idle, "long_vector")
    values = shapes_ckpt.expected["long_vector"]
    assert shown[0][0] is False and shown[0][1] < values.size  # the sample came first
    assert shown[-1] == (True, values.size)  # then the exact counts of every value
    np.testing.assert_array_equal(plot.counts, np.histogram(values, bins=100)[0])
    assert view.analysis.stats.quantiles[50] == pytest.approx(np.quantile(values, 0.5))


def test_cancel_shows_approximate_values_then_compute_exact_gives_the_exact_ones(
    window, wait_idle, qtbot, shapes_ckpt, monkeypatch
):
    monkeypatch.setattr(analysis_module, "QUICK_PREVIEW_THRESHOLD", 10_000)
    monkeypatch.setattr(analysis_module, "QUICK_SAMPLE", 5_000)
    real_analyze = analysis_module.analyze
    hold = [True]

    def analyze_until_cancelled(array, bins, *, progress=None, cancel=None):
        if np.asarray(array).size <= 5_000:  # the preview's sample
            return real_analyze(array, bins)
        while hold[0] and not cancel():
            progress(0.5)
        if hold[0]:
            raise Cancelled()
        return real_analyze(array, bins, progress=progress, cancel=cancel)

    window.open_path(shapes_ckpt.prefix)
    view = _select(window, wait_idle, "net/layer_10/bias")  # builds the pane
    monkeypatch.setattr(analysis_module, "analyze", analyze_until_cancelled)
    assert window.select("long_vector")
    plot, panel = view.histogram_plot, view.stats_panel
    qtbot.waitUntil(lambda: plot.counts.size > 0)  # the sampled preview is drawn
    assert not plot.exact and "sample" in plot.note_label.text()
    assert panel.text("mean").startswith("≈ ")  # estimates meanwhile, marked
    assert view.cancel_button.isVisible() and window.tensor_view.busy
    view.cancel_button.click()
    wait_idle(window)
    values = shapes_ckpt.expected["long_vector"]
    assert "cancelled" in panel.note_label.text() and "approximate" in panel.note_label.text()
    assert panel.text("count") == format_count(values.size)
    for key in ("min", "max", "mean", "std", "q50"):
        assert panel.text(key).startswith("≈ "), key
    assert abs(panel.stats.mean - values.mean()) < 0.1 and panel.stats.count == values.size
    assert "cancelled" in plot.note_label.text() and plot.counts.size > 0
    assert not view.cancel_button.isVisible()
    assert view.analysis is None
    assert panel.exact_button.isVisible()

    hold[0] = False
    qtbot.mouseClick(panel.exact_button, Qt.MouseButton.LeftButton)
    wait_idle(window)
    finite = _finite(values)
    assert view.analysis is not None and plot.exact
    assert panel.text("mean") == format_number(finite.mean())
    assert panel.text("q50") == format_number(np.quantile(finite, 0.5))
    assert not panel.exact_button.isVisible()
    np.testing.assert_array_equal(plot.counts, np.histogram(values, bins=100)[0])


def test_reselecting_a_tensor_shows_its_results_at_once(
    window, wait_idle, shapes_ckpt, monkeypatch, tmp_path
):
    import shutil

    for suffix in (".index", ".data-00000-of-00001"):
        shutil.copy(shapes_ckpt.prefix + suffix, str(tmp_path / "copy") + suffix)
    prefix = str(tmp_path / "copy")
    window.open_path(prefix)
    view = _select(window, wait_idle, "long_vector")
    first = view.analysis
    _select(window, wait_idle, "net/layer_2/kernel")
    computed = []
    original = analysis_module.analyze
    monkeypatch.setattr(
        analysis_module, "analyze", lambda *a, **k: computed.append(1) or original(*a, **k)
    )
    assert window.select("long_vector")
    assert view.analysis is first and not view.progress.isVisible()  # shown at once, no work
    assert computed == []
    assert view.stats_panel.text("mean") == format_number(first.stats.mean)
    np.testing.assert_array_equal(view.histogram_plot.counts, first.histogram.counts)
    window.reload()  # the same bytes (F5): still known
    _select(window, wait_idle, "long_vector")
    assert computed == [] and view.analysis.stats == first.stats

    # The checkpoint rewritten with other values: F5 must not show the old results.
    changed = {**shapes_ckpt.expected, "long_vector": shapes_ckpt.expected["long_vector"] * 2}
    import tf_checkpoints as tfc

    tfc.write_with_tf(tmp_path / "copy", changed)
    window.reload()
    view = _select(window, wait_idle, "long_vector")
    assert computed == [1]
    assert view.analysis.stats.mean == pytest.approx(2 * first.stats.mean)
    assert len(view.cache) <= analysis_module.CACHE_ENTRIES


def test_strings_show_length_statistics_and_safe_text(window, wait_idle, shapes_ckpt):
    window.open_path(shapes_ckpt.prefix)
    view = _select(window, wait_idle, "vocab/words")
    words = shapes_ckpt.expected["vocab/words"]
    stats = view.analysis.stats
    assert stats.measure == "length"
    assert stats.max == max(len(w) for w in words) and stats.min == 0
    assert "length" in view.stats_panel.note_label.text()
    table = view.values.table_model
    assert [table.text(r, 0) for r in range(3)] == ["alpha", "ff fe 62 61 64  |..bad|", ""]


def test_complex_values_show_magnitude_or_phase(window, wait_idle, shapes_ckpt):
    window.open_path(shapes_ckpt.prefix)
    view = _select(window, wait_idle, "net/phases")
    values = shapes_ckpt.expected["net/phases"]
    assert view.analysis.stats.measure == "magnitude"
    assert view.analysis.stats.max == pytest.approx(np.abs(values).max())
    assert view.values.complex_combo.isVisible()
    np.testing.assert_allclose(view.values.table_model.values.ravel(), np.abs(values))
    view.values.complex_combo.setCurrentText("phase")
    wait_idle(window)
    np.testing.assert_allclose(view.values.table_model.values.ravel(), np.angle(values))


def test_bool_scalar_empty_and_half(window, wait_idle, shapes_ckpt):
    window.open_path(shapes_ckpt.prefix)
    view = _select(window, wait_idle, "net/mask")
    np.testing.assert_array_equal(view.values.table_model.values, [[1, 0], [0, 1]])
    assert view.values.table_model.text(0, 0) == "1"

    view = _select(window, wait_idle, "net/scalar")
    assert view.values.stack.currentWidget() is view.values.message
    assert view.values.message.text() == "2.5"
    assert view.analysis.stats.mean == 2.5

    view = _select(window, wait_idle, "net/empty")
    assert "Empty tensor" in view.values.message.text()
    assert view.analysis is None and not view.busy

    view = _select(window, wait_idle, "net/half")
    half = shapes_ckpt.expected["net/half"].astype(np.float32)
    assert view.analysis.stats.max == pytest.approx(float(half.max()))
    np.testing.assert_array_equal(view.values.table_model.values, half)


def test_selecting_a_folder_clears_the_view(window, wait_idle, shapes_ckpt):
    window.open_path(shapes_ckpt.prefix)
    _select(window, wait_idle, "net/layer_2/kernel")
    folder = window.tree.model.index_of_path("net")
    window.tree.view.setCurrentIndex(folder)
    assert window.tensor_view.key is None
    assert window.tensor_view.pages.currentWidget() is window.tensor_view.placeholder
    assert not window.export_action.isEnabled()


def test_every_dtype_shows_without_error(window, wait_idle, all_dtypes_ckpt):
    window.open_path(all_dtypes_ckpt.prefix)
    for name, expected in all_dtypes_ckpt.expected.items():
        view = _select(window, wait_idle, name)
        assert window.last_error is None, (name, window.last_error)
        if expected.size == 0:
            assert view.analysis is None and "Empty tensor" in view.values.message.text()
            continue
        assert view.analysis.stats.count == expected.size, name
        shown = view.values.data.table
        assert shown.size == (expected[0].size if expected.ndim > 2 else expected.size), name
        if expected.dtype.kind in "iu" and expected.ndim <= 2:  # integers are shown exactly
            np.testing.assert_array_equal(shown.reshape(expected.shape), expected, err_msg=name)
