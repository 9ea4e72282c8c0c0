"""Where the remap wizard keeps configurations for later, and the question it asks on closing.

With the window's QSettings the drafts survive a restart (read and written on each use, so two
windows do not overwrite each other's); without settings (scripted runs) they last for this run.
"""

from __future__ import annotations

from enum import Enum

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox, QWidget

from ckpt_browser.core.remap.drafts import Draft, DraftStore

SETTINGS_KEY = "remap/kept"
_THIS_RUN = DraftStore()


class KeptRemaps:
    """The draft store, in `settings` when there are some, else in memory for this run."""

    def __init__(self, settings: QSettings | None) -> None:
        self._settings = settings

    @property
    def persistent(self) -> bool:
        return self._settings is not None

    def get(self, key: str) -> Draft | None:
        return self._load().get(key)

    def keep(self, key: str, draft: Draft) -> None:
        store = self._load()
        store.keep(key, draft)
        self._save(store)

    def discard(self, key: str) -> None:
        store = self._load()
        store.discard(key)
        self._save(store)

    def _load(self) -> DraftStore:
        if self._settings is None:
            return _THIS_RUN
        value = self._settings.value(SETTINGS_KEY, "")
        return DraftStore(value if isinstance(value, str) else None)

    def _save(self, store: DraftStore) -> None:
        if self._settings is not None:
            self._settings.setValue(SETTINGS_KEY, store.to_text())


class CloseChoice(Enum):
    KEEP = "Keep for Later"
    DISCARD = "Discard"
    CONTINUE = "Continue Editing"


def ask_to_keep(parent: QWidget, draft: Draft, sources: str, persistent: bool) -> QMessageBox:
    """A window-modal question; each button carries its `CloseChoice` as the property "choice".

    Escape means Continue Editing: a second Escape must not throw the work away.
    """
    box = QMessageBox(
        QMessageBox.Icon.Question,
        "Remap Wizard",
        "Keep this remap configuration for later?",
        parent=parent,
    )
    when = "the next time" if persistent else "again while the program runs"
    box.setInformativeText(
        f"It holds {draft.describe()}. Kept, it comes back when you open the Remap Wizard "
        f"for {sources} {when}."
    )
    roles = {
        CloseChoice.KEEP: QMessageBox.ButtonRole.AcceptRole,
        CloseChoice.DISCARD: QMessageBox.ButtonRole.DestructiveRole,
        CloseChoice.CONTINUE: QMessageBox.ButtonRole.RejectRole,
    }
    for choice, role in roles.items():
        button = box.addButton(choice.value, role)
        button.setProperty("choice", choice.name)
        if choice is CloseChoice.KEEP:
            box.setDefaultButton(button)
        if choice is CloseChoice.CONTINUE:
            box.setEscapeButton(button)
    return box


def button_for(box: QMessageBox, choice: CloseChoice):
    """The question's button for `choice` (what a test or a script clicks)."""
    for button in box.buttons():
        if button.property("choice") == choice.name:
            return button
    raise KeyError(choice)
