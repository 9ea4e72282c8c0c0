"""Which tensors the data files cannot hold, found at open from the index alone (no data read).

The index says where each tensor's bytes lie (shard, offset, size); a shard's size is one `stat`.
A tensor whose extent ends past its shard's end (a truncated copy) or whose shard file is missing
cannot be read, and saying so once at open beats failing on each tensor when it is selected.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ckpt_browser.format.errors import CheckpointError
from ckpt_browser.format.paths import existing_data_files
from ckpt_browser.format.v2.bundle import BundleEntry, BundleIndex, DataFiles
from ckpt_browser.format.v2.slice_keys import slice_key
from ckpt_browser.format.v2.string_tensors import refused_extent


@dataclass(frozen=True)
class ShardCheck:
    """What the check found: a reason per unreadable tensor, and one sentence per bad shard."""

    problems: Mapping[str, str] = field(default_factory=dict)  # tensor name -> why unreadable
    messages: tuple[str, ...] = ()  # "45 of 51 tensors lie past the end of shard 0 (...)"

    def __bool__(self) -> bool:
        return bool(self.problems)


def check_shards(index: BundleIndex, data: DataFiles) -> ShardCheck:
    """Compare every tensor's extent with the size of its shard file (a `stat`, or a metadata
    request, per shard the index points at: never one per shard the header claims, which may be
    2**31 - 1)."""
    shards = [shard for shard in index.shards_in_use if 0 <= shard < index.num_shards]
    sizes = data.shard_sizes(shards)
    problems: dict[str, str] = {}
    by_shard: dict[int, set[str]] = {}  # unreadable tensor names per shard
    for name, entry in index.entries.items():
        for part in _stored_entries(index, entry):
            reason = _problem(part, sizes, index.num_shards, data)
            if reason is not None:
                problems.setdefault(name, reason)
                by_shard.setdefault(part.shard_id, set()).add(name)
    total = len(index.entries)
    messages = tuple(
        _shard_sentence(shard, len(names), total, sizes, data)
        for shard, names in sorted(by_shard.items())
    )
    return ShardCheck(problems, messages)


def _stored_entries(index: BundleIndex, entry: BundleEntry) -> Iterable[BundleEntry]:
    """The entries holding a tensor's bytes: itself, or each slice of a partitioned tensor
    (a slice missing from the index is the reader's error to report, not a shard's)."""
    if not entry.slices:
        return (entry,)
    slices = (index.slice_entries.get(slice_key(entry.key, e)) for e in entry.slices)
    return [part for part in slices if part is not None]


def _problem(
    entry: BundleEntry, sizes: Mapping[int, int | str], num_shards: int, data: DataFiles
) -> str | None:
    shard = entry.shard_id
    if shard not in sizes:
        return f"shard {shard} is out of range: the header says {num_shards} shard(s)"
    size = sizes[shard]
    if isinstance(size, str):
        return f"its data shard {os.path.basename(data.path(shard))} {size}"
    try:
        offset, length, _crc = entry._located()  # one decode of the entry's tail, not two
    except CheckpointError as error:
        return str(error)
    end = offset + length
    if length == 0:
        return None  # nothing to read: TensorFlow reads an empty tensor wherever it points
    if entry.dtype.itemsize is None:
        # Strings and variants extend as far as their lengths say, which only reading tells;
        # TensorFlow refuses one by its recorded size only in the cases `refused_extent` names.
        past_the_end = refused_extent(offset, length, size)
    else:
        past_the_end = offset < 0 or length < 0 or end > size
    if past_the_end:
        name = os.path.basename(data.path(shard))
        return f"bytes {offset:,}..{end:,} lie past the end of {name} ({size:,} bytes)"
    return None


def _shard_sentence(
    shard: int, count: int, total: int, sizes: Mapping[int, int | str], data: DataFiles
) -> str:
    if shard not in sizes:
        return f"{count} of {total} tensors point at shard {shard}, which does not exist"
    name = os.path.basename(data.path(shard))
    if isinstance(sizes[shard], str):
        return (
            f"{count} of {total} tensors cannot be read: shard {shard} ({name}) {sizes[shard]}"
            + _other_shard_files(data)
        )
    return (
        f"{count} of {total} tensors lie past the end of shard {shard} "
        f"({name}, {sizes[shard]:,} bytes): the file is truncated"
    )


def _other_shard_files(data: DataFiles) -> str:
    """When data files of another shard count lie beside the index, say so: the header's count
    (which names the files) is then likely what is damaged, not the files."""
    others = [
        os.path.basename(path)
        for path in existing_data_files(data.prefix)
        if not path.endswith(f"-of-{data.num_shards:05d}")
    ]
    if not others:
        return ""
    shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
    return (
        f"; the header says {data.num_shards:,} shard(s), but the data files here are named "
        f"for another count ({shown})"
    )
