"""Keys that are not printable UTF-8 text get names of their own: distinct, lossless, reachable.

Two keys that were not UTF-8 once showed under one name (decoded with `backslashreplace`, so the
key bytes `w FF` and the text `w\\xff` collided too), and one tensor vanished from `ls` and
`verify`. Each test holds an index with such keys and checks what a user sees and relies on.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tf_checkpoints import import_tensorflow, write_with_tf

from ckpt_browser.cli import main
from ckpt_browser.core.scope_tree import build_tree
from ckpt_browser.format import CheckpointWriter, open_checkpoint
from ckpt_browser.format.names import key_of_name, name_of_key, names_of_keys
from ckpt_browser.format.sstable.reader import Table
from ckpt_browser.format.sstable.writer import TableBuilder

# key -> the name it shows as, and its value
KEYS = {
    b"w\xff": ("w\\xff", 1),
    b"w\xfe": ("w\\xfe", 2),
    b"w\\xff": ("w\\\\xff", 3),  # the text w, backslash, x, f, f: valid UTF-8 spelled as an escape
    b"scope/a\nb": ("scope/a\\nb", 4),
    b"scope/\xe2\x80\xaeevil": ("scope/\\u202eevil", 5),  # a bidi override
    b"scope/plain": ("scope/plain", 6),
}
NAMES = {name: value for name, value in KEYS.values()}


@pytest.fixture
def hostile_keys(tmp_path: Path) -> str:
    """A TensorFlow checkpoint whose index is rewritten to hold the keys above."""
    tensors = {f"k{value}": np.full(2, value, np.int32) for _, value in KEYS.values()}
    prefix = write_with_tf(tmp_path / "model", tensors)
    items = dict(Table.open(prefix + ".index").items())
    with open(prefix + ".index", "wb") as file:
        table = TableBuilder(file)
        table.add(b"", items[b""])
        for key in sorted(KEYS):
            table.add(key, items[f"k{KEYS[key][1]}".encode()])
        table.finish()
    return prefix


@given(st.binary(min_size=1, max_size=30))
def test_every_key_has_one_printable_name_that_gives_it_back(key):
    name = name_of_key(key)
    assert name.isprintable()
    assert key_of_name(name) == key
    assert names_of_keys([b"a", key, b"z"]) == ["a", name, "z"]


@given(st.text(st.characters(exclude_categories=["Cs"]), min_size=1))
def test_printable_text_without_a_backslash_is_its_own_name(text):
    if text.isprintable() and "\\" not in text:
        assert name_of_key(text.encode()) == text
    else:
        assert "\\" in name_of_key(text.encode())


@pytest.mark.parametrize("text", ["a\\q", "\\x41", "a\nb", "\\xFF", "\\ud800", "w\udcff"])
def test_text_that_is_no_keys_name_is_refused(text):
    with pytest.raises(ValueError, match="not a tensor name"):
        key_of_name(text)


def test_each_key_is_listed_once_and_reads_its_own_tensor(hostile_keys):
    reader = import_tensorflow().train.load_checkpoint(hostile_keys)
    with open_checkpoint(hostile_keys) as ckpt:
        assert sorted(ckpt) == sorted(NAMES)
        for key, (name, value) in KEYS.items():
            assert ckpt.read(name).tolist() == [value, value]
            assert reader.get_tensor(key).tolist() == [value, value]  # TensorFlow by the bytes
        assert ckpt.verify() == []


def test_the_command_line_lists_shows_and_verifies_each_name(capsys, hostile_keys):
    assert main(["ls", hostile_keys]) == 0
    lines = capsys.readouterr().out.splitlines()
    for name in NAMES:
        assert sum(line.split()[0] == name for line in lines[1:-1]) == 1, name
    assert main(["ls", "--json", hostile_keys]) == 0
    listed = [v["name"] for v in json.loads(capsys.readouterr().out)["variables"]]
    assert sorted(listed) == sorted(NAMES)
    for name, value in NAMES.items():
        assert main(["show", hostile_keys, name, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["stats"]["max"] == value
    assert main(["verify", hostile_keys]) == 0
    assert f"ok: {len(NAMES)} tensors" in capsys.readouterr().out


def test_export_and_the_window_tree_see_distinct_names(capsys, hostile_keys, tmp_path):
    output = tmp_path / "all.npz"
    assert main(["export", hostile_keys, *NAMES, "-o", str(output)]) == 0
    with np.load(output) as exported:
        assert {name: int(exported[name][0]) for name in exported.files} == NAMES
    with open_checkpoint(hostile_keys) as ckpt:
        leaves = [node.key for node in build_tree(ckpt.values()).tensors()]
    assert sorted(leaves) == sorted(NAMES)


def test_remap_and_the_writer_keep_every_key_byte_for_byte(capsys, hostile_keys, tmp_path):
    output = str(tmp_path / "out" / "model")
    assert main(["remap", hostile_keys, output]) == 0, capsys.readouterr().err
    assert {key for key, _ in Table.open(output + ".index").items()[1:]} == set(KEYS)
    reader = import_tensorflow().train.load_checkpoint(output)
    for key, (_, value) in KEYS.items():
        assert reader.get_tensor(key).tolist() == [value, value]
    copy = str(tmp_path / "copy")
    with open_checkpoint(hostile_keys) as ckpt, CheckpointWriter(copy) as writer:
        for name in ckpt:
            writer.add(name, ckpt.read(name))
    assert {key for key, _ in Table.open(copy + ".index").items()[1:]} == set(KEYS)
