"""A checkpoint seen through remap rules: its tensors under the names the rules give, with their
layout steps applied, as a `Checkpoint` any view or comparison takes.

This is how `diff --preset` and the compare window compare across frameworks: the TensorFlow
side is seen as the port should look (names and layouts), and a correct port then compares as
"same" tensor by tensor, while an untransposed square kernel compares as "changed".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from ckpt_browser.core.remap.layout import (
    LayoutError,
    LayoutStep,
    laid_out,
    lay_out,
    moves_elements,
)
from ckpt_browser.core.remap.plan import RemapInputs
from ckpt_browser.core.remap.rules import Rule, apply_rules
from ckpt_browser.core.tensor.stream import checksum_of
from ckpt_browser.format import Checkpoint, CheckpointError, ChecksumProblem
from ckpt_browser.format.checkpoint import Index, as_index
from ckpt_browser.format.dtypes import from_name
from ckpt_browser.format.pages import release_extent


class RemappedCheckpoint(Checkpoint):
    """`source` under `rules`: dropped names are not listed; two names mapped onto one keep the
    first (in key order) and a warning says so; a layout that does not fit is an error."""

    def __init__(self, source: Checkpoint, rules: Sequence[Rule], description: str = "") -> None:
        super().__init__(source.prefix)
        self.source = source
        self.format_name = source.format_name
        self.description = description
        self.warnings = list(source.warnings)
        inputs = RemapInputs([source])
        outcome = apply_rules(list(rules), inputs.tensors)
        self._origin: dict[str, tuple[str, tuple[LayoutStep, ...]]] = {}
        clashes: list[str] = []
        for info, name, steps in zip(inputs.infos, outcome.names, outcome.layouts):
            if name is None:
                continue
            if name in self._origin:
                clashes.append(f"{info.name} -> {name}")
                continue
            try:
                shape, dtype = laid_out(steps, info.shape, info.dtype.name)
            except LayoutError as exc:
                raise CheckpointError(f"{info.name!r}: {exc}", source.prefix) from None
            dtype_info = from_name(dtype)
            nbytes = math.prod(shape) * dtype_info.itemsize if dtype_info.itemsize else info.nbytes
            self._origin[name] = (info.name, steps)
            self._infos[name] = info._replace(
                name=name,
                readable_name=name,
                dtype=dtype_info,
                shape=shape,
                nbytes=nbytes,
                # A reordered tensor is assembled part by part on read, as a partitioned one
                # is: passes then read it by row blocks instead of copying it whole.
                partitioned=moves_elements(steps),
                object_path=None,
            )
        self._infos = {name: self._infos[name] for name in sorted(self._infos)}
        if clashes:
            self.warnings.append(
                "names the rules map onto a name already taken (left out): " + ", ".join(clashes)
            )

    def source_name(self, name: str) -> str:
        """The key in the source that `name` comes from."""
        return self._origin[name][0]

    def name_of_source(self, key: str) -> str | None:
        """The name the source's `key` is seen under (None: the rules drop it)."""
        return next((name for name, (k, _) in self._origin.items() if k == key), None)

    @property
    def num_shards(self) -> int:
        return self.source.num_shards

    def files(self) -> list[str]:
        return self.source.files()

    def data_files(self) -> list[str]:
        return self.source.data_files()

    def check_shards(self):
        return self.source.check_shards()

    def history(self) -> list:
        return []

    @property
    def step(self) -> int | None:
        return self.source.step

    def read(self, name: str, index: Index | None = None) -> np.ndarray:
        """The source tensor laid out; with `index`, only that part is cast."""
        self.info(name)
        key, steps = self._origin[name]
        laid = lay_out(steps, self.source.read(key), cast=False)
        values = laid if index is None else laid[as_index(index)]
        if index is not None and moves_elements(steps):
            # A part of a transposed tensor reads across all of the source's rows: copied out,
            # so the pages under the source can be let go at once (a pass reads part by part).
            values = np.ascontiguousarray(values)
            release_extent(laid)
        wanted = self._infos[name].dtype.numpy
        return values.astype(wanted) if wanted is not None and values.dtype != wanted else values

    def checksum_problem(self, name: str) -> str | None:
        """The source tensor's stored checksum, checked a chunk at a time (its pages let go on
        the way); the layout never changes which bytes are checked."""
        self.info(name)
        key = self._origin[name][0]
        stored = self.source.stored_checksum(key)
        if stored is None:
            return self.source.checksum_problem(key)
        return stored.problem(checksum_of(self.source.read(key)))

    def verify(self, progress: Callable[[int, int], None] | None = None) -> list[ChecksumProblem]:
        return self.source.verify(progress)

    def close(self) -> None:
        self.source.close()
