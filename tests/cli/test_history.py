"""`ckpt-browser history`: the table, the JSON records, the overview, the CI check, bad input,
on runs TensorFlow wrote with a frozen layer and a NaN at one save."""

from __future__ import annotations

import json
import shutil

import pytest
from tf_checkpoints import import_tensorflow

from ckpt_browser.cli import main

RECORD_KEYS = {"step", "prefix", "name", "status", "reason", "stats", "delta_prev", "delta_first"}


@pytest.fixture(autouse=True)
def cache_directory(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CKPT_BROWSER_CACHE_DIR", str(tmp_path / "cache"))


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["history", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_records_find_the_nan_at_its_step(capsys, tf2_manager_run):
    code, out, err = run(capsys, tf2_manager_run.directory, "net/decoder/kernel", "--json")
    assert (code, err) == (0, "")
    records = json.loads(out)
    assert [r["step"] for r in records] == list(tf2_manager_run.steps)
    assert all(set(record) == RECORD_KEYS for record in records)
    assert [r["step"] for r in records if r["stats"]["nan_count"]] == [tf2_manager_run.nan_step]
    reader = import_tensorflow().train.load_checkpoint(tf2_manager_run.prefixes[-1])
    values = reader.get_tensor(tf2_manager_run.nan_variable)
    assert records[-1]["stats"]["max"] == pytest.approx(float(values.max()))
    assert records[-1]["stats"]["quantiles"]["50"] is not None
    assert records[0]["delta_prev"] is None
    assert records[1]["delta_prev"]["step"] == tf2_manager_run.steps[0]


def test_the_table_shows_a_frozen_scope_and_gaps(capsys, tf1_saver_run):
    code, out, _ = run(capsys, tf1_saver_run.directory, "net/layer_2", "--stat", "norm,nan_count")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "step",
        "checkpoint",
        "norm",
        "nan_count",
        "rel_l2_prev",
        "cosine_prev",
        "rel_l2_first",
    ]
    rows = {int(line.split()[0]): line.split() for line in lines[1:-1]}
    assert sorted(rows) == list(tf1_saver_run.steps)
    for step in (60, 70, 80):
        assert rows[step][4:6] == ["0", "1"]  # frozen after step 50
    assert lines[-1] == "scope net/layer_2 (2 tensors): 72 values; 6 checkpoints"
    code, out, _ = run(capsys, tf1_saver_run.directory, "net/resized")
    assert "30  model.ckpt-30  gap: shape [4] here, [6] in the reference" in out
    assert out.splitlines()[-1] == "net/resized: 6 values; 6 checkpoints, 3 gaps"


def test_without_a_name_the_overview_finds_the_frozen_layer(capsys, tf1_saver_run):
    code, out, _ = run(capsys, tf1_saver_run.directory, "--json")
    assert code == 0
    records = json.loads(out)
    frozen = {r["step"]: r["delta_prev"]["net/layer_2"] for r in records}
    assert frozen[30] is None  # nothing before the first save
    assert frozen[40] > 0.01 and frozen[50] > 0.01
    assert [frozen[step] for step in (60, 70, 80)] == [0, 0, 0]
    code, out, _ = run(capsys, tf1_saver_run.directory)
    header = out.splitlines()[0].split()
    assert header[:2] == ["step", "checkpoint"]
    assert set(tf1_saver_run.layer_scopes) <= set(header)


def newest_with_nan(tf1_saver_run, tmp_path):
    """A copy of the run up to the save that holds the NaN."""
    directory = tmp_path / "run"
    directory.mkdir()
    for step in (30, tf1_saver_run.nan_step):
        for path in tf1_saver_run.directory.glob(f"model.ckpt-{step}.*"):
            shutil.copy(path, directory)
    return directory


def test_fail_on_nan_names_what_holds_one_in_the_newest_save(capsys, tf1_saver_run, tmp_path):
    code, _, err = run(capsys, tf1_saver_run.directory, "--fail-on-nan")
    assert (code, err) == (0, "")  # the NaN at step 40 is gone from the newest save
    directory = newest_with_nan(tf1_saver_run, tmp_path)
    code, out, err = run(capsys, directory, "--fail-on-nan")
    assert code == 1 and out
    assert err.splitlines() == [
        "nan check: net/layer_1/kernel holds 1 NaN and 0 Inf of 48 values at step 40 "
        f"({directory / 'model.ckpt-40'})"
    ]
    code, _, err = run(capsys, directory, "net/layer_1", "--fail-on-nan", "--json")
    assert code == 1 and "net/layer_1 holds 1 NaN" in err
    code, _, err = run(capsys, directory, "net/head", "--fail-on-nan")
    assert (code, err) == (0, "")


def test_fail_on_nan_fails_when_the_newest_save_cannot_be_read(capsys, tf1_saver_run, tmp_path):
    directory = shutil.copytree(tf1_saver_run.directory, tmp_path / "run")
    index = directory / "model.ckpt-80.index"
    index.write_bytes(index.read_bytes()[:30])
    code, out, err = run(capsys, directory, "net/head", "--fail-on-nan")
    assert code == 1
    assert "80  model.ckpt-80  error: " in out
    assert err.startswith("nan check: the newest checkpoint cannot be read: ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{missing}"], "error: {missing}: no such directory or checkpoint"),
        (["{empty}"], "error: {empty}: no checkpoints in this directory"),
        (["{run}", "net/nope"], "error: {run}: 'net/nope' is in no checkpoint of the run"),
        (["{run}", "net", "--stat", "norm,median"], "error: unknown statistic 'median' for --stat"),
        (["{run}", "--depth", "0"], "error: --depth must be 1 or more, not 0"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, tf1_saver_run, tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    places = {
        "missing": tmp_path / "missing",
        "empty": tmp_path / "empty",
        "run": tf1_saver_run.directory,
    }
    code, out, err = run(capsys, *(arg.format(**places) for arg in args))
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith(message.format(**places))
