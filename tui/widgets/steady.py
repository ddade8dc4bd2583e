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
from textual import events
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Static

FooterBinding = tuple[str, str, bool, str]


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


class KeyFooter(Widget):
    """The keys that can act now, on one line, redrawn only when they change.

    Textual's footer is a widget per key, rebuilt, restyled and laid out
    whenever the screen's bindings are refreshed. The app refreshes them on
    every build event, so that a key shows as soon as it can act, and a
    rebuild of a dozen keys took 20 to 50 ms of each frame during a build.
    This footer draws one line of text instead; a click on a key presses it.
    """

    DEFAULT_CSS = """
    KeyFooter {
        dock: bottom;
        height: 1;
        background: $footer-background;
        color: $footer-foreground;
    }
    KeyFooter > .key-footer--key {
        color: $footer-key-foreground;
        background: $footer-key-background;
        text-style: bold;
    }
    KeyFooter > .key-footer--description {
        color: $footer-description-foreground;
        background: $footer-description-background;
    }
    KeyFooter > .key-footer--disabled {
        text-style: dim;
    }
    """
    COMPONENT_CLASSES = {
        "key-footer--key",
        "key-footer--description",
        "key-footer--disabled",
    }

    def __init__(self) -> None:
        super().__init__()
        self._keys: tuple[FooterBinding, ...] = ()
        self._spans: list[tuple[int, int, str, bool]] = []
        """(start, end, key, enabled) of each key drawn."""

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        # Once the screen's other widgets, which decide the keys, are there.
        self.call_after_refresh(self._bindings_changed, self.screen)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        if not self.is_attached or screen is not self.screen:
            return
        keys = []
        actions = set()
        for _, binding, enabled, tooltip in screen.active_bindings.values():
            # An action with several keys shows its first.
            if binding.show and binding.action not in actions:
                actions.add(binding.action)
                keys.append((binding.key, binding.description, enabled, tooltip))
        if tuple(keys) != self._keys:
            self._keys = tuple(keys)
            self.refresh()

    def render(self) -> Text:
        key_style = self.get_component_rich_style("key-footer--key")
        text_style = self.get_component_rich_style("key-footer--description")
        disabled = self.get_component_rich_style("key-footer--disabled")
        line = Text(no_wrap=True, overflow="crop", end="")
        spans = []
        for key, description, enabled, _ in self._keys:
            start = len(line)
            display = self.app.get_key_display(Binding(key, ""))
            dim = None if enabled else disabled
            line.append(f" {display} ", key_style + dim)
            line.append(f"{description} ", text_style + dim)
            spans.append((start, len(line), key, enabled))
        palette = self.app.COMMAND_PALETTE_BINDING
        if self.app.ENABLE_COMMAND_PALETTE:
            hint = Text.assemble(
                (f" {self.app.get_key_display(Binding(palette, ''))} ", key_style),
                ("palette ", text_style),
            )
            line.append("  ")
            spans.append((len(line), len(line) + len(hint), palette, True))
            line.append_text(hint)
        self._spans = spans
        return line

    def on_click(self, event: events.Click) -> None:
        for start, end, key, enabled in self._spans:
            if start <= event.x < end:
                if enabled:
                    self.app.simulate_key(key)
                else:
                    self.app.bell()
                return
