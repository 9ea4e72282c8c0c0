"""Project-wide rules: the layering holds, the code is lint clean, the reader needs no Qt or TF."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

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


def test_every_library_the_program_imports_is_a_default_dependency():
    """A default `pip install` must bring everything the program imports (snappy support too)."""
    import ast
    import importlib.metadata
    import re

    tomllib = pytest.importorskip("tomllib")
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as file:
        requirements = tomllib.load(file)["project"]["dependencies"]

    def canonical(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    declared = {canonical(re.match(r"[A-Za-z0-9._-]+", req).group()) for req in requirements}
    imported = set()
    for root, _dirs, files in os.walk(os.path.join(REPO, "ckpt_browser")):
        for name in files:
            if name.endswith(".py"):
                with open(os.path.join(root, name), encoding="utf-8") as file:
                    tree = ast.parse(file.read())
                for node in ast.walk(tree):
                    if isinstance(node, ast.Import):
                        imported |= {alias.name.split(".")[0] for alias in node.names}
                    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                        imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"ckpt_browser"}
    distributions = importlib.metadata.packages_distributions()
    undeclared = {
        module: distributions.get(module)
        for module in third_party
        if not {canonical(d) for d in distributions.get(module, [])} & declared
    }
    assert "cramjam" in third_party
    assert undeclared == {}, "imported but not in [project] dependencies of pyproject.toml"
