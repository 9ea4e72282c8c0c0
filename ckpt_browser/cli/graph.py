"""`ckpt-browser graph`: what the graph beside a checkpoint holds."""

from __future__ import annotations

import argparse

from ckpt_browser.cli.output import (
    EXIT_OK,
    say,
    warn,
)
from ckpt_browser.core.text_report import (
    json_one_item_per_line,
)


def cmd_graph(args: argparse.Namespace) -> int:
    from ckpt_browser.core.graph.model import GraphModel
    from ckpt_browser.core.graph.summary import graph_record, graph_summary, resolve_graph_path
    from ckpt_browser.format.graph.meta_graphs import format_tags, parse_tags
    from ckpt_browser.format.graph.reader import load_graph

    tags = parse_tags(args.tag) if args.tag is not None else None
    graph = load_graph(resolve_graph_path(args.path), tags=tags)
    others = [format_tags(t) for t in graph.meta_graphs if set(t) != set(graph.tags)]
    if tags is None and others:
        warn(
            "note",
            f"showing the MetaGraph tagged {format_tags(graph.tags)!r}; "
            f"also here: {'; '.join(others)} (choose one with --tag)",
        )
    if args.json:
        print(json_one_item_per_line(graph_record(graph)))
    else:
        say(graph_summary(GraphModel(graph)))
    for warning in graph.warnings:
        warn("warning", warning)
    return EXIT_OK


# -- parsing --------------------------------------------------------------------------------------
