"""The SSTable files under a V2 `.index` (and the V1 format): blocks, keys, footer.

Imports only the format layer's shared modules (errors, crc); no Qt, no TensorFlow.
"""
