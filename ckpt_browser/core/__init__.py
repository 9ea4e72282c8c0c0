"""Headless logic: one folder per feature (`tensor`, `compare`, `remap`, `graph`), shared helpers.

Imports `format` and numpy, never Qt or TensorFlow; a feature imports no other but `core.tensor`.
"""
