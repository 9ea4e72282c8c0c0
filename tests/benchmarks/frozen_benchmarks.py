"""A large frozen graph: opening it as a checkpoint of its constants against parsing its nodes.

The graph has 20,000 small nodes and eight 32 MB weights stored as `tensor_content` (about
256 MB): what freezing a mid-sized model gives. Opening should cost what stepping over the node
list costs, whatever the size of the weights.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

Row = tuple[str, str, str, str]
WEIGHTS = 8
WEIGHT_ELEMENTS = 8 * 1024 * 1024  # 32 MB of float32 each
SMALL_NODES = 20_000


def make_frozen_graph(workdir: Path) -> str:
    path = workdir / "frozen" / "frozen.pb"
    if path.exists():
        return str(path)
    from ckpt_browser.format import protos

    path.parent.mkdir(parents=True, exist_ok=True)
    graph = protos.GraphDef()
    rng = np.random.default_rng(4)
    for i in range(WEIGHTS):
        node = graph.node.add(name=f"model/layer_{i}/kernel", op="Const")
        tensor = node.attr["value"].tensor
        tensor.dtype = 1
        for size in (WEIGHT_ELEMENTS // 1024, 1024):
            tensor.tensor_shape.dim.add(size=size)
        tensor.tensor_content = rng.standard_normal(WEIGHT_ELEMENTS, dtype=np.float32).tobytes()
    for i in range(SMALL_NODES):
        node = graph.node.add(name=f"model/op_{i}", op="Identity", input=[f"model/op_{i - 1}"])
        node.attr["T"].type = 1
    path.write_bytes(graph.SerializeToString())
    return str(path)


def bench_frozen(paths: dict[str, str], workdir: Path) -> list[Row]:
    from run_benchmarks import median_time

    from ckpt_browser.format import open_checkpoint, protos

    path = make_frozen_graph(workdir)
    size = os.path.getsize(path)
    data = Path(path).read_bytes()
    parse = median_time(lambda: protos.GraphDef.FromString(data), repeat=3)
    opening = median_time(lambda: open_checkpoint(path), repeat=5)
    ckpt = open_checkpoint(path)
    read = median_time(lambda: ckpt.read("model/layer_0/kernel"), repeat=7)
    os.environ.update({"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"})
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef()
    tf_parse = median_time(lambda: graph_def.ParseFromString(data), repeat=3)
    return [
        (
            f"open a {size / 1e6:.0f} MB frozen .pb ({SMALL_NODES:,} nodes) as a checkpoint",
            f"{opening * 1000:.0f} ms",
            f"parse its GraphDef: {parse * 1000:.0f} ms (protobuf), {tf_parse * 1000:.0f} ms (TF)",
            f"no slower than parsing: {'yes' if opening <= max(parse, tf_parse) else 'NO'}",
        ),
        (
            "... read a 32 MB Const (a view of the file)",
            f"{read * 1000:.2f} ms",
            "",
            f"< 5 ms: {'yes' if read < 0.005 else 'NO'}",
        ),
    ]
