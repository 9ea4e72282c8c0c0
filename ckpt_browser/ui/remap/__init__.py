"""The remap wizard: sources and target, rules, the mapping table, writing.

Imports core and ui.widgets; no other ui feature.
"""
