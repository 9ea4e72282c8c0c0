"""One tensor's numbers: statistics, histograms, quantiles, slicing, chunked runs, export.

Imports format and core's shared modules; the other core features build on it.
"""
