"""What is in force at a pause: base image, ARGs, ENV, WORKDIR, USER, SHELL.

The panel shows the `variables` of the current pause (see
engine.variables_at) while the build is paused or failed, and hides itself
otherwise. Each ARG shows where its value came from. After a conditional
pause, the subtitle names the condition that the step before met.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from engine.runner import State
from engine.variables_at import DEFAULT_SHELL
from tui.model import BuildModel

SOURCE_WORDS = {
    "--build-arg": "--build-arg",
    "default": "default in the stage",
    "global": "global default",
    "platform": "set by buildah",
    "unset": "no value",
}


class VariablesPanel(VerticalScroll):
    """The variables of the current pause, one row per name."""

    DEFAULT_CSS = """
    VariablesPanel {
        height: auto;
        max-height: 12;
        border: round $panel-lighten-2;
        border-title-color: $accent;
        border-subtitle-color: $text-muted;
        scrollbar-size-vertical: 1;
        display: none;
    }
    VariablesPanel.-shown {
        display: block;
    }
    VariablesPanel:focus-within {
        border: round $accent;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.hidden_by_user = False
        self.shown_pause: object | None = None

    def compose(self) -> Any:
        yield Static(id="variables-table")

    def show(self, model: BuildModel) -> None:
        """Show the variables of the model's pause, or hide when there is none."""
        pause = model.pause
        paused = model.state in (State.PAUSED, State.FAILED)
        available = paused and pause is not None and bool(pause.variables)
        self.set_class(available and not self.hidden_by_user, "-shown")
        if not available or pause is None or pause is self.shown_pause:
            return
        self.shown_pause = pause
        assert pause.variables is not None
        where = f"step {pause.step}"
        if pause.stage is not None:
            stage = model.plan.stages[pause.stage]
            where = f"{stage.name or f'stage {stage.index}'} {where}"
        self.border_title = f"Variables before {where}"
        self.border_subtitle = ""
        if pause.reason == "condition" and pause.condition:
            self.border_subtitle = f"{pause.condition}: {pause.condition_detail}"
        table = self.query_one("#variables-table", Static)
        table.update(variables_table(pause.variables))


def variables_table(variables: dict[str, Any]) -> Table:
    """Return the rows of the panel: base, ARGs, ENV, then the rest."""
    table = Table(box=None, show_header=False, expand=True, padding=(0, 1))
    table.add_column("kind", style="bold", no_wrap=True, width=7)
    table.add_column("name", no_wrap=True)
    table.add_column("value", ratio=1, overflow="fold")
    table.add_column("source", no_wrap=True, style="dim")
    base = variables.get("base", "")
    if variables.get("base_stage"):
        table.add_row("FROM", "", f"stage {variables['base_stage']}", base)
    else:
        table.add_row("FROM", "", base, "")
    for name, arg in (variables.get("args") or {}).items():
        source = SOURCE_WORDS.get(str(arg.get("source")), str(arg.get("source")))
        if arg.get("line"):
            source += f", line {arg['line']}"
        value = arg.get("value")
        shown = Text("(no value)", style="italic") if value is None else Text(value)
        table.add_row("ARG", name, shown, source)
    for name, value in (variables.get("env") or {}).items():
        table.add_row("ENV", name, Text(value), "")
    table.add_row("WORKDIR", "", variables.get("workdir") or "/", "")
    table.add_row("USER", "", variables.get("user") or "root", "")
    shell = variables.get("shell") or list(DEFAULT_SHELL)
    table.add_row("SHELL", "", " ".join(shell), "")
    return table
