"""Helpers for tests of damaged inputs: flip a stored byte of one tensor, fingerprint a folder.

A flipped byte inside a tensor's stored bytes leaves the files well-formed but makes the
tensor's CRC32C fail: TensorFlow refuses to restore it ("Checksum does not match"), and so must
every command that copies, exports or compares it unless the user says otherwise.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from ckpt_browser.format.v2.bundle import BundleIndex


def flip_stored_byte(prefix: str, key: str | bytes, at: int = 0) -> int:
    """Flip one bit of byte `at` of tensor `key`'s stored bytes (a slice's, for a slice key in
    bytes); returns the offset of the tensor's bytes in their shard."""
    index = BundleIndex(prefix)
    entry = index.entries[key] if isinstance(key, str) else index.slice_entries[key]
    shard = f"{prefix}.data-{entry.shard_id:05d}-of-{index.num_shards:05d}"
    offset = entry.offset + at
    with open(shard, "r+b") as file:
        file.seek(offset)
        byte = file.read(1)
        file.seek(offset)
        file.write(bytes([byte[0] ^ 0x10]))
    return entry.offset


def folder_digest(directory: str | os.PathLike[str]) -> dict[str, str]:
    """Every file under `directory` (links as links) with the SHA-256 of its bytes."""
    digest = {}
    for path in sorted(Path(directory).rglob("*")):
        if path.is_symlink():
            digest[str(path)] = "-> " + os.readlink(path)
        elif path.is_file():
            digest[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digest


def leftovers(directory: str | os.PathLike[str]) -> list[str]:
    """Temporary files of ours left in `directory`."""
    return sorted(name for name in os.listdir(directory) if "ckpt-browser" in name)


def copy_checkpoint(prefix: str, directory: str | os.PathLike[str]) -> str:
    """Copy the files of checkpoint `prefix` into `directory`; returns the new prefix."""
    os.makedirs(directory, exist_ok=True)
    name = os.path.basename(prefix)
    for entry in os.scandir(os.path.dirname(prefix)):
        if entry.name.startswith(name + "."):
            shutil.copy(entry.path, os.path.join(directory, entry.name))
    return os.path.join(os.fspath(directory), name)
