"""Legacy V1 checkpoints: listing and decoding against TensorFlow reading the same V1 files.

TensorFlow's `Save` op writes the V1 format; the same variables are also saved as V2, so listing
V1 can be held against listing V2 in the same run.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

V1_VARIABLES = 20_000
V1_BIG_ELEMENTS = 25 * 1024 * 1024  # 100 MB of float32

Row = tuple[str, str, str, str]


def _tf():
    os.environ.update({"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"})
    import tensorflow as tf

    return tf


def make_v1_inputs(workdir: Path) -> dict[str, str]:
    """A V1 file of 20,000 small variables and its V2 twin, a V1 file of one 100 MB float32
    tensor, and one of a 100 MB int32 tensor (values stored as varints)."""
    many = str(workdir / "v1-many" / "model.ckpt")
    many_v2 = str(workdir / "v1-many-as-v2" / "model.ckpt")
    big = str(workdir / "v1-big" / "model.ckpt")
    ints = str(workdir / "v1-ints" / "model.ckpt")
    if not os.path.exists(many):
        tf = _tf()
        rng = np.random.default_rng(0)
        tensors = {
            f"model/block_{i}/layer_{j}/{part}": rng.standard_normal(shape).astype(np.float32)
            for i in range(V1_VARIABLES // 40)
            for j in range(20)
            for part, shape in (("kernel", (8, 8)), ("bias", (8,)))
        }
        names = list(tensors)
        constants = [tf.constant(tensors[n]) for n in names]
        for path in (many, many_v2):
            os.makedirs(os.path.dirname(path), exist_ok=True)
        tf.raw_ops.Save(filename=many, tensor_names=names, data=constants)
        tf.raw_ops.SaveV2(
            prefix=many_v2,
            tensor_names=names,
            shape_and_slices=[""] * len(names),
            tensors=constants,
        )
    if not os.path.exists(big):
        tf = _tf()
        os.makedirs(os.path.dirname(big), exist_ok=True)
        values = np.random.default_rng(2).standard_normal(V1_BIG_ELEMENTS, dtype=np.float32)
        tf.raw_ops.Save(
            filename=big, tensor_names=["big"], data=[tf.constant(values.reshape(-1, 1024))]
        )
    if not os.path.exists(ints):
        tf = _tf()
        os.makedirs(os.path.dirname(ints), exist_ok=True)
        counts = np.random.default_rng(3).integers(-1000, 100_000, V1_BIG_ELEMENTS, np.int32)
        tf.raw_ops.Save(filename=ints, tensor_names=["ints"], data=[tf.constant(counts)])
    return {"v1_many": many, "v1_many_v2": many_v2, "v1_big": big, "v1_ints": ints}


_OURS_READ = (
    "from ckpt_browser.format import open_checkpoint; "
    "import numpy as np; print(float(np.asarray(open_checkpoint({path!r}).read('big')).sum()))"
)
_TF_READ = (
    "import tensorflow as tf; "
    "print(float(tf.train.load_checkpoint({path!r}).get_tensor('big').sum()))"
)


def bench_v1(paths: dict[str, str], workdir: Path) -> list[Row]:
    from run_benchmarks import PYTHON, median_time, process_time

    from ckpt_browser.format import open_checkpoint

    files = make_v1_inputs(workdir)
    many, many_v2, big = files["v1_many"], files["v1_many_v2"], files["v1_big"]
    opening = median_time(lambda: open_checkpoint(many), repeat=5)
    opening_v2 = median_time(lambda: open_checkpoint(many_v2), repeat=5)
    ls = process_time([PYTHON, "-m", "ckpt_browser.cli", "ls", "--json", many])
    tf_ls = process_time(
        [PYTHON, "-c", f"import tensorflow as tf; tf.train.list_variables({many!r})"], repeat=3
    )

    def decode() -> None:  # a fresh open: the block's CRC is checked again, nothing is cached
        np.array(open_checkpoint(big).read("big"))

    decoding = median_time(decode, repeat=7)
    rate = V1_BIG_ELEMENTS * 4 / decoding / 1e9
    reader = _tf().train.load_checkpoint(big)
    tf_in_process = median_time(lambda: reader.get_tensor("big"), repeat=3)

    def decode_ints() -> None:
        open_checkpoint(files["v1_ints"]).read("ints")

    ints = median_time(decode_ints, repeat=3)
    ints_reader = _tf().train.load_checkpoint(files["v1_ints"])
    tf_ints = median_time(lambda: ints_reader.get_tensor("ints"), repeat=3)
    ours_process = process_time([PYTHON, "-c", _OURS_READ.format(path=big)])
    tf_process = process_time([PYTHON, "-c", _TF_READ.format(path=big)], repeat=3)
    speedup = tf_process / ours_process
    return [
        (
            f"open a {V1_VARIABLES:,}-variable V1 checkpoint with names, kinds",
            f"{opening * 1000:.0f} ms (the same variables as V2: {opening_v2 * 1000:.0f} ms)",
            "",
            f"as fast as V2: {'yes' if opening <= opening_v2 * 1.05 else 'NO'}",
        ),
        (
            f"`ckpt-browser ls` of {V1_VARIABLES:,} V1 variables, whole process",
            f"{ls * 1000:.0f} ms ({ls / tf_ls:.2f}x TF)",
            f"{tf_ls * 1000:.0f} ms (`tf.train.list_variables`)",
            "",
        ),
        (
            "decode a 100 MB float32 V1 tensor, in process (open, CRC, copy out)",
            f"{rate:.1f} GB/s ({decoding * 1000:.0f} ms)",
            f"{V1_BIG_ELEMENTS * 4 / tf_in_process / 1e9:.2f} GB/s (`get_tensor`)",
            f">= 1 GB/s: {'yes' if rate >= 1 else 'NO'}",
        ),
        (
            "decode a 100 MB int32 V1 tensor (varints), in process",
            f"{V1_BIG_ELEMENTS * 4 / ints / 1e9:.2f} GB/s ({ints:.2f} s)",
            f"{V1_BIG_ELEMENTS * 4 / tf_ints / 1e9:.2f} GB/s (`get_tensor`)",
            "",
        ),
        (
            "... read and sum the float32 one, whole process",
            f"{ours_process:.2f} s ({speedup:.1f}x faster)",
            f"{tf_process:.2f} s (`load_checkpoint` + `get_tensor`)",
            f">= 5x faster: {'yes' if speedup >= 5 else 'NO'}",
        ),
    ]


if __name__ == "__main__":
    sys.exit("run through run_benchmarks.py --only v1")
