"""Renaming a checkpoint: rules, spec, plan, target, suggestions, streaming write, exports.

Imports format, core.tensor and core's shared modules; no other core feature.
"""
