"""Rename rules one by one: TensorFlow's assignment-map meaning of scopes, regex, drop, EMA..."""

from __future__ import annotations

import pytest

from ckpt_browser.core.remap.rules import (
    Rule,
    RuleKind,
    SourceTensor,
    apply_rules,
    key_of_object_path,
    parse_regex,
    parse_rename,
    unescape_key_path,
)
from ckpt_browser.format import TensorKind


def tensors(*keys: str, source: int = 0, kinds: dict | None = None) -> list[SourceTensor]:
    kinds = kinds or {}
    return [SourceTensor(source, k, kinds.get(k, TensorKind.VARIABLE), k) for k in keys]


def names_after(rules: list[Rule], items: list[SourceTensor]) -> list[str | None]:
    return apply_rules(rules, items).names


def test_scope_rename_moves_only_names_under_the_scope():
    items = tensors("bert/layer_0/kernel", "bert", "bertx/kernel", "head/bias")
    assert names_after([Rule(RuleKind.SCOPE, "bert/", "encoder/")], items) == [
        "encoder/layer_0/kernel",
        "bert",
        "bertx/kernel",
        "head/bias",
    ]


def test_root_scope_puts_everything_under_a_scope_and_back():
    items = tensors("a", "b/c")
    assert names_after([Rule(RuleKind.SCOPE, "/", "model/")], items) == ["model/a", "model/b/c"]
    assert names_after([Rule(RuleKind.SCOPE, "b/", "/")], items) == ["a", "c"]


def test_exact_name_regex_with_groups_and_rules_in_order():
    items = tensors("v1", "v2", "v10")
    rules = [Rule(RuleKind.NAME, "v1", "first"), parse_regex(r"^v(\d+)$=other-v\1")]
    assert names_after(rules, items) == ["first", "other-v2", "other-v10"]


def test_drop_and_keep_only():
    items = tensors("w", "w/Adam", "w/Adam_1", "b")
    assert names_after([Rule(RuleKind.DROP, r"/Adam(_\d+)?$")], items) == ["w", None, None, "b"]
    assert names_after([Rule(RuleKind.KEEP, r"^w")], items) == ["w", "w/Adam", "w/Adam_1", None]


def test_ema_takes_the_shadow_and_drops_the_raw_value():
    items = tensors("v", "v/ExponentialMovingAverage", "u", "global_step")
    outcome = apply_rules([Rule(RuleKind.EMA)], items)
    assert outcome.names == [None, "v", "u", "global_step"]
    assert outcome.effects[0].renamed == [("v/ExponentialMovingAverage", "v")]
    assert outcome.effects[0].dropped == ["v"]


def test_drop_optimizer_uses_the_tensor_kind():
    kinds = {"w/Adam": TensorKind.OPTIMIZER, "beta1_power": TensorKind.OPTIMIZER}
    items = tensors("w", "w/Adam", "beta1_power", kinds=kinds)
    assert names_after([Rule(RuleKind.DROP_OPTIMIZER)], items) == ["w", None, None]


def test_rule_limited_to_one_source():
    items = tensors("kernel", source=0) + tensors("kernel", source=1)
    rules = [Rule(RuleKind.SCOPE, "/", "backbone/", source=0)]
    assert names_after(rules, items) == ["backbone/kernel", "kernel"]


def test_object_paths_and_keys_round_trip():
    key = "net/blocks/conv..1/kernel/.ATTRIBUTES/VARIABLE_VALUE"
    item = SourceTensor(0, key, TensorKind.VARIABLE, "net/blocks/conv.1/kernel")
    slot = "net/w/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE"
    items = [item, SourceTensor(0, slot, TensorKind.OPTIMIZER, "net/w (optimizer m)")]
    paths = names_after([Rule(RuleKind.TO_OBJECT_PATHS)], items)
    assert paths == ["net/blocks/conv.1/kernel", slot]
    keys = names_after([Rule(RuleKind.TO_OBJECT_PATHS), Rule(RuleKind.TO_KEYS)], items)
    assert keys == [key, slot]
    assert key_of_object_path("a.b/c") == "a..b/c/.ATTRIBUTES/VARIABLE_VALUE"
    assert unescape_key_path("in.Sout/a..b") == "in/out/a.b"


def test_effects_preview_each_rule():
    items = tensors("bert/a", "bert/a/Adam", "x")
    rules = [Rule(RuleKind.DROP, "Adam"), Rule(RuleKind.SCOPE, "bert/", "enc/")]
    outcome = apply_rules(rules, items)
    assert outcome.effects[0].dropped == ["bert/a/Adam"]
    assert outcome.effects[1].renamed == [("bert/a", "enc/a")]
    assert outcome.dropped_by == [None, 0, None]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (Rule(RuleKind.REGEX, "(", "x"), "bad regex"),
        (Rule(RuleKind.REGEX, "a", r"\2"), "bad replacement"),
        (Rule(RuleKind.DROP, ""), "pattern is empty"),
        (Rule(RuleKind.NAME, "a", ""), "no new name"),
    ],
)
def test_bad_rules_say_why(rule, message):
    with pytest.raises(ValueError, match=message):
        rule.validate()


def test_command_line_forms_and_json():
    assert parse_rename("bert/=encoder/") == Rule(RuleKind.SCOPE, "bert/", "encoder/")
    assert parse_rename("v1=other-v1") == Rule(RuleKind.NAME, "v1", "other-v1")
    with pytest.raises(ValueError, match="OLD=NEW"):
        parse_rename("no-equals")
    rule = Rule(RuleKind.REGEX, "^a(.*)", r"b\1", source=1)
    assert Rule.from_json(rule.to_json()) == rule
    with pytest.raises(ValueError, match="unknown rule kind"):
        Rule.from_json({"kind": "rename-everything"})
