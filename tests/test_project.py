"""Project-wide rules: the layering holds, the code is lint clean, the reader needs no Qt or TF."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tool(name: str) -> str:
    """A console script installed beside this interpreter (the test extra installs them)."""
    path = os.path.join(os.path.dirname(sys.executable), name)
    return path if os.path.exists(path) else shutil.which(name) or name


def test_import_layers_are_kept():
    result = subprocess.run([tool("lint-imports")], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]


def test_ruff_is_clean():
    result = subprocess.run([tool("ruff"), "check", "."], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]


def test_format_and_core_import_without_qt_or_tensorflow():
    """Block PySide6, pyqtgraph and TensorFlow outright; format and core must still import."""
    code = (
        "import sys\n"
        "for blocked in ('PySide6', 'pyqtgraph', 'tensorflow'):\n"
        "    sys.modules[blocked] = None\n"
        "import pkgutil, importlib, ckpt_browser.format, ckpt_browser.core\n"
        "for package in (ckpt_browser.format, ckpt_browser.core):\n"
        "    for module in pkgutil.iter_modules(package.__path__):\n"
        "        importlib.import_module(f'{package.__name__}.{module.name}')\n"
        "import ckpt_browser.cli\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
