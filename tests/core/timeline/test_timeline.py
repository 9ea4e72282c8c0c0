"""The timeline of a variable or scope over TensorFlow-made runs, checked against numpy on what
TensorFlow's own reader returns, with the changes the runs were made with found where they are."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from damaged_files import flip_stored_byte, folder_digest
from tf_checkpoints import import_tensorflow
from tf_timeline_runs import TrainingRun

from ckpt_browser.core.timeline import (
    STAT_NAMES,
    TIMELINE_PERCENTS,
    Run,
    Status,
    TimelineCache,
    compute_overview,
    compute_timeline,
)
from ckpt_browser.format import CheckpointError
from ckpt_browser.format.errors import Cancelled


@pytest.fixture(autouse=True)
def cache_directory(tmp_path, monkeypatch) -> str:
    """Nothing of the tests goes into the user's cache directory."""
    directory = str(tmp_path / "cache")
    monkeypatch.setenv("CKPT_BROWSER_CACHE_DIR", directory)
    return directory


def tf_values(prefix: str, key: str) -> np.ndarray:
    return import_tensorflow().train.load_checkpoint(prefix).get_tensor(key)


def numpy_stats(values: np.ndarray) -> dict:
    flat = values.reshape(-1)
    finite = flat[np.isfinite(flat)]
    wide = finite.astype(np.float64)
    return {
        "count": flat.size,
        "nan_count": int(np.isnan(flat).sum()),
        "inf_count": int(np.isinf(flat).sum()),
        "zero_share": float(np.count_nonzero(flat == 0) / flat.size),
        "norm": float(np.linalg.norm(wide)),
        "mean": float(wide.mean()),
        "std": float(wide.std()),
        "min": float(finite.min()),
        "max": float(finite.max()),
        "max_abs": float(np.abs(finite).max()),
    }


def numpy_change(before: np.ndarray, after: np.ndarray) -> tuple[float, float]:
    """Relative L2 distance and cosine over the positions where both are finite, in float64."""
    a, b = before.reshape(-1).astype(np.float64), after.reshape(-1).astype(np.float64)
    both = np.isfinite(a) & np.isfinite(b)
    a, b = a[both], b[both]
    return (
        float(np.linalg.norm(b - a) / np.linalg.norm(a)),
        float(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b)),
    )


def key_in(run: TrainingRun, label: str) -> str:
    return (
        label
        if run.nan_variable == label or "ATTRIBUTES" not in run.nan_variable
        else (f"{label}/.ATTRIBUTES/VARIABLE_VALUE")
    )


@pytest.fixture(params=["tf1", "tf2"])
def training_run(request) -> TrainingRun:
    return request.getfixturevalue("tf1_saver_run" if request.param == "tf1" else "tf2_manager_run")


def variables_of(run: TrainingRun) -> list[str]:
    """Readable names of the run's kernels and biases."""
    return [f"{scope}/{part}" for scope in run.layer_scopes for part in ("kernel", "bias")]


def test_points_are_the_kept_checkpoints_in_step_order(training_run):
    with Run.open(str(training_run.directory)) as run:
        timeline = compute_timeline(run, variables_of(training_run)[0], cache=None)
    assert timeline.steps == list(training_run.steps)
    assert [point.prefix for point in timeline.points] == list(training_run.prefixes)
    assert all(point.status is Status.OK for point in timeline.points)


def test_statistics_equal_numpy_on_what_tensorflow_reads(training_run):
    with Run.open(str(training_run.directory)) as run:
        for label in variables_of(training_run):
            timeline = compute_timeline(run, label)
            key = timeline.subject.members[0].key
            for point in timeline.points:
                values = tf_values(point.prefix, key)
                expected = numpy_stats(values)
                for name in STAT_NAMES:
                    assert point.stats.value(name) == pytest.approx(
                        expected[name], rel=1e-9, abs=1e-12
                    ), (label, point.step, name)
                finite = values[np.isfinite(values)]
                expected_quantiles = np.percentile(finite, TIMELINE_PERCENTS).tolist()
                assert list(point.stats.quantiles.values()) == expected_quantiles
                counts, edges = np.histogram(finite, 512)
                np.testing.assert_array_equal(point.stats.histogram.counts, counts)
                np.testing.assert_array_equal(point.stats.histogram.edges, edges)


def test_changes_equal_numpy(training_run):
    with Run.open(str(training_run.directory)) as run:
        label = variables_of(training_run)[0]
        timeline = compute_timeline(run, label)
    key = timeline.subject.members[0].key
    values = [tf_values(prefix, key) for prefix in training_run.prefixes]
    first = timeline.points[0]
    assert first.change.rel_l2_prev is None and first.change.rel_l2_first is None
    for index, point in enumerate(timeline.points[1:], 1):
        rel_prev, cosine = numpy_change(values[index - 1], values[index])
        rel_first, _ = numpy_change(values[0], values[index])
        assert point.change.rel_l2_prev == pytest.approx(rel_prev, rel=1e-9)
        assert point.change.cosine_prev == pytest.approx(cosine, rel=1e-9)
        assert point.change.rel_l2_first == pytest.approx(rel_first, rel=1e-9)
        assert point.change.prev_step == training_run.steps[index - 1]
        assert point.change.first_step == training_run.steps[0]


def test_a_scope_is_its_parameters_as_one_vector(training_run):
    scope = training_run.layer_scopes[0]
    with Run.open(str(training_run.directory)) as run:
        timeline = compute_timeline(run, scope)
    assert timeline.subject.is_scope
    labels = [member.label for member in timeline.subject.members]
    assert labels == [f"{scope}/bias", f"{scope}/kernel"]  # no optimizer slots, in name order
    keys = [member.key for member in timeline.subject.members]
    vectors = [
        np.concatenate([tf_values(prefix, key).reshape(-1) for key in keys])
        for prefix in training_run.prefixes
    ]
    for index, point in enumerate(timeline.points):
        expected = numpy_stats(vectors[index])
        assert point.stats.norm == pytest.approx(expected["norm"], rel=1e-9)
        assert point.stats.count == expected["count"]
        finite = vectors[index][np.isfinite(vectors[index])]
        assert point.stats.quantiles[50.0] == np.percentile(finite, [50])[0]
        if index:
            rel_prev, cosine = numpy_change(vectors[index - 1], vectors[index])
            assert point.change.rel_l2_prev == pytest.approx(rel_prev, rel=1e-9)
            assert point.change.cosine_prev == pytest.approx(cosine, rel=1e-9)


def test_a_frozen_layer_reads_zero_change_after_it_froze(training_run):
    with Run.open(str(training_run.directory)) as run:
        timeline = compute_timeline(run, training_run.frozen_scope)
    for point in timeline.points[1:]:
        if point.step > training_run.frozen_from:
            assert point.change.rel_l2_prev == 0.0, point.step
            assert point.change.cosine_prev == 1.0
        else:
            assert point.change.rel_l2_prev > 1e-3, point.step


def test_the_overview_finds_the_frozen_layer(training_run):
    with Run.open(str(training_run.directory)) as run:
        overview = compute_overview(run)
    assert set(training_run.layer_scopes) <= set(overview.scopes)
    assert overview.steps == list(training_run.steps)
    assert np.isnan(overview.rel_change[:, 0]).all()  # nothing before the first save
    for scope in training_run.layer_scopes:
        for step, value in zip(overview.steps[1:], overview.row(scope)[1:]):
            if scope == training_run.frozen_scope and step > training_run.frozen_from:
                assert value == 0.0, (scope, step)
            else:
                assert value > 1e-3, (scope, step)


def test_the_overview_equals_the_timeline_of_each_scope(tf1_saver_run):
    with Run.open(str(tf1_saver_run.directory)) as run:
        overview = compute_overview(run)
        for scope in tf1_saver_run.layer_scopes:
            _, moved = compute_timeline(run, scope).series("rel_l2_prev")
            np.testing.assert_allclose(overview.row(scope), moved, rtol=1e-12)


def test_the_nan_shows_at_exactly_its_step(training_run):
    with Run.open(str(training_run.directory)) as run:
        timeline = compute_timeline(run, training_run.nan_variable)
    counts = {point.step: point.stats.nan_count for point in timeline.points}
    assert counts == {step: int(step == training_run.nan_step) for step in training_run.steps}
    _, nans = timeline.series("nan_count")
    assert nans.tolist() == [float(step == training_run.nan_step) for step in training_run.steps]


def test_a_variable_found_by_its_readable_name_or_key(tf2_manager_run):
    with Run.open(str(tf2_manager_run.directory)) as run:
        by_key = compute_timeline(run, tf2_manager_run.nan_variable)
        by_label = compute_timeline(run, "net/decoder/kernel")
    assert by_key.subject == by_label.subject
    assert by_label.subject.name == "net/decoder/kernel"


def test_gaps_say_why(tf1_saver_run):
    with Run.open(str(tf1_saver_run.directory)) as run:
        added = compute_timeline(run, tf1_saver_run.added_variable)
        resized = compute_timeline(run, tf1_saver_run.resized_variable)
        scope = compute_timeline(run, "net")
        older = compute_timeline(run, tf1_saver_run.resized_variable, reference=run.entries[0])
    for point in added.points:
        if point.step < tf1_saver_run.added_from:
            assert (point.status, point.reason) == (Status.GAP, "not in this checkpoint")
            assert point.stats is None and point.change is None
        else:
            assert point.status is Status.OK
    first_kept = next(p for p in added.points if p.status is Status.OK)
    assert first_kept.change.rel_l2_prev is None  # nothing readable before it to compare with
    for point in resized.points:
        if point.step < tf1_saver_run.added_from:
            assert point.status is Status.GAP
            assert point.reason == "shape [4] here, [6] in the reference"
    for point in older.points:
        assert (point.status is Status.OK) == (point.step < tf1_saver_run.added_from)
    gaps = [point.reason for point in scope.points if point.status is Status.GAP]
    assert gaps == ["net/extra: not in this checkpoint"] * 3  # the first difference is named


def test_an_unknown_name_is_one_sentence(tf1_saver_run):
    with Run.open(str(tf1_saver_run.directory)) as run, pytest.raises(CheckpointError) as error:
        compute_timeline(run, "net/nope")
    assert "'net/nope' is in no checkpoint of the run" in str(error.value)


def test_a_damaged_checkpoint_in_the_middle_is_marked_and_skipped(tf1_saver_run, tmp_path):
    directory = shutil.copytree(tf1_saver_run.directory, tmp_path / "run")
    flipped = str(directory / "model.ckpt-50")
    flip_stored_byte(flipped, "net/layer_1/kernel", at=5)
    unreadable = directory / "model.ckpt-70.index"
    unreadable.write_bytes(unreadable.read_bytes()[:40])
    with Run.open(str(directory)) as run:
        timeline = compute_timeline(run, "net/layer_1/kernel")
        overview = compute_overview(run)
    points = {point.step: point for point in timeline.points}
    assert points[50].status is Status.ERROR and "checksum does not match" in points[50].reason
    assert points[70].status is Status.ERROR and "model.ckpt-70" in points[70].reason
    assert points[60].change.prev_step == 40 and points[80].change.prev_step == 60
    values = {
        step: tf_values(str(directory / f"model.ckpt-{step}"), "net/layer_1/kernel")
        for step in (40, 60)
    }
    assert points[60].change.rel_l2_prev == pytest.approx(numpy_change(values[40], values[60])[0])
    columns = {column.step: column for column in overview.columns}
    assert columns[70].status is Status.ERROR
    assert columns[80].previous_step == 60


def test_a_truncated_data_file_is_marked_and_skipped(tf1_saver_run, tmp_path):
    directory = shutil.copytree(tf1_saver_run.directory, tmp_path / "run")
    data = directory / "model.ckpt-50.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:100])
    with Run.open(str(directory)) as run:
        timeline = compute_timeline(run, "net/head")
        overview = compute_overview(run)
    points = {point.step: point for point in timeline.points}
    assert points[50].status is Status.ERROR and "data-00000-of-00001" in points[50].reason
    assert points[60].change.prev_step == 40
    columns = {column.step: column for column in overview.columns}
    assert columns[50].status is Status.ERROR and columns[60].previous_step == 40
    assert not np.isnan(overview.row("net/head")[3])


def test_the_distribution_is_on_shared_bins(tf1_saver_run):
    with Run.open(str(tf1_saver_run.directory)) as run:
        timeline = compute_timeline(run, "net/layer_1")
    picture = timeline.distribution(bins=16)
    keys = [member.key for member in timeline.subject.members]
    vectors = [
        np.concatenate([tf_values(prefix, key).reshape(-1) for key in keys])
        for prefix in tf1_saver_run.prefixes
    ]
    finite = [vector[np.isfinite(vector)] for vector in vectors]
    assert picture.edges[0] == min(v.min() for v in finite)
    assert picture.edges[-1] == pytest.approx(max(v.max() for v in finite))
    for row, values in zip(picture.counts, finite):
        assert row.sum() == pytest.approx(values.size)
        exact, _ = np.histogram(values, picture.edges)
        # re-binned from 512 stored bins: off by at most a share of one stored bin per edge
        assert np.abs(row - exact).max() <= 3
    for row, percent in enumerate(TIMELINE_PERCENTS):
        expected = [np.percentile(values, TIMELINE_PERCENTS)[row] for values in finite]
        np.testing.assert_array_equal(picture.quantiles[percent], expected)


def test_the_cache_answers_a_second_computation_without_reading(
    tf1_saver_run, tmp_path, monkeypatch
):
    from ckpt_browser.format.v2.checkpoint import BundleCheckpoint

    reads = []
    original = BundleCheckpoint.read
    monkeypatch.setattr(
        BundleCheckpoint,
        "read",
        lambda self, name, *a: reads.append(name) or original(self, name, *a),
    )
    monkeypatch.setattr(BundleCheckpoint, "checksum_problem", lambda self, name: reads.append(name))
    before = folder_digest(tf1_saver_run.directory)
    with Run.open(str(tf1_saver_run.directory)) as run:
        cold = compute_timeline(run, "net/layer_2", cache=TimelineCache())
        cold_overview = compute_overview(run, cache=TimelineCache())
    assert reads
    reads.clear()
    with Run.open(str(tf1_saver_run.directory)) as run:
        cache = TimelineCache()
        warm = compute_timeline(run, "net/layer_2", cache=cache)
        warm_overview = compute_overview(run, cache=cache)
    assert reads == []
    assert cache.misses == 0 and cache.hits > 0
    assert warm == cold
    np.testing.assert_array_equal(warm_overview.rel_change, cold_overview.rel_change)
    assert folder_digest(tf1_saver_run.directory) == before  # nothing written into the run


def test_a_rewritten_checkpoint_is_never_answered_from_the_cache(tf1_saver_run, tmp_path):
    from ckpt_browser.format import CheckpointWriter, open_checkpoint

    directory = shutil.copytree(tf1_saver_run.directory, tmp_path / "run")
    prefix = str(directory / "model.ckpt-60")
    with Run.open(str(directory)) as run:
        before = compute_timeline(run, "net/head/kernel", cache=TimelineCache())
    index = prefix + ".index"
    data = prefix + ".data-00000-of-00001"
    times = {path: os.stat(path).st_mtime_ns for path in (index, data)}
    with open_checkpoint(prefix) as ckpt:
        tensors = {name: np.array(ckpt.read(name)) for name in ckpt}
    tensors["net/head/kernel"] = tensors["net/head/kernel"] * 2  # same sizes, other values
    with CheckpointWriter(prefix, overwrite=True) as writer:
        for name, values in tensors.items():
            writer.add(name, values)
    for path, stamp in times.items():  # even with the old times, the stored checksum differs
        os.utime(path, ns=(stamp, stamp))
    with Run.open(str(directory)) as run:
        after = compute_timeline(run, "net/head/kernel", cache=TimelineCache())
    changed = {p.step: (b.stats.norm, p.stats.norm) for b, p in zip(before.points, after.points)}
    assert changed[60][1] == pytest.approx(2 * changed[60][0], rel=1e-6)
    assert all(old == new for step, (old, new) in changed.items() if step != 60)
    expected = numpy_stats(tf_values(prefix, "net/head/kernel"))["norm"]
    assert changed[60][1] == pytest.approx(expected, rel=1e-9)


def test_a_damaged_cache_file_is_started_afresh(tf1_saver_run, cache_directory):
    os.makedirs(cache_directory, exist_ok=True)
    cache_file = os.path.join(cache_directory, "timeline.sqlite")
    with open(cache_file, "wb") as file:
        file.write(b"this is not a database" * 100)
    with Run.open(str(tf1_saver_run.directory)) as run:
        cold = compute_timeline(run, "net/head", cache=TimelineCache())
        cache = TimelineCache()
        warm = compute_timeline(run, "net/head", cache=cache)
    assert warm == cold and cache.misses == 0
    with open(cache_file, "rb") as file:
        assert file.read(16) == b"SQLite format 3\x00"


def test_progress_rises_to_the_end_and_cancel_stops(tf1_saver_run):
    seen = []
    with Run.open(str(tf1_saver_run.directory)) as run:
        compute_timeline(run, "net/layer_1", progress=seen.append)
        assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0)
        with pytest.raises(Cancelled):
            compute_timeline(run, "net/layer_1", cancel=lambda: True)
        calls = []
        with pytest.raises(Cancelled):
            compute_overview(run, progress=calls.append, cancel=lambda: len(calls) > 1)


def test_refresh_follows_a_run_that_is_still_writing(tf1_saver_run, tmp_path):
    directory = tmp_path / "run"
    directory.mkdir()
    for step in (30, 40):
        for path in tf1_saver_run.directory.glob(f"model.ckpt-{step}.*"):
            shutil.copy(path, directory)
    with Run.open(str(directory)) as run:
        assert run.steps == [30, 40]
        compute_timeline(run, "net/head")
        for path in tf1_saver_run.directory.glob("model.ckpt-50.*"):
            shutil.copy(path, directory)
        for path in directory.glob("model.ckpt-30.*"):
            path.unlink()
        changes = run.refresh()
        assert changes.added == (str(directory / "model.ckpt-50"),)
        assert changes.removed == (str(directory / "model.ckpt-30"),)
        assert run.steps == [40, 50]
        assert compute_timeline(run, "net/head").steps == [40, 50]
        assert not run.refresh()


def test_a_large_tensor_keeps_the_quantile_search_histogram(tmp_path):
    """Above np.quantile's size the stored histogram is the fine histogram of the quantile
    search summed in groups: NaN and Inf left out, bins as numpy's to within rounding."""
    from ckpt_browser.format import CheckpointWriter

    rng = np.random.default_rng(3)
    values = rng.standard_normal(300_000).astype(np.float32)
    values[[5, 70_000]] = np.nan
    values[[9, 100]] = [np.inf, -np.inf]
    for step, scale in ((1, 1.0), (2, 1.5)):
        with CheckpointWriter(tmp_path / f"model.ckpt-{step}") as writer:
            writer.add("w", values * np.float32(scale))
    with Run.open(str(tmp_path)) as run:
        timeline = compute_timeline(run, "w")
    for point, scale in zip(timeline.points, (1.0, 1.5)):
        scaled = values * np.float32(scale)
        finite = scaled[np.isfinite(scaled)]
        assert (point.stats.nan_count, point.stats.inf_count) == (2, 2)
        assert point.stats.histogram.counts.sum() == finite.size
        exact, edges = np.histogram(finite, 512)
        np.testing.assert_allclose(point.stats.histogram.edges, edges, rtol=1e-6, atol=1e-6)
        assert np.abs(point.stats.histogram.counts - exact).sum() <= finite.size * 1e-4
        expected = np.percentile(finite, TIMELINE_PERCENTS).tolist()
        assert list(point.stats.quantiles.values()) == expected
