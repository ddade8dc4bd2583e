"""The teaching panel: what the selected line does and how stages connect.

`t` on the build screen shows or hides it. Its text comes from
`tui.teaching.explain` and follows the selected step or stage.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from engine.breakpoints import Position
from tui.insight_model import InsightModel
from tui.model import BuildModel
from tui.teaching import explain


class TeachingPanel(VerticalScroll):
    """Explanations of the selection, in short titled sections."""

    def compose(self) -> ComposeResult:
        yield Static(id="teaching-text")

    def on_mount(self) -> None:
        self.border_title = "Explain · t hides"

    def show(self, model: BuildModel, position: Position | None, end: bool) -> None:
        if not self.display or position is None:
            return
        if not isinstance(model, InsightModel):
            return
        accent = self.app.theme_variables.get("accent", "")
        text = Text()
        for index, section in enumerate(explain(model, position, end)):
            if index:
                text.append("\n\n")
            text.append(section.title, style=f"bold {accent}")
            text.append("\n" + section.body)
        self.query_one("#teaching-text", Static).update(text)

    @property
    def text(self) -> str:
        """The plain text shown, for tests."""
        return str(self.query_one("#teaching-text", Static).render())
