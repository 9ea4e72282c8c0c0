"""Graph files: MetaGraphDef (`.meta`), frozen GraphDef (`.pb`), SavedModel, TensorProto values.

Imports format's shared modules (protos, dtypes, errors); no Qt, no TensorFlow.
"""
