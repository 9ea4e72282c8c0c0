"""The run behind the timeline views: opened, computed on and kept up to date in the background.

One `RunSession` follows the directory of the checkpoint the window shows. It opens the `Run`,
computes timelines and the overview in worker threads (progress, cancel, `TimelineCache` on disk
and the latest results in memory, so going back to a variable is instant), and watches the
directory (`watcher`): each time it may have changed the directory is listed again, off the event
loop, and a different listing is announced at once (`records_changed`, for the checkpoint switcher)
and applied to the run with `Run.refresh` as soon as no computation is reading the run, after which
what is on show is computed again (the steps known before come from the cache).

Only complete checkpoints are listed: `format.paths.history` counts a V2 checkpoint by its
`.index`, which TensorFlow writes last and renames into place (a `.tempstate` file is never one).
A QObject with signals that knows no widget.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from functools import partial

from PySide6.QtCore import QObject, Signal

from ckpt_browser.core.tasks.choice import ComputeTarget
from ckpt_browser.core.tasks.cluster import ClusterError
from ckpt_browser.core.timeline import (
    Overview,
    Run,
    Timeline,
    TimelineCache,
    compute_overview,
    compute_timeline,
)
from ckpt_browser.format import CheckpointError, CheckpointRecord
from ckpt_browser.format import paths as format_paths
from ckpt_browser.format.sources import locations as where
from ckpt_browser.ui.timeline.watcher import RunWatcher
from ckpt_browser.ui.widgets.workers import USER_ERRORS, TaskContext, TaskHandle, TaskRunner

KEPT_TIMELINES = 32  # in memory; each holds a histogram per step (~10 KB a step)


def run_directory(prefix: str) -> str:
    """The directory whose run a checkpoint belongs to."""
    return where.abspath(os.path.dirname(prefix))


def list_run(directory: str) -> list[CheckpointRecord]:
    """The complete checkpoints of `directory` now (none when it cannot be listed)."""
    try:
        return format_paths.history(directory)
    except (CheckpointError, OSError):
        return []


def signature(records: list[CheckpointRecord]) -> tuple:
    return tuple((record.prefix, record.timestamp) for record in records)


class RunSession(QObject):
    """Timelines and the overview of one run at a time (see the module docstring)."""

    run_opened = Signal(object)  # Run
    open_failed = Signal(str)
    records_changed = Signal(object)  # list[CheckpointRecord]: the directory as it is now
    run_changed = Signal(object)  # RunChanges: the run took them in; results are recomputed
    timeline_ready = Signal(object)  # Timeline
    timeline_failed = Signal(str, str)  # name, sentence
    overview_ready = Signal(object)  # Overview
    overview_failed = Signal(str)
    progress = Signal(str, float)  # "timeline" or "overview", fraction done
    busy_changed = Signal(bool)

    def __init__(self, cache: TimelineCache | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.cache = cache if cache is not None else TimelineCache()
        self.watcher = RunWatcher(self)
        self.watcher.poked.connect(self.poke)
        self._readers = TaskRunner(self)  # work that reads the run: timelines, the overview
        self._admin = TaskRunner(self)  # opening, listing and refreshing the run
        for runner in (self._readers, self._admin):
            runner.busy_changed.connect(self._on_runner_busy)
        self.run: Run | None = None
        self.directory: str | None = None
        self.records: list[CheckpointRecord] = []  # the latest listing
        self.generation = 0  # counts the changes the run took in
        self._signature: tuple | None = None
        self._retired: list[Run] = []  # closed once no task reads them
        self._timelines: OrderedDict[str, Timeline] = OrderedDict()
        self._overview: Overview | None = None
        self.wanted_name: str | None = None
        self.overview_wanted = False
        self._timeline_task: TaskHandle | None = None
        self._timeline_name: str | None = None
        self._overview_task: TaskHandle | None = None
        self._open_task: TaskHandle | None = None
        self._refresh_task: TaskHandle | None = None
        self._probe_task: TaskHandle | None = None
        self._poke_again = False
        self.compute: ComputeTarget | None = None  # a Dask cluster for the reading, if chosen
        self._refresh_due = False
        self._was_busy = False

    # -- public -----------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._readers.busy or self._admin.busy

    @property
    def computing(self) -> bool:
        """A timeline or the overview is being computed (what a Cancel button stops)."""
        return self._timeline_task is not None or self._overview_task is not None

    def follow(self, prefix: str | None) -> None:
        """Work on the run of the directory holding checkpoint `prefix` (None: no run)."""
        directory = None if prefix is None else run_directory(prefix)
        if directory == self.directory:
            return
        self._drop_run()
        self.directory = directory
        self.watcher.watch(directory)
        if directory is None:
            return

        def open_run(_context: TaskContext) -> Run:
            return Run.open(directory)

        self._open_task = self._admin.start(
            open_run,
            partial(self._on_opened, directory),
            on_failed=partial(self._on_open_failed, directory),
            doing=f"list the checkpoints of {where.shown(directory)}",
        )

    def request_timeline(self, name: str | None) -> None:
        """Show the timeline of variable or scope `name` (a scope ends in "/"); None: nothing."""
        self.wanted_name = name
        if name is not None and name in self._timelines:
            self._cancel_timeline()
            self._timelines.move_to_end(name)
            self.timeline_ready.emit(self._timelines[name])
            return
        if self._timeline_task is not None and self._timeline_name == name:
            return  # on its way
        self._cancel_timeline()
        self._start_timeline()

    def request_overview(self) -> None:
        self.overview_wanted = True
        if self._overview is not None:
            self.overview_ready.emit(self._overview)
        elif self._overview_task is None:
            self._start_overview()

    def cached_timeline(self, name: str) -> Timeline | None:
        return self._timelines.get(name)

    def cancel(self) -> None:
        """Stop computing; nothing starts again until asked."""
        self.wanted_name = None
        self.overview_wanted = False
        self._cancel_timeline()
        if self._overview_task is not None:
            self._overview_task.cancel()
            self._overview_task = None

    def poke(self) -> None:
        """List the directory again (it may have changed); quiet when nothing did."""
        directory = self.directory
        if directory is None:
            return
        if self._probe_task is not None:
            self._poke_again = True
            return
        self._probe_task = self._admin.start(
            lambda _context: list_run(directory),
            partial(self._on_listed, directory),
            on_failed=lambda _message: self._on_listed(directory, []),
            doing=f"list the checkpoints of {where.shown(directory)}",
        )

    def shutdown(self) -> None:
        """Stop watching and computing, wait for the workers, close the runs (on window close)."""
        self.watcher.stop()
        self.cancel()
        for handle in (self._open_task, self._refresh_task, self._probe_task):
            if handle is not None:
                handle.cancel()
        self._readers.wait_all(5000)
        self._drop_run()
        self.directory = None
        self._close_retired()
        self.cache.close()

    # -- computing --------------------------------------------------------------------------------

    def _readable(self) -> bool:
        return self.run is not None and self._open_task is None and self._refresh_task is None

    def _start_timeline(self) -> None:
        name = self.wanted_name
        if name is None or not self._readable():
            return
        run, cache, generation = self.run, self.cache, self.generation

        compute = self.compute

        def work(context: TaskContext) -> Timeline:
            runner = compute.runner_for(run.directory) if compute is not None else None
            return compute_timeline(
                run,
                name,
                cache=cache,
                progress=context.report,
                cancel=context.cancelled,
                runner=runner,
            )

        self._timeline_name = name
        self._timeline_task = self._readers.start(
            work,
            partial(self._on_timeline, name, generation),
            on_failed=partial(self._on_timeline_failed, name),
            on_progress=lambda fraction: self.progress.emit("timeline", fraction),
            user_errors=(*USER_ERRORS, ClusterError),
            doing=f"compute the timeline of {name!r}",
        )

    def _on_timeline(self, name: str, generation: int, timeline: Timeline) -> None:
        self._timeline_task = None
        if generation != self.generation:
            self._start_timeline()  # the run changed meanwhile
            return
        self._timelines[name] = timeline
        while len(self._timelines) > KEPT_TIMELINES:
            self._timelines.popitem(last=False)
        if name == self.wanted_name:
            self.timeline_ready.emit(timeline)

    def _on_timeline_failed(self, name: str, message: str) -> None:
        self._timeline_task = None
        if name == self.wanted_name:
            self.timeline_failed.emit(name, message)

    def _cancel_timeline(self) -> None:
        if self._timeline_task is not None:
            self._timeline_task.cancel()
        self._timeline_task = None
        self._timeline_name = None

    def _start_overview(self) -> None:
        if not self.overview_wanted or not self._readable():
            return
        run, cache, generation = self.run, self.cache, self.generation

        compute = self.compute

        def work(context: TaskContext) -> Overview:
            runner = compute.runner_for(run.directory) if compute is not None else None
            return compute_overview(
                run, cache=cache, progress=context.report, cancel=context.cancelled, runner=runner
            )

        self._overview_task = self._readers.start(
            work,
            partial(self._on_overview, generation),
            on_failed=self._on_overview_failed,
            on_progress=lambda fraction: self.progress.emit("overview", fraction),
            user_errors=(*USER_ERRORS, ClusterError),
            doing="compute the overview of the run",
        )

    def _on_overview(self, generation: int, overview: Overview) -> None:
        self._overview_task = None
        if generation != self.generation:
            self._start_overview()
            return
        self._overview = overview
        if self.overview_wanted:
            self.overview_ready.emit(overview)

    def _on_overview_failed(self, message: str) -> None:
        self._overview_task = None
        self.overview_failed.emit(message)

    def _resume(self) -> None:
        """Start again what is wanted and not on show (after opening or refreshing the run)."""
        if self.wanted_name is not None and self._timeline_task is None:
            self.request_timeline(self.wanted_name)
        if self.overview_wanted and self._overview_task is None:
            self.request_overview()

    # -- the run and its directory ----------------------------------------------------------------

    def _on_opened(self, directory: str, run: Run) -> None:
        self._open_task = None
        if directory != self.directory:
            run.close()
            return
        self.run = run
        records = [entry.record for entry in run.entries]
        if self._signature is None:
            self._signature = signature(records)
            self.records = records
        self.run_opened.emit(run)
        self._resume()
        self._maybe_refresh()

    def _on_open_failed(self, directory: str, message: str) -> None:
        self._open_task = None
        if directory == self.directory:
            self.open_failed.emit(message)

    def _on_listed(self, directory: str, records: list[CheckpointRecord]) -> None:
        self._probe_task = None
        if directory == self.directory:
            self.watcher.ensure_watched()
            fresh = signature(records)
            if fresh != self._signature:
                self._signature = fresh
                self.records = records
                self.records_changed.emit(records)
                self._refresh_due = True
                self._maybe_refresh()
        if self._poke_again:
            self._poke_again = False
            self.poke()

    def _maybe_refresh(self) -> None:
        """Take the directory's changes into the run once nothing reads it."""
        run = self.run
        if not self._refresh_due or run is None or self._open_task or self._refresh_task:
            return
        if self._readers.busy:
            return  # again when the readers are done (`_on_runner_busy`)
        self._refresh_due = False
        self._refresh_task = self._admin.start(
            lambda _context: run.refresh(),
            partial(self._on_refreshed, run),
            on_failed=lambda _message: self._on_refreshed(run, None),
            doing=f"list the checkpoints of {where.shown(run.directory)}",
        )

    def _on_refreshed(self, run: Run, changes) -> None:
        self._refresh_task = None
        if run is not self.run:
            return
        if changes:
            self.generation += 1
            self._timelines.clear()
            self._overview = None
            self.run_changed.emit(changes)
        self._resume()
        self._maybe_refresh()

    def _drop_run(self) -> None:
        self.cancel_all_work()
        if self.run is not None:
            self._retired.append(self.run)
        self.run = None
        self.records = []
        self._signature = None
        self._refresh_due = False
        self._timelines.clear()
        self._overview = None
        self.generation += 1
        self._close_retired()

    def cancel_all_work(self) -> None:
        wanted, overview = self.wanted_name, self.overview_wanted
        self.cancel()
        self.wanted_name, self.overview_wanted = wanted, overview
        for attribute in ("_open_task", "_refresh_task", "_probe_task"):
            handle = getattr(self, attribute)
            if handle is not None:
                handle.cancel()
            setattr(self, attribute, None)
        self._poke_again = False

    def _close_retired(self) -> None:
        if self.busy:
            return
        for run in self._retired:
            run.close()
        self._retired.clear()

    def _on_runner_busy(self, _busy: bool) -> None:
        if not self._readers.busy:
            self._close_retired()
            self._maybe_refresh()
        busy = self.busy
        if busy != self._was_busy:
            self._was_busy = busy
            self.busy_changed.emit(busy)
