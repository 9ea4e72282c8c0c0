"""Any error as the one sentence a user is shown: what could not be done, where, and why.

The format layer's `CheckpointError` is written as that sentence already and is shown as it is.
Anything else reaching the user is a case the program did not foresee (a bug, or a file hostile
in a new way): it is named by its type and the first line of its text, after what was being done,
never as a traceback, which goes to the debug log only.
"""

from __future__ import annotations

from ckpt_browser.core.printable import printable
from ckpt_browser.format import CheckpointError

# An exception's text can hold a whole tensor name or a repr of megabytes of data.
FIRST_LINE_LIMIT = 300


def error_sentence(
    error: BaseException,
    doing: str,
    expected: tuple[type[BaseException], ...] = (CheckpointError,),
) -> str:
    """`error` as one line; `doing` completes "could not ...", e.g. "open /data/model.ckpt".

    `expected` errors carry a sentence of their own (CheckpointError; ExportError, ...) and are
    shown as they are; an OSError says its file and reason.
    """
    if isinstance(error, expected) and not isinstance(error, OSError):
        return str(error)
    if isinstance(error, OSError):
        reason = error.strerror or _first_line(error) or type(error).__name__
        if error.filename:
            return f"{printable(str(error.filename))}: {reason}"
        return f"could not {printable(doing)}: {reason}"
    text = _first_line(error)
    what = f"could not {printable(doing)}: {type(error).__name__}"
    return f"{what}: {text}" if text else what


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    line = printable(lines[0]) if lines else ""
    return line if len(line) <= FIRST_LINE_LIMIT else line[: FIRST_LINE_LIMIT - 1] + "…"
