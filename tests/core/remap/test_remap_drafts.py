"""Remap configurations kept for later: what a draft holds, how it is found, what is dropped."""

from __future__ import annotations

import os

from ckpt_browser.core.remap.drafts import DRAFT_LIMIT, Draft, DraftStore, draft_key
from ckpt_browser.core.remap.rules import Rule, RuleKind
from ckpt_browser.core.remap.spec import Override, RemapSpec


def _draft() -> Draft:
    spec = RemapSpec(
        sources=["/data/run/model.ckpt", "/data/head/model.ckpt"],
        target="/data/new/graph.meta",
        rules=[Rule(RuleKind.SCOPE, "bert/", "encoder/"), Rule(RuleKind.DROP, "Adam")],
        overrides={"encoder/w": Override.from_source(1, "w"), "v3": Override.from_template()},
        allow_reshape=True,
        cast="bfloat16",
    )
    return Draft(spec, "/data/out/model.ckpt")


def test_a_kept_draft_comes_back_whole_through_the_store_text() -> None:
    store = DraftStore()
    store.keep("k", _draft())
    again = DraftStore(store.to_text()).get("k")
    assert again is not None and again.to_json() == _draft().to_json()
    assert [r.describe() for r in again.spec.rules] == [r.describe() for r in _draft().spec.rules]
    assert again.output == "/data/out/model.ckpt"


def test_describe_says_what_would_be_kept_in_words() -> None:
    assert _draft().describe() == (
        "the target graph.meta, 2 rules, 2 names decided by hand, the options "
        "and the output /data/out/model.ckpt"
    )
    one_rule = Draft(RemapSpec(rules=[Rule(RuleKind.SCOPE, "a/", "b/")]))
    assert one_rule.describe() == "1 rule"


def test_the_key_is_the_resolved_paths_so_a_symlink_finds_the_same_draft(tmp_path) -> None:
    (tmp_path / "run").mkdir()
    os.symlink(tmp_path / "run", tmp_path / "latest")
    assert draft_key([str(tmp_path / "latest" / "model.ckpt")]) == draft_key(
        [str(tmp_path / "run" / "model.ckpt")]
    )
    assert draft_key(["a", "b"]) != draft_key(["b", "a"])  # rules may name source 1 or 2


def test_discard_limit_and_damaged_text() -> None:
    store = DraftStore()
    for number in range(DRAFT_LIMIT + 3):
        store.keep(str(number), _draft())
    assert len(store) == DRAFT_LIMIT
    assert store.get("0") is None and store.get(str(DRAFT_LIMIT + 2)) is not None
    store.discard(str(DRAFT_LIMIT + 2))
    assert store.get(str(DRAFT_LIMIT + 2)) is None
    assert len(DraftStore("{not json")) == 0
    unreadable = DraftStore('{"k": {"spec": {"version": 99}}}')
    assert unreadable.get("k") is None  # a newer version's draft is ignored, not a crash
