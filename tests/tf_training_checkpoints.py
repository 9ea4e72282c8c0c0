"""Real checkpoints written by TensorFlow the way training code writes them.

TF1 graph-mode training with a Saver, partitioned variables, TF2 object-based checkpoints (Keras
and plain tf.Module), a SavedModel and a frozen GraphDef. Like `tf_checkpoints.py` (the raw
bundles), each `make_*` function fills a directory and returns a frozen dataclass of paths and
expected values, and `tests/conftest.py` turns it into a session fixture.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tf_checkpoints import import_tensorflow

# --- TF1 training directory ---------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingDir:
    """A TF1 Saver directory with two kept checkpoints; max_to_keep deleted the first of three."""

    directory: Path
    prefixes: tuple[str, ...]  # kept prefixes, oldest first; the `checkpoint` file lists these
    steps: tuple[int, ...]  # global step of each kept prefix
    deleted_prefixes: tuple[str, ...]
    model_variables: tuple[str, ...]  # kernels and biases
    optimizer_slots: tuple[str, ...]  # x/Adam, x/Adam_1, beta1_power, beta2_power
    ema_shadows: tuple[str, ...]  # x/ExponentialMovingAverage
    counters: tuple[str, ...]  # global_step
    slot_of: Mapping[str, str]  # Adam slot name -> the variable it belongs to

    @property
    def prefix(self) -> str:
        """The latest checkpoint, the one the `checkpoint` file points at."""
        return self.prefixes[-1]

    @property
    def variable_names(self) -> tuple[str, ...]:
        """Every key in each checkpoint, in bytewise order as TensorFlow lists them."""
        names = self.model_variables + self.optimizer_slots + self.ema_shadows + self.counters
        return tuple(sorted(names))


def make_tf1_training_dir(directory: Path) -> TrainingDir:
    """Train a small MLP in TF1 graph mode with Adam and EMA; save at steps 10, 20 and 30.

    The layers are numbered 1, 2 and 10 so that bytewise order (layer_1, layer_10, layer_2)
    differs from natural order.
    """
    tf = import_tensorflow()
    v1 = tf.compat.v1
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    inputs = rng.normal(size=(32, 6)).astype(np.float32)
    targets = rng.normal(size=(32, 2)).astype(np.float32)
    saved_steps = (10, 20, 30)

    with tf.Graph().as_default(), v1.Session() as session:
        v1.set_random_seed(1)
        global_step = v1.train.get_or_create_global_step()
        hidden = tf.constant(inputs)
        layers = ((1, 8), (2, 8), (10, 2))
        with v1.variable_scope("net"):
            for number, width in layers:
                with v1.variable_scope(f"layer_{number}"):
                    kernel = v1.get_variable("kernel", [hidden.shape[-1], width])
                    bias = v1.get_variable("bias", [width], initializer=v1.zeros_initializer())
                hidden = tf.matmul(hidden, kernel) + bias
                if number != layers[-1][0]:
                    hidden = tf.tanh(hidden)
        loss = tf.reduce_mean(tf.square(hidden - targets))
        trainables = v1.trainable_variables()
        optimizer = v1.train.AdamOptimizer(0.01)
        minimize = optimizer.minimize(loss, global_step=global_step)
        ema = tf.train.ExponentialMovingAverage(0.9)
        with tf.control_dependencies([minimize]):
            train_op = ema.apply(trainables)
        saver = v1.train.Saver(max_to_keep=2)

        session.run(v1.global_variables_initializer())
        all_prefixes = []
        for step in saved_steps:
            while session.run(global_step) < step:
                session.run(train_op)
            all_prefixes.append(
                saver.save(session, str(directory / "model.ckpt"), global_step=step)
            )

        def op_name(variable) -> str:
            return variable.name.split(":")[0]

        slot_of = {
            op_name(optimizer.get_slot(variable, slot)): op_name(variable)
            for variable in trainables
            for slot in optimizer.get_slot_names()
        }
        return TrainingDir(
            directory=directory,
            prefixes=tuple(all_prefixes[1:]),
            steps=saved_steps[1:],
            deleted_prefixes=tuple(all_prefixes[:1]),
            model_variables=tuple(op_name(v) for v in trainables),
            optimizer_slots=tuple(op_name(v) for v in optimizer.variables()),
            ema_shadows=tuple(ema.average_name(v) for v in trainables),
            counters=(op_name(global_step),),
            slot_of=slot_of,
        )


# --- TF1 partitioned variables ------------------------------------------------------------------


@dataclass(frozen=True)
class PartitionedCkpt:
    """A TF1 Saver checkpoint with partitioned variables (slice keys) and a plain one."""

    prefix: str
    meta_path: Path
    expected: Mapping[str, np.ndarray]  # full (assembled) values by variable name
    partitions: Mapping[str, int]  # partitioned variable -> number of stored slices


def make_tf1_partitioned(directory: Path) -> PartitionedCkpt:
    """`pv` [10,4] split into 3 along rows, `emb/cols` [2,6] into 3 along columns, plain `w`.

    Ref variables (VariableV2 nodes in the `.meta`), unlike the resource variables of the
    training directory, so both kinds of variable graph are covered.
    """
    tf = import_tensorflow()
    v1 = tf.compat.v1
    directory.mkdir(parents=True, exist_ok=True)
    with tf.Graph().as_default(), v1.Session() as session:
        v1.set_random_seed(2)
        pv = v1.get_variable(
            "pv", [10, 4], partitioner=v1.fixed_size_partitioner(3), use_resource=False
        )
        with v1.variable_scope("emb"):
            cols = v1.get_variable(
                "cols", [2, 6], partitioner=v1.fixed_size_partitioner(3, axis=1), use_resource=False
            )
        plain = v1.get_variable("w", [3, 2], use_resource=False)
        saver = v1.train.Saver()
        session.run(v1.global_variables_initializer())
        prefix = saver.save(session, str(directory / "model.ckpt"))
        expected = {
            "pv": session.run(pv.as_tensor()),
            "emb/cols": session.run(cols.as_tensor()),
            "w": session.run(plain),
        }
    return PartitionedCkpt(
        prefix=prefix,
        meta_path=Path(prefix + ".meta"),
        expected=expected,
        partitions={"pv": 3, "emb/cols": 3},
    )


# --- TF2 object-based checkpoints ---------------------------------------------------------------


@dataclass(frozen=True)
class Tf2Ckpt:
    """Checkpoints written by `tf.train.CheckpointManager` (relative paths and timestamps)."""

    directory: Path
    prefixes: tuple[str, ...]  # oldest first
    # key -> local names (unescaped) leading from the root object to it; not given for Keras
    object_paths: Mapping[str, tuple[str, ...]]
    slot_of: Mapping[str, str]  # `.OPTIMIZER_SLOT` key -> key of its variable (TF1 optimizers)
    expected: Mapping[str, np.ndarray]  # key -> value of the model variables in every prefix

    @property
    def prefix(self) -> str:
        return self.prefixes[-1]


def make_tf2_keras_ckpt(directory: Path) -> Tf2Ckpt:
    """A small Keras model and Keras Adam after one training step, saved three times.

    Keras 3 tracks model variables through its optimizer too, and TensorFlow keys a variable by
    its shortest object path: the kernels and biases are stored as
    `optimizer/_trainable_variables/N` (also reachable as `model/_functional/_operations/K/_kernel`
    in the object graph) and Adam's moments as `optimizer/_variables/N`, with no
    `.OPTIMIZER_SLOT` keys.
    """
    tf = import_tensorflow()
    import keras

    keras.utils.set_random_seed(4)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3)]
    )
    optimizer = keras.optimizers.Adam(0.01)
    rng = np.random.default_rng(4)
    inputs = rng.normal(size=(16, 4)).astype(np.float32)
    targets = rng.normal(size=(16, 3)).astype(np.float32)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(inputs) - targets))
    gradients = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(gradients, model.trainable_variables))

    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer)
    manager = tf.train.CheckpointManager(checkpoint, str(directory), max_to_keep=3)
    prefixes = tuple(manager.save() for _ in range(3))
    expected = {
        f"optimizer/_trainable_variables/{index}/.ATTRIBUTES/VARIABLE_VALUE": variable.numpy()
        for index, variable in enumerate(model.trainable_variables)
    }
    return Tf2Ckpt(directory, prefixes, object_paths={}, slot_of={}, expected=expected)


def make_tf2_module_ckpt(directory: Path) -> Tf2Ckpt:
    """A `tf.Module` tree trained one step with TF1's Adam in eager mode, saved twice.

    TF1 optimizers save slots as `<var>/.OPTIMIZER_SLOT/optimizer/m`; the dict keys "conv.1" and
    "in/out" exercise the key escaping (`.` -> `..`, `/` -> `.S`).
    """
    tf = import_tensorflow()

    class Dense(tf.Module):
        def __init__(self, rows: int, cols: int, seed: int) -> None:
            super().__init__()
            self.kernel = tf.Variable(tf.random.stateless_normal([rows, cols], [seed, 0]))
            self.bias = tf.Variable(tf.zeros([cols]))

        def __call__(self, x):
            return tf.matmul(x, self.kernel) + self.bias

    class Net(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = [Dense(4, 8, 0), Dense(8, 3, 1)]
            self.blocks = {"conv.1": Dense(3, 3, 2), "in/out": Dense(3, 2, 3)}

        def __call__(self, x):
            for layer in [*self.layers, self.blocks["conv.1"], self.blocks["in/out"]]:
                x = layer(x)
            return x

    net = Net()
    optimizer = tf.compat.v1.train.AdamOptimizer(0.01)
    step = tf.Variable(0, dtype=tf.int64)
    inputs = tf.random.stateless_normal([6, 4], [5, 0])
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(net(inputs)))
    variables = net.trainable_variables
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables), global_step=step)

    net_paths = {}
    for index, layer in enumerate(net.layers):
        for attribute in ("kernel", "bias"):
            net_paths[("net", "layers", str(index), attribute)] = getattr(layer, attribute)
    for block_name, layer in net.blocks.items():
        for attribute in ("kernel", "bias"):
            net_paths[("net", "blocks", block_name, attribute)] = getattr(layer, attribute)

    def object_key(path: tuple[str, ...]) -> str:
        return "/".join(part.replace(".", "..").replace("/", ".S") for part in path)

    def value_key(path: tuple[str, ...]) -> str:
        return object_key(path) + "/.ATTRIBUTES/VARIABLE_VALUE"

    other_paths = [("step",), ("save_counter",), ("optimizer", "beta1_power")]
    other_paths.append(("optimizer", "beta2_power"))
    object_paths = {value_key(path): path for path in [*net_paths, *other_paths]}
    slot_of = {
        f"{object_key(path)}/.OPTIMIZER_SLOT/optimizer/{slot}/.ATTRIBUTES/VARIABLE_VALUE": (
            value_key(path)
        )
        for path in net_paths
        for slot in ("m", "v")
    }

    checkpoint = tf.train.Checkpoint(net=net, optimizer=optimizer, step=step)
    manager = tf.train.CheckpointManager(checkpoint, str(directory), max_to_keep=3)
    prefixes = tuple(manager.save() for _ in range(2))
    expected = {value_key(path): v.numpy() for path, v in net_paths.items()}
    expected[value_key(("step",))] = step.numpy()
    return Tf2Ckpt(directory, prefixes, object_paths, slot_of, expected)


@dataclass(frozen=True)
class ScalarsAndStringsCkpt:
    """A TF2 checkpoint of the scalars training saves and of strings numpy's `S` dtype cuts short.

    `global_step` (int64), `learning_rate` (float32) and the `save_counter` TensorFlow adds are
    scalars; `words` and `grid` hold strings ending in NUL bytes, empty strings and bytes that are
    not UTF-8. The model's last object, a sub-module without variables, makes the serialized object
    graph end in a NUL byte, as Keras models with weightless layers do.
    """

    prefix: str
    scalars: tuple[str, ...]  # keys of the scalar variables
    strings: tuple[str, ...]  # keys of the string variables
    floats: tuple[str, ...]  # keys of float tensors to export beside the strings


def make_scalars_and_strings_ckpt(directory: Path) -> ScalarsAndStringsCkpt:
    """`tf.train.Checkpoint.save` of scalar counters, a learning rate and string variables."""
    tf = import_tensorflow()

    class Model(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.kernel = tf.Variable(np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3))
            self.words = tf.Variable(
                tf.constant([b"tail\x00", b"", b"\xff\xfe\x00\x80", b"\x00\x00", b"plain"])
            )
            self.grid = tf.Variable(tf.constant([[b"a\x00", b""], [b"\xc3(", b"\x00b\x00"]]))
            self.hooks = tf.Module()  # no variables: the object graph ends in `*\x00`

    model = Model()
    checkpoint = tf.train.Checkpoint(
        model=model,
        global_step=tf.Variable(1234, dtype=tf.int64),
        learning_rate=tf.Variable(3e-4, dtype=tf.float32),
    )
    prefix = checkpoint.save(str(directory / "ckpt"))

    def key(path: str) -> str:
        return path + "/.ATTRIBUTES/VARIABLE_VALUE"

    return ScalarsAndStringsCkpt(
        prefix=prefix,
        scalars=(key("global_step"), key("learning_rate"), key("save_counter")),
        strings=(key("model/words"), key("model/grid"), "_CHECKPOINTABLE_OBJECT_GRAPH"),
        floats=(key("model/kernel"),),
    )


def make_tf2_sharded_ckpt(directory: Path) -> str:
    """A TF2 checkpoint split over several data shards by TensorFlow's MaxShardSizePolicy.

    Each 16 KiB variable overflows a 17,000-byte shard, so TensorFlow writes three data files and
    stores some variables as slices across them; the object graph lies in one of the shards.
    Returns the prefix.
    """
    tf = import_tensorflow()
    model = tf.Module()
    for index, name in enumerate("abc"):
        setattr(model, name, tf.Variable(np.full((64, 64), index + 1, np.float32)))
    checkpoint = tf.train.Checkpoint(model=model, step=tf.Variable(42, dtype=tf.int64))
    policy = tf.train.experimental.MaxShardSizePolicy(max_shard_size=17_000)
    options = tf.train.CheckpointOptions(experimental_sharding_callback=policy)
    return checkpoint.save(str(directory / "ckpt"), options=options)


# --- SavedModel and frozen graph ----------------------------------------------------------------


@dataclass(frozen=True)
class SavedModelDir:
    """A SavedModel directory; its variables are an object-based checkpoint inside it."""

    directory: Path
    variables_prefix: str  # <directory>/variables/variables
    expected: Mapping[str, np.ndarray]  # checkpoint key -> value
    signature_names: tuple[str, ...]


def make_savedmodel_dir(directory: Path) -> SavedModelDir:
    """`tf.saved_model.save` of a tf.Module with two variables and a serving signature."""
    tf = import_tensorflow()

    class Scale(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weights = tf.Variable(np.arange(6, dtype=np.float32).reshape(2, 3))
            self.offset = tf.Variable(np.array([0.5, -1.0, 2.0], np.float32))

        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32)])
        def __call__(self, x):
            return {"y": tf.matmul(x, self.weights) + self.offset}

    module = Scale()
    tf.saved_model.save(module, str(directory), signatures={"serving_default": module.__call__})
    expected = {
        "weights/.ATTRIBUTES/VARIABLE_VALUE": module.weights.numpy(),
        "offset/.ATTRIBUTES/VARIABLE_VALUE": module.offset.numpy(),
    }
    return SavedModelDir(
        directory=directory,
        variables_prefix=str(directory / "variables" / "variables"),
        expected=expected,
        signature_names=("serving_default",),
    )


@dataclass(frozen=True)
class MultiMetaGraphSavedModel:
    """A TF1 SavedModel with one MetaGraph per tag set; later ones add nodes to the graph."""

    directory: Path
    tag_sets: tuple[tuple[str, ...], ...]  # in the order the builder added them
    new_nodes: Mapping[tuple[str, ...], str]  # a node that graph has and those added before lack


def make_multi_meta_graph_savedmodel(directory: Path) -> MultiMetaGraphSavedModel:
    """`SavedModelBuilder` with `add_meta_graph_and_variables` (serve) + `add_meta_graph` (others).

    The serving graph is inference only; `train` adds a gradient step, `eval` a metric, and
    `serve,gpu` is a second serving tag set, as TensorFlow Serving's examples write them.
    """
    tf = import_tensorflow()
    v1 = tf.compat.v1
    with tf.Graph().as_default(), v1.Session() as session:
        x = v1.placeholder(tf.float32, [None, 2], name="x")
        initial = np.arange(6, dtype=np.float32).reshape(2, 3)
        weights = v1.get_variable("weights", initializer=initial)
        y = tf.identity(tf.matmul(x, weights), name="y")
        session.run(v1.global_variables_initializer())
        builder = v1.saved_model.Builder(str(directory))
        signature = v1.saved_model.predict_signature_def({"x": x}, {"y": y})
        builder.add_meta_graph_and_variables(
            session, ["serve"], signature_def_map={"serving_default": signature}
        )
        builder.add_meta_graph(["serve", "gpu"], signature_def_map={"serving_default": signature})
        loss = tf.reduce_sum(y, name="loss")
        v1.train.GradientDescentOptimizer(0.1).minimize(loss, name="train_step")
        builder.add_meta_graph(["train"])
        tf.reduce_mean(y, name="eval_metric")
        builder.add_meta_graph(["eval"])
        builder.save()
    return MultiMetaGraphSavedModel(
        directory=directory,
        tag_sets=(("serve",), ("serve", "gpu"), ("train",), ("eval",)),
        new_nodes={("train",): "train_step", ("eval",): "eval_metric"},
    )


@dataclass(frozen=True)
class FrozenGraph:
    """A binary GraphDef whose variables were replaced by Const nodes holding their values."""

    path: Path
    constants: Mapping[str, np.ndarray]  # every Const node of the frozen graph -> its value
    frozen_variables: tuple[str, ...]  # the variables that became Const nodes
    output_names: tuple[str, ...]


def make_frozen_pb(directory: Path) -> FrozenGraph:
    """A two-layer TF1 graph with its variables frozen into Const nodes, written as binary .pb."""
    tf = import_tensorflow()
    v1 = tf.compat.v1
    directory.mkdir(parents=True, exist_ok=True)
    with tf.Graph().as_default(), v1.Session() as session:
        v1.set_random_seed(6)
        inputs = v1.placeholder(tf.float32, [None, 3], name="input")
        with v1.variable_scope("hidden"):
            kernel = v1.get_variable("kernel", [3, 4])
            bias = v1.get_variable("bias", [4], initializer=v1.constant_initializer(0.25))
        with v1.variable_scope("out"):
            out_kernel = v1.get_variable("kernel", [4, 2])
        hidden = tf.nn.relu(tf.matmul(inputs, kernel) + bias)
        tf.identity(tf.matmul(hidden, out_kernel), name="output")
        session.run(v1.global_variables_initializer())
        graph_def = v1.graph_util.convert_variables_to_constants(
            session, session.graph.as_graph_def(), ["output"]
        )
    path = directory / "frozen.pb"
    path.write_bytes(graph_def.SerializeToString())
    constants = {
        node.name: tf.make_ndarray(node.attr["value"].tensor)
        for node in graph_def.node
        if node.op == "Const"
    }
    return FrozenGraph(
        path=path,
        constants=constants,
        frozen_variables=("hidden/kernel", "hidden/bias", "out/kernel"),
        output_names=("output",),
    )
