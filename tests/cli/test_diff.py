"""`ckpt-browser diff`: the JSON contract, the table, the alignment options and the exit codes."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tf_checkpoints as tfc

from ckpt_browser.cli import main

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TENSOR_KEYS = {
    "name",
    "status",
    "dtype_a",
    "dtype_b",
    "shape_a",
    "shape_b",
    "max_abs_diff",
    "mean_abs_diff",
    "rms_diff",
    "rel_l2",
    "cosine",
    "mismatch_fraction",
}
STATUSES = {"same", "changed", "added", "removed", "shape_changed", "dtype_changed"}


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A base model, a fine-tune of it under `module/`, and an exact copy of the base."""
    rng = np.random.default_rng(21)
    base = {
        "dense/kernel": rng.standard_normal((6, 4)).astype(np.float32),
        "dense/bias": np.zeros(4, np.float32),
        "embedding": rng.standard_normal((10, 3)).astype(np.float32),
        "vocab": np.array([b"a", b"b", b"c"], dtype=object),
        "global_step": np.array(3000, np.int64),
        "dense/kernel/Adam": np.full((6, 4), 0.5, np.float32),
    }
    tuned = {f"module/{name}": value.copy() for name, value in base.items()}
    tuned["module/dense/kernel"] += 0.5
    tuned["module/dense/kernel"][2, 1] += 4.0  # the largest change, at [2, 1]
    tuned["module/embedding"] = rng.standard_normal((12, 3)).astype(np.float32)  # grown vocab
    tuned["module/dense/bias"] = np.zeros(4, np.float64)  # retyped
    tuned["module/head/kernel"] = np.ones((4, 2), np.float32)  # new
    del tuned["module/vocab"]
    tuned["module/global_step"] = np.array(5000, np.int64)
    tuned["module/dense/kernel/Adam"] += 1e-7
    directory = tmp_path_factory.mktemp("diff")
    return {
        "base": tfc.write_with_tf(directory / "base", base),
        "copy": tfc.write_with_tf(directory / "copy", base),
        "tuned": tfc.write_with_tf(directory / "tuned", tuned),
    }


def test_json_contract_and_values(capsys, checkpoints):
    code, out, err = run(
        capsys, "diff", checkpoints["base"], checkpoints["tuned"], "--json", "--strip-prefix-b",
        "module/",
    )  # fmt: skip
    assert code == 1, err
    report = json.loads(out)
    assert set(report) == {"a", "b", "summary", "tensors"}
    assert report["a"] == os.path.abspath(checkpoints["base"])
    assert report["b"] == os.path.abspath(checkpoints["tuned"])
    assert set(report["summary"]) == STATUSES
    assert all(set(t) == TENSOR_KEYS for t in report["tensors"])
    tensors = {t["name"]: t for t in report["tensors"]}
    assert {name: t["status"] for name, t in tensors.items()} == {
        "dense/kernel": "changed",
        "dense/kernel/Adam": "changed",
        "global_step": "changed",
        "embedding": "shape_changed",
        "dense/bias": "dtype_changed",
        "head/kernel": "added",
        "vocab": "removed",
    }
    assert report["summary"] == {
        "same": 0,
        "changed": 3,
        "added": 1,
        "removed": 1,
        "shape_changed": 1,
        "dtype_changed": 1,
    }

    tf = tfc.import_tensorflow()
    a = tf.train.load_checkpoint(checkpoints["base"]).get_tensor("dense/kernel").astype(np.float64)
    b = tf.train.load_checkpoint(checkpoints["tuned"]).get_tensor("module/dense/kernel")
    b = b.astype(np.float64)
    d = np.abs(a - b)
    kernel = tensors["dense/kernel"]
    assert kernel["max_abs_diff"] == d.max()
    assert kernel["mean_abs_diff"] == pytest.approx(d.mean(), rel=1e-12)
    assert kernel["rms_diff"] == pytest.approx(math.sqrt(np.mean(d**2)), rel=1e-12)
    assert kernel["rel_l2"] == pytest.approx(np.linalg.norm(d) / np.linalg.norm(a), rel=1e-12)
    cosine = np.dot(a.ravel(), b.ravel()) / np.linalg.norm(a) / np.linalg.norm(b)
    assert kernel["cosine"] == pytest.approx(cosine, rel=1e-12)
    assert kernel["mismatch_fraction"] == 1.0
    assert kernel["shape_a"] == kernel["shape_b"] == [6, 4]
    assert kernel["dtype_a"] == kernel["dtype_b"] == "float32"

    assert tensors["global_step"]["max_abs_diff"] == 2000  # integers stay integers
    bias = tensors["dense/bias"]  # float32 zeros against float64 zeros: equal, dtype changed
    assert (bias["dtype_a"], bias["dtype_b"], bias["max_abs_diff"]) == ("float32", "float64", 0.0)
    assert bias["rel_l2"] == 0.0 and bias["cosine"] is None
    embedding = tensors["embedding"]
    assert (embedding["shape_a"], embedding["shape_b"]) == ([10, 3], [12, 3])
    assert all(embedding[k] is None for k in ("max_abs_diff", "rel_l2", "mismatch_fraction"))
    added, removed = tensors["head/kernel"], tensors["vocab"]
    assert added["dtype_a"] is None and added["shape_a"] is None and added["shape_b"] == [4, 2]
    assert removed["dtype_b"] is None and removed["dtype_a"] == "string"

    statuses = [t["status"] for t in report["tensors"]]  # most changed first
    assert statuses[:4] == ["removed", "added", "shape_changed", "dtype_changed"]
    changed = [t for t in report["tensors"] if t["status"] == "changed"]
    assert [t["rel_l2"] for t in changed] == sorted((t["rel_l2"] for t in changed), reverse=True)


def test_table_most_changed_first(capsys, checkpoints):
    code, out, _ = run(
        capsys, "diff", checkpoints["base"], checkpoints["tuned"], "--strip-prefix-b", "module"
    )
    assert code == 1
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["name", "status", "max|a-b|"]
    rows = [line.split()[:2] for line in lines[1:-1]]
    assert [status for _, status in rows][:4] == [
        "removed",
        "added",
        "shape_changed",
        "dtype_changed",
    ]
    assert rows[4] == ["dense/kernel", "changed"]  # rel_l2 far above the Adam slot's and step's
    assert "shape [10, 3] -> [12, 3]" in out
    assert "float32 -> float64" in out
    assert lines[-1].startswith("3 changed, 1 added, 1 removed, 1 shape_changed, 1 dtype_changed")
    assert "strip 'module'" in lines[-1]


def test_exit_zero_for_equal_checkpoints(capsys, checkpoints):
    code, out, _ = run(capsys, "diff", checkpoints["base"], checkpoints["copy"])
    assert code == 0
    assert out.splitlines()[-1].startswith("6 same;")
    code, out, _ = run(capsys, "diff", checkpoints["base"], checkpoints["copy"], "--json")
    assert code == 0
    assert json.loads(out)["summary"]["same"] == 6


def test_tolerance_and_params_only(capsys, checkpoints):
    args = ["diff", checkpoints["base"], checkpoints["tuned"], "--strip-prefix-b", "module/"]
    code, out, _ = run(capsys, *args, "--json", "--params-only", "--atol", "1e-6")
    report = json.loads(out)
    names = {t["name"]: t["status"] for t in report["tensors"]}
    assert "global_step" not in names and "dense/kernel/Adam" not in names
    assert names["dense/kernel"] == "changed"
    assert code == 1

    code, out, _ = run(capsys, *args, "--json", "--atol", "1e-6")
    adam = next(t for t in json.loads(out)["tensors"] if t["name"] == "dense/kernel/Adam")
    assert adam["status"] == "same" and adam["mismatch_fraction"] == 0.0
    assert 0 < adam["max_abs_diff"] < 1e-6


def test_replace_prefix_and_by_key(capsys, checkpoints):
    code, out, _ = run(
        capsys, "diff", checkpoints["tuned"], checkpoints["base"], "--json",
        "--replace-prefix-a", "module/=", "--params-only",
    )  # fmt: skip
    names = {t["name"] for t in json.loads(out)["tensors"]}
    assert "dense/kernel" in names and not any(n.startswith("module/") for n in names)
    code, out, _ = run(capsys, "diff", checkpoints["tuned"], checkpoints["base"], "--by-key")
    assert code == 1 and "removed" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rtol", "-1"], "rtol must be"),
        (["--atol", "nan"], "atol must be"),
        (["--strip-prefix-a", "x", "--replace-prefix-a", "x=y"], "give one"),
        (["--replace-prefix-b", "module/"], "OLD=NEW"),
    ],
)
def test_bad_options_exit_2(capsys, checkpoints, args, message):
    code, out, err = run(capsys, "diff", checkpoints["base"], checkpoints["copy"], *args)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and message in err and len(err.splitlines()) == 1


def test_missing_checkpoint_exits_2(capsys, checkpoints, tmp_path: Path):
    missing = str(tmp_path / "nothing-here")
    code, out, err = run(capsys, "diff", checkpoints["base"], missing)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and "nothing-here" in err and len(err.splitlines()) == 1


def test_whole_process_exit_codes(checkpoints):
    """As scripts call it: a fresh interpreter, no traceback on stderr."""
    command = [sys.executable, "-m", "ckpt_browser.cli", "diff"]
    same = subprocess.run(
        [*command, checkpoints["base"], checkpoints["copy"]], cwd=REPO, capture_output=True
    )
    different = subprocess.run(
        [*command, checkpoints["base"], checkpoints["tuned"], "--json"],
        cwd=REPO,
        capture_output=True,
    )
    broken = subprocess.run(
        [*command, checkpoints["base"], checkpoints["base"] + ".index.missing"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert (same.returncode, different.returncode, broken.returncode) == (0, 1, 2)
    assert json.loads(different.stdout)["summary"]["added"] == 6
    assert "Traceback" not in broken.stderr and broken.stderr.startswith("error: ")
