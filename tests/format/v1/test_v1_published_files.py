"""V1 checkpoints TensorFlow Serving published in 2016, read as TensorFlow reads them.

Files we did not make: two `half_plus_two` exports (`y = 0.5 * x + 2`), one a single V1 file and
one a sharded set of one file, each with the `.meta` graph beside it (see tests/data/README.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tf_checkpoints import import_tensorflow

from ckpt_browser.format import open_checkpoint
from ckpt_browser.format.graph.reader import find_graph, load_graph

DATA = Path(__file__).resolve().parents[2] / "data" / "tf_serving_v1"
EXPORTS = {
    "single file": (DATA / "half_plus_two" / "00000123" / "export", "export"),
    "sharded set": (
        DATA / "session_bundle_half_plus_two" / "00000123" / "export-00000-of-00001",
        "export-?????-of-00001",
    ),
}


@pytest.mark.parametrize("case", EXPORTS)
def test_a_published_v1_export_reads_as_tensorflow_restores_it(case):
    path, prefix_name = EXPORTS[case]
    tf = import_tensorflow()
    with open_checkpoint(path) as ckpt:
        assert ckpt.format_name == "V1"
        assert Path(ckpt.prefix).name == prefix_name
        names = sorted(ckpt)
        dtypes = [tf.as_dtype(ckpt[name].dtype.name) for name in names]
        restored = tf.raw_ops.RestoreV2(
            prefix=ckpt.prefix,
            tensor_names=names,
            shape_and_slices=[""] * len(names),
            dtypes=dtypes,
        )
        for name, theirs in zip(names, restored):
            ours = ckpt.read(name)
            assert ours.shape == tuple(theirs.shape) and ours.dtype == theirs.dtype
            np.testing.assert_array_equal(ours, theirs.numpy())
        assert sorted(float(ckpt.read(name)) for name in names) == [0.5, 2.0]
        assert ckpt.verify() == []


@pytest.mark.parametrize("case", EXPORTS)
def test_the_graph_beside_a_published_v1_export_is_found_and_names_its_variables(case):
    path, _ = EXPORTS[case]
    graph_path = find_graph(str(path))
    assert graph_path == str(path.parent / "export.meta")
    graph = load_graph(graph_path)
    with open_checkpoint(path.parent) as ckpt:  # the directory: no `checkpoint` file in it
        assert set(ckpt) <= {node.name for node in graph.nodes if node.op == "Variable"}
