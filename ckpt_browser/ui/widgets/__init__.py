"""Widgets and helpers every ui feature shares: plots, heatmap, progress, workers, theme.

Imports core; no ui feature.
"""
