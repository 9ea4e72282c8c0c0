"""The `ckpt-browser` command: the window by default, or a subcommand (`ls`, `show`, ...).

The command line is a contract (docs/design.md): scripts rely on the JSON keys and exit codes.
Bad input ends with exit 2 and one line `error: ...` on stderr, never a traceback. Names and paths
come from the files: what is printed for people goes through `printable`, so no name can add a line
or send the terminal an escape sequence (JSON escapes them itself). The GUI is imported only when
the window is wanted, so `ls` starts in a fraction of a second.

Each subcommand has its module here (`ls`, `show`, ...); `parser` holds the options and `output`
what they share.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from ckpt_browser.cli.interrupts import EXIT_TERMINATED, Terminated, sigterm_interrupts
from ckpt_browser.cli.output import (
    EXIT_ERROR,
    EXIT_OK,
    SUBCOMMANDS,
    UsageError,
    demo_path,
    warn,
)
from ckpt_browser.cli.parser import gui_parser, parse_size, subcommand_parser
from ckpt_browser.format import CheckpointError

__all__ = ["demo_path", "main"]


def _run_gui(argv: Sequence[str]) -> int:
    args = gui_parser().parse_args(argv)
    paths = list(args.paths)
    if args.demo:
        paths = [demo_path(), *paths]
    if len(paths) > 2:
        raise UsageError("give one checkpoint to open, or two to compare")
    if args.preset and len(paths) != 2:
        raise UsageError("--preset applies to a comparison: give two checkpoints")
    size = parse_size(args.size)
    from ckpt_browser.ui.app import run_gui

    return run_gui(
        paths,
        select=args.select,
        screenshot=args.screenshot,
        size=size,
        graph=args.graph,
        debug=args.debug,
        preset=args.preset,
    )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in SUBCOMMANDS:
            args = subcommand_parser().parse_args(argv)
            with sigterm_interrupts():
                return args.run(args)
        return _run_gui(argv)
    except (CheckpointError, UsageError) as exc:
        warn("error", str(exc))
        return EXIT_ERROR
    except BrokenPipeError:
        # Output piped into `head`: stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        warn("error", f"{where}{exc.strerror or exc}")
        return EXIT_ERROR
    except Terminated:
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        return 130
