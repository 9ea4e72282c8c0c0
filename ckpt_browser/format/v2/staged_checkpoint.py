"""A new checkpoint written out of sight and published in one step with the files that go with it.

    with StagedCheckpoint("out/model", overwrite=False) as staged:
        staged.refuse_replacing(source_files)           # by device and inode, links resolved
        with CheckpointWriter(staged.prefix) as writer:  # a hidden prefix beside the final one
            ...
        with staged.new_file("out/model.meta") as file:  # or the directory's `checkpoint` file
            file.write(meta_bytes)
        staged.publish()                                 # data, extras, index: all or nothing

The writer alone publishes its data and index atomically, but a checkpoint comes with other files
(its `.meta` graph, the `checkpoint` state file that names it) and is read back before it counts
as written; if any of that fails, nothing may be left under the final names. So everything is
written under temporary names, and `publish` renames it all into place, putting back whatever it
replaced if a rename fails. Leaving the block without publishing removes every staged file.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from ckpt_browser.format.atomic import (
    publish_together,
    refuse_remote_output,
    sweep_stale_temporaries,
    temporary_name,
)
from ckpt_browser.format.errors import CheckpointError
from ckpt_browser.format.paths import existing_checkpoint_files, existing_data_files
from ckpt_browser.format.v2.bundle import data_file_name


class StagedCheckpoint:
    """Files of a single-shard checkpoint at `final_prefix`, staged under a temporary prefix.

    Refuses at once, unless `overwrite`, when any file the checkpoint would replace exists (an
    index, a data file even without its index, or one of `extra_files`).
    """

    def __init__(
        self, final_prefix: str, *, overwrite: bool = False, extra_files: Iterable[str] = ()
    ) -> None:
        refuse_remote_output(final_prefix)
        self.final_prefix = os.path.abspath(final_prefix)
        directory = os.path.dirname(self.final_prefix)
        self._extras: dict[str, str] = {}  # final path -> staged path
        self._last: dict[str, str] = {}  # the same, published after the index
        replaced = [
            *existing_checkpoint_files(self.final_prefix),
            *(path for path in extra_files if os.path.lexists(path)),
        ]
        if replaced and not overwrite:
            raise CheckpointError(
                "a file of the output already exists; choose another prefix or allow overwriting",
                replaced[0],
            )
        self._created_folders = _missing_folders(directory)  # removed again if nothing is published
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as exc:
            raise CheckpointError(f"cannot create the folder: {exc.strerror}", directory) from None
        sweep_stale_temporaries(directory)
        self.prefix = temporary_name(self.final_prefix)

    def __enter__(self) -> StagedCheckpoint:
        return self

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        self.discard()

    @property
    def written_files(self) -> list[str]:
        """The final paths publishing writes or replaces (before it: what it would)."""
        data = data_file_name(self.final_prefix, 0, 1)
        index = self.final_prefix + ".index"
        return [data, *self._extras, index, *self._last, *self._stale_shards()]

    def refuse_replacing(self, inputs: Iterable[str], what: str = "an input checkpoint") -> None:
        """CheckpointError if writing the output would replace or reach one of `inputs`.

        Files are compared by what they are (device and inode), through symbolic and hard links
        alike: a destination file that is a link to a source file, or a source file that is a
        link to a destination file, is the same file whatever the names say.
        """
        known = {}
        for path in inputs:
            identity = _identity(path, follow=True)
            if identity is not None:
                known.setdefault(identity, path)
        for output in self.written_files:
            for follow in (False, True):
                original = known.get(_identity(output, follow=follow))
                if original is not None:
                    raise CheckpointError(
                        f"the output would replace {what}: {output} is the file {original}",
                        self.final_prefix,
                    )

    @contextlib.contextmanager
    def new_file(self, final_path: str, *, after_index: bool = False) -> Iterator[BinaryIO]:
        """A file to publish with the checkpoint, open for writing in binary; one that names the
        checkpoint (the `checkpoint` state file) goes `after_index`."""
        final_path = os.path.abspath(final_path)
        staged = temporary_name(final_path)
        (self._last if after_index else self._extras)[final_path] = staged
        try:
            with open(staged, "xb") as file:
                yield file
                file.flush()
                os.fsync(file.fileno())
        except OSError as exc:
            raise CheckpointError(f"cannot write: {exc.strerror}", final_path) from exc

    def publish(self) -> None:
        """Put every staged file under its final name (data first, the index last), in one step;
        stale data files of an overwritten checkpoint of another shard count go too."""
        data = data_file_name(self.final_prefix, 0, 1)
        moves = [
            (data_file_name(self.prefix, 0, 1), data),
            *((staged, final) for final, staged in self._extras.items()),
            (self.prefix + ".index", self.final_prefix + ".index"),
            *((staged, final) for final, staged in self._last.items()),
        ]
        try:
            publish_together(moves, remove=self._stale_shards())
        except OSError as exc:
            where = exc.filename or self.final_prefix
            raise CheckpointError(f"cannot publish the output: {exc.strerror}", where) from exc
        self._extras.clear()
        self._last.clear()
        self._created_folders = []  # they hold the output now

    def discard(self) -> None:
        """Remove whatever is still staged (nothing after `publish`)."""
        staged = [
            self.prefix + ".index",
            *existing_data_files(self.prefix),
            *self._extras.values(),
            *self._last.values(),
        ]
        for path in staged:
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
        self._extras.clear()
        self._last.clear()
        for folder in self._created_folders:  # deepest first; one that holds anything stays
            with contextlib.suppress(OSError):
                os.rmdir(folder)
        self._created_folders = []

    def _stale_shards(self) -> list[str]:
        data = data_file_name(self.final_prefix, 0, 1)
        return [path for path in existing_data_files(self.final_prefix) if path != data]


def _identity(path: str, *, follow: bool) -> tuple[int, int] | None:
    try:
        stat = os.stat(path) if follow else os.lstat(path)
    except (OSError, ValueError):
        return None
    return stat.st_dev, stat.st_ino


def _missing_folders(directory: str) -> list[str]:
    """The folders `os.makedirs(directory)` would create, deepest first."""
    missing = []
    while directory and not os.path.lexists(directory):
        missing.append(directory)
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    return missing
