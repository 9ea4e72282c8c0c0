"""The command line contract: output, JSON keys, files and exit codes that scripts rely on."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from tf_checkpoints import import_tensorflow, write_with_tf

from ckpt_browser.cli import main

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def tf_dtype_name(dtype) -> str:
    tf = import_tensorflow()
    if dtype.is_quantized or dtype == tf.string:
        return dtype.name
    return np.dtype(dtype.as_numpy_dtype).name


@pytest.mark.parametrize("fixture", ["all_dtypes_ckpt", "tf1_partitioned", "sharded_ckpt"])
def test_ls_json_lists_what_tensorflow_lists(capsys, request, fixture):
    prefix = request.getfixturevalue(fixture).prefix
    tf = import_tensorflow()
    code, out, _ = run(capsys, "ls", prefix, "--json")
    assert code == 0
    listing = json.loads(out)
    assert listing["prefix"] == os.path.abspath(prefix)
    reader = tf.train.load_checkpoint(prefix)
    dtypes = reader.get_variable_to_dtype_map()
    expected = {
        name: (tf_dtype_name(dtypes[name]), shape)
        for name, shape in tf.train.list_variables(prefix)
    }
    assert {v["name"]: (v["dtype"], v["shape"]) for v in listing["variables"]} == expected
    assert all(set(v) == {"name", "dtype", "shape", "nbytes"} for v in listing["variables"])


def test_ls_table_and_filter(capsys, tf1_training_dir):
    code, out, _ = run(capsys, "ls", str(tf1_training_dir.directory), "--filter", "Adam_1$")
    assert code == 0
    lines = out.splitlines()
    names = [line.split()[0] for line in lines[1:-1]]
    assert names and all(n.endswith("Adam_1") for n in names)
    assert lines[-1].startswith(f"{len(names)} tensors")


def test_show_prints_statistics(capsys, all_dtypes_ckpt):
    name = next(
        n for n, v in all_dtypes_ckpt.expected.items() if v.dtype == np.float32 and v.ndim == 2
    )
    code, out, _ = run(capsys, "show", all_dtypes_ckpt.prefix, name, "--json")
    assert code == 0
    record = json.loads(out)
    expected = all_dtypes_ckpt.expected[name]
    assert record["shape"] == list(expected.shape)
    assert record["stats"]["min"] == pytest.approx(float(expected.min()))
    assert record["stats"]["max"] == pytest.approx(float(expected.max()))
    assert record["stats"]["mean"] == pytest.approx(float(expected.mean()), rel=1e-5)


def test_export_npy_npz_csv(capsys, all_dtypes_ckpt, tmp_path):
    expected = all_dtypes_ckpt.expected
    float_name = next(n for n, v in expected.items() if v.dtype == np.float32 and v.ndim == 2)
    bf16_name = next(n for n, v in expected.items() if v.dtype.name == "bfloat16")
    string_name = next(n for n, v in expected.items() if v.dtype == object and v.ndim == 1)

    code, _, _ = run(
        capsys, "export", all_dtypes_ckpt.prefix, float_name, "-o", str(tmp_path / "a.npy")
    )
    assert code == 0
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), expected[float_name])

    names = [float_name, bf16_name, string_name]
    code, _, _ = run(
        capsys, "export", all_dtypes_ckpt.prefix, *names, "-o", str(tmp_path / "b.npz")
    )
    assert code == 0
    with np.load(tmp_path / "b.npz") as loaded:  # no allow_pickle: nothing pickled
        assert set(loaded.files) == set(names)
        assert loaded[bf16_name].tobytes() == expected[bf16_name].tobytes()  # bit-exact
        assert loaded[string_name].tolist() == expected[string_name].tolist()

    code, _, _ = run(
        capsys,
        "export",
        all_dtypes_ckpt.prefix,
        bf16_name,
        "--as-float32",
        "-o",
        str(tmp_path / "c.npy"),
    )
    assert code == 0
    np.testing.assert_array_equal(
        np.load(tmp_path / "c.npy"), expected[bf16_name].astype(np.float32)
    )

    code, _, _ = run(
        capsys, "export", all_dtypes_ckpt.prefix, float_name, "-o", str(tmp_path / "d.csv")
    )
    assert code == 0
    np.testing.assert_array_equal(
        np.loadtxt(tmp_path / "d.csv", delimiter=",", dtype=np.float32, ndmin=2),
        expected[float_name],
    )
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_verify_exit_codes(capsys, all_dtypes_ckpt, tmp_path):
    code, out, _ = run(capsys, "verify", all_dtypes_ckpt.prefix)
    assert code == 0 and out.startswith("ok:")
    source = os.path.dirname(all_dtypes_ckpt.prefix)
    for name in os.listdir(source):
        if name.startswith(os.path.basename(all_dtypes_ckpt.prefix) + "."):
            shutil.copy(os.path.join(source, name), tmp_path / name)
    damaged = tmp_path / (os.path.basename(all_dtypes_ckpt.prefix) + ".data-00000-of-00001")
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    code, out, _ = run(capsys, "verify", str(tmp_path / os.path.basename(all_dtypes_ckpt.prefix)))
    assert code == 1
    assert out.splitlines()[0].startswith("damaged: ")


def test_ls_lists_a_truncated_checkpoint_and_warns_once(capsys, sharded_ckpt, tmp_path):
    from tests.format.test_bad_input import copy_checkpoint

    prefix = copy_checkpoint(sharded_ckpt.prefix, tmp_path)
    os.truncate(prefix + ".data-00001-of-00003", 0)
    code, out, err = run(capsys, "ls", prefix)
    assert code == 0
    assert len(out.splitlines()) == 2 + len(sharded_ckpt.expected)  # every name is listed
    assert err.splitlines() == [
        f"warning: 3 of {len(sharded_ckpt.expected)} tensors lie past the end of shard 1 "
        "(model.ckpt.data-00001-of-00003, 0 bytes): the file is truncated"
    ]


def test_verify_warns_of_a_truncated_shard_as_the_window_does(capsys, sharded_ckpt, tmp_path):
    from tests.format.test_bad_input import copy_checkpoint

    prefix = copy_checkpoint(sharded_ckpt.prefix, tmp_path)
    shard = prefix + ".data-00002-of-00003"
    size = os.path.getsize(shard)
    os.truncate(shard, size // 2)
    code, out, err = run(capsys, "verify", prefix)
    assert code == 1
    total = len(sharded_ckpt.expected)
    assert err.splitlines() == [
        f"warning: 2 of {total} tensors lie past the end of shard 2 "
        f"(model.ckpt.data-00002-of-00003, {size // 2:,} bytes): the file is truncated"
    ]
    assert sorted(line.split(": ")[1] for line in out.splitlines()[:-1]) == [
        "embedding",
        "split (slice [6:9, :])",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ls", "/no/such/checkpoint"], "no such file"),
        (["show", "{prefix}", "not/a/variable"], "not found in checkpoint"),
        (["export", "{prefix}", "x", "-o", "out.txt"], "must end in .npy, .npz or .csv"),
        (["ls", "{prefix}", "--filter", "("], "bad --filter regex"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, all_dtypes_ckpt, args, message):
    args = [a.format(prefix=all_dtypes_ckpt.prefix) for a in args]
    code, _, err = run(capsys, *args)
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1
    assert message in err


def test_whole_process_has_no_traceback_and_no_tensorflow(all_dtypes_ckpt, tmp_path):
    """Run as a user does; the reader must not import TensorFlow (nor Qt) to list a checkpoint."""
    code = (
        "import sys; from ckpt_browser.cli import main; rc = main(sys.argv[1:]); "
        "assert 'tensorflow' not in sys.modules and 'PySide6' not in sys.modules; sys.exit(rc)"
    )
    ok = subprocess.run(
        [sys.executable, "-c", code, "ls", all_dtypes_ckpt.prefix],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert ok.returncode == 0, ok.stderr
    bad = tmp_path / "bad.index"
    bad.write_bytes(b"garbage")
    failed = subprocess.run(
        [sys.executable, "-m", "ckpt_browser.cli", "ls", str(bad)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert failed.returncode == 2
    assert failed.stderr.startswith("error: ") and "Traceback" not in failed.stderr


def test_counts_of_one_read_in_the_singular(tmp_path, capsys):
    """`1 tensor`, not `1 tensors`: every count goes through one helper (core.formatting.plural)."""
    prefix = write_with_tf(tmp_path / "one" / "model.ckpt", {"w": np.array([2.5], np.float32)})
    assert main(["ls", prefix]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("1 tensor, 1 parameter, 4 B in ")
    assert main(["verify", prefix]) == 0
    assert capsys.readouterr().out.startswith("ok: 1 tensor, 4 B verified")
    assert main(["remap", prefix, str(tmp_path / "out" / "model.ckpt")]) == 0
    out = capsys.readouterr().out
    assert "1 of 1 name ready" in out and "wrote 1 tensor (4 B)" in out
