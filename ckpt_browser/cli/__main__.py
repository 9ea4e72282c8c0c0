"""`python -m ckpt_browser.cli`: the same as the `ckpt-browser` command."""

import sys

from ckpt_browser.cli import main

sys.exit(main())
