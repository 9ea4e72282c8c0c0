"""The window opens a TF2 checkpoint whose object-graph shard is missing and says what is lost."""

from __future__ import annotations

import os

from PySide6.QtWidgets import QApplication


def test_missing_object_graph_shard_opens_with_the_notice_bar(
    window, wait_idle, tf2_missing_graph_shard
):
    prefix, missing = tf2_missing_graph_shard
    assert window.open_path(prefix)
    assert window.error_box is None and QApplication.activeModalWidget() is None
    bar = window.notice_bar
    assert bar.isVisible()
    lines = bar.label.text().splitlines()
    assert any(os.path.basename(missing) in line and "is missing" in line for line in lines)
    assert any("object graph" in line for line in lines)
    keys = {leaf.key for leaf in window.tree.model.root.tensors()}
    assert "model/a/.ATTRIBUTES/VARIABLE_VALUE" in keys and "_CHECKPOINTABLE_OBJECT_GRAPH" in keys

    assert window.select("model/a/.ATTRIBUTES/VARIABLE_VALUE")  # in a shard that is there
    wait_idle(window)
    assert window.last_error is None
    assert window.select("_CHECKPOINTABLE_OBJECT_GRAPH")  # in the missing one
    wait_idle(window)
    assert window.last_error == f"{missing}: data shard is missing"
    assert window.error_box is None  # said in the pane, not in a dialog


def test_verify_prints_what_the_notice_bar_shows(window, capsys, tf2_missing_graph_shard):
    """`verify` says, one `warning:` line each, what the window's bar says at open."""
    from ckpt_browser.cli import main

    prefix, _missing = tf2_missing_graph_shard
    assert main(["verify", prefix]) == 1
    err = capsys.readouterr().err.splitlines()
    warnings = [line.removeprefix("warning: ") for line in err if line.startswith("warning: ")]
    assert window.open_path(prefix)
    assert sorted(window.notice_bar.label.text().splitlines()) == sorted(warnings)
    assert len(warnings) == 2 and any("cannot be read" in w for w in warnings)
