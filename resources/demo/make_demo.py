"""Make the demo checkpoint that ships with ckpt-browser (what `ckpt-browser --demo` opens).

A small convolutional classifier written the TensorFlow 1 way (graph mode, `get_variable`,
a `Saver`) and trained for 300 steps on synthetic 8x8 RGB images of 10 classes, so every tensor
holds real trained values and the folder shows what users meet in practice:

    conv1/kernel [3,3,3,16], conv1/bias      bn1/{gamma,beta,moving_mean,moving_variance}
    conv2/kernel [3,3,16,32], conv2/bias     bn2/{gamma,beta,moving_mean,moving_variance}
    logits/kernel [32,10], logits/bias       global_step
    <var>/Adam, <var>/Adam_1, beta1_power, beta2_power      (Adam optimizer slots)
    <var>/ExponentialMovingAverage                          (EMA shadows of trainable variables)

Checkpoints `model.ckpt-100`, `-200` and `-300`, each with its `.meta` graph, and a `checkpoint`
file with relative paths, so the folder works wherever it is copied. Seeds are fixed.

Usage (needs tensorflow-cpu, the `tf` extra):

    python resources/demo/make_demo.py [OUTDIR]     # OUTDIR defaults to this script's folder
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

IMAGE_SIZE = 8
CHANNELS = 3
NUM_CLASSES = 10
BATCH_SIZE = 32
SAVE_STEPS = (100, 200, 300)
CHECKPOINT_BASENAME = "model.ckpt"


def synthetic_images(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Noisy copies of one fixed random pattern per class: learnable in a few hundred steps."""
    patterns = np.random.default_rng(0).normal(size=(NUM_CLASSES, IMAGE_SIZE, IMAGE_SIZE, CHANNELS))
    labels = rng.integers(0, NUM_CLASSES, size=count)
    noise = rng.normal(scale=1.5, size=(count, IMAGE_SIZE, IMAGE_SIZE, CHANNELS))
    return (patterns[labels] + noise).astype(np.float32), labels.astype(np.int64)


def conv_bn_relu(tf, inputs, name: str, out_channels: int, stride: int, is_training):
    """3x3 convolution (`<name>/kernel`, `<name>/bias`) then batch norm (`bn<N>/...`) then ReLU."""
    v1 = tf.compat.v1
    in_channels = inputs.shape[-1]
    with v1.variable_scope(name):
        kernel = v1.get_variable("kernel", [3, 3, in_channels, out_channels])
        bias = v1.get_variable("bias", [out_channels], initializer=v1.zeros_initializer())
    conv = tf.nn.conv2d(inputs, kernel, strides=stride, padding="SAME") + bias

    with v1.variable_scope(name.replace("conv", "bn")):
        gamma = v1.get_variable("gamma", [out_channels], initializer=v1.ones_initializer())
        beta = v1.get_variable("beta", [out_channels], initializer=v1.zeros_initializer())
        moving_mean = v1.get_variable(
            "moving_mean", [out_channels], initializer=v1.zeros_initializer(), trainable=False
        )
        moving_variance = v1.get_variable(
            "moving_variance", [out_channels], initializer=v1.ones_initializer(), trainable=False
        )
    batch_mean, batch_variance = tf.nn.moments(conv, axes=[0, 1, 2])
    momentum = 0.9
    v1.add_to_collection(
        v1.GraphKeys.UPDATE_OPS,
        moving_mean.assign(momentum * moving_mean + (1 - momentum) * batch_mean),
    )
    v1.add_to_collection(
        v1.GraphKeys.UPDATE_OPS,
        moving_variance.assign(momentum * moving_variance + (1 - momentum) * batch_variance),
    )
    mean, variance = tf.cond(
        is_training,
        lambda: (batch_mean, batch_variance),
        lambda: (moving_mean.read_value(), moving_variance.read_value()),
    )
    normalized = tf.nn.batch_normalization(conv, mean, variance, beta, gamma, 1e-3)
    return tf.nn.relu(normalized)


def remove_old_outputs(outdir: Path) -> None:
    """Delete checkpoints an earlier run left, so the folder holds exactly one run."""
    for path in outdir.glob(f"{CHECKPOINT_BASENAME}-*"):
        path.unlink()
    (outdir / "checkpoint").unlink(missing_ok=True)


def make_demo(outdir: Path) -> list[str]:
    """Build, train and save the demo network into `outdir`; return the checkpoint prefixes."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # oneDNN reorders sums: not reproducible
    import tensorflow as tf

    v1 = tf.compat.v1
    outdir.mkdir(parents=True, exist_ok=True)
    remove_old_outputs(outdir)
    rng = np.random.default_rng(42)
    test_images, test_labels = synthetic_images(500, rng)

    prefixes = []
    with tf.Graph().as_default(), v1.Session() as session:
        v1.set_random_seed(42)
        images = v1.placeholder(tf.float32, [None, IMAGE_SIZE, IMAGE_SIZE, CHANNELS], "images")
        labels = v1.placeholder(tf.int64, [None], "labels")
        is_training = v1.placeholder_with_default(False, [], "is_training")
        global_step = v1.train.get_or_create_global_step()

        hidden = conv_bn_relu(tf, images, "conv1", 16, 1, is_training)
        hidden = conv_bn_relu(tf, hidden, "conv2", 32, 2, is_training)
        pooled = tf.reduce_mean(hidden, axis=[1, 2])
        with v1.variable_scope("logits"):
            kernel = v1.get_variable("kernel", [32, NUM_CLASSES])
            bias = v1.get_variable("bias", [NUM_CLASSES], initializer=v1.zeros_initializer())
        logits = tf.identity(tf.matmul(pooled, kernel) + bias, name="predictions")

        loss = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        )
        accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, 1), labels), tf.float32))
        with tf.control_dependencies(v1.get_collection(v1.GraphKeys.UPDATE_OPS)):
            minimize = v1.train.AdamOptimizer(0.01).minimize(loss, global_step=global_step)
        ema = tf.train.ExponentialMovingAverage(0.99)
        with tf.control_dependencies([minimize]):
            train_op = ema.apply(v1.trainable_variables())

        saver = v1.train.Saver(max_to_keep=len(SAVE_STEPS), save_relative_paths=True)
        session.run(v1.global_variables_initializer())
        for step in range(1, SAVE_STEPS[-1] + 1):
            batch_images, batch_labels = synthetic_images(BATCH_SIZE, rng)
            feed = {images: batch_images, labels: batch_labels, is_training: True}
            session.run(train_op, feed)
            if step in SAVE_STEPS:
                test_accuracy = session.run(accuracy, {images: test_images, labels: test_labels})
                prefix = saver.save(session, str(outdir / CHECKPOINT_BASENAME), global_step=step)
                prefixes.append(prefix)
                print(f"step {step}: test accuracy {test_accuracy:.2f}, saved {prefix}")
    return prefixes


def main(argv: list[str]) -> int:
    outdir = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent
    make_demo(outdir)
    size = sum(path.stat().st_size for path in outdir.iterdir() if path.suffix != ".py")
    print(f"{outdir}: {size / 1e6:.2f} MB of checkpoint files")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
