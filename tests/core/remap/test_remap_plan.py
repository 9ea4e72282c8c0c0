"""The remap plan's checks, suggestions, overrides and mapping files, without TensorFlow.

Inputs are written with the format layer's writer (tested against TensorFlow elsewhere); the
restores of real outputs are in test_remap_write.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

from ckpt_browser.core.remap.plan import ProblemKind, RemapInputs, SourceRef, Status, build_plan
from ckpt_browser.core.remap.rules import Rule, RuleKind
from ckpt_browser.core.remap.spec import Override, RemapSpec, load_spec, save_spec
from ckpt_browser.core.remap.suggest import suggest
from ckpt_browser.format import CheckpointError
from ckpt_browser.format.v2.writer import CheckpointWriter


def write(prefix, tensors: dict[str, np.ndarray]) -> str:
    with CheckpointWriter(prefix) as writer:
        for name, value in tensors.items():
            writer.add(name, value)
    return str(prefix)


@pytest.fixture
def inputs(tmp_path):
    """Two sources and a template target that together show every problem kind."""
    rng = np.random.default_rng(0)
    first = write(
        tmp_path / "first" / "ckpt",
        {
            "a/w": rng.normal(size=(2, 3)).astype(np.float32),
            "a/b": np.ones(3, np.float32),
            "a/r": np.arange(6, dtype=np.float32).reshape(2, 3),
            "a/bad": np.zeros((2, 3), np.float32),
            "a/words": np.array([b"x", b"y"], dtype=object),
            "step": np.array(5, np.int64),
        },
    )
    second = write(tmp_path / "second" / "ckpt", {"a/w": np.full((2, 3), 7, np.float32)})
    target = write(
        tmp_path / "target" / "ckpt",
        {
            "x/w": np.zeros((2, 3), np.float32),
            "x/b": np.zeros(3, ml_dtypes.bfloat16),
            "x/r": np.zeros(6, np.float32),
            "x/bad": np.zeros(5, np.float32),
            "x/words": np.array([b"", b""], dtype=object),
            "x/new": np.full(4, 3, np.float32),
        },
    )
    spec = RemapSpec(sources=[first, second], target=target, rules=[Rule("scope", "a/", "x/")])
    opened = RemapInputs.open(spec)
    yield spec, opened
    opened.close()


def problem(plan, kind):
    found = [p for p in plan.problems if p.kind is kind]
    return found[0] if found else None


def test_every_problem_kind_is_reported_with_its_names(inputs):
    spec, opened = inputs
    plan = build_plan(spec, opened)
    assert problem(plan, ProblemKind.MISSING).names == ("x/new",)
    assert set(problem(plan, ProblemKind.SHAPE).names) == {"x/r", "x/bad"}
    assert problem(plan, ProblemKind.DTYPE).names == ("x/b",)
    assert problem(plan, ProblemKind.DUPLICATE).names == ("x/w",)
    assert problem(plan, ProblemKind.UNUSED).names == ("step (source 1)",)
    assert "not found in checkpoint" in problem(plan, ProblemKind.MISSING).message
    assert {p.kind for p in plan.blocking} == {
        ProblemKind.MISSING,
        ProblemKind.SHAPE,
        ProblemKind.DTYPE,
        ProblemKind.DUPLICATE,
    }
    row = plan.rows_by_name["x/r"]
    assert row.status is Status.SHAPE and "reshape possible" in row.detail
    assert plan.rows_by_name["x/words"].status is Status.OK
    assert "5 missing" not in plan.summary() and "1 missing" in plan.summary()


def test_options_and_overrides_resolve_the_problems(inputs):
    spec, opened = inputs
    spec.allow_reshape = True
    spec.cast = "target"
    spec.keep_template = True
    spec.overrides = {
        "x/w": Override.from_source(1, "a/w"),
        "x/bad": Override.from_template(),
    }
    plan = build_plan(spec, opened)
    assert not plan.blocking, plan.problems
    rows = plan.rows_by_name
    assert rows["x/r"].status is Status.RESHAPE and rows["x/r"].shape == (6,)
    assert rows["x/b"].status is Status.CAST and rows["x/b"].dtype == "bfloat16"
    assert rows["x/new"].status is Status.TEMPLATE
    assert rows["x/bad"].status is Status.TEMPLATE and rows["x/bad"].by_hand
    assert rows["x/w"].source == SourceRef(1, "a/w")
    # the first source's a/w lost the clash: it is now unused, and said so
    assert "a/w (source 1 -> x/w)" in problem(plan, ProblemKind.UNUSED).names


def test_counts_that_differ_never_reshape_and_strings_never_cast(inputs):
    spec, opened = inputs
    spec.allow_reshape = True
    spec.cast = "target"
    plan = build_plan(spec, opened)
    assert plan.rows_by_name["x/bad"].status is Status.SHAPE
    spec.cast = "float16"  # every floating tensor to float16: now a mismatch with float32 targets
    plan = build_plan(spec, opened)
    assert plan.rows_by_name["x/r"].status is Status.DTYPE
    assert plan.rows_by_name["x/words"].status is Status.OK


def test_without_target_the_rules_decide_the_names(inputs):
    spec, opened = inputs
    spec.target = None
    no_target = RemapInputs(opened.sources, None)
    spec.rules = [Rule("keep", "^a/w$"), Rule("scope", "/", "m/", source=1)]
    spec.cast = "bfloat16"
    plan = build_plan(spec, no_target)
    assert [r.name for r in plan.rows] == ["a/w", "m/a/w"]
    assert all(r.dtype == "bfloat16" and r.status is Status.CAST for r in plan.rows)
    spec.overrides = {"a/w": Override.left_out()}
    plan = build_plan(spec, no_target)
    assert [r.name for r in plan.rows] == ["m/a/w"]
    assert not plan.unused  # left out by hand is not "unused"


def test_suggestions_for_missing_names(tmp_path):
    source = write(
        tmp_path / "s" / "ckpt",
        {
            "bert/layer_0/kernel": np.zeros((4, 4), np.float32),
            "bert/layer_1/kernel": np.zeros((4, 4), np.float32),
            "bert/pooler/dense/bias": np.zeros(4, np.float32),
        },
    )
    target = write(
        tmp_path / "t" / "ckpt",
        {
            "encoder/layer_0/kernel": np.zeros((4, 4), np.float32),
            "encoder/pooler/dense/bias": np.zeros(4, np.float32),
            "bert/layer_1/kernel": np.zeros((4, 4), np.float32),
        },
    )
    spec = RemapSpec(sources=[source], target=target, rules=[Rule("drop", "layer_1")])
    with_inputs = RemapInputs.open(spec)
    try:
        plan = build_plan(spec, with_inputs)
        assert plan.count(ProblemKind.MISSING) == 3
        found = suggest(plan, with_inputs)
        assert found["bert/layer_1/kernel"][0].source.key == "bert/layer_1/kernel"
        assert found["bert/layer_1/kernel"][0].reason == "same name"
        assert found["encoder/layer_0/kernel"][0].source.key == "bert/layer_0/kernel"
        assert "same tail" in found["encoder/layer_0/kernel"][0].reason
        assert found["encoder/pooler/dense/bias"][0].source.key == "bert/pooler/dense/bias"
        spec.overrides = {
            s[0].target: Override.from_source(0, s[0].source.key) for s in found.values()
        }
        assert not build_plan(spec, with_inputs).blocking
    finally:
        with_inputs.close()


def test_mapping_saves_and_loads_as_json(tmp_path, inputs):
    spec, _ = inputs
    spec.overrides = {"x/w": Override.from_source(1, "a/w"), "x/new": Override.from_template()}
    spec.allow_reshape = True
    spec.cast = "target"
    path = tmp_path / "map.json"
    save_spec(spec, path)
    assert load_spec(path) == spec
    assert json.loads(path.read_text())["rules"] == [
        {"kind": "scope", "pattern": "a/", "replacement": "x/"}
    ]
    path.write_text('{"rules": [{"kind": "regex", "pattern": "(", "replacement": ""}]}')
    with pytest.raises(CheckpointError, match="bad mapping file: bad regex"):
        load_spec(path)
    path.write_text("not json")
    with pytest.raises(CheckpointError, match="not JSON"):
        load_spec(path)


def test_a_rule_on_twenty_thousand_names_plans_quickly(tmp_path):
    """Not a timing assertion: the plan must simply cope with the size (the benchmark times it)."""
    names = [f"block_{i // 20}/layer_{i % 20}/kernel" for i in range(20_000)]
    with CheckpointWriter(tmp_path / "many") as writer:
        for name in names:
            writer.add(name, np.zeros(2, np.float32))
    spec = RemapSpec(sources=[str(tmp_path / "many")], rules=[Rule(RuleKind.SCOPE, "/", "m/")])
    opened = RemapInputs.open(spec)
    try:
        plan = build_plan(spec, opened)
    finally:
        opened.close()
    assert len(plan.rows) == 20_000 and plan.rows[0].name.startswith("m/block_")


def test_a_directory_that_names_another_checkpoint_keeps_its_state_file(tmp_path):
    from ckpt_browser.core.remap.write import write_remap
    from ckpt_browser.format.v2.writer import write_checkpoint_state

    source = write(tmp_path / "run" / "model.ckpt-100", {"w": np.ones(3, np.float32)})
    state = write_checkpoint_state(tmp_path / "run", source)
    before = Path(state).read_text()
    spec = RemapSpec(sources=[source], rules=[Rule(RuleKind.SCOPE, "/", "m/")])
    opened = RemapInputs.open(spec)
    try:
        result = write_remap(build_plan(spec, opened), opened, tmp_path / "run" / "remapped")
    finally:
        opened.close()
    assert result.state_file is None and "left alone" in result.notes[0]
    assert Path(state).read_text() == before
    elsewhere = RemapInputs.open(spec)
    try:
        result = write_remap(build_plan(spec, elsewhere), elsewhere, tmp_path / "new" / "ckpt")
    finally:
        elsewhere.close()
    assert result.state_file == str(tmp_path / "new" / "checkpoint")


def test_read_back_catches_bytes_that_differ_from_their_checksum(tmp_path):
    from ckpt_browser.core.remap import write as remap_write

    source = write(tmp_path / "src" / "ckpt", {"w": np.arange(1000, dtype=np.float32)})
    spec = RemapSpec(sources=[source])
    opened = RemapInputs.open(spec)
    try:
        plan = build_plan(spec, opened)
        result = remap_write.write_remap(plan, opened, tmp_path / "out" / "ckpt")
        rows = [row for row in plan.rows if row.written]
        data = Path(result.prefix + ".data-00000-of-00001")
        damaged = bytearray(data.read_bytes())
        damaged[100] ^= 0xFF
        data.write_bytes(bytes(damaged))
        with pytest.raises(CheckpointError, match="the bytes of 'w' differ"):
            remap_write._read_back(result.prefix, rows, {"w": None}, plan)
    finally:
        opened.close()
