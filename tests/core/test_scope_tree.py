"""The scope tree: natural order, totals, leaf-and-scope names, readable names, filtering."""

from __future__ import annotations

import math

import pytest

from ckpt_browser.core.scope_tree import ScopeNode, Totals, build_tree, filter_tree, natural_key
from ckpt_browser.format import TensorInfo, TensorKind, open_checkpoint
from ckpt_browser.format.dtypes import from_name


def make_info(
    name: str,
    shape: tuple[int, ...] = (2, 3),
    *,
    kind: TensorKind = TensorKind.VARIABLE,
    readable: str | None = None,
    dtype: str = "float32",
) -> TensorInfo:
    dt = from_name(dtype)
    size = math.prod(shape)
    return TensorInfo(
        name=name,
        dtype=dt,
        shape=shape,
        nbytes=size * (dt.itemsize or 1),
        shard=0,
        kind=kind,
        readable_name=readable if readable is not None else name,
    )


def names(node: ScopeNode) -> list[str]:
    return [child.name for child in node.children]


def test_natural_key_orders_numbers_by_value() -> None:
    words = ["layer_10", "layer_2", "layer_1", "Layer_3", "block10/x", "block1/x", "block2/x"]
    assert sorted(words, key=natural_key) == [
        "block1/x",
        "block2/x",
        "block10/x",
        "layer_1",
        "layer_2",
        "Layer_3",
        "layer_10",
    ]
    assert natural_key("a01") != natural_key("a1")  # ties broken by the name itself
    assert sorted(["x", "x_1", "x1", "x_0"], key=natural_key) == ["x", "x1", "x_0", "x_1"]


def test_scopes_totals_and_natural_order() -> None:
    infos = [
        make_info("model/layer_10/kernel", (4, 4)),
        make_info("model/layer_2/kernel", (3, 3)),
        make_info("model/layer_2/bias", (3,)),
        make_info("global_step", (), kind=TensorKind.COUNTER, dtype="int64"),
    ]
    root = build_tree(infos)
    assert names(root) == ["global_step", "model"]
    model = root.child("model")
    assert model is not None and names(model) == ["layer_2", "layer_10"]
    assert (model.parameters, model.leaf_count, model.nbytes) == (28, 3, 112)
    assert (root.parameters, root.leaf_count, root.nbytes) == (29, 4, 120)
    kernel = root.find("model/layer_2/kernel")
    assert kernel is not None and kernel.info is infos[1] and kernel.is_tensor
    assert (kernel.path, kernel.key, kernel.shape, kernel.dtype.name) == (
        "model/layer_2/kernel",
        "model/layer_2/kernel",
        (3, 3),
        "float32",
    )
    assert kernel.parent is model.child("layer_2")
    assert [node.path for node in root.tensors()] == [
        "global_step",
        "model/layer_2/bias",
        "model/layer_2/kernel",
        "model/layer_10/kernel",
    ]


def test_a_name_that_is_a_tensor_and_a_scope_counts_once() -> None:
    infos = [
        make_info("w", (10,)),
        make_info("w/Adam", (10,), kind=TensorKind.OPTIMIZER),
        make_info("w/Adam_1", (10,), kind=TensorKind.OPTIMIZER),
    ]
    root = build_tree(infos)
    w = root.child("w")
    assert w is not None and w.info is infos[0]
    assert names(w) == ["Adam", "Adam_1"]
    assert (w.parameters, w.leaf_count) == (30, 3)
    assert root.parameters == 30 and root.leaf_count == 3


def test_tf2_readable_names_with_the_raw_key_kept() -> None:
    key = "model/layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE"
    info = make_info(key, readable="model/dense/kernel")
    root = build_tree([info])
    node = root.find("model/dense/kernel")
    assert node is not None and node.key == key
    raw = build_tree([info], use_readable_names=False)
    assert raw.find("model/layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE") is not None


def test_two_tensors_on_one_path_both_stay() -> None:
    first = make_info("a/b/.ATTRIBUTES/VARIABLE_VALUE", readable="a/b")
    second = make_info("a//b")  # splits to the same segments
    root = build_tree([first, second])
    assert root.leaf_count == 2
    a = root.child("a")
    assert a is not None and sorted(n.key for n in a.tensors()) == sorted([first.name, "a//b"])


def test_filter_modes() -> None:
    infos = [
        make_info("encoder/layer_1/kernel"),
        make_info("encoder/layer_1/bias", (3,)),
        make_info("decoder/layer_1/kernel"),
        make_info("decoder/Embedding", (5, 2)),
    ]
    root = build_tree(infos)

    def kept(tree: ScopeNode) -> list[str]:
        return [node.path for node in tree.tensors()]

    assert kept(filter_tree(root, "KERNEL")) == ["decoder/layer_1/kernel", "encoder/layer_1/kernel"]
    assert kept(filter_tree(root, "")) == kept(root)
    assert kept(filter_tree(root, "emb*", mode="glob")) == ["decoder/Embedding"]
    assert kept(filter_tree(root, "encoder", mode="glob")) == [  # a matching scope keeps all
        "encoder/layer_1/bias",
        "encoder/layer_1/kernel",
    ]
    assert kept(filter_tree(root, "layer_1/b*", mode="glob")) == ["encoder/layer_1/bias"]
    assert kept(filter_tree(root, r"^de.*kernel$", mode="regex")) == ["decoder/layer_1/kernel"]
    filtered = filter_tree(root, "bias")
    encoder = filtered.child("encoder")
    assert names(filtered) == ["encoder"] and encoder is not None
    assert (encoder.parameters, encoder.leaf_count) == (3, 1)  # totals recomputed
    assert (filtered.parameters, filtered.leaf_count) == (3, 1)
    assert root.leaf_count == 4  # the original tree is untouched
    assert kept(filter_tree(root, "nothing matches this")) == []


def test_filter_hides_kinds_and_keeps_a_scope_whose_tensor_is_hidden() -> None:
    infos = [
        make_info("w", (10,)),
        make_info("w/Adam", (10,), kind=TensorKind.OPTIMIZER),
        make_info("w/ExponentialMovingAverage", (10,), kind=TensorKind.EMA),
        make_info("global_step", (), kind=TensorKind.COUNTER, dtype="int64"),
    ]
    root = build_tree(infos)
    no_slots = filter_tree(root, "", hidden_kinds={TensorKind.OPTIMIZER, TensorKind.COUNTER})
    assert [n.key for n in no_slots.tensors()] == ["w", "w/ExponentialMovingAverage"]
    as_strings = filter_tree(root, "", hidden_kinds=frozenset({"optimizer", "counter"}))
    assert [n.key for n in as_strings.tensors()] == [n.key for n in no_slots.tensors()]
    only_slot = filter_tree(root, "adam")
    w = only_slot.child("w")
    assert w is not None and w.info is None and names(w) == ["Adam"]  # w itself did not match


def test_invalid_regex_is_a_readable_value_error() -> None:
    root = build_tree([make_info("a")])
    with pytest.raises(ValueError, match=r"invalid regular expression '\(unclosed'.*position"):
        filter_tree(root, "(unclosed", mode="regex")
    with pytest.raises(ValueError, match="unknown filter mode"):
        filter_tree(root, "a", mode="fuzzy")


def test_totals() -> None:
    infos = [
        make_info("w", (10,)),
        make_info("w/Adam", (10,), kind=TensorKind.OPTIMIZER),
        make_info("step", (), kind=TensorKind.COUNTER, dtype="int64"),
    ]
    totals = Totals.of(infos)
    assert totals == Totals(variables=3, parameters=21, nbytes=88, model_parameters=10)
    assert Totals.of([]) == Totals(0, 0, 0, 0)


def test_strings_are_not_parameters() -> None:
    infos = [
        make_info("dense/kernel", (4, 3)),
        make_info("vocab", (5,), dtype="string"),
        make_info("_CHECKPOINTABLE_OBJECT_GRAPH", (), kind=TensorKind.OBJECT_GRAPH, dtype="string"),
    ]
    totals = Totals.of(infos)
    assert (totals.parameters, totals.model_parameters, totals.strings) == (12, 12, 6)
    root = build_tree(infos)
    assert root.parameters == 12 and root.leaf_count == 3


def test_tree_of_a_tensorflow_checkpoint_with_20000_variables(many_variables_ckpt) -> None:
    with open_checkpoint(many_variables_ckpt.prefix) as ckpt:
        infos = list(ckpt.values())
        root = build_tree(infos)
        assert root.leaf_count == len(ckpt) == 20_000
        assert root.parameters == sum(info.size for info in infos)
        assert root.nbytes == sum(info.nbytes for info in infos)
        blocks = names(root)
        assert blocks[:3] == ["block_0", "block_1", "block_2"] and blocks[-1] == "block_999"
        assert names(root.child("block_7")) == [f"layer_{j}" for j in range(5)]
        filtered = filter_tree(root, "block_99/*/kernel", mode="glob")
        assert filtered.leaf_count == 5


def test_tree_of_a_tf2_checkpoint_uses_object_paths(tf2_keras_ckpt) -> None:
    with open_checkpoint(tf2_keras_ckpt.prefix) as ckpt:
        root = build_tree(ckpt.values())
        assert root.leaf_count == len(ckpt)
        for node in root.tensors():
            assert node.info is not None and node.key == node.info.name
            assert ".ATTRIBUTES" not in node.path or node.path == node.key
