"""Whole-checkpoint work as independent tasks that merge in a fixed order, run on this machine's
threads or on a Dask cluster. Imports format, core.tensor and core's shared modules.
"""
