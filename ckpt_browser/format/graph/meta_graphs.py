"""The MetaGraphs of a SavedModel, named by their tag sets, and which one to show.

A SavedModel holds one MetaGraph per tag set (`serve`, `train`, `serve,gpu`, ...). A tag set is a
set: TensorFlow's loader picks the MetaGraph whose tags equal the requested ones, in any order, and
so does `select_meta_graph`. Without a request the serving graph is shown, as TensorFlow Serving
would load it.

    list_meta_graphs("model/")                  # [("serve",), ("train",), ("eval",)]
    load_graph("model/", tags=("train",))       # that MetaGraph (format/graph/reader.py)
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from google.protobuf.message import DecodeError

from ckpt_browser.format import protos
from ckpt_browser.format.errors import CheckpointError
from ckpt_browser.format.files import read_graph_bytes
from ckpt_browser.format.sources import locations as where

TagSet = tuple[str, ...]

SAVED_MODEL_FILE = "saved_model.pb"
SERVING_TAG = "serve"


def parse_tags(text: str) -> TagSet:
    """A tag set as users type it: `train`, or `serve,gpu` (spaces and empty items ignored)."""
    return tuple(tag.strip() for tag in text.split(",") if tag.strip())


def format_tags(tags: Iterable[str]) -> str:
    """A tag set as users type it back (a `.meta` file's MetaGraph is often untagged)."""
    return ",".join(tags) or "(no tags)"


def list_meta_graphs(path: str) -> list[TagSet]:
    """The tag set of each MetaGraph in a graph file, in file order.

    `path` is anything `load_graph` accepts. A SavedModel is read for its tags only (its graphs
    are skipped), so this is cheap enough to call before choosing which graph to load. A `.meta`
    file has one MetaGraph (often untagged: `[()]`), a frozen GraphDef none of its own (`[()]`).
    """
    path = where.abspath(where.normalize(path))
    if where.isdir(path):
        path = os.path.join(path, SAVED_MODEL_FILE)
    if os.path.basename(path) == SAVED_MODEL_FILE:
        try:
            saved = protos.SavedModelTags.FromString(read_graph_bytes(path))
        except (DecodeError, ValueError):
            saved = None  # load_graph below says what is wrong with the file
        if saved is not None and saved.meta_graphs:
            return [tuple(meta.meta_info_def.tags) for meta in saved.meta_graphs]
    from ckpt_browser.format.graph.reader import (
        load_graph,  # a .meta or GraphDef: recognising it means parsing it
    )

    return load_graph(path).meta_graphs


def select_meta_graph(meta_graphs: Sequence, tags: Iterable[str] | None, path: str):
    """The MetaGraphDef to show: the one tagged exactly `tags`, or by default the serving one.

    The default is the MetaGraph tagged `serve` alone, else the first with `serve` among its
    tags, else the first. Unknown tags raise a `CheckpointError` that lists the tag sets there are.
    """
    if not meta_graphs:
        return None
    if tags is None:
        serving = [meta for meta in meta_graphs if SERVING_TAG in meta.meta_info_def.tags]
        alone = [meta for meta in serving if set(meta.meta_info_def.tags) == {SERVING_TAG}]
        return (alone or serving or list(meta_graphs))[0]
    wanted = set(tags)
    for meta in meta_graphs:
        if set(meta.meta_info_def.tags) == wanted:
            return meta
    available = "; ".join(format_tags(meta.meta_info_def.tags) for meta in meta_graphs)
    raise CheckpointError(
        f"no MetaGraph tagged {format_tags(tags)!r}; the tag sets here are: {available}", path
    )
