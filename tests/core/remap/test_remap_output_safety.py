"""A remap's output never replaces its sources and appears whole or not at all.

Destination files that are links to the sources' files (or sources that are links to the
destination's) are found by what the files are, not by their names; any existing file the write
would replace needs overwriting allowed; a failure after the data is written (a full disk at the
`checkpoint` state file, a rename that fails) leaves nothing new under the final names and puts an
overwritten checkpoint back; SIGTERM cleans up like Ctrl-C, and a run killed outright has its
temporary files swept by the next write into that folder. The source is byte-identical after
every test.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from damaged_files import folder_digest, leftovers
from tf_checkpoints import import_tensorflow, write_with_tf

from ckpt_browser.cli import main
from ckpt_browser.core.remap.plan import RemapInputs, build_plan
from ckpt_browser.core.remap.spec import RemapSpec
from ckpt_browser.core.remap.write import write_remap
from ckpt_browser.format import CheckpointError
from ckpt_browser.format.v2 import staged_checkpoint

VALUES = {"v1": np.arange(6, dtype=np.float32), "v2": np.ones((2, 2), np.float32)}
DATA = ".data-00000-of-00001"


def remap(source: str, destination: Path, **options):
    spec = RemapSpec(sources=[source])
    inputs = RemapInputs.open(spec)
    try:
        return write_remap(build_plan(spec, inputs), inputs, destination, **options)
    finally:
        inputs.close()


def tf_values(prefix: str) -> dict[str, np.ndarray]:
    reader = import_tensorflow().train.load_checkpoint(prefix)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


@pytest.fixture
def source(tmp_path) -> str:
    return write_with_tf(tmp_path / "src" / "model.ckpt", VALUES)


# -- links and existing files ---------------------------------------------------------------------


def test_destination_files_linked_to_the_source_are_refused_even_with_force(tmp_path, source):
    before = folder_digest(tmp_path / "src")
    out = tmp_path / "out"
    out.mkdir()
    for suffix in (".index", DATA):
        os.symlink(source + suffix, out / f"model.ckpt{suffix}")
    with pytest.raises(CheckpointError, match="would replace an input checkpoint") as caught:
        remap(source, out / "model.ckpt", overwrite=True)
    assert "is the file " + source in str(caught.value)
    assert folder_digest(tmp_path / "src") == before
    assert all(os.path.islink(out / f"model.ckpt{s}") for s in (".index", DATA))
    assert leftovers(out) == []


def test_sources_that_are_links_into_the_destination_are_refused(tmp_path, source):
    """The other way round: replacing the destination's files would change what the source's
    links show."""
    real = tmp_path / "real"
    real.mkdir()
    linked = tmp_path / "linked"
    linked.mkdir()
    for suffix in (".index", DATA):
        os.replace(source + suffix, real / f"model.ckpt{suffix}")
        os.symlink(real / f"model.ckpt{suffix}", linked / f"model.ckpt{suffix}")
    before = folder_digest(real)
    with pytest.raises(CheckpointError, match="would replace an input checkpoint"):
        remap(str(linked / "model.ckpt"), real / "model.ckpt", overwrite=True)
    assert folder_digest(real) == before


def test_a_hard_linked_data_file_is_the_same_file(tmp_path, source):
    out = tmp_path / "out"
    out.mkdir()
    os.link(source + DATA, out / f"copy{DATA}")
    with pytest.raises(CheckpointError, match="would replace an input checkpoint"):
        remap(source, out / "copy", overwrite=True)


def test_cli_says_it_in_one_sentence(capsys, tmp_path, source):
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(source + DATA, out / f"model.ckpt{DATA}")
    code = main(["remap", source, str(out / "model.ckpt"), "--force"])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert "would replace an input checkpoint" in err


def test_a_data_file_without_its_index_is_not_overwritten_without_force(tmp_path, source):
    out = tmp_path / "out"
    out.mkdir()
    orphan = out / f"model.ckpt{DATA}"
    orphan.write_bytes(b"someone's data")
    stale = out / "model.ckpt.data-00001-of-00002"
    stale.write_bytes(b"a shard of an older, sharded checkpoint")
    with pytest.raises(CheckpointError, match="already exists") as caught:
        remap(source, out / "model.ckpt")
    assert str(orphan) in str(caught.value) or str(stale) in str(caught.value)
    assert orphan.read_bytes() == b"someone's data"
    remap(source, out / "model.ckpt", overwrite=True)
    assert not stale.exists()  # a shard of the checkpoint it replaced: it would mislead
    np.testing.assert_array_equal(tf_values(str(out / "model.ckpt"))["v1"], VALUES["v1"])


def test_an_existing_meta_is_not_overwritten_without_force(tmp_path, source):
    graph = tmp_path / "graph"
    graph.mkdir()
    meta = _tf1_meta(graph / "model.ckpt.meta")
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.ckpt.meta").write_bytes(b"another graph")
    spec = RemapSpec(sources=[_tf1_checkpoint(tmp_path / "tf1")], target=meta)
    inputs = RemapInputs.open(spec)
    try:
        plan = build_plan(spec, inputs)
        with pytest.raises(CheckpointError, match="already exists"):
            write_remap(plan, inputs, out / "model.ckpt")
        assert (out / "model.ckpt.meta").read_bytes() == b"another graph"
        write_remap(plan, inputs, out / "model.ckpt", overwrite=True)
    finally:
        inputs.close()
    assert (out / "model.ckpt.meta").read_bytes() == Path(meta).read_bytes()


def _tf1_checkpoint(directory: Path) -> str:
    tf = import_tensorflow()
    v1 = tf.compat.v1
    directory.mkdir()
    with tf.Graph().as_default(), v1.Session() as session:
        v1.get_variable("w", initializer=tf.constant([1.0, 2.0]), use_resource=True)
        session.run(v1.global_variables_initializer())
        return v1.train.Saver().save(session, str(directory / "model.ckpt"))


def _tf1_meta(path: Path) -> str:
    tf = import_tensorflow()
    v1 = tf.compat.v1
    with tf.Graph().as_default():
        v1.get_variable("w", shape=(2,), use_resource=True)
        v1.train.Saver().export_meta_graph(str(path))
    return str(path)


# -- all or nothing -------------------------------------------------------------------------------


def _disk_full_at(monkeypatch, name: str) -> None:
    """Writing the staged file for `name` (e.g. the `checkpoint` state file) fails: disk full."""
    real_open = open

    def open_filling_the_disk(path, mode="r", *args, **kwargs):
        file = real_open(path, mode, *args, **kwargs)
        if os.path.basename(path).startswith(f".{name}.ckpt-browser-"):

            def write(data):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

            file.write = write
        return file

    monkeypatch.setattr(staged_checkpoint, "open", open_filling_the_disk, raising=False)


def test_disk_full_at_the_state_file_leaves_no_checkpoint(monkeypatch, tmp_path, source):
    before = folder_digest(tmp_path / "src")
    _disk_full_at(monkeypatch, "checkpoint")
    out = tmp_path / "out"
    with pytest.raises(CheckpointError, match="No space left on device") as caught:
        remap(source, out / "model.ckpt")
    assert str(out / "checkpoint") in str(caught.value)
    assert not out.exists()  # nothing left, not even the folder it made
    assert folder_digest(tmp_path / "src") == before


def test_disk_full_over_an_existing_checkpoint_keeps_it(monkeypatch, tmp_path, source):
    out = tmp_path / "out"
    old = write_with_tf(out / "model.ckpt", {"old": np.zeros(3, np.float32)})
    (out / "checkpoint").write_text('model_checkpoint_path: "model.ckpt"\n')
    before = folder_digest(out)
    _disk_full_at(monkeypatch, "checkpoint")
    with pytest.raises(CheckpointError, match="No space left on device"):
        remap(source, out / "model.ckpt", overwrite=True)
    assert folder_digest(out) == before
    assert list(tf_values(old)) == ["old"]


def test_a_failed_rename_while_publishing_puts_the_old_checkpoint_back(
    monkeypatch, tmp_path, source
):
    out = tmp_path / "out"
    write_with_tf(out / "model.ckpt", {"old": np.zeros(3, np.float32)})
    before = folder_digest(out)
    real_rename = os.rename
    failed = []

    def rename(src, dst):
        publishing_index = str(dst).endswith("model.ckpt.index") and "ckpt-browser" in str(src)
        if publishing_index and not failed:
            failed.append(dst)
            raise OSError(errno.EIO, os.strerror(errno.EIO), str(dst))
        return real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(CheckpointError, match="Input/output error"):
        remap(source, out / "model.ckpt", overwrite=True)
    monkeypatch.undo()
    assert folder_digest(out) == before


def test_a_successful_overwrite_leaves_only_the_new_checkpoint(tmp_path, source):
    out = tmp_path / "out"
    write_with_tf(out / "model.ckpt", {"old": np.zeros(3, np.float32)})
    result = remap(source, out / "model.ckpt", overwrite=True)
    assert sorted(os.listdir(out)) == ["checkpoint", f"model.ckpt{DATA}", "model.ckpt.index"]
    assert result.state_file == str(out / "checkpoint")
    values = tf_values(str(out / "model.ckpt"))
    assert sorted(values) == ["v1", "v2"]
    assert import_tensorflow().train.latest_checkpoint(str(out)) == str(out / "model.ckpt")


# -- SIGTERM, and runs killed outright ------------------------------------------------------------

# Runs the command line with each chunk written slowly, saying when writing has begun.
_SLOW_CLI = textwrap.dedent(
    """
    import sys, time
    from ckpt_browser.format.v2 import writer
    from ckpt_browser.core.tensor import export

    def slowly(write):
        def wrapped(*args):
            result = write(*args)
            print("writing", flush=True)
            time.sleep(0.05)
            return result
        return wrapped

    writer.CheckpointWriter._append = slowly(writer.CheckpointWriter._append)
    export.array_bytes = slowly(export.array_bytes)
    from ckpt_browser.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


def _start_slow(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen(
        [sys.executable, "-c", _SLOW_CLI, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    for line in process.stdout:  # the plan's summary comes first
        if line == "writing\n":
            return process
    raise AssertionError(process.stderr.read())


@pytest.fixture
def big_source(tmp_path) -> str:
    """40 tensors of 1 MB: many chunks to be killed in the middle of."""
    values = {f"t{i}": np.full((512, 512), i, np.float32) for i in range(40)}
    return write_with_tf(tmp_path / "big" / "model.ckpt", values)


@pytest.mark.parametrize("command", ["remap", "export"])
def test_sigterm_cleans_up_like_ctrl_c(tmp_path, big_source, command):
    before = folder_digest(tmp_path / "big")
    out = tmp_path / "out"
    out.mkdir()
    if command == "remap":
        args = ["remap", big_source, str(out / "model.ckpt")]
    else:
        args = ["export", big_source, *(f"t{i}" for i in range(40)), "-o", str(out / "all.npz")]
    process = _start_slow(args)
    assert leftovers(out)  # the temporary files exist while it writes
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 128 + signal.SIGTERM
    assert os.listdir(out) == []
    assert folder_digest(tmp_path / "big") == before


def test_a_run_killed_outright_is_swept_by_the_next_write(tmp_path, big_source):
    out = tmp_path / "out"
    out.mkdir()
    process = _start_slow(["remap", big_source, str(out / "model.ckpt")])
    process.kill()
    process.wait(timeout=60)
    left = leftovers(out)
    assert left and all(str(process.pid) in name for name in left)
    others = [".x.ckpt-browser-otherhost-1-0123456789abcdef.tmp", ".tempstate123", "mine.tmp"]
    for name in others:
        (out / name).write_bytes(b"not ours to remove")
    remap(big_source, out / "again.ckpt")
    assert leftovers(out) == [others[0]]  # another host's: its process cannot be looked up
    assert sorted(set(os.listdir(out)) - set(others)) == [
        "again.ckpt.data-00000-of-00001",
        "again.ckpt.index",
        "checkpoint",
    ]


def test_a_temporary_of_a_reused_process_id_is_stale(tmp_path, source):
    """Our own id on a file older than this process: an earlier process had the same id."""
    from ckpt_browser.format.atomic import sweep_stale_temporaries, temporary_name

    old = Path(temporary_name(str(tmp_path / "model.ckpt.index")))
    old.write_bytes(b"left by an earlier process")
    long_ago = time.time() - 10 * 24 * 3600
    os.utime(old, (long_ago, long_ago))
    fresh = Path(temporary_name(str(tmp_path / "other.index")))
    fresh.write_bytes(b"being written now")
    assert sweep_stale_temporaries(str(tmp_path)) == [str(old)]
    assert fresh.exists()
