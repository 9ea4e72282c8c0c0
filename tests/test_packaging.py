"""Packaging: the wheel and the standalone build start, and the desktop files are valid and agree.

The wheel test builds from a copy of the sources (the build leaves `build/` behind) and installs
into a fresh virtual environment that borrows this environment's dependencies through a `.pth`
file, so nothing is downloaded again. External validators (desktop-file-validate, appstreamcli,
shellcheck) are Debian packages; a test that needs one is skipped, saying which, when it is absent.
"""

from __future__ import annotations

import configparser
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import sysconfig
import time
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtGui import QImage

from ckpt_browser.ui import about_dialog

REPO = Path(__file__).resolve().parent.parent
RESOURCES = REPO / "resources"
PACKAGING = REPO / "packaging"
APP_ID = about_dialog.APP_ID
DESKTOP_FILE = RESOURCES / f"{APP_ID}.desktop"
METAINFO_FILE = RESOURCES / f"{APP_ID}.metainfo.xml"
MIME_FILE = RESOURCES / f"{APP_ID}.mime.xml"
INSTALL_SCRIPT = PACKAGING / "install-desktop.sh"
MIME_NS = "{http://www.freedesktop.org/standards/shared-mime-info}"
DEMO_PREFIX = RESOURCES / "demo" / "model.ckpt-300"
SNAPPY_PREFIX = (
    REPO / "tests/data/tf_serving/saved_model_half_plus_two_cpu/00000123/variables/variables"
)
# What a file manager should call each part of a checkpoint.
EXPECTED_TYPES = {
    f"{DEMO_PREFIX}.index": "application/x-tensorflow-checkpoint-index",
    f"{DEMO_PREFIX}.data-00000-of-00001": "application/x-tensorflow-checkpoint-data",
    f"{DEMO_PREFIX}.meta": "application/x-tensorflow-metagraph",
}


def _needs(tool: str, debian_package: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed (Debian: apt-get install {debian_package})")
    return path


def _desktop_entry(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return parser


def _mime_types(path: Path) -> set[str]:
    return {node.get("type") for node in ET.parse(path).getroot().iter(f"{MIME_NS}mime-type")}


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])


def _assert_window_screenshot(path: Path) -> None:
    """A PNG of a whole window with something drawn in it (not a blank or tiny image)."""
    image = QImage(str(path))
    assert not image.isNull(), f"{path} does not load as an image"
    assert image.width() >= 640 and image.height() >= 480, (image.width(), image.height())
    colours = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, 400, 7)}
    assert len(colours) > 20, "the screenshot is nearly uniform"


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, **kwargs)


# -- desktop files ---------------------------------------------------------------------------------


def test_desktop_entry_validates():
    tool = _needs("desktop-file-validate", "desktop-file-utils")
    result = _run([tool, str(DESKTOP_FILE)])
    assert result.returncode == 0 and "error" not in result.stdout, result.stdout


def test_appstream_metainfo_validates():
    tool = _needs("appstreamcli", "appstream")
    result = _run([tool, "validate", "--no-net", "--pedantic", str(METAINFO_FILE)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_desktop_entry_metainfo_and_mime_types_agree():
    entry = _desktop_entry(DESKTOP_FILE)["Desktop Entry"]
    metainfo = ET.parse(METAINFO_FILE).getroot()
    mime_types = _mime_types(MIME_FILE)
    assert mime_types == set(EXPECTED_TYPES.values())
    assert set(filter(None, entry["MimeType"].split(";"))) == mime_types
    assert {node.text for node in metainfo.iter("mediatype")} == mime_types
    assert entry["Icon"] == APP_ID
    assert entry["Exec"].split()[0] == entry["TryExec"] == "ckpt-browser"
    assert metainfo.findtext("id") == APP_ID
    assert metainfo.findtext("launchable") == DESKTOP_FILE.name
    assert metainfo.findtext("provides/binary") == "ckpt-browser"
    newest_release = metainfo.find("releases/release")
    assert newest_release is not None
    assert newest_release.get("version") == importlib.metadata.version("ckpt-browser")


def test_mime_types_name_the_files_of_a_checkpoint(tmp_path):
    """Qt reads the same shared-mime-info database as the file managers do."""
    packages = tmp_path / "mime" / "packages"
    packages.mkdir(parents=True)
    shutil.copy(MIME_FILE, packages / f"{APP_ID}.xml")
    code = (
        "import json, sys\n"
        "from PySide6.QtCore import QCoreApplication, QMimeDatabase\n"
        "app = QCoreApplication([])\n"
        "database = QMimeDatabase()\n"
        "names = sys.argv[1:]\n"
        "print(json.dumps({n: database.mimeTypeForFile(n).name() for n in names}))\n"
    )
    other = str(tmp_path / "notes.txt")
    Path(other).write_text("not a checkpoint\n")
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path)}
    result = _run([sys.executable, "-c", code, *EXPECTED_TYPES, other], env=env)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert {name: found[name] for name in EXPECTED_TYPES} == EXPECTED_TYPES
    assert found[other] == "text/plain"


# -- icons -----------------------------------------------------------------------------------------


def _load_script(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pixels(path: Path) -> np.ndarray:
    image = QImage(str(path)).convertToFormat(QImage.Format.Format_RGBA8888)
    raw = np.frombuffer(image.constBits(), dtype=np.uint8, count=image.sizeInBytes())
    return raw.reshape(image.height(), image.bytesPerLine())[:, : image.width() * 4].astype(int)


def test_every_icon_size_is_drawn_from_the_svg(tmp_path, qapp):
    """`qapp`: the window tests' QApplication, so that rendering does not make a lesser one."""
    render_icons = _load_script(PACKAGING / "render_icons.py")
    install_sizes = re.search(r'^ICON_SIZES="([\d ]+)"$', INSTALL_SCRIPT.read_text(), re.M)
    assert install_sizes is not None
    sizes = about_dialog.ICON_SIZES
    assert tuple(render_icons.SIZES) == sizes
    assert tuple(int(n) for n in install_sizes.group(1).split()) == sizes
    fresh = render_icons.render(RESOURCES / "icons" / render_icons.SVG_NAME, tmp_path, sizes)
    for size, rendered in zip(sizes, fresh):
        committed = RESOURCES / "icons" / render_icons.png_name(size)
        assert _png_size(committed) == (size, size)
        # Renderers differ by a shade in antialiasing; an edited SVG differs by far more.
        difference = np.abs(_pixels(committed) - _pixels(rendered)).mean()
        assert difference < 2.0, f"{committed.name} is out of date: python {render_icons.__file__}"


# -- the desktop install script --------------------------------------------------------------------


def test_install_script_is_shellcheck_clean():
    tool = _needs("shellcheck", "shellcheck")
    result = _run([tool, "--shell=sh", str(INSTALL_SCRIPT)])
    assert result.returncode == 0, result.stdout


def test_install_script_installs_for_the_user_and_uninstalls(tmp_path):
    program = tmp_path / "my apps" / "ckpt-browser"  # a space, which the Exec key must quote
    program.parent.mkdir()
    program.write_text("#!/bin/sh\nexit 0\n")
    program.chmod(0o755)
    data_home = tmp_path / "data"
    env = {**os.environ, "XDG_DATA_HOME": str(data_home)}
    result = _run(["sh", str(INSTALL_SCRIPT), "--exec", str(program)], env=env)
    assert result.returncode == 0, result.stderr

    installed_entry = data_home / "applications" / f"{APP_ID}.desktop"
    entry = _desktop_entry(installed_entry)
    assert entry["Desktop Entry"]["Exec"] == f'"{program}" %f'
    assert entry["Desktop Entry"]["TryExec"] == str(program)
    assert entry["Desktop Action demo"]["Exec"] == f'"{program}" --demo'
    icons = data_home / "icons" / "hicolor"
    for size in about_dialog.ICON_SIZES:
        assert _png_size(icons / f"{size}x{size}" / "apps" / f"{APP_ID}.png") == (size, size)
    assert (icons / "scalable" / "apps" / f"{APP_ID}.svg").is_file()
    assert (data_home / "metainfo" / f"{APP_ID}.metainfo.xml").is_file()
    assert _mime_types(data_home / "mime" / "packages" / f"{APP_ID}.xml") == set(
        EXPECTED_TYPES.values()
    )
    if shutil.which("desktop-file-validate"):
        check = _run(["desktop-file-validate", str(installed_entry)])
        assert check.returncode == 0, check.stdout
    if shutil.which("update-mime-database"):
        assert (data_home / "mime" / "mime.cache").is_file()
    if shutil.which("update-desktop-database"):
        # The association a file manager looks up: each type -> this entry.
        cache = _desktop_entry(data_home / "applications" / "mimeinfo.cache")["MIME Cache"]
        for mime_type in EXPECTED_TYPES.values():
            assert f"{APP_ID}.desktop" in cache[mime_type].split(";")

    result = _run(["sh", str(INSTALL_SCRIPT), "--uninstall"], env=env)
    assert result.returncode == 0, result.stderr
    left = [p for p in data_home.rglob(f"{APP_ID}*") if p.is_file()]
    assert left == []


def test_file_manager_opens_a_checkpoint_with_the_program(tmp_path):
    """GIO (what GNOME, Cinnamon and Xfce file managers open files with) starts the program."""
    gio = _needs("gio", "libglib2.0-bin")
    _needs("update-mime-database", "shared-mime-info")
    received = tmp_path / "arguments.txt"
    program = tmp_path / "bin" / "ckpt-browser"  # stands in for the program: notes its arguments
    program.parent.mkdir()
    program.write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$@" > "{received}.part"\nmv "{received}.part" "{received}"\n'
    )
    program.chmod(0o755)
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    result = _run(["sh", str(INSTALL_SCRIPT), "--exec", str(program)], env=env)
    assert result.returncode == 0, result.stderr

    for path, mime_type in EXPECTED_TYPES.items():
        default = _run([gio, "mime", mime_type], env=env)
        assert f"{APP_ID}.desktop" in default.stdout.splitlines()[0], default.stdout
        received.unlink(missing_ok=True)
        opened = _run([gio, "open", path], env=env, timeout=60)
        assert opened.returncode == 0, opened.stderr
        for _ in range(200):
            if received.exists():
                break
            time.sleep(0.05)
        assert received.read_text().splitlines() == [path]


def test_install_script_refuses_a_missing_program(tmp_path):
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path)}
    missing = tmp_path / "nowhere" / "ckpt-browser"
    result = _run(["sh", str(INSTALL_SCRIPT), "--exec", str(missing)], env=env)
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {missing} is not an executable file"
    assert not (tmp_path / "applications").exists()


# -- the wheel -------------------------------------------------------------------------------------


def _build_wheel(out: Path, scratch: Path) -> Path:
    """`pip wheel` of a copy of the sources; the installed setuptools when it is new enough."""
    source = scratch / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("ckpt_browser", "resources"):
        shutil.copytree(REPO / name, source / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(out), str(source)]
    setuptools_major = int(importlib.metadata.version("setuptools").split(".")[0])
    if setuptools_major >= 77:  # what pyproject.toml's build-system asks for
        command.insert(4, "--no-build-isolation")
    result = _run(command, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (wheel,) = out.glob("ckpt_browser-*.whl")
    return wheel


def _fresh_venv(path: Path) -> Path:
    """A new virtual environment that sees this one's packages (but not its ckpt_browser)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"])
    ours = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (Path(purelib.stdout.strip()) / "borrowed_dependencies.pth").write_text("\n".join(ours) + "\n")
    return python


def test_wheel_carries_everything_and_starts_from_a_fresh_venv(tmp_path):
    wheel = _build_wheel(tmp_path / "wheels", tmp_path)
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    needed = {
        f"ckpt_browser/{path.relative_to(REPO / 'ckpt_browser').as_posix()}"
        for path in (REPO / "ckpt_browser").rglob("*.py")
    } | {
        f"ckpt_browser/resources/{path.relative_to(RESOURCES).as_posix()}"
        for path in RESOURCES.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert needed - in_wheel == set(), "missing from the wheel (packages in pyproject.toml?)"

    python = _fresh_venv(tmp_path / "venv")
    install = [sys.executable, "-m", "pip", "--python", str(python), "install"]
    result = _run([*install, "--no-deps", "--no-index", str(wheel)], timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]

    where = _run(
        [
            str(python),
            "-c",
            "import ckpt_browser.cli as cli, ckpt_browser.ui.about_dialog as about\n"
            "print(cli.__file__); print(cli.demo_path()); print(about.resources_dir())",
        ],
        cwd=tmp_path,
    )
    assert where.returncode == 0, where.stderr
    venv = str(tmp_path / "venv")
    assert all(line.startswith(venv) for line in where.stdout.splitlines()), where.stdout

    screenshot = tmp_path / "out.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    command = [str(tmp_path / "venv" / "bin" / "ckpt-browser"), "--demo"]
    result = _run([*command, "--screenshot", str(screenshot)], cwd=tmp_path, env=env, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    _assert_window_screenshot(screenshot)


# -- the standalone application --------------------------------------------------------------------


@pytest.mark.slow
def test_pyinstaller_app_starts_without_tensorflow(tmp_path):
    if importlib.util.find_spec("PyInstaller") is None:
        pytest.skip("PyInstaller is not installed (pip install -e '.[packaging]')")
    report_file = tmp_path / "report.json"
    screenshot = tmp_path / "shot.png"
    command = [sys.executable, str(PACKAGING / "build_app.py"), "--check", "--runs", "1"]
    command += ["--dist", str(tmp_path / "dist"), "--work", str(tmp_path / "work")]
    command += ["--screenshot", str(screenshot), "--report", str(report_file)]
    result = _run(command, timeout=1500)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(report_file.read_text())
    _assert_window_screenshot(screenshot)
    assert len(report["startup_seconds"]) == 1

    folder = Path(report["folder"])
    internal = folder / "_internal"
    assert not (internal / "tensorflow").exists()
    assert (internal / "ckpt_browser" / "resources" / "demo" / "checkpoint").is_file()
    # The About dialog reads the version from the package metadata.
    (metadata,) = internal.glob("ckpt_browser-*.dist-info/METADATA")
    assert f"\nVersion: {importlib.metadata.version('ckpt-browser')}\n" in metadata.read_text()

    # The command line of the bundle answers as the package's does: a snappy-compressed index,
    # and bfloat16 values (ml_dtypes, imported only when such a tensor is read) too.
    import ml_dtypes

    from ckpt_browser.format import CheckpointWriter

    bfloat16_prefix = str(tmp_path / "bfloat16" / "model")
    with CheckpointWriter(bfloat16_prefix) as writer:
        writer.add("half", np.array([1.5, -2.25, 3e38], ml_dtypes.bfloat16))
    commands = [["ls", "--json", str(DEMO_PREFIX)], ["ls", "--json", str(SNAPPY_PREFIX)]]
    commands.append(["show", "--json", bfloat16_prefix, "half"])
    for command in commands:
        bundled = _run([report["executable"], *command], timeout=120)
        assert bundled.returncode == 0, bundled.stderr
        here = _run([sys.executable, "-m", "ckpt_browser.cli", *command])
        assert json.loads(bundled.stdout) == json.loads(here.stdout)

    # Its copy of the install script finds the bundle's resources and executable by itself.
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    installed = _run(["sh", str(folder / "install-desktop.sh")], env=env)
    assert installed.returncode == 0, installed.stderr
    entry = _desktop_entry(tmp_path / "data" / "applications" / f"{APP_ID}.desktop")
    assert entry["Desktop Entry"]["Exec"] == f'"{report["executable"]}" %f'
