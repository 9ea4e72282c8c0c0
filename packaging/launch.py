"""Entry point of the standalone application: the same `main` as the `ckpt-browser` command.

PyInstaller needs a script to start from; the package `ckpt_browser.cli` cannot be that script
itself: run as a top-level script, a module of a package cannot import its package.
"""

from __future__ import annotations

import sys

from ckpt_browser.cli import main

if __name__ == "__main__":
    sys.exit(main())
