"""Fixtures for the window tests: private settings, a checkpoint of odd tensors, a ready window."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import tf_checkpoints as tfc

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings

from ckpt_browser.ui.app import make_application
from ckpt_browser.ui.browse.main_window import MainWindow


@dataclass(frozen=True)
class ShapesCkpt:
    """A checkpoint with tensors of many shapes and kinds, and their values."""

    prefix: str
    expected: dict[str, np.ndarray]


def _shapes_tensors() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    weights = rng.standard_normal((40, 30)).astype(np.float32)
    weights[3, 4] = 0.0
    weights[5, 6] = np.nan
    weights[7, 8] = np.inf
    weights[9, 10] = -np.inf
    return {
        "net/layer_2/kernel": weights,
        "net/layer_10/kernel": rng.standard_normal((3, 4, 5, 6)).astype(np.float32),
        "net/layer_10/bias": np.linspace(-1, 1, 6, dtype=np.float32),
        "net/cube": np.arange(2 * 3 * 4, dtype=np.int32).reshape(2, 3, 4),
        "net/scalar": np.array(2.5, dtype=np.float64),
        "net/mask": np.array([[True, False], [False, True]]),
        "net/phases": np.array([1 + 1j, -2, 3j], dtype=np.complex64),
        "net/half": rng.standard_normal((8, 8)).astype(np.float16),
        "net/empty": np.zeros((3, 0), dtype=np.float32),
        "vocab/words": np.array([b"alpha", b"\xff\xfebad", b""], dtype=object),
        "vocab/grid": np.array([[b"a", b"b"], [b"c", b"d"]], dtype=object),
        "long_vector": rng.standard_normal(300_000).astype(np.float32),
    }


@pytest.fixture(scope="session")
def shapes_ckpt(tmp_path_factory: pytest.TempPathFactory) -> ShapesCkpt:
    tensors = _shapes_tensors()
    prefix = tfc.write_with_tf(tmp_path_factory.mktemp("shapes") / "shapes", tensors)
    return ShapesCkpt(prefix, tensors)


@pytest.fixture(autouse=True)
def private_settings(tmp_path: Path) -> Iterator[Path]:
    """Every test gets its own empty QSettings store, never the user's."""
    make_application()
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    settings_dir = tmp_path / "settings"
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(settings_dir))
    yield settings_dir


@pytest.fixture
def window(qtbot) -> Iterator[MainWindow]:
    """A shown main window with settings persisted to the private store."""
    main_window = MainWindow(QSettings())
    qtbot.addWidget(main_window)
    main_window.resize(1200, 800)
    main_window.show()
    yield main_window
    main_window.tensor_view.shutdown()


@pytest.fixture
def wait_idle(qtbot) -> Callable[[MainWindow], None]:
    """Wait until every background task of a window has delivered its result."""

    def wait(main_window: MainWindow, timeout: int = 20_000) -> None:
        qtbot.waitUntil(main_window.is_idle, timeout=timeout)

    return wait
