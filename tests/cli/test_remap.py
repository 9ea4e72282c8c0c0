"""`ckpt-browser remap`: the seeds of the tool from the command line, restored by TensorFlow.

Each test fixes one of the errors users meet ("Key ... not found in checkpoint", "Assign requires
shapes of both tensors to match", EMA values, optimizer slots) with the flags a user would type,
then lets TensorFlow restore the result into the graph that wanted it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tf_checkpoints import import_tensorflow, write_with_tf

from ckpt_browser.cli import main
from ckpt_browser.format import open_checkpoint


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["remap", *args])
    out, err = capsys.readouterr()
    return code, out, err


def saved(directory: Path, values: dict[str, np.ndarray]) -> str:
    """A checkpoint of these tensors written by TensorFlow's SaveV2."""
    directory.mkdir(parents=True, exist_ok=True)
    return write_with_tf(directory / "model.ckpt", values)


def saver_restore(prefix: str, shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """What a plain `Saver().restore` puts into fresh float32 variables of these names."""
    tf = import_tensorflow()
    v1 = tf.compat.v1
    with tf.Graph().as_default(), v1.Session() as session:
        variables = {n: v1.get_variable(n, s, use_resource=True) for n, s in shapes.items()}
        v1.train.Saver().restore(session, prefix)
        return session.run(variables)


V = {"v1": np.array([1.0, 2.0], np.float32), "v2": np.array([[3.0]], np.float32)}


def test_rules_rename_v1_v2_for_a_plain_saver(capsys, tmp_path):
    source = saved(tmp_path / "src", V)
    out = tmp_path / "out" / "model.ckpt"
    code, stdout, err = run(
        capsys, source, str(out), "--rule", "v1=other-v1", "--rule", "v2=other-v2"
    )
    assert code == 0, err
    assert "read back and verified" in stdout
    restored = saver_restore(str(out), {"other-v1": (2,), "other-v2": (1, 1)})
    np.testing.assert_array_equal(restored["other-v1"], V["v1"])
    np.testing.assert_array_equal(restored["other-v2"], V["v2"])


def test_missing_target_name_stops_with_exit_2_until_the_template_fills_it(capsys, tmp_path):
    source = saved(tmp_path / "src", V)
    wanted = {**V, "v3": np.array([7.0, 8.0], np.float32)}
    template = saved(tmp_path / "template", wanted)
    out = tmp_path / "out" / "model.ckpt"

    code, stdout, err = run(capsys, source, str(out), "--target", template, "--dry-run")
    assert code == 2
    assert "not found in checkpoint" in stdout and "    v3" in stdout
    assert err.startswith("error: 1 name would break a restore")
    code, _, _ = run(capsys, source, str(out), "--target", template)
    assert code == 2 and not out.parent.exists()

    code, stdout, err = run(capsys, source, str(out), "--target", template, "--keep-template")
    assert code == 0, err
    restored = saver_restore(str(out), {"v1": (2,), "v2": (1, 1), "v3": (2,)})
    np.testing.assert_array_equal(restored["v3"], [7.0, 8.0])
    np.testing.assert_array_equal(restored["v1"], V["v1"])


def test_dry_run_lists_the_plan_and_writes_nothing(capsys, tmp_path):
    source = saved(tmp_path / "src", V)
    out = tmp_path / "out" / "model.ckpt"
    code, stdout, _ = run(capsys, source, str(out), "--rule", "/=net/", "--dry-run")
    assert code == 0
    assert "net/v1  <-  v1  float32 [2]" in stdout
    assert "no blocking problems" in stdout
    assert not out.parent.exists()


def test_shape_and_dtype_mismatches_need_their_flags(capsys, tmp_path):
    tf = import_tensorflow()
    source = saved(tmp_path / "src", {"w": np.arange(6, dtype=np.float32).reshape(2, 3)})
    meta = str(tmp_path / "target" / "model.ckpt.meta")
    with tf.Graph().as_default():
        tf.compat.v1.get_variable("w", [6], dtype=tf.bfloat16, use_resource=True)
        tf.compat.v1.train.Saver().export_meta_graph(meta)
    out = tmp_path / "out" / "model.ckpt"
    code, stdout, _ = run(capsys, source, str(out), "--target", meta)
    assert code == 2
    assert "Assign requires shapes of both tensors to match" in stdout
    code, stdout, _ = run(capsys, source, str(out), "--target", meta, "--allow-reshape")
    assert code == 2 and "dtype differs" in stdout
    args = (source, str(out), "--target", meta, "--allow-reshape", "--cast", "target")
    code, _, err = run(capsys, *args)
    assert code == 0, err
    assert Path(str(out) + ".meta").is_file()  # the target's graph is copied beside the output
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        saver = tf.compat.v1.train.import_meta_graph(str(out) + ".meta")
        saver.restore(session, str(out))
        value = session.run(tf.compat.v1.global_variables()[0])
    np.testing.assert_array_equal(value.astype(np.float32), np.arange(6))


def test_ema_drop_optimizer_and_whole_checkpoint_cast(capsys, tmp_path, tf1_training_dir):
    out = tmp_path / "out" / "model.ckpt"
    code, _, err = run(
        capsys,
        str(tf1_training_dir.directory),
        str(out),
        "--drop-optimizer",
        "--ema",
        "--cast",
        "bfloat16",
    )
    assert code == 0, err
    written = open_checkpoint(out)
    assert set(written) == set(tf1_training_dir.model_variables) | {"global_step"}
    assert written["global_step"].dtype.name == "int64"
    tf = import_tensorflow()
    reader = tf.train.load_checkpoint(str(out))
    source = tf.train.load_checkpoint(tf1_training_dir.prefix)
    for name in tf1_training_dir.model_variables:
        shadow = source.get_tensor(name + "/ExponentialMovingAverage")
        assert reader.get_variable_to_dtype_map()[name] == tf.bfloat16
        np.testing.assert_array_equal(
            reader.get_tensor(name), tf.cast(tf.constant(shadow), tf.bfloat16).numpy()
        )


def test_existing_output_and_the_source_itself_are_protected(capsys, tmp_path):
    source = saved(tmp_path / "src", V)
    out = tmp_path / "out" / "model.ckpt"
    assert run(capsys, source, str(out))[0] == 0
    code, _, err = run(capsys, source, str(out))
    assert code == 2 and "already exists" in err
    assert run(capsys, source, str(out), "--force")[0] == 0
    code, _, err = run(capsys, source, source, "--force")
    assert code == 2 and "replace an input" in err


def test_mapping_file_round_trip_and_script_export(capsys, tmp_path):
    source = saved(tmp_path / "src", V)
    mapping = tmp_path / "map.json"
    script = tmp_path / "restore.py"
    args = (source, str(tmp_path / "unused"), "--regex", r"^v(\d)$=layer_\1", "--dry-run")
    code, _, _ = run(capsys, *args, "--save-map", str(mapping), "--export-script", str(script))
    assert code == 0
    assert json.loads(mapping.read_text())["rules"][0]["kind"] == "regex"
    assert "'v1': 'layer_1'" in script.read_text()
    compile(script.read_text(), str(script), "exec")
    out = tmp_path / "out" / "model.ckpt"
    code, _, err = run(capsys, source, str(out), "--map", str(mapping))
    assert code == 0, err
    assert list(open_checkpoint(out)) == ["layer_1", "layer_2"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--regex", "(=x"], "bad regex"),
        (["--cast", "float99"], "cannot cast to 'float99'"),
        (["--map", "/nonexistent/map.json"], "cannot read the mapping file"),
    ],
)
def test_bad_arguments_say_what_is_wrong(capsys, tmp_path, args, message):
    source = saved(tmp_path / "src", V)
    with pytest.raises(SystemExit) if args[0] == "--regex" else _no_exit():
        code, _, err = run(capsys, source, str(tmp_path / "out"), *args)
        assert code == 2 and message in err
    if args[0] == "--regex":
        assert message in capsys.readouterr().err


class _no_exit:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
