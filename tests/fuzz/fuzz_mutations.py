"""Mutations of a copy of a seed folder: one to three files changed, each as its kind allows.

`mutate_folder(folder, rng, families)` picks a family of mutation (FAMILIES: the `.index`'s bytes,
fields, names or slices, the data shards, a legacy V1 file's bytes or fields, the `checkpoint`
state file, a graph, or a file replaced by a FIFO, a directory or a dangling link), a file of
that kind, and changes it in place; it returns a line per change. Every choice comes from `rng`,
so a run is reproduced from its number.
"""

from __future__ import annotations

import os
import random
import re

from fuzz_index import mutate_index
from fuzz_mutators import mutate_bytes, mutate_proto
from fuzz_v1 import mutate_v1


def mutate_data(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Data shards: mostly a flip inside the tensors (only checksums can tell), or a cut."""
    if data and rng.random() < 0.5:
        out = bytearray(data)
        pos = rng.randrange(len(out))
        out[pos] ^= 1 << rng.randrange(8)
        return bytes(out), f"flip a bit at {pos}"
    return mutate_bytes(data, rng)


STATE_VALUES = [
    b"nowhere",
    b"../outside/model.ckpt",
    b"/nonexistent/model.ckpt",
    b"\\033[31mred\\033[0m",
    b"\\377\\376",
    b"line\\nbreak",
    b"x" * 5000,
    b"",
    b".",
    b"checkpoint",
]


def mutate_state(data: bytes, rng: random.Random, prefixes: list[str]) -> tuple[bytes, str]:
    """The `checkpoint` text proto: paths elsewhere, escapes, fields twice, or raw bytes."""
    op = rng.choice(["path", "path", "duplicate", "unknown", "unterminated", "bytes", "binary"])
    if op == "path":
        value = rng.choice(STATE_VALUES + [p.encode() for p in prefixes])
        field = rng.choice([b"model_checkpoint_path", b"all_model_checkpoint_paths"])
        line = field + b': "' + value + b'"\n'
        return line + data if rng.random() < 0.5 else data + line, f"state: {line[:80]!r}"
    if op == "duplicate":
        return data + data, "state: every field twice"
    if op == "unknown":
        return data + b"no_such_field: 3\n", "state: unknown field"
    if op == "unterminated":
        return b'model_checkpoint_path: "model.ckpt\n', "state: unterminated string"
    if op == "binary":
        return rng.randbytes(rng.randrange(1, 200)), "state: random bytes"
    new, what = mutate_bytes(data, rng)
    return new, f"state: {what}"


# Families of mutations: the kind of file each changes, and how often a campaign picks it.
FAMILIES = {
    "index-bytes": ("index", 2),
    "index-fields": ("index", 6),
    "index-names": ("index", 1.5),
    "index-slices": ("index", 1),
    "data": ("data", 3),
    "v1-bytes": ("v1", 1.5),
    "v1-fields": ("v1", 4),
    "state": ("state", 1.5),
    "graph": ("proto", 3),
    "other": ("other", 0.3),
    "files": (None, 0.3),
}


def file_kinds(folder: str) -> set[str]:
    """The kinds of file under `folder` ("index", "data", "v1", "state", "proto", "other")."""
    return {_kind(name) for _root, _dirs, names in os.walk(folder) for name in names}


def can_mutate(folder: str, families: list[str] | None) -> bool:
    kinds = file_kinds(folder) | {None}
    return any(FAMILIES[f][0] in kinds for f in families or FAMILIES)


def mutate_folder(folder: str, rng: random.Random, families: list[str] | None = None) -> list[str]:
    """Change one to three files of `folder` in place; a line per change. `families` limits
    the kinds of change (default: all of FAMILIES)."""
    files = []
    for root, _dirs, names in os.walk(folder):
        for name in names:
            files.append(os.path.relpath(os.path.join(root, name), folder))
    files.sort()
    prefixes = sorted({f.rsplit(".", 1)[0] for f in files if f.endswith(".index")})
    present = {_kind(f) for f in files}
    usable = [f for f in families or FAMILIES if FAMILIES[f][0] in present | {None}]
    changes = []
    for _ in range(rng.choice([1, 1, 1, 1, 2, 2, 3])):
        if not usable:
            break
        family = rng.choices(usable, [FAMILIES[f][1] for f in usable])[0]
        kind = FAMILIES[family][0]
        relative = rng.choice([f for f in files if kind is None or _kind(f) == kind])
        path = os.path.join(folder, relative)
        if not os.path.isfile(path) or os.path.islink(path):
            continue
        if family == "files":
            changes.append(_replace_file(path, relative, rng))
            continue
        with open(path, "rb") as file:
            data = file.read()
        if kind == "index":
            new, what = mutate_index(data, rng, family)
        elif kind == "data":
            new, what = mutate_data(data, rng)
        elif kind == "v1":
            new, what = mutate_v1(data, rng, family)
        elif kind == "state":
            new, what = mutate_state(data, rng, prefixes)
        elif kind == "proto":
            new, what = mutate_proto(data, rng)
        else:
            new, what = mutate_bytes(data, rng)
        with open(path, "wb") as file:
            file.write(new)
        changes.append(f"{relative}: [{family}] {what}")
    return changes


def _replace_file(path: str, relative: str, rng: random.Random) -> str:
    """The file replaced by something that is not a regular file, or removed."""
    os.remove(path)
    op = rng.choice(["missing", "directory", "fifo", "dangling link"])
    if op == "directory":
        os.mkdir(path)
    elif op == "fifo":
        os.mkfifo(path)
    elif op == "dangling link":
        os.symlink(path + ".gone", path)
    return f"{relative}: replaced by {op}"


# A legacy V1 checkpoint file as a Saver names it: model.ckpt-7, model.ckpt-3-00000-of-00002
_V1_FILE = re.compile(r"\.ckpt(-\d+)?(-\d{5}-of-\d{5})?$")


def _kind(relative: str) -> str:
    name = os.path.basename(relative)
    if name.endswith(".index"):
        return "index"
    if _V1_FILE.search(name):
        return "v1"
    if ".data-" in name:
        return "data"
    if name == "checkpoint":
        return "state"
    if name.endswith((".meta", ".pb")):
        return "proto"
    return "other"
