"""The compare window's Preset menu: a TensorFlow BERT layer against its transformers port (built
here by hand) reads all "same" through tf-bert-to-hf, and names apart without it; File > Open
offers the other frameworks' files."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import tf_checkpoints as tfc
from PySide6.QtCore import QSettings

from ckpt_browser.ui.compare.window import CompareWindow
from ckpt_browser.ui.widgets.file_filters import CHECKPOINT_OR_GRAPH_FILTER

safetensors_numpy = pytest.importorskip("safetensors.numpy")


@pytest.fixture(scope="module")
def port(tmp_path_factory) -> tuple[str, str]:
    rng = np.random.default_rng(5)
    query = rng.standard_normal((4, 4)).astype(np.float32)
    up = rng.standard_normal((4, 6)).astype(np.float32)
    gamma = rng.standard_normal(4).astype(np.float32)
    folder = tmp_path_factory.mktemp("port")
    prefix = tfc.write_with_tf(
        folder / "bert_model.ckpt",
        {
            "bert/encoder/layer_0/attention/self/query/kernel": query,
            "bert/encoder/layer_0/intermediate/dense/kernel": up,
            "bert/encoder/layer_0/output/LayerNorm/gamma": gamma,
            "global_step": np.array(7, np.int64),
        },
    )
    ported = folder / "model.safetensors"
    safetensors_numpy.save_file(
        {
            "bert.encoder.layer.0.attention.self.query.weight": query.T.copy(),
            "bert.encoder.layer.0.intermediate.dense.weight": up.T.copy(),
            "bert.encoder.layer.0.output.LayerNorm.weight": gamma,
        },
        str(ported),
    )
    return prefix, str(ported)


@pytest.fixture
def window(qtbot) -> Iterator[CompareWindow]:
    window = CompareWindow(QSettings())
    qtbot.addWidget(window)
    yield window
    window.view.shutdown()


def _statuses(qtbot, window: CompareWindow) -> dict[str, str]:
    qtbot.waitUntil(window.is_idle, timeout=30_000)
    return {item.name: str(item.status) for item in window.view.comparison().tensors}


def test_the_preset_menu_compares_a_port_as_the_same(qtbot, window, port):
    window.show()
    assert window.open_pair(*port), window.last_error
    assert set(_statuses(qtbot, window).values()) == {"added", "removed"}
    assert window.view.select("bert/encoder/layer_0/attention/self/query/kernel")
    window.preset_actions["tf-bert-to-hf"].trigger()
    statuses = _statuses(qtbot, window)
    assert window.last_error is None
    assert window.view.selected_name() == "bert.encoder.layer.0.attention.self.query.weight"
    assert statuses == {
        "bert.encoder.layer.0.attention.self.query.weight": "same",
        "bert.encoder.layer.0.intermediate.dense.weight": "same",
        "bert.encoder.layer.0.output.LayerNorm.weight": "same",
    }
    assert "(through tf-bert-to-hf)" in window.windowTitle()
    window.preset_actions[None].trigger()
    assert set(_statuses(qtbot, window).values()) == {"added", "removed"}
    assert window.last_error is None
    assert window.view.selected_name() == "bert/encoder/layer_0/attention/self/query/kernel"


def test_a_preset_given_at_open_applies_from_the_start(qtbot, window, port):
    window.show()
    assert window.open_pair(*port, preset="tf-bert-to-hf"), window.last_error
    assert set(_statuses(qtbot, window).values()) == {"same"}
    assert window.preset_actions["tf-bert-to-hf"].isChecked()


def test_file_dialogs_offer_the_other_frameworks_files():
    for pattern in ("*.safetensors", "*.safetensors.index.json", "*.npz", "*.keras", "*.h5"):
        assert pattern in CHECKPOINT_OR_GRAPH_FILTER
