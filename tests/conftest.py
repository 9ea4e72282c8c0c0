"""Shared pytest setup: Qt renders offscreen, and TensorFlow-made checkpoints as session fixtures.

Each fixture makes its checkpoint once per test run, on first use, in a temporary directory;
the makers and the dataclasses they return live in `tests/tf_checkpoints.py` (bundles written
directly with SaveV2), `tests/tf_training_checkpoints.py` (Saver, Checkpoint, SavedModel, .pb),
`tests/tf_v1_checkpoints.py` (legacy V1 files from a V1 Saver and SaveSlices),
`tests/tf_frozen_graphs.py` (GraphDefs frozen by TensorFlow from models whose checkpoints are kept)
and `tests/tf_timeline_runs.py` (training runs with a frozen layer and a NaN at one save).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import tf_checkpoints as tfc
import tf_frozen_graphs as tfg
import tf_timeline_runs as tfr
import tf_training_checkpoints as tft
import tf_v1_checkpoints as tfv1

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="session")
def tf1_training_dir(tmp_path_factory: pytest.TempPathFactory) -> tft.TrainingDir:
    return tft.make_tf1_training_dir(tmp_path_factory.mktemp("tf1_training"))


@pytest.fixture(scope="session")
def tf1_partitioned(tmp_path_factory: pytest.TempPathFactory) -> tft.PartitionedCkpt:
    return tft.make_tf1_partitioned(tmp_path_factory.mktemp("tf1_partitioned"))


@pytest.fixture(scope="session")
def all_dtypes_ckpt(tmp_path_factory: pytest.TempPathFactory) -> tfc.AllDtypesCkpt:
    return tfc.make_all_dtypes_ckpt(tmp_path_factory.mktemp("all_dtypes"))


@pytest.fixture(scope="session")
def tf2_keras_ckpt(tmp_path_factory: pytest.TempPathFactory) -> tft.Tf2Ckpt:
    return tft.make_tf2_keras_ckpt(tmp_path_factory.mktemp("tf2_keras"))


@pytest.fixture(scope="session")
def tf2_module_ckpt(tmp_path_factory: pytest.TempPathFactory) -> tft.Tf2Ckpt:
    return tft.make_tf2_module_ckpt(tmp_path_factory.mktemp("tf2_module"))


@pytest.fixture(scope="session")
def sharded_ckpt(tmp_path_factory: pytest.TempPathFactory) -> tfc.ShardedCkpt:
    return tfc.make_sharded_ckpt(tmp_path_factory.mktemp("sharded"))


@pytest.fixture(scope="session")
def savedmodel_dir(tmp_path_factory: pytest.TempPathFactory) -> tft.SavedModelDir:
    return tft.make_savedmodel_dir(tmp_path_factory.mktemp("savedmodel") / "model")


@pytest.fixture(scope="session")
def multi_meta_graph_savedmodel(
    tmp_path_factory: pytest.TempPathFactory,
) -> tft.MultiMetaGraphSavedModel:
    return tft.make_multi_meta_graph_savedmodel(tmp_path_factory.mktemp("multi_meta") / "model")


@pytest.fixture(scope="session")
def frozen_pb(tmp_path_factory: pytest.TempPathFactory) -> tft.FrozenGraph:
    return tft.make_frozen_pb(tmp_path_factory.mktemp("frozen"))


@pytest.fixture(scope="session")
def tf1_frozen(tmp_path_factory: pytest.TempPathFactory) -> tfg.Tf1Frozen:
    return tfg.make_tf1_frozen(tmp_path_factory.mktemp("tf1_frozen"))


@pytest.fixture(scope="session")
def tf2_keras_frozen(tmp_path_factory: pytest.TempPathFactory) -> tfg.Tf2Frozen:
    return tfg.make_tf2_keras_frozen(tmp_path_factory.mktemp("tf2_keras_frozen"))


@pytest.fixture(scope="session")
def tf2_loop_frozen(tmp_path_factory: pytest.TempPathFactory) -> tfg.Tf2Frozen:
    return tfg.make_tf2_loop_frozen(tmp_path_factory.mktemp("tf2_loop_frozen"))


@pytest.fixture(scope="session")
def constants_pb(tmp_path_factory: pytest.TempPathFactory) -> tfg.ConstantsPb:
    return tfg.make_constants_pb(tmp_path_factory.mktemp("constants_pb"))


@pytest.fixture(scope="session")
def many_variables_ckpt(tmp_path_factory: pytest.TempPathFactory) -> tfc.ManyVariablesCkpt:
    return tfc.make_many_variables_ckpt(tmp_path_factory.mktemp("many_variables"))


@pytest.fixture(scope="session")
def scalars_and_strings_ckpt(tmp_path_factory: pytest.TempPathFactory) -> tft.ScalarsAndStringsCkpt:
    return tft.make_scalars_and_strings_ckpt(tmp_path_factory.mktemp("scalars_and_strings"))


@pytest.fixture(scope="session")
def tf2_sharded_prefix(tmp_path_factory: pytest.TempPathFactory) -> str:
    return tft.make_tf2_sharded_ckpt(tmp_path_factory.mktemp("tf2_sharded"))


@pytest.fixture(scope="session")
def v1_ckpt(tmp_path_factory: pytest.TempPathFactory) -> tfv1.V1Ckpt:
    return tfv1.make_v1_ckpt(tmp_path_factory.mktemp("v1_unsharded"))


@pytest.fixture(scope="session")
def v1_sharded_ckpt(tmp_path_factory: pytest.TempPathFactory) -> tfv1.ShardedV1Ckpt:
    return tfv1.make_v1_sharded_ckpt(tmp_path_factory.mktemp("v1_sharded"))


@pytest.fixture(scope="session")
def v1_slices_ckpt(tmp_path_factory: pytest.TempPathFactory) -> tfv1.SlicesV1Ckpt:
    return tfv1.make_v1_slices_ckpt(tmp_path_factory.mktemp("v1_slices"))


@pytest.fixture(scope="session")
def v1_mixed_dir(tmp_path_factory: pytest.TempPathFactory) -> tfv1.MixedHistoryDir:
    return tfv1.make_v1_mixed_dir(tmp_path_factory.mktemp("v1_mixed"))


@pytest.fixture(scope="session")
def tf1_saver_run(tmp_path_factory: pytest.TempPathFactory) -> tfr.TrainingRun:
    return tfr.make_tf1_saver_run(tmp_path_factory.mktemp("tf1_saver_run"))


@pytest.fixture(scope="session")
def tf2_manager_run(tmp_path_factory: pytest.TempPathFactory) -> tfr.TrainingRun:
    return tfr.make_tf2_manager_run(tmp_path_factory.mktemp("tf2_manager_run"))


@pytest.fixture
def tf2_missing_graph_shard(tf2_sharded_prefix: str, tmp_path) -> tuple[str, str]:
    """A copy of the sharded TF2 checkpoint without the data file that holds its object graph;
    returns the prefix and the missing file's path."""
    from ckpt_browser.format import open_checkpoint

    copy = shutil.copytree(os.path.dirname(tf2_sharded_prefix), tmp_path / "ckpt")
    prefix = str(copy / os.path.basename(tf2_sharded_prefix))
    with open_checkpoint(prefix) as ckpt:
        missing = ckpt.data_files()[ckpt["_CHECKPOINTABLE_OBJECT_GRAPH"].shard]
    os.remove(missing)
    return prefix, missing


@pytest.fixture
def fresh_remote_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Remote reading as a new user starts it: default settings, a cache folder of the test's
    own, nothing fetched or listed before; put back afterwards."""
    from ckpt_browser.format.sources import remote, remote_settings

    monkeypatch.setenv(remote_settings.CACHE_DIR_VARIABLE, str(tmp_path / "cache"))
    remote.configure(disk_cache=False, timeout_s=5.0, connect_timeout_s=5.0)
    remote.clear_memory_cache()
    remote.reset_transfer_stats()
    remote.refresh_all()
    yield
    remote_settings.reset()
    remote.clear_memory_cache()
