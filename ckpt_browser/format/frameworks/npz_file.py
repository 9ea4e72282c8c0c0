"""`.npz` archives (numpy's `savez`, and this program's `export`) as a `Checkpoint`, never
unpickling: a member holding Python objects is listed in a warning and not read.

Listing reads each member's `.npy` header only. Reading a member decompresses it (numpy's own
`read_array` with `allow_pickle=False`); an `.npz` has no random access into a deflated member.
"""

from __future__ import annotations

import os
import zipfile

import numpy as np

from ckpt_browser.format.checkpoint import Index, as_index
from ckpt_browser.format.dtypes import DType, from_numpy
from ckpt_browser.format.errors import CheckpointError
from ckpt_browser.format.files import open_regular
from ckpt_browser.format.frameworks.foreign import ForeignCheckpoint

_NPY = ".npy"


class NpzCheckpoint(ForeignCheckpoint):
    """The arrays of an `.npz`, keyed by member name without `.npy`."""

    format_name = "npz"

    def __init__(self, path: str) -> None:
        path = os.path.abspath(path)
        super().__init__(path, [path])
        self._file = open_regular(path, "npz archive")
        try:
            self._zip = zipfile.ZipFile(self._file)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            self._file.close()
            raise CheckpointError(f"not an npz archive: {exc}", path) from None
        self._members: dict[str, zipfile.ZipInfo] = {}
        skipped: list[str] = []
        for member in self._zip.infolist():
            if member.is_dir():
                continue
            name = member.filename.removesuffix(_NPY)
            try:
                dtype, shape = self._header(member)
            except CheckpointError as exc:
                skipped.append(f"{name!r} ({exc.message})")
                continue
            self._members[name] = member
            self.add_info(name, dtype, shape)
        self._infos = {name: self._infos[name] for name in sorted(self._infos)}
        if skipped:
            self.warnings.append(f"members not listed: {', '.join(skipped)}")

    def _header(self, member: zipfile.ZipInfo) -> tuple[DType, tuple[int, ...]]:
        try:
            with self._zip.open(member) as stream:
                version = np.lib.format.read_magic(stream)
                read_header = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                shape, _, dtype = read_header(stream)
        except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
            raise CheckpointError(f"not an .npy array: {exc}") from None
        if dtype.hasobject:
            raise CheckpointError("Python objects, which are read only by unpickling")
        try:
            ours = from_numpy(dtype)
        except ValueError:
            raise CheckpointError(f"numpy dtype {dtype} has no tensor dtype") from None
        if ours.is_string:
            raise CheckpointError(f"text or bytes ({dtype}), not numbers")
        return ours, tuple(shape)

    def read(self, name: str, index: Index | None = None) -> np.ndarray:
        self.info(name)
        try:
            with self._zip.open(self._members[name]) as stream:
                values = np.lib.format.read_array(stream, allow_pickle=False)
        except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
            raise CheckpointError(f"member {name!r} cannot be read: {exc}", self.prefix) from None
        values.flags.writeable = False
        return values if index is None else values[as_index(index)]

    def close(self) -> None:
        self._zip.close()
        self._file.close()
