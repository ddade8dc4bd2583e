"""Every key of the app, as currently mapped, with what it does.

The last column is the action's name, which the key file (`tui.keys`) maps
to other keys."""

from __future__ import annotations

import importlib
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.keys import PREFIX, default_key_file, shown_path

SECTIONS: list[tuple[str, str]] = [
    ("Build", "tui.screens.build:BuildScreen"),
    ("App", "tui.app:StagescopeApp"),
    ("Stage graph", "tui.widgets.stage_graph:StageGraph"),
    ("Steps", "tui.widgets.step_table:StepTable"),
    ("Log search", "tui.widgets.log_panel:SearchInput"),
    ("Diff", "tui.screens.diff:DiffScreen"),
    ("Help", "tui.screens.help:HelpScreen"),
]

EXTRA_KEYS = [
    (
        "Moving around",
        "tab / shift+tab",
        "Move between the graph, the steps and the log",
    ),
    ("Moving around", "up / down, pgup / pgdn", "Move the selection or scroll"),
    ("Moving around", "home / end", "First or last line; end follows the log again"),
    ("Moving around", "mouse", "Click a stage, a step or a file to select it"),
    ("App", "ctrl+p", "Command palette: every action by name"),
]


def _class(path: str) -> Any:
    """Import the class that `path` ("module:name") names."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,question_mark", "dismiss", "Close", id="stagescope.help.close",
                tooltip="Close this help"),
        Binding("q", "app.quit", "Quit", id="stagescope.help.quit",
                tooltip="Quit stagescope, stopping the build"),
    ]  # fmt: skip

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body"):
            yield Static(self._table(), id="help-table")

    def on_mount(self) -> None:
        body = self.query_one("#help-body")
        body.border_title = "Keys  (escape closes)"
        key_file = shown_path(default_key_file())
        body.border_subtitle = f"other keys: {key_file} or --keys FILE"

    def sections(self) -> list[tuple[str, list[tuple[str, str, str, str]]]]:
        """Return (title, [(keys, action, description, name)]) for every
        section."""
        sections = []
        for section, path in SECTIONS:
            bindings = _class(path).BINDINGS
            rows = [self._row(b) for b in bindings if isinstance(b, Binding)]
            rows += [(k, "", d, "") for s, k, d in EXTRA_KEYS if s == section]
            sections.append((section, rows))
        moving = [(k, "", d, "") for s, k, d in EXTRA_KEYS if s == "Moving around"]
        sections.append(("Moving around", moving))
        return sections

    def _table(self) -> Table:
        table = Table(box=None, expand=True, show_header=False, padding=(0, 1))
        table.add_column("key", style="bold", no_wrap=True, min_width=14)
        table.add_column("action", no_wrap=True)
        table.add_column("what it does", ratio=1)
        table.add_column("name in keys.toml", style="dim", no_wrap=True)
        accent = self.app.theme_variables.get("accent", "")
        for title, rows in self.sections():
            self._add_section(table, title, rows, accent)
        return table

    def _add_section(
        self,
        table: Table,
        title: str,
        rows: list[tuple[str, str, str, str]],
        accent: str,
    ) -> None:
        if not rows:
            return
        table.add_row(Text(title, style=f"bold {accent}"), "", "", "")
        for row in rows:
            table.add_row(*row)
        table.add_row("", "", "", "")

    def _row(self, binding: BindingType) -> tuple[str, str, str, str]:
        assert isinstance(binding, Binding)
        keys = self._keys(binding)
        name = (binding.id or "").removeprefix(PREFIX)
        return keys, binding.description, binding.tooltip, name

    def _keys(self, binding: Binding) -> str:
        keymap = getattr(self.app, "keymap", {})
        keys = keymap.get(binding.id, binding.key) if binding.id else binding.key
        names = [self.app.get_key_display(Binding(key, "")) for key in keys.split(",")]
        return " / ".join(names)
