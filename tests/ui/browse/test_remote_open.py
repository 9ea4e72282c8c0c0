"""The window on checkpoints behind URLs: opened in the background with what was fetched in the
status bar, a failing server answered with Retry while the window stays usable, Cancel, and the
remote settings."""

from __future__ import annotations

import os
import time

import pytest
from http_range_server import RangeServer
from PySide6.QtWidgets import QMessageBox

from ckpt_browser.format.sources import remote_settings

pytestmark = pytest.mark.usefixtures("fresh_remote_state")


@pytest.fixture
def served(shapes_ckpt):
    with RangeServer(os.path.dirname(shapes_ckpt.prefix), stall_seconds=10) as server:
        yield server, os.path.basename(shapes_ckpt.prefix)


def test_a_url_opens_in_the_background_and_the_status_bar_says_what_was_fetched(
    window, qtbot, served, shapes_ckpt
):
    server, name = served
    assert window.open_path(server.url(name))  # returns at once: the open runs in a task
    qtbot.waitUntil(lambda: window.checkpoint is not None, timeout=10_000)
    assert window.checkpoint.prefix == server.url(name)
    assert set(window.checkpoint) == set(shapes_ckpt.expected)
    assert window.prefix_label.text().startswith(server.url(name))
    window.opener.refresh()
    assert window.opener.transfer_label.text().startswith("fetched ")
    assert not window.opener.opening_label.isVisible()


def test_a_failing_server_gives_the_url_the_reason_and_a_retry_that_works(
    window, qtbot, served, shapes_ckpt
):
    server, name = served
    server.fault(f"/{name}.index", "500")
    window.open_path(server.url(name))
    qtbot.waitUntil(lambda: window.opener.error_box is not None, timeout=15_000)
    box = window.opener.error_box
    assert server.url(name) in box.text() and "500" in box.text()
    assert window.isEnabled() and not box.isModal()  # the window stays usable
    server.fault(f"/{name}.index", None)
    retry = next(b for b in box.buttons() if b.text() == "Retry")
    retry.click()
    qtbot.waitUntil(lambda: window.checkpoint is not None, timeout=10_000)
    assert set(window.checkpoint) == set(shapes_ckpt.expected)


def test_cancel_stops_an_open_waiting_on_a_stalled_server(window, qtbot, served):
    server, name = served
    server.fault(f"/{name}.index", "stall")
    window.open_path(server.url(name))
    qtbot.waitUntil(lambda: window.opener.busy, timeout=5_000)
    qtbot.wait(300)
    started = time.monotonic()
    window.opener.cancel_button.click()
    qtbot.waitUntil(lambda: not window.opener.busy, timeout=5_000)
    assert time.monotonic() - started < 1.5  # 0.5 s asked; slack for a loaded machine
    assert window.checkpoint is None and window.opener.error_box is None


def test_the_remote_settings_dialog_applies_and_keeps_its_values(window, qtbot):
    dialog = window.open_remote_settings()
    dialog.memory_cache.setValue(64)
    dialog.timeout.setValue(12)
    dialog.disk_cache.setChecked(True)
    dialog.accept()
    current = remote_settings.settings()
    assert current.memory_cache_bytes == 64 << 20 and current.timeout_s == 12
    assert current.disk_cache
    assert window._settings.value("remote/memory_cache_mb") in (64, "64")


def test_the_error_box_is_a_warning_with_retry_and_close(window, qtbot, served):
    server, _ = served
    window.open_path(server.url("missing/model.ckpt-1"))
    qtbot.waitUntil(lambda: window.opener.error_box is not None, timeout=10_000)
    box = window.opener.error_box
    assert box.icon() == QMessageBox.Icon.Warning
    assert sorted(b.text().replace("&", "") for b in box.buttons()) == ["Close", "Retry"]
    assert window.last_error == box.text()


def test_a_tar_archive_is_offered_for_unpacking_into_the_cache_and_then_opens(
    window, qtbot, tmp_path, monkeypatch
):
    from archive_files import make_release_folder, tar_folder
    from PySide6.QtWidgets import QMessageBox

    release = make_release_folder(tmp_path)
    archive = tar_folder(release.root, tmp_path / "release.tar.gz")
    asked = []

    def answer_yes(parent, title, text, *args, **kwargs):
        asked.append(text)
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", staticmethod(answer_yes))
    window.open_path(str(archive))
    qtbot.waitUntil(lambda: window.checkpoint is not None, timeout=20_000)
    assert "cannot be read at random" in asked[0] and str(tmp_path / "cache") in asked[0]
    assert "bert/pooler/dense/kernel" in window.checkpoint
    # Shown by the archive's own location, read from the copy in the cache, never beside it.
    assert window.checkpoint.prefix.startswith(str(archive) + "/")
    assert any((tmp_path / "cache" / "archives" / "unpacked").iterdir())
    assert sorted(p.name for p in (tmp_path).iterdir() if p.name != "settings") == [
        "cache",
        "release",
        "release.tar.gz",
    ]  # nothing was written beside the archive
