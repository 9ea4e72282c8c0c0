"""The state the remap wizard's pages share: the spec being edited, its inputs and its plan.

Every change (a source, the target, a rule, an override, an option) makes a new plan at once and
announces it with `plan_changed`; building a plan reads no tensor data, so this takes
milliseconds and every page can show live problem counts. Sources and the target are opened once
and kept open until they change or the wizard closes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from PySide6.QtCore import QObject, Signal

from ckpt_browser.core.error_text import error_sentence
from ckpt_browser.core.remap.export import tensorflow_script
from ckpt_browser.core.remap.plan import Plan, RemapInputs, build_plan
from ckpt_browser.core.remap.rules import Rule
from ckpt_browser.core.remap.spec import Override, RemapSpec, load_spec, save_spec
from ckpt_browser.core.remap.suggest import Suggestion, suggest
from ckpt_browser.core.remap.target import Target, load_target
from ckpt_browser.format import Checkpoint, CheckpointError, open_checkpoint
from ckpt_browser.format.atomic import atomic_output


class RemapSession(QObject):
    """The spec, its opened inputs and the current plan (None while there is no source)."""

    plan_changed = Signal(object)  # Plan | None
    inputs_changed = Signal()  # the sources or the target were (re)opened
    error_changed = Signal(str)  # why no plan could be made ("" once one could)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.spec = RemapSpec()
        self.sources: list[Checkpoint] = []
        self.target: Target | None = None
        self.inputs: RemapInputs | None = None
        self.plan: Plan | None = None
        self.error = ""

    # -- inputs -----------------------------------------------------------------------------------

    def add_source(self, path: str) -> None:
        """Open one more source; raises CheckpointError (or OSError) if it does not open."""
        checkpoint = open_checkpoint(path)
        self.sources.append(checkpoint)
        self.spec.sources.append(checkpoint.prefix)
        self._inputs_changed()

    def remove_source(self, index: int) -> None:
        self.sources.pop(index).close()
        self.spec.sources.pop(index)
        self._inputs_changed()

    def set_target(self, path: str | None) -> None:
        """Use `path` as target (None: no target); raises CheckpointError if it does not load."""
        target = load_target(path) if path else None
        if self.target is not None:
            self.target.close()
        self.target = target
        self.spec.target = target.path if target is not None else None
        self._inputs_changed()

    # -- the mapping ------------------------------------------------------------------------------

    def set_rules(self, rules: Sequence[Rule]) -> None:
        self.spec.rules = list(rules)
        self.replan()

    def set_override(self, name: str, override: Override | None) -> None:
        """Decide one name by hand, or (None) give it back to the rules."""
        if override is None:
            self.spec.overrides.pop(name, None)
        else:
            self.spec.overrides[name] = override
        self.replan()

    def accept_suggestions(self, suggestions: dict[str, list[Suggestion]]) -> int:
        """Take the best suggestion of each name as its override; returns how many."""
        for name, found in suggestions.items():
            if found:
                best = found[0].source
                self.spec.overrides[name] = Override.from_source(best.source, best.key)
        self.replan()
        return sum(bool(found) for found in suggestions.values())

    def set_allow_reshape(self, allowed: bool) -> None:
        self.spec.allow_reshape = allowed
        self.replan()

    def set_cast(self, cast: str | None) -> None:
        """None refuses dtype mismatches; "target" casts to the target's; a dtype casts floats."""
        self.spec.cast = cast
        self.replan()

    def set_keep_template(self, keep: bool) -> None:
        self.spec.keep_template = keep
        self.replan()

    def suggestions(self, names: Sequence[str] | None = None) -> dict[str, list[Suggestion]]:
        if self.plan is None or self.inputs is None:
            return {}
        return suggest(self.plan, self.inputs, names)

    # -- files ------------------------------------------------------------------------------------

    def save(self, path: str) -> None:
        save_spec(self.spec, path)

    def load(self, path: str) -> list[str]:
        """Take sources, target, rules, overrides and options from a mapping file.

        Returns one sentence per source or target that could not be opened (the rest is loaded).
        """
        return self.apply_spec(load_spec(path))

    def apply_spec(self, spec: RemapSpec) -> list[str]:
        """Take everything from `spec`; returns one sentence per input that did not open."""
        problems = []
        self._close_inputs()
        self.spec = RemapSpec(
            rules=list(spec.rules),
            overrides=dict(spec.overrides),
            allow_reshape=spec.allow_reshape,
            cast=spec.cast,
            keep_template=spec.keep_template,
        )
        for source in spec.sources:
            try:
                checkpoint = open_checkpoint(source)
            except Exception as exc:  # CheckpointError, OSError, or a case not foreseen
                problems.append(error_sentence(exc, f"open {source}"))
                continue
            self.sources.append(checkpoint)
            self.spec.sources.append(checkpoint.prefix)
        if spec.target:
            try:
                self.target = load_target(spec.target)
                self.spec.target = self.target.path
            except Exception as exc:
                problems.append(f"target: {error_sentence(exc, f'open {spec.target}')}")
        self._inputs_changed()
        return problems

    def export_script(self, path: str) -> None:
        if self.plan is None:
            raise CheckpointError("there is no mapping to export yet: add a source first")
        with atomic_output(path, "w") as file:
            file.write(tensorflow_script(self.plan, [s.prefix for s in self.sources]))

    def close(self) -> None:
        self._close_inputs()

    # -- internals --------------------------------------------------------------------------------

    def _close_inputs(self) -> None:
        for checkpoint in self.sources:
            checkpoint.close()
        if self.target is not None:
            self.target.close()
        self.sources, self.target, self.inputs = [], None, None

    def _inputs_changed(self) -> None:
        self.inputs = RemapInputs(self.sources, self.target) if self.sources else None
        self.inputs_changed.emit()
        self.replan()

    def replan(self) -> None:
        """Build the plan again and tell the pages; a rule that cannot work is reported."""
        error = ""
        if self.inputs is None:
            self.plan = None
        else:
            try:
                self.plan = build_plan(self.spec, self.inputs)
            except ValueError as exc:
                error = str(exc)
        if error != self.error:
            self.error = error
            self.error_changed.emit(error)
        self.plan_changed.emit(self.plan)

    @property
    def source_names(self) -> list[str]:
        return [os.path.basename(s.prefix) for s in self.sources]
