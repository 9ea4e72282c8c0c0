"""Build the standalone one-folder application with PyInstaller, then measure it.

    python packaging/build_app.py              # dist/ckpt-browser/ckpt-browser
    python packaging/build_app.py --check      # ... and start it: demo, screenshot, timings
    python packaging/build_app.py --archive    # ... and pack it as dist/ckpt-browser-*.tar.gz

The folder holds the program, Python, Qt and the libraries, the resources (demo, icons, desktop
files) and install-desktop.sh; copy it anywhere and run `ckpt-browser` in it. `--check` starts
the built program on the demo checkpoint with `--screenshot` on Qt's offscreen platform and
reports the time to the written PNG, the figure the README quotes. Needs the `packaging` extra:
`pip install -e '.[packaging]'`.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SPEC = REPO / "packaging" / "ckpt-browser.spec"
INSTALL_SCRIPT = REPO / "packaging" / "install-desktop.sh"
APP_NAME = "ckpt-browser"


@dataclass
class BuildReport:
    """What a build produced and how long things took (seconds, bytes)."""

    folder: str
    executable: str
    build_seconds: float
    size_bytes: int
    file_count: int
    archive: str | None = None
    archive_bytes: int | None = None
    startup_seconds: list[float] = field(default_factory=list)
    screenshot: str | None = None

    def summary(self) -> str:
        lines = [
            f"built        {self.folder} in {self.build_seconds:.0f} s",
            f"size         {self.size_bytes / 2**20:.0f} MiB in {self.file_count} files",
        ]
        if self.archive is not None and self.archive_bytes is not None:
            lines.append(f"archive      {self.archive} ({self.archive_bytes / 2**20:.0f} MiB)")
        if self.startup_seconds:
            times = ", ".join(f"{t:.2f}" for t in self.startup_seconds)
            lines.append(
                f"start-up     {statistics.median(self.startup_seconds):.2f} s median to the demo's"
                f" screenshot ({times} s)"
            )
        return "\n".join(lines)


def build(dist: Path, work: Path) -> BuildReport:
    """Run PyInstaller on the spec; copy the desktop install script into the result."""
    if importlib.util.find_spec("PyInstaller") is None:
        raise SystemExit("error: PyInstaller is missing; pip install -e '.[packaging]'")
    command = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level=WARN"]
    command += ["--distpath", str(dist), "--workpath", str(work), str(SPEC)]
    started = time.perf_counter()
    # Not from the checkout: `python -m` puts the working folder first on sys.path, where an
    # editable install's stale ckpt_browser.egg-info would be the metadata the bundle gets.
    work.mkdir(parents=True, exist_ok=True)
    if subprocess.run(command, cwd=work).returncode != 0:
        raise SystemExit("error: PyInstaller failed (its messages are above)")
    seconds = time.perf_counter() - started
    folder = dist / APP_NAME
    shutil.copy2(INSTALL_SCRIPT, folder / INSTALL_SCRIPT.name)
    files = [path for path in folder.rglob("*") if path.is_file() and not path.is_symlink()]
    return BuildReport(
        folder=str(folder),
        executable=str(folder / APP_NAME),
        build_seconds=seconds,
        size_bytes=sum(path.stat().st_size for path in files),
        file_count=len(files),
    )


def check(report: BuildReport, runs: int, screenshot: Path) -> None:
    """Start the built program `runs` times on the demo; each must write its screenshot."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    command = [report.executable, "--demo", "--screenshot", str(screenshot)]
    for _ in range(runs):
        screenshot.unlink(missing_ok=True)
        started = time.perf_counter()
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        seconds = time.perf_counter() - started
        if result.returncode != 0 or not screenshot.is_file():
            raise SystemExit(
                f"error: the built program failed (exit {result.returncode}):\n{result.stderr}"
            )
        report.startup_seconds.append(round(seconds, 3))
    report.screenshot = str(screenshot)


def archive(report: BuildReport) -> None:
    """Pack the folder as a .tar.gz beside it (what a user downloads)."""
    version = importlib.metadata.version(APP_NAME)
    folder = Path(report.folder)
    name = f"{APP_NAME}-{version}-linux-{platform.machine()}"
    target = folder.parent / f"{name}.tar.gz"
    with tarfile.open(target, "w:gz") as tar:
        tar.add(folder, arcname=name)
    report.archive = str(target)
    report.archive_bytes = target.stat().st_size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, default=REPO / "dist", help="output folder")
    parser.add_argument(
        "--work", type=Path, default=REPO / "build" / "pyinstaller", help="PyInstaller's scratch"
    )
    parser.add_argument("--check", action="store_true", help="start it and time the start-up")
    parser.add_argument("--runs", type=int, default=3, help="start-ups to time with --check")
    parser.add_argument("--screenshot", type=Path, help="where --check writes the screenshot")
    parser.add_argument("--archive", action="store_true", help="also pack it as .tar.gz")
    parser.add_argument("--report", type=Path, help="also write the report as JSON to this file")
    args = parser.parse_args()

    report = build(args.dist.resolve(), args.work.resolve())
    if args.check:
        with tempfile.TemporaryDirectory() as scratch:
            shot = args.screenshot or Path(scratch) / "screenshot.png"
            check(report, max(1, args.runs), shot.resolve())
            if args.screenshot is None:
                report.screenshot = None  # it went with the scratch folder
    if args.archive:
        archive(report)
    if args.report is not None:
        args.report.write_text(json.dumps(asdict(report), indent=1) + "\n")
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
