"""Remap configurations kept for later, found again by the sources the wizard was opened for.

A draft is the mapping file's own spec (`RemapSpec`: sources, target, rules, overrides, options)
plus the output prefix the user chose. The store is plain JSON text, so the window can keep it in
its settings and a run without settings can keep it in memory.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from ckpt_browser.core.formatting import plural
from ckpt_browser.core.remap.spec import RemapSpec

# Drafts kept at most; the oldest goes first (each is a few KB of JSON in the settings file).
DRAFT_LIMIT = 20


@dataclass
class Draft:
    """A remap configuration as the user left it."""

    spec: RemapSpec = field(default_factory=RemapSpec)
    output: str = ""  # the output prefix the user chose ("": the wizard's default)

    def to_json(self) -> dict:
        return {"spec": self.spec.to_json(), "output": self.output}

    @classmethod
    def from_json(cls, data: object) -> Draft:
        """Raises ValueError for anything that is not a draft this version can apply."""
        if not isinstance(data, dict):
            raise ValueError("a draft is a JSON object")
        output = data.get("output", "")
        if not isinstance(output, str):
            raise ValueError("a draft's output must be a path")
        return cls(RemapSpec.from_json(data.get("spec")), output)

    def describe(self) -> str:
        """What the draft holds, for a question or a notice: "the target, 2 rules, the options"."""
        spec, defaults = self.spec, RemapSpec()
        parts = []
        if spec.target:
            parts.append(f"the target {os.path.basename(spec.target)}")
        if spec.rules:
            parts.append(plural(len(spec.rules), "rule"))
        if spec.overrides:
            parts.append(
                plural(len(spec.overrides), "name decided by hand", "names decided by hand")
            )
        if (spec.allow_reshape, spec.cast, spec.keep_template) != (
            defaults.allow_reshape,
            defaults.cast,
            defaults.keep_template,
        ):
            parts.append("the options")
        if self.output:
            parts.append(f"the output {self.output}")
        if not parts:
            return "the sources"
        return ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]


def draft_key(prefixes: Sequence[str]) -> str:
    """The store's key for the sources a wizard was opened for: their resolved paths, in order."""
    return json.dumps([p if "://" in p else os.path.realpath(p) for p in prefixes])


class DraftStore:
    """Drafts by `draft_key`, oldest first, at most `DRAFT_LIMIT`."""

    def __init__(self, text: str | None = None) -> None:
        self._drafts: dict[str, dict] = {}
        if text:
            try:
                data = json.loads(text)
            except ValueError:  # a damaged settings value must not stop the wizard
                data = {}
            if isinstance(data, dict):
                self._drafts = {k: v for k, v in data.items() if isinstance(v, dict)}

    def get(self, key: str) -> Draft | None:
        """The draft kept for `key`; one this version cannot read counts as none."""
        data = self._drafts.get(key)
        if data is None:
            return None
        try:
            return Draft.from_json(data)
        except ValueError:
            return None

    def keep(self, key: str, draft: Draft) -> None:
        self._drafts.pop(key, None)
        self._drafts[key] = draft.to_json()
        while len(self._drafts) > DRAFT_LIMIT:
            del self._drafts[next(iter(self._drafts))]

    def discard(self, key: str) -> None:
        self._drafts.pop(key, None)

    def __len__(self) -> int:
        return len(self._drafts)

    def to_text(self) -> str:
        return json.dumps(self._drafts)
