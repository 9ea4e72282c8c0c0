"""TensorFlow's V2 tensor bundle: index entries, data shards, the shard check, the writer.

Imports format's sstable and shared modules; no Qt, no TensorFlow.
"""
