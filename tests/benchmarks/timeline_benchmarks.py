"""Training over time: a run of 50 checkpoints of a 100 MB model, written with the project's own
writer (TensorFlow would take minutes to make 5 GB); the timeline of one 16 MB variable cold and
from the cache, and the whole-run overview, against a script doing the same with TensorFlow's
reader and numpy."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RUN_CHECKPOINTS = 50
EMBEDDING_SHAPE = (4096, 1024)  # 16 MB of float32
LAYERS = 6
LAYER_SHAPE = (1024, 3584)  # 14.7 MB each: 104 MB in all with the embedding

Row = tuple[str, str, str, str]


def make_run(workdir: Path) -> str:
    """`model/embedding` and `model/layer_N/{kernel,bias}`, each save the first plus a growing
    step of fixed noise (every value changes, as in training)."""
    from ckpt_browser.format import CheckpointWriter

    directory = workdir / "timeline-run"
    last = directory / f"model.ckpt-{RUN_CHECKPOINTS * 100}.index"
    if last.exists():
        return str(directory)
    rng = np.random.default_rng(5)
    shapes = {"model/embedding": EMBEDDING_SHAPE}
    for layer in range(LAYERS):
        shapes[f"model/layer_{layer}/kernel"] = LAYER_SHAPE
        shapes[f"model/layer_{layer}/bias"] = (LAYER_SHAPE[1],)
    first = {name: rng.standard_normal(shape, dtype=np.float32) for name, shape in shapes.items()}
    noise = {name: rng.standard_normal(shape, dtype=np.float32) for name, shape in shapes.items()}
    buffers = {name: np.empty(shape, np.float32) for name, shape in shapes.items()}
    for index in range(1, RUN_CHECKPOINTS + 1):
        with CheckpointWriter(directory / f"model.ckpt-{index * 100}", overwrite=True) as writer:
            for name in shapes:
                values = buffers[name]
                np.multiply(noise[name], np.float32(0.002 * index), out=values)
                values += first[name]
                writer.add(name, values)
    return str(directory)


def _timed(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def _script_baseline(directory: str) -> float:
    """What a script does without us: TensorFlow reads each save, numpy does the numbers."""
    os.environ.update({"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"})
    import tensorflow as tf

    prefixes = [os.path.join(directory, f"model.ckpt-{i * 100}") for i in range(1, 51)]

    def script() -> None:
        first = previous = None
        for prefix in prefixes:
            values = tf.train.load_checkpoint(prefix).get_tensor("model/embedding").reshape(-1)
            wide = values.astype(np.float64)
            _ = (np.linalg.norm(wide), wide.mean(), wide.std(), values.min(), values.max())
            _ = np.percentile(values, (0, 7, 16, 31, 50, 69, 84, 93, 100))
            _ = np.histogram(values, 512)
            if previous is not None:
                _ = np.linalg.norm(wide - previous) / np.linalg.norm(previous)
                _ = np.linalg.norm(wide - first) / np.linalg.norm(first)
                _ = np.dot(wide, previous)
            first = wide if first is None else first
            previous = wide

    return _timed(script)


def bench_timeline(paths: dict[str, str], workdir: Path) -> list[Row]:
    from run_benchmarks import median_time

    from ckpt_browser.core.timeline import Run, TimelineCache, compute_overview, compute_timeline

    directory = make_run(workdir)

    def timeline(cache_dir: str) -> None:
        with Run.open(directory) as run:
            compute_timeline(run, "model/embedding", cache=TimelineCache(cache_dir))

    def overview(cache_dir: str) -> None:
        with Run.open(directory) as run:
            compute_overview(run, cache=TimelineCache(cache_dir))

    cold_times = []
    for _ in range(3):
        with tempfile.TemporaryDirectory(prefix="timeline-cache-") as cache_dir:
            cold_times.append(_timed(lambda cache_dir=cache_dir: timeline(cache_dir)))
    cold = sorted(cold_times)[1]
    with tempfile.TemporaryDirectory(prefix="timeline-cache-") as cache_dir:
        timeline(cache_dir)
        warm = median_time(lambda: timeline(cache_dir), repeat=7)
        overview_cold = _timed(lambda: overview(cache_dir))
        overview_warm = median_time(lambda: overview(cache_dir), repeat=3)
    baseline = _script_baseline(directory)
    model_mb = (np.prod(EMBEDDING_SHAPE) + LAYERS * (np.prod(LAYER_SHAPE) + LAYER_SHAPE[1])) * 4
    run_text = f"{RUN_CHECKPOINTS} checkpoints of {model_mb / 1e6:.0f} MB"
    script = f"{baseline:.2f} s (TF `get_tensor` per save, then numpy; same numbers, in process)"
    return [
        (
            f"timeline of one 16 MB variable over {run_text}, cold (stats, quantiles, "
            "histogram, change to previous and first)",
            f"{cold:.2f} s",
            script,
            f"< 2 s: {'yes' if cold < 2 else 'NO'}",
        ),
        (
            "... the same from the cache (a new session: the run opened again)",
            f"{warm * 1000:.0f} ms",
            "",
            f"< 0.2 s: {'yes' if warm < 0.2 else 'NO'}",
        ),
        (
            f"whole-run overview of {run_text} (relative change per save of 7 scopes), cold",
            f"{overview_cold:.1f} s",
            "",
            f"< 30 s: {'yes' if overview_cold < 30 else 'NO'}",
        ),
        ("... the same from the cache", f"{overview_warm * 1000:.0f} ms", "", ""),
    ]


if __name__ == "__main__":  # quick look without the rest of the benchmarks
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    for row in bench_timeline({}, Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp())):
        print(" | ".join(row))
