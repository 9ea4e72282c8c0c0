"""Background tasks: results on the GUI thread, progress, partial results, errors and cancel."""

from __future__ import annotations

import threading

from ckpt_browser.core.tensor.stats import Cancelled
from ckpt_browser.format import CheckpointError
from ckpt_browser.ui.widgets.workers import TaskRunner


def test_result_progress_and_partial_arrive_on_the_gui_thread(qtbot):
    runner = TaskRunner()
    seen: dict[str, list] = {"done": [], "progress": [], "partial": [], "threads": []}
    worker_threads = []

    def work(context):
        worker_threads.append(threading.current_thread())
        for step in range(5):
            context.report(step / 4)
        context.publish("early")
        return 42

    def record(kind):
        def callback(value):
            seen[kind].append(value)
            seen["threads"].append(threading.current_thread())

        return callback

    busy = []
    runner.busy_changed.connect(busy.append)
    runner.start(
        work,
        record("done"),
        on_progress=record("progress"),
        on_partial=record("partial"),
    )
    qtbot.waitUntil(lambda: not runner.busy)
    assert seen["done"] == [42]
    assert seen["partial"] == ["early"]
    # The start and the end always arrive; steps in between at most every 50 ms.
    assert seen["progress"][0] == 0.0 and seen["progress"][-1] == 1.0
    assert seen["progress"] == sorted(seen["progress"])
    assert all(t is threading.main_thread() for t in seen["threads"])
    assert worker_threads[0] is not threading.main_thread()
    assert busy == [True, False]


def test_errors_are_reported_by_their_sentence(qtbot):
    runner = TaskRunner()
    failures = []

    def broken(context):
        raise CheckpointError("bad block checksum at offset 12", "/data/model.index")

    def buggy(context):
        raise KeyError("oops")

    runner.start(broken, lambda _: None, on_failed=failures.append)
    runner.start(buggy, lambda _: None, on_failed=failures.append, doing="read 'w' of /data/model")
    qtbot.waitUntil(lambda: not runner.busy)
    assert sorted(failures) == [
        "/data/model.index: bad block checksum at offset 12",
        "could not read 'w' of /data/model: KeyError: 'oops'",
    ]


def test_cancelled_work_delivers_nothing(qtbot):
    runner = TaskRunner()
    started = threading.Event()
    delivered = []

    def slow(context):
        started.set()
        while not context.cancelled():
            pass
        raise Cancelled()

    def finishes_anyway(context):
        started.wait(5)
        return "late"

    first = runner.start(slow, delivered.append, on_failed=delivered.append)
    second = runner.start(finishes_anyway, delivered.append)
    assert started.wait(5)
    first.cancel()
    second.cancel()  # its result may already be on its way: it must still be dropped
    qtbot.waitUntil(lambda: not runner.busy)
    assert delivered == []
    assert not first.pending and not second.pending
