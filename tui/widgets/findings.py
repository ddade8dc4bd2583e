"""The pre-flight findings of the Containerfile, one selectable row each.

Each row shows the severity mark, the line and the message. Selecting a row
(enter or a click) posts a `Jump` message, on which the build screen selects
the step of that line. The panel hides itself when the check found nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from engine.checks import Finding
from tui.insight_text import FINDING_MARKS, severity_style


class FindingsPanel(OptionList):
    """Findings in line order; hidden while there are none."""

    class Jump(Message):
        """The user selected `finding`, whose line is None for a whole-file one."""

        def __init__(self, finding: Finding) -> None:
            super().__init__()
            self.finding = finding

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.findings: list[Finding] = []

    def on_mount(self) -> None:
        self.display = False

    def show(self, findings: Sequence[Finding]) -> None:
        """Replace the rows; keep the highlighted row where it still exists."""
        if list(findings) == self.findings:
            return
        highlighted = self.highlighted
        self.findings = list(findings)
        self.clear_options()
        self.add_options([self._option(i, f) for i, f in enumerate(self.findings)])
        self.display = bool(self.findings)
        self.border_title = f"Findings · {summarize(self.findings)}"
        if self.findings:
            self.highlighted = min(highlighted or 0, len(self.findings) - 1)

    def _option(self, index: int, finding: Finding) -> Option:
        theme = self.app.theme_variables
        text = Text()
        style = severity_style(finding.severity, theme)
        text.append(f"{FINDING_MARKS[finding.severity]} ", style=style)
        line = str(finding.line) if finding.line is not None else "—"
        text.append(f"{line:>4} ", style="bold")
        text.append(f"{finding.severity:<8}", style=style)
        text.append(finding.message)
        text.append(f"  [{finding.code}]", style="dim")
        return Option(text, id=str(index))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is not None:
            self.post_message(self.Jump(self.findings[int(event.option.id)]))


def summarize(findings: Sequence[Finding]) -> str:
    """Return counts such as `1 warning, 2 info`."""
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding.severity] = counts.get(finding.severity, 0) + 1
    parts = []
    for severity in ("error", "warning", "info"):
        count = counts.get(severity)
        if count:
            noun = severity if count == 1 or severity == "info" else f"{severity}s"
            parts.append(f"{count} {noun}")
    return ", ".join(parts) or "none"
