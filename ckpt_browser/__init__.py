"""ckpt-browser: look inside TensorFlow checkpoints.

Layers, each importing only those below it: `ui` (Qt) -> `core` (logic) -> `format` (files);
`cli` is the command line. The reading API is `ckpt_browser.format.open_checkpoint`.
"""
