"""Which tensor of checkpoint A goes with which tensor of B, before their values are compared.

A fine-tune often lives under another scope than its base (`module/dense/kernel` against
`dense/kernel`), and a TF2 checkpoint keys a variable by its object path plus an attribute suffix
(`model/dense/kernel/.ATTRIBUTES/VARIABLE_VALUE`) where TF1 uses the variable name. So each side's
names are first put in a common form, the readable name (TF2: the object path from the object
graph; TF1: the name itself) or the raw key, then one prefix rule per side rewrites them (strip
`module/`, or replace `model/` by `net/`). Names that come out equal are a pair; the rest were
added or removed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ckpt_browser.format import TensorInfo

# Kinds left out by `params_only`: optimizer state, counters and a graph's shape and axis
# constants are not the model.
NOT_PARAMETERS = frozenset({"optimizer", "counter", "object_graph", "constant"})


@dataclass(frozen=True)
class PrefixRule:
    """Replace `old` by `new` at the start of a name (`new` empty: strip it).

    A name that does not start with `old` stays as it is. An `old` without a trailing "/" still
    means a scope: stripping `module` from `module/dense/kernel` gives `dense/kernel`.
    """

    old: str
    new: str = ""

    def apply(self, name: str) -> str:
        if not self.old or not name.startswith(self.old):
            return name
        rest = name[len(self.old) :]
        if not self.old.endswith("/") and rest.startswith("/") and not self.new:
            rest = rest[1:]
        return self.new + rest

    @classmethod
    def parse(cls, text: str) -> PrefixRule:
        """`old=new` replaces, `old` alone strips (the form the command line takes)."""
        old, separator, new = text.partition("=")
        if not old:
            raise ValueError(f"bad prefix rule {text!r}: the prefix to replace is empty")
        return cls(old, new if separator else "")

    @classmethod
    def from_options(cls, strip: str | None, replace: str | None) -> PrefixRule | None:
        """The rule of a `--strip-prefix P` / `--replace-prefix OLD=NEW` pair (None: neither)."""
        if strip and replace:
            raise ValueError(
                f"a prefix is both stripped ({strip!r}) and replaced ({replace!r}); give one"
            )
        if replace:
            if "=" not in replace:
                raise ValueError(f"bad prefix replacement {replace!r}: expected OLD=NEW")
            return cls.parse(replace)
        return cls(strip) if strip else None


@dataclass(frozen=True)
class Alignment:
    """How the names of A and B are matched up."""

    prefix_a: PrefixRule | None = None
    prefix_b: PrefixRule | None = None
    readable_names: bool = True  # match TF2 object paths; False: match the raw checkpoint keys
    params_only: bool = False  # leave out optimizer slots, counters and the object graph
    match_values: bool = False  # pair names left unpaired by equal values (see value_match)

    def describe(self) -> str:
        """A short phrase for status lines and reports ("" when nothing is rewritten)."""
        parts = []
        for side, rule in (("A", self.prefix_a), ("B", self.prefix_b)):
            if rule is not None and rule.old:
                action = f"{rule.old!r} -> {rule.new!r}" if rule.new else f"strip {rule.old!r}"
                parts.append(f"{side}: {action}")
        if not self.readable_names:
            parts.append("by checkpoint key")
        if self.params_only:
            parts.append("model variables only")
        if self.match_values:
            parts.append("unpaired names matched by value")
        return ", ".join(parts)


@dataclass(frozen=True)
class AlignedPair:
    """One name of the comparison and the tensor each side has under it (None: not there)."""

    name: str
    a: TensorInfo | None
    b: TensorInfo | None


def align(
    a: Mapping[str, TensorInfo] | Iterable[TensorInfo],
    b: Mapping[str, TensorInfo] | Iterable[TensorInfo],
    alignment: Alignment | None = None,
) -> list[AlignedPair]:
    """Pair the tensors of `a` and `b` under `alignment` (default: readable names), by name."""
    alignment = alignment or Alignment()
    names_a = _aligned_names(_infos(a), alignment.prefix_a, alignment)
    names_b = _aligned_names(_infos(b), alignment.prefix_b, alignment)
    return [
        AlignedPair(name, names_a.get(name), names_b.get(name))
        for name in sorted(names_a.keys() | names_b.keys())
    ]


def _infos(source: Mapping[str, TensorInfo] | Iterable[TensorInfo]) -> list[TensorInfo]:
    return list(source.values()) if isinstance(source, Mapping) else list(source)


def _aligned_names(
    infos: list[TensorInfo], rule: PrefixRule | None, alignment: Alignment
) -> dict[str, TensorInfo]:
    """Aligned name -> tensor for one side.

    Two tensors of one side can end up with the same name (stripping `a/` from `a/x` while `x`
    exists too): the first in key order keeps it, the other is listed under its checkpoint key
    (with a number if even that is taken), so no tensor is silently dropped.
    """
    out: dict[str, TensorInfo] = {}
    for info in sorted(infos, key=lambda i: i.name):
        if alignment.params_only and _kind(info) in NOT_PARAMETERS:
            continue
        name = info.readable_name if alignment.readable_names else info.name
        if rule is not None:
            name = rule.apply(name)
        if name in out:
            name = info.name
            suffix = 1
            while name in out:
                suffix += 1
                name = f"{info.name} ({suffix})"
        out[name] = info
    return out


def _kind(info: TensorInfo) -> str:
    # TensorKind is a str Enum; compare by value so plain strings work too.
    return str(getattr(info.kind, "value", info.kind))
