"""The progress line long commands write on a terminal (and nowhere else)."""

from __future__ import annotations

import io

from ckpt_browser.cli.progress import ProgressLine


def test_a_terminal_sees_how_far_and_the_line_is_cleared_at_the_end():
    stream = io.StringIO()
    with ProgressLine("verify", stream, enabled=True) as line:
        line.bytes(0, 4 << 20)
        line.bytes(4 << 20, 4 << 20)  # the last report always shows
    text = stream.getvalue()
    assert "verify: 0% (0 B of 4.0 MiB)" in text
    assert "verify: 100%" in text
    assert text.endswith("\r")  # cleared: what the command prints next starts a clean line


def test_a_pipe_sees_nothing():
    stream = io.StringIO()  # not a terminal
    with ProgressLine("diff", stream) as line:
        line.fraction(0.5)
        line.fraction(1.0)
    assert stream.getvalue() == ""
