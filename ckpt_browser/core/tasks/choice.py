"""Where the window computes the statistics of huge tensors and the timelines of a run: this
machine, or the Dask scheduler the user named in Edit > Compute Settings. The runner is connected
when first needed (in a worker thread: reaching a scheduler can take seconds) and kept for the
work that follows."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from ckpt_browser.format import Checkpoint, TensorInfo
from ckpt_browser.format.sources.locations import is_url

# Below this a tensor is read here: fetching it costs less than a round trip through a scheduler
# and the quick preview of a sample needs the bytes here anyway.
CLUSTER_MIN_BYTES = 64 << 20


@dataclass(frozen=True)
class ComputeChoice:
    """`scheduler`: a Dask scheduler's address, or None for this machine; `shared_paths`: the
    workers see this machine's paths too (a shared file system)."""

    scheduler: str | None = None
    shared_paths: bool = False


class ComputeTarget:
    """The current choice, and the cluster runner made for it (closed when the choice changes)."""

    def __init__(self, choice: ComputeChoice | None = None) -> None:
        self._choice = choice or ComputeChoice()
        self._runner = None
        self._lock = threading.Lock()

    @property
    def choice(self) -> ComputeChoice:
        return self._choice

    def set_choice(self, choice: ComputeChoice) -> None:
        with self._lock:
            if choice == self._choice:
                return
            old, self._runner, self._choice = self._runner, None, choice
        if old is not None:
            old.close()

    def wants(self, checkpoint: Checkpoint, info: TensorInfo) -> bool:
        """Whether this tensor's statistics go to the cluster: a huge tensor that its workers
        can open (a URL, or a path they share)."""
        choice = self._choice
        if choice.scheduler is None or info.nbytes < CLUSTER_MIN_BYTES:
            return False
        return is_url(checkpoint.prefix) or choice.shared_paths

    def runner_for(self, location: str):  # -> DaskRunner | None
        """The cluster's runner for whole-run work (timelines, the overview) on `location`, or
        None to work here (no scheduler chosen, or a path the workers cannot open)."""
        choice = self._choice
        if choice.scheduler is None or not (is_url(location) or choice.shared_paths):
            return None
        return self.runner()

    def runner(self):  # -> DaskRunner
        """The runner for the scheduler chosen (ClusterError when it cannot be reached)."""
        from ckpt_browser.core.tasks.cluster import DaskRunner

        with self._lock:
            choice = self._choice
            if self._runner is None:
                if choice.scheduler is None:
                    raise ValueError("no Dask scheduler is chosen")
                self._runner = DaskRunner(choice.scheduler, shared_paths=choice.shared_paths)
            return self._runner

    def close(self) -> None:
        with self._lock:
            runner, self._runner = self._runner, None
        if runner is not None:
            runner.close()
