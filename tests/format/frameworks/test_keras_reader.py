"""Keras weight files behind the `Checkpoint` API: TensorFlow's Keras saves a small trained
model as `.weights.h5`, inside a `.keras` archive and as a legacy `.h5`; the names read here are
the file's and the values equal the model's own variables."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import tf_checkpoints as tfc

from ckpt_browser.format import CheckpointError, TensorKind, open_checkpoint


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tfc.import_tensorflow()
    import keras

    folder = tmp_path_factory.mktemp("keras")
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(4, name="hidden"),
            keras.layers.BatchNormalization(name="norm"),
            keras.layers.Dense(2, name="out"),
        ],
        name="net",  # not `sequential_N`, which depends on the models made before
    )
    model.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(3)
    model.fit(rng.normal(size=(8, 3)), rng.normal(size=(8, 2)), verbose=0)
    model.save_weights(folder / "model.weights.h5")
    model.save(folder / "model.keras")
    model.save(folder / "model.h5")  # Keras 2's HDF5 layout, which Keras 3 still writes
    hidden, norm, out = model.layers
    keras3 = {
        "layers/dense/vars/0": hidden.kernel,
        "layers/dense/vars/1": hidden.bias,
        "layers/batch_normalization/vars/0": norm.gamma,
        "layers/batch_normalization/vars/1": norm.beta,
        "layers/batch_normalization/vars/2": norm.moving_mean,
        "layers/batch_normalization/vars/3": norm.moving_variance,
        "layers/dense_1/vars/0": out.kernel,
        "layers/dense_1/vars/1": out.bias,
    }
    keras3 = {name: np.asarray(variable.numpy()) for name, variable in keras3.items()}
    optimizer = {
        f"optimizer/vars/{i}": np.asarray(v.numpy())
        for i, v in enumerate(model.optimizer.variables)
    }
    legacy = {variable.path: np.asarray(variable.numpy()) for variable in model.weights}
    return folder, keras3, optimizer, legacy


def _assert_reads(path, expected: dict[str, np.ndarray]) -> None:
    with open_checkpoint(path) as checkpoint:
        assert checkpoint.format_name == "keras"
        assert sorted(checkpoint) == sorted(expected)
        for name, values in expected.items():
            assert checkpoint[name].shape == values.shape
            np.testing.assert_array_equal(checkpoint.read(name), values, err_msg=name)


def test_keras3_weights_read_equal_with_the_optimizer_as_such(trained):
    folder, keras3, optimizer, _ = trained
    _assert_reads(folder / "model.weights.h5", keras3 | optimizer)
    with open_checkpoint(folder / "model.weights.h5") as checkpoint:
        assert checkpoint["optimizer/vars/2"].kind is TensorKind.OPTIMIZER
        assert checkpoint["layers/dense/vars/0"].kind is TensorKind.VARIABLE
        np.testing.assert_array_equal(
            checkpoint.read("layers/dense/vars/0", (slice(0, 2), 1)),
            keras3["layers/dense/vars/0"][0:2, 1],
        )


def test_the_weights_inside_a_keras_archive_read_the_same(trained):
    folder, keras3, optimizer, _ = trained
    _assert_reads(folder / "model.keras", keras3 | optimizer)


def test_a_legacy_h5_reads_by_variable_names(trained):
    folder, _, _, legacy = trained
    assert "net/hidden/kernel" in legacy
    _assert_reads(folder / "model.h5", legacy)


def test_an_hdf5_file_that_is_not_keras_weights_is_refused(tmp_path):
    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as file:
        file["measurements"] = np.arange(4)
    with pytest.raises(CheckpointError, match="an HDF5 file, but not Keras weights"):
        open_checkpoint(path)
    path.write_bytes(b"plain text, not HDF5")
    with pytest.raises(CheckpointError, match="not an HDF5 file"):
        open_checkpoint(path)
