"""Byte sources (a file's size and ranges of its bytes) and the trees that hold them."""

from ckpt_browser.format.sources.base import (
    ByteSource,
    SourceFile,
    WindowSource,
    cancel_requested,
    cancellable,
    current_cancel_check,
    raise_if_cancelled,
)

__all__ = [
    "ByteSource",
    "SourceFile",
    "WindowSource",
    "cancel_requested",
    "cancellable",
    "current_cancel_check",
    "raise_if_cancelled",
]
