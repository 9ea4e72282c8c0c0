"""Matching the names of two checkpoints before comparing them: prefix rules on either side,
model variables only, TF2 object paths against TF1 names. TensorFlow writes the checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tf_checkpoints as tfc

from ckpt_browser.core.compare.alignment import Alignment, PrefixRule, align
from ckpt_browser.core.compare.checkpoints import CompareOptions, Status, compare_checkpoints
from ckpt_browser.format import open_checkpoint


@pytest.fixture(scope="module")
def scoped_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    rng = np.random.default_rng(5)
    kernel = rng.standard_normal((3, 4)).astype(np.float32)
    bias = rng.standard_normal(4).astype(np.float32)
    a = {
        "module/dense/kernel": kernel,
        "module/dense/bias": bias,
        "module/dense/kernel/Adam": kernel * 0,
        "global_step": np.array(10, np.int64),
    }
    b = {
        "dense/kernel": kernel,
        "dense/bias": bias,
        "dense/kernel/Adam": kernel * 0 + 1,
        "global_step": np.array(20, np.int64),
    }
    directory = tmp_path_factory.mktemp("scoped")
    return tfc.write_with_tf(directory / "a", a), tfc.write_with_tf(directory / "b", b)


def test_strip_prefix_and_params_only(scoped_pair):
    with open_checkpoint(scoped_pair[0]) as a, open_checkpoint(scoped_pair[1]) as b:
        plain = compare_checkpoints(a, b)
        assert plain.summary["added"] == 3 and plain.summary["removed"] == 3
        for prefix in ("module/", "module"):
            options = CompareOptions(alignment=Alignment(prefix_a=PrefixRule(prefix)))
            stripped = {i.name: i.status for i in compare_checkpoints(a, b, options).tensors}
            assert stripped == {
                "dense/bias": Status.SAME,
                "dense/kernel": Status.SAME,
                "dense/kernel/Adam": Status.CHANGED,
                "global_step": Status.CHANGED,
            }
        options = CompareOptions(alignment=Alignment(prefix_b=PrefixRule("", ""), params_only=True))
        only_params = compare_checkpoints(a, b, options)
        assert {i.name for i in only_params.tensors} == {
            "module/dense/kernel",
            "module/dense/bias",
            "dense/kernel",
            "dense/bias",
        }
        options = CompareOptions(
            alignment=Alignment(prefix_a=PrefixRule("module/"), params_only=True)
        )
        assert compare_checkpoints(a, b, options).identical


def test_replace_prefix_on_either_side(scoped_pair):
    with open_checkpoint(scoped_pair[0]) as a, open_checkpoint(scoped_pair[1]) as b:
        alignment = Alignment(
            prefix_a=PrefixRule("module/", "net/"), prefix_b=PrefixRule("dense/", "net/dense/")
        )
        result = compare_checkpoints(a, b, CompareOptions(alignment=alignment))
    names = {item.name: item.status for item in result.tensors}
    assert names["net/dense/kernel"] is Status.SAME
    assert names["net/dense/bias"] is Status.SAME


def test_prefix_rules():
    assert PrefixRule("module/").apply("module/x") == "x"
    assert PrefixRule("module").apply("module/x") == "x"
    assert PrefixRule("module").apply("modules/x") == "s/x"
    assert PrefixRule("module/").apply("other/x") == "other/x"
    assert PrefixRule("a/", "b/").apply("a/x") == "b/x"
    assert PrefixRule.parse("a/=b/") == PrefixRule("a/", "b/")
    assert PrefixRule.parse("a/") == PrefixRule("a/", "")
    assert PrefixRule.from_options(None, None) is None
    assert PrefixRule.from_options("m/", None) == PrefixRule("m/")
    with pytest.raises(ValueError, match="OLD=NEW"):
        PrefixRule.from_options(None, "m/")
    with pytest.raises(ValueError, match="give one"):
        PrefixRule.from_options("m/", "m/=n/")


def test_colliding_names_are_all_kept(scoped_pair):
    with open_checkpoint(scoped_pair[1]) as b:
        # "dense/kernel" renamed onto the existing "dense/bias": it keeps its own key instead.
        pairs = align(b, b, Alignment(prefix_a=PrefixRule("dense/kernel", "dense/bias")))
    a_names = sorted(p.a.name for p in pairs if p.a is not None)
    assert a_names == sorted(b)


def test_tf2_object_paths_against_tf1_names(tf2_module_ckpt, tmp_path: Path):
    # A TF1 checkpoint holding the same model variables under plain names without `net/`.
    values = {}
    for key, path in tf2_module_ckpt.object_paths.items():
        if path[0] == "net":
            values["/".join(path[1:])] = tf2_module_ckpt.expected[key]
    tf1 = tfc.write_with_tf(tmp_path / "tf1", values)
    with open_checkpoint(tf2_module_ckpt.prefix) as a, open_checkpoint(tf1) as b:
        alignment = Alignment(prefix_a=PrefixRule("net/"), params_only=True)
        result = compare_checkpoints(a, b, CompareOptions(alignment=alignment))
        by_key = compare_checkpoints(
            a, b, CompareOptions(alignment=Alignment(readable_names=False))
        )
    assert len(result.tensors) == len(values) == 8
    assert result.identical, result.summary
    assert by_key.summary["same"] == 0 and by_key.summary["added"] == 8
