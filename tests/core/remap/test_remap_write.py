"""Remapped checkpoints that real TensorFlow restores: TF1 Saver graphs and TF2 Checkpoints.

The seeds of the tool: `v1`, `v2` restored as `other-v1`, `other-v2`; the EMA shadow restored as
the variable; a graph with an extra `v3` (kept from a template, or refused); a BERT-like scope
move; a Keras model restored into a differently structured `tf.train.Checkpoint`. Also: the
source is untouched, casts and reshapes, and an interrupted write leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from tf_checkpoints import import_tensorflow, write_with_tf

from ckpt_browser.core.remap.export import tensorflow_script
from ckpt_browser.core.remap.plan import ProblemKind, RemapInputs, build_plan
from ckpt_browser.core.remap.rules import Rule, RuleKind
from ckpt_browser.core.remap.spec import RemapSpec
from ckpt_browser.core.remap.write import WriteCancelled, write_remap
from ckpt_browser.format import CheckpointError, open_checkpoint


def save_tf1(directory: Path, values: dict[str, np.ndarray], *, meta_only: bool = False) -> str:
    """A TF1 graph of variables with these names and values, saved by a Saver (or only .meta)."""
    tf = import_tensorflow()
    v1 = tf.compat.v1
    directory.mkdir(parents=True, exist_ok=True)
    prefix = str(directory / "model.ckpt")
    with tf.Graph().as_default(), v1.Session() as session:
        for name, value in values.items():
            v1.get_variable(name, initializer=tf.constant(value), use_resource=True)
        saver = v1.train.Saver()
        if meta_only:
            saver.export_meta_graph(prefix + ".meta")
            return prefix + ".meta"
        session.run(v1.global_variables_initializer())
        return saver.save(session, prefix)


def restore_tf1(shapes: dict[str, tuple], prefix: str, dtypes: dict | None = None) -> dict:
    """Build a graph of these variables, restore all of them with a plain Saver, read them."""
    tf = import_tensorflow()
    v1 = tf.compat.v1
    dtypes = dtypes or {}
    with tf.Graph().as_default(), v1.Session() as session:
        variables = {
            name: v1.get_variable(
                name, shape, dtype=dtypes.get(name, tf.float32), use_resource=True
            )
            for name, shape in shapes.items()
        }
        v1.train.Saver().restore(session, prefix)
        return session.run(variables)


def remap(spec: RemapSpec, destination: Path, **options):
    inputs = RemapInputs.open(spec)
    try:
        plan = build_plan(spec, inputs)
        return plan, write_remap(plan, inputs, destination, **options)
    finally:
        inputs.close()


def digest(directory: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.iterdir())
        if p.is_file()
    }


def test_v1_v2_restore_as_other_names_and_the_source_is_untouched(tmp_path):
    values = {"v1": np.array([1.0, 2.0], np.float32), "v2": np.array([[3.0]], np.float32)}
    source = save_tf1(tmp_path / "src", values)
    before = digest(tmp_path / "src")
    spec = RemapSpec(sources=[source], rules=[Rule(RuleKind.REGEX, r"^(v\d)$", r"other-\1")])
    plan, result = remap(spec, tmp_path / "out" / "model.ckpt")
    assert not plan.problems
    assert digest(tmp_path / "src") == before
    restored = restore_tf1({"other-v1": (2,), "other-v2": (1, 1)}, result.prefix)
    np.testing.assert_array_equal(restored["other-v1"], values["v1"])
    np.testing.assert_array_equal(restored["other-v2"], values["v2"])
    # the `checkpoint` file names the output, so the directory opens as it
    tf = import_tensorflow()
    assert tf.train.latest_checkpoint(str(tmp_path / "out")) == result.prefix


def test_ema_shadow_restored_as_the_variable(tmp_path):
    tf = import_tensorflow()
    v1 = tf.compat.v1
    prefix = str(tmp_path / "src" / "model.ckpt")
    with tf.Graph().as_default(), v1.Session() as session:
        v = v1.get_variable("v", initializer=1.0, use_resource=True)
        ema = tf.train.ExponentialMovingAverage(0.9)
        update = ema.apply([v])
        session.run(v1.global_variables_initializer())
        session.run(ema.average(v).assign(0.1))
        assert ema.average_name(v) == "v/ExponentialMovingAverage"
        del update
        v1.train.Saver().save(session, prefix)
    spec = RemapSpec(sources=[prefix], rules=[Rule(RuleKind.EMA)])
    _, result = remap(spec, tmp_path / "out" / "model.ckpt")
    assert list(open_checkpoint(result.prefix)) == ["v"]
    restored = restore_tf1({"v": ()}, result.prefix)
    assert restored["v"] == pytest.approx(0.1)


def test_extra_target_variable_kept_from_the_template_or_refused(tmp_path):
    values = {"v1": np.array([1.0, 2.0], np.float32), "v2": np.array([[3.0]], np.float32)}
    source = save_tf1(tmp_path / "src", values)
    new_graph = {**values, "v3": np.array([7.0, 8.0, 9.0], np.float32)}
    new_graph = {k: np.zeros_like(v) if k != "v3" else v for k, v in new_graph.items()}
    template = save_tf1(tmp_path / "template", new_graph)
    meta_only = save_tf1(tmp_path / "graph_only", new_graph, meta_only=True)

    refused = RemapSpec(sources=[source], target=meta_only)
    inputs = RemapInputs.open(refused)
    plan = build_plan(refused, inputs)
    assert [p.names for p in plan.blocking] == [("v3",)]
    assert plan.blocking[0].kind is ProblemKind.MISSING
    with pytest.raises(CheckpointError, match="would break a restore"):
        write_remap(plan, inputs, tmp_path / "refused" / "model.ckpt")
    inputs.close()
    assert not (tmp_path / "refused").exists()

    kept = RemapSpec(sources=[source], target=template, keep_template=True)
    plan, result = remap(kept, tmp_path / "out" / "model.ckpt")
    assert not plan.blocking
    assert result.meta_path == result.prefix + ".meta"  # the output directory is complete
    restored = restore_tf1({"v1": (2,), "v2": (1, 1), "v3": (3,)}, result.prefix)
    np.testing.assert_array_equal(restored["v1"], values["v1"])
    np.testing.assert_array_equal(restored["v3"], [7.0, 8.0, 9.0])
    tf = import_tensorflow()
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        saver = tf.compat.v1.train.import_meta_graph(result.meta_path)
        saver.restore(session, result.prefix)
        restored = {v.op.name: session.run(v) for v in tf.compat.v1.global_variables()}
    np.testing.assert_array_equal(restored["v2"], values["v2"])


def make_bert_like(directory: Path) -> tuple[str, dict[str, np.ndarray]]:
    """A TF1 checkpoint under `bert/` trained one Adam step, with a global step."""
    tf = import_tensorflow()
    v1 = tf.compat.v1
    prefix = str(directory / "bert_model.ckpt")
    with tf.Graph().as_default(), v1.Session() as session:
        v1.set_random_seed(3)
        step = v1.train.get_or_create_global_step()
        with v1.variable_scope("bert"):
            embeddings = v1.get_variable("embeddings/word_embeddings", [50, 8])
            hidden = tf.nn.embedding_lookup(embeddings, [1, 2, 3])
            for layer in range(2):
                with v1.variable_scope(f"encoder/layer_{layer}/attention/self/query"):
                    kernel = v1.get_variable("kernel", [8, 8])
                    bias = v1.get_variable("bias", [8], initializer=v1.zeros_initializer())
                hidden = tf.tanh(tf.matmul(hidden, kernel) + bias)
        loss = tf.reduce_mean(tf.square(hidden))
        train = v1.train.AdamOptimizer(0.1).minimize(loss, global_step=step)
        session.run(v1.global_variables_initializer())
        session.run(train)
        values = {v.op.name: session.run(v) for v in v1.trainable_variables()}
        return v1.train.Saver().save(session, prefix), values


def test_bert_like_checkpoint_restores_into_a_graph_under_another_scope(tmp_path):
    source, values = make_bert_like(tmp_path / "bert")
    target_values = {
        "encoder/" + name.removeprefix("bert/"): np.zeros_like(value)
        for name, value in values.items()
    }
    target = save_tf1(tmp_path / "encoder", target_values, meta_only=True)
    spec = RemapSpec(
        sources=[source],
        target=target,
        rules=[Rule(RuleKind.DROP_OPTIMIZER), Rule(RuleKind.SCOPE, "bert/", "encoder/")],
    )
    plan, result = remap(spec, tmp_path / "out" / "model.ckpt")
    assert not plan.blocking
    assert problem_names(plan, ProblemKind.UNUSED) == ("global_step (source 1)",)
    shapes = {name: value.shape for name, value in target_values.items()}
    restored = restore_tf1(shapes, result.prefix)
    for name, value in values.items():
        np.testing.assert_array_equal(restored["encoder/" + name.removeprefix("bert/")], value)

    # the same mapping as a script for init_from_checkpoint and Saver var_lists
    script = tensorflow_script(plan, [source])
    tf = import_tensorflow()
    namespace: dict = {}
    exec(compile(script, "assignment_map.py", "exec"), namespace)
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        variables = {
            n: tf.compat.v1.get_variable(n, shape, use_resource=True) for n, shape in shapes.items()
        }
        namespace["init_from_checkpoints"]()
        session.run(tf.compat.v1.global_variables_initializer())
        first = session.run(variables)
        session.run([v.assign(tf.zeros_like(v)) for v in variables.values()])
        namespace["restore_with_savers"](session)
        second = session.run(variables)
    for name, value in values.items():
        np.testing.assert_array_equal(first["encoder/" + name.removeprefix("bert/")], value)
        np.testing.assert_array_equal(second["encoder/" + name.removeprefix("bert/")], value)


def problem_names(plan, kind) -> tuple[str, ...]:
    return next((p.names for p in plan.problems if p.kind is kind), ())


def test_cast_and_reshape_restore_in_tensorflow(tmp_path):
    tf = import_tensorflow()
    values = {"w": np.arange(24, dtype=np.float32).reshape(4, 6) / 7, "b": np.ones(3, np.float32)}
    source = save_tf1(tmp_path / "src", values)
    tf1 = tf.compat.v1
    target_meta = str(tmp_path / "target" / "model.ckpt.meta")
    with tf.Graph().as_default():
        tf1.get_variable("w", [24], use_resource=True)
        tf1.get_variable("b", [3], dtype=tf.bfloat16, use_resource=True)
        tf1.train.Saver().export_meta_graph(target_meta)
    spec = RemapSpec(sources=[source], target=target_meta)
    inputs = RemapInputs.open(spec)
    plan = build_plan(spec, inputs)
    inputs.close()
    assert {p.kind for p in plan.blocking} == {ProblemKind.SHAPE, ProblemKind.DTYPE}
    spec.allow_reshape, spec.cast = True, "target"
    plan, result = remap(spec, tmp_path / "out" / "model.ckpt")
    assert not plan.blocking
    restored = restore_tf1({"w": (24,), "b": (3,)}, result.prefix, dtypes={"b": tf.bfloat16})
    np.testing.assert_array_equal(restored["w"], values["w"].reshape(-1))
    assert restored["b"].dtype.name == "bfloat16"
    np.testing.assert_array_equal(restored["b"].astype(np.float32), [1, 1, 1])


def test_keras_checkpoint_restores_into_a_differently_structured_checkpoint(
    tmp_path, tf2_keras_ckpt
):
    tf = import_tensorflow()

    class Dense(tf.Module):
        def __init__(self, rows: int, cols: int) -> None:
            super().__init__()
            self.kernel = tf.Variable(tf.zeros([rows, cols]))
            self.bias = tf.Variable(tf.zeros([cols]))

    class Net(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.hidden = Dense(4, 8)
            self.out = Dense(8, 3)

    template = tf.train.Checkpoint(net=Net()).save(str(tmp_path / "template" / "ckpt"))
    spec = RemapSpec(
        sources=[tf2_keras_ckpt.prefix],
        target=template,
        rules=[
            Rule(RuleKind.DROP_OPTIMIZER),
            Rule(RuleKind.TO_OBJECT_PATHS),
            Rule(RuleKind.REGEX, r"^model/_functional/_operations/1/_?", "net/hidden/"),
            Rule(RuleKind.REGEX, r"^model/_functional/_operations/2/_?", "net/out/"),
            Rule(RuleKind.TO_KEYS),
        ],
    )
    plan, result = remap(spec, tmp_path / "out" / "ckpt")
    assert not plan.blocking, plan.problems
    assert "template's object graph" in plan.object_graph.message
    net = Net()
    status = tf.train.Checkpoint(net=net).restore(result.prefix)
    status.assert_existing_objects_matched()
    expected = list(tf2_keras_ckpt.expected.values())  # kernel 0, bias 0, kernel 1, bias 1
    restored = [net.hidden.kernel, net.hidden.bias, net.out.kernel, net.out.bias]
    for value, variable in zip(expected, restored):
        np.testing.assert_array_equal(variable.numpy(), value)


def test_renamed_tf2_keys_keep_a_valid_object_graph(tmp_path, tf2_module_ckpt):
    """Without a target, renaming TF2 keys rewrites the object graph's checkpoint_key entries."""
    tf = import_tensorflow()
    spec = RemapSpec(
        sources=[tf2_module_ckpt.prefix],
        rules=[Rule(RuleKind.DROP_OPTIMIZER), Rule(RuleKind.SCOPE, "/", "renamed/")],
    )
    plan, result = remap(spec, tmp_path / "out" / "ckpt")
    assert "keys rewritten" in plan.object_graph.message
    assert all(
        name.startswith("renamed/")
        for name in open_checkpoint(result.prefix)
        if not name.startswith("_")
    )

    class Dense(tf.Module):
        def __init__(self, rows: int, cols: int) -> None:
            super().__init__()
            self.kernel = tf.Variable(tf.zeros([rows, cols]))
            self.bias = tf.Variable(tf.zeros([cols]))

    net = tf.Module()
    net.layers = [Dense(4, 8), Dense(8, 3)]
    net.blocks = {"conv.1": Dense(3, 3), "in/out": Dense(3, 2)}
    step = tf.Variable(0, dtype=tf.int64)
    checkpoint = tf.train.Checkpoint(net=net, step=step)
    checkpoint.restore(result.prefix).assert_existing_objects_matched()
    key = "net/layers/0/kernel/.ATTRIBUTES/VARIABLE_VALUE"
    np.testing.assert_array_equal(net.layers[0].kernel.numpy(), tf2_module_ckpt.expected[key])
    np.testing.assert_array_equal(
        net.blocks["in/out"].bias.numpy(),
        tf2_module_ckpt.expected["net/blocks/in.Sout/bias/.ATTRIBUTES/VARIABLE_VALUE"],
    )


def test_interrupted_write_leaves_no_output_and_refuses_to_replace_inputs(tmp_path):
    values = {f"v{i}": np.full((256, 1024), i, np.float32) for i in range(4)}  # 4 MB in all
    source = save_tf1(tmp_path / "src", values)
    spec = RemapSpec(sources=[source])
    inputs = RemapInputs.open(spec)
    plan = build_plan(spec, inputs)
    seen = []
    destination = tmp_path / "out" / "model.ckpt"
    with pytest.raises(WriteCancelled):
        write_remap(
            plan,
            inputs,
            destination,
            progress=lambda done, total: seen.append((done, total)),
            cancel=lambda: len(seen) >= 2,
        )
    assert seen and seen[0][1] == 4 * 256 * 1024 * 4
    assert not (tmp_path / "out").exists()  # nothing left, not even the folder it made
    with pytest.raises(CheckpointError, match="replace an input"):
        write_remap(plan, inputs, source, overwrite=True)
    with pytest.raises(CheckpointError, match="already exists"):
        write_remap(plan, inputs, tmp_path / "copy")
        write_remap(plan, inputs, tmp_path / "copy")
    inputs.close()


def test_savedmodel_target_gets_its_keys_and_object_graph(tmp_path, savedmodel_dir):
    tf = import_tensorflow()
    (tmp_path / "src").mkdir()
    weights = np.arange(6, dtype=np.float32).reshape(2, 3) * 10
    offset = np.array([1.0, 2.0, 3.0], np.float32)
    source = write_with_tf(tmp_path / "src" / "scale.ckpt", {"scale/w": weights, "scale/b": offset})
    spec = RemapSpec(
        sources=[source],
        target=str(savedmodel_dir.directory),
        rules=[
            Rule(RuleKind.NAME, "scale/w", "weights"),
            Rule(RuleKind.NAME, "scale/b", "offset"),
            Rule(RuleKind.TO_KEYS),
        ],
    )
    # the output becomes the variables of a copy of the SavedModel, which TensorFlow then loads
    model = tmp_path / "model"
    model.mkdir()
    shutil.copy(savedmodel_dir.directory / "saved_model.pb", model / "saved_model.pb")
    plan, _ = remap(spec, model / "variables" / "variables")
    assert not plan.blocking and plan.object_graph.data is not None
    loaded = tf.saved_model.load(str(model))
    np.testing.assert_array_equal(loaded.weights.numpy(), weights)
    np.testing.assert_array_equal(loaded.offset.numpy(), offset)
    np.testing.assert_array_equal(loaded(tf.ones([1, 2]))["y"].numpy(), [weights.sum(0) + offset])


def test_two_tf2_sources_drop_the_object_graph_and_say_so(tmp_path, tf2_module_ckpt):
    spec = RemapSpec(
        sources=[tf2_module_ckpt.prefix, tf2_module_ckpt.prefix],
        rules=[Rule(RuleKind.SCOPE, "/", "copy/", source=1)],
    )
    plan, result = remap(spec, tmp_path / "out" / "ckpt")
    assert plan.object_graph.data is None
    assert "object graph is dropped" in plan.object_graph.message
    tf = import_tensorflow()
    names = {name for name, _ in tf.train.list_variables(result.prefix)}
    assert "_CHECKPOINTABLE_OBJECT_GRAPH" not in names
    key = "net/layers/0/kernel/.ATTRIBUTES/VARIABLE_VALUE"
    assert {key, "copy/" + key} <= names
    reader = tf.train.load_checkpoint(result.prefix)
    np.testing.assert_array_equal(reader.get_tensor("copy/" + key), tf2_module_ckpt.expected[key])


def test_partitioned_variables_restore_into_a_partitioned_graph(tmp_path, tf1_partitioned):
    """A partitioned source is written whole; TensorFlow reads the slices it wants from it."""
    tf = import_tensorflow()
    v1 = tf.compat.v1
    spec = RemapSpec(sources=[tf1_partitioned.prefix], rules=[Rule(RuleKind.SCOPE, "/", "new/")])
    _, result = remap(spec, tmp_path / "out" / "model.ckpt")
    with tf.Graph().as_default(), v1.Session() as session, v1.variable_scope("new"):
        rows = v1.get_variable(
            "pv", [10, 4], partitioner=v1.fixed_size_partitioner(3), use_resource=False
        )
        columns = v1.get_variable(
            "emb/cols",
            [2, 6],
            partitioner=v1.fixed_size_partitioner(3, axis=1),
            use_resource=False,
        )
        v1.get_variable("w", [3, 2], use_resource=False)
        v1.train.Saver().restore(session, result.prefix)
        np.testing.assert_array_equal(session.run(rows.as_tensor()), tf1_partitioned.expected["pv"])
        np.testing.assert_array_equal(
            session.run(columns.as_tensor()), tf1_partitioned.expected["emb/cols"]
        )
