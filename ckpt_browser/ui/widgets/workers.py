"""Background work for the window: QThreadPool tasks with progress, cancel and queued results.

Slow work (reading a large tensor, exact statistics, downsampling) runs in a pool thread so the
event loop keeps painting. A task is a plain function `work(context) -> result`; it calls
`context.report(fraction)` now and then and `context.raise_if_cancelled()` (or passes
`context.cancelled` to core functions that poll it). Results, errors and progress come back by
queued signals and are handed to the callbacks on the GUI thread. A cancelled task's late result is
dropped, so a callback never sees work the user has already moved away from. An error reaches the
callback as one sentence (`error_sentence`); the traceback of an unexpected one goes to the debug
log only.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal, Slot

from ckpt_browser.core.error_text import error_sentence
from ckpt_browser.core.tensor.stats import Cancelled
from ckpt_browser.format import CheckpointError
from ckpt_browser.format.sources import cancellable

log = logging.getLogger(__name__)

# Progress goes to the GUI at most every 1 % and every 50 ms (the start and the end always): a
# progress bar repaints on each change, and core may report after every small chunk.
_PROGRESS_STEP = 0.01
_PROGRESS_INTERVAL_S = 0.05


class TaskContext:
    """What a running task sees: a cancel flag to poll and a progress reporter."""

    def __init__(self, task_id: int, signals: _TaskSignals) -> None:
        self._task_id = task_id
        self._signals = signals
        self._cancel_event = threading.Event()
        self._last_reported = -1.0
        self._last_report_time = 0.0

    def cancel(self) -> None:
        self._cancel_event.set()

    def cancelled(self) -> bool:
        """True once the GUI asked the task to stop; core functions poll this between chunks."""
        return self._cancel_event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._cancel_event.is_set():
            raise Cancelled()

    def publish(self, partial: object) -> None:
        """Hand an early result to the GUI (a quick preview) while the task goes on."""
        self._signals.partial.emit(self._task_id, partial)

    def report(self, fraction: float) -> None:
        """Tell the GUI how far the task is (0..1); cheap to call often."""
        now = time.monotonic()
        first = self._last_reported < 0
        due = (
            fraction - self._last_reported >= _PROGRESS_STEP
            and now - self._last_report_time >= _PROGRESS_INTERVAL_S
        )
        if first or fraction >= 1.0 or due:
            self._last_reported = fraction
            self._last_report_time = now
            self._signals.progress.emit(self._task_id, float(fraction))


class _TaskSignals(QObject):
    """Signals a pool thread emits; they are queued to the runner on the GUI thread."""

    progress = Signal(int, float)
    partial = Signal(int, object)
    finished = Signal(int, object)
    failed = Signal(int, str)
    cancelled = Signal(int)


# Errors that are about the user's input (a damaged file, a full disk), not bugs: their message is
# shown as it is, without a traceback in the log.
USER_ERRORS: tuple[type[BaseException], ...] = (CheckpointError, OSError)


class _Task(QRunnable):
    def __init__(
        self,
        task_id: int,
        work: Callable[[TaskContext], Any],
        signals: _TaskSignals,
        user_errors: tuple[type[BaseException], ...],
        doing: str,
    ) -> None:
        super().__init__()
        self.user_errors = user_errors
        self.doing = doing
        self.setAutoDelete(False)  # the runner keeps a reference until the result has arrived
        self.task_id = task_id
        self.work = work
        self.signals = signals
        self.context = TaskContext(task_id, signals)

    def run(self) -> None:
        try:
            if self.context.cancelled():
                raise Cancelled()
            # A read waiting on a network polls the same flag, so Cancel stops a transfer too.
            with cancellable(self.context.cancelled):
                result = self.work(self.context)
        except Cancelled:
            self.signals.cancelled.emit(self.task_id)
        except self.user_errors as error:
            message = error_sentence(error, self.doing, self.user_errors)
            self.signals.failed.emit(self.task_id, message)
        except Exception as error:  # a bug or an unexpected state: report it, keep the app alive
            log.debug("could not %s", self.doing, exc_info=True)
            self.signals.failed.emit(self.task_id, error_sentence(error, self.doing))
        else:
            self.signals.finished.emit(self.task_id, result)


@dataclass
class TaskHandle:
    """The GUI side of one task: cancel it, or ask whether it is still pending."""

    task_id: int
    context: TaskContext
    on_done: Callable[[Any], None]
    on_failed: Callable[[str], None] | None = None
    on_progress: Callable[[float], None] | None = None
    on_partial: Callable[[Any], None] | None = None
    pending: bool = field(default=True)

    def cancel(self) -> None:
        self.context.cancel()

    @property
    def cancel_requested(self) -> bool:
        return self.context.cancelled()


class TaskRunner(QObject):
    """Starts tasks on a thread pool and delivers their outcome to callbacks on the GUI thread.

    `busy_changed(bool)` fires when the first task starts and when the last one has ended, which is
    what the screenshot mode and the progress indicator wait on.
    """

    busy_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None, pool: QThreadPool | None = None) -> None:
        super().__init__(parent)
        self._pool = pool or QThreadPool.globalInstance()
        self._ids = itertools.count(1)
        self._tasks: dict[int, tuple[_Task, TaskHandle]] = {}
        self._signals = _TaskSignals()
        queued = Qt.ConnectionType.QueuedConnection
        self._signals.progress.connect(self._on_progress, queued)
        self._signals.partial.connect(self._on_partial, queued)
        self._signals.finished.connect(self._on_finished, queued)
        self._signals.failed.connect(self._on_failed, queued)
        self._signals.cancelled.connect(self._on_cancelled, queued)

    @property
    def busy(self) -> bool:
        return bool(self._tasks)

    def start(
        self,
        work: Callable[[TaskContext], Any],
        on_done: Callable[[Any], None],
        *,
        on_failed: Callable[[str], None] | None = None,
        on_progress: Callable[[float], None] | None = None,
        on_partial: Callable[[Any], None] | None = None,
        user_errors: tuple[type[BaseException], ...] = USER_ERRORS,
        doing: str = "finish the work",
    ) -> TaskHandle:
        """Run `work(context)` on the pool; its outcome goes to one of the callbacks.

        `user_errors` are reported by their message alone; anything else as "could not `doing`:
        Type: text", its traceback in the debug log. `doing` says what and where ("read 'w' of
        /data/model").
        """
        task_id = next(self._ids)
        task = _Task(task_id, work, self._signals, user_errors, doing)
        handle = TaskHandle(task_id, task.context, on_done, on_failed, on_progress, on_partial)
        was_busy = self.busy
        self._tasks[task_id] = (task, handle)
        self._pool.start(task)
        if not was_busy:
            self.busy_changed.emit(True)
        return handle

    def cancel_all(self) -> None:
        for _, handle in self._tasks.values():
            handle.cancel()

    def wait_all(self, timeout_ms: int = -1) -> bool:
        """Block until the pool is idle (used on close so no thread outlives the checkpoint)."""
        return self._pool.waitForDone(timeout_ms)

    def _take(self, task_id: int) -> TaskHandle | None:
        entry = self._tasks.pop(task_id, None)
        if entry is None:
            return None
        handle = entry[1]
        handle.pending = False
        return handle

    def _after(self) -> None:
        if not self.busy:
            self.busy_changed.emit(False)

    @Slot(int, float)
    def _on_progress(self, task_id: int, fraction: float) -> None:
        entry = self._tasks.get(task_id)
        if entry is None:
            return
        handle = entry[1]
        if handle.on_progress is not None and not handle.cancel_requested:
            handle.on_progress(fraction)

    @Slot(int, object)
    def _on_partial(self, task_id: int, partial: object) -> None:
        entry = self._tasks.get(task_id)
        if entry is None:
            return
        handle = entry[1]
        if handle.on_partial is not None and not handle.cancel_requested:
            handle.on_partial(partial)

    @Slot(int, object)
    def _on_finished(self, task_id: int, result: object) -> None:
        handle = self._take(task_id)
        try:
            if handle is not None and not handle.cancel_requested:
                handle.on_done(result)
        finally:
            self._after()

    @Slot(int, str)
    def _on_failed(self, task_id: int, message: str) -> None:
        handle = self._take(task_id)
        try:
            if handle is not None and not handle.cancel_requested and handle.on_failed:
                handle.on_failed(message)
        finally:
            self._after()

    @Slot(int)
    def _on_cancelled(self, task_id: int) -> None:
        self._take(task_id)
        self._after()
