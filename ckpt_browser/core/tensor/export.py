"""Tensors to files a user can load anywhere: .npy, .npz and .csv.

One rule set for the command line (`ckpt-browser export`) and the window (File > Export Tensor):
.npy/.npz load with `np.load` without `allow_pickle` (strings byte for byte as `export_strings`
describes, scalars with shape (), bfloat16 and float8 bit-exact as the raw voids numpy stores for
them, or converted to float32 on request); .csv holds 1-D or 2-D tensors as text. Files are
written atomically.

`export_tensors` exports from a checkpoint and checks every tensor's stored CRC32C: numbers as
their bytes stream into the file (one read), the rest before; a damaged tensor is refused, or
with `allow_bad_checksums` exported and named in the result. In an .npz each tensor is the member
`<name>.npy`; a zip member name holds at most 65,535 bytes, so longer names are refused.

Tensor names are never trusted as paths: a suggested file name is one safe path component, and a
name that would be a member path outside the folder an .npz is unpacked in is refused.
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np

from ckpt_browser.core.tensor.csv_export import write_csv
from ckpt_browser.core.tensor.export_strings import exported_strings, strings_for_export
from ckpt_browser.core.tensor.source_checksums import ChecksumPolicy
from ckpt_browser.core.tensor.stream import ChecksumAccumulator, chunks
from ckpt_browser.format import Checkpoint
from ckpt_browser.format.atomic import atomic_output
from ckpt_browser.format.crc import array_bytes
from ckpt_browser.format.v2.tensor_checksums import StoredChecksum

__all__ = [
    "ExportError",
    "ExportResult",
    "check_destination",
    "export_arrays",
    "export_tensors",
    "exportable_array",
    "exported_strings",
    "suggested_file_name",
]

SUFFIXES = (".npy", ".npz", ".csv")
# Zip stores a member's name length in 16 bits (APPNOTE 4.4.10).
ZIP_NAME_BYTES = 0xFFFF
# Characters a file name cannot hold on one system or another (and path separators on all).
_NOT_IN_FILE_NAMES = re.compile(r'[/\\:*?"<>|]')
# Bytes of a file name before its suffix: 255 is the limit of common file systems.
_FILE_NAME_BYTES = 200


class ExportError(ValueError):
    """The tensor cannot be exported as asked (wrong suffix, rank, name or contents)."""


@dataclass
class ExportResult:
    path: str
    damaged: list[str] = field(default_factory=list)  # tensors exported despite a bad checksum


def exportable_array(array: np.ndarray, name: str, *, as_float32: bool = False) -> np.ndarray:
    """`array` in a form `np.load` reads back without pickle."""
    if array.dtype == object:
        return strings_for_export(array)
    if as_float32 and array.dtype.kind not in "biuc":
        return np.asarray(array, dtype=np.float32)
    # Not np.ascontiguousarray: it makes a scalar (shape ()) a 1-element vector.
    return np.asarray(array, order="C")


def check_destination(path: str | os.PathLike, count: int) -> str:
    """The suffix of `path` if it can hold `count` tensors; ExportError otherwise."""
    path = os.fspath(path)
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise ExportError(f"cannot export to {path!r}: the name must end in .npy, .npz or .csv")
    if suffix != ".npz" and count != 1:
        raise ExportError(f"{suffix} holds one tensor; export several to .npz")
    return suffix


def export_tensors(
    checkpoint: Checkpoint,
    keys: Sequence[str],
    path: str | os.PathLike,
    *,
    as_float32: bool = False,
    allow_bad_checksums: bool = False,
) -> ExportResult:
    """Write tensors `keys` of `checkpoint` to `path`, checking their stored checksums.

    Raises ChecksumError for a damaged tensor (nothing is written) unless `allow_bad_checksums`.
    """
    suffix = check_destination(path, len(keys))
    policy = ChecksumPolicy(allow_bad_checksums)
    arrays: dict[str, np.ndarray] = {}
    stored: dict[str, StoredChecksum] = {}
    for key in keys:
        arrays[key] = checkpoint.read(key)
        checksum = checkpoint.stored_checksum(key) if suffix != ".csv" else None
        if checksum is None:  # strings, partitioned tensors, CSV text: checked before writing
            policy.check(checkpoint, key)
        else:
            stored[key] = checksum
    written = export_arrays(arrays, path, as_float32=as_float32, checks=(policy, stored))
    return ExportResult(written, policy.damaged)


def suggested_file_name(keys: Sequence[str], fallback: str) -> str:
    """A file name for exporting `keys`: the key, or the scope they share, as one path component
    (`conv1/bias` -> `conv1_bias.npy`), else `fallback`; `.npz` for several.

    Separators, characters that are not printable and leading dots become `_` or go, so a name
    such as `../../x` can neither leave the folder nor hide the file.
    """
    if len(keys) == 1:
        stem, suffix = keys[0], ".npy"
    else:
        stem, suffix = "/".join(_common_scope(keys)), ".npz"
    stem = "".join(c if c.isprintable() else "_" for c in _NOT_IN_FILE_NAMES.sub("_", stem))
    stem = stem.encode("utf-8", "replace")[:_FILE_NAME_BYTES].decode("utf-8", "ignore")
    stem = stem.lstrip(". ").rstrip(". ") or _NOT_IN_FILE_NAMES.sub("_", fallback) or "tensors"
    return stem + suffix


def _common_scope(keys: Sequence[str]) -> list[str]:
    """The scope parts all keys start with (not `os.path.commonpath`: keys are not paths)."""
    scopes = [key.split("/")[:-1] for key in keys]
    common = scopes[0] if scopes else []
    for scope in scopes[1:]:
        length = 0
        while length < min(len(common), len(scope)) and common[length] == scope[length]:
            length += 1
        common = common[:length]
    return common


def export_arrays(
    arrays: Mapping[str, np.ndarray],
    path: str | os.PathLike,
    *,
    as_float32: bool = False,
    checks: tuple[ChecksumPolicy, Mapping[str, StoredChecksum]] | None = None,
) -> str:
    """Write tensors to `path`; the suffix picks the format (.npz for several). Returns the path.

    `checks` are checksums to verify on the bytes of those arrays as they are written.
    """
    path = os.fspath(path)
    suffix = check_destination(path, len(arrays))
    policy, stored = checks if checks is not None else (ChecksumPolicy(), {})
    if suffix == ".npz":
        for name in arrays:
            _check_member_name(name)
    try:
        if suffix == ".csv":
            ((name, array),) = arrays.items()
            if array.ndim > 2:
                raise ExportError(
                    f"{name!r} has rank {array.ndim}; .csv holds 1-D or 2-D, use .npy"
                )
            with atomic_output(path, "w") as file:
                write_csv(array, file, name=name)
        elif suffix == ".npy":
            ((name, array),) = arrays.items()
            with atomic_output(path, "wb") as file:
                _write_npy(file, array, name, as_float32, policy, stored.get(name))
        else:
            with atomic_output(path, "wb") as file, _npz(file) as archive:
                for name, array in arrays.items():
                    with archive.open(name + ".npy", "w", force_zip64=True) as member:
                        _write_npy(member, array, name, as_float32, policy, stored.get(name))
    except OSError as exc:
        # Say which file and why (a full disk: "No space left on device"), not just an errno.
        reason = exc.strerror or str(exc)
        raise ExportError(f"cannot write {path}: {reason}") from None
    return path


def _npz(file: IO[bytes]) -> zipfile.ZipFile:
    # What np.savez makes (stored, not compressed, zip64 for members over 4 GB), written member by
    # member so that a tensor streams in chunks and any name works (np.savez takes names as
    # keyword arguments: a tensor called "file" breaks it).
    return zipfile.ZipFile(file, "w", compression=zipfile.ZIP_STORED, allowZip64=True)


def _check_member_name(name: str) -> None:
    """Refuse names an .npz cannot hold as they are: each becomes the path of a zip member."""
    if "\x00" in name:
        raise ExportError(
            f"cannot export {name!r} to .npz: zip member names end at a NUL character, so it "
            "would be stored under another name; export it to .npy"
        )
    if ".." in re.split(r"[/\\]", name) or name.startswith(("/", "\\")):
        raise ExportError(
            f"cannot export {name!r} to .npz: as a member path it would be unpacked outside the "
            "folder the archive is unpacked in; export it to .npy"
        )
    member = name + ".npy"
    try:
        size = len(member.encode("utf-8"))
    except UnicodeEncodeError:
        raise ExportError(
            f"cannot export {name!r} to .npz: its name is not valid text for a zip member; "
            "export it to .npy"
        ) from None
    if size > ZIP_NAME_BYTES:
        raise ExportError(
            f"cannot export {name[:60]!r}… to .npz: its name has {size - 4:,} bytes and a zip "
            f"member name at most {ZIP_NAME_BYTES - 4:,} (with '.npy'); export it to .npy"
        )


def _write_npy(
    file: IO[bytes],
    array: np.ndarray,
    name: str,
    as_float32: bool,
    policy: ChecksumPolicy,
    stored: StoredChecksum | None,
) -> None:
    """One array in the .npy format; numbers stream in chunks, their CRC taken on the way."""
    if array.dtype == object or array.dtype.hasobject:
        np.lib.format.write_array(file, exportable_array(array, name), allow_pickle=False)
        return
    out_dtype = np.dtype(np.float32) if as_float32 and array.dtype.kind not in "biuc" else None
    template = np.empty(0, dtype=out_dtype or array.dtype)
    header = np.lib.format.header_data_from_array_1_0(template)
    header["shape"] = array.shape
    try:
        np.lib.format.write_array_header_1_0(file, header)
    except ValueError:  # a header over 64 KB: format 2.0 allows more
        np.lib.format.write_array_header_2_0(file, header)
    read = ChecksumAccumulator() if stored is not None else None
    for piece in chunks(array, out_dtype, read):
        file.write(array_bytes(piece))
    if stored is not None:
        policy.report(stored.problem(read.value))
