"""Every error a user sees is one sentence: what could not be done, where, and why."""

from __future__ import annotations

import errno

import pytest

from ckpt_browser.core.error_text import FIRST_LINE_LIMIT, error_sentence
from ckpt_browser.core.tensor.export import ExportError
from ckpt_browser.format import CheckpointError


def test_checkpoint_errors_are_shown_as_they_are():
    error = CheckpointError("bad block checksum at offset 12", "/data/model.index")
    assert error_sentence(error, "open /data/model") == str(error)


def test_errors_of_the_caller_are_shown_as_they_are():
    error = ExportError("cannot export 'x' to .npz: ...")
    assert error_sentence(error, "export to a.npz", expected=(ExportError,)) == str(error)


def test_os_errors_say_the_file_and_the_reason():
    error = PermissionError(errno.EACCES, "Permission denied", "/data/model.index")
    assert error_sentence(error, "open /data/model") == "/data/model.index: Permission denied"
    assert error_sentence(OSError(errno.ENOSPC, "No space left on device"), "write /out/m") == (
        "could not write /out/m: No space left on device"
    )


@pytest.mark.parametrize(
    ("error", "sentence"),
    [
        (
            ValueError("maximum supported dimension for an ndarray is currently 64, found 65"),
            "could not open /d/m: ValueError: maximum supported dimension for an ndarray is "
            "currently 64, found 65",
        ),
        (IndexError("index 9 is out of bounds\nsecond line\nthird"), None),
        (MemoryError(), "could not open /d/m: MemoryError"),
        (KeyError("evil\x1b[2J\u202e"), "could not open /d/m: KeyError: 'evil\\x1b[2J\\u202e'"),
        (RuntimeError("line one\r\nline two"), "could not open /d/m: RuntimeError: line one"),
    ],
)
def test_unexpected_errors_are_named_after_what_was_being_done(error, sentence):
    shown = error_sentence(error, "open /d/m")
    if sentence is not None:
        assert shown == sentence
    assert shown.startswith("could not open /d/m: ")
    assert shown.isprintable()
    assert "Traceback" not in shown and "second line" not in shown


def test_a_long_message_is_cut_and_a_hostile_path_escaped():
    shown = error_sentence(ValueError("x" * 100_000), "open /d/\nm\x1b")
    assert shown.startswith("could not open /d/\\nm\\x1b: ValueError: xxx")
    assert shown.endswith("…") and len(shown) < FIRST_LINE_LIMIT + 100
