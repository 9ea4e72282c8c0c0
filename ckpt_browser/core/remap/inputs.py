"""The opened inputs of a remap: source checkpoints and target, and a name for every tensor.

Kept open while a user edits rules, so that a new plan costs no file access.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from ckpt_browser.core.remap.rules import SourceTensor
from ckpt_browser.core.remap.target import Target, load_target
from ckpt_browser.format import Checkpoint, CheckpointError, TensorInfo, open_checkpoint
from ckpt_browser.format.kinds import OBJECT_GRAPH_KEY, TensorKind

if TYPE_CHECKING:
    from ckpt_browser.core.remap.spec import RemapSpec


class SourceRef(NamedTuple):
    """One tensor of one source: source number (from 0) and checkpoint key."""

    source: int
    key: str


class RemapInputs:
    """The opened sources and target of a spec, with the per-tensor facts the rules look at.

    Kept open while a user edits rules, so a new plan costs no file access.
    """

    def __init__(self, sources: Sequence[Checkpoint], target: Target | None = None) -> None:
        self.sources = list(sources)
        self.target = target
        self.tensors: list[SourceTensor] = []
        self.infos: list[TensorInfo] = []
        for number, checkpoint in enumerate(self.sources):
            for key, info in checkpoint.items():
                # A frozen graph's shape and axis constants were never variables: writing a
                # checkpoint from a graph ("unfreezing") takes its weights.
                if key == OBJECT_GRAPH_KEY or info.kind is TensorKind.CONSTANT:
                    continue
                path = info.object_path or info.readable_name
                # A frozen graph's constant starts as the variable it was frozen from.
                start = info.readable_name if checkpoint.format_name == "graph" else ""
                self.tensors.append(SourceTensor(number, key, info.kind, path, start))
                self.infos.append(info)
        self.refs = [SourceRef(t.source, t.key) for t in self.tensors]
        self.position = {ref: i for i, ref in enumerate(self.refs)}

    @classmethod
    def open(cls, spec: RemapSpec) -> RemapInputs:
        """Open every source and the target of `spec`; nothing stays open if one fails."""
        if not spec.sources:
            raise CheckpointError("no source checkpoint given")
        opened: list[Checkpoint] = []
        try:
            for path in spec.sources:
                opened.append(open_checkpoint(path))
            target = load_target(spec.target) if spec.target else None
        except BaseException:
            for checkpoint in opened:
                checkpoint.close()
            raise
        return cls(opened, target)

    def info(self, ref: SourceRef) -> TensorInfo | None:
        position = self.position.get(ref)
        return None if position is None else self.infos[position]

    def close(self) -> None:
        for checkpoint in self.sources:
            checkpoint.close()
        if self.target is not None:
            self.target.close()
