"""The main window: the variable tree, the tensor view (statistics, values), the switcher.

Imports core, ui.widgets and the other ui features it opens (compare, remap, graph).
"""
