"""Two checkpoints side by side: name alignment, distances, statuses, the report.

Imports format, core.tensor and core's shared modules; no other core feature.
"""
