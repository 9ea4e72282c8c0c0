"""safetensors files, single or a sharded set named by `model.safetensors.index.json`, as a
`Checkpoint`.

The header is checked by `safetensors_header` (one sentence naming the tensor and the fault) and
then by the `safetensors` package itself (`safe_open`, the reference parser). Values are views of
a read-only memory map of the file at the offsets the header gives: the package's `get_tensor`
copies the whole tensor into a new array, and a view lets statistics and comparisons stream a
tensor of any size with flat memory, as they do for TensorFlow's own files.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct

import numpy as np

from ckpt_browser.format.checkpoint import Index, as_index
from ckpt_browser.format.errors import CheckpointError
from ckpt_browser.format.files import map_capped, open_regular, read_capped
from ckpt_browser.format.frameworks.extras import require
from ckpt_browser.format.frameworks.foreign import ForeignCheckpoint
from ckpt_browser.format.frameworks.safetensors_header import (
    MAX_HEADER_BYTES,
    Header,
    HeaderEntry,
    parse_header,
)

SUFFIX = ".safetensors"
INDEX_SUFFIX = ".safetensors.index.json"
INDEX_MAX_BYTES = 64 << 20
_NO_LIMIT = 1 << 62


class _Shard:
    """One safetensors file: its checked header and its memory map."""

    def __init__(self, path: str) -> None:
        self.path = path
        with open_regular(path, "safetensors file") as file:
            size = os.fstat(file.fileno()).st_size
            head = file.read(8)
            length = struct.unpack("<Q", head)[0] if len(head) == 8 else 0
            if length <= MAX_HEADER_BYTES and 8 + length <= size:  # else parse_header says so
                head += file.read(length)
        head = head + b"\0" * max(0, 8 - len(head))
        self.header: Header = parse_header(head, size, path)
        _check_with_package(path)
        self._map = map_capped(path, "safetensors file", _NO_LIMIT, "")

    def array(self, entry: HeaderEntry) -> np.ndarray:
        dtype = (
            entry.dtype.numpy.newbyteorder("<")
            if entry.dtype.numpy.kind in "iufcb"
            else (entry.dtype.numpy)
        )
        count = (entry.end - entry.begin) // entry.dtype.itemsize
        start = self.header.data_start + entry.begin
        if count == 0:
            return np.zeros(entry.shape, dtype)
        # Through a memoryview: `pages.release_pages` recognises such views of a read-only map.
        return np.frombuffer(memoryview(self._map), dtype, count, start).reshape(entry.shape)

    def close(self) -> None:
        close = getattr(self._map, "close", None)
        if close is not None:
            # Arrays still viewing the map keep it alive until they go.
            with contextlib.suppress(BufferError):
                close()


def _check_with_package(path: str) -> None:
    """The `safetensors` package's own parser must accept the file too."""
    safetensors = require("safetensors", "safetensors", "safetensors files", path)
    try:
        with safetensors.safe_open(path, framework="numpy") as opened:
            opened.keys()
    except safetensors.SafetensorError as exc:
        raise CheckpointError(f"the safetensors package refuses the file: {exc}", path) from None


class SafetensorsCheckpoint(ForeignCheckpoint):
    """A safetensors file, or the shards an index names, keyed by the tensors' names."""

    format_name = "safetensors"

    def __init__(self, path: str) -> None:
        path = os.path.abspath(path)
        weight_map: dict[str, str] = {}
        if path.endswith(INDEX_SUFFIX):
            weight_map = _weight_map(path)
            shard_paths = _shard_paths(path, weight_map)
        else:
            shard_paths = [path]
        index = [path] if path.endswith(INDEX_SUFFIX) else []
        super().__init__(path, index + shard_paths, shard_paths)
        self.metadata: dict[str, str] = {}
        self._shards: list[_Shard] = []
        self._where: dict[str, tuple[int, HeaderEntry]] = {}
        try:
            for number, shard_path in enumerate(shard_paths):
                shard = _Shard(shard_path)
                self._shards.append(shard)
                self.metadata.update(shard.header.metadata)
                for name, entry in shard.header.entries.items():
                    if name in self._where:
                        raise CheckpointError(
                            f"tensor {name!r} is in two shards: "
                            f"{os.path.basename(shard_paths[self._where[name][0]])} and "
                            f"{os.path.basename(shard_path)}",
                            path,
                        )
                    self._where[name] = (number, entry)
                if shard.header.unsupported:
                    listed = ", ".join(
                        f"{n!r} ({d})" for n, d in sorted(shard.header.unsupported.items())
                    )
                    self.warnings.append(
                        f"tensors not listed, as numpy has no dtype for them: {listed}"
                    )
            self._check_weight_map(weight_map, shard_paths)
        except BaseException:
            self.close()
            raise
        for name in sorted(self._where):
            number, entry = self._where[name]
            self.add_info(name, entry.dtype, entry.shape, number)

    def _check_weight_map(self, weight_map: dict[str, str], shard_paths: list[str]) -> None:
        """Each name the index lists lies in the shard it names; names it omits are listed
        all the same, with a warning (loaders go by the index and would not find them)."""
        for name, shard in weight_map.items():
            found = self._where.get(name)
            if found is None or os.path.basename(shard_paths[found[0]]) != shard:
                raise CheckpointError(
                    f"the safetensors index puts {name!r} in {shard}, which does not hold it",
                    self.prefix,
                )
        if weight_map:
            omitted = sorted(set(self._where) - set(weight_map))
            if omitted:
                shown = ", ".join(map(repr, omitted[:5])) + (" ..." if len(omitted) > 5 else "")
                self.warnings.append(f"tensors in the shards that the index omits: {shown}")

    def read(self, name: str, index: Index | None = None) -> np.ndarray:
        self.info(name)
        number, entry = self._where[name]
        values = self._shards[number].array(entry)
        return values if index is None else values[as_index(index)]

    def close(self) -> None:
        for shard in self._shards:
            shard.close()


def _weight_map(path: str) -> dict[str, str]:
    """The index's name -> shard file map; names are data, so a shard must be a plain file name
    beside the index."""
    text = read_capped(path, "safetensors index", INDEX_MAX_BYTES, "an index is a small JSON file")
    try:
        document = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"the safetensors index is not JSON ({exc})", path) from None
    weight_map = document.get("weight_map") if isinstance(document, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise CheckpointError("the safetensors index has no 'weight_map' of names to files", path)
    for name, shard in weight_map.items():
        if (
            not isinstance(shard, str)
            or shard in ("", ".", "..")
            or any(mark in shard for mark in ("/", "\\", "\0"))
        ):
            raise CheckpointError(
                f"the safetensors index names {shard!r} for {name!r}: not a file name beside it",
                path,
            )
    return weight_map


def _shard_paths(path: str, weight_map: dict[str, str]) -> list[str]:
    """The shard files, in the order the index first names them."""
    directory = os.path.dirname(path)
    return [os.path.join(directory, shard) for shard in dict.fromkeys(weight_map.values())]
