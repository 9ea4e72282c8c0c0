"""Speed and memory of ckpt-browser against TensorFlow's own reader, on the same files, in one run.

    python tests/benchmarks/run_benchmarks.py [--workdir DIR] [--only NAME ...]

Prints a Markdown table (the README keeps a copy). TensorFlow makes the test checkpoints, so its
reader and ours see the very same bytes. Timings are medians of several runs with a warm page cache;
"whole process" rows run the command in a fresh interpreter, as a user would.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from cluster_benchmarks import bench_cluster
from frameworks_benchmarks import bench_frameworks
from frozen_benchmarks import bench_frozen
from remote_benchmarks import bench_remote
from timeline_benchmarks import bench_timeline
from v1_benchmarks import bench_v1
from window_benchmarks import bench_window

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
TF_QUIET = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}
BIG_ELEMENTS = 64 * 1024 * 1024  # 256 MB of float32
MANY_VARIABLES = 20_000

Row = tuple[str, str, str, str]  # what, ckpt-browser, TensorFlow / baseline, target


def median_time(run: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def process_time(args: list[str], repeat: int = 5, env: dict | None = None) -> float:
    environment = {**os.environ, **TF_QUIET, **(env or {})}

    def run() -> None:
        subprocess.run(args, check=True, env=environment, capture_output=True)

    return median_time(run, repeat)


def run_measured(code: str) -> tuple[str, float]:
    """Run `code` in a fresh interpreter; return its output and its peak resident memory in MB.

    VmHWM is read from /proc (ru_maxrss would carry over the parent's peak across exec).
    """
    peak = "[line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM')]"
    wrapper = f"{code}\nprint({peak}[0])"
    out = subprocess.run(
        [PYTHON, "-c", wrapper],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **TF_QUIET},
        cwd=REPO,
    )
    *lines, peak_kib = out.stdout.split()
    return " ".join(lines), int(peak_kib) / 1024


def tf_save(prefix: str, tensors: dict[str, np.ndarray]) -> None:
    os.environ.update(TF_QUIET)
    import tensorflow as tf

    names = list(tensors)
    tf.raw_ops.SaveV2(
        prefix=prefix,
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[tf.constant(tensors[n]) for n in names],
    )


def make_inputs(workdir: Path) -> dict[str, str]:
    many = str(workdir / "many" / "model.ckpt")
    big = str(workdir / "big" / "model.ckpt")
    if not os.path.exists(many + ".index"):
        os.makedirs(os.path.dirname(many), exist_ok=True)
        rng = np.random.default_rng(0)
        tensors = {
            f"model/block_{i}/layer_{j}/{part}": rng.standard_normal(shape).astype(np.float32)
            for i in range(MANY_VARIABLES // 40)
            for j in range(20)
            for part, shape in (("kernel", (8, 8)), ("bias", (8,)))
        }
        tf_save(many, tensors)
    if not os.path.exists(big + ".index"):
        os.makedirs(os.path.dirname(big), exist_ok=True)
        rng = np.random.default_rng(1)
        tf_save(
            big,
            {
                "embedding": rng.standard_normal(BIG_ELEMENTS, dtype=np.float32).reshape(
                    BIG_ELEMENTS // 1024, 1024
                )
            },
        )
    return {"many": many, "big": big}


# -- issue: format layer ------------------------------------------------------------------------


def bench_startup(paths: dict[str, str]) -> list[Row]:
    """`ls` and the window's start on 20,000 variables, against TensorFlow's list_variables."""
    ours = process_time([PYTHON, "-m", "ckpt_browser.cli", "ls", "--json", paths["many"]])
    theirs = process_time(
        [PYTHON, "-c", f"import tensorflow as tf; tf.train.list_variables({paths['many']!r})"],
        repeat=3,
    )
    screenshot = REPO / "bench-screenshot.png"
    window = process_time(
        [PYTHON, "-m", "ckpt_browser.cli", paths["many"], "--screenshot", str(screenshot)],
        env={"QT_QPA_PLATFORM": "offscreen"},
    )
    screenshot.unlink(missing_ok=True)
    tf_column = f"{theirs * 1000:.0f} ms (`tf.train.list_variables`)"
    return [
        (
            f"`ckpt-browser ls` of {MANY_VARIABLES:,} variables, whole process",
            f"{ours * 1000:.0f} ms ({ours / theirs:.2f}x TF)",
            tf_column,
            f"<= 0.15x TF: {'yes' if ours <= 0.15 * theirs else 'NO'}",
        ),
        (
            f"window `--screenshot` of {MANY_VARIABLES:,} variables, whole process",
            f"{window:.2f} s ({window / theirs:.2f}x TF)",
            tf_column,
            f"< 2 s: {'yes' if window < 2 else 'NO'}",
        ),
    ]


def bench_index(paths: dict[str, str]) -> list[Row]:
    from ckpt_browser.format import open_checkpoint
    from ckpt_browser.format.v2.bundle import BundleIndex

    seconds = median_time(lambda: BundleIndex(paths["many"]), repeat=7)
    opening = median_time(lambda: open_checkpoint(paths["many"]), repeat=5)
    os.environ.update(TF_QUIET)
    import tensorflow as tf

    theirs = median_time(lambda: tf.train.load_checkpoint(paths["many"]), repeat=5)
    rate = MANY_VARIABLES / seconds
    return [
        (
            "index parsing, in process",
            f"{rate:,.0f} entries/s",
            f"{MANY_VARIABLES / theirs:,.0f} entries/s (`load_checkpoint`)",
            f">= 200,000/s: {'yes' if rate >= 200_000 else 'NO'}",
        ),
        (
            f"open a {MANY_VARIABLES:,}-variable checkpoint with names, kinds",
            f"{opening * 1000:.0f} ms",
            f"{theirs * 1000:.0f} ms",
            "",
        ),
    ]


def bench_read_big(paths: dict[str, str]) -> list[Row]:
    from ckpt_browser.format import open_checkpoint

    ckpt = open_checkpoint(paths["big"])
    ours = median_time(lambda: ckpt.read("embedding"), repeat=9)
    touched = median_time(lambda: float(ckpt.read("embedding")[::4096].sum()), repeat=3)
    import tensorflow as tf

    reader = tf.train.load_checkpoint(paths["big"])
    theirs = median_time(lambda: reader.get_tensor("embedding"), repeat=3)
    return [
        (
            "read a 256 MB float32 tensor (memory map, no copy)",
            f"{ours * 1000:.2f} ms",
            f"{theirs * 1000:.0f} ms (`get_tensor`)",
            f"< 5 ms: {'yes' if ours < 0.005 else 'NO'}",
        ),
        ("... and touch every 4096th element", f"{touched * 1000:.1f} ms", "", ""),
    ]


def bench_verify(paths: dict[str, str]) -> list[Row]:
    from ckpt_browser.format import open_checkpoint

    ckpt = open_checkpoint(paths["big"])
    ckpt.verify()  # warm the page cache
    seconds = median_time(ckpt.verify, repeat=5)
    rate = BIG_ELEMENTS * 4 / seconds / 1e9
    return [
        (
            "`verify` (CRC32C from the page cache)",
            f"{rate:.1f} GB/s",
            "",
            f">= 3 GB/s: {'yes' if rate >= 3 else 'NO'}",
        )
    ]


_WRITE_CODE = """
import time, numpy as np
from ckpt_browser.format import CheckpointWriter
chunk = np.random.default_rng(0).standard_normal(2 * 1024 * 1024, dtype=np.float32)  # 8 MB
chunks = {megabytes} // 8
start = time.perf_counter()
with CheckpointWriter({prefix!r}, overwrite=True) as writer:
    pieces = (chunk for _ in range(chunks))
    writer.add_stream("embedding", np.float32, (chunks * chunk.size,), pieces)
print(time.perf_counter() - start)
"""


def bench_write(paths: dict[str, str], workdir: Path) -> list[Row]:
    data_file = paths["big"] + ".data-00000-of-00001"
    copy_target = workdir / "cp-copy"
    cp_seconds = median_time(
        lambda: subprocess.run(["cp", data_file, str(copy_target)], check=True), repeat=3
    )
    os.remove(copy_target)
    rows = []
    for megabytes in (256, 1024):
        prefix = str(workdir / f"written-{megabytes}" / "model.ckpt")
        os.makedirs(os.path.dirname(prefix), exist_ok=True)
        runs = [
            run_measured(_WRITE_CODE.format(megabytes=megabytes, prefix=prefix)) for _ in range(3)
        ]
        seconds = statistics.median(float(out) for out, _ in runs)
        peak = max(peak for _, peak in runs)
        shutil.rmtree(os.path.dirname(prefix))
        throughput = megabytes * 2**20 / seconds / 1e9
        cp_throughput = BIG_ELEMENTS * 4 / cp_seconds / 1e9
        rows.append(
            (
                f"write a {megabytes} MB checkpoint, in process (streamed, fsynced)",
                f"{throughput:.2f} GB/s, peak RSS {peak:.0f} MB",
                f"`cp` of a 256 MB data file {cp_throughput:.2f} GB/s",
                f">= half of cp: {'yes' if throughput >= cp_throughput / 2 else 'NO'}",
            )
        )
    return rows


# -- issue: the remap wizard ----------------------------------------------------------------------

_REMAP_CLI_CODE = """
from ckpt_browser.cli import main
code = main(["remap", {source!r}, {destination!r}, "--rule", "/=model/", "--force"])
assert code == 0, code
"""

# The usual rename script: every variable into a TensorFlow graph under its new name, saved again.
_TF_RENAME_CODE = """
import tensorflow as tf
v1 = tf.compat.v1
reader = tf.train.load_checkpoint({source!r})
with tf.Graph().as_default(), v1.Session() as session:
    variables = [
        v1.Variable(reader.get_tensor(name), name="model/" + name)
        for name, _ in tf.train.list_variables({source!r})
    ]
    session.run(v1.global_variables_initializer())
    v1.train.Saver(variables).save(session, {destination!r})
"""

# A rule changed on 20,000 names in the wizard: new plan, mapping table refilled and repainted.
_WIZARD_CODE = """
import os, statistics, time
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from ckpt_browser.core.remap.rules import Rule
from ckpt_browser.ui.app import make_application
from ckpt_browser.ui.remap.wizard import RemapWizard
app = make_application()
wizard = RemapWizard([{source!r}])
wizard.show()
wizard.setCurrentId(3)
app.processEvents()
times = []
for scope in ["net/", "model/", "encoder/", "m/", "x/", "y/", "z/"]:
    start = time.perf_counter()
    wizard.session.set_rules([Rule("scope", "model/", scope), Rule("drop", "layer_19/")])
    app.processEvents()
    times.append(time.perf_counter() - start)
assert wizard.mapping_page.model.rowCount() == {count}, wizard.mapping_page.model.rowCount()
print(statistics.median(times))
"""


def bench_remap(paths: dict[str, str]) -> list[Row]:
    workdir = Path(paths["big"]).parent.parent / "remapped"
    ours_prefix = str(workdir / "ours" / "model.ckpt")
    theirs_prefix = str(workdir / "tf" / "model.ckpt")
    os.makedirs(os.path.dirname(theirs_prefix), exist_ok=True)
    code = _REMAP_CLI_CODE.format(source=paths["big"], destination=ours_prefix)
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        _, peak = run_measured(code)
        runs.append((time.perf_counter() - start, peak))
    seconds = statistics.median(s for s, _ in runs)
    peak = max(p for _, p in runs)
    start = time.perf_counter()
    rename = _TF_RENAME_CODE.format(source=paths["big"], destination=theirs_prefix)
    _, tf_peak = run_measured(rename)
    tf_seconds = time.perf_counter() - start
    wizard = _WIZARD_CODE.format(source=paths["many"], count=MANY_VARIABLES * 19 // 20)
    update, _ = run_measured(wizard)
    shutil.rmtree(workdir, ignore_errors=True)
    return [
        (
            "`ckpt-browser remap` of a 256 MB checkpoint, whole process (write, fsync, read back)",
            f"{seconds:.2f} s, peak memory {peak:.0f} MB",
            f"{tf_seconds:.1f} s, {tf_peak:.0f} MB (rename script: load into a TF graph, save)",
            f"< 1 s and < 300 MB: {'yes' if seconds < 1 and peak < 300 else 'NO'}",
        ),
        (
            f"wizard: change a rule on {MANY_VARIABLES:,} names (plan + table)",
            f"{float(update) * 1000:.0f} ms",
            "",
            f"< 200 ms: {'yes' if float(update) < 0.2 else 'NO'}",
        ),
    ]


# -- issue: compare two checkpoints ----------------------------------------------------------

_DIFF_CODE = """
import contextlib, io
from ckpt_browser.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(["diff", {a!r}, {b!r}, "--json"])
print(code)
"""


def _diff_inputs(big: str) -> dict[str, str]:
    """B = A + noise for the 256 MB checkpoint, and a 32 MB pair cut from the same values."""
    from ckpt_browser.format import open_checkpoint

    workdir = Path(big).parent.parent / "diff"
    prefixes = {name: str(workdir / name / "model.ckpt") for name in ("b", "small_a", "small_b")}
    if not all(os.path.exists(p + ".index") for p in prefixes.values()):
        a = np.array(open_checkpoint(big).read("embedding"))
        b = a + np.random.default_rng(2).standard_normal(a.shape, dtype=np.float32) * 1e-3
        rows = a.shape[0] // 8
        for name, value in (("b", b), ("small_a", a[:rows]), ("small_b", b[:rows])):
            os.makedirs(os.path.dirname(prefixes[name]), exist_ok=True)
            tf_save(prefixes[name], {"embedding": value})
    return prefixes


def _numpy_diff_with_tf_reader(a_prefix: str, b_prefix: str) -> float:
    """The same distances the way a script would get them: TF's reader, then numpy in float64."""
    os.environ.update(TF_QUIET)
    import tensorflow as tf

    start = time.perf_counter()
    a = tf.train.load_checkpoint(a_prefix).get_tensor("embedding").astype(np.float64)
    b = tf.train.load_checkpoint(b_prefix).get_tensor("embedding").astype(np.float64)
    d = np.abs(a - b)
    norm_a, norm_b = np.linalg.norm(a), np.linalg.norm(b)
    distances = [d.max(), d.argmax(), d.mean(), np.sqrt(np.mean(d * d)), np.linalg.norm(d) / norm_a]
    distances.append(np.vdot(a, b) / norm_a / norm_b)
    distances.append(np.count_nonzero(~np.isclose(a, b, rtol=0, atol=0, equal_nan=True)))
    return time.perf_counter() - start


def bench_diff(paths: dict[str, str]) -> list[Row]:
    inputs = _diff_inputs(paths["big"])
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        code, peak = run_measured(_DIFF_CODE.format(a=paths["big"], b=inputs["b"]))
        runs.append((time.perf_counter() - start, peak))
        assert code == "1", f"diff should report a difference, exit code {code}"
    seconds = statistics.median(s for s, _ in runs)
    peak = max(p for _, p in runs)
    _, small_peak = run_measured(_DIFF_CODE.format(a=inputs["small_a"], b=inputs["small_b"]))
    _, imports_peak = run_measured("import ckpt_browser.cli, ckpt_browser.core.compare.checkpoints")
    theirs = _numpy_diff_with_tf_reader(paths["big"], inputs["b"])
    bounded = peak - small_peak < 16
    return [
        (
            "`ckpt-browser diff` of two 256 MB checkpoints, all distances, whole process",
            f"{seconds:.2f} s",
            f"{theirs:.1f} s (TF `get_tensor` x2, then numpy in float64, in process)",
            f"< 1.5 s: {'yes' if seconds < 1.5 else 'NO'}",
        ),
        (
            "... its peak memory (VmHWM)",
            f"{peak:.0f} MB; a 32 MB pair {small_peak:.0f} MB; imports alone {imports_peak:.0f} MB",
            "",
            f"bounded, not growing with size: {'yes' if bounded else 'NO'}",
        ),
    ]


# -- issue: graph panel -------------------------------------------------------------------------

GRAPH_LAYERS = 50  # x 4 blocks of dense + layer norm, trained with Adam: about 50,000 nodes
_BIG_GRAPH_CODE = """
import os, sys
import tensorflow as tf
v1 = tf.compat.v1
with tf.Graph().as_default() as graph:
    h = v1.placeholder(tf.float32, [None, 32], name="input")
    y = v1.placeholder(tf.float32, [None, 32], name="target")
    with v1.variable_scope("model"):
        for i in range({layers}):
            with v1.variable_scope(f"layer_{{i}}"):
                for part in ("attention", "mlp", "gate", "output"):
                    with v1.variable_scope(part):
                        k = v1.get_variable("kernel", [32, 32])
                        b = v1.get_variable("bias", [32], initializer=v1.zeros_initializer())
                        z = tf.nn.gelu(tf.matmul(h, k) + b)
                        mean, var = tf.nn.moments(z, axes=[-1], keepdims=True)
                        g = v1.get_variable("gamma", [32], initializer=v1.ones_initializer())
                        h = h + g * (z - mean) * tf.math.rsqrt(var + 1e-6)
    loss = tf.reduce_mean(tf.square(h - y))
    step = v1.train.get_or_create_global_step()
    v1.train.AdamOptimizer(1e-3).minimize(loss, global_step=step)
    saver = v1.train.Saver()
    v1.train.export_meta_graph({path!r}, graph=graph, saver_def=saver.as_saver_def())
"""


def _big_graph(big: str) -> str:
    """A TF1 training graph of about 50,000 nodes, made once by TensorFlow (takes ~2 minutes)."""
    path = Path(big).parent.parent / "graph" / "deep.meta"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        code = _BIG_GRAPH_CODE.format(layers=GRAPH_LAYERS, path=str(path))
        subprocess.run(
            [PYTHON, "-c", code], check=True, env={**os.environ, **TF_QUIET}, capture_output=True
        )
    return str(path)


def _longest_stall(panel, app, steps) -> float:
    """The longest the GUI thread went without running a 5 ms timer while `steps` ran."""
    from PySide6.QtCore import QElapsedTimer, QTimer

    clock, last, longest = QElapsedTimer(), [0], [0]
    clock.start()

    def tick() -> None:
        now = clock.elapsed()
        longest[0] = max(longest[0], now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(tick)
    timer.start()
    for step in steps:
        last[0] = clock.elapsed()
        step()
        while panel.busy or panel.model is None:
            app.processEvents()
        app.processEvents()
    timer.stop()
    return longest[0] / 1000


def bench_graph(paths: dict[str, str]) -> list[Row]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from ckpt_browser.core.graph.layout import layered_layout
    from ckpt_browser.core.graph.model import GraphModel
    from ckpt_browser.core.graph.view import SceneBuilder, ViewState
    from ckpt_browser.format.gc_pause import gc_paused
    from ckpt_browser.format.graph.reader import load_graph

    path = _big_graph(paths["big"])

    def collapsed():  # what the panel's loading worker does
        with gc_paused():
            model = GraphModel(load_graph(path))
        return model, SceneBuilder(model).build(ViewState(hide_plumbing=True))

    shown = median_time(collapsed, repeat=3)
    model, scene = collapsed()
    # The scope nearest 500 nodes, expanded all the way down (it and every scope inside it).
    scopes = [i for i, item in enumerate(model.items) if item.is_container and i]
    target = min(scopes, key=lambda i: abs(model.items[i].size - 500))
    entry = model.items[target]
    inside = [i for i in scopes if entry.start <= model.items[i].start < entry.end]
    state = ViewState(frozenset(model.ancestors(target) + inside), hide_plumbing=True)
    expand = median_time(lambda: SceneBuilder(model).build(state), repeat=5)
    # The worst case of one level: 5,000 ops of one flat scope, laid out together.
    flat = 5_000
    keep = (model.edge_source < flat) & (model.edge_target < flat)
    edges = np.stack([model.edge_source[keep], model.edge_target[keep]], axis=1)
    sizes = np.full(flat, 120.0), np.full(flat, 38.0)
    level = median_time(lambda: layered_layout(*sizes, edges), repeat=3)

    from ckpt_browser.ui.app import make_application
    from ckpt_browser.ui.graph.panel import GraphPanel

    app = make_application()
    panel = GraphPanel()
    panel.resize(1000, 800)
    panel.show()
    stall = _longest_stall(
        panel,
        app,
        [lambda: panel.set_graph(path), lambda: panel.reveal(inside[-1])],
    )
    panel.shutdown()
    return [
        (
            f"graph panel: parse a {model.node_count:,}-node .meta and lay out the collapsed view",
            f"{shown:.2f} s ({len(scene.items)} items drawn)",
            "TensorBoard: tens of seconds on 200,000",
            f"< 2 s: {'yes' if shown < 2 else 'NO'}",
        ),
        (
            f"... expand `{entry.name}` ({entry.size} nodes, every scope inside) and lay out",
            f"{expand * 1000:.0f} ms",
            "",
            f"< 0.5 s: {'yes' if expand < 0.5 else 'NO'}",
        ),
        (
            f"... one flat level of {flat:,} nodes, {len(edges):,} edges, layered layout",
            f"{level:.2f} s",
            "Netron gives up near 5,000-8,000 nodes",
            "",
        ),
        (
            "... longest GUI-thread stall while loading it and expanding that scope",
            f"{stall * 1000:.0f} ms",
            "",
            f"never freezes (< 0.25 s): {'yes' if stall < 0.25 else 'NO'}",
        ),
    ]


BENCHMARKS: dict[str, Callable[..., list[Row]]] = {
    "startup": bench_startup,
    "index": bench_index,
    "read": bench_read_big,
    "verify": bench_verify,
    "write": bench_write,
    "remap": bench_remap,
    "diff": bench_diff,
    "graph": bench_graph,
    "window": bench_window,
    "v1": bench_v1,
    "frozen": bench_frozen,
    "timeline": bench_timeline,
    "remote": bench_remote,
    "frameworks": bench_frameworks,
    "cluster": bench_cluster,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", help="keep generated checkpoints here between runs")
    parser.add_argument("--only", nargs="*", choices=sorted(BENCHMARKS))
    args = parser.parse_args()
    # Whole-process rows start the program as an installed package does: from compiled bytecode,
    # not from source (some environments set PYTHONDONTWRITEBYTECODE, which would add ~0.15 s).
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([PYTHON, "-m", "compileall", "-q", str(REPO / "ckpt_browser")], check=True)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="ckpt-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(REPO))
    paths = make_inputs(workdir)
    rows: list[Row] = []
    for name in args.only or BENCHMARKS:
        bench = BENCHMARKS[name]
        with_workdir = ("write", "v1", "frozen", "timeline", "remote", "frameworks", "cluster")
        rows += bench(paths, workdir) if name in with_workdir else bench(paths)
    print(
        f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, numpy {np.__version__}"
    )
    print("| measurement | ckpt-browser | TensorFlow / baseline | target |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
