"""The command line on checkpoints in an S3 bucket (moto's server on loopback), against the local
copies they were uploaded from: the same listing, TensorFlow's values, diff, verify, remap and
export, and errors that name the URL and the reason, with no traceback and no secret.

The program is given nothing but `s3://` URLs: the endpoint and the credentials come from the
environment, as for any s3fs user (see `tests/s3_server.py`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from damaged_files import copy_checkpoint, flip_stored_byte
from s3_server import SECRET_ACCESS_KEY, S3Server
from tf_checkpoints import import_tensorflow, write_with_tf
from tf_v1_checkpoints import assert_same_bits, restore_with_tf

from ckpt_browser.cli import main
from ckpt_browser.format import open_checkpoint

BUCKET = "cli-checkpoints"


@dataclass(frozen=True)
class Bucket:
    """Local folders uploaded to the bucket, and the URL each went to."""

    folders: dict[str, str]  # local folder -> s3:// URL of its copy

    def url(self, local: str | os.PathLike[str]) -> str:
        """The URL of the uploaded copy of a local file, prefix or folder."""
        local = os.fspath(local)
        for folder, url in self.folders.items():
            if local == folder or local.startswith(folder + os.sep):
                return url + local[len(folder) :].replace(os.sep, "/")
        raise AssertionError(f"{local} was not uploaded")

    def as_remote(self, text: str) -> str:
        """Output about local copies, with each folder shown as its URL."""
        for folder in sorted(self.folders, key=len, reverse=True):
            text = text.replace(folder, self.folders[folder])
        return text


@pytest.fixture(scope="module")
def bucket(
    s3_server: S3Server,
    tf1_training_dir,
    tf2_keras_ckpt,
    sharded_ckpt,
    tf1_partitioned,
    tf2_sharded_prefix,
    v1_ckpt,
    v1_sharded_ckpt,
    savedmodel_dir,
) -> Bucket:
    root = s3_server.create_bucket(BUCKET)
    folders = {
        tf1_training_dir.directory: "run",  # TF1 Saver: absolute paths in `checkpoint`, .meta
        tf2_keras_ckpt.directory: "keras",  # CheckpointManager: relative paths, three saves
        Path(sharded_ckpt.prefix).parent: "sharded",
        Path(tf1_partitioned.prefix).parent: "partitioned",
        Path(tf2_sharded_prefix).parent: "tf2_sharded",
        v1_ckpt.directory: "v1",
        v1_sharded_ckpt.directory: "v1_sharded",  # named by a glob: model.ckpt-3-?????-of-00002
        savedmodel_dir.directory: "savedmodel",
    }
    uploaded = {}
    for folder, name in folders.items():
        uploaded[str(folder)] = s3_server.upload(folder, f"{root}/{name}")
    return Bucket(uploaded)


def run(capsys, *args: str) -> tuple[int, str, str]:
    """The command's exit code, stdout and stderr; no output may hold the secret key."""
    code = main(list(args))
    out, err = capsys.readouterr()
    assert SECRET_ACCESS_KEY not in out + err
    return code, out, err


# -- ls: every path form, the same listing as the local copy ---------------------------------


LS_PATHS = {
    "directory with a checkpoint file": lambda f: f["tf1_training_dir"].directory,
    "prefix of an older save": lambda f: f["tf1_training_dir"].prefixes[0],
    ".index": lambda f: f["tf1_training_dir"].prefixes[0] + ".index",
    ".data-*": lambda f: f["tf1_training_dir"].prefixes[0] + ".data-00000-of-00001",
    ".meta": lambda f: f["tf1_training_dir"].prefixes[0] + ".meta",
    "TF2 manager directory": lambda f: f["tf2_keras_ckpt"].directory,
    "sharded": lambda f: f["sharded_ckpt"].prefix,
    "partitioned": lambda f: f["tf1_partitioned"].prefix,
    "TF2 sharded": lambda f: f["tf2_sharded_prefix"],
    "V1 file": lambda f: f["v1_ckpt"].path,
    "V1 sharded directory": lambda f: f["v1_sharded_ckpt"].directory,
    "V1 sharded glob": lambda f: f["v1_sharded_ckpt"].glob,
    "V1 shard file": lambda f: f["v1_sharded_ckpt"].shard_files[1],
    "SavedModel directory": lambda f: f["savedmodel_dir"].directory,
}


@pytest.fixture
def fixtures(request) -> dict:
    names = ("tf1_training_dir", "tf2_keras_ckpt", "sharded_ckpt", "tf1_partitioned")
    names += ("tf2_sharded_prefix", "v1_ckpt", "v1_sharded_ckpt", "savedmodel_dir")
    return {name: request.getfixturevalue(name) for name in names}


@pytest.mark.parametrize("form", LS_PATHS)
def test_ls_lists_what_the_local_copy_lists(capsys, bucket, fixtures, form):
    local = str(LS_PATHS[form](fixtures))
    url = bucket.url(local)
    for options in ((), ("--json",)):
        code, expected, expected_err = run(capsys, "ls", local, *options)
        assert code == 0, expected_err
        code, out, err = run(capsys, "ls", url, *options)
        assert code == 0, err
        assert out == bucket.as_remote(expected)
        assert err == bucket.as_remote(expected_err)


@pytest.mark.parametrize(
    "form",
    [".meta", "SavedModel directory", "directory with a checkpoint file", "V1 sharded directory"],
)
def test_graph_shows_what_the_local_copy_shows(capsys, bucket, fixtures, form):
    local = str(LS_PATHS[form](fixtures))
    code, expected, expected_err = run(capsys, "graph", local)
    assert code == 0, expected_err
    code, out, err = run(capsys, "graph", bucket.url(local))
    assert code == 0, err
    assert (out, err) == (bucket.as_remote(expected), bucket.as_remote(expected_err))


def test_ls_from_a_separate_process_needs_only_the_environment(bucket, tf1_training_dir):
    """`python -m ckpt_browser`, as a user runs it: the endpoint and keys come from the
    environment alone, and nothing is printed but the listing."""
    url = bucket.url(tf1_training_dir.directory)
    done = subprocess.run(
        [sys.executable, "-m", "ckpt_browser.cli", "ls", url, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    listing = json.loads(done.stdout)
    assert listing["prefix"] == bucket.url(tf1_training_dir.prefix)
    assert {v["name"] for v in listing["variables"]} == set(tf1_training_dir.variable_names)
    assert done.stderr == ""


# -- values: TensorFlow's reading of the local copy -------------------------------------------


VALUE_SOURCES = {
    "TF1 training": lambda f: f["tf1_training_dir"].prefix,
    "sharded": lambda f: f["sharded_ckpt"].prefix,
    "partitioned": lambda f: f["tf1_partitioned"].prefix,
    "TF2 sharded": lambda f: f["tf2_sharded_prefix"],
    "TF2 Keras": lambda f: f["tf2_keras_ckpt"].prefix,
    "V1": lambda f: f["v1_ckpt"].path,
    "V1 sharded": lambda f: f["v1_sharded_ckpt"].glob,
    "SavedModel": lambda f: f["savedmodel_dir"].variables_prefix,
}


@pytest.mark.parametrize("source", VALUE_SOURCES)
def test_every_tensor_read_from_s3_equals_tensorflows_reading(bucket, fixtures, source):
    local = VALUE_SOURCES[source](fixtures)
    expected = restore_with_tf(local)
    with open_checkpoint(bucket.url(local)) as ckpt:
        assert set(ckpt) == set(expected)
        for name, value in expected.items():
            assert_same_bits(ckpt.read(name), value)


def test_show_prints_the_local_copys_statistics_and_values(capsys, bucket, sharded_ckpt):
    tf = import_tensorflow()
    reader = tf.train.load_checkpoint(sharded_ckpt.prefix)
    url = bucket.url(sharded_ckpt.prefix)
    for name in ("dense/kernel", "split", "embedding", "vocab"):
        code, out, err = run(capsys, "show", url, name)
        assert code == 0, err
        assert (out, err) == run(capsys, "show", sharded_ckpt.prefix, name)[1:]
    code, out, err = run(capsys, "show", url, "split", "--json")
    assert code == 0, err
    stats, value = json.loads(out)["stats"], reader.get_tensor("split")
    assert stats["min"] == pytest.approx(float(value.min()))
    assert stats["max"] == pytest.approx(float(value.max()))
    assert stats["mean"] == pytest.approx(float(value.mean()), rel=1e-6)


# -- diff --------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["TF1 training", "sharded", "partitioned", "V1"])
def test_diff_of_a_local_copy_and_its_upload_says_same(capsys, bucket, fixtures, source):
    local = VALUE_SOURCES[source](fixtures)
    code, out, err = run(capsys, "diff", local, bucket.url(local), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert {status for status, count in report["summary"].items() if count} == {"same"}
    assert report["b"] == bucket.url(report["a"])


def test_diff_against_a_changed_upload_names_the_changed_tensors(capsys, bucket, tf1_training_dir):
    """The older save against the newer one's upload: training changed every model variable."""
    older, newer = tf1_training_dir.prefixes
    code, out, err = run(capsys, "diff", older, bucket.url(newer), "--json")
    assert code == 1, err
    report = json.loads(out)
    changed = {t["name"] for t in report["tensors"] if t["status"] == "changed"}
    assert set(tf1_training_dir.model_variables) <= changed
    code, local_out, _ = run(capsys, "diff", older, newer, "--json")
    assert json.loads(local_out)["tensors"] == report["tensors"]


# -- verify ------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["sharded", "TF2 sharded", "V1"])
def test_verify_passes_on_s3(capsys, bucket, fixtures, source):
    local = VALUE_SOURCES[source](fixtures)
    code, expected, _ = run(capsys, "verify", local)
    assert code == 0
    code, out, err = run(capsys, "verify", bucket.url(local))
    assert code == 0, err
    assert out == bucket.as_remote(expected)


def test_verify_names_the_tensor_of_a_flipped_byte_in_an_uploaded_shard(
    capsys, s3_server, bucket, sharded_ckpt, tmp_path
):
    damaged = copy_checkpoint(sharded_ckpt.prefix, tmp_path / "damaged")
    flip_stored_byte(damaged, "dense/bias", at=2)
    folder = str(tmp_path / "damaged")
    url = s3_server.upload(folder, f"s3://{BUCKET}/damaged")
    remote = Bucket({folder: url})
    code, expected, _ = run(capsys, "verify", damaged)
    assert code == 1 and "damaged: dense/bias" in expected
    code, out, err = run(capsys, "verify", remote.url(damaged))
    assert code == 1, err
    assert out == remote.as_remote(expected)


# -- remap and export: remote sources, local outputs --------------------------------------------


@pytest.mark.parametrize("source", ["TF1 training", "partitioned", "TF2 sharded", "V1"])
def test_remap_from_s3_writes_what_tensorflow_restores(capsys, bucket, fixtures, source, tmp_path):
    local = VALUE_SOURCES[source](fixtures)
    expected = restore_with_tf(local)
    out = str(tmp_path / "out" / "model.ckpt")
    code, _, err = run(capsys, "remap", bucket.url(local), out)
    assert code == 0, err
    restored = restore_with_tf(out)
    assert set(restored) == set(expected)
    for name, value in expected.items():
        assert_same_bits(restored[name], value)


def test_remap_from_s3_with_a_rule(capsys, bucket, tf1_training_dir, tmp_path):
    expected = restore_with_tf(tf1_training_dir.prefix)
    out = str(tmp_path / "renamed" / "model.ckpt")
    code, _, err = run(
        capsys, "remap", bucket.url(tf1_training_dir.prefix), out, "--rule", "net/=model/"
    )
    assert code == 0, err
    restored = restore_with_tf(out)
    renamed = {
        name.replace("net/", "model/", 1) if name.startswith("net/") else name: value
        for name, value in expected.items()
    }
    assert set(restored) == set(renamed)
    for name, value in renamed.items():
        assert_same_bits(restored[name], value)


def test_export_from_s3(capsys, bucket, sharded_ckpt, tmp_path):
    url = bucket.url(sharded_ckpt.prefix)
    code, _, err = run(capsys, "export", url, "split", "-o", str(tmp_path / "split.npy"))
    assert code == 0, err
    np.testing.assert_array_equal(np.load(tmp_path / "split.npy"), sharded_ckpt.expected["split"])
    names = ["dense/kernel", "embedding", "vocab"]
    code, _, err = run(capsys, "export", url, *names, "-o", str(tmp_path / "some.npz"))
    assert code == 0, err
    with np.load(tmp_path / "some.npz") as loaded:
        for name in names:
            expected = sharded_ckpt.expected[name]
            if expected.dtype == object:
                assert loaded[name].tolist() == expected.tolist()
            else:
                assert loaded[name].tobytes() == expected.tobytes()


# -- errors ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def index_without_data(s3_server: S3Server, bucket, sharded_ckpt) -> str:
    """The sharded checkpoint uploaded with its `.index` and two of its three data files."""
    prefix_url = f"s3://{BUCKET}/no_shard/model.ckpt"
    for path in Path(sharded_ckpt.prefix).parent.iterdir():
        if path.name != "model.ckpt.data-00002-of-00003":
            s3_server.upload(path, f"s3://{BUCKET}/no_shard/{path.name}")
    return prefix_url


ERRORS = {
    "no such bucket": ("ls", "s3://no-such-bucket-e2e/run/model.ckpt-1"),
    "no such key": ("ls", f"s3://{BUCKET}/nowhere/model.ckpt-1"),
    "no such directory": ("ls", f"s3://{BUCKET}/nowhere/"),
    "no such object (.index)": ("ls", f"s3://{BUCKET}/sharded/model.ckpt-9.index"),
    "bucket without a checkpoint": ("ls", f"s3://{BUCKET}"),
}


@pytest.mark.parametrize("case", ERRORS)
def test_a_missing_location_is_one_error_line_with_the_url(capsys, bucket, case):
    command, url = ERRORS[case]
    code, out, err = run(capsys, command, url)
    assert code == 2
    assert out == ""
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert url.rstrip("/").removesuffix(".index") in err
    assert "Traceback" not in err


def test_a_missing_data_shard_on_s3_names_its_url(capsys, index_without_data):
    code, out, err = run(capsys, "show", index_without_data, "embedding")
    assert code == 2, out
    assert "Traceback" not in err
    assert f"{index_without_data}.data-00002-of-00003" in err
    assert err.splitlines()[-1].startswith("error: ")


# -- keys a URL must carry as they are ------------------------------------------------------------

ODD_FOLDERS = ["my run", "a+b", "hash#1", "pct%20x", "q?x", "uni-é", "a=b,c"]


@pytest.fixture(scope="module")
def odd_folders(s3_server: S3Server, bucket, tmp_path_factory) -> str:
    """One small checkpoint and its `checkpoint` file under each odd folder name."""
    folder = tmp_path_factory.mktemp("odd") / "run"
    folder.mkdir()
    write_with_tf(folder / "model.ckpt-3", {"w": np.arange(6, dtype=np.float32).reshape(2, 3)})
    (folder / "checkpoint").write_text('model_checkpoint_path: "model.ckpt-3"\n')
    for name in ODD_FOLDERS:
        s3_server.upload(folder, f"s3://{BUCKET}/odd/{name}")
    return f"s3://{BUCKET}/odd"


@pytest.mark.parametrize("name", ODD_FOLDERS)
def test_folder_names_with_url_characters_are_keys_as_written(capsys, odd_folders, name):
    url = f"{odd_folders}/{name}"
    for form in (url, f"{url}/", f"{url}/model.ckpt-3", f"{url}/checkpoint"):
        code, out, err = run(capsys, "show", form, "w", "--json")
        assert code == 0, err
        assert json.loads(out)["stats"]["max"] == 5.0
    code, out, err = run(capsys, "ls", url, "--json")
    assert code == 0, err
    assert json.loads(out)["prefix"] == f"{url}/model.ckpt-3"
