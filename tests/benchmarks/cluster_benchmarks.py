"""Whole-checkpoint work on a Dask cluster: what scheduling one task costs on a LocalCluster of two
worker processes, and how `diff` and `verify` of a 2 x 256 MB pair on those two workers compare
with the local runner (which already uses both cores of this machine). The pair is written with the
project's own writer (TensorFlow would only slow the set-up); both runners read the same files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

TENSORS = 16
TENSOR_SHAPE = (2048, 2048)  # 16 MB of float32 each: 256 MB a checkpoint
EMPTY_TASKS = 400

Row = tuple[str, str, str, str]


def make_pair(workdir: Path) -> tuple[str, str]:
    from ckpt_browser.format import CheckpointWriter

    prefixes = (workdir / "cluster-a" / "model.ckpt", workdir / "cluster-b" / "model.ckpt")
    if all(Path(f"{prefix}.index").exists() for prefix in prefixes):
        return str(prefixes[0]), str(prefixes[1])
    rng = np.random.default_rng(11)
    values = [rng.standard_normal(TENSOR_SHAPE, dtype=np.float32) for _ in range(TENSORS)]
    for side, prefix in enumerate(prefixes):
        with CheckpointWriter(prefix, overwrite=True) as writer:
            for index, value in enumerate(values):
                writer.add(f"layer_{index}/kernel", value + np.float32(side * 1e-3))
    return str(prefixes[0]), str(prefixes[1])


@dataclass(frozen=True)
class EmptyTask:
    """A task that reads nothing: what is left of its time is the scheduling."""

    weight: int = 1

    def run(self, sources) -> list:
        return []


def bench_cluster(paths: dict[str, str], workdir: Path) -> list[Row]:
    import distributed
    from run_benchmarks import median_time

    from ckpt_browser.core.compare.checkpoints import compare_checkpoints
    from ckpt_browser.core.compare.report import format_json
    from ckpt_browser.core.compare.tasks import compare_with
    from ckpt_browser.core.tasks.cluster import DaskRunner
    from ckpt_browser.core.tasks.model import TASK_BYTES
    from ckpt_browser.core.tasks.verify import verify_tasks, verify_with
    from ckpt_browser.format import open_checkpoint

    path_a, path_b = make_pair(workdir)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster:
        runner = DaskRunner(cluster.scheduler_address)
        try:
            tasks = [EmptyTask() for _ in range(EMPTY_TASKS)]
            runner.run(tasks[:20], None, None)  # workers warm: modules imported
            empty = median_time(lambda: runner.run(tasks, None, None))
            per_task = empty / EMPTY_TASKS * 2  # two workers take tasks at once
            with open_checkpoint(path_a) as a, open_checkpoint(path_b) as b:
                compare_with(runner, a, b)  # warm: the workers open the checkpoints
                local_diff = median_time(lambda: compare_checkpoints(a, b))
                cluster_diff = median_time(lambda: compare_with(runner, a, b))
                same = format_json(compare_with(runner, a, b)) == format_json(
                    compare_checkpoints(a, b)
                )
                local_verify = median_time(lambda: a.verify())
                cluster_verify = median_time(lambda: verify_with(runner, a))
                diff_tasks = -(-2 * TENSORS * 16 // (TASK_BYTES >> 20))
                verify_task_count = len(verify_tasks(a)[2])
            with open_checkpoint(paths["many"]) as many:
                compare_with(runner, many, many)
                many_local = median_time(lambda: compare_checkpoints(many, many))
                many_cluster = median_time(lambda: compare_with(runner, many, many))
                many_tasks = len(verify_tasks(many)[2])
                many_count = len(many)
        finally:
            runner.close()
    total = 2 * TENSORS * 16  # MB read by a diff
    task_ms = cluster_diff / diff_tasks * 2 * 1000  # one task's time on one worker
    return [
        (
            f"cluster: scheduling one task (LocalCluster, 2 worker processes, "
            f"{EMPTY_TASKS} empty tasks)",
            f"{per_task * 1000:.1f} ms a task a worker",
            f"a {TASK_BYTES >> 20} MB diff task here: {task_ms:.0f} ms "
            f"({per_task * 1000 / task_ms:.1%} overhead)",
            "< 5% of a task",
        ),
        (
            f"cluster: diff of 2 x {total // 2} MB, 2 workers vs the local runner (2 threads)",
            f"{cluster_diff:.2f} s ({diff_tasks} tasks; JSON {'equal' if same else 'DIFFERS'})",
            f"{local_diff:.2f} s local: efficiency {local_diff / cluster_diff:.0%}",
            "same answer; ~100% on 2 cores",
        ),
        (
            f"cluster: verify of {total // 2} MB, 2 workers vs the local runner",
            f"{cluster_verify:.2f} s ({verify_task_count} tasks)",
            f"{local_verify:.2f} s local: efficiency {local_verify / cluster_verify:.0%}",
            "~100% on 2 cores",
        ),
        (
            f"cluster: diff of a checkpoint of {many_count:,} small tensors with itself",
            f"{many_cluster:.2f} s (batched into ~{many_tasks} tasks)",
            f"{many_local:.2f} s local",
            "not one task a tensor",
        ),
    ]
