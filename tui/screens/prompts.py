"""Small dialogs of the debugger: a yes/no question and the conditions editor."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from engine.conditions import CONDITION_SYNTAX, Condition, parse_condition
from engine.errors import UsageError

DIALOG_CSS = """
ConfirmScreen, ConditionsScreen {
    align: center middle;
}
.dialog {
    width: 76;
    max-width: 95%;
    height: auto;
    border: round $accent;
    border-title-color: $accent;
    background: $surface;
    padding: 0 1;
}
.dialog .hint {
    color: $text-muted;
}
.dialog .error {
    color: $error;
}
"""


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question, dismissed with True for yes."""

    DEFAULT_CSS = DIALOG_CSS
    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="stagescope.confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="stagescope.confirm.no"),
    ]

    def __init__(self, title: str, question: str) -> None:
        super().__init__()
        self.title_text = title
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as dialog:
            dialog.border_title = self.title_text
            yield Static(self.question)
            yield Static("y yes · n no", classes="hint")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class ConditionsScreen(ModalScreen[None]):
    """Add and remove the conditions that pause the build after a step.

    `conditions` is the list the session's condition hook reads, changed in
    place, so a change applies to the running build from its next step.
    `changed` is called after each change.
    """

    DEFAULT_CSS = DIALOG_CSS
    BINDINGS = [
        Binding("escape", "close", "Close", id="stagescope.conditions.close"),
    ]

    def __init__(
        self, conditions: list[Condition], changed: Callable[[], None] | None = None
    ) -> None:
        super().__init__()
        self.conditions = conditions
        self.changed = changed or (lambda: None)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as dialog:
            dialog.border_title = "Break if"
            yield Static(id="conditions-list")
            yield Input(placeholder="duration>30, output~REGEX or size>100MB")
            yield Static("", id="conditions-error", classes="error")
            yield Static(
                "Pause after any step that meets a condition. Enter adds the "
                "condition, or removes it when it is already set. Escape closes.\n"
                f"Forms: {CONDITION_SYNTAX}.",
                classes="hint",
            )

    def on_mount(self) -> None:
        self._show_list()
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value
        error = self.query_one("#conditions-error", Static)
        if not text.strip():
            self.dismiss(None)
            return
        try:
            condition = parse_condition(text)
        except UsageError as problem:
            error.update(problem.message.removeprefix("--break-if "))
            return
        existing = [c for c in self.conditions if c.text == condition.text]
        if existing:
            self.conditions.remove(existing[0])
        else:
            self.conditions.append(condition)
        error.update("")
        event.input.value = ""
        self._show_list()
        self.changed()

    def _show_list(self) -> None:
        texts = [f"  {condition.text}" for condition in self.conditions]
        shown = "\n".join(texts) if texts else "  (none)"
        self.query_one("#conditions-list", Static).update(f"Conditions:\n{shown}")

    def action_close(self) -> None:
        self.dismiss(None)
