"""The window given hostile files: FIFOs in a checkpoint, a looping restore function, a graph of
huge splat constants. Each opens (or is refused with a sentence) promptly, and the window closes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from collections.abc import Iterator

import pytest
from damaged_files import copy_checkpoint

from ckpt_browser.format import protos
from ckpt_browser.ui.graph.panel import GraphPanel
from tests.format.test_special_files import replace_with_fifo

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")

DEADLINE = 20.0


@pytest.fixture
def unblock_later() -> Iterator:
    """`unblock_later(fifo)`: after DEADLINE, a writer opens the FIFO, so that a test that
    wrongly blocks on it fails instead of hanging the run."""
    timers = []

    def arm(fifo: str) -> None:
        def release() -> None:
            with contextlib.suppress(OSError):  # nobody was blocked reading it
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))

        timer = threading.Timer(DEADLINE, release)
        timer.daemon = True
        timer.start()
        timers.append(timer)

    yield arm
    for timer in timers:
        timer.cancel()


def test_open_a_directory_whose_state_file_is_a_fifo(
    qtbot, window, unblock_later, all_dtypes_ckpt, tmp_path
):
    copy_checkpoint(all_dtypes_ckpt.prefix, tmp_path)
    fifo = replace_with_fifo(tmp_path / "checkpoint")
    unblock_later(fifo)
    started = time.monotonic()
    assert not window.open_path(str(tmp_path))
    assert time.monotonic() - started < DEADLINE / 2
    assert window.last_error == (
        f"{fifo}: the 'checkpoint' state file is a FIFO (named pipe), not a regular file, "
        "so it is not read"
    )
    prefix = os.path.join(tmp_path, os.path.basename(all_dtypes_ckpt.prefix))
    assert window.open_path(prefix)  # by its prefix, the checkpoint opens
    assert window.tree.select_key("float32")
    window.close()
    assert not window.isVisible()


def test_open_a_checkpoint_whose_index_or_graph_is_a_fifo(
    qtbot, window, wait_idle, unblock_later, all_dtypes_ckpt, tmp_path
):
    prefix = copy_checkpoint(all_dtypes_ckpt.prefix, tmp_path)
    meta = replace_with_fifo(prefix + ".meta")  # a graph beside it is looked for at open
    unblock_later(meta)
    assert window.open_path(prefix)
    wait_idle(window)
    index = replace_with_fifo(prefix + ".index")
    unblock_later(index)
    started = time.monotonic()
    assert not window.reload()
    assert time.monotonic() - started < DEADLINE / 2
    assert "index file is a FIFO" in window.last_error


def test_a_data_shard_fifo_is_a_warning_then_an_error(
    qtbot, window, wait_idle, unblock_later, all_dtypes_ckpt, tmp_path
):
    prefix = copy_checkpoint(all_dtypes_ckpt.prefix, tmp_path)
    shard = replace_with_fifo(prefix + ".data-00000-of-00001")
    unblock_later(shard)
    assert window.open_path(prefix)
    assert "shard 0 (all_dtypes.data-00000-of-00001) is a FIFO" in window.notice_bar.label.text()
    window.tree.select_key("float32")
    wait_idle(window)
    assert window.last_error is not None and "data shard is a FIFO" in window.last_error


def test_graph_panel_shows_a_saved_model_whose_restore_function_loops(
    qtbot, savedmodel_dir, tmp_path
):
    shutil.copytree(savedmodel_dir.directory, tmp_path / "model")
    path = tmp_path / "model" / "saved_model.pb"
    saved = protos.SavedModel.FromString(path.read_bytes())
    for function in saved.meta_graphs[0].graph_def.library.function:
        for node in function.node_def:
            if node.op == "Identity" and node.input:
                node.input[0] = f"{node.name}:output:0"  # every Identity feeds itself
    path.write_bytes(saved.SerializeToString())

    panel = GraphPanel()
    qtbot.addWidget(panel)
    panel.show()
    try:
        panel.set_graph(str(tmp_path / "model"))
        qtbot.waitUntil(lambda: not panel.busy and panel.model is not None, timeout=30_000)
        assert "2 variables" in panel.summary.text()
    finally:
        panel.shutdown()


def test_a_graph_of_huge_splat_constants_shows_them(qtbot, window, wait_idle, tmp_path):
    graph = protos.GraphDef()
    for index in range(4):
        node = graph.node.add(name=f"splat_{index}", op="Const")
        tensor = node.attr["value"].tensor
        tensor.dtype = 1
        tensor.tensor_shape.dim.add(size=1 << 13)
        tensor.tensor_shape.dim.add(size=1 << 13)  # 256 MB of float32 each
        tensor.float_val.append(index + 0.5)
    path = tmp_path / "splats.pb"
    path.write_bytes(graph.SerializeToString())
    assert window.open_path(str(path))
    panel = window.graph_dock.panel
    qtbot.waitUntil(lambda: panel.model is not None and not panel.busy, timeout=30_000)
    for index in range(4):
        name = f"splat_{index}"
        item = panel.model.representative(panel.model.find(name))
        panel.canvas.select_item(None)
        panel.reveal(item)
        qtbot.waitUntil(lambda item=item: panel.selected_item() == item, timeout=30_000)
        panel.canvas.select_item(None)
        panel.canvas.node_items()[item].setSelected(True)
        wait_idle(window, timeout=60_000)
        assert window.tensor_view.key == name
        stats = window.tensor_view.analysis.stats
        assert (stats.count, stats.min, stats.max) == (1 << 26, index + 0.5, index + 0.5)
    # The frozen graph is the open checkpoint: each splat is a view of its one value.
    assert window.checkpoint.format_name == "graph"
    assert all(window.checkpoint.read(f"splat_{i}").strides == (0, 0) for i in range(4))


def test_graph_panel_reveals_a_node_a_thousand_scopes_deep(qtbot, tmp_path):
    scopes = "/".join(f"s{i}" for i in range(1000))
    graph = protos.GraphDef()
    graph.node.add(name="input", op="Placeholder")
    graph.node.add(name=f"{scopes}/leaf", op="Identity", input=["input"])
    path = tmp_path / "deep.pb"
    path.write_bytes(graph.SerializeToString())

    panel = GraphPanel()
    qtbot.addWidget(panel)
    panel.resize(900, 700)
    panel.show()
    try:
        panel.set_graph(str(path))
        qtbot.waitUntil(lambda: not panel.busy and panel.model is not None, timeout=30_000)
        assert panel.select_node(f"{scopes}/leaf")
        leaf = panel.model.representative(panel.model.find(f"{scopes}/leaf"))
        qtbot.waitUntil(lambda: panel.selected_item() == leaf, timeout=60_000)
        assert len(panel.state.expanded) == 1000
    finally:
        panel.shutdown()
