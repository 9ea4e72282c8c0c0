"""The main window's figures: exact statistics of a big tensor, and how
long the event loop is ever blocked while they are computed. Used by `run_benchmarks.py`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

Row = tuple[str, str, str, str]
PYTHON = sys.executable
REPO = Path(__file__).resolve().parents[2]


def offscreen() -> dict[str, str]:
    return {**os.environ, "QT_QPA_PLATFORM": "offscreen"}


# Runs in a fresh interpreter: open the big checkpoint, select its tensor, and record the longest
# gap between ticks of a 10 ms timer until the statistics, histogram and values are all shown.
_GAP_SCRIPT = """
import sys, time
from PySide6.QtCore import QTimer
from ckpt_browser.ui.app import make_application
from ckpt_browser.ui.browse.main_window import MainWindow
app = make_application()
window = MainWindow(None)
window.resize(1400, 900)
window.show()

def until_idle():
    start = time.perf_counter()
    poll = QTimer()
    done = lambda: window.is_idle() and time.perf_counter() - start > 0.2  # noqa: E731
    poll.timeout.connect(lambda: done() and app.quit())
    poll.start(5)
    app.exec()

if sys.argv[3] == "warm":  # the tensor pane built once already, as after the first selection
    window.open_path(sys.argv[4], select=sys.argv[5])
    until_idle()
ticks = []
timer = QTimer()
timer.setInterval(10)
timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
timer.start()
start = time.perf_counter()
window.open_path(sys.argv[1], select=sys.argv[2])
until_idle()
done = time.perf_counter() - start
gaps = [b - a for a, b in zip(ticks, ticks[1:])]
print(done, max(gaps) if gaps else 0.0)
"""


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def bench_window(paths: dict[str, str]) -> list[Row]:
    import numpy as np

    from ckpt_browser.core.tensor.stats import analyze, compute_quantiles, compute_stats, histogram
    from ckpt_browser.format import open_checkpoint

    array = open_checkpoint(paths["big"]).read("embedding")
    np.histogram(array[::64], bins=100)  # warm the page cache and numpy

    def stats_and_histogram() -> None:
        stats = compute_stats(array, quantiles=False)
        histogram(array, 100, stats=stats)

    def timed(run, repeat: int = 3) -> float:
        values = []
        for _ in range(repeat):
            start = time.perf_counter()
            run()
            values.append(time.perf_counter() - start)
        return _median(values)

    ours = timed(stats_and_histogram)
    everything = timed(lambda: analyze(array, 100))
    quantiles = timed(lambda: compute_quantiles(array))
    numpy_histogram = timed(lambda: np.histogram(array, bins=100))
    numpy_percentile = timed(lambda: np.percentile(array, [1, 25, 50, 75, 99]), repeat=1)

    demo = str(REPO / "resources" / "demo")
    stalls = {}
    for mode in ("cold", "warm"):
        runs = []
        for _ in range(3):
            args = [paths["big"], "embedding", mode, demo, "conv2/kernel"]
            out = subprocess.run(
                [PYTHON, "-c", _GAP_SCRIPT, *args],
                check=True,
                env=offscreen(),
                capture_output=True,
                text=True,
                cwd=REPO,
            )
            runs.append(tuple(float(v) for v in out.stdout.split()[-2:]))
        stalls[mode] = (_median([d for d, _ in runs]), max(g for _, g in runs))
    (done, gap), (_, warm_gap) = stalls["cold"], stalls["warm"]
    return [
        (
            "exact statistics + histogram of 67M float32",
            f"{ours:.2f} s",
            f"`np.histogram` alone {numpy_histogram:.2f} s",
            f"<= 0.3 s: {'yes' if ours <= 0.3 else 'NO'}",
        ),
        (
            "... and the quantiles too, as the window computes them (`analyze`)",
            f"{everything:.2f} s",
            "",
            "",
        ),
        (
            "exact quantiles (1, 25, 50, 75, 99 %) of 67M float32",
            f"{quantiles:.2f} s",
            f"`np.percentile` {numpy_percentile:.2f} s",
            f"< 1.5 s: {'yes' if quantiles < 1.5 else 'NO'}",
        ),
        (
            "window: select the 67M tensor until all is shown; longest event-loop stall",
            f"{done:.2f} s; stall {warm_gap * 1000:.0f} ms ({gap * 1000:.0f} ms when it is the "
            "first tensor shown, building the pane)",
            "",
            f"stall <= 50 ms: {'yes' if warm_gap <= 0.05 else 'NO'}",
        ),
    ]
