"""The tensor view's model: sampled estimates, and the bounded cache of exact results."""

from __future__ import annotations

import numpy as np

from ckpt_browser.core.tensor.analysis import (
    Analysis,
    AnalysisCache,
    analyse_tensor,
    quick_preview,
    source_identity,
)
from ckpt_browser.core.tensor.stats import analyze


def test_the_cache_keeps_the_recent_results_within_its_bounds() -> None:
    values = np.arange(1000, dtype=np.float32)
    small = Analysis(*analyze(values, 10))
    cache = AnalysisCache(max_entries=3, max_bytes=1 << 20)
    keys = [cache.key(_Source(f"/nowhere/{i}"), "w", 10) for i in range(5)]
    for key in keys:
        cache.put(key, small)
    assert len(cache) == 3
    assert cache.get(keys[0]) is None and cache.get(keys[4]) is small
    cache.get(keys[2])  # used lately: kept when the next one comes
    cache.put(cache.key(_Source("/nowhere/5"), "w", 10), small)
    assert cache.get(keys[2]) is small and cache.get(keys[3]) is None

    many_bins = Analysis(*analyze(values, 10_000))  # ~120 KB of counts and edges
    by_size = AnalysisCache(max_entries=100, max_bytes=300_000)
    for i in range(5):
        by_size.put(by_size.key(_Source(f"/b/{i}"), "w", 10_000), many_bins)
    assert len(by_size) == 2 and by_size.nbytes <= 300_000


def test_a_rewritten_file_has_another_identity(tmp_path) -> None:
    prefix = str(tmp_path / "model")
    for suffix in (".index", ".data-00000-of-00001"):
        (tmp_path / f"model{suffix}").write_bytes(b"x" * 10)
    source = _Source(prefix, [prefix + ".data-00000-of-00001"])
    before = source_identity(source)
    assert source_identity(source) == before
    (tmp_path / "model.data-00000-of-00001").write_bytes(b"y" * 11)
    assert source_identity(source) != before
    assert source_identity(object()) is None  # no files: never cached


def test_the_preview_estimates_from_a_sample_and_says_so() -> None:
    values = np.random.default_rng(5).standard_normal(400_000).astype(np.float32)
    values[::100] = 0
    preview = quick_preview(values, 50, sample=20_000)
    assert 19_000 <= preview.sample_size <= 20_000 and not preview.histogram.exact
    assert preview.stats.count == values.size and preview.histogram.total == values.size
    assert abs(preview.stats.zero_count - values.size // 100) < values.size // 200
    assert abs(preview.stats.mean - float(values.mean())) < 0.05
    published = []
    exact = analyse_tensor(lambda: values, 50, publish=published.append)
    assert published == []  # below the preview threshold: straight to the exact results
    assert exact.histogram.exact and exact.stats == analyze(values, 50)[0]


class _Source:
    def __init__(self, prefix: str, data: list[str] | None = None) -> None:
        self.prefix = prefix
        self._data = data or []

    def files(self) -> list[str]:
        return [self.prefix + ".index", *self._data]


def test_the_preview_measures_what_the_exact_results_measure() -> None:
    words = np.array([b"a" * (i % 7) for i in range(50_000)], dtype=object)
    preview = quick_preview(words, 10, sample=5_000)
    assert preview.stats.measure == "length" and preview.stats.l2_norm is None
    assert preview.stats.max == 6 and preview.histogram.measure == "length"
    phases = np.exp(1j * np.linspace(0, 6, 50_000)).astype(np.complex64) * 2
    assert quick_preview(phases, 10, sample=5_000).stats.measure == "magnitude"
