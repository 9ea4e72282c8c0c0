"""Frozen GraphDefs made by TensorFlow's own freezers, from models whose checkpoints are kept.

Freezing turns each variable into a Const node holding its value. The TF1 freezer
(`graph_util.convert_variables_to_constants`) names the Const after the variable, so the graph
lines up with the Saver checkpoint by name; importing the graph (`tf.import_graph_def`) puts
`import/` before every name, and Grappler's constant folding (run by TF-Lite, TF-TRT and any
session) folds each `x/read` Identity into a Const named `x/read`. The TF2 freezer
(`convert_variables_to_constants_v2`) names the Const after the placeholder that captured the
variable in the function (`sequential_1/dense_1/Cast/ReadVariableOp/resource`), a name that
nothing in the object-based checkpoint (`model/_functional/_operations/4/_kernel/...`) gives
back: the makers record which Const holds which checkpoint key, from the function's captures.

Like `tf_training_checkpoints.py`, each `make_*` function fills a directory and returns a frozen
dataclass; `tests/conftest.py` makes them session fixtures. Expected values are TensorFlow's
`tf.make_ndarray` of each Const's `value` attribute.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tf_checkpoints import import_tensorflow

VALUE_KEY = "/.ATTRIBUTES/VARIABLE_VALUE"


@dataclass(frozen=True)
class FrozenPb:
    """One binary GraphDef file and what TensorFlow says its Const nodes hold."""

    path: Path
    # every Const -> tf.make_ndarray of its value; a Const of the function library is named
    # `<function name>/<node name>`
    constants: Mapping[str, np.ndarray]
    dtypes: Mapping[str, str]  # every Const -> TensorFlow's name of its dtype ("float32", "string")
    weights: Mapping[str, str]  # Const holding a frozen variable -> that variable's checkpoint key
    shape_constants: tuple[str, ...]  # Consts that only give shapes and axes: not weights


@dataclass(frozen=True)
class Tf1Frozen:
    """A TF1 model trained two steps with Adam, its Saver checkpoint and four frozen graphs."""

    prefix: str  # the checkpoint the graphs were frozen from, in the same session
    variables: Mapping[str, np.ndarray]  # every frozen variable -> its value in the checkpoint
    optimizer_slots: tuple[str, ...]  # checkpoint keys the graphs do not hold: Adam state
    counters: tuple[str, ...]  # global_step
    plain: FrozenPb  # convert_variables_to_constants: Const `conv1/kernel`
    imported: FrozenPb  # through tf.import_graph_def: Const `import/conv1/kernel`
    folded: FrozenPb  # then Grappler's constant folding: Const `conv1/kernel/read`
    folded_imported: FrozenPb  # both: Const `import/conv1/kernel/read`

    @property
    def graphs(self) -> dict[str, FrozenPb]:
        return {
            "plain": self.plain,
            "imported": self.imported,
            "folded": self.folded,
            "folded_imported": self.folded_imported,
        }


@dataclass(frozen=True)
class Tf2Frozen:
    """A TF2 model frozen with convert_variables_to_constants_v2 and its tf.train.Checkpoint."""

    prefix: str
    variables: Mapping[str, np.ndarray]  # checkpoint key of each frozen variable -> value
    graph: FrozenPb  # weights: Const name -> checkpoint key (no name in common)


@dataclass(frozen=True)
class ConstantsPb:
    """A graph of Consts stored every way TensorFlow stores a value (none are variables)."""

    path: Path
    constants: Mapping[str, np.ndarray]
    dtypes: Mapping[str, str]
    splat: str  # float_val [0.5] for shape [100], as TensorFlow writes tf.constant(0.5, shape=...)
    repeated_last: str  # float_val [1, 2, 3] for shape [2, 3]: the last value fills the rest
    no_values: str  # shape [2, 2] and no values at all: zeros
    content: str  # the bytes in tensor_content


# --- reading a GraphDef as TensorFlow does --------------------------------------------------------


def const_nodes(graph_def) -> dict[str, object]:
    """Every Const NodeDef by the name the browser gives it (`<function>/<node>` in the library)."""
    nodes = {node.name: node for node in graph_def.node if node.op == "Const"}
    for function in graph_def.library.function:
        for node in function.node_def:
            if node.op == "Const":
                nodes[f"{function.signature.name}/{node.name}"] = node
    return nodes


def constant_values(graph_def) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(value, dtype name) of every Const, as TensorFlow's MakeNdarray decodes it."""
    tf = import_tensorflow()
    nodes = const_nodes(graph_def)
    values = {name: tf.make_ndarray(node.attr["value"].tensor) for name, node in nodes.items()}
    dtypes = {
        name: tf.dtypes.as_dtype(node.attr["dtype"].type).name for name, node in nodes.items()
    }
    return values, dtypes


def write_frozen(
    path: Path, graph_def, weights: Mapping[str, str], shape_constants: tuple[str, ...]
) -> FrozenPb:
    path.write_bytes(graph_def.SerializeToString())
    values, dtypes = constant_values(graph_def)
    assert set(weights) <= set(values) and set(shape_constants) <= set(values), sorted(values)
    return FrozenPb(path, values, dtypes, dict(weights), shape_constants)


def parse_graph_def(path: Path):
    """The GraphDef of a `.pb` file, with TensorFlow's message class (to edit and re-serialize)."""
    tf = import_tensorflow()
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(Path(path).read_bytes())
    return graph_def


# --- TF1: Saver checkpoint, convert_variables_to_constants, import, Grappler -------------------


def make_tf1_frozen(directory: Path) -> Tf1Frozen:
    """Conv -> fused batch norm -> dense, with an int32 lookup table; trained two steps, saved,
    frozen.

    Ref variables (`use_resource=False`), as TF1 models were, so each variable has the `x/read`
    Identity that Grappler folds into a Const. The reshape target shapes and the gather and
    concat axes are Consts that are not weights.
    """
    tf = import_tensorflow()
    v1 = tf.compat.v1
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(14)
    feed_values = (
        rng.normal(size=(4, 6, 6, 1)).astype(np.float32),
        rng.integers(0, 10, size=(4, 2)).astype(np.int32),
        rng.normal(size=(4, 3)).astype(np.float32),
    )
    with tf.Graph().as_default(), v1.Session() as session:
        v1.set_random_seed(14)
        global_step = v1.train.get_or_create_global_step()
        images = v1.placeholder(tf.float32, [None, 6, 6, 1], name="images")
        ids = v1.placeholder(tf.int32, [None, 2], name="ids")
        targets = v1.placeholder(tf.float32, [None, 3], name="targets")

        def variable(name: str, shape: list[int], **options):
            return v1.get_variable(name, shape, use_resource=False, **options)

        with v1.variable_scope("conv1"):
            kernel = variable("kernel", [3, 3, 1, 4])
            bias = variable("bias", [4], initializer=v1.constant_initializer(0.1))
        with v1.variable_scope("bn"):
            gamma = variable("gamma", [4], initializer=v1.ones_initializer())
            beta = variable("beta", [4], initializer=v1.zeros_initializer())
            zeros, ones = v1.zeros_initializer(), v1.ones_initializer()
            moving_mean = variable("moving_mean", [4], initializer=zeros, trainable=False)
            moving_variance = variable("moving_variance", [4], initializer=ones, trainable=False)
        with v1.variable_scope("emb"):  # token ids of 10 buckets: an int32 weight of rank 2
            table_values = (np.arange(30, dtype=np.int32) * 7 % 11).reshape(10, 3)
            table = variable(
                "table",
                [10, 3],
                dtype=tf.int32,
                initializer=v1.constant_initializer(table_values),
                trainable=False,
            )
        hidden = tf.nn.bias_add(tf.nn.conv2d(images, kernel, 1, "SAME"), bias)
        batch_mean, batch_variance = tf.nn.moments(hidden, [0, 1, 2])
        hidden, _, _ = v1.nn.fused_batch_norm(
            hidden, gamma, beta, moving_mean, moving_variance, is_training=False
        )
        hidden = tf.reshape(tf.nn.relu(hidden), [-1, 6 * 6 * 4])
        embedded = tf.reshape(tf.cast(tf.gather(table, ids), tf.float32), [-1, 6])
        hidden = tf.concat([hidden, embedded], axis=1)
        with v1.variable_scope("dense"):
            dense_kernel = variable("kernel", [150, 3])
            dense_bias = variable("bias", [3], initializer=v1.zeros_initializer())
        output = tf.identity(tf.matmul(hidden, dense_kernel) + dense_bias, name="output")

        optimizer = v1.train.AdamOptimizer(0.01)
        loss = tf.reduce_mean(tf.square(output - targets))
        minimize = optimizer.minimize(loss, global_step=global_step)
        with tf.control_dependencies([minimize]):
            train_op = tf.group(
                v1.assign(moving_mean, 0.9 * moving_mean + 0.1 * batch_mean),
                v1.assign(moving_variance, 0.9 * moving_variance + 0.1 * batch_variance),
            )
        saver = v1.train.Saver()
        session.run(v1.global_variables_initializer())
        feed = dict(zip((images, ids, targets), feed_values, strict=True))
        for _ in range(2):
            session.run(train_op, feed)
        prefix = saver.save(session, str(directory / "model.ckpt"), global_step=global_step)
        frozen_variables = (kernel, bias, gamma, beta, moving_mean, moving_variance, table)
        frozen_variables += (dense_kernel, dense_bias)
        variables = {v.op.name: session.run(v) for v in frozen_variables}
        optimizer_slots = tuple(v.op.name for v in optimizer.variables())
        graph_def = v1.graph_util.convert_variables_to_constants(
            session, session.graph.as_graph_def(), ["output"]
        )

    shape_constants = ("Reshape/shape", "Reshape_1/shape", "GatherV2/axis", "concat/axis")
    plain = write_frozen(
        directory / "frozen.pb", graph_def, {name: name for name in variables}, shape_constants
    )
    imported_def = _imported(graph_def)
    imported = write_frozen(
        directory / "imported.pb",
        imported_def,
        {f"import/{name}": name for name in variables},
        tuple(f"import/{name}" for name in shape_constants),
    )
    folded_def = _constant_folded(graph_def, "output")
    folded = write_frozen(
        directory / "folded.pb",
        folded_def,
        {f"{name}/read": name for name in variables},
        shape_constants,
    )
    folded_imported = write_frozen(
        directory / "folded_imported.pb",
        _imported(folded_def),
        {f"import/{name}/read": name for name in variables},
        tuple(f"import/{name}" for name in shape_constants),
    )
    return Tf1Frozen(
        prefix=prefix,
        variables=variables,
        optimizer_slots=optimizer_slots,
        counters=(global_step.op.name,),
        plain=plain,
        imported=imported,
        folded=folded,
        folded_imported=folded_imported,
    )


def _imported(graph_def):
    """The graph as a program that loads a frozen graph sees it: tf.import_graph_def's default
    name puts `import/` before every node, and exporting that graph keeps it."""
    tf = import_tensorflow()
    with tf.Graph().as_default() as graph:
        tf.graph_util.import_graph_def(graph_def)
        return graph.as_graph_def()


def _constant_folded(graph_def, output: str):
    """Grappler's constant folding alone, as TF-Lite and TF-TRT converters run it: each
    `Identity(x)` of a Const becomes a Const named `x/read`, and the `x` Const goes."""
    tf = import_tensorflow()
    from tensorflow.core.protobuf import config_pb2
    from tensorflow.python.grappler import tf_optimizer

    with tf.Graph().as_default() as graph:
        tf.graph_util.import_graph_def(graph_def, name="")
        meta_graph = tf.compat.v1.train.export_meta_graph(graph=graph)
    meta_graph.collection_def["train_op"].node_list.value.append(output)  # Grappler's fetch
    config = config_pb2.ConfigProto()
    config.graph_options.rewrite_options.optimizers[:] = ["constfold"]
    config.graph_options.rewrite_options.min_graph_nodes = -1  # fold small graphs too
    return tf_optimizer.OptimizeGraph(config, meta_graph)


# --- TF2: convert_variables_to_constants_v2 -----------------------------------------------------


def _captured_as(concrete_function, variables) -> dict[str, object]:
    """Placeholder name -> variable, for each variable the function captured; freezing replaces
    the placeholder by a Const of the same name."""
    by_handle = {id(variable.handle): variable for variable in variables}
    return {
        placeholder.op.name: by_handle[id(handle)]
        for handle, placeholder in concrete_function.graph.captures
        if id(handle) in by_handle
    }


def _checkpoint_keys(checkpoint) -> dict[int, str]:
    """id(trackable) -> its checkpoint key: TensorFlow's own object paths (a private helper; the
    public API gives keys, not which object each belongs to)."""
    from tensorflow.python.checkpoint import graph_view
    from tensorflow.python.checkpoint import util as checkpoint_util

    object_names = checkpoint_util.objects_ids_and_slot_variables_and_paths(
        graph_view.ObjectGraphView(checkpoint)
    )[-1]
    return {id(trackable): path + VALUE_KEY for trackable, path in object_names.items()}


def make_tf2_keras_frozen(directory: Path) -> Tf2Frozen:
    """A Keras Conv2D -> BatchNormalization -> Dense model trained one step (so the moving
    statistics moved), checkpointed, and its inference function frozen."""
    tf = import_tensorflow()
    import keras
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    keras.utils.set_random_seed(14)
    model = keras.Sequential(
        [
            keras.Input((6, 6, 1)),
            keras.layers.Conv2D(4, 3, name="conv"),
            keras.layers.BatchNormalization(name="bn"),
            keras.layers.Flatten(),
            keras.layers.Dense(2, name="dense"),
        ]
    )
    rng = np.random.default_rng(14)
    inputs = rng.normal(size=(8, 6, 6, 1)).astype(np.float32)
    optimizer = keras.optimizers.SGD(0.1)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(inputs, training=True)))
    gradients = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(gradients, model.trainable_variables))

    checkpoint = tf.train.Checkpoint(model=model)
    prefix = checkpoint.save(str(directory / "ckpt"))
    keys = _checkpoint_keys(checkpoint)
    serve = tf.function(lambda x: model(x, training=False))
    concrete = serve.get_concrete_function(tf.TensorSpec([None, 6, 6, 1], tf.float32))
    captured = _captured_as(concrete, [v.value for v in model.variables])
    key_of_value = {id(v.value): keys[id(v)] for v in model.variables}  # Keras wraps tf.Variable
    weights = {name: key_of_value[id(v)] for name, v in captured.items()}
    graph_def = convert_variables_to_constants_v2(concrete).graph.as_graph_def()
    values, _ = constant_values(graph_def)
    shape_constants = tuple(sorted(set(values) - set(weights)))
    return Tf2Frozen(
        prefix=prefix,
        variables={keys[id(v)]: v.numpy() for v in model.variables},
        graph=write_frozen(directory / "frozen.pb", graph_def, weights, shape_constants),
    )


def make_tf2_loop_frozen(directory: Path) -> Tf2Frozen:
    """A tf.Module whose function loops (tf.while_loop), frozen without lowering the loop.

    The loop body stays a function of the graph's library, holding a float Const of its own
    (`<body function>/while/mix`, not a variable); the variables the loop reads become Consts of
    the main graph named after the loop's inputs (`while/input_5`).
    """
    tf = import_tensorflow()
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    class Recurrent(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.kernel = tf.Variable(tf.random.stateless_normal([3, 3], [14, 1]))
            self.bias = tf.Variable(tf.constant([0.25, -0.5, 1.0]))
            self.scale = tf.Variable(tf.fill([3], 2.0))

        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32)])
        def __call__(self, x):
            for _ in tf.range(2):
                mix = tf.constant(np.eye(3, dtype=np.float32)[::-1] * 0.5, name="mix")
                x = tf.matmul(tf.matmul(x, self.kernel) + self.bias, mix)
            return x * self.scale

    module = Recurrent()
    checkpoint = tf.train.Checkpoint(model=module)
    prefix = checkpoint.save(str(directory / "ckpt"))
    keys = _checkpoint_keys(checkpoint)
    concrete = module.__call__.get_concrete_function()
    captured = _captured_as(concrete, module.variables)
    weights = {name: keys[id(v)] for name, v in captured.items()}
    frozen = convert_variables_to_constants_v2(concrete, lower_control_flow=False)
    graph_def = frozen.graph.as_graph_def()
    assert graph_def.library.function, "the loop body was inlined"
    values, _ = constant_values(graph_def)
    shape_constants = tuple(
        sorted(name for name, value in values.items() if name not in weights and value.ndim == 0)
    )
    return Tf2Frozen(
        prefix=prefix,
        variables={keys[id(v)]: v.numpy() for v in module.variables},
        graph=write_frozen(directory / "frozen.pb", graph_def, weights, shape_constants),
    )


# --- every way of storing a Const's value -------------------------------------------------------


def make_constants_pb(directory: Path) -> ConstantsPb:
    """Consts as TensorFlow writes them (`tf.constant` in a graph), plus two it reads but its
    Python API does not write, made with its TensorProto class: a value list shorter than the
    shape (the C++ reader repeats the last value) and no values at all (zeros)."""
    tf = import_tensorflow()
    from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2

    directory.mkdir(parents=True, exist_ok=True)
    with tf.Graph().as_default() as graph:
        tf.constant(0.5, shape=[100], name="splat")
        tf.constant(7, shape=[3, 4], dtype=tf.int64, name="int64_splat")
        # one value in each of the other typed fields: half_val (float16 and bfloat16 bits),
        # scomplex_val (pairs), bool_val, string_val
        tf.constant(0.5, shape=[2, 3], dtype=tf.float16, name="half_splat")
        tf.constant(1.5, shape=[5], dtype=tf.bfloat16, name="bfloat16_splat")
        tf.constant(1 - 2j, shape=[2, 2], dtype=tf.complex64, name="complex_splat")
        tf.constant(True, shape=[20], name="bool_splat")
        tf.constant("word", shape=[2, 2], name="string_splat")
        tf.constant(np.arange(20, dtype=np.float32).reshape(4, 5) / 8, name="content")
        tf.constant(np.linspace(-1, 1, 6).reshape(3, 2), name="float64_content")
        tf.constant(np.array([0.5, -2.0, 65504.0], np.float16), name="half")
        tf.constant(np.array([[1, -2], [3, 4]], np.int8), name="int8")
        tf.constant([True, False, True], name="flags")
        tf.constant([b"alpha", b"", b"\xff\x00"], name="words")
        tf.constant(3.25, name="scalar")
        tf.constant(np.zeros((0, 3), np.float32), name="empty")
        graph_def = graph.as_graph_def()

    def shape(*sizes: int):
        dims = [tensor_shape_pb2.TensorShapeProto.Dim(size=size) for size in sizes]
        return tensor_shape_pb2.TensorShapeProto(dim=dims)

    float_enum = tf.float32.as_datatype_enum
    hand_made = {
        "repeated_last": tensor_pb2.TensorProto(
            dtype=float_enum, tensor_shape=shape(2, 3), float_val=[1.0, 2.0, 3.0]
        ),
        "no_values": tensor_pb2.TensorProto(dtype=float_enum, tensor_shape=shape(2, 2)),
    }
    for name, proto in hand_made.items():
        node = graph_def.node.add(name=name, op="Const")
        node.attr["dtype"].type = float_enum
        node.attr["value"].tensor.CopyFrom(proto)
        # TensorFlow's C++ decoder agrees with MakeNdarray on what these hold.
        parsed = tf.io.parse_tensor(proto.SerializeToString(), tf.float32).numpy()
        assert parsed.tobytes() == tf.make_ndarray(proto).tobytes(), name

    nodes = const_nodes(graph_def)
    for name in ("splat", "int64_splat", "half_splat", "complex_splat", "string_splat"):
        tensor = nodes[name].attr["value"].tensor
        stored = [values for field, values in tensor.ListFields() if field.name.endswith("_val")]
        assert not tensor.tensor_content and len(stored[0]) in (1, 2), name  # complex: a pair
    assert nodes["content"].attr["value"].tensor.tensor_content
    path = directory / "constants.pb"
    path.write_bytes(graph_def.SerializeToString())
    values, dtypes = constant_values(graph_def)
    return ConstantsPb(
        path=path,
        constants=values,
        dtypes=dtypes,
        splat="splat",
        repeated_last="repeated_last",
        no_values="no_values",
        content="content",
    )
