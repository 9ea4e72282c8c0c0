"""The command line on archives: a zip lists like a folder, a tar.gz says how to unpack it, and
`unpack` does so into the user cache directory."""

from __future__ import annotations

import json
import shutil
import zipfile

import pytest
from archive_files import BIG, MODEL_FOLDER, make_release_folder, tar_folder, zip_folder

from ckpt_browser.cli import main


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return make_release_folder(tmp_path_factory.mktemp("release"))


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CKPT_BROWSER_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_ls_of_a_release_zip_lists_the_checkpoint_inside(capsys, release, tmp_path, compression):
    archive = zip_folder(release.root, tmp_path / "release.zip", compression)
    code, out, err = run(capsys, "ls", str(archive), "--json")
    assert (code, err) == (0, "")
    listing = json.loads(out)
    assert listing["prefix"] == f"{archive}/{MODEL_FOLDER}/bert_model.ckpt"
    assert BIG in {variable["name"] for variable in listing["variables"]}
    code, out, _ = run(capsys, "verify", str(archive))
    assert code == 0 and out.startswith("ok: 5 tensors")


def test_ls_of_a_tar_gz_says_how_to_unpack_it(capsys, release, tmp_path):
    archive = tar_folder(release.root, tmp_path / "release.tar.gz")
    code, out, err = run(capsys, "ls", str(archive))
    assert (code, out) == (2, "")
    assert err == (
        f"error: {archive}: a .tar.gz archive cannot be read at random; unpack it into the cache "
        f"first: ckpt-browser unpack {archive} (the window offers to do it)\n"
    )


def test_unpack_prints_the_folder_and_the_archive_then_opens(capsys, release, tmp_path, cache_dir):
    archive = tar_folder(release.root, tmp_path / "release.tar.gz")
    code, out, err = run(capsys, "unpack", str(archive))
    assert (code, err) == (0, "")
    folder, how = out.splitlines()
    assert (
        folder.startswith(str(cache_dir))
        and how == f"open it: ckpt-browser {folder} (or the archive's location)"
    )
    for opened in (folder, str(archive)):
        code, out, _ = run(capsys, "ls", opened, "--json")
        assert code == 0 and BIG in out
    assert run(capsys, "unpack", str(archive))[1].splitlines()[0] == folder


@pytest.mark.parametrize("name", ["missing.tar.gz", "broken.tgz"])
def test_unpack_of_a_bad_archive_is_an_error_line(capsys, tmp_path, name):
    (tmp_path / "broken.tgz").write_bytes(b"\x1f\x8b broken")
    code, out, err = run(capsys, "unpack", str(tmp_path / name))
    assert (code, out) == (2, "")
    assert err.startswith(f"error: {tmp_path / name}: ") and err.count("\n") == 1


def test_a_zip_of_several_checkpoints_names_them(capsys, release, tmp_path):
    """Nothing at the top and more than one folder: the error says where the checkpoints are."""
    bundle = tmp_path / "bundle"
    for model in ("cased", "uncased"):
        shutil.copytree(release.root, bundle / model)
    archive = zip_folder(bundle, tmp_path / "models.zip", zipfile.ZIP_STORED)
    code, out, err = run(capsys, "ls", str(archive))
    assert (code, out) == (2, "")
    assert err == (
        f"error: {archive}: no checkpoint here (no 'checkpoint' file, no *.index and no V1 "
        f"checkpoint file); the archive holds checkpoints in cased/{MODEL_FOLDER}, "
        f"uncased/{MODEL_FOLDER}: open one of them\n"
    )
    code, out, _ = run(capsys, "ls", f"{archive}/uncased/{MODEL_FOLDER}")
    assert code == 0 and BIG in out
