"""Running tasks: on this machine's threads (`LocalRunner`), or on a Dask cluster
(`tasks.cluster.DaskRunner`), with results in task order, progress by bytes, and cancel."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Protocol

from ckpt_browser.core.tasks.model import Sources, Task
from ckpt_browser.core.tensor.chunked import WORKERS, Cancel, Progress, run_in_order
from ckpt_browser.format import Checkpoint


class Runner(Protocol):
    """Where tasks run. `run` gives each task's result, in task order."""

    def run(self, tasks: Sequence[Task], progress: Progress, cancel: Cancel) -> list: ...

    def refuse_unreachable(self, locations: Iterable[str]) -> None:
        """Raise (with the reason) when a location cannot be opened where the tasks run."""

    def close(self) -> None: ...


class LocalRunner:
    """Tasks on a few threads of this process, reusing the checkpoints the caller has open."""

    def __init__(self, opened: Iterable[Checkpoint] = ()) -> None:
        self.sources = Sources(opened)

    def run(self, tasks: Sequence[Task], progress: Progress, cancel: Cancel) -> list:
        calls = [partial(task.run, self.sources) for task in tasks]
        by_count = counted_progress([task.weight for task in tasks], progress)
        if len(calls) <= 1 or WORKERS == 1:
            return run_in_order(calls, None, by_count, cancel)
        with ThreadPoolExecutor(WORKERS, thread_name_prefix="tasks") as pool:
            return run_in_order(calls, pool, by_count, cancel)

    def refuse_unreachable(self, locations: Iterable[str]) -> None:
        return None

    def close(self) -> None:
        self.sources.close()


def counted_progress(weights: Sequence[int], progress: Progress) -> Progress:
    """Progress by bytes from progress by the share of tasks done in order."""
    if progress is None:
        return None
    done = [0, *itertools.accumulate(max(1, weight) for weight in weights)]
    total = done[-1] or 1

    def report(fraction: float) -> None:
        progress(done[min(len(weights), round(fraction * len(weights)))] / total)

    return report
