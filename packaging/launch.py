"""Entry point of the standalone application: the same `main` as the `ckpt-browser` command.

PyInstaller needs a script to start from; `ckpt_browser/cli.py` cannot be that script itself
because it imports its siblings relatively, which a top-level script cannot do.
"""

from __future__ import annotations

import sys

from ckpt_browser.cli import main

if __name__ == "__main__":
    sys.exit(main())
