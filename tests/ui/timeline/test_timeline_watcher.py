"""A run that is still writing, with the window open on it: TensorFlow saves with a
CheckpointManager (max_to_keep) while the window watches; new checkpoints join the switcher and the
timeline, deleted ones leave without an error, a deleted checkpoint on screen is said to be so,
"Follow Latest" keeps the newest on screen, and a half-written index is never read. Over HTTP the
directory is polled."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from http_range_server import RangeServer
from tf_checkpoints import import_tensorflow

from ckpt_browser.format.sources import remote

KEY = "layer/kernel/.ATTRIBUTES/VARIABLE_VALUE"
WAIT_MS = 15_000


class Writer:
    """A TF2 training loop's saving side: a variable and a CheckpointManager keeping three."""

    def __init__(self, directory: Path, max_to_keep: int = 3) -> None:
        tf = import_tensorflow()
        self.tf = tf
        self.layer = tf.Module()
        self.layer.kernel = tf.Variable(tf.zeros([4, 3]))
        checkpoint = tf.train.Checkpoint(layer=self.layer)
        self.manager = tf.train.CheckpointManager(checkpoint, str(directory), max_to_keep)
        self.values: dict[int, np.ndarray] = {}

    def save(self, step: int) -> str:
        value = np.full((4, 3), float(step), dtype=np.float32)
        value[0, 0] = -step
        self.layer.kernel.assign(value)
        self.values[step] = value
        return self.manager.save(checkpoint_number=step)


def switcher_steps(window) -> list[int]:
    """The steps the checkpoint switcher lists (not the open one it adds when that is gone)."""
    combo = window.history.combo
    return [
        int(combo.itemData(i).rsplit("-", 1)[1])
        for i in range(combo.count())
        if not combo.itemText(i).endswith("(not listed)")
    ]


def timeline_steps(panel) -> list[int]:
    timeline = panel.model.timeline
    return [] if timeline is None else [point.step for point in timeline.points]


@pytest.fixture
def writer(tmp_path) -> Writer:
    return Writer(tmp_path / "run")


def test_saves_appear_and_deleted_ones_go_while_the_window_is_open(
    window, qtbot, writer, tmp_path, show_timeline
):
    first = writer.save(1)
    writer.save(2)
    panel = show_timeline(window, str(tmp_path / "run"), KEY)
    assert window.checkpoint.step == 2 and timeline_steps(panel) == [1, 2]
    window.switch_to(first)
    assert window.tree.selected_key() == KEY

    writer.save(3)
    qtbot.waitUntil(lambda: switcher_steps(window) == [1, 2, 3], timeout=WAIT_MS)
    qtbot.waitUntil(lambda: timeline_steps(panel) == [1, 2, 3], timeout=WAIT_MS)
    norms = dict(zip(*panel.model.timeline.series("norm")))
    assert norms[3] == pytest.approx(np.linalg.norm(writer.values[3].astype(np.float64)))
    assert window.next_action.isEnabled()  # Go > Next reaches the new one

    writer.save(4)  # max_to_keep=3: step 1, the one on screen, is deleted
    qtbot.waitUntil(lambda: switcher_steps(window) == [2, 3, 4], timeout=WAIT_MS)
    qtbot.waitUntil(lambda: timeline_steps(panel) == [2, 3, 4], timeout=WAIT_MS)
    assert not os.path.exists(first + ".index")
    assert window.last_error is None and window.error_box is None
    assert window.notice_bar.isVisible()
    assert window.notice_bar.label.text() == (
        "ckpt-1 was deleted from its directory; what is on screen was read before."
        " The newest checkpoint is ckpt-4."
    )
    # The switcher still names the checkpoint on screen rather than claiming another is open.
    assert window.history.combo.currentText().startswith("ckpt-1  (not listed)")
    assert window.checkpoint.prefix == first
    assert window.tree.selected_key() == KEY


def test_follow_latest_keeps_the_newest_on_screen_and_the_variable(
    window, qtbot, writer, tmp_path, show_timeline
):
    writer.save(10)
    oldest = writer.save(20)
    panel = show_timeline(window, str(tmp_path / "run"), KEY)
    window.switch_to(writer.manager.checkpoints[0])
    action = window.timeline_dock.follow_action
    action.setChecked(True)  # at once: the newest
    qtbot.waitUntil(lambda: window.checkpoint.prefix == oldest, timeout=WAIT_MS)
    for step in (30, 40, 50):
        newest = writer.save(step)
        qtbot.waitUntil(lambda p=newest: window.checkpoint.prefix == p, timeout=WAIT_MS)
        assert window.tree.selected_key() == KEY
    qtbot.waitUntil(lambda: timeline_steps(panel) == [30, 40, 50], timeout=WAIT_MS)
    assert panel.model.current_index() == 2
    assert window.last_error is None and not window.notice_bar.isVisible()
    action.setChecked(False)
    writer.save(60)
    qtbot.waitUntil(lambda: switcher_steps(window)[-1] == 60, timeout=WAIT_MS)
    assert window.checkpoint.prefix == newest


def test_a_half_written_index_is_never_read(window, qtbot, writer, tmp_path, show_timeline):
    """TensorFlow writes the data, then the index under a temporary name, then renames it."""
    directory = tmp_path / "run"
    source = writer.save(5)
    writer.save(6)
    panel = show_timeline(window, str(directory), KEY)
    session = panel.session
    shutil.copy(source + ".data-00000-of-00001", directory / "ckpt-7.data-00000-of-00001")
    index = Path(source + ".index").read_bytes()
    temporary = directory / "ckpt-7.index.tempstate12345"
    temporary.write_bytes(index[: len(index) // 2])
    (directory / "ckpt-7_temp").mkdir()
    session.poke()
    qtbot.waitUntil(lambda: not session.busy, timeout=WAIT_MS)
    qtbot.wait(600)  # the notifications of the writes above have settled and been listed
    qtbot.waitUntil(lambda: not session.busy, timeout=WAIT_MS)
    assert switcher_steps(window) == [5, 6]
    assert timeline_steps(panel) == [5, 6]
    temporary.write_bytes(index)
    os.rename(temporary, directory / "ckpt-7.index")
    qtbot.waitUntil(lambda: switcher_steps(window) == [5, 6, 7], timeout=WAIT_MS)
    qtbot.waitUntil(lambda: timeline_steps(panel) == [5, 6, 7], timeout=WAIT_MS)
    assert [point.status.value for point in panel.model.timeline.points] == ["ok"] * 3
    assert window.last_error is None


def test_a_run_behind_a_url_is_polled(
    window, qtbot, writer, tmp_path, fresh_remote_state, monkeypatch
):
    directory = tmp_path / "run"
    writer.save(1)
    writer.save(2)
    monkeypatch.setattr(remote, "LISTING_SECONDS", 0.1)
    with RangeServer(str(directory)) as server:
        session = window.timeline_dock.session
        session.watcher.set_poll_interval(300)
        assert window.open_path(server.url("ckpt-2"))
        qtbot.waitUntil(lambda: window.checkpoint is not None, timeout=WAIT_MS)
        qtbot.waitUntil(lambda: session.run is not None, timeout=WAIT_MS)
        assert session.watcher.polling
        panel = window.timeline_dock.show_timeline()
        assert window.select(KEY)
        qtbot.waitUntil(lambda: timeline_steps(panel) == [1, 2], timeout=WAIT_MS)
        writer.save(3)
        qtbot.waitUntil(lambda: switcher_steps(window) == [1, 2, 3], timeout=WAIT_MS)
        qtbot.waitUntil(lambda: timeline_steps(panel) == [1, 2, 3], timeout=WAIT_MS)
        writer.save(4)
        qtbot.waitUntil(lambda: switcher_steps(window) == [2, 3, 4], timeout=WAIT_MS)
        assert window.last_error is None and window.error_box is None
        window.close()
