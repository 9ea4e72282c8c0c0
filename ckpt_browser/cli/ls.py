"""`ckpt-browser ls`: every tensor with dtype, shape and size, or JSON."""

from __future__ import annotations

import argparse

from ckpt_browser.cli.output import (
    EXIT_OK,
    UsageError,
    open_with_warnings,
    say,
)
from ckpt_browser.core.formatting import plural
from ckpt_browser.core.printable import printable
from ckpt_browser.core.scope_tree import parameters_of
from ckpt_browser.core.text_report import (
    json_one_item_per_line,
    variable_record,
)


def cmd_ls(args: argparse.Namespace) -> int:
    import re

    from ckpt_browser.core.formatting import format_bytes, format_shape

    with open_with_warnings(args.path) as ckpt:
        names = list(ckpt)
        if args.filter:
            try:
                pattern = re.compile(args.filter)
            except re.error as exc:
                raise UsageError(f"bad --filter regex {args.filter!r}: {exc}") from None
            names = [n for n in names if pattern.search(n)]
        if args.json:
            variables = [variable_record(ckpt[n]) for n in names]
            print(
                json_one_item_per_line(
                    {"prefix": ckpt.prefix, "format": ckpt.format_name, "variables": variables}
                )
            )
            return EXIT_OK
        shown = [printable(n) for n in names]
        width = max((len(n) for n in shown), default=4)
        lines = [f"{'name':<{width}}  {'dtype':<10} {'shape':<18} {'params':>12} {'bytes':>10}"]
        for name, shown_name in zip(names, shown):
            info = ckpt[name]
            lines.append(
                f"{shown_name:<{width}}  {info.dtype.name:<10} {format_shape(info.shape):<18} "
                f"{info.size:>12,} {format_bytes(info.nbytes):>10}"
            )
        total_params = sum(parameters_of(ckpt[n]) for n in names)
        total_bytes = sum(ckpt[n].nbytes for n in names)
        lines.append(
            f"{plural(len(names), 'tensor')}, {plural(total_params, 'parameter')}, "
            f"{format_bytes(total_bytes)} in {ckpt.prefix}"
        )
        say("\n".join(lines))
    return EXIT_OK
