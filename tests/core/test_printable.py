"""Names shown on one line: every control, line break and bidi character escaped, letters kept."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ckpt_browser.core.printable import printable, printable_lines

# Every character `str.splitlines` breaks at, the escape that starts terminal sequences, NUL,
# the bidi overrides and isolates, and the zero-width characters that hide text.
LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
TERMINAL = "\x00\x07\x08\x1b\x7f\x9b"
BIDI_AND_HIDDEN = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200b\u200e\ufeff"


@pytest.mark.parametrize(
    "name",
    ["dense/kernel", "größe/Gewicht", "слой/вес", "層/重み", "with space", "quote'\"\\", "../../x"],
)
def test_ordinary_names_stay_as_they_are(name):
    assert printable(name) == name


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("evil\nimport os", "evil\\nimport os"),
        ("cr\rfake", "cr\\rfake"),
        ("tab\there", "tab\\there"),
        ("clear\x1b[2J", "clear\\x1b[2J"),
        ("rtl\u202egnp.exe", "rtl\\u202egnp.exe"),
        ("nel\x85x", "nel\\x85x"),
        ("ls\u2028x", "ls\\u2028x"),
    ],
)
def test_controls_are_escaped_as_python_writes_them(name, shown):
    assert printable(name) == shown


@given(st.text())
def test_no_line_break_or_control_survives(text):
    shown = printable(text)
    assert len(shown.splitlines()) <= 1
    assert shown.isprintable()
    assert not any(c in shown for c in LINE_BREAKS + TERMINAL + BIDI_AND_HIDDEN)


@given(st.lists(st.text(), min_size=1, max_size=5))
def test_lines_keep_only_their_own_line_breaks(lines):
    text = printable_lines("\n".join(printable(line) for line in lines))
    assert text.split("\n") == [printable(line) for line in lines]
    assert all(line.isprintable() for line in printable_lines("\n".join(lines)).split("\n"))
