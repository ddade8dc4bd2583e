"""Review a RUN made of the commands typed in a shell, before it is written.

The screen shows the proposed instruction in an editor and, below it, the
unified diff of the Containerfile as it would be written, redrawn as the
instruction is edited. Ctrl+S dismisses with the fix to write; escape
dismisses with None and nothing is written.
"""

from __future__ import annotations

from rich.syntax import Syntax
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static, TextArea

from engine.breakpoints import Position
from engine.plan import Plan
from engine.shellfix import ShellFix, propose_fix
from tui.widgets.steady import KeyFooter


class ShellFixScreen(ModalScreen[ShellFix | None]):
    """Edit and confirm the RUN to insert before the paused step."""

    DEFAULT_CSS = """
    ShellFixScreen {
        align: center middle;
    }
    #fix-body {
        width: 95%;
        max-width: 120;
        height: 90%;
        border: round $accent;
        border-title-color: $accent;
        background: $surface;
        padding: 0 1;
    }
    #fix-editor {
        height: auto;
        max-height: 10;
        min-height: 3;
    }
    #fix-diff {
        height: 1fr;
        border: round $panel-lighten-2;
        border-title-color: $text-muted;
    }
    #fix-hint {
        color: $text-muted;
    }
    """

    BINDINGS = [
        Binding("ctrl+s", "write", "Write and continue", id="stagescope.fix.write"),
        Binding("escape", "cancel", "Cancel", id="stagescope.fix.cancel"),
    ]

    def __init__(self, plan: Plan, position: Position, commands: list[str]) -> None:
        super().__init__()
        self.plan = plan
        self.position = position
        self.fix = propose_fix(plan, position, commands)

    def compose(self) -> ComposeResult:
        with Vertical(id="fix-body") as body:
            body.border_title = "Shell fix: the commands typed in the shell as a RUN"
            yield Static(self._hint(), id="fix-hint")
            yield TextArea(self.fix.instruction, id="fix-editor", soft_wrap=True)
            with VerticalScroll(id="fix-diff") as diff:
                diff.border_title = "Change to the Containerfile"
                yield Static(id="fix-diff-text")
        yield KeyFooter()

    def _hint(self) -> str:
        stage = self.plan.stages[self.position.stage].label
        return (
            f"Inserted on line {self.fix.line} of {self.plan.path}, before "
            f"{stage} step {self.position.step}. Edit it if needed; ctrl+s backs "
            "the file up, writes it and continues the build from the new RUN. "
            "Escape writes nothing."
        )

    def on_mount(self) -> None:
        self._show_diff()
        self.query_one(TextArea).focus()

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        text = event.text_area.text.strip("\n")
        if text.strip() and text != self.fix.instruction:
            self.fix = propose_fix(self.plan, self.position, [], text)
            self._show_diff()

    def _show_diff(self) -> None:
        syntax = Syntax(self.fix.diff, "diff", theme="ansi_dark", word_wrap=True)
        self.query_one("#fix-diff-text", Static).update(syntax)

    def action_write(self) -> None:
        if not self.query_one(TextArea).text.strip():
            self.notify(
                "The instruction is empty: nothing to write", severity="warning"
            )
            return
        self.dismiss(self.fix)

    def action_cancel(self) -> None:
        self.dismiss(None)
