"""The timeline dock on TensorFlow-made runs: what it plots is the core's timeline, the NaN step and
the gaps show with their reasons, and clicking steps drives the main window and the compare view."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from ckpt_browser.core.timeline import STAT_NAMES, Run, compute_timeline
from ckpt_browser.ui.timeline.model import MEASURES, MarkKind
from ckpt_browser.ui.timeline.panel import DISTRIBUTION_TAB

ALL_MEASURES = [measure.key for measure in MEASURES]


def core_timeline(directory, name):
    with Run.open(str(directory)) as run:
        return compute_timeline(run, name)


@pytest.fixture(params=["tf1", "tf2"])
def training_run(request):
    return request.getfixturevalue("tf1_saver_run" if request.param == "tf1" else "tf2_manager_run")


def test_every_plotted_series_is_the_cores(window, show_timeline, training_run):
    run = training_run
    panel = show_timeline(window, run.prefixes[-1], run.nan_variable)
    panel.stats.set_chosen(ALL_MEASURES)
    expected = core_timeline(run.directory, run.nan_variable)
    plotted = set()
    for measure in MEASURES:
        for name in measure.series:
            x, y = panel.stats.curves[name].getData()
            want_x, want_y = expected.series(name)
            np.testing.assert_array_equal(x, want_x)
            np.testing.assert_array_equal(y, want_y)
            plotted.add(name)
    assert plotted >= set(STAT_NAMES) - {"count"}
    assert list(x) == list(run.steps)
    # One plot per ticked measure, sharing the step axis.
    assert list(panel.stats.plots) == ALL_MEASURES


def test_the_nan_step_is_marked_and_listed(window, show_timeline, training_run):
    run = training_run
    panel = show_timeline(window, run.prefixes[-1], run.nan_variable)
    panel.stats.set_chosen(["nonfinite"])
    x, nans = panel.stats.curves["nan_count"].getData()
    assert dict(zip(x.astype(int), nans)) == {
        step: (1.0 if step == run.nan_step else 0.0) for step in run.steps
    }
    marks = panel.model.marks()
    assert [(m.position, m.kind) for m in marks] == [(run.nan_step, MarkKind.NONFINITE)]
    assert [panel.marks_list.item(i).text() for i in range(panel.marks_list.count())] == [
        f"step {run.nan_step} · 1 NaN"
    ]
    assert panel.marks_box.isVisible()
    assert "NaN/Inf at 1 step" in panel.summary_label.text()
    index = run.steps.index(run.nan_step)
    assert "NaN 1" in panel.model.readout(index)


def test_gaps_show_with_their_reason(window, show_timeline, tf1_saver_run):
    run = tf1_saver_run
    panel = show_timeline(window, run.prefixes[-1], run.resized_variable)
    before = [step for step in run.steps if step < run.added_from]
    marks = panel.model.marks()
    assert [int(mark.position) for mark in marks] == before
    assert all(mark.kind is MarkKind.GAP for mark in marks)
    assert all("shape [4] here, [6] in the reference" in mark.text for mark in marks)
    items = [panel.marks_list.item(i).text() for i in range(panel.marks_list.count())]
    assert items[0] == f"step {before[0]} · gap: shape [4] here, [6] in the reference"
    _, norms = panel.stats.curves["norm"].getData()
    assert np.isnan(norms[: len(before)]).all() and np.isfinite(norms[len(before) :]).all()
    assert f"{len(before)} gaps" in panel.summary_label.text()


def test_a_scope_follows_its_parameters_and_reads_zero_once_frozen(
    window, show_timeline, training_run
):
    run = training_run
    panel = show_timeline(window, run.prefixes[-1], run.frozen_scope + "/")
    timeline = panel.model.timeline
    assert timeline.subject.is_scope and timeline.subject.name == run.frozen_scope
    assert panel.subject_label.text().startswith(f"{run.frozen_scope}/ · ")
    x, moved = panel.stats.curves["rel_l2_prev"].getData()
    after = [value for step, value in zip(x, moved) if step > run.frozen_from]
    before = [value for step, value in zip(x, moved) if step <= run.frozen_from]
    assert after and all(value == 0 for value in after)
    assert all(value > 0 for value in before[1:])


def test_clicking_a_step_opens_it_and_keeps_the_variable(
    window, show_timeline, click_plot, tf1_saver_run, wait_idle, qtbot
):
    run = tf1_saver_run
    panel = show_timeline(window, run.prefixes[-1], run.nan_variable)
    plot = panel.stats.plots["norm"]
    click_plot(panel.stats.graphics, plot, run.nan_step)
    qtbot.waitUntil(lambda: window.checkpoint.prefix == run.prefix_of(run.nan_step))
    assert window.tree.selected_key() == run.nan_variable
    assert panel.model.current_index() == run.steps.index(run.nan_step)
    wait_idle(window)
    # The distribution view's columns open their step too.
    panel.choose_tab(DISTRIBUTION_TAB)
    click_plot(panel.distribution.graphics, panel.distribution.band_plot, run.steps[0])
    qtbot.waitUntil(lambda: window.checkpoint.prefix == run.prefixes[0])
    assert window.tree.selected_key() == run.nan_variable


def test_two_picked_steps_open_the_compare_view(
    window, show_timeline, click_plot, tf1_saver_run, qtbot
):
    run = tf1_saver_run
    panel = show_timeline(window, run.prefixes[-1], run.nan_variable)
    assert not panel.compare_button.isEnabled()
    ctrl = Qt.KeyboardModifier.ControlModifier
    plot = panel.stats.plots["norm"]
    click_plot(panel.stats.graphics, plot, run.steps[-1], modifiers=ctrl)
    click_plot(panel.stats.graphics, plot, run.steps[1], modifiers=ctrl)
    assert window.checkpoint.prefix == run.prefixes[-1]  # picking opens nothing
    assert panel.compare_button.isEnabled()
    assert panel.compare_button.text() == f"Compare step {run.steps[1]} with {run.steps[-1]}"
    qtbot.mouseClick(panel.compare_button, Qt.MouseButton.LeftButton)
    compare = window.compare.last_window
    assert compare is not None
    qtbot.waitUntil(lambda: compare.view.checkpoints[1] is not None, timeout=10_000)
    a, b = compare.view.checkpoints
    assert (a.prefix, b.prefix) == (run.prefixes[1], run.prefixes[-1])
    compare.close()


def test_reopening_a_timeline_reads_nothing(window, show_timeline, tf1_saver_run, qtbot):
    run = tf1_saver_run
    panel = show_timeline(window, run.prefixes[-1], run.nan_variable)
    first = panel.model.timeline
    window.select("net/layer_2/kernel")
    qtbot.waitUntil(lambda: panel.model.timeline is not None, timeout=20_000)
    cache = panel.session.cache
    misses = cache.misses
    window.select(run.nan_variable)
    assert panel.model.timeline is first  # from memory, at once
    # A fresh session (the window opened again later) answers from the cache on disk.
    panel.session.follow(None)
    panel.set_subject(None)
    panel.session.follow(run.prefixes[-1])
    panel.set_subject(run.nan_variable)
    qtbot.waitUntil(lambda: panel.model.timeline is not None, timeout=20_000)
    assert cache.misses == misses
    assert panel.model.timeline.points == first.points
