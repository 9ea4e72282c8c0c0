"""The name filters of the file dialogs that pick checkpoints and graphs."""

# V2 files, the graph and state files, and V1 checkpoints (`model.ckpt`, `model.ckpt-7`, and the
# shards `model.ckpt-3-00000-of-00002`), which have no suffix of their own.
_V1 = "*.ckpt *.ckpt-* *-of-*"
# Other frameworks' weights (format.frameworks.opening.FILE_PATTERNS, spelled out: widgets do not
# import the format layer for a constant).
_WEIGHTS = "*.safetensors *.safetensors.index.json *.npz *.h5 *.hdf5 *.keras *.bin *.pt *.pth"
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
