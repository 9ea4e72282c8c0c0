"""Weights files of other frameworks (safetensors, Keras HDF5, npz, PyTorch) as `Checkpoint`s,
and the streaming safetensors writer.

Imports only the format layer; each framework's package is an optional extra, imported on use.
"""
