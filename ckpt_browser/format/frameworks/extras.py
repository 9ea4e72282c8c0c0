"""The optional packages other frameworks' files need, and the sentence that names the extra."""

from __future__ import annotations

import importlib
from types import ModuleType

from ckpt_browser.format.errors import CheckpointError


def require(module: str, extra: str, what: str, path: str | None = None) -> ModuleType:
    """Import `module`, or raise the one sentence that says which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise CheckpointError(
            f"reading {what} needs the optional package {module.split('.')[0]}: "
            f"pip install 'ckpt-browser[{extra}]'",
            path,
        ) from None
