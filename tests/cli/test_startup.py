"""Start-up: the command line loads only what the checkpoint in hand needs.

Importing ml_dtypes 0.7 takes about half a second, longer than listing 20,000 variables; it must
load only when a tensor of one of its types (bfloat16, float8, int4 ...) is read. Each check runs
in a fresh interpreter, as a user's command does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
from tf_checkpoints import import_tensorflow

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HEAVY = ("ml_dtypes", "tensorflow", "PySide6", "pyqtgraph")

# argv: steps as JSON. Runs each command-line step, then reports (on the last line of stdout) which
# heavy modules are loaded and the raw bytes of any tensor asked for.
_SCRIPT = """
import io, json, sys, contextlib
from ckpt_browser.cli import main
steps = json.loads(sys.argv[1])
report = {"codes": [], "bytes": {}}
for step in steps:
    if step[0] == "read":
        from ckpt_browser.format import open_checkpoint
        with open_checkpoint(step[1]) as ckpt:
            array = ckpt.read(step[2])
            report["bytes"][step[2]] = [array.dtype.name, array.tobytes().hex()]
    else:
        with contextlib.redirect_stdout(io.StringIO()):
            report["codes"].append(main(step))
    report.setdefault("loaded", []).append(
        sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(sys.argv[2])))
    )
print(json.dumps(report))
"""


def run_fresh(*steps: list[str]) -> dict:
    env = {**os.environ, "PYTHONPATH": REPO}
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT, json.dumps(steps), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


def test_listing_a_float32_checkpoint_loads_no_heavy_module(tf1_training_dir):
    report = run_fresh(["ls", tf1_training_dir.prefix], ["ls", "--json", tf1_training_dir.prefix])
    assert report["codes"] == [0, 0]
    assert report["loaded"] == [[], []]


def test_bfloat16_loads_ml_dtypes_only_when_read_and_reads_bit_exact(all_dtypes_ckpt):
    prefix = all_dtypes_ckpt.prefix
    report = run_fresh(["ls", "--json", prefix], ["read", prefix, "bfloat16"])
    assert report["codes"] == [0]
    assert report["loaded"] == [[], ["ml_dtypes"]]  # listing a bfloat16 tensor does not need it
    tf = import_tensorflow()
    theirs = tf.train.load_checkpoint(prefix).get_tensor("bfloat16")
    dtype_name, hex_bytes = report["bytes"]["bfloat16"]
    assert dtype_name == "bfloat16" == theirs.dtype.name
    assert bytes.fromhex(hex_bytes) == np.ascontiguousarray(theirs).tobytes()
