"""Widgets that skip the redraws and layouts which would change nothing.

A running build refreshes the panels twice a second and on every build
event. Each `Static.update` and each footer rebuild makes Textual restyle
and lay out the screen again, which during a flood of output delays the
keys the user presses. These helpers do that work only when what is shown
changes.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual.screen import Screen
from textual.widgets import Footer, Static

ShownBinding = tuple[str, str, bool, str]


def show_content(widget: Static, content: Text | str) -> None:
    """Show `content` in `widget` unless it is there already, and lay the
    screen out again only when the widget's height could change."""
    old = widget.content
    if type(old) is type(content) and old == content:
        return
    old_lines = _line_lengths(old) if isinstance(old, (Text, str)) else None
    new_lines = _line_lengths(content)
    width = widget.content_region.width
    same_height = (
        old_lines is not None
        and len(old_lines) == len(new_lines)
        and width > 0
        and max(old_lines, default=0) <= width
        and max(new_lines, default=0) <= width
    )
    widget.update(content, layout=not same_height)


def _line_lengths(content: Text | str) -> list[int]:
    plain = content.plain if isinstance(content, Text) else content
    return [cell_len(line) for line in plain.split("\n")]


class SteadyFooter(Footer):
    """Textual's footer, minus the rebuilds that show the same keys again.

    The stock footer recomposes, restyles and lays out every key whenever the
    screen's bindings are refreshed. The app refreshes them on every build
    event, so that a key shows as soon as it can act, and most refreshes
    change nothing on screen.
    """

    def __init__(self) -> None:
        super().__init__()
        self._shown: tuple[ShownBinding, ...] | None = None

    def bindings_changed(self, screen: Screen[object]) -> None:
        shown = tuple(
            (binding.key, binding.description, enabled, tooltip)
            for _, binding, enabled, tooltip in screen.active_bindings.values()
            if binding.show
        )
        if shown == self._shown:
            return
        super().bindings_changed(screen)
        if screen.app.app_focus and self.is_attached and screen is self.screen:
            self._shown = shown
