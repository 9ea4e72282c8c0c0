"""Porting Google's BERT checkpoint to transformers' names: TensorFlow writes a BERT-shaped
checkpoint; this test builds the safetensors file a transformers user expects with its own name
map and transposes (written out here by hand, not through the preset's rules), and checks that
`remap --preset tf-bert-to-hf` produces exactly that file, that `diff --preset` calls the pair
the same, and that one square kernel left untransposed is found."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tf_checkpoints as tfc

from ckpt_browser.cli import main

safetensors_numpy = pytest.importorskip("safetensors.numpy")

HIDDEN, INTERMEDIATE, VOCAB, POSITIONS, TYPES, LAYERS = 8, 12, 10, 6, 2, 2


def _bert_variables(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """TF name -> value, with the shapes of Google's BERT (kernels [in, out])."""

    def value(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape).astype(np.float32)

    tensors = {
        "bert/embeddings/word_embeddings": value(VOCAB, HIDDEN),
        "bert/embeddings/position_embeddings": value(POSITIONS, HIDDEN),
        "bert/embeddings/token_type_embeddings": value(TYPES, HIDDEN),
        "bert/embeddings/LayerNorm/gamma": value(HIDDEN),
        "bert/embeddings/LayerNorm/beta": value(HIDDEN),
        "bert/pooler/dense/kernel": value(HIDDEN, HIDDEN),
        "bert/pooler/dense/bias": value(HIDDEN),
        "cls/predictions/output_bias": value(VOCAB),
        "cls/predictions/transform/dense/kernel": value(HIDDEN, HIDDEN),
        "cls/predictions/transform/dense/bias": value(HIDDEN),
        "cls/predictions/transform/LayerNorm/gamma": value(HIDDEN),
        "cls/predictions/transform/LayerNorm/beta": value(HIDDEN),
        "cls/seq_relationship/output_weights": value(2, HIDDEN),
        "cls/seq_relationship/output_bias": value(2),
    }
    for layer in range(LAYERS):
        scope = f"bert/encoder/layer_{layer}"
        for part in ("query", "key", "value"):
            tensors[f"{scope}/attention/self/{part}/kernel"] = value(HIDDEN, HIDDEN)
            tensors[f"{scope}/attention/self/{part}/bias"] = value(HIDDEN)
        tensors[f"{scope}/attention/output/dense/kernel"] = value(HIDDEN, HIDDEN)
        tensors[f"{scope}/attention/output/dense/bias"] = value(HIDDEN)
        tensors[f"{scope}/attention/output/LayerNorm/gamma"] = value(HIDDEN)
        tensors[f"{scope}/attention/output/LayerNorm/beta"] = value(HIDDEN)
        tensors[f"{scope}/intermediate/dense/kernel"] = value(HIDDEN, INTERMEDIATE)
        tensors[f"{scope}/intermediate/dense/bias"] = value(INTERMEDIATE)
        tensors[f"{scope}/output/dense/kernel"] = value(INTERMEDIATE, HIDDEN)
        tensors[f"{scope}/output/dense/bias"] = value(HIDDEN)
        tensors[f"{scope}/output/LayerNorm/gamma"] = value(HIDDEN)
        tensors[f"{scope}/output/LayerNorm/beta"] = value(HIDDEN)
    return tensors


def _expected_transformers(tf_values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """BertForPreTraining's state dict names, spelled out (kernels transposed to [out, in])."""
    plain = {
        "bert.embeddings.word_embeddings.weight": "bert/embeddings/word_embeddings",
        "bert.embeddings.position_embeddings.weight": "bert/embeddings/position_embeddings",
        "bert.embeddings.token_type_embeddings.weight": "bert/embeddings/token_type_embeddings",
        "bert.embeddings.LayerNorm.weight": "bert/embeddings/LayerNorm/gamma",
        "bert.embeddings.LayerNorm.bias": "bert/embeddings/LayerNorm/beta",
        "bert.pooler.dense.bias": "bert/pooler/dense/bias",
        "cls.predictions.bias": "cls/predictions/output_bias",
        "cls.predictions.transform.dense.bias": "cls/predictions/transform/dense/bias",
        "cls.predictions.transform.LayerNorm.weight": "cls/predictions/transform/LayerNorm/gamma",
        "cls.predictions.transform.LayerNorm.bias": "cls/predictions/transform/LayerNorm/beta",
        "cls.seq_relationship.weight": "cls/seq_relationship/output_weights",
        "cls.seq_relationship.bias": "cls/seq_relationship/output_bias",
    }
    transposed = {
        "bert.pooler.dense.weight": "bert/pooler/dense/kernel",
        "cls.predictions.transform.dense.weight": "cls/predictions/transform/dense/kernel",
    }
    for layer in range(LAYERS):
        hf, tf = f"bert.encoder.layer.{layer}", f"bert/encoder/layer_{layer}"
        for part in ("query", "key", "value"):
            transposed[f"{hf}.attention.self.{part}.weight"] = f"{tf}/attention/self/{part}/kernel"
            plain[f"{hf}.attention.self.{part}.bias"] = f"{tf}/attention/self/{part}/bias"
        transposed[f"{hf}.attention.output.dense.weight"] = f"{tf}/attention/output/dense/kernel"
        plain[f"{hf}.attention.output.dense.bias"] = f"{tf}/attention/output/dense/bias"
        plain[f"{hf}.attention.output.LayerNorm.weight"] = f"{tf}/attention/output/LayerNorm/gamma"
        plain[f"{hf}.attention.output.LayerNorm.bias"] = f"{tf}/attention/output/LayerNorm/beta"
        transposed[f"{hf}.intermediate.dense.weight"] = f"{tf}/intermediate/dense/kernel"
        plain[f"{hf}.intermediate.dense.bias"] = f"{tf}/intermediate/dense/bias"
        transposed[f"{hf}.output.dense.weight"] = f"{tf}/output/dense/kernel"
        plain[f"{hf}.output.dense.bias"] = f"{tf}/output/dense/bias"
        plain[f"{hf}.output.LayerNorm.weight"] = f"{tf}/output/LayerNorm/gamma"
        plain[f"{hf}.output.LayerNorm.bias"] = f"{tf}/output/LayerNorm/beta"
    expected = {hf: tf_values[tf] for hf, tf in plain.items()}
    expected |= {hf: np.ascontiguousarray(tf_values[tf].T) for hf, tf in transposed.items()}
    assert len(expected) == len(tf_values)  # every weight of the model has its name
    return expected


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bert")
    weights = _bert_variables(np.random.default_rng(18))
    # What Google's pretraining checkpoints hold besides the model, which a port leaves out.
    extra = {f"{name}/adam_m": np.zeros_like(v) for name, v in list(weights.items())[:3]}
    extra |= {f"{name}/adam_v": np.ones_like(v) for name, v in list(weights.items())[:3]}
    extra["global_step"] = np.array(1000, np.int64)
    prefix = tfc.write_with_tf(folder / "bert_model.ckpt", weights | extra)
    expected = _expected_transformers(weights)
    reference = folder / "expected.safetensors"
    safetensors_numpy.save_file(expected, str(reference), metadata={"format": "pt"})
    return prefix, weights, expected, reference


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_remap_with_the_preset_writes_the_file_transformers_expects(bert, tmp_path, capsys):
    prefix, _, expected, reference = bert
    output = tmp_path / "model.safetensors"
    code, out, err = run(capsys, "remap", prefix, str(output), "--preset", "tf-bert-to-hf")
    assert code == 0, err
    assert "7 source tensors are not used" not in out  # the optimizer state is dropped, not unused
    loaded = safetensors_numpy.load_file(str(output))
    assert sorted(loaded) == sorted(expected)
    for name, values in expected.items():
        assert loaded[name].dtype == values.dtype
        np.testing.assert_array_equal(loaded[name], values, err_msg=name)
    # Byte for byte what the safetensors package itself writes for those tensors.
    assert output.read_bytes() == reference.read_bytes()


def test_diff_through_the_preset_calls_a_correct_port_the_same(bert, capsys):
    prefix, _, expected, reference = bert
    code, out, err = run(
        capsys, "diff", prefix, str(reference), "--preset", "tf-bert-to-hf", "--json"
    )
    assert code == 0, out + err
    result = json.loads(out)
    assert {item["status"] for item in result["tensors"]} == {"same"}
    assert len(result["tensors"]) == len(expected)


def test_a_square_kernel_left_untransposed_is_reported_changed(bert, tmp_path, capsys):
    prefix, weights, expected, _ = bert
    wrong = dict(expected)
    name = "bert.encoder.layer.1.attention.self.key.weight"
    wrong[name] = weights["bert/encoder/layer_1/attention/self/key/kernel"]  # as TF stores it
    assert wrong[name].shape == expected[name].shape  # square: no size mismatch to catch it
    port = tmp_path / "wrong.safetensors"
    safetensors_numpy.save_file(wrong, str(port))
    code, out, _ = run(capsys, "diff", prefix, str(port), "--preset", "tf-bert-to-hf", "--json")
    assert code == 1
    changed = [item for item in json.loads(out)["tensors"] if item["status"] != "same"]
    assert [item["name"] for item in changed] == [name]
    assert changed[0]["status"] == "changed"
    assert changed[0]["rel_l2"] > 0.1


def test_the_reverse_preset_brings_the_port_back_to_a_checkpoint_tensorflow_reads(
    bert, tmp_path, capsys
):
    _, weights, _, reference = bert
    back = tmp_path / "back" / "bert_model.ckpt"
    code, _, err = run(capsys, "remap", str(reference), str(back), "--preset", "hf-to-tf-bert")
    assert code == 0, err
    tf = tfc.import_tensorflow()
    names = dict(tf.train.list_variables(str(back)))
    assert sorted(names) == sorted(weights)
    for name, values in weights.items():
        np.testing.assert_array_equal(tf.train.load_variable(str(back), name), values, name)


def test_an_unknown_preset_names_the_shipped_ones(bert, tmp_path, capsys):
    prefix, *_ = bert
    code, _, err = run(capsys, "diff", prefix, prefix, "--preset", "tf-bert-to-gpt")
    assert code == 2
    assert "no preset 'tf-bert-to-gpt' (shipped: hf-to-tf-bert, tf-bert-to-hf" in err
