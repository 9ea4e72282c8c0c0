"""`ckpt-browser graph PATH [--json]` against TensorFlow's own GraphDefs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tf_checkpoints import import_tensorflow

from ckpt_browser.cli import main


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["graph", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def their_meta_graph(path: str):
    tf = import_tensorflow()
    return tf.compat.v1.MetaGraphDef.FromString(Path(path).read_bytes())


def their_meta_graphs(directory: Path) -> list:
    import_tensorflow()
    from tensorflow.core.protobuf import saved_model_pb2

    data = (directory / "saved_model.pb").read_bytes()
    return list(saved_model_pb2.SavedModel.FromString(data).meta_graphs)


def test_json_lists_every_node_of_the_graph_def(capsys, tf1_training_dir):
    meta_path = tf1_training_dir.prefix + ".meta"
    code, out, _ = run(capsys, meta_path, "--json")
    assert code == 0
    record = json.loads(out)
    graph_def = their_meta_graph(meta_path).graph_def
    assert record["node_count"] == len(graph_def.node) == len(record["nodes"])
    theirs = [
        {"name": n.name, "op": n.op, "inputs": list(n.input), "device": n.device}
        for n in graph_def.node
    ]
    assert record["nodes"] == theirs
    tf = import_tensorflow()
    with tf.Graph().as_default():
        tf.compat.v1.train.import_meta_graph(meta_path)
        expected = {v.op.name for v in tf.compat.v1.global_variables()}
    assert {v["name"] for v in record["variables"]} == expected
    functions = {f["name"]: f["node_count"] for f in record["functions"]}
    assert set(functions) == {f.signature.name for f in graph_def.library.function}


def test_a_checkpoint_directory_finds_its_meta(capsys, tf1_training_dir):
    code, out, _ = run(capsys, str(tf1_training_dir.directory))
    assert code == 0
    graph_def = their_meta_graph(tf1_training_dir.prefix + ".meta").graph_def
    assert out.startswith(f"graph: {tf1_training_dir.prefix}.meta (meta_graph")
    assert f"nodes: {len(graph_def.node):,}" in out
    assert "top level:" in out and "net (" in out and "save (" in out
    for name in tf1_training_dir.model_variables:
        assert f"  {name} " in out


def test_frozen_graph_and_saved_model(capsys, frozen_pb, savedmodel_dir):
    code, out, _ = run(capsys, str(frozen_pb.path), "--json")
    assert code == 0
    record = json.loads(out)
    names = {node["name"] for node in record["nodes"]}
    assert set(frozen_pb.constants) <= names and "output" in names
    code, out, _ = run(capsys, str(savedmodel_dir.directory))
    assert code == 0
    assert "(saved_model" in out and "library functions" in out
    assert "weights/.ATTRIBUTES/VARIABLE_VALUE" in out


@pytest.mark.parametrize("make", ["missing", "no_graph"])
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, tf2_module_ckpt, make):
    path = tmp_path / "nothing" if make == "missing" else Path(tf2_module_ckpt.prefix)
    code, out, err = run(capsys, str(path))
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1


def test_several_meta_graphs_pick_serve_and_say_so(capsys, multi_meta_graph_savedmodel):
    directory = str(multi_meta_graph_savedmodel.directory)
    code, out, err = run(capsys, directory, "--json")
    assert code == 0
    record = json.loads(out)
    assert record["tags"] == ["serve"]
    assert record["meta_graphs"] == [["serve"], ["serve", "gpu"], ["train"], ["eval"]]
    assert err.count("\n") == 1
    assert "'serve'" in err and "serve,gpu; train; eval" in err and "--tag" in err
    code, out, err = run(capsys, directory)
    assert code == 0 and "(saved_model, tags serve," in out.splitlines()[0]


@pytest.mark.parametrize("option", ["train", "gpu,serve", " serve , gpu "])
def test_tag_picks_a_meta_graph(capsys, multi_meta_graph_savedmodel, option):
    directory = multi_meta_graph_savedmodel.directory
    code, out, err = run(capsys, str(directory), "--tag", option, "--json")
    assert code == 0 and err == ""
    record = json.loads(out)
    wanted = {tag.strip() for tag in option.split(",")}
    assert set(record["tags"]) == wanted
    [theirs] = [m for m in their_meta_graphs(directory) if set(m.meta_info_def.tags) == wanted]
    assert [node["name"] for node in record["nodes"]] == [n.name for n in theirs.graph_def.node]


def test_unknown_tag_is_one_line_listing_the_tag_sets(capsys, multi_meta_graph_savedmodel):
    code, out, err = run(capsys, str(multi_meta_graph_savedmodel.directory), "--tag", "serving")
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1
    assert err.rstrip().endswith("serve; serve,gpu; train; eval")


def test_one_meta_graph_says_nothing_on_stderr(capsys, savedmodel_dir):
    code, out, err = run(capsys, str(savedmodel_dir.directory), "--json")
    assert code == 0 and err == ""
    assert json.loads(out)["meta_graphs"] == [["serve"]]
