"""`ckpt-browser show`: one tensor's statistics and values."""

from __future__ import annotations

import argparse
import dataclasses
import json

from ckpt_browser.cli.compute import cluster_runner
from ckpt_browser.cli.output import (
    EXIT_OK,
    find_tensor,
    open_with_warnings,
    say,
    warn,
)
from ckpt_browser.core.text_report import (
    describe_tensor,
    json_default,
    variable_record,
)


def cmd_show(args: argparse.Namespace) -> int:
    from ckpt_browser.core.tasks.statistics import show_parts, show_with

    with open_with_warnings(args.path) as ckpt, cluster_runner(args) as runner:
        name = find_tensor(ckpt, args.name)
        info = ckpt[name]
        if runner is None:
            damaged, stats, values = show_parts(ckpt, name)
        else:
            damaged, stats, values = show_with(runner, ckpt, name)
        if damaged is not None:
            warn("warning", f"these values are damaged: {damaged}")
        record = {
            **variable_record(info),
            "readable_name": info.readable_name,
            "kind": info.kind.value,
            "shard": info.shard,
            "partitioned": info.partitioned,
            "slot_of": info.slot_of,
            "stats": dataclasses.asdict(stats),
        }
        if args.json:
            print(json.dumps(record, indent=1, default=json_default))
            return EXIT_OK
        say(describe_tensor(info, stats))
        say(values)
    return EXIT_OK
