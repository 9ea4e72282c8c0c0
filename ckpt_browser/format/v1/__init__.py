"""Legacy V1 ("tensor slice") checkpoints: one or more LevelDB tables holding protobuf-encoded
slices (format doc: checkpoint-format-v1.md)."""
