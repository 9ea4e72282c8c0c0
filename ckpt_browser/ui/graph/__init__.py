"""The graph panel and dock: drawing, search, properties, MetaGraph choice.

Imports core and ui.widgets; no other ui feature.
"""
