"""The whole-run overview in the timeline dock: the frozen layer's row reads 0 from the save it
froze at and is drawn darkest; a click on a cell selects that scope and that save."""

from __future__ import annotations

import numpy as np
import pytest

from ckpt_browser.core.timeline import Run, compute_overview
from ckpt_browser.ui.timeline.panel import OVERVIEW_TAB, STATISTICS_TAB


@pytest.fixture(params=["tf1", "tf2"])
def training_run(request):
    return request.getfixturevalue("tf1_saver_run" if request.param == "tf1" else "tf2_manager_run")


def show_overview(window, show_timeline, run, qtbot):
    panel = show_timeline(window, run.prefixes[-1], run.nan_variable)
    panel.choose_tab(OVERVIEW_TAB)
    qtbot.waitUntil(lambda: panel.overview_model.overview is not None, timeout=60_000)
    return panel


def test_the_frozen_layer_reads_zero_after_it_froze(window, show_timeline, training_run, qtbot):
    run = training_run
    panel = show_overview(window, show_timeline, run, qtbot)
    overview = panel.overview_model.overview
    with Run.open(str(run.directory)) as core_run:
        expected = compute_overview(core_run)
    assert overview.scopes == expected.scopes
    np.testing.assert_array_equal(overview.rel_change, expected.rel_change)
    assert set(run.layer_scopes) <= set(overview.scopes)
    row = overview.scopes.index(run.frozen_scope)
    steps = np.array(overview.steps)
    frozen = overview.rel_change[row, steps > run.frozen_from]
    assert frozen.size and (frozen == 0).all()
    assert (overview.rel_change[row, 1:][steps[1:] <= run.frozen_from] > 0).all()
    # Drawn: the frozen cells take the lowest colour level, the others above it.
    values, (low, _high) = panel.overview_model.colour_values()
    drawn = panel.overview.image.image
    np.testing.assert_array_equal(drawn, values)
    assert (values[row, steps > run.frozen_from] == low).all()
    assert (values[row, 1:][steps[1:] <= run.frozen_from] > low).all()
    column = list(steps).index(run.steps[-1])
    assert panel.overview_model.cell_text(row, column) == (
        f"{run.frozen_scope} · step {run.steps[-1]} (from {run.steps[-2]}): "
        "relative change 0 (did not move)"
    )
    assert panel.overview.plot.getAxis("left")._tickLevels[0][row][1] == run.frozen_scope


def test_clicking_a_cell_selects_its_scope_and_save(
    window, show_timeline, click_plot, tf1_saver_run, qtbot
):
    run = tf1_saver_run
    panel = show_overview(window, show_timeline, run, qtbot)
    overview = panel.overview_model.overview
    row = overview.scopes.index(run.frozen_scope)
    column = overview.steps.index(run.steps[2])
    click_plot(panel.overview.graphics, panel.overview.plot, column + 0.5, row + 0.5)
    qtbot.waitUntil(lambda: window.checkpoint.prefix == run.prefixes[2], timeout=10_000)
    assert panel.tabs.currentIndex() == STATISTICS_TAB
    qtbot.waitUntil(
        lambda: (
            panel.model.timeline is not None
            and panel.model.timeline.subject.name == run.frozen_scope
        ),
        timeout=20_000,
    )
    assert window.timeline_dock.subject_of_tree() == run.frozen_scope + "/"
    assert panel.model.current_index() == 2
