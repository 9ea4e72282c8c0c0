"""What the compare view draws for tensors of one axis or none: all their points, as lines, and
their difference; TensorFlow writes the checkpoints and reads the values back as the oracle."""

from __future__ import annotations

import numpy as np
import pytest
import tf_checkpoints as tfc

from ckpt_browser.core.compare import detail as compare_detail
from ckpt_browser.format import open_checkpoint


@pytest.fixture(scope="module")
def line_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    rng = np.random.default_rng(11)
    a = {
        "bias": rng.standard_normal(250).astype(np.float32),
        "scalar": np.array(1.5, np.float32),
        "grown": np.arange(5, dtype=np.float32),
        "only_a": np.ones(4, np.float32),
        "flags": np.array([True, False, True]),
        "kernel": rng.standard_normal((3, 4)).astype(np.float32),
    }
    b = dict(a)
    b["bias"] = a["bias"] + rng.standard_normal(250).astype(np.float32) * 0.1
    b["scalar"] = np.array(2.0, np.float32)
    b["grown"] = np.arange(6, dtype=np.float32)
    del b["only_a"]
    b["flags"] = np.array([True, True, False])
    directory = tmp_path_factory.mktemp("compare_lines")
    return tfc.write_with_tf(directory / "a", a), tfc.write_with_tf(directory / "b", b)


def tf_read(prefix: str, name: str) -> np.ndarray:
    return np.asarray(tfc.import_tensorflow().train.load_checkpoint(prefix).get_tensor(name))


def test_one_axis_gives_every_point_and_the_difference(line_pair):
    x, y = tf_read(line_pair[0], "bias"), tf_read(line_pair[1], "bias")
    with open_checkpoint(line_pair[0]) as a, open_checkpoint(line_pair[1]) as b:
        lines = compare_detail.read_slices(a, a["bias"], b, b["bias"], None)
    assert lines.lines and lines.shape_a == lines.shape_b == (250,)
    assert np.array_equal(lines.a, x) and np.array_equal(lines.b, y)
    assert np.array_equal(lines.difference, x.astype(np.float64) - y.astype(np.float64))


def test_scalars_bools_and_lengths_that_differ(line_pair):
    with open_checkpoint(line_pair[0]) as a, open_checkpoint(line_pair[1]) as b:
        scalar = compare_detail.read_slices(a, a["scalar"], b, b["scalar"], None)
        grown = compare_detail.read_slices(a, a["grown"], b, b["grown"], None)
        only_a = compare_detail.read_slices(a, a["only_a"], b, None, None)
        flags = compare_detail.read_slices(a, a["flags"], b, b["flags"], None)
        kernel = compare_detail.read_slices(a, a["kernel"], b, b["kernel"], None)
    assert scalar.lines and scalar.a.tolist() == [1.5] and scalar.difference.tolist() == [-0.5]
    assert grown.lines and grown.shape_a == (5,) and grown.shape_b == (6,)
    assert grown.b.tolist() == [0, 1, 2, 3, 4, 5] and grown.difference is None
    assert only_a.lines and only_a.a.tolist() == [1, 1, 1, 1] and only_a.b is None
    assert flags.lines and flags.a.tolist() == [1, 0, 1] and flags.difference.tolist() == [0, -1, 1]
    assert not kernel.lines and kernel.a.shape == (3, 4)  # two axes: a heatmap


def test_long_lines_are_shrunk_to_block_means(line_pair, monkeypatch):
    monkeypatch.setattr(compare_detail, "LINE_MAX_POINTS", 100)
    x, y = tf_read(line_pair[0], "bias"), tf_read(line_pair[1], "bias")
    with open_checkpoint(line_pair[0]) as a, open_checkpoint(line_pair[1]) as b:
        lines = compare_detail.read_slices(a, a["bias"], b, b["bias"], None)
    assert lines.shape_a == (250,) and lines.downsampling == "mean"
    assert len(lines.a) == 84  # blocks of 3: ceil(250 / 100) values each
    assert lines.a[0] == pytest.approx(x[:3].mean(), rel=1e-6)
    difference = x.astype(np.float64) - y.astype(np.float64)
    assert lines.difference[-1] == pytest.approx(difference[249], rel=1e-9)
