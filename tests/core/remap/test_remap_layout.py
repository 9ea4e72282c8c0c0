"""Layout steps in rules: transposes, reshapes and casts checked against the target in the plan,
applied when writing (a TensorFlow V2 output and a safetensors one), saved in mapping files."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from safetensors.numpy import load_file

from ckpt_browser.core.remap.layout import LayoutStep
from ckpt_browser.core.remap.plan import ProblemKind, RemapInputs, Status, build_plan
from ckpt_browser.core.remap.rules import Rule
from ckpt_browser.core.remap.safetensors_output import write_remap_safetensors
from ckpt_browser.core.remap.spec import RemapSpec
from ckpt_browser.core.remap.view import RemappedCheckpoint
from ckpt_browser.core.remap.write import write_remap
from ckpt_browser.format import open_checkpoint
from ckpt_browser.format.v2.writer import CheckpointWriter

KERNEL = np.arange(12, dtype=np.float32).reshape(3, 4)
CONV = np.arange(2 * 2 * 3 * 5, dtype=np.float32).reshape(2, 2, 3, 5)


@pytest.fixture
def source(tmp_path) -> str:
    prefix = str(tmp_path / "src" / "ckpt")
    with CheckpointWriter(prefix) as writer:
        writer.add("dense/kernel", KERNEL)
        writer.add("conv/kernel", CONV)
        writer.add("dense/bias", np.ones(4, np.float32))
    return prefix


def _layout(pattern: str, *steps: dict) -> Rule:
    return Rule("layout", pattern, layout=tuple(LayoutStep.from_json(s) for s in steps))


RULES = [
    _layout("^dense/kernel$", {"transpose": [1, 0]}),
    _layout("^conv/kernel$", {"transpose": [3, 2, 0, 1]}),
    _layout("bias$", {"reshape": [2, -1]}, {"cast": "bfloat16"}),
]


def test_the_plan_shows_laid_out_shapes_and_both_writers_apply_them(source, tmp_path):
    spec = RemapSpec(sources=[source], rules=RULES)
    inputs = RemapInputs.open(spec)
    try:
        plan = build_plan(spec, inputs)
        rows = plan.rows_by_name
        assert rows["dense/kernel"].shape == (4, 3)
        assert rows["dense/kernel"].detail == "transpose [1, 0]"
        assert rows["conv/kernel"].shape == (5, 3, 2, 2)
        assert (rows["dense/bias"].shape, rows["dense/bias"].dtype) == ((2, 2), "bfloat16")
        assert not plan.blocking
        write_remap(plan, inputs, tmp_path / "out" / "ckpt")
        result = write_remap_safetensors(plan, inputs, tmp_path / "out.safetensors")
    finally:
        inputs.close()
    assert result.tensors == 3
    written = load_file(str(tmp_path / "out.safetensors"))
    with open_checkpoint(tmp_path / "out" / "ckpt") as v2:
        for values in (written, {name: v2.read(name) for name in v2}):
            np.testing.assert_array_equal(values["dense/kernel"], KERNEL.T)
            np.testing.assert_array_equal(values["conv/kernel"], CONV.transpose(3, 2, 0, 1))
            assert values["dense/bias"].dtype == ml_dtypes.bfloat16
            assert values["dense/bias"].shape == (2, 2)


def test_a_step_that_does_not_fit_blocks_with_its_reason(source):
    spec = RemapSpec(sources=[source], rules=[_layout("kernel$", {"transpose": [1, 0]})])
    inputs = RemapInputs.open(spec)
    try:
        plan = build_plan(spec, inputs)
    finally:
        inputs.close()
    row = plan.rows_by_name["conv/kernel"]
    assert row.status is Status.LAYOUT
    assert row.detail == "transpose [1, 0] needs 2 axes, the tensor has 4 ([2, 2, 3, 5])"
    assert [p.kind for p in plan.blocking] == [ProblemKind.LAYOUT]


def test_a_target_shape_that_wants_the_transpose_is_met_only_with_the_step(source, tmp_path):
    target = str(tmp_path / "target" / "ckpt")
    with CheckpointWriter(target) as writer:
        writer.add("dense/kernel", np.zeros((4, 3), np.float32))
    for rules, status in (([], Status.SHAPE), (RULES[:1], Status.OK)):
        spec = RemapSpec(
            sources=[source], target=target, rules=[Rule("keep", "dense/kernel"), *rules]
        )
        inputs = RemapInputs.open(spec)
        try:
            assert build_plan(spec, inputs).rows_by_name["dense/kernel"].status is status
        finally:
            inputs.close()


def test_layout_rules_save_and_load_and_refuse_bad_steps():
    for rule in RULES:
        assert Rule.from_json(rule.to_json()) == rule
    with pytest.raises(ValueError, match="not a permutation"):
        Rule.from_json({"kind": "layout", "pattern": "x", "layout": [{"transpose": [0, 0]}]})
    with pytest.raises(ValueError, match="has no steps"):
        Rule.from_json({"kind": "layout", "pattern": "x"})
    with pytest.raises(ValueError, match="a layout step is one of"):
        Rule.from_json({"kind": "layout", "pattern": "x", "layout": [{"flip": [0]}]})


def test_a_checkpoint_seen_through_rules_reads_laid_out_slices(source):
    with open_checkpoint(source) as opened:
        view = RemappedCheckpoint(opened, [*RULES, Rule("regex", "/", ".")])
        assert sorted(view) == ["conv.kernel", "dense.bias", "dense.kernel"]
        assert view["dense.kernel"].shape == (4, 3)
        np.testing.assert_array_equal(view.read("dense.kernel", (slice(1, 3),)), KERNEL.T[1:3])
        assert view.read("dense.bias").dtype == ml_dtypes.bfloat16


def test_unmapped_names_get_same_or_transposed_shape_suggestions_ranked_by_name_tail(
    source, tmp_path
):
    from ckpt_browser.core.remap.suggest import suggest

    target = str(tmp_path / "target" / "ckpt")
    with CheckpointWriter(target) as writer:
        writer.add("model.dense.weight", np.zeros((4, 3), np.float32))  # [out, in]
        writer.add("model.dense.bias", np.zeros(4, np.float32))
    spec = RemapSpec(sources=[source], target=target)
    inputs = RemapInputs.open(spec)
    try:
        plan = build_plan(spec, inputs)
        found = suggest(plan, inputs)
    finally:
        inputs.close()
    weight = found["model.dense.weight"][0]
    assert weight.source.key == "dense/kernel"
    assert weight.reason.startswith("transposed shape [3, 4]: add a transpose layout step")
    assert found["model.dense.bias"][0].source.key == "dense/bias"
