"""Writing a checkpoint that TensorFlow restores, streamed to disk and published atomically.

    with CheckpointWriter("out/model-100") as writer:
        writer.add("dense/kernel", kernel)            # any numpy array; strings become DT_STRING
        writer.add_stream("embedding", "float32", (50000, 512), chunks)   # bytes as they come
    write_checkpoint_state("out", "out/model-100")    # so `latest_checkpoint` finds it

Tensor bytes go to the data file as they are added, a few MB at a time, so memory stays flat
however large the checkpoint is; only the small index entries are kept until the end. The data and
index files are written under temporary names and renamed into place when the `with` block ends
without an error (data first, index last: the index's presence is what makes a checkpoint), so a
crash or an exception never leaves a half-written checkpoint behind. The layout follows TensorFlow's
`BundleWriter` (format doc, sections 3-4) so that our `.index` is byte-identical to TensorFlow's.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
from google.protobuf import text_format

from ckpt_browser.format import dtypes, protos
from ckpt_browser.format.atomic import (
    refuse_remote_output,
    sweep_stale_temporaries,
    sync_directory,
    temporary_name,
)
from ckpt_browser.format.crc import crc32c, mask
from ckpt_browser.format.errors import CheckpointError
from ckpt_browser.format.names import key_of_name
from ckpt_browser.format.paths import existing_checkpoint_files, existing_data_files
from ckpt_browser.format.sstable.writer import TableBuilder
from ckpt_browser.format.tiling import overlapping_pair, volume
from ckpt_browser.format.v2.bundle import data_file_name
from ckpt_browser.format.v2.slice_keys import slice_key
from ckpt_browser.format.v2.tensor_bytes import (
    DTypeLike,
    as_array,
    c_order_pieces,
    raw_pieces,
    resolve_dtype,
    string_pieces,
    variant_pieces,
)

# The data file is pushed to disk in the background each time this much more has been written.
SYNC_EVERY_BYTES = 32 << 20
# Pieces at least this big have their CRC computed in a helper thread while they are written.
_PARALLEL_CRC_BYTES = 1 << 20
# TensorFlow's tensor bundle version (kTensorBundleVersion in tensor_bundle.cc).
_BUNDLE_VERSION = 1

Extent = tuple[int, int]  # (start, length); length -1 means the whole dimension
ProgressCallback = Callable[[int], None]
CancelCheck = Callable[[], bool]


class WriteCancelled(Exception):
    """The cancel check asked to stop; the writer has removed everything it wrote."""


class CheckpointWriter:
    """Stream tensors into a new single-shard checkpoint at `prefix`.

    `progress(bytes_written)` is called after every chunk of tensor bytes; `cancel()` is asked at
    the same moments and, when it returns True, the writer aborts and raises WriteCancelled.
    A mistake found before a tensor's bytes are written (a duplicate name, a wrong shape) raises
    ValueError and leaves the writer usable; a failure while writing aborts the whole checkpoint.
    """

    def __init__(
        self,
        prefix: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        progress: ProgressCallback | None = None,
        cancel: CancelCheck | None = None,
    ) -> None:
        prefix = os.fspath(prefix)
        refuse_remote_output(prefix)
        if not os.path.basename(prefix):
            raise CheckpointError("a checkpoint prefix must end in a file name, not a directory")
        self.prefix = os.path.abspath(prefix)
        self._index_path = self.prefix + ".index"
        self._data_path = data_file_name(self.prefix, 0, 1)
        self._overwrite = overwrite
        self._progress = progress
        self._cancel = cancel
        self._refuse_overwrite()
        self._entries: dict[bytes, Any] = {}  # key -> BundleEntryProto
        self._bytes_written = 0
        self._finished = False
        self._aborted = False
        self._index_temp: str | None = None
        # Helper threads, started on the first large tensor: CRCs, and syncing the data file to
        # disk while writing goes on (so the final fsync need not wait for every byte). Together
        # they made writing 512 MB about a third faster.
        self._helpers: ThreadPoolExecutor | None = None
        self._sync_job: Future[None] | None = None
        self._synced_up_to = 0
        self._data_temp = temporary_name(self._data_path)
        try:
            os.makedirs(os.path.dirname(self.prefix), exist_ok=True)
            sweep_stale_temporaries(os.path.dirname(self.prefix))
            self._data_file = open(self._data_temp, "xb")  # noqa: SIM115 (closed in finish/abort)
        except OSError as exc:
            raise CheckpointError(f"cannot create the data file: {exc.strerror}", prefix) from None

    def __enter__(self) -> CheckpointWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        if exc_type is None:
            self.finish()
        else:
            self.abort()

    @property
    def bytes_written(self) -> int:
        """Tensor bytes written to the data file so far."""
        return self._bytes_written

    def __contains__(self, name: str) -> bool:
        try:
            return key_of_name(name) in self._entries
        except ValueError:  # no key's name, so never added
            return False

    def add(self, name: str, array: Any, dtype: DTypeLike | None = None) -> None:
        """Append one tensor. `dtype` stores it as another type of the same bytes (e.g. qint8).

        `name` is a name as `open_checkpoint` shows it: escapes such as `\\xff` and `\\\\` in it
        spell the key's bytes (see `names`), so names read from a checkpoint keep their keys.
        """
        key = self._new_key(name)
        array = as_array(array)
        self._write_array(key, resolve_dtype(dtype, array.dtype), array)

    def add_stream(
        self,
        name: str,
        dtype: DTypeLike,
        shape: Sequence[int],
        chunks: Iterable[np.ndarray | bytes | bytearray | memoryview],
    ) -> None:
        """Append a tensor whose bytes arrive piece by piece, in row-major order.

        Each chunk is raw bytes or an array (written as its values in row-major order). A string
        tensor's chunks are arrays or lists of elements; they are gathered first, since the format
        puts all lengths before the bytes.
        """
        key = self._new_key(name)
        resolved = resolve_dtype(dtype, None)
        shape = _checked_shape(shape)
        count = math.prod(shape)
        if not resolved.is_fixed_size:  # strings and variants
            elements = [e for chunk in chunks for e in np.asarray(chunk, dtype=object).reshape(-1)]
            if len(elements) != count:
                raise ValueError(f"{name}: {len(elements)} strings given for shape {shape}")
            array = np.empty(len(elements), dtype=object)
            array[:] = elements
            self._write_array(key, resolved, array.reshape(shape))
            return
        pieces = raw_pieces(chunks, count * resolved.itemsize, name)
        self._write_entry(key, resolved, shape, pieces)

    def add_partitioned(
        self,
        name: str,
        full_shape: Sequence[int],
        dtype: DTypeLike,
        slices: Sequence[tuple[Sequence[Extent], Any]],
    ) -> None:
        """Append a partitioned variable: a full entry listing its slices, and one entry a slice.

        Each slice is (extents, array) with one (start, length) a dimension, length -1 for the
        whole dimension. The slices must tile the full shape without overlapping, as TensorFlow
        reassembles the variable from them. A single slice covering everything is stored as a
        plain tensor, as TensorFlow does.
        """
        full_shape = _checked_shape(full_shape)
        resolved = resolve_dtype(dtype, None)
        checked = [_checked_slice(name, full_shape, resolved, e, a) for e, a in slices]
        _check_tiling(name, full_shape, [bounds for _, bounds, _ in checked])
        if len(checked) == 1 and _covers(checked[0][1], full_shape):
            self.add(name, checked[0][2], resolved)
            return
        full_key = self._new_key(name)
        keys = [slice_key(full_key, extents) for extents, _, _ in checked]
        if len(set(keys)) != len(keys) or any(key in self._entries for key in keys):
            raise ValueError(f"{name}: a slice of it was already added")
        full_entry = protos.BundleEntryProto(dtype=resolved.enum)
        _set_shape(full_entry, full_shape)
        for extents, _, _ in checked:
            extent_protos = full_entry.slices.add().extent
            for start, length in extents:
                extent = extent_protos.add()
                if length != -1:  # an empty Extent means the whole dimension
                    extent.start = start
                    extent.length = length
        for key, (_, _, array) in zip(keys, checked):
            self._write_array(key, resolved, array)
        self._entries[full_key] = full_entry

    def finish(self) -> None:
        """Write the index and publish both files under their final names."""
        if self._finished or self._aborted:
            raise ValueError("the checkpoint writer is already closed")
        published_data = False
        try:
            self._data_file.flush()
            self._stop_helpers()
            if self._sync_job is not None:
                self._sync_job.result()  # a failed background sync is reported only once
            os.fsync(self._data_file.fileno())
            self._data_file.close()
            self._index_temp = temporary_name(self._index_path)
            with open(self._index_temp, "xb") as index_file:
                self._write_index(index_file)
                index_file.flush()
                os.fsync(index_file.fileno())
            self._refuse_overwrite()
            os.replace(self._data_temp, self._data_path)
            published_data = True
            os.replace(self._index_temp, self._index_path)
            sync_directory(os.path.dirname(self.prefix))
        except BaseException as exc:
            if published_data:
                _remove_quietly(self._data_path)
            self.abort()
            if isinstance(exc, OSError):
                raise CheckpointError(f"cannot write: {exc.strerror}", self.prefix) from exc
            raise
        self._finished = True
        self._remove_stale_shards()

    def abort(self) -> None:
        """Stop and remove the temporary files; nothing appears under the final names."""
        if self._finished or self._aborted:
            return
        self._aborted = True
        self._stop_helpers()  # before the file closes: a sync may be using its descriptor
        with contextlib.suppress(OSError):
            self._data_file.close()
        for path in (self._data_temp, self._index_temp):
            if path is not None:
                _remove_quietly(path)

    def _refuse_overwrite(self) -> None:
        """Any file the checkpoint would replace (its index, or a data file even without its
        index) is kept unless overwriting was allowed."""
        if self._overwrite:
            return
        existing = existing_checkpoint_files(self.prefix)
        if existing:
            raise CheckpointError(
                "a checkpoint file already exists here; choose another prefix or allow overwriting",
                existing[0],
            )

    def _new_key(self, name: str) -> bytes:
        if self._finished or self._aborted:
            raise ValueError("the checkpoint writer is already closed")
        key = key_of_name(name)  # names as a checkpoint shows them: escapes spell bytes
        if not key:  # the header's key
            raise ValueError(f"invalid tensor name {name!r}: it is empty")
        # A key may start with a zero byte, as slice keys do: TensorFlow writes and lists one as a
        # tensor unless an entry names it as its slice, and the check above refuses a clash with
        # a slice of this checkpoint (`add_partitioned` checks the other order).
        if key in self._entries:
            raise ValueError(f"tensor {name!r} was already added")
        return key

    def _write_array(self, key: bytes, dtype: dtypes.DType, array: np.ndarray) -> None:
        if dtype.is_string:
            self._write_entry(key, dtype, array.shape, string_pieces(array), checksummed=True)
        elif dtype.enum == dtypes.VARIANT:
            self._write_entry(key, dtype, array.shape, variant_pieces(array), checksummed=True)
        else:
            self._write_entry(key, dtype, array.shape, c_order_pieces(array))

    def _write_entry(
        self,
        key: bytes,
        dtype: dtypes.DType,
        shape: tuple[int, ...],
        pieces: Iterable[Any],
        *,
        checksummed: bool = False,
    ) -> None:
        """Write a tensor's pieces and remember its entry; any failure aborts the writer.

        The pieces are byte strings whose CRC is the entry's, or, if `checksummed`, pairs of
        (piece, entry CRC so far) for layouts whose CRC is not that of the bytes (strings).
        """
        offset = self._bytes_written
        crc = 0
        try:
            for item in pieces:
                if checksummed:
                    piece, crc = item
                    self._append(piece)
                else:
                    crc = self._append_with_crc(item, crc)
        except BaseException as exc:
            self.abort()
            if isinstance(exc, OSError):
                raise CheckpointError(f"cannot write: {exc.strerror}", self.prefix) from exc
            raise
        entry = protos.BundleEntryProto(
            dtype=dtype.enum, offset=offset, size=self._bytes_written - offset, crc32c=mask(crc)
        )
        _set_shape(entry, shape)
        self._entries[key] = entry

    def _append_with_crc(self, piece: memoryview, crc: int) -> int:
        """Append a piece and return the CRC extended over it. A large piece is checksummed in a
        helper thread while it is written (crc32c releases the GIL)."""
        if len(piece) < _PARALLEL_CRC_BYTES:
            self._append(piece)
            return crc32c(piece, crc)
        checksum = self._helper_pool().submit(crc32c, piece, crc)
        self._append(piece)
        return checksum.result()

    def _append(self, data: bytes | memoryview) -> None:
        """Write to the data file; report progress and honour the cancel check."""
        self._data_file.write(data)
        self._bytes_written += len(data)
        if self._bytes_written - self._synced_up_to >= SYNC_EVERY_BYTES:
            self._start_background_sync()
        if self._progress is not None:
            self._progress(self._bytes_written)
        if self._cancel is not None and self._cancel():
            raise WriteCancelled(f"writing {self.prefix} was cancelled")

    def _start_background_sync(self) -> None:
        if self._sync_job is not None:
            if not self._sync_job.done():
                return
            self._sync_job.result()  # raise a failed sync now: the kernel reports it only once
        self._synced_up_to = self._bytes_written
        sync = getattr(os, "fdatasync", os.fsync)  # macOS and Windows have only fsync
        self._sync_job = self._helper_pool().submit(sync, self._data_file.fileno())

    def _helper_pool(self) -> ThreadPoolExecutor:
        if self._helpers is None:
            self._helpers = ThreadPoolExecutor(2, thread_name_prefix="checkpoint-writer")
        return self._helpers

    def _stop_helpers(self) -> None:
        if self._helpers is not None:
            self._helpers.shutdown(wait=True)

    def _write_index(self, file: Any) -> None:
        """The header under key "" first, then every entry in bytewise key order."""
        header = protos.BundleHeaderProto(num_shards=1, endianness=0)
        header.version.producer = _BUNDLE_VERSION
        table = TableBuilder(file)
        table.add(b"", header.SerializeToString())
        for key in sorted(self._entries):
            table.add(key, self._entries[key].SerializeToString())
        table.finish()

    def _remove_stale_shards(self) -> None:
        """Delete data files an overwritten checkpoint of another shard count left behind."""
        for path in existing_data_files(self.prefix):
            if path != self._data_path:
                _remove_quietly(path)


def write_checkpoint_state(
    directory: str | os.PathLike[str],
    model_checkpoint_path: str | os.PathLike[str],
    all_model_checkpoint_paths: Sequence[str | os.PathLike[str]] | None = None,
    timestamps: Sequence[float] | None = None,
    *,
    last_preserved_timestamp: float | None = None,
) -> str:
    """Write the text-format `checkpoint` file that names the latest checkpoint of `directory`.

    Paths are file-system paths (absolute, or relative to the working directory); those inside
    `directory` are stored relative to it, as TensorFlow 2 does, others as absolute paths. The
    latest path ends the list of all paths. Returns the path of the file written.
    """
    directory = os.path.abspath(os.fspath(directory))
    text = checkpoint_state_text(
        directory,
        model_checkpoint_path,
        all_model_checkpoint_paths,
        timestamps,
        last_preserved_timestamp=last_preserved_timestamp,
    )
    path = os.path.join(directory, "checkpoint")
    temporary = temporary_name(path)
    try:
        os.makedirs(directory, exist_ok=True)
        with open(temporary, "x", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
        sync_directory(directory)
    except OSError as exc:
        _remove_quietly(temporary)
        raise CheckpointError(f"cannot write the checkpoint state: {exc.strerror}", path) from exc
    return path


def checkpoint_state_text(
    directory: str | os.PathLike[str],
    model_checkpoint_path: str | os.PathLike[str],
    all_model_checkpoint_paths: Sequence[str | os.PathLike[str]] | None = None,
    timestamps: Sequence[float] | None = None,
    *,
    last_preserved_timestamp: float | None = None,
) -> str:
    """The text of the `checkpoint` file `write_checkpoint_state` writes (see there)."""
    directory = os.path.abspath(os.fspath(directory))
    latest = _state_path(directory, model_checkpoint_path)
    all_paths = [_state_path(directory, p) for p in all_model_checkpoint_paths or ()]
    if not all_paths or all_paths[-1] != latest:
        all_paths.append(latest)
    if timestamps is not None and len(timestamps) != len(all_paths):
        raise ValueError(f"{len(timestamps)} timestamps given for {len(all_paths)} checkpoints")
    state = protos.CheckpointState(
        model_checkpoint_path=latest,
        all_model_checkpoint_paths=all_paths,
        all_model_checkpoint_timestamps=list(timestamps or ()),
    )
    if last_preserved_timestamp is not None:
        state.last_preserved_timestamp = last_preserved_timestamp
    # Escaped to ASCII (octal for other bytes, as C++ protobuf prints): TensorFlow reads it back
    # the same, and no path can show a control or bidi character when printed.
    return text_format.MessageToString(state, as_utf8=False)


def _state_path(directory: str, prefix: str | os.PathLike[str]) -> str:
    absolute = os.path.abspath(os.fspath(prefix))
    try:
        inside = os.path.commonpath([absolute, directory]) == directory
    except ValueError:  # different drives on Windows
        inside = False
    return os.path.relpath(absolute, directory) if inside else absolute


def _checked_shape(shape: Sequence[int]) -> tuple[int, ...]:
    checked = tuple(int(d) for d in shape)
    if any(d < 0 for d in checked):
        raise ValueError(f"invalid shape {checked}: negative dimension")
    return checked


def _set_shape(entry: Any, shape: Sequence[int]) -> None:
    entry.shape.SetInParent()  # a scalar still has a (present, empty) shape, as TensorFlow writes
    for size in shape:
        entry.shape.dim.add(size=size)


def _checked_slice(
    name: str,
    full_shape: tuple[int, ...],
    dtype: dtypes.DType,
    extents: Sequence[Extent],
    array: Any,
) -> tuple[list[Extent], list[tuple[int, int]], np.ndarray]:
    """Validate one slice; return its extents, its (start, stop) bounds and its array."""
    extents = [(int(start), int(length)) for start, length in extents]
    if len(extents) != len(full_shape):
        raise ValueError(f"{name}: slice {extents} does not have {len(full_shape)} dimensions")
    bounds = []
    for (start, length), size in zip(extents, full_shape):
        if length == -1 and start == 0:
            bounds.append((0, size))
        elif start < 0 or length < 0 or start + length > size:
            raise ValueError(f"{name}: slice {extents} lies outside the shape {full_shape}")
        else:
            bounds.append((start, start + length))
    array = as_array(array)
    resolve_dtype(dtype, array.dtype)
    expected_shape = tuple(stop - start for start, stop in bounds)
    if array.shape != expected_shape:
        raise ValueError(f"{name}: slice {extents} needs shape {expected_shape}, not {array.shape}")
    return extents, bounds, array


def _covers(bounds: Sequence[tuple[int, int]], full_shape: tuple[int, ...]) -> bool:
    return all(b == (0, size) for b, size in zip(bounds, full_shape))


def _check_tiling(
    name: str, full_shape: tuple[int, ...], boxes: list[list[tuple[int, int]]]
) -> None:
    """The slices must not overlap and must cover the whole tensor."""
    if not boxes:
        raise ValueError(f"{name}: a partitioned tensor needs at least one slice")
    pair = overlapping_pair([tuple(box) for box in boxes])
    if pair is not None:
        raise ValueError(f"{name}: slices {boxes[pair[0]]} and {boxes[pair[1]]} overlap")
    covered = sum(volume(tuple(box)) for box in boxes)
    if covered != math.prod(full_shape):
        raise ValueError(f"{name}: the slices do not cover the whole shape {full_shape}")


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)
