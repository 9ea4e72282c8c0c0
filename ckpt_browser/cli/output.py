"""What every subcommand shares: exit codes, printing names safely, opening and finding.

Names and paths come from the files: what is printed for people goes through `printable`, so no
name can add a line or send the terminal an escape sequence (JSON escapes them itself).
"""

from __future__ import annotations

import sys

from ckpt_browser.core.printable import printable, printable_lines
from ckpt_browser.data_files import resource_path
from ckpt_browser.format import Checkpoint, CheckpointError, ChecksumError, open_checkpoint
from ckpt_browser.format.names import name_of_key

EXIT_OK, EXIT_DIFFERENT, EXIT_ERROR = 0, 1, 2

SUBCOMMANDS = ("ls", "show", "export", "verify", "diff", "remap", "graph", "history", "unpack")


class UsageError(Exception):
    """A request that cannot be carried out as asked (reported like bad input)."""


def demo_path() -> str:
    """The demo checkpoint shipped with the program (in the package when installed)."""
    demo = resource_path("demo")
    if demo is None:
        raise CheckpointError("the demo checkpoint is not installed (resources/demo is missing)")
    return str(demo)


def say(text: str, *, file=None) -> None:
    """Print lines of our own making, names in them already `printable`; anything else a name
    or a path could carry (an escape sequence, a bidi override) is escaped here too."""
    print(printable_lines(text), file=file or sys.stdout)


def warn(kind: str, message: str) -> None:
    """One line `kind: message` on stderr, the message on one line whatever it holds."""
    print(f"{kind}: {printable(message)}", file=sys.stderr)


def refused(exc: ChecksumError, anyway: str) -> UsageError:
    """A damaged source tensor stopped the command: say so, and how to go on anyway."""
    return UsageError(f"{exc}; nothing was written (--allow-bad-checksums {anyway})")


def open_with_warnings(path: str) -> Checkpoint:
    """Open a checkpoint, printing what it lacks but opened without, and which tensors its data
    files cannot hold (what the window's bar says at open), as `warning: ...` lines."""
    ckpt = open_checkpoint(path)
    for warning in [*ckpt.check_shards().messages, *ckpt.warnings]:
        warn("warning", warning)
    return ckpt


def find_tensor(ckpt: Checkpoint, name: str) -> str:
    """The tensor a user means: its name as listed (see `format.names`), its key's own text (as
    TensorFlow lists it, or its bytes as a shell passes them) or a TF2 readable name; else a
    helpful error."""
    if name in ckpt:
        return name
    try:
        as_key = name_of_key(name.encode("utf-8", "surrogateescape"))
    except UnicodeEncodeError:  # a surrogate no bytes decode to
        as_key = None
    if as_key in ckpt:
        return as_key
    by_readable = [key for key, info in ckpt.items() if info.readable_name == name]
    if len(by_readable) == 1:
        return by_readable[0]
    import difflib

    close = difflib.get_close_matches(name, list(ckpt), n=3)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise CheckpointError(f"key {name!r} not found in checkpoint{hint}", ckpt.prefix)
