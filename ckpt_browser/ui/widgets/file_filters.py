"""The name filters of the file dialogs that pick checkpoints and graphs."""

# V2 files, the graph and state files, and V1 checkpoints (`model.ckpt`, `model.ckpt-7`, and the
# shards `model.ckpt-3-00000-of-00002`), which have no suffix of their own.
_V1 = "*.ckpt *.ckpt-* *-of-*"
CHECKPOINT_FILTER = f"Checkpoint files (*.index *.meta *.data-* checkpoint {_V1});;All files (*)"
CHECKPOINT_OR_GRAPH_FILTER = (
    f"Checkpoint and graph files (*.index *.meta *.data-* checkpoint *.pb {_V1});;All files (*)"
)
TARGET_FILTER = "Graphs and checkpoints (*.meta *.pb *.index checkpoint);;All files (*)"
