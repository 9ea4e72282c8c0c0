"""Comparing two checkpoints: statuses, every distance and the alignment options, checked against
numpy computed directly on the values TensorFlow reads from the same files."""

from __future__ import annotations

import math
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
import tf_checkpoints as tfc

from ckpt_browser.core.compare.checkpoints import (
    Cancelled,
    CompareOptions,
    Status,
    compare_checkpoints,
    iter_compare,
)
from ckpt_browser.core.tensor import chunks as tensor_chunks
from ckpt_browser.format import open_checkpoint, pages

BIG = 3_000_000  # float32 elements: 12 MB, more than one chunk, so chunks run on the pool


def _pair_tensors() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    rng = np.random.default_rng(11)
    a: dict[str, np.ndarray] = {}
    b: dict[str, np.ndarray] = {}

    a["same/weights"] = rng.standard_normal((40, 30)).astype(np.float32)
    b["same/weights"] = a["same/weights"].copy()

    weights = rng.standard_normal((64, 50)).astype(np.float32)
    moved = weights + rng.standard_normal(weights.shape).astype(np.float32) * 0.01
    weights[1, 1] = moved[1, 1] = np.nan  # NaN on both sides: equal
    weights[2, 2] = np.nan  # NaN against a number: a mismatch
    weights[3, 3] = moved[3, 3] = np.inf  # equal infinities
    weights[4, 4], moved[4, 4] = np.inf, -np.inf
    weights[5, 5] = -np.inf
    moved[9, 7] = weights[9, 7] + 3.0  # the largest difference
    a["changed/weights"], b["changed/weights"] = weights, moved

    double = rng.standard_normal(1000)
    a["changed/double"], b["changed/double"] = double, double * 1.01
    a["close/double"], b["close/double"] = double, double * (1 + 1e-9)
    half = rng.standard_normal((8, 8))
    a["changed/half"] = half.astype(np.float16)
    b["changed/half"] = (half + 0.1).astype(np.float16)
    brain = rng.standard_normal(16)
    a["changed/bf16"] = brain.astype(ml_dtypes.bfloat16)
    b["changed/bf16"] = (brain * 0.5).astype(ml_dtypes.bfloat16)
    z = rng.standard_normal(6) + 1j * rng.standard_normal(6)
    a["changed/complex"] = z.astype(np.complex64)
    b["changed/complex"] = (z * (1 + 0.1j)).astype(np.complex64)

    low, high = np.iinfo(np.int64).min, np.iinfo(np.int64).max
    a["ints/int64"] = np.array([low, high, 5, -7], np.int64)
    b["ints/int64"] = np.array([high, low, 5, 9], np.int64)  # |a-b| = 2**64 - 1 overflows int64
    a["ints/uint64"] = np.array([0, 2**64 - 1, 3], np.uint64)
    b["ints/uint64"] = np.array([2**64 - 1, 0, 3], np.uint64)
    a["ints/int8"] = rng.integers(-128, 128, (5, 7)).astype(np.int8)
    b["ints/int8"] = a["ints/int8"].copy()
    b["ints/int8"][2, 3] = -a["ints/int8"][2, 3] - 1
    a["ints/same"] = np.arange(12, dtype=np.int32).reshape(3, 4)
    b["ints/same"] = a["ints/same"].copy()
    a["flags"] = np.array([True, False, True, True])
    b["flags"] = np.array([True, True, False, True])

    a["strings/same"] = np.array([b"alpha", b"", b"\xff"], dtype=object)
    b["strings/same"] = a["strings/same"].copy()
    a["strings/changed"] = np.array([[b"a", b"b"], [b"c", b"d"]], dtype=object)
    b["strings/changed"] = np.array([[b"a", b"B"], [b"c", b"D"]], dtype=object)

    a["scalar"], b["scalar"] = np.array(2.0, np.float32), np.array(2.5, np.float32)
    a["zeros"] = np.zeros(5, np.float32)
    b["zeros"] = np.array([0, 0, 1, 0, 0], np.float32)
    a["empty"] = b["empty"] = np.zeros((3, 0), np.float32)
    a["reshaped"] = rng.standard_normal((4, 6)).astype(np.float32)
    b["reshaped"] = a["reshaped"].reshape(6, 4)
    a["retyped/float"] = rng.standard_normal(10).astype(np.float32)
    b["retyped/float"] = a["retyped/float"].astype(np.float64)
    a["retyped/text"] = np.array([b"1", b"2"], dtype=object)
    b["retyped/text"] = np.array([1, 2], np.int32)
    a["only_in_a"] = np.ones(3, np.float32)
    b["only_in_b"] = np.ones(3, np.float32)
    a["dense/kernel/Adam"] = np.ones(3, np.float32)
    b["dense/kernel/Adam"] = np.full(3, 2, np.float32)
    a["global_step"], b["global_step"] = np.array(100, np.int64), np.array(200, np.int64)

    big = rng.standard_normal(BIG).astype(np.float32)
    big_b = big + rng.standard_normal(BIG).astype(np.float32) * 1e-3
    big_b[BIG - 10] += 5.0  # the maximum lies in the last chunk
    big[BIG // 2] = np.nan
    big_b[BIG - 3] = np.inf
    a["big"], b["big"] = big, big_b
    return a, b


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    a, b = _pair_tensors()
    directory = tmp_path_factory.mktemp("compare_pair")
    return tfc.write_with_tf(directory / "a", a), tfc.write_with_tf(directory / "b", b)


@pytest.fixture(scope="module")
def result(pair):
    with open_checkpoint(pair[0]) as a, open_checkpoint(pair[1]) as b:
        return compare_checkpoints(a, b)


def tf_read(prefix: str, name: str) -> np.ndarray:
    """The tensor as TensorFlow's own reader returns it (quantized types as plain integers)."""
    tf = tfc.import_tensorflow()
    value = np.asarray(tf.train.load_checkpoint(prefix).get_tensor(name))
    if value.dtype.names:  # qint8 and friends come back as one-field structured arrays
        value = value[value.dtype.names[0]]
    return value


def is_integer(array: np.ndarray) -> bool:
    return array.dtype.kind in "biu" or array.dtype.name.startswith(("int", "uint"))


def python_ints(array: np.ndarray) -> list[int]:
    array = np.asarray(array)
    if array.dtype != np.uint64:
        array = array.astype(np.int64)
    return [int(v) for v in array.astype(object).ravel()]


def reference(a: np.ndarray, b: np.ndarray, rtol: float = 0.0, atol: float = 0.0) -> dict:
    """The distances straight from numpy (Python integers for integer tensors)."""
    if is_integer(a) and is_integer(b):
        xs, ys = python_ints(a), python_ints(b)
        diffs = [abs(x - y) for x, y in zip(xs, ys)]
        largest = max(diffs)
        return _summaries(
            np.array(xs, np.float64),
            np.array(ys, np.float64),
            np.array(diffs, np.float64),
            largest,
            np.unravel_index(diffs.index(largest), a.shape),
            sum(x != y for x, y in zip(xs, ys)) / len(xs),
        )
    work = np.complex128 if np.iscomplexobj(a) or np.iscomplexobj(b) else np.float64
    x, y = np.asarray(a).astype(work).ravel(), np.asarray(b).astype(work).ravel()
    with np.errstate(invalid="ignore", over="ignore"):
        d = np.abs(x - y)
    finite = np.isfinite(d)
    mismatch = 1.0 - np.isclose(x, y, rtol=rtol, atol=atol, equal_nan=True).mean()
    if not finite.any():
        return {"max_abs_diff": None, "max_abs_diff_index": None, "mismatch_fraction": mismatch}
    dk = d[finite]
    at = int(np.flatnonzero(finite)[np.argmax(dk)])
    index = np.unravel_index(at, a.shape)
    return _summaries(x[finite], y[finite], dk, float(dk.max()), index, mismatch)


def _summaries(x, y, d, largest, index, mismatch_fraction) -> dict:
    norm_a, norm_b, norm_d = (float(np.linalg.norm(v)) for v in (x, y, d))
    return {
        "max_abs_diff": largest,
        "max_abs_diff_index": index,
        "mean_abs_diff": d.mean(),
        "rms_diff": math.sqrt(np.mean(d**2)),
        "rel_l2": norm_d / norm_a if norm_a else (0.0 if norm_d == 0 else None),
        "cosine": np.vdot(x, y).real / norm_a / norm_b if norm_a and norm_b else None,
        "mismatch_fraction": mismatch_fraction,
    }


def assert_matches_reference(item, expected: dict) -> None:
    d = item.distances
    assert d is not None, item.name
    assert d.max_abs_diff == expected["max_abs_diff"], item.name
    assert type(d.max_abs_diff) is type(expected["max_abs_diff"]), item.name
    assert d.mismatch_fraction == pytest.approx(expected["mismatch_fraction"], abs=1e-15)
    if expected["max_abs_diff"] is None:
        assert d.max_abs_diff_index is None and d.rel_l2 is None and d.cosine is None
        return
    assert d.max_abs_diff_index == tuple(int(i) for i in expected["max_abs_diff_index"])
    for name in ("mean_abs_diff", "rms_diff", "rel_l2", "cosine"):
        if expected[name] is None:
            assert getattr(d, name) is None, (item.name, name)
            continue
        assert getattr(d, name) == pytest.approx(expected[name], rel=1e-12, abs=1e-15), (
            item.name,
            name,
        )


NUMERIC_PAIRS = [
    "changed/weights",
    "changed/double",
    "close/double",
    "changed/half",
    "changed/bf16",
    "changed/complex",
    "ints/int64",
    "ints/uint64",
    "ints/int8",
    "ints/same",
    "flags",
    "scalar",
    "same/weights",
    "retyped/float",
    "big",
]


@pytest.mark.parametrize("name", NUMERIC_PAIRS)
def test_distances_equal_numpy_on_what_tensorflow_reads(pair, result, name):
    item = next(i for i in result.tensors if i.name == name)
    assert_matches_reference(item, reference(tf_read(pair[0], name), tf_read(pair[1], name)))


def test_statuses(result):
    status = {item.name: item.status for item in result.tensors}
    assert status["same/weights"] is Status.SAME
    assert status["ints/same"] is Status.SAME
    assert status["strings/same"] is Status.SAME
    assert status["empty"] is Status.SAME
    for name in ("changed/weights", "big", "ints/int64", "flags", "strings/changed", "scalar"):
        assert status[name] is Status.CHANGED, name
    assert status["close/double"] is Status.CHANGED  # exact by default
    assert status["reshaped"] is Status.SHAPE_CHANGED
    assert status["retyped/float"] is Status.DTYPE_CHANGED
    assert status["retyped/text"] is Status.DTYPE_CHANGED
    assert status["only_in_a"] is Status.REMOVED
    assert status["only_in_b"] is Status.ADDED
    assert result.summary == {
        "same": 4,
        "changed": 16,
        "added": 1,
        "removed": 1,
        "shape_changed": 1,
        "dtype_changed": 2,
    }
    assert not result.identical


def test_what_does_not_apply_is_none(result):
    items = {item.name: item for item in result.tensors}
    for name in ("reshaped", "only_in_a", "only_in_b", "retyped/text"):
        assert items[name].distances is None, name
    assert items["only_in_a"].b is None and items["only_in_b"].a is None
    strings = items["strings/changed"].distances
    assert strings.mismatch_fraction == 0.5 and strings.max_abs_diff is None
    empty = items["empty"].distances
    assert empty.max_abs_diff is None and empty.mismatch_fraction is None
    zeros = items["zeros"].distances  # ||a|| = 0: relative L2 and cosine are undefined
    assert zeros.rel_l2 is None and zeros.cosine is None and zeros.max_abs_diff == 1.0


def test_nan_and_inf_positions(result):
    weights = next(i for i in result.tensors if i.name == "changed/weights").distances
    # NaN vs number, +Inf vs -Inf, -Inf vs number; NaN vs NaN and Inf vs Inf are equal.
    assert weights.nonfinite_mismatches == 3
    assert weights.compared == 64 * 50 - 5
    assert weights.max_abs_diff_index == (9, 7)


def test_every_dtype_against_a_shuffled_copy(all_dtypes_ckpt, tmp_path: Path):
    shuffled = {}
    for name, value in all_dtypes_ckpt.expected.items():
        flat = np.asarray(value).reshape(-1)
        shuffled[name] = flat[::-1].reshape(np.shape(value))
    other = tfc.write_with_tf(tmp_path / "shuffled", shuffled, all_dtypes_ckpt.dtype_names)
    with open_checkpoint(all_dtypes_ckpt.prefix) as a, open_checkpoint(other) as b:
        result = compare_checkpoints(a, b)
        same = compare_checkpoints(a, a)
    assert same.identical
    for item in result.tensors:
        value_a = tf_read(all_dtypes_ckpt.prefix, item.name)
        value_b = tf_read(other, item.name)
        if value_a.dtype.kind in "OSU":
            assert item.distances.max_abs_diff is None
            unequal = np.count_nonzero(value_a.ravel() != value_b.ravel())
            assert item.distances.mismatches == unequal, item.name
        elif value_a.size == 0:
            assert item.status is Status.SAME
        else:
            assert_matches_reference(item, reference(value_a, value_b))
        flat = value_a.ravel()
        unchanged = np.array_equal(flat, flat[::-1], equal_nan=value_a.dtype.kind in "fc")
        assert (item.status is Status.SAME) == bool(unchanged), item.name


def test_tolerances_follow_numpy_isclose(pair):
    with open_checkpoint(pair[0]) as a, open_checkpoint(pair[1]) as b:
        loose = compare_checkpoints(a, b, CompareOptions(rtol=1e-6, atol=1e-3))
    items = {item.name: item for item in loose.tensors}
    assert items["close/double"].status is Status.SAME
    for name in ("changed/weights", "changed/double", "changed/complex", "big"):
        expected = reference(tf_read(pair[0], name), tf_read(pair[1], name), 1e-6, 1e-3)
        assert items[name].distances.mismatch_fraction == pytest.approx(
            expected["mismatch_fraction"], abs=1e-15
        )
    ints = items["ints/int8"].distances  # integers are compared exactly, whatever the tolerance
    assert ints.mismatches == 1
    with pytest.raises(ValueError, match="rtol"):
        CompareOptions(rtol=-1.0)
    with pytest.raises(ValueError, match="atol"):
        CompareOptions(atol=float("nan"))


def test_results_do_not_depend_on_chunking(pair, result, monkeypatch):
    monkeypatch.setattr(tensor_chunks, "CHUNK_BYTES", 4096)
    with open_checkpoint(pair[0]) as a, open_checkpoint(pair[1]) as b:
        small = compare_checkpoints(a, b)
    for coarse, fine in zip(result.tensors, small.tensors):
        assert coarse.status is fine.status
        if coarse.distances is None:
            continue
        assert coarse.distances.max_abs_diff == fine.distances.max_abs_diff
        assert coarse.distances.max_abs_diff_index == fine.distances.max_abs_diff_index
        assert coarse.distances.mismatches == fine.distances.mismatches
        for name in ("mean_abs_diff", "rms_diff", "rel_l2", "cosine"):
            expected = getattr(coarse.distances, name)
            if expected is None:
                assert getattr(fine.distances, name) is None
            else:
                assert getattr(fine.distances, name) == pytest.approx(expected, rel=1e-12)


def test_partitioned_against_plain(tf1_partitioned, tmp_path: Path, monkeypatch):
    values = {name: np.array(v) for name, v in tf1_partitioned.expected.items()}
    values["pv"][7, 2] += 1.0  # in the last of the three stored slices
    plain = tfc.write_with_tf(tmp_path / "plain", values)
    monkeypatch.setattr(tensor_chunks, "CHUNK_BYTES", 16)  # one row at a time
    with open_checkpoint(tf1_partitioned.prefix) as a, open_checkpoint(plain) as b:
        result = compare_checkpoints(a, b)
    status = {item.name: item for item in result.tensors}
    assert status["emb/cols"].status is Status.SAME
    assert status["w"].status is Status.SAME
    pv = status["pv"]
    assert pv.status is Status.CHANGED
    assert_matches_reference(pv, reference(tf_read(tf1_partitioned.prefix, "pv"), values["pv"]))
    assert pv.distances.mismatches == 1 and pv.distances.max_abs_diff_index == (7, 2)


def test_results_arrive_one_by_one_with_progress_and_cancel(pair):
    fractions: list[float] = []
    with open_checkpoint(pair[0]) as a, open_checkpoint(pair[1]) as b:
        names = [item.name for item in iter_compare(a, b, progress=fractions.append)]
        assert names == sorted(names) and len(names) == 25
        assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)

        stop = {"now": False}
        seen = []
        with pytest.raises(Cancelled):
            for item in iter_compare(a, b, cancel=lambda: stop["now"]):
                seen.append(item.name)
                stop["now"] = True
        assert len(seen) == 1


def test_release_pages_gives_back_resident_memory(tmp_path: Path):
    status = Path("/proc/self/status")
    if not status.exists() or not pages.CAN_RELEASE:
        pytest.skip("needs Linux /proc and madvise")
    from ckpt_browser.format.v2.writer import CheckpointWriter

    prefix = str(tmp_path / "big")
    with CheckpointWriter(prefix) as writer:
        writer.add("x", np.ones(8 << 20, np.float32))  # 32 MB

    def resident_file_kib() -> int:
        for line in status.read_text().splitlines():
            if line.startswith("RssFile:"):
                return int(line.split()[1])
        raise AssertionError("no RssFile line")

    with open_checkpoint(prefix) as ckpt:
        array = ckpt.read("x")
        before = resident_file_kib()
        assert float(array[::1024].sum()) == 8 << 10  # touch every page
        touched = resident_file_kib()
        pages.release_pages(array)
        released = resident_file_kib()
        assert float(array[::1024].sum()) == 8 << 10  # still readable afterwards
    assert touched - before > 24 << 10
    assert touched - released > 24 << 10


# -- what the compare view draws ------------------------------------------------------------------


def test_difference_histogram_equals_numpy(pair, result, monkeypatch):
    from ckpt_browser.core.compare import detail as compare_detail

    monkeypatch.setattr(tensor_chunks, "CHUNK_BYTES", 1 << 20)  # 12 chunks, on the pool
    monkeypatch.setattr(compare_detail, "HISTOGRAM_BLOCK", 1000)
    items = {item.name: item for item in result.tensors}
    with open_checkpoint(pair[0]) as a, open_checkpoint(pair[1]) as b:
        for name in ("big", "changed/weights", "changed/complex", "ints/int64"):
            limit = items[name].distances.max_abs_diff
            hist = compare_detail.difference_histogram(a, a[name], b, b[name], 50, limit)
            x, y = tf_read(pair[0], name), tf_read(pair[1], name)
            if np.iscomplexobj(x):
                d, low = np.abs(x.astype(np.complex128) - y.astype(np.complex128)), 0.0
            else:
                with np.errstate(invalid="ignore", over="ignore"):
                    d, low = x.astype(np.float64) - y.astype(np.float64), -float(limit)
            finite = d[np.isfinite(d)]
            counts, edges = np.histogram(finite, bins=50, range=(low, float(limit)))
            assert np.array_equal(hist.counts, counts), name
            assert np.array_equal(hist.edges, edges), name
            assert hist.nan_count == np.count_nonzero(np.isnan(d)), name
            assert hist.posinf_count + hist.neginf_count == np.count_nonzero(np.isinf(d)), name
        assert (
            compare_detail.difference_histogram(a, a["reshaped"], b, b["reshaped"], 10, 1) is None
        )
        strings = a["strings/changed"], b["strings/changed"]
        assert compare_detail.difference_histogram(a, strings[0], b, strings[1], 10, 1) is None


def test_histogram_pair_shares_bins_and_previews_large_tensors(pair, monkeypatch):
    from ckpt_browser.core.compare import detail as compare_detail

    monkeypatch.setattr(compare_detail, "PREVIEW_THRESHOLD", 1000)
    previews = []
    with open_checkpoint(pair[0]) as a, open_checkpoint(pair[1]) as b:
        hists = compare_detail.histogram_pair(
            a, a["big"], b, b["big"], 64, on_preview=previews.append
        )
        only_b = compare_detail.histogram_pair(None, None, b, b["only_in_b"], 8)
    x, y = tf_read(pair[0], "big"), tf_read(pair[1], "big")
    x, y = x[np.isfinite(x)], y[np.isfinite(y)]
    shared = (float(min(x.min(), y.min())), float(max(x.max(), y.max())))
    assert np.array_equal(hists.a.edges, hists.b.edges)
    assert np.array_equal(hists.a.counts, np.histogram(x, bins=64, range=shared)[0])
    assert np.array_equal(hists.b.counts, np.histogram(y, bins=64, range=shared)[0])
    assert hists.a.nan_count == 1 and hists.b.posinf_count == 1
    assert len(previews) == 1 and not previews[0].a.exact
    assert np.array_equal(previews[0].a.edges, hists.a.edges)
    assert only_b.a is None and int(only_b.b.counts.sum()) == 3


def test_read_slices_same_slice_of_both_and_their_difference(pair, monkeypatch):
    from ckpt_browser.core.compare import detail as compare_detail
    from ckpt_browser.core.tensor.slicing import SliceSpec

    x, y = tf_read(pair[0], "changed/weights"), tf_read(pair[1], "changed/weights")
    with open_checkpoint(pair[0]) as a, open_checkpoint(pair[1]) as b:
        name = "changed/weights"
        spec = SliceSpec(1, 0, {})  # transposed: columns down the rows
        full = compare_detail.read_slices(a, a[name], b, b[name], spec)
        assert full.shape_a == (50, 64) and full.downsampling == "mean"
        assert np.array_equal(full.a, x.T, equal_nan=True)
        with np.errstate(invalid="ignore"):
            expected = x.T.astype(np.float64) - y.T.astype(np.float64)
        assert np.array_equal(full.difference, expected, equal_nan=True)

        monkeypatch.setattr(compare_detail, "BLOCK_MEAN_MAX_CELLS", 100)
        strided = compare_detail.read_slices(a, a[name], b, b[name], spec, max_pixels=(10, 20))
        assert strided.downsampling == "stride" and strided.shape_a == (50, 64)
        assert np.array_equal(strided.a, x.T[::5, ::4], equal_nan=True)
        assert np.array_equal(strided.difference, expected[::5, ::4], equal_nan=True)

        reshaped = compare_detail.read_slices(a, a["reshaped"], b, b["reshaped"], None)
        assert reshaped.a.shape == (4, 6) and reshaped.b.shape == (6, 4)
        assert reshaped.difference is None


def test_many_small_tensors_give_their_pages_back(tmp_path: Path, monkeypatch):
    status = Path("/proc/self/status")
    if not status.exists() or not pages.CAN_RELEASE:
        pytest.skip("needs Linux /proc and madvise")
    from ckpt_browser.format.v2.writer import CheckpointWriter

    prefix = str(tmp_path / "small")
    with CheckpointWriter(prefix) as writer:
        for i in range(512):  # 512 tensors of 64 KB: 32 MB, each far below a chunk
            writer.add(f"t{i:03d}", np.full(16384, i, np.float32))

    def resident_file_kib() -> int:
        line = next(x for x in status.read_text().splitlines() if x.startswith("RssFile:"))
        return int(line.split()[1])

    monkeypatch.setattr(tensor_chunks, "BATCH_RELEASE_BYTES", 4 << 20)
    with open_checkpoint(prefix) as a, open_checkpoint(prefix) as b:
        before = resident_file_kib()
        peak = before
        for item in iter_compare(a, b):
            assert item.status is Status.SAME
            peak = max(peak, resident_file_kib())
    # Both sides touch 64 MB in all; released every 4 MB, at most a few batches stay mapped.
    assert peak - before < 16 << 10
