"""Running tasks on a Dask cluster: the scheduler at an address the user gives, its workers
opening the checkpoints by URL with their own credentials.

Dask's distributed scheduler places the tasks, reruns those of a worker that died, and releases
what a cancelled job holds; this module only submits, collects the results in task order, and
turns what can go wrong (no Dask, no scheduler, a scheduler that went away) into one sentence.
Dask is an optional extra (`ckpt-browser[cluster]`), imported only here and only when asked.
"""

from __future__ import annotations

import contextlib
import importlib
import ipaddress
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import CancelledError as FutureCancelled
from urllib.parse import urlsplit

from ckpt_browser.core.tasks.model import Sources, Task
from ckpt_browser.core.tensor.chunked import Cancel, Progress
from ckpt_browser.format.errors import Cancelled
from ckpt_browser.format.sources.locations import is_url

CONNECT_TIMEOUT_S = 10.0  # to reach the scheduler at start, and to wait for it if it goes away
_POLL_S = 0.005  # how long to wait for results before asking for a cancel again


class ClusterError(Exception):
    """The cluster cannot run the work (not installed, not reachable, gone, or a path its
    workers cannot open); the message is one sentence for the user."""


class DaskRunner:
    """Tasks on the workers of the Dask scheduler at `address` (`tcp://host:8786`)."""

    def __init__(
        self,
        address: str,
        *,
        shared_paths: bool = False,
        connect_timeout: float = CONNECT_TIMEOUT_S,
    ) -> None:
        try:  # by name, as the remote protocols: not a dependency of a default installation
            distributed = importlib.import_module("distributed")
        except ImportError:
            raise ClusterError(
                "running on a Dask cluster needs Dask's distributed scheduler, which is not "
                "installed: pip install 'ckpt-browser[cluster]'"
            ) from None
        self.address = address
        self.shared_paths = shared_paths
        self.connect_timeout = connect_timeout
        self._distributed = distributed
        try:
            self.client = distributed.Client(address, timeout=connect_timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError, TypeError) as exc:
            reason = _reason(exc)
            raise ClusterError(f"cannot reach the Dask scheduler at {address}: {reason}") from None

    # -- where the workers are ------------------------------------------------------------------

    def workers_on_this_machine(self) -> bool:
        """Whether every worker sees this machine's files: it runs in this process (`inproc://`)
        or listens on loopback. (`nthreads` lists every worker, in every version of Dask.)"""
        addresses = list(self.client.nthreads())
        return bool(addresses) and all(_on_this_machine(address) for address in addresses)

    def refuse_unreachable(self, locations: Iterable[str]) -> None:
        """A local path means nothing to a worker on another machine: refuse it, saying why."""
        local = [location for location in locations if not is_url(location)]
        if not local or self.shared_paths or self.workers_on_this_machine():
            return
        raise ClusterError(
            f"{local[0]} is a path on this machine, but the workers of the Dask cluster at "
            f"{self.address} run on other machines and open checkpoints themselves: give its URL "
            "(s3://, gs://, https://, ...), or --shared-path if every worker sees this path too"
        )

    # -- running --------------------------------------------------------------------------------

    def run(self, tasks: Sequence[Task], progress: Progress, cancel: Cancel) -> list:
        """Each task's result in task order; a worker's error is raised here as it was there.
        A cancel (or Ctrl+C) releases every future of the job before raising."""
        distributed = self._distributed
        if not tasks:
            return []
        if cancel is not None and cancel():
            raise Cancelled()
        futures = self.client.map(run_task, list(tasks), pure=False)
        position = {future.key: index for index, future in enumerate(futures)}
        results: list = [None] * len(futures)
        total = sum(max(1, task.weight) for task in tasks)
        done = 0
        pending = set(futures)
        completed = distributed.as_completed(futures, loop=self.client.loop)
        unreachable_since: float | None = None
        try:
            while pending:
                if cancel is not None and cancel():
                    raise Cancelled()
                finished = completed.next_batch(block=False)
                if not finished:
                    unreachable_since = self._check_connected(unreachable_since)
                    time.sleep(_POLL_S)
                    continue
                for future, value in zip(finished, self._gather(finished)):
                    index = position[future.key]
                    results[index] = value
                    pending.discard(future)
                    done += max(1, tasks[index].weight)
                if progress is not None:
                    progress(done / total)
            return results
        finally:
            if pending:
                self.client.cancel(list(pending), force=True)

    def _gather(self, futures: list) -> list:
        """The results of finished futures, fetched together; a worker's exception is raised
        here as it was raised there."""
        if any(future.status in ("cancelled", "lost") for future in futures):
            raise self._lost()
        try:
            return self.client.gather(futures, errors="raise")
        except FutureCancelled:  # the client gave the job up: its scheduler went away
            raise self._lost() from None

    def _lost(self) -> ClusterError:
        return ClusterError(
            f"lost the connection to the Dask scheduler at {self.address}, which dropped the job"
        )

    def _check_connected(self, since: float | None) -> float | None:
        """Tolerate a scheduler out of reach for `connect_timeout` (Dask reconnects), then stop."""
        if self.client.status == "running":
            return None
        now = time.monotonic()
        if since is None:
            return now
        if now - since > self.connect_timeout or self.client.status == "closed":
            raise self._lost()
        return since

    def close(self) -> None:
        # a scheduler already gone has nothing left to release
        with contextlib.suppress(OSError, TimeoutError):
            self.client.close(timeout=self.connect_timeout)


_WORKER_SOURCES = Sources()  # in a worker process: the checkpoints its tasks opened


def run_task(task: Task) -> list:
    """What a worker runs: the task, on the checkpoints this process has open."""
    return task.run(_WORKER_SOURCES)


def _on_this_machine(address: str) -> bool:
    parts = urlsplit(address)
    if parts.scheme == "inproc":
        return True
    host = parts.hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
