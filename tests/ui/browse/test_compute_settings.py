"""Edit > Compute Settings: a Dask scheduler for the statistics of huge tensors, kept in
QSettings; the tensor view's exact statistics computed by a worker (a LocalCluster of two
processes reading the checkpoint by URL from a loopback HTTP server) equal the local ones, with
progress, and Cancel releases the cluster's task."""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import pytest
from http_range_server import RangeServer
from PySide6.QtCore import QSettings

import ckpt_browser.core.tasks.choice as choice_module
import ckpt_browser.core.tensor.analysis as analysis_module
from ckpt_browser.core.tasks.choice import ComputeChoice
from ckpt_browser.core.tensor.analysis import analyse_tensor, rebin
from ckpt_browser.format import open_checkpoint
from ckpt_browser.format.v2.checkpoint import BundleCheckpoint
from ckpt_browser.ui.browse.compute_settings_dialog import SCHEDULER_KEY, saved_choice

distributed = pytest.importorskip("distributed")

NAME = "net/layer_2/kernel"


@pytest.fixture(scope="module")
def cluster() -> Iterator[distributed.LocalCluster]:
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster:
        yield cluster


@pytest.fixture
def every_tensor_is_huge(monkeypatch):
    monkeypatch.setattr(choice_module, "CLUSTER_MIN_BYTES", 0)


def test_the_dialog_keeps_the_scheduler_in_the_settings(window, qtbot):
    dialog = window.open_compute_settings()
    assert dialog.this_machine.isChecked() and not dialog.address.isEnabled()
    dialog.cluster.setChecked(True)
    assert not dialog.ok_button.isEnabled()  # no address yet
    dialog.address.setText("tcp://scheduler.example:8786")
    dialog.shared_paths.setChecked(True)
    dialog.accept()
    chosen = ComputeChoice("tcp://scheduler.example:8786", True)
    assert window.tensor_view.compute.choice == chosen
    assert QSettings().value(SCHEDULER_KEY) == "tcp://scheduler.example:8786"
    assert saved_choice(QSettings()) == chosen
    dialog = window.open_compute_settings()
    assert dialog.cluster.isChecked() and dialog.address.text() == chosen.scheduler
    dialog.this_machine.setChecked(True)
    dialog.accept()
    assert window.tensor_view.compute.choice == ComputeChoice()


def test_a_huge_tensors_statistics_come_from_the_cluster(
    window, wait_idle, qtbot, shapes_ckpt, cluster, every_tensor_is_huge, monkeypatch
):
    local_runs = []
    original = analysis_module.analyze
    monkeypatch.setattr(
        analysis_module, "analyze", lambda *a, **k: local_runs.append(1) or original(*a, **k)
    )
    local_checks = []
    checked = BundleCheckpoint.checksum_problem
    monkeypatch.setattr(
        BundleCheckpoint,
        "checksum_problem",
        lambda self, name: local_checks.append(name) or checked(self, name),
    )
    with RangeServer(os.path.dirname(shapes_ckpt.prefix)) as server:
        url = server.url(os.path.basename(shapes_ckpt.prefix))
        window.tensor_view.compute.set_choice(ComputeChoice(cluster.scheduler_address))
        window.open_path(url)
        qtbot.waitUntil(lambda: window.checkpoint is not None, timeout=20_000)
        progress = []
        shown = window.tensor_view._on_progress
        monkeypatch.setattr(
            window.tensor_view, "_on_progress", lambda f: progress.append(f) or shown(f)
        )
        assert window.select(NAME)
        wait_idle(window, timeout=60_000)
        view = window.tensor_view
        first_counts = view.histogram_plot.counts.copy()
        view.histogram_plot.bins_spin.setValue(37)  # other bins: one more pass, on the cluster
        wait_idle(window, timeout=60_000)
    with open_checkpoint(shapes_ckpt.prefix) as local:
        expected = analyse_tensor(lambda: local.read(NAME), len(first_counts))
        rebinned = rebin(lambda: local.read(NAME), expected.stats, 37)
    assert local_runs == [1]  # the expected one above: the view's ran in a worker process
    assert local_checks == []  # and so did the check of its stored checksum
    assert repr(view.analysis.stats) == repr(expected.stats)
    np.testing.assert_array_equal(first_counts, expected.histogram.counts)
    assert progress and max(progress) == 1.0  # the cluster's progress, shown like local progress
    np.testing.assert_array_equal(view.histogram_plot.counts, rebinned.counts)
    np.testing.assert_array_equal(view.analysis.histogram.counts, rebinned.counts)


def test_cancel_releases_the_clusters_task(
    window, wait_idle, qtbot, shapes_ckpt, cluster, every_tensor_is_huge
):
    with RangeServer(os.path.dirname(shapes_ckpt.prefix), delay=1.0) as server:
        url = server.url(os.path.basename(shapes_ckpt.prefix))
        window.tensor_view.compute.set_choice(ComputeChoice(cluster.scheduler_address))
        window.open_path(url)
        qtbot.waitUntil(lambda: window.checkpoint is not None, timeout=30_000)
        view = window.tensor_view
        assert window.select(NAME)
        qtbot.waitUntil(lambda: len(cluster.scheduler.tasks) > 0, timeout=30_000)
        view.cancel_button.click()
        wait_idle(window, timeout=30_000)
        qtbot.waitUntil(lambda: not cluster.scheduler.tasks, timeout=30_000)
    assert view.analysis is None
    assert view.stats_panel.note_label.text() == "cancelled"
    assert view.stats_panel.exact_button.isVisibleTo(view)  # "Compute exact" is offered


def test_the_timeline_and_overview_of_a_run_in_a_bucket_come_from_the_cluster(
    qtbot, tmp_path, monkeypatch
):
    """The run session (the timeline dock's model) with a scheduler chosen: the same numbers as
    the local computation, measured by worker processes (none of the measuring happens here)."""
    from cluster_checkpoints import write_run
    from s3_server import running_s3_server

    import ckpt_browser.core.timeline.work as work_module
    from ckpt_browser.core.tasks.choice import ComputeTarget
    from ckpt_browser.core.timeline import Run, compute_overview, compute_timeline
    from ckpt_browser.core.timeline.cache import TimelineCache
    from ckpt_browser.ui.timeline.session import RunSession

    folder = write_run(tmp_path / "run")
    local_measures = []
    measured = work_module.step_stats
    monkeypatch.setattr(
        work_module, "step_stats", lambda *a: local_measures.append(1) or measured(*a)
    )
    with running_s3_server(tmp_path / "home") as s3, local_cluster_for_test() as cluster:
        forget_remote_state()  # no filesystem object of an earlier test's server is reused
        url = s3.upload(folder, f"{s3.create_bucket('window-run')}/run")
        session = RunSession(cache=TimelineCache(str(tmp_path / "cache")))
        session.compute = ComputeTarget(ComputeChoice(cluster.scheduler_address))
        failures = []
        session.open_failed.connect(failures.append)
        try:
            opened = []
            session.run_opened.connect(opened.append)
            session.follow(f"{url}/model.ckpt-400")
            qtbot.waitUntil(lambda: bool(opened or failures), timeout=60_000)
            assert failures == []
            with qtbot.waitSignal(session.timeline_ready, timeout=120_000) as ready:
                session.request_timeline("net/dense/kernel")
            timeline = ready.args[0]
            with qtbot.waitSignal(session.overview_ready, timeout=120_000) as ready:
                session.request_overview()
            overview = ready.args[0]
        finally:
            session.shutdown()
            session.compute.close()
            forget_remote_state()
    assert local_measures == []
    with Run.open(str(folder)) as run:
        expected = compute_timeline(run, "net/dense/kernel")
        expected_overview = compute_overview(run)
    got = [
        (p.step, p.status, repr(p.stats), repr(p.change).replace(url, str(folder)))
        for p in timeline.points
    ]
    want = [(p.step, p.status, repr(p.stats), repr(p.change)) for p in expected.points]
    assert got == want and len(got) == 4
    np.testing.assert_array_equal(overview.rel_change, expected_overview.rel_change)


def forget_remote_state() -> None:
    import s3fs

    from ckpt_browser.format.sources import remote

    s3fs.S3FileSystem.clear_instance_cache()
    remote.clear_memory_cache()
    remote.refresh_all()


def local_cluster_for_test() -> distributed.LocalCluster:
    return distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
