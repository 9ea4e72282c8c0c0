"""The line at the bottom of every wizard page: the live problem counts of the current plan."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from ckpt_browser.core.remap.plan import Plan
from ckpt_browser.ui.remap.session import RemapSession


class ProblemBar(QLabel):
    def __init__(self, session: RemapSession) -> None:
        super().__init__()
        self.setTextFormat(Qt.TextFormat.RichText)  # whatever the text: escaped
        self.setWordWrap(True)
        self._session = session
        session.plan_changed.connect(self._show)
        session.error_changed.connect(lambda _error: self._show(session.plan))
        self._show(session.plan)

    def _show(self, plan: Plan | None) -> None:
        if self._session.error:
            error = html.escape(self._session.error)  # a rule may hold "<" and names
            self.setText(f"<b style='color:#d63031'>Rule error:</b> {error}")
        elif plan is None:
            self.setText("Add a source checkpoint to begin.")
        elif plan.blocking:
            self.setText(f"<b style='color:#d63031'>{plan.summary()}</b>")
        else:
            self.setText(f"<b>{plan.summary()}</b>")
