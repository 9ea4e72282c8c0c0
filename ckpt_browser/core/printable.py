"""Names and paths as text that shows itself: control characters and line breaks escaped.

A checkpoint's names are data from whoever wrote the file. Printed raw, a name holding a newline
fakes a line of output (or, in a `#` comment of a generated script, starts a line of code), an
escape sequence clears or recolours the terminal, and a bidi override (U+202E) shows its text
reversed. Every character Python does not call printable (`str.isprintable`: controls, format
characters, line and paragraph separators, unassigned code points, spaces other than " ") is
written as `repr` writes it (`\\n`, `\\x1b`, `\\u202e`); letters of any script, marks, symbols
and the space stay as they are.
"""

from __future__ import annotations


def printable(text: str) -> str:
    """`text` on one line, every non-printable character escaped (`a\\nb` for a newline).

    The result holds no line break of any kind (not even those `str.splitlines` alone knows, such
    as U+2028 or U+0085), so it is safe in a `#` comment of generated code and in one line of a
    terminal or a log.
    """
    if text.isprintable():  # the common case, at C speed
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)


def printable_lines(text: str) -> str:
    """Text of several lines of our own making, each line made `printable`; the "\\n" kept."""
    if text.isprintable():
        return text
    return "\n".join(printable(line) for line in text.split("\n"))


def _escape(character: str) -> str:
    # repr of one character: "'\\n'", "'\\x1b'", "'\\u202e'", "'\\U000e0001'"; without the quotes.
    return repr(character)[1:-1]
