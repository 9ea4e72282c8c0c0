"""The command line on frozen graphs: `diff` of a checkpoint against the graph frozen from it
finds every variable the same and an edited Const changed; `ls`, `show` and `export` take a
`.pb` as they take a checkpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tf_checkpoints import import_tensorflow
from tf_frozen_graphs import parse_graph_def
from tf_v1_checkpoints import assert_same_bits

from ckpt_browser.cli import main
from ckpt_browser.format import open_checkpoint

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TF1_GRAPHS = ("plain", "imported", "folded", "folded_imported")


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def diff(capsys, a: str, b: str, *options: str) -> tuple[int, dict[str, dict]]:
    """Exit code and the JSON report's tensors by name."""
    code, out, err = run(capsys, "diff", a, b, "--json", *options)
    assert code in (0, 1), err
    return code, {t["name"]: t for t in json.loads(out)["tensors"]}


def statuses(tensors: dict[str, dict]) -> dict[str, str]:
    return {name: t["status"] for name, t in tensors.items()}


def with_edited_consts(source: Path, target: Path, edits: dict[str, tuple[tuple, float]]) -> Path:
    """A copy of a frozen graph with `value[index] += delta` in each named Const, re-serialized
    with TensorFlow's own protos."""
    tf = import_tensorflow()
    graph_def = parse_graph_def(source)
    for node in graph_def.node:
        if node.name in edits:
            index, delta = edits[node.name]
            value = tf.make_ndarray(node.attr["value"].tensor).copy()
            value[index] += delta
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value))
    target.write_bytes(graph_def.SerializeToString())
    return target


# --- diff ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", TF1_GRAPHS)
@pytest.mark.parametrize("options", [(), ("--params-only",)], ids=["default", "params_only"])
def test_a_correct_freeze_is_all_same(capsys, tf1_frozen, variant, options):
    """Each frozen variable is "same", matched by its name whether the freezer left it as is,
    under `import/` or as `x/read`; exit 0. A graph holds the model alone, so the checkpoint's
    Adam slots and step, and the graph's shape and axis Consts, are left out even without
    `--params-only`."""
    graph = tf1_frozen.graphs[variant]
    code, tensors = diff(capsys, tf1_frozen.prefix, str(graph.path), *options)
    assert statuses(tensors) == {name: "same" for name in tf1_frozen.variables}
    assert code == 0
    for name, value in tf1_frozen.variables.items():
        record = tensors[name]
        assert record["shape_a"] == record["shape_b"] == list(value.shape)
        assert record["dtype_a"] == record["dtype_b"] == value.dtype.name
        assert record["max_abs_diff"] == 0


def test_either_side_may_be_the_graph(capsys, tf1_frozen):
    code, tensors = diff(capsys, str(tf1_frozen.folded_imported.path), tf1_frozen.prefix)
    assert code == 0 and statuses(tensors) == {name: "same" for name in tf1_frozen.variables}


def test_by_key_matches_the_raw_const_names(capsys, tf1_frozen):
    """`--by-key` compares the names as stored: `import/conv1/kernel` is not `conv1/kernel`."""
    prefix = tf1_frozen.prefix
    code, tensors = diff(capsys, prefix, str(tf1_frozen.plain.path), "--params-only", "--by-key")
    assert code == 0 and statuses(tensors) == {name: "same" for name in tf1_frozen.variables}

    imported = tf1_frozen.imported
    _, tensors = diff(capsys, prefix, str(imported.path), "--params-only", "--by-key")
    found = statuses(tensors)
    assert "same" not in found.values()
    for const, variable in imported.weights.items():
        assert (found[const], found[variable]) == ("added", "removed")


@pytest.mark.parametrize("variant", TF1_GRAPHS)
def test_an_altered_const_is_reported_changed(capsys, tf1_frozen, tmp_path, variant):
    graph = tf1_frozen.graphs[variant]
    const_of = {variable: const for const, variable in graph.weights.items()}
    edits = {const_of["dense/kernel"]: ((5, 1), 0.75), const_of["emb/table"]: ((2, 0), 1)}
    edited = with_edited_consts(graph.path, tmp_path / graph.path.name, edits)

    code, tensors = diff(capsys, tf1_frozen.prefix, str(edited), "--params-only")
    assert code == 1
    changed = {"dense/kernel", "emb/table"}
    assert statuses(tensors) == {
        name: "changed" if name in changed else "same" for name in tf1_frozen.variables
    }
    kernel = tf1_frozen.variables["dense/kernel"]
    moved = float(np.float32(kernel[5, 1] + np.float32(0.75))) - float(kernel[5, 1])
    assert tensors["dense/kernel"]["max_abs_diff"] == pytest.approx(abs(moved), rel=1e-12)
    assert tensors["dense/kernel"]["mismatch_fraction"] == pytest.approx(1 / kernel.size)
    assert tensors["emb/table"]["max_abs_diff"] == 1


def test_diff_runs_as_a_user_runs_it(tf1_frozen):
    """`python -m ckpt_browser.cli diff CKPT frozen.pb --json`: exit 0, valid JSON, no
    traceback."""
    done = subprocess.run(
        [sys.executable, "-m", "ckpt_browser.cli", "diff", tf1_frozen.prefix,
         str(tf1_frozen.folded.path), "--json"],
        capture_output=True, text=True, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    report = json.loads(done.stdout)
    assert report["summary"]["same"] == len(report["tensors"]) == len(tf1_frozen.variables)


# --- ls, show, export ---------------------------------------------------------------------------


@pytest.mark.parametrize("variant", TF1_GRAPHS)
def test_ls_json_lists_the_weights(capsys, tf1_frozen, variant):
    graph = tf1_frozen.graphs[variant]
    code, out, _ = run(capsys, "ls", str(graph.path), "--json")
    assert code == 0
    listing = json.loads(out)
    assert listing["format"] == "graph"
    listed = {v["name"]: (v["dtype"], v["shape"]) for v in listing["variables"]}
    for const, variable in graph.weights.items():
        value = tf1_frozen.variables[variable]
        assert listed[const] == (value.dtype.name, list(value.shape)), const


@pytest.mark.parametrize("variant", TF1_GRAPHS)
def test_show_finds_a_weight_by_its_variable_name(capsys, tf1_frozen, variant):
    """`show frozen.pb dense/kernel` whatever the freezer made of the name."""
    graph = tf1_frozen.graphs[variant]
    code, out, err = run(capsys, "show", str(graph.path), "dense/kernel", "--json")
    assert code == 0, err
    record = json.loads(out)
    const = next(c for c, v in graph.weights.items() if v == "dense/kernel")
    kernel = tf1_frozen.variables["dense/kernel"]
    assert (record["name"], record["readable_name"], record["kind"]) == (
        const,
        "dense/kernel",
        "variable",
    )
    assert record["shape"] == list(kernel.shape)
    assert record["stats"]["min"] == pytest.approx(float(kernel.min()))
    assert record["stats"]["max"] == pytest.approx(float(kernel.max()))


def test_export_weights_bit_for_bit(capsys, tf1_frozen, tf2_loop_frozen, tmp_path):
    graph = tf1_frozen.folded_imported
    names = list(graph.weights)
    code, _, err = run(capsys, "export", str(graph.path), *names, "-o", str(tmp_path / "w.npz"))
    assert code == 0, err
    with np.load(tmp_path / "w.npz") as loaded:
        assert set(loaded.files) == set(names)
        for name in names:
            assert_same_bits(loaded[name], graph.constants[name])

    loop = tf2_loop_frozen.graph  # a Const of the function library, by its full name
    mix = next(name for name in loop.constants if name.endswith("/while/mix"))
    code, _, err = run(capsys, "export", str(loop.path), mix, "-o", str(tmp_path / "mix.npy"))
    assert code == 0, err
    assert_same_bits(np.load(tmp_path / "mix.npy"), loop.constants[mix])
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_tf2_consts_named_after_ops_are_paired_with_their_variables_by_value(
    capsys, tf2_keras_frozen
):
    """TF2 names a frozen variable after the op that read it (`.../Cast_2/ReadVariableOp/
    resource`): only the values say which is which, and diff pairs them so."""
    graph = tf2_keras_frozen.graph
    code, tensors = diff(capsys, tf2_keras_frozen.prefix, str(graph.path))
    assert code == 0 and set(statuses(tensors).values()) == {"same"}
    with open_checkpoint(tf2_keras_frozen.prefix) as ckpt:
        readable = {key: ckpt[key].readable_name for key in ckpt}
    expected = {f"{readable[key]} ↔ {const}" for const, key in graph.weights.items()}
    assert set(tensors) == expected

    _, by_key = diff(capsys, tf2_keras_frozen.prefix, str(graph.path), "--by-key")
    assert "same" not in statuses(by_key).values()  # raw names alone pair nothing


@pytest.mark.parametrize("variant", ["plain", "folded_imported"])
def test_a_frozen_graph_unfreezes_into_a_checkpoint_tensorflow_restores(
    capsys, tf1_frozen, tmp_path, variant
):
    """`remap frozen.pb out/model` writes the weights under their variable names (no `import/`,
    no `/read`) and leaves out the graph's shape constants; TensorFlow reads it back."""
    graph = getattr(tf1_frozen, variant)
    out = str(tmp_path / "unfrozen" / "model")
    code, _, err = run(capsys, "remap", str(graph.path), out)
    assert code == 0, err
    reader = import_tensorflow().train.load_checkpoint(out)
    assert set(reader.get_variable_to_shape_map()) == set(tf1_frozen.variables)
    for name, value in tf1_frozen.variables.items():
        assert_same_bits(reader.get_tensor(name), value)
