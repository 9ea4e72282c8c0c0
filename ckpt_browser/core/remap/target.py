"""What a remapped checkpoint must satisfy: names with their dtypes and shapes.

A target comes from a TF1 graph (`.meta`: its variables, as the Saver will look them up), from a
checkpoint used as a template (TF1 or TF2; its values can stand in for names no source provides,
and a TF2 template's object graph is carried into the output), or from a SavedModel directory
(its `variables/` checkpoint is such a template).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ckpt_browser.core.formatting import plural
from ckpt_browser.format import Checkpoint, CheckpointError, TensorKind, open_checkpoint
from ckpt_browser.format.kinds import OBJECT_GRAPH_KEY
from ckpt_browser.format.sources import locations as where

GRAPH_SUFFIXES = (".meta", ".pb", ".pbtxt")


@dataclass(frozen=True)
class TargetTensor:
    name: str
    dtype: str | None  # None when the target does not say
    shape: tuple[int, ...] | None
    kind: TensorKind = TensorKind.VARIABLE


@dataclass
class Target:
    """The names the output must hold; a template's values and object graph when it has them."""

    path: str
    description: str  # one line for the user: "graph model.meta: 3 variables"
    tensors: dict[str, TargetTensor]  # never holds the object graph key
    template: Checkpoint | None = None
    object_graph: bytes | None = None  # a TF2 template's serialized TrackableObjectGraph
    meta_path: str | None = None  # a `.meta` to copy beside the output

    def close(self) -> None:
        if self.template is not None:
            self.template.close()


def load_target(path: str | os.PathLike[str]) -> Target:
    """A target from a `.meta`/`.pb` graph, a checkpoint (any path form) or a SavedModel."""
    path = where.abspath(where.normalize(path))
    # Any file, not only a regular one: loading a FIFO or a device says what is wrong with it.
    if where.exists(path) and not where.isdir(path) and path.endswith(GRAPH_SUFFIXES):
        return _graph_target(path)
    return _checkpoint_target(path)


def _graph_target(path: str) -> Target:
    # Imported here: the graph parser is needed only for a graph target, and the command line
    # starts faster without it.
    from ckpt_browser.format.graph.reader import load_graph

    graph = load_graph(path)
    tensors: dict[str, TargetTensor] = {}
    for variable in graph.variables:
        shape = variable.partition.full_shape if variable.partition else variable.shape
        tensors.setdefault(variable.name, TargetTensor(variable.name, variable.dtype, shape))
    if not tensors:
        raise CheckpointError("the graph declares no variables, so it names no target", path)
    template = None
    if path.endswith(".meta"):
        try:  # a checkpoint saved beside its graph offers its values as a template
            template = open_checkpoint(path)
        except CheckpointError:
            template = None
    where = f"; values of {os.path.basename(template.prefix)} available" if template else ""
    return Target(
        path=path,
        description=f"graph {os.path.basename(path)}: {plural(len(tensors), 'variable')}{where}",
        tensors=tensors,
        template=template,
        meta_path=path if path.endswith(".meta") else None,
    )


def _checkpoint_target(path: str) -> Target:
    template = open_checkpoint(path)
    tensors = {
        name: TargetTensor(name, info.dtype.name, info.shape, info.kind)
        for name, info in template.items()
        if name != OBJECT_GRAPH_KEY
    }
    object_graph = None
    if OBJECT_GRAPH_KEY in template and template.object_graph is not None:
        object_graph = bytes(template.read(OBJECT_GRAPH_KEY).item())
    meta = template.prefix + ".meta"
    style = "TF2 object-based" if object_graph else "name-based"
    size = plural(len(tensors), "tensor")
    return Target(
        path=path,
        description=f"template {os.path.basename(template.prefix)} ({style}): {size}",
        tensors=tensors,
        template=template,
        object_graph=object_graph,
        meta_path=meta if where.isfile(meta) else None,
    )
