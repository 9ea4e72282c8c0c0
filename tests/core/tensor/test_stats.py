"""Statistics, histograms and quantiles against numpy, on the direct and the chunked paths."""

from __future__ import annotations

import math

import ml_dtypes
import numpy as np
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ckpt_browser.core.tensor import chunked, fine_histogram, quantiles, stats
from ckpt_browser.core.tensor.stats import (
    QUANTILE_PERCENTS,
    Cancelled,
    analyze,
    compute_quantiles,
    compute_stats,
    histogram,
    quick_histogram,
)


@pytest.fixture(params=["direct", "chunked"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test as is, and again with tiny chunks, blocks and pivot sets, so that small arrays
    go through the threaded, multi-block and pivot-and-gap code that big tensors take."""
    if request.param == "chunked":
        monkeypatch.setattr(chunked, "CHUNK_ELEMENTS", 64)
        monkeypatch.setattr(chunked, "BLOCK_ELEMENTS", 16)
        monkeypatch.setattr(quantiles, "DIRECT_QUANTILE_LIMIT", 0)
        monkeypatch.setattr(quantiles, "PIVOT_SAMPLE", 40)
        monkeypatch.setattr(quantiles, "PIVOTS_PER_QUANTILE", 3)
        monkeypatch.setattr(chunked, "WORKERS", 2)
    return request.param


def finite_of(values: np.ndarray) -> np.ndarray:
    return values[np.isfinite(values)]


def reference_moments(values: np.ndarray) -> tuple[float, float, float]:
    """Mean, population std and L2 norm from correctly rounded sums."""
    x = [float(v) for v in values.ravel()]
    mean = math.fsum(x) / len(x)
    variance = math.fsum((v - mean) ** 2 for v in x) / len(x)
    return mean, math.sqrt(variance), math.sqrt(math.fsum(v * v for v in x))


def assert_moments(result: stats.TensorStats, values: np.ndarray) -> None:
    mean, std, norm = reference_moments(values)
    assert result.mean == pytest.approx(mean, rel=1e-12, abs=1e-12 * (std + abs(mean)))
    assert result.std == pytest.approx(std, rel=1e-12, abs=1e-300)
    assert result.l2_norm == pytest.approx(norm, rel=1e-12)


def test_float32_with_specials(path: str) -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(3.0, 2.0, size=5000).astype(np.float32)
    values[[3, 400, 4999]] = np.nan
    values[[10, 11]] = np.inf
    values[20] = -np.inf
    values[[30, 31, 32]] = 0.0
    values[33] = -0.0
    result = compute_stats(values)
    finite = finite_of(values)
    assert (result.count, result.finite_count) == (5000, finite.size)
    assert (result.nan_count, result.posinf_count, result.neginf_count) == (3, 2, 1)
    assert result.zero_count == 4
    assert result.min == float(finite.min()) and result.max == float(finite.max())
    assert isinstance(result.min, float)
    assert_moments(result, finite)
    expected = np.percentile(finite, QUANTILE_PERCENTS).tolist()
    assert list(result.quantiles) == list(QUANTILE_PERCENTS)
    assert list(result.quantiles.values()) == expected  # bit for bit, numpy's 'linear' method
    assert result.measure == "value" and not result.of_magnitude


def test_float64_and_a_mean_far_from_zero(path: str) -> None:
    values = 1e9 + np.random.default_rng(2).normal(size=3000)
    result = compute_stats(values)
    assert_moments(result, values)  # no cancellation: variance is ~1, values ~1e9
    assert list(result.quantiles.values()) == np.percentile(values, QUANTILE_PERCENTS).tolist()


def test_huge_float64_values_do_not_overflow_the_mean(path: str) -> None:
    values = np.array([1.5e308, 1.7e308, 1.6e308] * 30)
    result = compute_stats(values)
    assert result.mean == pytest.approx(1.6e308, rel=1e-12)  # their sum overflows float64
    assert result.std == np.inf  # the variance, ~7e613, has no float64 either
    assert result.nan_count == result.posinf_count == 0


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint64])
def test_integers_keep_exact_min_and_max(path: str, dtype: type) -> None:
    info = np.iinfo(dtype)
    rng = np.random.default_rng(3)
    values = rng.integers(info.min, info.max, size=700, dtype=dtype, endpoint=True)
    values[[5, 6]] = [info.min, info.max]
    values[7:12] = 0
    result = compute_stats(values)
    assert result.min == int(info.min) and result.max == int(info.max)
    assert isinstance(result.min, int) and isinstance(result.max, int)
    assert result.zero_count == int(np.count_nonzero(values == 0))
    assert result.finite_count == values.size and result.nan_count == 0
    assert_moments(result, values.astype(np.float64))
    # Integers interpolate in float64: np.quantile on int8 itself overflows in its subtraction.
    expected = np.percentile(values.astype(np.float64), QUANTILE_PERCENTS).tolist()
    assert list(result.quantiles.values()) == expected


def test_bool(path: str) -> None:
    values = np.array([True, False, True, True] * 50)
    result = compute_stats(values)
    assert (result.min, result.max, result.zero_count) == (0, 1, 50)
    assert result.mean == pytest.approx(0.75)
    assert histogram(values, 2).counts.tolist() == [50, 150]


@pytest.mark.parametrize(
    "dtype", [np.float16, ml_dtypes.bfloat16, ml_dtypes.float8_e4m3fn, ml_dtypes.float8_e5m2]
)
def test_low_precision_floats_are_measured_in_float32(path: str, dtype: type) -> None:
    rng = np.random.default_rng(4)
    values = rng.normal(size=(30, 40)).astype(dtype)
    as_float32 = values.astype(np.float32)
    if np.dtype(dtype).name != "float8_e4m3fn":  # that one has no infinity
        values[0, :3] = np.array([np.nan, np.inf, -np.inf]).astype(dtype)
        as_float32 = values.astype(np.float32)
    result = compute_stats(values)
    finite = finite_of(as_float32)
    assert result.nan_count == int(np.isnan(as_float32).sum())
    assert result.min == float(finite.min()) and result.max == float(finite.max())
    assert_moments(result, finite)
    assert list(result.quantiles.values()) == np.percentile(finite, QUANTILE_PERCENTS).tolist()
    exact = histogram(values, 37, stats=result)
    reference_counts, reference_edges = np.histogram(finite, 37)
    assert exact.counts.tolist() == reference_counts.tolist()
    assert exact.edges.dtype == np.float32 and np.array_equal(exact.edges, reference_edges)


def test_int4_is_measured_as_int8(path: str) -> None:
    values = np.array([-8, -1, 0, 3, 7, 7], dtype=np.int8).astype(ml_dtypes.int4)
    result = compute_stats(values)
    assert (result.min, result.max, result.zero_count) == (-8, 7, 1)
    counts, _ = np.histogram(values.astype(np.int8), 5)
    assert histogram(values, 5).counts.tolist() == counts.tolist()


def test_complex_measures_the_magnitude(path: str) -> None:
    rng = np.random.default_rng(5)
    values = (rng.normal(size=500) + 1j * rng.normal(size=500)).astype(np.complex64)
    values[0] = complex(np.nan, 1.0)
    values[1] = 0
    result = compute_stats(values)
    magnitude = np.abs(values)
    assert result.of_magnitude and result.measure == "magnitude"
    assert (result.nan_count, result.zero_count) == (1, 1)
    assert result.max == float(finite_of(magnitude).max())
    assert_moments(result, finite_of(magnitude))
    assert histogram(values, 10).measure == "magnitude"


def test_strings_measure_byte_lengths(path: str) -> None:
    values = np.array([b"", b"abc", b"\xff\x00", b"x" * 300, b"hello"] * 20, dtype=object)
    result = compute_stats(values)
    lengths = np.array([len(v) for v in values])
    assert result.measure == "length" and result.l2_norm is None
    assert (result.count, result.min, result.max, result.zero_count) == (100, 0, 300, 20)
    assert result.mean == pytest.approx(lengths.mean())
    assert list(result.quantiles.values()) == np.percentile(lengths, QUANTILE_PERCENTS).tolist()


@pytest.mark.parametrize("values", [np.zeros(0, np.float32), np.full(100, np.nan, np.float32)])
def test_nothing_finite(path: str, values: np.ndarray) -> None:
    result = compute_stats(values)
    assert result.finite_count == 0 and result.nan_count == values.size
    assert result.min is result.max is result.mean is result.std is result.l2_norm is None
    assert result.quantiles == {}
    exact = histogram(values, 10)
    reference_counts, reference_edges = np.histogram(values[:0], 10)  # numpy: bins over 0..1
    assert exact.counts.tolist() == reference_counts.tolist()
    assert np.array_equal(exact.edges, reference_edges)
    assert exact.nan_count == values.size


def test_all_equal_values(path: str) -> None:
    values = np.full(500, 2.5, dtype=np.float32)
    result = compute_stats(values)
    assert (result.min, result.max, result.std) == (2.5, 2.5, 0.0)
    assert set(result.quantiles.values()) == {2.5}
    exact = histogram(values, 10, stats=result)
    reference_counts, reference_edges = np.histogram(values, 10)  # numpy widens to 2.0..3.0
    assert exact.counts.tolist() == reference_counts.tolist()
    assert np.array_equal(exact.edges, reference_edges)


def test_scalar() -> None:
    result = compute_stats(np.array(-7, dtype=np.int64))
    assert (result.count, result.min, result.max, result.mean, result.std) == (1, -7, -7, -7, 0)
    assert result.quantiles == dict.fromkeys(QUANTILE_PERCENTS, -7.0)


def test_value_on_the_last_edge_is_in_the_last_bin(path: str) -> None:
    values = np.array([0.0, 0.25, 0.5, 1.0, 1.0, 1.0000001, -0.1, np.inf], dtype=np.float32)
    exact = histogram(values, 4, value_range=(0.0, 1.0))
    reference_counts, reference_edges = np.histogram(finite_of(values), 4, range=(0.0, 1.0))
    assert exact.counts.tolist() == reference_counts.tolist() == [1, 1, 1, 2]
    assert np.array_equal(exact.edges, reference_edges)
    assert (exact.outside_count, exact.posinf_count) == (2, 1)


def test_int8_histogram(path: str) -> None:
    values = np.arange(-128, 128, dtype=np.int8).repeat(3)
    for bins in (1, 7, 100, 256, 300):
        counts, edges = np.histogram(values, bins)
        exact = histogram(values, bins)
        assert exact.counts.tolist() == counts.tolist()
        assert exact.edges.dtype == edges.dtype and np.array_equal(exact.edges, edges)


def test_a_range_too_narrow_for_float32_edges_falls_back_to_float64() -> None:
    low = np.float32(1.0)
    values = np.array([low, np.nextafter(low, np.float32(2))] * 5, dtype=np.float32)
    with pytest.raises(ValueError, match="Too many bins"):
        np.histogram(values, 50)
    exact = histogram(values, 50)
    assert exact.edges.dtype == np.float64
    counts, _ = np.histogram(values.astype(np.float64), exact.edges)
    assert exact.counts.tolist() == counts.tolist() and exact.counts.sum() == values.size


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="bins"):
        histogram(np.ones(3), 0)
    with pytest.raises(ValueError, match="range"):
        histogram(np.ones(3), 3, value_range=(2.0, 1.0))
    with pytest.raises(ValueError, match="percents"):
        compute_quantiles(np.ones(3), [101])


@pytest.mark.parametrize(
    "values",
    [
        np.random.default_rng(8).normal(size=3000).astype(np.float32),
        np.concatenate([np.zeros(2000), [np.nan, -np.inf, 5.0, -2.0]]),
        np.random.default_rng(9).integers(-5, 5, size=999).astype(np.int16),
        np.full(10, np.nan),
    ],
)
def test_analyze_equals_stats_and_histogram(path: str, values: np.ndarray) -> None:
    seen: list[float] = []
    both = analyze(values, 30, progress=seen.append)
    assert both[0] == compute_stats(values)
    separate = histogram(values, 30)
    assert both[1].counts.tolist() == separate.counts.tolist()
    assert np.array_equal(both[1].edges, separate.edges)
    assert both[1].nan_count == separate.nan_count and both[1].total == values.size
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0)
    assert analyze(values, 5, percents=())[0].quantiles == {}


def test_progress_and_cancel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chunked, "CHUNK_ELEMENTS", 1000)
    values = np.random.default_rng(6).normal(size=20_000).astype(np.float32)
    seen: list[float] = []
    compute_stats(values, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0) and len(seen) > 20
    calls = []

    def cancel_after_three() -> bool:
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(Cancelled):
        histogram(values, 10, cancel=cancel_after_three)
    with pytest.raises(Cancelled):
        compute_stats(values, cancel=lambda: True)


def test_quick_histogram_samples_big_arrays() -> None:
    values = np.random.default_rng(7).normal(size=50_000).astype(np.float32)
    quick = quick_histogram(values, 20, sample=5000)
    assert not quick.exact and quick.total == 50_000
    assert 4000 <= quick.counted <= 5000 and quick.counts.sum() == quick.counted
    small = quick_histogram(values[:100], 20, sample=5000)
    assert small.exact and small.counts.tolist() == np.histogram(values[:100], 20)[0].tolist()


floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.floats(-1e3, 1e3, width=32),
    st.sampled_from([0.0, -0.0, 1.0, 1.5, np.nan]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=hnp.arrays(
        st.sampled_from([np.float32, np.float64]), st.integers(0, 300), elements=floats
    ),
    bins=st.integers(1, 300),
    in_chunks=st.booleans(),
)
def test_histogram_equals_numpy(values: np.ndarray, bins: int, in_chunks: bool) -> None:
    with pytest.MonkeyPatch.context() as patch:
        if in_chunks:
            patch.setattr(chunked, "CHUNK_ELEMENTS", 32)
            patch.setattr(chunked, "BLOCK_ELEMENTS", 8)
        exact = histogram(values, bins)
    finite = finite_of(values)
    assert exact.nan_count == int(np.isnan(values).sum())
    assert exact.posinf_count == int((values == np.inf).sum())
    assert exact.neginf_count == int((values == -np.inf).sum())
    try:
        counts, edges = np.histogram(finite, bins)
    except ValueError:  # numpy cannot make that many edges in this precision; we use float64
        counts, edges = np.histogram(finite.astype(np.float64), exact.edges)
    assert np.array_equal(exact.edges, edges) and exact.edges.dtype == edges.dtype
    assert exact.counts.tolist() == counts.tolist()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=hnp.arrays(np.float32, st.integers(0, 200), elements=floats),
    ends=st.tuples(st.floats(-1e3, 1e3), st.floats(-1e3, 1e3)).map(sorted),
    bins=st.integers(1, 50),
)
def test_histogram_with_a_range_equals_numpy(values: np.ndarray, ends: list, bins: int) -> None:
    value_range = (ends[0], ends[1])
    finite = finite_of(values)
    try:
        counts, edges = np.histogram(finite, bins, range=value_range)
    except ValueError:  # a range too narrow for float32 edges: ours are float64 then
        exact = histogram(values, bins, value_range=value_range)
        counts, edges = np.histogram(finite.astype(np.float64), exact.edges)
    else:
        exact = histogram(values, bins, value_range=value_range)
    assert np.array_equal(exact.edges, edges)
    assert exact.counts.tolist() == counts.tolist()
    assert exact.outside_count == finite.size - int(counts.sum())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=hnp.arrays(
        st.sampled_from([np.float32, np.float64]), st.integers(1, 400), elements=floats
    ),
    percents=st.lists(st.floats(0, 100), min_size=1, max_size=6, unique=True),
)
def test_chunked_quantiles_equal_numpy(values: np.ndarray, percents: list[float]) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(chunked, "CHUNK_ELEMENTS", 50)
        patch.setattr(chunked, "BLOCK_ELEMENTS", 16)
        patch.setattr(quantiles, "DIRECT_QUANTILE_LIMIT", 0)
        patch.setattr(quantiles, "PIVOT_SAMPLE", 30)
        patch.setattr(quantiles, "PIVOTS_PER_QUANTILE", 2)
        result = compute_quantiles(values, percents)
    finite = finite_of(values)
    if finite.size == 0:
        assert result == {}
    else:
        assert list(result.values()) == np.percentile(finite, percents).tolist()


def test_arrays_read_from_a_tensorflow_checkpoint(all_dtypes_ckpt) -> None:
    from ckpt_browser.format import open_checkpoint

    with open_checkpoint(all_dtypes_ckpt.prefix) as ckpt:
        for name, expected in all_dtypes_ckpt.expected.items():
            info = ckpt[name]
            result = compute_stats(ckpt.read(name))
            assert result.count == expected.size, name
            if info.dtype.is_string or expected.size == 0:
                continue
            measured = np.asarray(expected)
            if measured.dtype.kind == "c":
                measured = np.abs(measured)
            elif measured.dtype.kind in "biu" or info.dtype.name.startswith(("int", "uint")):
                measured = measured.astype(np.float64)
            else:
                measured = measured.astype(np.float32 if measured.itemsize < 4 else measured.dtype)
            finite = finite_of(measured)
            assert result.finite_count == finite.size, name
            if finite.size:
                assert result.min == finite.min() and result.max == finite.max(), name
                assert list(result.quantiles.values()) == pytest.approx(
                    np.percentile(finite, QUANTILE_PERCENTS).tolist(), rel=1e-15
                ), name


crowded_values = st.one_of(
    st.floats(-1e3, 1e3, width=32),
    st.sampled_from([0.0, -0.0, 0.0, 0.0, 1.0, 1e-30, -1e-30, np.inf, -np.inf, np.nan]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=hnp.arrays(
        st.sampled_from([np.float32, np.float64]), st.integers(1, 400), elements=crowded_values
    ),
    as_integers=st.booleans(),
    bins=st.integers(1, 40),
    fine_bins=st.sampled_from([1, 2, 7, 64]),
    collect_limit=st.sampled_from([0, 3, 50, 1 << 21]),
)
def test_histogram_and_quantiles_stay_exact_when_values_crowd_into_fine_bins(
    values: np.ndarray, as_integers: bool, bins: int, fine_bins: int, collect_limit: int
) -> None:
    """Few fine bins and a small collection limit: bins too crowded to collect, zeros left out
    of a crowded bin, ranks among distinct crowded values (left to the pivot search)."""
    if as_integers:
        values = np.nan_to_num(values.astype(np.float64), posinf=7, neginf=-7).astype(np.int16)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(chunked, "CHUNK_ELEMENTS", 50)
        patch.setattr(chunked, "BLOCK_ELEMENTS", 16)
        patch.setattr(quantiles, "DIRECT_QUANTILE_LIMIT", 0)
        patch.setattr(fine_histogram, "FINE_BINS", fine_bins)
        patch.setattr(fine_histogram, "COLLECT_LIMIT", collect_limit)
        result, exact = analyze(values, bins)
    finite = finite_of(values) if values.dtype.kind == "f" else values.astype(np.float64)
    try:
        counts, edges = np.histogram(
            finite_of(values) if values.dtype.kind == "f" else values, bins
        )
    except ValueError:  # numpy has no edges for the range (0 to 1e-45 in float32): no oracle
        reject()
    assert exact.counts.tolist() == counts.tolist() and np.array_equal(exact.edges, edges)
    if finite.size == 0:
        assert result.quantiles == {}
    else:
        expected = np.percentile(finite, QUANTILE_PERCENTS).tolist()
        assert list(result.quantiles.values()) == expected


def test_a_mostly_zero_tensor_needs_no_pivot_search(monkeypatch: pytest.MonkeyPatch) -> None:
    values = np.zeros(200_000, dtype=np.float32)
    values[::97] = np.random.default_rng(3).standard_normal(values[::97].size)
    monkeypatch.setattr(quantiles, "DIRECT_QUANTILE_LIMIT", 0)
    monkeypatch.setattr(fine_histogram, "COLLECT_LIMIT", 10_000)  # the zero bin is crowded

    def no_search(*args, **kwargs):
        raise AssertionError("the pivot search ran")

    monkeypatch.setattr(stats, "quantiles_of", no_search)
    result, exact = analyze(values, 50)
    assert list(result.quantiles.values()) == np.percentile(values, QUANTILE_PERCENTS).tolist()
    assert exact.counts.tolist() == np.histogram(values, 50)[0].tolist()


def test_a_histogram_is_one_pass_after_the_statistics(monkeypatch: pytest.MonkeyPatch) -> None:
    values = np.random.default_rng(4).standard_normal(300_000).astype(np.float32)
    passes = []
    run_chunks = chunked.run_chunks
    monkeypatch.setattr(chunked, "run_chunks", lambda *a: passes.append(1) or run_chunks(*a))
    result = compute_stats(values, quantiles=False)
    assert len(passes) == 1
    exact = histogram(values, 100, stats=result)
    assert len(passes) == 2  # the counting pass collects the few values next to the edges
    assert exact.counts.tolist() == np.histogram(values, 100)[0].tolist()


def test_values_crowding_onto_the_edges_are_still_counted_exactly() -> None:
    values = np.repeat(np.array([-1.5, 2.25, 0.5], dtype=np.float32), [50_000, 50_000, 7])
    values[::1000] = np.linspace(-1.5, 2.25, values[::1000].size, dtype=np.float32)
    result, exact = analyze(values, 30)
    assert exact.counts.tolist() == np.histogram(values, 30)[0].tolist()
    assert list(result.quantiles.values()) == np.percentile(values, QUANTILE_PERCENTS).tolist()
