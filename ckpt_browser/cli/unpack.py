"""`ckpt-browser unpack`: a tar archive unpacked into the user cache directory, to be opened."""

from __future__ import annotations

import argparse
import shlex

from ckpt_browser.cli.output import EXIT_OK, say
from ckpt_browser.cli.progress import ProgressLine
from ckpt_browser.core.printable import printable


def cmd_unpack(args: argparse.Namespace) -> int:
    from ckpt_browser.format.sources.archives import unpack_archive

    with ProgressLine("unpack") as line:
        folder = unpack_archive(args.location, line.bytes)
    say(printable(folder))
    say(f"open it: ckpt-browser {printable(shlex.quote(folder))} (or the archive's location)")
    return EXIT_OK
