"""The timeline's lean kernel gives the comparison's own sums: the relative change and cosine a
run's timeline shows are the numbers `diff` would give for the same pair."""

from __future__ import annotations

import numpy as np
import pytest

from ckpt_browser.core.tensor.distances import FLOAT, finish, kernel_for, sums_kernel

SUMS = ("elements", "compared", "sum_sq_diff", "sum_sq_a", "sum_sq_b", "sum_ab")


def _pair(case: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    a = rng.standard_normal(100_003).astype(np.float32)  # several blocks and a short last one
    b = a + np.float32(0.01) * rng.standard_normal(a.size).astype(np.float32)
    if case == "nan":
        a[5], b[99_000] = np.nan, np.nan
    elif case == "inf":
        a[3], b[70_000] = -np.inf, np.inf
    elif case == "overflow":  # finite values whose squares overflow float64
        a, b = a.astype(np.float64) * 1e300, b.astype(np.float64) * 1e300
    elif case == "float16":
        a, b = a.astype(np.float16), b.astype(np.float16)
    return a, b


@pytest.mark.parametrize("case", ["plain", "nan", "inf", "overflow", "float16"])
def test_the_lean_sums_equal_the_comparisons(case):
    a, b = _pair(case)
    full = kernel_for(a.dtype, b.dtype, 0.0, 0.0)(a, b, 0)
    lean = sums_kernel(a.dtype, b.dtype)(a, b, 0)
    for field in SUMS:
        np.testing.assert_equal(getattr(lean, field), getattr(full, field), err_msg=field)
    ours, theirs = finish(lean, a.shape, FLOAT), finish(full, a.shape, FLOAT)
    assert (ours.rel_l2, ours.cosine) == (theirs.rel_l2, theirs.cosine)
    if case in ("nan", "inf"):
        assert lean.compared == a.size - 2


def test_other_dtypes_use_the_comparisons_kernel():
    ints = np.arange(10, dtype=np.int32)
    part = sums_kernel(ints.dtype, ints.dtype)(ints, ints + 1, 0)
    assert part.sum_sq_diff == 10 and part.mismatches == 10
