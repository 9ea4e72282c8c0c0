"""Before the window starts: can Qt open a display here? If not, one line that says what to do.

On a bare Debian or Ubuntu with X11, Qt's xcb platform plugin cannot load because a system library
it links against is missing (most often `libxcb-cursor.so.0`, package `libxcb-cursor0`, which
PySide6 does not ship); Qt then prints a dozen lines and aborts the process. Loading the plugin's
own library (`libQt6XcbQpa`) first shows which library is missing, without starting Qt, so the
command can say which package to install and exit 2 like any other bad start.
"""

from __future__ import annotations

import ctypes
import glob
import os
import re
import sys
from collections.abc import Callable, Mapping

# The libraries whose Debian package is not named by the usual rule (`libfoo-bar.so.N` is in
# `libfoo-barN`, `libfoo-x11.so.N` in `libfoo-x11-N`).
_PACKAGE_EXCEPTIONS = {
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
}
_MISSING = re.compile(r"(lib[^\s:/]+\.so(?:\.\d+)*): cannot open shared object file")


def debian_package(soname: str) -> str:
    """The Debian/Ubuntu package that usually ships a library (`libxcb-cursor.so.0` -> ...0)."""
    if soname in _PACKAGE_EXCEPTIONS:
        return _PACKAGE_EXCEPTIONS[soname]
    name, _, version = soname.partition(".so")
    version = version.lstrip(".").split(".")[0]
    name = name.lower()
    return f"{name}-{version}" if name[-1:].isdigit() and version else name + version


def uses_xcb(environ: Mapping[str, str]) -> bool:
    """Whether Qt will try its X11 (xcb) platform first with this environment, on Linux."""
    requested = environ.get("QT_QPA_PLATFORM", "")
    if requested:
        return requested.split(";")[0].split(":")[0] == "xcb"
    # Unset: Qt 6 takes Wayland in a Wayland session (as the session type says), else X11.
    return environ.get("XDG_SESSION_TYPE") != "wayland"


def xcb_plugin_library() -> str | None:
    """The library behind Qt's xcb plugin, as this PySide6 ships it (None if it has none)."""
    from PySide6.QtCore import QLibraryInfo

    directory = QLibraryInfo.path(QLibraryInfo.LibraryPath.LibrariesPath)
    found = sorted(glob.glob(os.path.join(directory, "libQt6XcbQpa.so*")))
    return found[0] if found else None


def display_problem(
    environ: Mapping[str, str] = os.environ,
    library: str | None = None,
    load: Callable[[str], object] = ctypes.CDLL,
) -> str | None:
    """One sentence saying why the window cannot start here, or None when it can (or may)."""
    if not sys.platform.startswith("linux") or not uses_xcb(environ):
        return None
    if not environ.get("DISPLAY"):
        return (
            "no display to open the window on (DISPLAY is not set); to render a PNG without "
            "one, run with QT_QPA_PLATFORM=offscreen and --screenshot"
        )
    library = library or xcb_plugin_library()
    if library is None:
        return None  # a Qt built another way: let Qt itself say what is wrong
    try:
        load(library)
    except OSError as exc:
        missing = _MISSING.search(str(exc))
        if missing is None:
            return f"Qt's X11 (xcb) platform cannot load: {exc}"
        soname = missing.group(1)
        return (
            f"Qt's X11 (xcb) platform needs {soname}, which is not installed; on Debian/Ubuntu: "
            f"sudo apt-get install {debian_package(soname)}"
        )
    return None
