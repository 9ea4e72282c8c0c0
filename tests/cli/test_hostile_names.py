"""Names are data: a hostile name neither runs as code, nor rewrites the terminal, nor moves a file.

Checkpoint keys are any bytes the writer chose. TensorFlow writes the hostile names here without
complaint; each test shows one place where such a name leaves the program (a generated script, a
line of output, the `checkpoint` state file) and asserts what the user sees or relies on there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tf_checkpoints import import_tensorflow, write_with_tf

from ckpt_browser.cli import main
from ckpt_browser.format import open_checkpoint, resolve_prefix
from ckpt_browser.format.names import name_of_key
from ckpt_browser.format.v2.writer import write_checkpoint_state


def hostile_names(mark: Path) -> list[str]:
    """Names that would run `touch mark` if written raw into code, or act on a terminal."""
    payload = f"import pathlib; pathlib.Path({str(mark)!r}).touch()  #"
    return [
        f"evil\n{payload}",
        f"cr\r{payload}",
        f"u2028\u2028{payload}",
        "clear\x1b[2J\x1b[31mred",
        "rtl\u202egnp.exe",
        "quotes'\"'''\"\"\"",
        "back\\slash\\n",
        "../../x",
        "nel\x85vt\x0bff\x0cfs\x1cnul\x00end",
        "größe/Gewicht",
    ]


def assert_printable_lines(text: str) -> list[str]:
    """Every line of `text` holds printable characters only; returns the lines."""
    lines = text.splitlines()
    assert text.split("\n")[: len(lines)] == lines  # no line break but "\n"
    for line in lines:
        assert line.isprintable(), repr(line)
    return lines


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def hostile_ckpt(tmp_path) -> tuple[str, list[str]]:
    names = hostile_names(tmp_path / "INJECTED")
    values = {name: np.arange(4, dtype=np.float32) + i for i, name in enumerate(names)}
    return write_with_tf(tmp_path / "src" / "model.ckpt", values), names


def test_names_in_the_exported_script_stay_data_and_the_mapping_restores(tmp_path):
    """Restorable names are `repr` literals, the others an escaped comment: running the script
    (as a user does, with TensorFlow) runs no injected line and restores by the mapping."""
    mark = tmp_path / "INJECTED"
    # Python refuses a script holding a NUL byte: left out so that an injection would run.
    names = [name for name in hostile_names(mark) if "\x00" not in name]
    # s<i>:<name> maps onto w<i> by regex; t<i>:<name> is cast, so it is listed in the comment.
    source = {f"s{i}:{name}": np.arange(4, dtype=np.float32) + i for i, name in enumerate(names)}
    source |= {f"t{i}:{name}": np.ones(4, np.float32) for i, name in enumerate(names)}
    template = {f"w{i}": np.zeros(4, np.float32) for i in range(len(names))}
    template |= {f"t{i}:{name}": np.zeros(4, np.float64) for i, name in enumerate(names)}
    source_prefix = write_with_tf(tmp_path / "src" / "model.ckpt", source)
    template_prefix = write_with_tf(tmp_path / "template" / "model.ckpt", template)
    script = tmp_path / "restore.py"
    code = main(
        [
            "remap",
            source_prefix,
            str(tmp_path / "unused"),
            "--target",
            template_prefix,
            "--regex",
            r"(?s)^s(\d+):.*$=w\1",
            "--cast",
            "target",
            "--dry-run",
            "--export-script",
            str(script),
        ]
    )
    assert code == 0
    driver = f"""
import json, runpy
import tensorflow as tf
namespace = runpy.run_path({str(script)!r})
v1 = tf.compat.v1
with tf.Graph().as_default(), v1.Session() as session:
    variables = {{f"w{{i}}": v1.get_variable(f"w{{i}}", [4], use_resource=True)
                 for i in range({len(names)})}}
    namespace["init_from_checkpoints"]()
    session.run(v1.global_variables_initializer())
    first = session.run(variables)
    session.run([v.assign(tf.zeros_like(v)) for v in variables.values()])
    namespace["restore_with_savers"](session)
    second = session.run(variables)
print(json.dumps({{n: [first[n].tolist(), second[n].tolist()] for n in variables}}))
"""
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-c", driver], capture_output=True, text=True, env=environment, timeout=300
    )
    assert not mark.exists(), "a name ran as code"
    assert result.returncode == 0, result.stderr[-2000:]
    text = script.read_text(encoding="utf-8")
    comment = text[text.index("# Not restorable by name") :]
    assert len(comment.splitlines()) == 2 + len(names)
    assert all(line.startswith("#") and line.isprintable() for line in comment.splitlines())
    restored = json.loads(result.stdout.splitlines()[-1])
    for i in range(len(names)):
        expected = (np.arange(4) + i).tolist()
        assert restored[f"w{i}"] == [expected, expected]


def test_terminal_output_escapes_names(capsys, tmp_path, hostile_ckpt):
    prefix, names = hostile_ckpt
    code, out, err = run(capsys, "ls", prefix)
    assert code == 0
    lines = assert_printable_lines(out + err)
    assert len(lines) == len(names) + 2
    assert "rtl\\u202egnp.exe" in out and "evil\\nimport pathlib" in out
    assert "größe/Gewicht" in out  # readable as it is
    # A backslash shows doubled, so that no name shows as another's escape (format.names).
    assert "back\\\\slash\\\\n" in out

    for name in names:  # by the key's text, as TensorFlow lists it
        code, out, err = run(capsys, "show", prefix, name)
        assert code == 0, err
        assert_printable_lines(out + err)

    assert run(capsys, "verify", prefix)[0] == 0
    other = write_with_tf(
        tmp_path / "other" / "model.ckpt", {name: np.zeros(4, np.float32) for name in names[1:]}
    )
    code, out, err = run(capsys, "diff", prefix, other)
    assert code == 1
    assert len(assert_printable_lines(out + err)) == len(names) + 2

    # remap: the plan, a problem listing names, and the error that stops it
    code, out, err = run(
        capsys, "remap", other, str(tmp_path / "out"), "--target", prefix, "--dry-run"
    )
    assert code == 2
    lines = assert_printable_lines(out + err)
    assert err.startswith("error: ") and len(err.splitlines()) == 1
    assert sum("evil\\nimport" in line for line in lines) >= 2

    code, out, err = run(capsys, "show", prefix, "missing\x1b[2J\n")
    assert code == 2
    assert len(assert_printable_lines(err)) == 1


def test_json_output_keeps_the_names_exactly(capsys, hostile_ckpt):
    prefix, names = hostile_ckpt
    code, out, _ = run(capsys, "ls", prefix, "--json")
    assert code == 0
    assert_printable_lines(out)
    # Exactly: each key's text, escaped where it does not print (see format.names).
    expected = sorted(name_of_key(name.encode()) for name in names)
    assert sorted(v["name"] for v in json.loads(out)["variables"]) == expected


def test_state_file_of_hostile_paths_round_trips_through_tensorflow(capsys, tmp_path):
    """The `checkpoint` file escapes quotes, backslashes and line breaks so TensorFlow reads the
    same paths back; it is plain ASCII, and a path it names prints escaped."""
    directory = tmp_path / 'run "q" \\ \x1b[2J \u202e'
    directory.mkdir()
    older = str(directory / "model\nold")
    latest = str(directory / "mo'\"d\\e\x1b[31ml\u2028\u202e")
    for prefix in (older, latest):
        write_with_tf(prefix, {"v": np.zeros(2, np.float32)})
    state_file = write_checkpoint_state(directory, latest, [older, latest])

    data = Path(state_file).read_bytes()
    assert data.isascii()
    assert all(line.isprintable() for line in data.decode().splitlines())
    state = import_tensorflow().train.get_checkpoint_state(str(directory))
    assert state.model_checkpoint_path == latest
    assert list(state.all_model_checkpoint_paths) == [older, latest]
    assert resolve_prefix(str(directory)) == latest
    with open_checkpoint(str(directory)) as ckpt:
        assert ckpt.prefix == latest

    code, out, err = run(capsys, "ls", str(directory))
    assert code == 0
    assert assert_printable_lines(out + err)[-1].endswith("\\x1b[31ml\\u2028\\u202e")
