"""`ls` and `show` on a TF2 checkpoint whose object-graph shard is missing: a warning, no stop."""

from __future__ import annotations

import json
import os

from tf_checkpoints import import_tensorflow

from ckpt_browser.cli import main


def run(capsys, *args: str) -> tuple[int, str, list[str]]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err.splitlines()


def test_ls_lists_every_name_and_warns_of_the_missing_shard(capsys, tf2_missing_graph_shard):
    prefix, missing = tf2_missing_graph_shard
    names = [name for name, _ in import_tensorflow().train.list_variables(prefix)]

    code, out, err = run(capsys, "ls", prefix)
    assert code == 0
    # What the window's bar says: the tensors the missing shard held, and the object graph lost.
    lost, graph = err
    assert lost.startswith("warning: ") and "cannot be read" in lost
    assert os.path.basename(missing) in lost
    assert graph.startswith("warning: ") and missing in graph and "object graph" in graph
    listed = [line.split()[0] for line in out.splitlines()[1:-1]]
    assert listed == names

    code, out, err = run(capsys, "ls", prefix, "--json")
    assert code == 0 and len(err) == 2
    assert [v["name"] for v in json.loads(out)["variables"]] == names


def test_show_reads_what_is_there_and_names_the_missing_file_otherwise(
    capsys, tf2_missing_graph_shard
):
    prefix, missing = tf2_missing_graph_shard
    code, out, err = run(capsys, "show", prefix, "model/a/.ATTRIBUTES/VARIABLE_VALUE", "--json")
    assert code == 0 and json.loads(out)["stats"]["max"] == 1.0
    assert err[0].startswith("warning: ")

    code, out, err = run(capsys, "show", prefix, "_CHECKPOINTABLE_OBJECT_GRAPH")
    assert code == 2 and out == ""
    assert err[-1] == f"error: {missing}: data shard is missing"
