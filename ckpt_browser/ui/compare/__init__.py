"""The compare window: the table of names and the detail pane of one pair.

Imports core and ui.widgets; no other ui feature.
"""
