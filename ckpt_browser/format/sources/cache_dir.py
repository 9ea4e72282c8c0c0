"""The user cache directory: fetched ranges, spooled tensors and unpacked archives go here, never
next to a checkpoint (a run's directory is the user's, and may be read-only or a bucket)."""

from __future__ import annotations

import os

CACHE_DIR_VARIABLE = "CKPT_BROWSER_CACHE_DIR"


def cache_directory() -> str:
    """`$CKPT_BROWSER_CACHE_DIR`, or the platform's user cache directory for the program."""
    chosen = os.environ.get(CACHE_DIR_VARIABLE)
    if chosen:
        return chosen
    import platformdirs

    return platformdirs.user_cache_dir("ckpt-browser", appauthor=False)
