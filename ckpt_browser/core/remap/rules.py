"""Rename rules for remapping a checkpoint: each turns source names into the names a target wants.

Rules apply in order, each to the names the previous ones produced. A rule may rename a name, drop
it, or leave it alone; a rule may be limited to one source checkpoint (a head from another run
keeps its own names while the backbone moves under a scope). `apply_rules` also records, per rule,
what it changed, so every rule can be previewed on its own.

Scope renames follow the meaning of TensorFlow's `assignment_map` (`init_from_checkpoint`):
`old/` -> `new/` moves everything under `old/` to `new/`; `/` -> `scope/` puts every name under
`scope/`; `old/` -> `/` lifts the contents of `old/` to the top.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum

from ckpt_browser.core.remap.layout import LayoutStep
from ckpt_browser.core.remap.layout import describe as describe_layout
from ckpt_browser.format import TensorKind
from ckpt_browser.format.kinds import ATTRIBUTES_MARKER, EMA_SEGMENT, SLOT_MARKER

VARIABLE_VALUE_SUFFIX = ATTRIBUTES_MARKER + "VARIABLE_VALUE"


class RuleKind(str, Enum):
    SCOPE = "scope"  # old/ -> new/
    NAME = "name"  # one exact name -> another
    REGEX = "regex"  # re.sub(pattern, replacement, name)
    DROP = "drop"  # drop names matching the regex
    KEEP = "keep"  # keep only names matching the regex
    EMA = "ema"  # x/ExponentialMovingAverage is taken as x (the raw x is dropped)
    DROP_OPTIMIZER = "drop_optimizer"  # drop optimizer slots and accumulators
    TO_OBJECT_PATHS = "to_object_paths"  # TF2 key -> object path (model/dense/kernel)
    TO_KEYS = "to_keys"  # object path -> TF2 key (model/dense/kernel/.ATTRIBUTES/VARIABLE_VALUE)
    LAYOUT = "layout"  # names matching the regex get layout steps (transpose, reshape, cast)

    def __str__(self) -> str:
        return self.value


# What each kind is called in the wizard and in `describe()`.
KIND_LABELS = {
    RuleKind.SCOPE: "Rename scope",
    RuleKind.NAME: "Rename one name",
    RuleKind.REGEX: "Regex replace",
    RuleKind.DROP: "Drop matching",
    RuleKind.KEEP: "Keep only matching",
    RuleKind.EMA: "Use EMA shadows",
    RuleKind.DROP_OPTIMIZER: "Drop optimizer slots",
    RuleKind.TO_OBJECT_PATHS: "TF2 keys -> object paths",
    RuleKind.TO_KEYS: "Object paths -> TF2 keys",
    RuleKind.LAYOUT: "Layout (transpose, reshape, cast)",
}
# Kinds that need a pattern, and those that also need a replacement.
NEEDS_PATTERN = {
    RuleKind.SCOPE,
    RuleKind.NAME,
    RuleKind.REGEX,
    RuleKind.DROP,
    RuleKind.KEEP,
    RuleKind.LAYOUT,
}
NEEDS_REPLACEMENT = {RuleKind.SCOPE, RuleKind.NAME, RuleKind.REGEX}


@dataclass(frozen=True)
class Rule:
    """One step of the mapping; `source` limits it to one source checkpoint (index), None = all."""

    kind: RuleKind
    pattern: str = ""
    replacement: str = ""
    source: int | None = None
    layout: tuple[LayoutStep, ...] = ()  # a LAYOUT rule's steps, in order

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", RuleKind(self.kind))
        object.__setattr__(self, "layout", tuple(self.layout))

    def validate(self) -> None:
        """Raise ValueError with a sentence for the user if the rule cannot work."""
        if self.kind in NEEDS_PATTERN and not self.pattern:
            raise ValueError(f"{KIND_LABELS[self.kind]}: the pattern is empty")
        if self.kind is RuleKind.LAYOUT:
            if not self.layout:
                raise ValueError(f"layout rule {self.pattern!r} has no steps")
            for step in self.layout:
                step.validate()
        if self.kind in (RuleKind.REGEX, RuleKind.DROP, RuleKind.KEEP, RuleKind.LAYOUT):
            try:
                compiled = re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"bad regex {self.pattern!r}: {exc}") from None
            if self.kind is RuleKind.REGEX:
                try:
                    compiled.sub(self.replacement, "")
                    _check_groups(compiled, self.replacement)
                except (re.error, IndexError) as exc:
                    raise ValueError(f"bad replacement {self.replacement!r}: {exc}") from None
        if self.kind is RuleKind.NAME and not self.replacement:
            raise ValueError(f"Rename one name: no new name given for {self.pattern!r}")

    def describe(self) -> str:
        """A one-line summary: `bert/ -> encoder/`, `drop /Adam`, `use EMA shadows`."""
        where = f" (source {self.source + 1} only)" if self.source is not None else ""
        if self.kind in NEEDS_REPLACEMENT:
            text = f"{self.pattern} -> {self.replacement}"
            if self.kind is RuleKind.REGEX:
                text = f"regex {text}"
        elif self.kind is RuleKind.DROP:
            text = f"drop {self.pattern}"
        elif self.kind is RuleKind.KEEP:
            text = f"keep only {self.pattern}"
        elif self.kind is RuleKind.LAYOUT:
            text = f"{describe_layout(self.layout)} where {self.pattern}"
        else:
            text = KIND_LABELS[self.kind]
        return text + where

    def to_json(self) -> dict:
        data: dict = {"kind": self.kind.value}
        if self.kind in NEEDS_PATTERN:
            data["pattern"] = self.pattern
        if self.kind in NEEDS_REPLACEMENT:
            data["replacement"] = self.replacement
        if self.kind is RuleKind.LAYOUT:
            data["layout"] = [step.to_json() for step in self.layout]
        if self.source is not None:
            data["source"] = self.source
        return data

    @classmethod
    def from_json(cls, data: object) -> Rule:
        if not isinstance(data, dict) or "kind" not in data:
            raise ValueError(f"a rule must be an object with a 'kind', not {data!r}")
        try:
            kind = RuleKind(data["kind"])
        except ValueError:
            known = ", ".join(k.value for k in RuleKind)
            raise ValueError(f"unknown rule kind {data['kind']!r} (known: {known})") from None
        source = data.get("source")
        if source is not None and (not isinstance(source, int) or source < 0):
            raise ValueError(f"a rule's source must be a source number from 0, not {source!r}")
        steps = data.get("layout", [])
        if not isinstance(steps, list):
            raise ValueError(f"a rule's layout must be a list of steps, not {steps!r}")
        layout = tuple(LayoutStep.from_json(step) for step in steps)
        pattern, replacement = str(data.get("pattern", "")), str(data.get("replacement", ""))
        rule = cls(kind, pattern, replacement, source, layout)
        rule.validate()
        return rule


def parse_rename(text: str) -> Rule:
    """`OLD=NEW` from the command line: a scope rename if OLD ends in `/`, else one name."""
    old, sep, new = text.partition("=")
    if not sep or not old:
        raise ValueError(f"bad rule {text!r}: expected OLD=NEW, e.g. bert/=encoder/")
    kind = RuleKind.SCOPE if old.endswith("/") else RuleKind.NAME
    rule = Rule(kind, old, new)
    rule.validate()
    return rule


def parse_regex(text: str) -> Rule:
    """`PATTERN=REPLACEMENT` (the last `=` splits, so a pattern may contain `=`... in a group)."""
    pattern, sep, replacement = text.rpartition("=")
    if not sep or not pattern:
        raise ValueError(f"bad regex rule {text!r}: expected PATTERN=REPLACEMENT")
    rule = Rule(RuleKind.REGEX, pattern, replacement)
    rule.validate()
    return rule


@dataclass(frozen=True)
class SourceTensor:
    """What rules may look at: which source, its key, its kind and, for TF2, its object path."""

    source: int
    key: str
    kind: TensorKind
    object_path: str  # the readable object path for a TF2 key; the key itself otherwise
    start: str = ""  # the name rules start from, when not the key (a frozen graph's variable)


@dataclass
class RuleEffect:
    """What one rule did: (before, after) renames and the names it dropped."""

    rule: Rule
    renamed: list[tuple[str, str]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)


@dataclass
class RulesOutcome:
    """Per source tensor (same order as given): its name after the rules, or None if dropped."""

    names: list[str | None]
    dropped_by: list[int | None]  # index of the rule that dropped it
    effects: list[RuleEffect]
    layouts: list[tuple[LayoutStep, ...]] = field(default_factory=list)  # per tensor, in order


def apply_rules(rules: Sequence[Rule], tensors: Sequence[SourceTensor]) -> RulesOutcome:
    """Run `rules` in order over `tensors`; a rule that does not validate raises ValueError."""
    names: list[str | None] = [t.start or t.key for t in tensors]
    dropped_by: list[int | None] = [None] * len(tensors)
    layouts: list[tuple[LayoutStep, ...]] = [()] * len(tensors)
    effects = []
    for index, rule in enumerate(rules):
        rule.validate()
        effect = RuleEffect(rule)
        if rule.source is None:
            selected = [i for i, name in enumerate(names) if name is not None]
        else:
            selected = [
                i
                for i, (t, name) in enumerate(zip(tensors, names))
                if name is not None and t.source == rule.source
            ]
        old_names = [names[i] for i in selected]
        if rule.kind is RuleKind.LAYOUT:
            search = re.compile(rule.pattern).search
            for i, name in zip(selected, old_names):
                if search(name):
                    layouts[i] = layouts[i] + rule.layout
            effects.append(effect)
            continue
        new_names = _RULE_FUNCTIONS[rule.kind](rule, old_names, tensors, selected)
        # Comprehensions rather than one loop: this runs over every name for every rule.
        effect.renamed = [(o, n) for o, n in zip(old_names, new_names) if n is not None and n != o]
        effect.dropped = [o for o, n in zip(old_names, new_names) if n is None]
        if len(selected) == len(names):
            names = list(new_names)
        else:
            for i, new in zip(selected, new_names):
                names[i] = new
        if effect.dropped:
            for i, new in zip(selected, new_names):
                if new is None:
                    dropped_by[i] = index
        effects.append(effect)
    return RulesOutcome(names, dropped_by, effects, layouts)


# -- one function per kind: (rule, current names, all tensors, their indices) -> new names ------

Names = list[str]
NewNames = list[str | None]


def _scope(rule: Rule, names: Names, tensors, indices) -> NewNames:
    old = rule.pattern.strip("/")
    new = rule.replacement.strip("/")
    if not old:  # "/" -> "scope/": everything under a scope
        return [f"{new}/{n}" if new else n for n in names]
    prefix = old + "/"
    return [
        (f"{new}/{n[len(prefix) :]}" if new else n[len(prefix) :]) if n.startswith(prefix) else n
        for n in names
    ]


def _exact(rule: Rule, names: Names, tensors, indices) -> NewNames:
    return [rule.replacement if n == rule.pattern else n for n in names]


def _regex(rule: Rule, names: Names, tensors, indices) -> NewNames:
    compiled = re.compile(rule.pattern)
    result: NewNames = []
    for name in names:
        new = compiled.sub(rule.replacement, name)
        result.append(new or None)  # a name replaced by nothing is dropped
    return result


def _drop(rule: Rule, names: Names, tensors, indices) -> NewNames:
    search = re.compile(rule.pattern).search
    return [None if search(n) else n for n in names]


def _keep(rule: Rule, names: Names, tensors, indices) -> NewNames:
    search = re.compile(rule.pattern).search
    return [n if search(n) else None for n in names]


def _ema(rule: Rule, names: Names, tensors, indices) -> NewNames:
    """`x/ExponentialMovingAverage` becomes `x`; the raw `x` of the same source is dropped."""
    suffix = "/" + EMA_SEGMENT
    shadowed = {
        (tensors[i].source, n[: -len(suffix)]) for i, n in zip(indices, names) if n.endswith(suffix)
    }
    result: NewNames = []
    for i, name in zip(indices, names):
        if name.endswith(suffix):
            result.append(name[: -len(suffix)])
        elif (tensors[i].source, name) in shadowed:
            result.append(None)
        else:
            result.append(name)
    return result


def _drop_optimizer(rule: Rule, names: Names, tensors, indices) -> NewNames:
    return [None if tensors[i].kind is TensorKind.OPTIMIZER else n for i, n in zip(indices, names)]


def _to_object_paths(rule: Rule, names: Names, tensors, indices) -> NewNames:
    """A TF2 variable key becomes its object path; slots and other names stay as they are."""
    result: NewNames = []
    for i, name in zip(indices, names):
        if not name.endswith(VARIABLE_VALUE_SUFFIX) or SLOT_MARKER in name:
            result.append(name)
        elif name == tensors[i].key and _is_plain_path(tensors[i].object_path):
            result.append(tensors[i].object_path)
        else:
            result.append(unescape_key_path(name[: -len(VARIABLE_VALUE_SUFFIX)]))
    return result


def _to_keys(rule: Rule, names: Names, tensors, indices) -> NewNames:
    """An object path becomes the TF2 key of that variable; keys and slots stay as they are."""
    return [n if ATTRIBUTES_MARKER in n else key_of_object_path(n) for n in names]


_RULE_FUNCTIONS = {
    RuleKind.SCOPE: _scope,
    RuleKind.NAME: _exact,
    RuleKind.REGEX: _regex,
    RuleKind.DROP: _drop,
    RuleKind.KEEP: _keep,
    RuleKind.EMA: _ema,
    RuleKind.DROP_OPTIMIZER: _drop_optimizer,
    RuleKind.TO_OBJECT_PATHS: _to_object_paths,
    RuleKind.TO_KEYS: _to_keys,
}


def key_of_object_path(path: str) -> str:
    """`model/dense/kernel` -> `model/dense/kernel/.ATTRIBUTES/VARIABLE_VALUE` (`.` escaped)."""
    return "/".join(part.replace(".", "..") for part in path.split("/")) + VARIABLE_VALUE_SUFFIX


def unescape_key_path(path: str) -> str:
    """Undo TensorFlow's escaping of local names inside a key (`..` -> `.`, `.S` -> `/`)."""
    return re.sub(r"\.(.)", lambda m: {".": ".", "S": "/"}.get(m.group(1), m.group(0)), path)


def _is_plain_path(path: str) -> bool:
    """An object path usable as a name (not a slot's `x (optimizer m)` description)."""
    return bool(path) and " (" not in path


def _check_groups(compiled: re.Pattern, replacement: str) -> None:
    """re.sub only complains about a missing group when it matches; check up front."""
    for match in re.finditer(r"\\(\d+)|\\g<(\w+)>", replacement):
        group = match.group(1) or match.group(2)
        if group.isdigit() and int(group) > compiled.groups:
            raise IndexError(f"the pattern has no group {group}")
        if not group.isdigit() and group not in compiled.groupindex:
            raise IndexError(f"the pattern has no group named {group!r}")
