"""Where the program's data files are (demo checkpoint, icons, templates).

The repository keeps them in `resources/` beside the package; a wheel or a bundled app carries
them inside it as `ckpt_browser/resources`. Every layer finds them here.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_path(*parts: str) -> Path | None:
    """The file or folder `resources/<parts>`, installed or in a checkout; None if missing."""
    for root in (_PACKAGE / "resources", _PACKAGE.parent / "resources"):
        candidate = root.joinpath(*parts)
        if candidate.exists():
            return candidate
    return None
