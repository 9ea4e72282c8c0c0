"""The name filters of the file dialogs that pick checkpoints and graphs."""

from ckpt_browser.format.frameworks.opening import FILE_PATTERNS

# V2 files, the graph and state files, and V1 checkpoints (`model.ckpt`, `model.ckpt-7`, and the
# shards `model.ckpt-3-00000-of-00002`), which have no suffix of their own.
_V1 = "*.ckpt *.ckpt-* *-of-*"
# Other frameworks' weights: the names the format layer opens them by.
_WEIGHTS = " ".join(FILE_PATTERNS)
_OTHERS = f"Other frameworks' weights ({_WEIGHTS})"
CHECKPOINT_FILTER = (
    f"Checkpoint files (*.index *.meta *.data-* checkpoint {_V1} {_WEIGHTS});;"
    f"TensorFlow checkpoints (*.index *.meta *.data-* checkpoint {_V1});;{_OTHERS};;All files (*)"
)
CHECKPOINT_OR_GRAPH_FILTER = (
    f"Checkpoint, graph and weights files (*.index *.meta *.data-* checkpoint *.pb {_V1} "
    f"{_WEIGHTS});;TensorFlow checkpoints and graphs (*.index *.meta *.data-* checkpoint *.pb "
    f"{_V1});;{_OTHERS};;All files (*)"
)
TARGET_FILTER = (
    f"Graphs, checkpoints and weights (*.meta *.pb *.index checkpoint {_WEIGHTS});;All files (*)"
)
