"""Editing the index of a checkpoint TensorFlow wrote: the hostile files of the tests, made by hand.

Each edit reads every (key, value) of the `.index`, lets a function change them (entries as
`BundleEntryProto`, the header as `BundleHeaderProto`) and writes the table back, so a test states
only what it makes odd; TensorFlow then reads the result as the oracle.
"""

from __future__ import annotations

from collections.abc import Callable

from ckpt_browser.format import protos
from ckpt_browser.format.sstable.reader import Table
from ckpt_browser.format.sstable.writer import TableBuilder

Items = dict[bytes, bytes]


def edit_index(prefix: str, change: Callable[[Items], Items | None]) -> None:
    """Rewrite `prefix.index` with the items `change` returns (or edits in place)."""
    items = dict(Table.open(prefix + ".index").items())
    items = change(items) or items
    with open(prefix + ".index", "wb") as file:
        table = TableBuilder(file)
        for key in sorted(items):
            table.add(key, items[key])
        table.finish()


def entry(items: Items, key: bytes) -> protos.BundleEntryProto:
    return protos.BundleEntryProto.FromString(items[key])


def edit_entry(prefix: str, key: bytes, **fields: int) -> None:
    """Set fields of one entry (dtype, offset, size, shard_id, crc32c)."""

    def change(items: Items) -> None:
        proto = entry(items, key)
        for name, value in fields.items():
            setattr(proto, name, value)
        items[key] = proto.SerializeToString()

    edit_index(prefix, change)


def edit_header(prefix: str, **fields: int) -> None:
    """Set fields of the bundle header (num_shards, endianness)."""

    def change(items: Items) -> None:
        header = protos.BundleHeaderProto.FromString(items[b""])
        for name, value in fields.items():
            setattr(header, name, value)
        items[b""] = header.SerializeToString()

    edit_index(prefix, change)
