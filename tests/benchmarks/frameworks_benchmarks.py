"""Porting a checkpoint to safetensors: `remap --preset` and `diff --preset` against the usual
script (load every tensor with numpy, transpose, `safetensors.numpy.save_file`), and reading a
safetensors tensor as a view against the package's own `get_tensor`.

Four 4096 x 4096 float32 kernels (256 MB) under BERT's names: every one is transposed on the way.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

Row = tuple[str, str, str, str]
KERNELS = 4
SIDE = 4096
PRESET = "tf-bert-to-hf"


def _kernel_checkpoint(workdir: Path) -> str:
    from run_benchmarks import tf_save

    prefix = workdir / "port" / "bert_model.ckpt"
    if not Path(str(prefix) + ".index").exists():
        prefix.parent.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(18)
        tf_save(
            str(prefix),
            {
                f"bert/encoder/layer_{i}/attention/self/query/kernel": rng.standard_normal(
                    (SIDE, SIDE), dtype=np.float32
                )
                for i in range(KERNELS)
            },
        )
    return str(prefix)


def bench_frameworks(paths: dict[str, str], workdir: Path) -> list[Row]:
    from run_benchmarks import median_time, run_measured

    prefix = _kernel_checkpoint(workdir)
    ours = workdir / "port" / "ours.safetensors"
    script = workdir / "port" / "script.safetensors"
    # Timed after the imports (TensorFlow takes seconds to import); the peaks include them.
    timed = (
        "{}\nimport time; start = time.perf_counter()\n{}\n"
        "print(f'{{time.perf_counter() - start:.3f}}')"
    )
    remap = (
        "from ckpt_browser.cli import main",
        f"main(['remap', {prefix!r}, {str(ours)!r}, '--preset', {PRESET!r}, '--force'])",
    )
    baseline = (
        "import numpy as np, tensorflow as tf\nfrom safetensors.numpy import save_file",
        f"names = [n for n, _ in tf.train.list_variables({prefix!r})]\n"
        "tensors = {n.replace('/', '.').replace('layer_', 'layer.').replace('kernel', 'weight'):"
        f" np.ascontiguousarray(tf.train.load_variable({prefix!r}, n).T) for n in names}}\n"
        f"save_file(tensors, {str(script)!r}, metadata={{'format': 'pt'}})",
    )
    remap_out, remap_peak = run_measured(timed.format(*remap))
    base_out, base_peak = run_measured(timed.format(*baseline))
    remap_seconds, base_seconds = float(remap_out.split()[-1]), float(base_out.split()[-1])
    assert Path(ours).read_bytes()[-64:] == Path(script).read_bytes()[-64:]
    diff = (
        "from ckpt_browser.cli import main",
        f"code = main(['diff', {prefix!r}, {str(ours)!r}, '--preset', {PRESET!r}])\n"
        "assert code == 0",
    )
    diff_out, diff_peak = run_measured(timed.format(*diff))
    numpy_diff = (
        "import numpy as np, tensorflow as tf\nfrom safetensors.numpy import load_file",
        f"port = load_file({str(ours)!r})\n"
        f"for n, _ in tf.train.list_variables({prefix!r}):\n"
        "    hf = n.replace('/', '.').replace('layer_', 'layer.').replace('kernel', 'weight')\n"
        f"    assert np.array_equal(tf.train.load_variable({prefix!r}, n).T, port[hf])",
    )
    numpy_out, numpy_peak = run_measured(timed.format(*numpy_diff))

    from safetensors import safe_open

    from ckpt_browser.format import open_checkpoint

    name = "bert.encoder.layer.0.attention.self.query.weight"
    checkpoint = open_checkpoint(ours)
    view = median_time(lambda: checkpoint.read(name), repeat=7)
    with safe_open(str(ours), framework="numpy") as opened:
        copy = median_time(lambda: opened.get_tensor(name), repeat=5)
    checkpoint.close()
    os.remove(script)
    size = f"{KERNELS} kernels, {KERNELS * SIDE * SIDE * 4 >> 20} MB"
    return [
        (
            f"remap --preset {PRESET} to .safetensors ({size}, each transposed), whole process",
            f"{remap_seconds:.2f} s, peak {remap_peak:.0f} MB",
            f"TF load_variable + numpy .T + save_file: {base_seconds:.2f} s, peak "
            f"{base_peak:.0f} MB",
            f"memory flat (< 1/2 the script's): {'yes' if remap_peak < base_peak / 2 else 'NO'}",
        ),
        (
            f"diff --preset {PRESET} of the pair (all same), whole process",
            f"{float(diff_out.split()[-1]):.2f} s, peak {diff_peak:.0f} MB",
            f"TF load_variable + load_file + np.array_equal: {float(numpy_out.split()[-1]):.2f} s, "
            f"peak {numpy_peak:.0f} MB",
            f"memory flat: {'yes' if diff_peak < numpy_peak / 2 else 'NO'}",
        ),
        (
            "read a 64 MB safetensors tensor",
            f"{view * 1000:.2f} ms (a view of the file)",
            f"safe_open(...).get_tensor: {copy * 1000:.1f} ms (a copy)",
            f"< 5 ms: {'yes' if view < 0.005 else 'NO'}",
        ),
    ]
