"""TensorFlow-made checkpoints on a web server (a real loopback HTTP server with byte ranges):
every path form opens, values equal TensorFlow's reading of the local copy, and only the bytes a
view needs cross the network."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from http_range_server import RangeServer
from tf_checkpoints import import_tensorflow

from ckpt_browser.cli import main
from ckpt_browser.format import open_checkpoint
from ckpt_browser.format.sources import remote_settings
from ckpt_browser.format.sources.remote_source import COALESCE_MARGIN


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A cache folder of the test's own (the caches and settings are reset by conftest)."""
    monkeypatch.setenv(remote_settings.CACHE_DIR_VARIABLE, str(tmp_path / "cache"))


@pytest.fixture
def served(tf1_training_dir):
    """The TF1 Saver directory (two saves, a `checkpoint` file, .meta graphs) on a web server."""
    with RangeServer(tf1_training_dir.directory) as server:
        yield server, tf1_training_dir


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_every_path_form_opens_as_locally(served):
    server, run_dir = served
    name = os.path.basename(run_dir.prefix)
    local = open_checkpoint(run_dir.prefix)
    for path in ("", name, f"{name}.index", f"{name}.data-00000-of-00001", f"{name}.meta"):
        with open_checkpoint(server.url(path)) as remote_ckpt:
            assert remote_ckpt.prefix == server.url(name), path
            assert dict(remote_ckpt) == dict(local)
    assert [r.step for r in open_checkpoint(server.url()).history()] == list(run_dir.steps)


def test_values_equal_tensorflows_reading_of_the_local_copy(served):
    tf = import_tensorflow()
    server, run_dir = served
    reader = tf.train.load_checkpoint(run_dir.prefix)
    with open_checkpoint(server.url()) as ckpt:
        for name in ckpt:
            np.testing.assert_array_equal(ckpt.read(name), reader.get_tensor(name))
            if ckpt[name].shape:
                np.testing.assert_array_equal(
                    ckpt.read(name, (slice(1, None, 2),)), reader.get_tensor(name)[1::2]
                )


def test_opening_fetches_the_index_and_no_tensor_bytes(served):
    server, run_dir = served
    name = os.path.basename(run_dir.prefix)
    server.reset_counts()
    with open_checkpoint(server.url(name)) as ckpt:
        ckpt.check_shards()
    data = f"/{name}.data-00000-of-00001"
    assert server.bytes_sent.get(data, 0) == 0  # a HEAD for its size, no bytes
    assert server.bytes_sent[f"/{name}.index"] == os.path.getsize(run_dir.prefix + ".index")


def test_a_slice_fetches_that_slice_and_no_more_than_the_margin(served):
    server, run_dir = served
    name = os.path.basename(run_dir.prefix)
    with open_checkpoint(server.url(name)) as ckpt:
        key = max(ckpt, key=lambda k: ckpt[k].nbytes)
        info = ckpt[key]
        server.reset_counts()
        rows = ckpt.read(key, (slice(0, 1),))
    asked = rows.nbytes
    fetched = server.bytes_sent[f"/{name}.data-00000-of-00001"]
    assert asked <= fetched <= asked + COALESCE_MARGIN, (info, asked, fetched)


def test_the_commands_work_on_urls_and_agree_with_the_local_copy(served, capsys, tmp_path):
    server, run_dir = served
    code, out, err = run(capsys, "ls", server.url(), "--json")
    assert code == 0, err
    code, local_out, _ = run(capsys, "ls", str(run_dir.directory), "--json")
    assert json.loads(out)["variables"] == json.loads(local_out)["variables"]
    code, out, err = run(capsys, "verify", server.url())
    assert code == 0 and out.startswith("ok:"), err
    code, out, err = run(capsys, "diff", str(run_dir.directory), server.url(), "--json")
    assert code == 0, err
    assert {t["status"] for t in json.loads(out)["tensors"]} == {"same"}
    out_prefix = tmp_path / "copy" / "model"
    code, out, err = run(capsys, "remap", server.url(), str(out_prefix))
    assert code == 0, err
    tf = import_tensorflow()
    written = tf.train.load_checkpoint(str(out_prefix))
    reader = tf.train.load_checkpoint(run_dir.prefix)
    for name in run_dir.model_variables:
        np.testing.assert_array_equal(written.get_tensor(name), reader.get_tensor(name))


def test_a_damaged_shard_on_the_server_is_found_by_verify(tf1_training_dir, tmp_path, capsys):
    copy = tmp_path / "served"
    copy.mkdir()
    for path in tf1_training_dir.directory.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    name = os.path.basename(tf1_training_dir.prefix)
    data = copy / f"{name}.data-00000-of-00001"
    damaged = bytearray(data.read_bytes())
    damaged[len(damaged) // 2] ^= 0x40
    data.write_bytes(bytes(damaged))
    local_code, local_out, _ = run(capsys, "verify", str(copy / name))
    with RangeServer(copy) as server:
        code, out, _ = run(capsys, "verify", server.url(name))
        base = server.url()
    assert code == local_code == 1
    assert out.replace(base, str(copy) + "/") == local_out


def test_a_missing_server_file_says_what_and_where(served, capsys):
    server, _ = served
    code, out, err = run(capsys, "ls", server.url("no/such/model.ckpt-1.index"))
    assert code != 0 and out == ""
    assert err.startswith("error: ") and "no/such/model.ckpt-1" in err and "Traceback" not in err


def test_a_signed_url_keeps_its_secret_out_of_every_message(served, capsys):
    server, _ = served
    signed = (
        server.url("nothing/model.ckpt.index")
        + "?X-Amz-Signature=s3cr3tvalue&X-Amz-Credential=AKIDEXAMPLE"
    )
    code, out, err = run(capsys, "ls", signed)
    assert code != 0 and err.startswith("error: ")
    assert "s3cr3tvalue" not in out + err and "AKIDEXAMPLE" not in out + err


def test_a_large_remote_tensor_is_fetched_once_for_every_view_at_the_same_time(tmp_path):
    """The window reads a selected tensor for its statistics, values and checksum at once."""
    from concurrent.futures import ThreadPoolExecutor

    from ckpt_browser.format import CheckpointWriter

    values = np.random.default_rng(3).standard_normal((1200, 9000)).astype(np.float32)  # 43 MB
    with CheckpointWriter(tmp_path / "model.ckpt-1") as writer:
        writer.add("big", values)
    with RangeServer(tmp_path) as server, open_checkpoint(server.url("model.ckpt-1")) as ckpt:
        server.reset_counts()
        views = [
            lambda: ckpt.read("big"),  # statistics
            lambda: ckpt.read("big", (slice(None), slice(None))),  # the table of the 2-D slice
            lambda: ckpt.checksum_problem("big"),  # the damaged-bytes note
            lambda: ckpt.read("big"),  # the quick preview
        ]
        with ThreadPoolExecutor(len(views)) as pool:
            whole, table, problem, again = [f.result() for f in [pool.submit(v) for v in views]]
        assert ckpt.read("big", (slice(5, 7), 3)).tolist() == values[5:7, 3].tolist()
        fetched = server.bytes_sent["/model.ckpt-1.data-00000-of-00001"]
    assert fetched == values.nbytes
    assert problem is None
    for array in (whole, table, again):
        np.testing.assert_array_equal(array, values)
