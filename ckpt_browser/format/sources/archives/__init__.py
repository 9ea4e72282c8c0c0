"""Checkpoints inside archives: a zip read in place (members by ranges or decompressed once), a tar
unpacked into the user cache directory, and fsspec's chained URLs. Imports only the format layer.
"""

from ckpt_browser.format.sources.archives.chained import from_chained_url
from ckpt_browser.format.sources.archives.tree import (
    ArchiveTree,
    archive_tree_for,
    checkpoint_folders,
)
from ckpt_browser.format.sources.archives.unpack import unpack_archive

__all__ = [
    "ArchiveTree",
    "archive_tree_for",
    "checkpoint_folders",
    "from_chained_url",
    "unpack_archive",
]
