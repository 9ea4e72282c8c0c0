"""Training runs written by TensorFlow with known changes in them, for the timeline and `history`.

A TF1 graph-mode loop saving with `tf.compat.v1.train.Saver(max_to_keep=...)` and a TF2 loop
saving with `tf.train.CheckpointManager`; in each, one layer stops training from some save on
(its relative change reads 0 after it) and one variable holds a NaN at exactly one save (written
before that save and put back after it). The TF1 run also changes what it saves midway: a variable
appears, and another is saved with a new shape under the same name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tf_checkpoints import import_tensorflow


@dataclass(frozen=True)
class TrainingRun:
    directory: Path
    prefixes: tuple[str, ...]  # kept, oldest first
    steps: tuple[int, ...]
    deleted: tuple[str, ...]  # what max_to_keep removed
    frozen_scope: str  # stops changing after frozen_from
    frozen_from: int  # the last step at which it changed
    nan_variable: str  # key holding a NaN at nan_step only
    nan_step: int
    layer_scopes: tuple[str, ...]  # the overview's rows for the model's layers
    added_variable: str = ""  # TF1: saved from added_from on
    resized_variable: str = ""  # TF1: a smaller shape before added_from
    added_from: int = 0

    def prefix_of(self, step: int) -> str:
        return self.prefixes[self.steps.index(step)]


def make_tf1_saver_run(directory: Path) -> TrainingRun:
    """An MLP (`net/layer_1`, `net/layer_2`, `net/head`) trained with Adam, saved every 10 steps
    from 10 to 80 with max_to_keep=6 (10 and 20 are deleted). `net/layer_2` is not trained after
    step 50; `net/layer_1/kernel` holds a NaN in the save of step 40 only; from step 60 the Saver
    also saves `net/extra` and saves `net/resized` as [6] instead of [4]."""
    tf = import_tensorflow()
    v1 = tf.compat.v1
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    inputs = rng.normal(size=(32, 6)).astype(np.float32)
    targets = rng.normal(size=(32, 2)).astype(np.float32)
    frozen_from, nan_step, added_from = 50, 40, 60
    with tf.Graph().as_default(), v1.Session() as session:
        v1.set_random_seed(7)
        global_step = v1.train.get_or_create_global_step()
        hidden = tf.constant(inputs)
        with v1.variable_scope("net"):
            for name, width in (("layer_1", 8), ("layer_2", 8), ("head", 2)):
                with v1.variable_scope(name):
                    kernel = v1.get_variable("kernel", [hidden.shape[-1], width])
                    bias = v1.get_variable("bias", [width], initializer=v1.zeros_initializer())
                hidden = tf.matmul(hidden, kernel) + bias
                if name != "head":
                    hidden = tf.tanh(hidden)
            extra = v1.get_variable("extra", [3])
            small = v1.get_variable("resized_small", [4])
            big = v1.get_variable("resized_big", [6])
        penalty = sum(tf.reduce_sum(tf.square(v)) for v in (extra, small, big))
        loss = tf.reduce_mean(tf.square(hidden - targets)) + 0.01 * penalty
        optimizer = v1.train.AdamOptimizer(0.02)
        trainables = v1.trainable_variables()
        train_all = optimizer.minimize(loss, global_step=global_step, var_list=trainables)
        unfrozen = [v for v in trainables if not v.name.startswith("net/layer_2/")]
        train_frozen = optimizer.minimize(loss, global_step=global_step, var_list=unfrozen)
        layer_1_kernel = next(v for v in trainables if v.name == "net/layer_1/kernel:0")

        def name_of(variable) -> str:
            return variable.name.split(":")[0]

        late_only = ("net/extra", "net/resized_small", "net/resized_big")
        base = {
            name_of(v): v for v in v1.global_variables() if not name_of(v).startswith(late_only)
        }
        early_saver = v1.train.Saver({**base, "net/resized": small}, max_to_keep=6)
        late_saver = v1.train.Saver({**base, "net/resized": big, "net/extra": extra}, max_to_keep=6)
        session.run(v1.global_variables_initializer())
        prefixes = []
        for save_step in range(10, 90, 10):
            while session.run(global_step) < save_step:
                frozen = session.run(global_step) >= frozen_from
                session.run(train_frozen if frozen else train_all)
            saver = early_saver if save_step < added_from else late_saver
            if save_step == added_from:
                late_saver.recover_last_checkpoints(early_saver.last_checkpoints)
            kept_value = session.run(layer_1_kernel)
            if save_step == nan_step:
                poisoned = kept_value.copy()
                poisoned[0, 0] = np.nan
                layer_1_kernel.load(poisoned, session)
            prefixes.append(
                saver.save(session, str(directory / "model.ckpt"), global_step=save_step)
            )
            layer_1_kernel.load(kept_value, session)
    steps = tuple(range(10, 90, 10))
    return TrainingRun(
        directory=directory,
        prefixes=tuple(prefixes[2:]),
        steps=steps[2:],
        deleted=tuple(prefixes[:2]),
        frozen_scope="net/layer_2",
        frozen_from=frozen_from,
        nan_variable="net/layer_1/kernel",
        nan_step=nan_step,
        layer_scopes=("net/head", "net/layer_1", "net/layer_2"),
        added_variable="net/extra",
        resized_variable="net/resized",
        added_from=added_from,
    )


def make_tf2_manager_run(directory: Path) -> TrainingRun:
    """A `tf.Module` (`net/encoder`, `net/decoder`) trained by plain gradient steps and saved by
    a CheckpointManager at steps 100 to 700 with max_to_keep=5 (100 and 200 are deleted).
    `net/encoder` is not trained after step 400; `net/decoder/kernel` holds a NaN at step 500."""
    tf = import_tensorflow()
    directory.mkdir(parents=True, exist_ok=True)

    class Dense(tf.Module):
        def __init__(self, rows: int, cols: int, seed: int) -> None:
            super().__init__()
            self.kernel = tf.Variable(tf.random.stateless_normal([rows, cols], [seed, 1]))
            self.bias = tf.Variable(tf.zeros([cols]))

        def __call__(self, x):
            return tf.matmul(x, self.kernel) + self.bias

    class Net(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = Dense(4, 16, 1)
            self.decoder = Dense(16, 3, 2)

        def __call__(self, x):
            return self.decoder(tf.tanh(self.encoder(x)))

    net = Net()
    step = tf.Variable(0, dtype=tf.int64)
    inputs = tf.random.stateless_normal([64, 4], [3, 0])
    targets = tf.random.stateless_normal([64, 3], [4, 0])
    checkpoint = tf.train.Checkpoint(net=net, step=step)
    manager = tf.train.CheckpointManager(checkpoint, str(directory), max_to_keep=5)
    frozen_from, nan_step = 400, 500
    prefixes = []
    for save_step in range(100, 800, 100):
        while int(step.numpy()) < save_step:
            variables = net.trainable_variables
            if int(step.numpy()) >= frozen_from:
                variables = net.decoder.trainable_variables
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(net(inputs) - targets))
            for variable, gradient in zip(variables, tape.gradient(loss, variables)):
                variable.assign_sub(0.05 * gradient)
            step.assign_add(10)
        kept = net.decoder.kernel.numpy()
        if save_step == nan_step:
            poisoned = kept.copy()
            poisoned[1, 2] = np.nan
            net.decoder.kernel.assign(poisoned)
        prefixes.append(manager.save(checkpoint_number=save_step))
        net.decoder.kernel.assign(kept)
    steps = tuple(range(100, 800, 100))
    return TrainingRun(
        directory=directory,
        prefixes=tuple(prefixes[2:]),
        steps=steps[2:],
        deleted=tuple(prefixes[:2]),
        frozen_scope="net/encoder",
        frozen_from=frozen_from,
        nan_variable="net/decoder/kernel/.ATTRIBUTES/VARIABLE_VALUE",
        nan_step=nan_step,
        layer_scopes=("net/decoder", "net/encoder"),
    )
