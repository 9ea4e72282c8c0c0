"""Noticing that a run's directory changed: file-system notifications for a local folder, polling
for a URL or an archive (or a local folder the system will not watch).

The watcher only says "look again" (`poked`); what changed is for whoever lists the directory
(`session`). Notifications come in bursts while TensorFlow saves (the data files, the index renamed
into place, the `checkpoint` file), so they are gathered for SETTLE_MS into one poke.
"""

from __future__ import annotations

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Signal

from ckpt_browser.format.sources.locations import is_plain_local

SETTLE_MS = 300
POLL_INTERVAL_MS = 10_000  # a remote listing every 10 s: new saves come minutes apart


class RunWatcher(QObject):
    """Watches one directory at a time (`watch`); `poked` when it may have changed."""

    poked = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.directory: str | None = None
        self.polling = False
        self._files = QFileSystemWatcher(self)
        self._files.directoryChanged.connect(lambda _path: self._settle.start())
        self._settle = QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.setInterval(SETTLE_MS)
        self._settle.timeout.connect(self.poked)
        self._poll = QTimer(self)
        self._poll.setInterval(POLL_INTERVAL_MS)
        self._poll.timeout.connect(self.poked)

    @property
    def poll_interval_ms(self) -> int:
        return self._poll.interval()

    def set_poll_interval(self, milliseconds: int) -> None:
        self._poll.setInterval(milliseconds)

    def watch(self, directory: str | None) -> None:
        """Watch `directory` instead of the one before (None: nothing)."""
        if directory == self.directory:
            return
        self.stop()
        self.directory = directory
        if directory is None:
            return
        self.polling = not (is_plain_local(directory) and self._files.addPath(directory))
        if self.polling:
            self._poll.start()

    def ensure_watched(self) -> None:
        """Watch again a local folder that was removed and made anew (the system drops it)."""
        directory = self.directory
        if directory is None or self.polling or directory in self._files.directories():
            return
        if not self._files.addPath(directory):
            self.polling = True
            self._poll.start()

    def stop(self) -> None:
        if self._files.directories():
            self._files.removePaths(self._files.directories())
        self._poll.stop()
        self._settle.stop()
        self.directory = None
        self.polling = False
