"""The history of a run directory in an S3 bucket: the saves it holds, in step order, as for the
local copy it was uploaded from (with or without its `checkpoint` file)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from s3_server import S3Server
from tf_checkpoints import import_tensorflow

from ckpt_browser.format import open_checkpoint

BUCKET = "history-runs"
STEPS = (9, 10, 100)  # in name order 10, 100, 9


@pytest.fixture(scope="module")
def steps_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CheckpointManager run saved at steps 9, 10 and 100 (`ckpt-9`, ...)."""
    tf = import_tensorflow()
    directory = tmp_path_factory.mktemp("steps_run")
    weight = tf.Variable(np.zeros(3, np.float32))
    manager = tf.train.CheckpointManager(
        tf.train.Checkpoint(weight=weight), str(directory), max_to_keep=None
    )
    for step in STEPS:
        weight.assign(np.full(3, step, np.float32))
        manager.save(checkpoint_number=step)
    return directory


def upload_without_state_file(s3_server: S3Server, local: Path, url: str) -> str:
    for path in local.iterdir():
        if path.name != "checkpoint":
            s3_server.upload(path, f"{url}/{path.name}")
    return url


@pytest.fixture(scope="module")
def runs(s3_server: S3Server, steps_dir, tf1_training_dir, tf2_keras_ckpt, v1_mixed_dir) -> dict:
    """Local run directory -> URL of its upload, by name."""
    root = s3_server.create_bucket(BUCKET)
    return {
        "steps": (steps_dir, s3_server.upload(steps_dir, f"{root}/steps")),
        "steps without checkpoint file": (
            steps_dir,
            upload_without_state_file(s3_server, steps_dir, f"{root}/steps_unlisted"),
        ),
        "TF1 Saver (absolute paths)": (
            tf1_training_dir.directory,
            s3_server.upload(tf1_training_dir.directory, f"{root}/tf1"),
        ),
        "TF2 manager": (
            tf2_keras_ckpt.directory,
            s3_server.upload(tf2_keras_ckpt.directory, f"{root}/keras"),
        ),
        "V1 then V2": (
            v1_mixed_dir.directory,
            s3_server.upload(v1_mixed_dir.directory, f"{root}/mixed"),
        ),
    }


def as_url(path: str, local: Path, url: str) -> str:
    return url + path[len(str(local)) :].replace(os.sep, "/")


@pytest.mark.parametrize(
    "run", ["steps", "TF1 Saver (absolute paths)", "TF2 manager", "V1 then V2"]
)
def test_history_of_a_remote_directory_is_the_local_copys(runs, run):
    local, url = runs[run]
    with open_checkpoint(local) as ckpt:
        expected = ckpt.history()
    with open_checkpoint(url) as ckpt:
        history = ckpt.history()
        assert ckpt.prefix == as_url(expected[-1].prefix, local, url)
    assert [(r.prefix, r.step, r.listed) for r in history] == [
        (as_url(r.prefix, local, url), r.step, r.listed) for r in expected
    ]
    steps = [r.step for r in history]
    assert steps == sorted(steps) and len(steps) >= 2
    if run in ("steps", "TF2 manager"):  # the state file's own timestamps
        assert [r.timestamp for r in history] == [r.timestamp for r in expected]


def test_history_lists_saves_in_step_order(runs):
    for run in ("steps", "steps without checkpoint file"):
        _, url = runs[run]
        with open_checkpoint(url) as ckpt:
            history = ckpt.history()
        assert [r.step for r in history] == list(STEPS)
        assert [r.prefix for r in history] == [f"{url}/ckpt-{step}" for step in STEPS]
        assert all(r.listed == (run == "steps") for r in history)
        assert all(r.timestamp is not None for r in history)


def test_each_remote_save_holds_its_own_values(runs):
    _, url = runs["steps without checkpoint file"]
    with open_checkpoint(url) as latest:
        history = latest.history()
    for record in history:
        with open_checkpoint(record.prefix) as ckpt:
            (name,) = [n for n in ckpt if n.startswith("weight/")]
            np.testing.assert_array_equal(ckpt.read(name), np.full(3, record.step, np.float32))
