"""`ckpt-browser verify`: every checksum, and what the data files cannot hold."""

from __future__ import annotations

import argparse

from ckpt_browser.cli.compute import cluster_runner
from ckpt_browser.cli.output import (
    EXIT_DIFFERENT,
    EXIT_OK,
    open_with_warnings,
    say,
    warn,
)
from ckpt_browser.cli.progress import ProgressLine
from ckpt_browser.core.formatting import plural
from ckpt_browser.core.printable import printable


def cmd_verify(args: argparse.Namespace) -> int:
    from ckpt_browser.core.formatting import format_bytes

    with (
        open_with_warnings(args.path) as ckpt,
        ProgressLine("verify") as line,
        cluster_runner(args) as runner,
    ):
        if runner is None:
            problems = ckpt.verify(line.bytes)
        else:
            problems = _verify_on_cluster(runner, ckpt, line)
        line.close()
        total = sum(info.nbytes for info in ckpt.values())
        for problem in problems:
            say(f"damaged: {printable(problem.name)}: {printable(problem.message)}")
        if problems:
            say(f"{len(problems)} of {plural(len(ckpt), 'tensor')} damaged in {ckpt.prefix}")
            return EXIT_DIFFERENT
        say(f"ok: {plural(len(ckpt), 'tensor')}, {format_bytes(total)} verified in {ckpt.prefix}")
        if ckpt.format_name == "graph":
            say("a graph stores no checksums: every constant was decoded")
        if ckpt.format_name == "V1":
            say(
                "V1 checkpoint: every block's CRC checked and every tensor decoded "
                "(V1 stores no checksum per tensor)"
            )
    return EXIT_OK


def _verify_on_cluster(runner, ckpt, line: ProgressLine) -> list:
    from ckpt_browser.core.tasks.verify import can_verify_in_tasks, verify_with

    if not can_verify_in_tasks(ckpt):
        warn("note", f"a {ckpt.format_name} checkpoint is verified here, not on the cluster")
        return ckpt.verify(line.bytes)
    return verify_with(runner, ckpt, progress=line.fraction)
