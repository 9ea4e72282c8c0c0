"""Everything a user decides about a remap, as one object that saves to and loads from JSON.

The spec is what the wizard edits and what `ckpt-browser remap --map MAP.json` reads: the source
and target paths, the ordered rules, the one-by-one overrides (target name -> source tensor, the
template's own value, or nothing) and the options for mismatches.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from ckpt_browser.core.formatting import plural
from ckpt_browser.core.remap.rules import Rule
from ckpt_browser.format import CheckpointError
from ckpt_browser.format.dtypes import BY_NAME

FORMAT_VERSION = 1
CAST_TO_TARGET = "target"


@dataclass(frozen=True)
class Override:
    """One name decided by hand: a source tensor, the template's value, or left out (neither)."""

    source: int | None = None
    key: str | None = None
    template: bool = False

    @classmethod
    def from_source(cls, source: int, key: str) -> Override:
        return cls(source=source, key=key)

    @classmethod
    def from_template(cls) -> Override:
        return cls(template=True)

    @classmethod
    def left_out(cls) -> Override:
        return cls()

    @property
    def is_left_out(self) -> bool:
        return self.key is None and not self.template

    def describe(self) -> str:
        if self.template:
            return "the template's value"
        if self.key is None:
            return "left out"
        return f"{self.key} (source {self.source + 1})"

    def to_json(self) -> dict:
        if self.template:
            return {"template": True}
        if self.key is None:
            return {"left_out": True}
        return {"source": self.source, "key": self.key}

    @classmethod
    def from_json(cls, data: object) -> Override:
        if not isinstance(data, dict):
            raise ValueError(f"an override must be an object, not {data!r}")
        if data.get("template"):
            return cls.from_template()
        if data.get("left_out"):
            return cls.left_out()
        source, key = data.get("source", 0), data.get("key")
        if not isinstance(source, int) or source < 0 or not isinstance(key, str) or not key:
            raise ValueError(f"an override needs a source number and a key, not {data!r}")
        return cls.from_source(source, key)


@dataclass
class RemapSpec:
    """Sources, target, rules, overrides and options: the whole mapping."""

    sources: list[str] = field(default_factory=list)
    target: str | None = None
    rules: list[Rule] = field(default_factory=list)
    overrides: dict[str, Override] = field(default_factory=dict)  # by target (output) name
    allow_reshape: bool = False  # shapes with the same element count are reshaped
    cast: str | None = None  # None: refuse, "target": cast to the target's dtype, or a dtype
    keep_template: bool = False  # target names without a source keep the template's value

    def validate(self) -> None:
        """Raise ValueError for a spec that cannot be applied (bad rule, unknown dtype...)."""
        for rule in self.rules:
            rule.validate()
            if rule.source is not None and self.sources and rule.source >= len(self.sources):
                raise ValueError(
                    f"rule {rule.describe()!r} is for source {rule.source + 1}, but the mapping "
                    f"has {plural(len(self.sources), 'source')}"
                )
        if self.cast not in (None, CAST_TO_TARGET) and self.cast not in BY_NAME:
            raise ValueError(f"cannot cast to {self.cast!r}: not a dtype name such as bfloat16")
        for name, override in self.overrides.items():
            if (
                override.source is not None
                and self.sources
                and override.source >= len(self.sources)
            ):
                raise ValueError(f"override of {name!r} names source {override.source + 1}")

    def to_json(self) -> dict:
        return {
            "format": "ckpt-browser remap",
            "version": FORMAT_VERSION,
            "sources": list(self.sources),
            "target": self.target,
            "rules": [rule.to_json() for rule in self.rules],
            "overrides": {name: o.to_json() for name, o in sorted(self.overrides.items())},
            "options": {
                "allow_reshape": self.allow_reshape,
                "cast": self.cast,
                "keep_template": self.keep_template,
            },
        }

    @classmethod
    def from_json(cls, data: object) -> RemapSpec:
        if not isinstance(data, dict):
            raise ValueError("a mapping file holds one JSON object")
        version = data.get("version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise ValueError(f"mapping format version {version} is not supported")
        sources = data.get("sources", [])
        if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
            raise ValueError("'sources' must be a list of paths")
        target = data.get("target")
        if target is not None and not isinstance(target, str):
            raise ValueError("'target' must be a path or null")
        rules = data.get("rules", [])
        overrides = data.get("overrides", {})
        options = data.get("options", {})
        if not isinstance(rules, list) or not isinstance(overrides, dict):
            raise ValueError("'rules' must be a list and 'overrides' an object")
        if not isinstance(options, dict):
            raise ValueError("'options' must be an object")
        spec = cls(
            sources=list(sources),
            target=target,
            rules=[Rule.from_json(r) for r in rules],
            overrides={str(k): Override.from_json(v) for k, v in overrides.items()},
            allow_reshape=bool(options.get("allow_reshape", False)),
            cast=options.get("cast"),
            keep_template=bool(options.get("keep_template", False)),
        )
        spec.validate()
        return spec


def save_spec(spec: RemapSpec, path: str | os.PathLike[str]) -> None:
    from ckpt_browser.format.atomic import atomic_output

    with atomic_output(path, "w") as file:
        json.dump(spec.to_json(), file, indent=1)
        file.write("\n")


def read_json_file(path: str, what: str) -> object:
    """A JSON file's value; CheckpointError naming `what` ("the mapping file") if it is not."""
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except OSError as exc:
        raise CheckpointError(f"cannot read {what}: {exc.strerror}", path) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{what} is not JSON ({exc})", path) from None


def load_spec(path: str | os.PathLike[str]) -> RemapSpec:
    """Read a mapping file; a wrong file raises CheckpointError with the reason and the path."""
    path = os.fspath(path)
    data = read_json_file(path, "the mapping file")
    try:
        return RemapSpec.from_json(data)
    except ValueError as exc:
        raise CheckpointError(f"bad mapping file: {exc}", path) from None
