"""A source tensor whose checksum fails is refused by remap, export and diff, as TensorFlow
refuses it, and passed on only when the user says so, loudly; show and verify say it is damaged.

TensorFlow is the oracle: each damaged checkpoint is first shown to fail in TensorFlow, and a
remap written with --allow-bad-checksums is what TensorFlow then reads without complaint, which
is exactly why it must never happen silently.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from damaged_files import copy_checkpoint, flip_stored_byte, folder_digest, leftovers
from tf_checkpoints import import_tensorflow, write_with_tf

from ckpt_browser.cli import main
from ckpt_browser.format.v2.bundle import BundleIndex
from ckpt_browser.format.v2.slice_keys import slice_key

KERNEL = np.arange(12, dtype=np.float32).reshape(3, 4)
VALUES = {
    "dense/kernel": KERNEL,
    "dense/bias": np.array([0.5, -1.5], np.float32),
    "vocab": np.array([b"alpha", b"beta", b"gamma"], dtype=object),
}


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def damaged(tmp_path):
    """A TensorFlow checkpoint whose `dense/kernel` has one flipped bit (at byte 5)."""
    prefix = write_with_tf(tmp_path / "src" / "model.ckpt", VALUES)
    offset = flip_stored_byte(prefix, "dense/kernel", at=5)
    tf = import_tensorflow()
    with pytest.raises(tf.errors.OpError, match="Checksum does not match"):
        tf.train.load_checkpoint(prefix).get_tensor("dense/kernel")
    return prefix, offset


def refusal_names_tensor_shard_and_offset(err: str, offset: int) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "model.ckpt.data-00000-of-00001" in lines[0]
    assert "'dense/kernel'" in lines[0] and f"at offset {offset}" in lines[0]
    assert "checksum does not match" in lines[0] and "--allow-bad-checksums" in lines[0]


@pytest.mark.parametrize("cast", [[], ["--cast", "bfloat16"]], ids=["copy", "cast"])
def test_remap_refuses_a_damaged_tensor_and_writes_nothing(capsys, tmp_path, damaged, cast):
    prefix, offset = damaged
    before = folder_digest(tmp_path / "src")
    out = tmp_path / "out" / "model.ckpt"
    code, stdout, err = run(capsys, "remap", prefix, str(out), "--rule", "dense/=head/", *cast)
    assert code == 2
    refusal_names_tensor_shard_and_offset(err, offset)
    assert "verified" not in stdout
    assert not out.parent.exists()  # not even the folder it would have made
    assert folder_digest(tmp_path / "src") == before


def test_remap_with_the_flag_copies_and_says_so(capsys, tmp_path, damaged):
    prefix, offset = damaged
    before = folder_digest(tmp_path / "src")
    out = tmp_path / "out" / "model.ckpt"
    code, stdout, err = run(
        capsys, "remap", prefix, str(out), "--rule", "dense/=head/", "--allow-bad-checksums"
    )
    assert code == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("warning: copied")]
    assert len(warnings) == 1 and "'dense/kernel'" in warnings[0]
    assert f"at offset {offset}" in warnings[0]
    assert "1 tensor came from damaged source bytes" in stdout
    # What makes the flag dangerous: TensorFlow takes the output's fresh checksum at its word.
    restored = import_tensorflow().train.load_checkpoint(str(out)).get_tensor("head/kernel")
    assert not np.array_equal(restored, KERNEL)
    assert np.sum(restored != KERNEL) == 1
    assert folder_digest(tmp_path / "src") == before


def test_a_damaged_string_tensor_is_refused_too(capsys, tmp_path):
    prefix = write_with_tf(tmp_path / "src" / "model.ckpt", VALUES)
    flip_stored_byte(prefix, "vocab", at=8)  # inside the string bytes, after lengths and CRC
    with pytest.raises(import_tensorflow().errors.OpError, match="Checksum does not match"):
        import_tensorflow().train.load_checkpoint(prefix).get_tensor("vocab")
    code, _, err = run(capsys, "remap", prefix, str(tmp_path / "out" / "m"))
    assert code == 2 and "'vocab'" in err and "checksum does not match" in err


def test_a_damaged_slice_of_a_partitioned_variable_is_refused(capsys, tmp_path, tf1_partitioned):
    prefix = copy_checkpoint(tf1_partitioned.prefix, tmp_path / "src")
    full_name, last_slice = _last_slice(prefix)
    flip_stored_byte(prefix, last_slice)
    with pytest.raises(import_tensorflow().errors.OpError, match="Checksum does not match"):
        import_tensorflow().train.load_checkpoint(prefix).get_tensor(full_name)
    before = folder_digest(tmp_path / "src")
    code, _, err = run(capsys, "remap", prefix, str(tmp_path / "out" / "m"))
    assert code == 2, err
    assert f"'{full_name} (slice [" in err and "checksum does not match" in err
    assert folder_digest(tmp_path / "src") == before


def _last_slice(prefix: str) -> tuple[str, bytes]:
    index = BundleIndex(prefix)
    full = next(entry for entry in index.entries.values() if entry.slices)
    return full.name, slice_key(full.name, full.slices[-1])


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".csv"])
def test_export_refuses_a_damaged_tensor_unless_allowed(capsys, tmp_path, damaged, suffix):
    prefix, offset = damaged
    out = tmp_path / f"kernel{suffix}"
    code, _, err = run(capsys, "export", prefix, "dense/kernel", "-o", str(out))
    assert code == 2 and not out.exists()
    refusal_names_tensor_shard_and_offset(err, offset)
    assert leftovers(tmp_path) == []

    code, _, err = run(
        capsys, "export", prefix, "dense/kernel", "-o", str(out), "--allow-bad-checksums"
    )
    assert code == 0, err
    assert "warning: exported although its checksum does not match" in err
    assert "1 damaged tensor among them" in err
    assert out.exists()


def test_export_of_intact_tensors_is_unchanged_by_the_check(capsys, tmp_path, damaged):
    prefix, _ = damaged
    out = tmp_path / "rest.npz"
    code, _, err = run(capsys, "export", prefix, "dense/bias", "vocab", "-o", str(out))
    assert code == 0, err
    loaded = np.load(out, allow_pickle=False)
    np.testing.assert_array_equal(loaded["dense/bias"], VALUES["dense/bias"])
    assert loaded["vocab"].tolist() == [b"alpha", b"beta", b"gamma"]


def test_show_warns_that_the_values_are_damaged(capsys, damaged):
    prefix, offset = damaged
    code, stdout, err = run(capsys, "show", prefix, "dense/kernel")
    assert code == 0
    assert re.search(rf"^warning: these values are damaged: .*at offset {offset}", err, re.M)
    assert "dense/kernel" in stdout
    code, _, err = run(capsys, "show", prefix, "dense/bias")
    assert code == 0 and "damaged" not in err


def test_diff_refuses_a_damaged_tensor_unless_allowed(capsys, tmp_path, damaged):
    prefix, offset = damaged
    intact = write_with_tf(tmp_path / "intact" / "model.ckpt", VALUES)
    code, _, err = run(capsys, "diff", intact, prefix)
    assert code == 2 and f"at offset {offset}" in err and "--allow-bad-checksums" in err
    code, stdout, err = run(capsys, "diff", intact, prefix, "--allow-bad-checksums")
    assert code == 1
    assert "warning: compared although its checksum does not match" in err
    assert "dense/kernel" in stdout
