"""Checkpoints for the cluster tests: a pair that differs in every way `diff` reports, with
tensors large enough to be compared in several chunks and verified in several byte ranges, many
small ones (batched into few tasks), and every kind of value (floats with NaN and Inf, bfloat16,
integers, bools, strings, partitioned)."""

from __future__ import annotations

import os

import ml_dtypes
import numpy as np

from ckpt_browser.format.v2.writer import CheckpointWriter

BIG_ELEMENTS = 3_000_000  # 12 MB of float32: two chunks of the comparison (8 MB each)
SMALL_TENSORS = 300


def write_pair(folder: str | os.PathLike[str]) -> tuple[str, str]:
    """Two checkpoints `a/model.ckpt` and `b/model.ckpt` under `folder`; returns their prefixes."""
    rng = np.random.default_rng(17)
    big = rng.standard_normal(BIG_ELEMENTS, dtype=np.float32)
    big[[5, 2_900_000]] = [np.nan, np.inf]
    wide = rng.standard_normal((1000, 1100))  # float64, 8.8 MB: two chunks
    smalls = [rng.standard_normal((i % 7) + 1, dtype=np.float32) for i in range(SMALL_TENSORS)]
    strings = np.array([b"alpha", b"beta", b"", b"gamma" * 40], dtype=object)
    rows = rng.standard_normal((300, 7000), dtype=np.float32)  # partitioned, 8.4 MB
    prefixes = []
    for side in ("a", "b"):
        changed = side == "b"
        prefix = os.path.join(os.fspath(folder), side, "model.ckpt")
        with CheckpointWriter(prefix) as writer:
            writer.add("big", big * np.float32(1.0001) if changed else big)
            writer.add("wide", wide + (1e-12 if changed else 0.0))
            writer.add("ints", np.arange(1000, dtype=np.int32) * (3 if changed else 1))
            writer.add("int64", np.arange(-50, 50, dtype=np.int64))
            writer.add("flags", np.arange(64) % (3 if changed else 2) == 0)
            half = np.linspace(-2, 2, 999) * (1.5 if changed else 1)
            writer.add("half", half.astype(ml_dtypes.bfloat16))
            writer.add("names", strings if not changed else strings[::-1].copy())
            writer.add("scalar", np.float32(3.5))
            writer.add("empty", np.zeros((0, 4), np.float32))
            writer.add("retyped", np.ones(8, np.float64 if changed else np.float32))
            writer.add("reshaped", np.ones((4, 2) if changed else (2, 4), np.float32))
            writer.add("only_in_a" if not changed else "only_in_b", np.ones(2, np.float32))
            for index, value in enumerate(smalls):
                writer.add(f"layer_{index}/w", value + (index % 5 == 0 and changed))
            slices = [
                (((start, 100), (0, -1)), rows[start : start + 100] + changed)
                for start in (0, 100, 200)
            ]
            writer.add_partitioned("split", rows.shape, np.float32, slices)
        prefixes.append(prefix)
    return prefixes[0], prefixes[1]


RUN_STEPS = (100, 200, 300, 400)


def write_run(folder: str | os.PathLike[str]) -> str:
    """A run of four saves (`model.ckpt-100` ...) whose weights move a little each time, with a
    NaN in the newest; returns the run's directory."""
    rng = np.random.default_rng(5)
    kernel = rng.standard_normal((600, 1000), dtype=np.float32)
    head = rng.standard_normal((1000, 10), dtype=np.float32)
    for number, step in enumerate(RUN_STEPS):
        kernel = kernel + rng.standard_normal(kernel.shape, dtype=np.float32) * 0.01
        head = head * np.float32(1 + number / 10)
        if step == RUN_STEPS[-1]:
            head[3, 4] = np.nan
        with CheckpointWriter(os.path.join(os.fspath(folder), f"model.ckpt-{step}")) as writer:
            writer.add("net/dense/kernel", kernel)
            writer.add("net/dense/bias", np.full(1000, number, np.float32))
            writer.add("net/out/kernel", head)
            writer.add("net/out/bias", np.arange(10, dtype=np.float32) * step)
            writer.add("global_step", np.int64(step))
    return os.fspath(folder)
