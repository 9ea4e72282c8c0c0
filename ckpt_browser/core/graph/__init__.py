"""The graph panel's logic: model, kinds, layout, view state, the link to a checkpoint.

Imports format, core.tensor and core's shared modules; no other core feature.
"""
