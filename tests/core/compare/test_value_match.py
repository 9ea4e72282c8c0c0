"""Pairing by value: only a tensor with exactly one equal on the other side is paired."""

from __future__ import annotations

import numpy as np

from ckpt_browser.core.compare.alignment import align
from ckpt_browser.core.compare.value_match import PAIRED, pair_by_value
from ckpt_browser.format import TensorInfo, TensorKind
from ckpt_browser.format.dtypes import from_numpy


class _Arrays(dict):
    """A checkpoint made of arrays: the Mapping of infos and `read`."""

    def __init__(self, **arrays: np.ndarray) -> None:
        self.arrays = arrays
        super().__init__(
            {
                name: TensorInfo(
                    name=name,
                    dtype=from_numpy(value.dtype),
                    shape=value.shape,
                    nbytes=value.nbytes,
                    shard=0,
                    kind=TensorKind.VARIABLE,
                    readable_name=name,
                )
                for name, value in arrays.items()
            }
        )

    def read(self, name: str, index=None) -> np.ndarray:
        return self.arrays[name]


def test_unique_equal_values_are_paired_and_ambiguous_ones_are_not():
    kernel = np.arange(6, dtype=np.float32).reshape(2, 3)
    zeros = np.zeros(3, np.float32)
    a = _Arrays(kernel=kernel, bias=zeros, beta=zeros.copy(), same=np.ones(2, np.float32))
    b = _Arrays(
        Cast=kernel.copy(),  # the one tensor equal to `kernel`
        Cast_1=zeros.copy(),  # equal to two tensors of A: which one is unknowable
        other=kernel.T.copy(),  # same values, other shape: not a match
        same=np.ones(2, np.float32),
    )
    pairs = pair_by_value(a, b, align(a, b))
    names = {pair.name: (pair.a and pair.a.name, pair.b and pair.b.name) for pair in pairs}
    assert names[f"kernel{PAIRED}Cast"] == ("kernel", "Cast")
    assert names["same"] == ("same", "same")
    assert names["bias"] == ("bias", None) and names["beta"] == ("beta", None)
    assert names["Cast_1"] == (None, "Cast_1") and names["other"] == (None, "other")
    assert [pair.name for pair in pairs] == sorted(names)
