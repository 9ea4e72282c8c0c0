"""Presets: named, shipped rule lists for common ports (`resources/presets/*.json`), and the
user's own saved beside them in a file of the same form.

A preset file is `{"format": "ckpt-browser preset", "version": 1, "name", "description",
"rules": [...]}` with rules as in a mapping file; a mapping file saved by `--save-map` or the
wizard serves as a preset too (its rules are taken).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ckpt_browser.core.remap.rules import Rule
from ckpt_browser.core.remap.spec import read_json_file
from ckpt_browser.data_files import resource_path
from ckpt_browser.format import CheckpointError

PRESET_FORMAT = "ckpt-browser preset"
PRESET_VERSION = 1
_SUFFIX = ".json"


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    rules: tuple[Rule, ...]


def shipped_presets() -> dict[str, str]:
    """Name -> file of every preset that comes with the program."""
    folder = resource_path("presets")
    if folder is None:
        return {}
    return {
        name[: -len(_SUFFIX)]: os.path.join(folder, name)
        for name in sorted(os.listdir(folder))
        if name.endswith(_SUFFIX)
    }


def load_preset(name_or_path: str) -> Preset:
    """A shipped preset by name, or a preset (or mapping) file by path; CheckpointError with the
    known names otherwise."""
    shipped = shipped_presets()
    path = shipped.get(name_or_path)
    if path is None:
        if not name_or_path.endswith(_SUFFIX) or not os.path.isfile(name_or_path):
            known = ", ".join(shipped) or "none"
            raise CheckpointError(
                f"no preset {name_or_path!r} (shipped: {known}; or give a preset's .json file)"
            )
        path = name_or_path
    data = read_json_file(path, "the preset")
    try:
        return _preset_of(data, os.path.basename(path)[: -len(_SUFFIX)])
    except ValueError as exc:
        raise CheckpointError(f"bad preset: {exc}", path) from None


def _preset_of(data: object, default_name: str) -> Preset:
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise ValueError("a preset is a JSON object with a list of 'rules'")
    version = data.get("version", PRESET_VERSION)
    if data.get("format") == PRESET_FORMAT and version != PRESET_VERSION:
        raise ValueError(f"preset format version {version} is not supported")
    rules = tuple(Rule.from_json(rule) for rule in data["rules"])
    return Preset(str(data.get("name") or default_name), str(data.get("description", "")), rules)
