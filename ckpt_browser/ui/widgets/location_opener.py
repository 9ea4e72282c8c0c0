"""Opening a checkpoint that lies behind a URL or inside an archive, off the event loop.

Opening a local prefix takes milliseconds; opening `s3://bucket/run` costs round trips to a
server that may be slow or failing. Such opens run as a task: the status bar says what is being
opened and how much has been fetched, a Cancel button stops the transfers, and a failure shows the
URL and the reason with a Retry, while the window (and the checkpoint already open) stays usable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, TypeVar

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QToolButton,
    QWidget,
)

from ckpt_browser.core.formatting import format_bytes
from ckpt_browser.format import Checkpoint, CheckpointRecord, open_checkpoint
from ckpt_browser.format.errors import NeedsUnpacking
from ckpt_browser.format.sources import locations
from ckpt_browser.format.sources.archives import unpack_archive
from ckpt_browser.format.sources.cache_dir import cache_directory
from ckpt_browser.ui.widgets.workers import TaskContext, TaskRunner

T = TypeVar("T")


class _Unpack(NamedTuple):
    """What opening found instead of a checkpoint: a tar archive to unpack first."""

    archive: str


Opened = Callable[[Checkpoint, list[CheckpointRecord]], None]

_REFRESH_MS = 500  # how often the fetched-bytes label is brought up to date


def opens_in_background(path: str) -> bool:
    """Whether opening `path` may wait on a network or unpack an archive member."""
    return not locations.is_plain_local(path)


def transfer_summary() -> str:
    """ "fetched 12.3 MB in 40 requests (8.1 MB/s)", or "" when nothing was fetched."""
    stats = locations.transfer_stats()
    if stats is None or not stats.requests:
        return ""
    rate = f" ({format_bytes(stats.recent_rate)}/s)" if stats.recent_rate else ""
    requests = "1 request" if stats.requests == 1 else f"{stats.requests:,} requests"
    return f"fetched {format_bytes(stats.bytes)} in {requests}{rate}"


class LocationOpener(QObject):
    """Runs the opens that may be slow, one at a time, and shows them in the status bar."""

    busy_changed = Signal(bool)
    failed = Signal(str)  # the sentence shown, for tests and scripts

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self._window = window
        self.runner = TaskRunner(self)
        self.runner.busy_changed.connect(self.busy_changed)
        self._handle = None
        self.opening_label = QLabel()
        self.opening_label.setTextFormat(Qt.TextFormat.PlainText)
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip("Stop opening (transfers in flight stop too)")
        self.cancel_button.clicked.connect(self.cancel)
        self.transfer_label = QLabel()
        self.transfer_label.setToolTip("Bytes fetched from servers since the program started")
        for widget in (self.opening_label, self.cancel_button):
            widget.setVisible(False)
            window.statusBar().addWidget(widget)
        window.statusBar().addPermanentWidget(self.transfer_label)
        self.error_box: QMessageBox | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(_REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self.runner.busy_changed.connect(self._on_busy_changed)

    @property
    def busy(self) -> bool:
        return self.runner.busy

    def open(self, path: str, on_opened: Opened) -> None:
        """Open `path` in a task; `on_opened(checkpoint, history)` runs on the GUI thread."""

        def work(context: TaskContext) -> tuple[Checkpoint, list[CheckpointRecord]] | _Unpack:
            try:
                checkpoint = open_checkpoint(path)
            except NeedsUnpacking as exc:  # a .tar.gz: offer to unpack it, on the GUI thread
                return _Unpack(exc.archive)
            try:
                checkpoint.check_shards()  # the shards' sizes: requests, so here and not later
                history = checkpoint.history()
                context.raise_if_cancelled()
            except BaseException:
                checkpoint.close()
                raise
            return checkpoint, history

        def done(result: tuple[Checkpoint, list[CheckpointRecord]] | _Unpack) -> None:
            if isinstance(result, _Unpack):
                self._offer_unpack(result.archive, lambda: self.open(path, on_opened))
            else:
                on_opened(*result)

        self.start(locations.shown(path), work, done)

    def start(
        self,
        what: str,
        work: Callable[[TaskContext], T],
        on_done: Callable[[T], None],
        doing: str = "Opening",
    ) -> None:
        """Run `work` (`doing` `what`, as the status bar says) in a task; `on_done(result)` runs
        on the GUI thread, a failure shows its sentence with Retry (which runs it again)."""
        self.cancel()
        label = f"{doing} {what}…"
        self.opening_label.setText(label)
        self.opening_label.setVisible(True)
        self.cancel_button.setVisible(True)
        self._timer.start()

        def done(result: T) -> None:
            self._finish()
            on_done(result)

        self._handle = self.runner.start(
            work,
            done,
            on_failed=lambda message: self._fail(
                message, lambda: self.start(what, work, on_done, doing)
            ),
            on_progress=lambda done: self.opening_label.setText(f"{label} {done:.0%}"),
            doing=f"{doing.lower()} {what}",
        )

    def _offer_unpack(self, archive: str, then: Callable[[], None]) -> None:
        """A tar archive cannot be read at random: ask to unpack it into the cache, then open."""
        shown = locations.shown(archive)
        answer = QMessageBox.question(
            self._window,
            "Unpack archive?",
            f"{shown} is a tar archive, which cannot be read at random.\n\nUnpack it into the "
            f"cache folder ({cache_directory()}) and open it? The archive itself is left as it "
            "is; unpacking it again later costs nothing.",
        )
        if answer != QMessageBox.StandardButton.Yes:
            return

        def work(context: TaskContext) -> str:
            return unpack_archive(archive, lambda done, total: context.report(done / total))

        self.start(shown, work, lambda _folder: then(), doing="Unpacking")

    def cancel(self) -> None:
        if self._handle is not None and self._handle.pending:
            self._handle.cancel()
        self._finish()

    def refresh(self) -> None:
        """Bring the fetched-bytes label up to date (a timer calls this while work runs)."""
        self.transfer_label.setText(transfer_summary())
        if not self.busy and not self.opening_label.isVisible():
            self._timer.setInterval(_REFRESH_MS * 4)  # idle: a late transfer still shows up

    def _on_busy_changed(self, busy: bool) -> None:
        if not busy:
            self.opening_label.setVisible(False)
            self.cancel_button.setVisible(False)
            self.refresh()

    def _finish(self) -> None:
        self.opening_label.setVisible(False)
        self.cancel_button.setVisible(False)
        self.refresh()

    def _fail(self, message: str, retry: Callable[[], None]) -> None:
        """Say why, offering Retry; the box does not block the window."""
        self._finish()
        if self.error_box is not None:
            self.error_box.close()
        box = QMessageBox(QMessageBox.Icon.Warning, "Could not open", message, parent=self._window)
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        retry_button = box.addButton("Retry", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Close)
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def answered() -> None:
            self.error_box = None
            if box.clickedButton() is retry_button:
                retry()

        box.finished.connect(lambda _result: answered())
        self.error_box = box
        box.show()
        self.failed.emit(message)


def ask_location(parent: QWidget, recent: list[str]) -> str | None:
    """File > Open Location: a URL or path typed or pasted, the recent remote ones offered."""
    remote = [path for path in recent if not locations.is_plain_local(path)]
    text, accepted = QInputDialog.getItem(
        parent,
        "Open location",
        "A checkpoint URL or path (a directory, prefix, .index, .zip, ...), for example\n"
        "  s3://bucket/run/   gs://bucket/model.ckpt-5000   https://host/release.zip\n"
        "  zip://uncased_L-12_H-768_A-12::https://host/uncased_L-12_H-768_A-12.zip\n"
        "Credentials come from the usual places (environment, config files); none are stored.",
        remote,
        0,
        True,
    )
    text = text.strip()
    return text if accepted and text else None
