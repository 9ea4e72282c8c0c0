"""The remap's default output: a new folder beside the source's, never inside it or reused."""

from __future__ import annotations

import os

from ckpt_browser.core.remap.output import default_output


def test_default_output_is_a_new_sibling_of_the_source_folder(tmp_path) -> None:
    source = tmp_path / "runs" / "bert-base" / "model.ckpt-5000"
    source.parent.mkdir(parents=True)
    output = default_output(str(source))
    assert output.prefix == str(tmp_path / "runs" / "bert-base-remapped" / "model.ckpt-5000")
    assert output.note == ""
    assert not output.prefix.startswith(str(source.parent) + os.sep)  # not inside the source's


def test_an_existing_folder_is_never_reused(tmp_path) -> None:
    source = tmp_path / "run" / "model.ckpt"
    source.parent.mkdir()
    (tmp_path / "run-remapped").mkdir()
    (tmp_path / "run-remapped-2").write_text("a file of that name counts too")
    assert default_output(str(source)).prefix == str(tmp_path / "run-remapped-3" / "model.ckpt")


def test_an_unwritable_parent_sends_the_output_to_documents(tmp_path) -> None:
    source = tmp_path / "shared" / "run" / "model.ckpt"
    source.parent.mkdir(parents=True)
    home = tmp_path / "home"
    (home / "Documents").mkdir(parents=True)
    shared = str(tmp_path / "shared")
    output = default_output(str(source), home=str(home), writable=lambda d: d != shared)
    assert output.prefix == str(home / "Documents" / "run-remapped" / "model.ckpt")
    assert output.note == f"{shared} cannot be written to, so the output goes to {home}/Documents."
    os.rmdir(home / "Documents")  # no Documents folder: home itself
    output = default_output(str(source), home=str(home), writable=lambda d: d != shared)
    assert output.prefix == str(home / "run-remapped" / "model.ckpt")
