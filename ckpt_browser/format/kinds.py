"""What a checkpoint key is: a model variable, optimizer state, an EMA shadow, a counter...

Users hide optimizer slots and counters to see the model, and restore EMA shadows in place of the
raw weights, so every tensor gets a kind. TF2 checkpoints say it in their object graph; TF1 names
follow the conventions of `tf.compat.v1.train` optimizers and `ExponentialMovingAverage`.
"""

from __future__ import annotations

import re
from enum import Enum

OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
ATTRIBUTES_MARKER = "/.ATTRIBUTES/"
SLOT_MARKER = "/.OPTIMIZER_SLOT/"
EMA_SEGMENT = "ExponentialMovingAverage"

# Slot and accumulator names of the TF1 optimizers (`x/Adam`, `x/Adam_1`, `x/Momentum`, ...).
_TF1_SLOT = re.compile(
    r"^(Adam|Adamax|AdamW|Nadam|LazyAdam|Momentum|RMSProp|Adagrad|AdagradDA|Adadelta|Ftrl|"
    r"ProximalAdagrad|ProximalGradientDescent|LAMB|Lamb|Adafactor)(_\d+)?$"
)
_TF1_OPTIMIZER_SCALARS = {"beta1_power", "beta2_power"}
_COUNTERS = {"global_step", "save_counter"}


class TensorKind(str, Enum):
    VARIABLE = "variable"
    OPTIMIZER = "optimizer"
    EMA = "ema"
    COUNTER = "counter"
    OBJECT_GRAPH = "object_graph"
    CONSTANT = "constant"  # a graph's constant that is not a weight (a shape, an axis, a scalar)

    def __str__(self) -> str:
        return self.value


def strip_attribute(key: str) -> str:
    """`model/w/.ATTRIBUTES/VARIABLE_VALUE` -> `model/w`; other keys unchanged."""
    head, marker, _ = key.partition(ATTRIBUTES_MARKER)
    return head if marker else key


def classify(key: str) -> TensorKind:
    """The kind of a key from its name alone (the object graph, when present, refines this)."""
    if key == OBJECT_GRAPH_KEY:
        return TensorKind.OBJECT_GRAPH
    if SLOT_MARKER in key:
        return TensorKind.OPTIMIZER
    segments = strip_attribute(key).split("/")
    last = segments[-1]
    if last in _COUNTERS or (segments[0] == "optimizer" and last in ("iter", "iterations")):
        return TensorKind.COUNTER
    if EMA_SEGMENT in segments:
        return TensorKind.EMA
    if (len(segments) > 1 and _TF1_SLOT.match(last)) or last in _TF1_OPTIMIZER_SCALARS:
        return TensorKind.OPTIMIZER
    if segments[0] == "optimizer" and len(segments) > 1:
        return TensorKind.OPTIMIZER
    return TensorKind.VARIABLE


def tf1_slot_owner(key: str, names: set[str] | dict) -> str | None:
    """For a TF1 slot `x/Adam_1`, the variable `x` if the checkpoint has it."""
    owner, _, last = key.rpartition("/")
    if owner and _TF1_SLOT.match(last) and owner in names:
        return owner
    return None
