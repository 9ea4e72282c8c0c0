"""Render the README's screenshots of each view from the demo checkpoint.

    QT_QPA_PLATFORM=offscreen python packaging/screenshots/make_screenshots.py

The main window, compare and graph views come from the program's own `--screenshot` flag; the remap
wizard is driven to its mapping page (EMA values as the variables, optimizer slots dropped, every
name moved under `model/`), as a user would click it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
# A copy in a neutral place, so the pictures show no path of the machine they were made on.
DEMO = Path(tempfile.gettempdir()) / "ckpt-browser-demo" / "convnet"


def program_screenshot(name: str, *args: str) -> None:
    out = HERE / f"{name}.png"
    command = [sys.executable, "-m", "ckpt_browser.cli", *args, "--screenshot", str(out)]
    subprocess.run(command, check=True)
    print(f"wrote {out}")


def wizard_screenshot() -> None:
    from ckpt_browser.core.remap.rules import Rule, RuleKind
    from ckpt_browser.ui.app import make_application
    from ckpt_browser.ui.remap.wizard import RemapWizard

    app = make_application()
    wizard = RemapWizard(sources=[str(DEMO)])
    wizard.session.set_rules(
        [Rule(RuleKind.EMA), Rule(RuleKind.DROP_OPTIMIZER), Rule(RuleKind.SCOPE, "/", "model/")]
    )
    wizard.resize(1300, 800)
    wizard.show()
    for _ in range(3):
        wizard.next()
        app.processEvents()
    out = HERE / "remap-wizard.png"
    wizard.grab().save(str(out), "PNG")
    print(f"wrote {out}")


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    shutil.rmtree(DEMO, ignore_errors=True)
    shutil.copytree(HERE.parents[1] / "resources" / "demo", DEMO)
    program_screenshot("main-window", str(DEMO), "--select", "conv2/kernel", "--size", "1400x860")
    program_screenshot(
        "compare",
        str(DEMO / "model.ckpt-100"),
        str(DEMO / "model.ckpt-300"),
        "--select",
        "conv2/kernel",
        "--size",
        "1500x900",
    )
    program_screenshot(
        "graph", str(DEMO), "--select", "bn1/gamma", "--graph", "--size", "1800x1000"
    )
    wizard_screenshot()
    return 0


if __name__ == "__main__":
    sys.exit(main())
