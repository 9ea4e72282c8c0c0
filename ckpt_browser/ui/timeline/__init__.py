"""The timeline: a variable or scope across every checkpoint of a run, the run's overview, and
watching a run that is still writing.

Imports core, format and ui.widgets; no other ui feature (the main window in ui.browse opens it).
"""
