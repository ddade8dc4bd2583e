"""A scrolling log that keeps only its newest lines and highlights a search.

Lines are plain text: ANSI escape sequences are removed, carriage-return
progress output keeps its last state, and a line longer than
`MAX_LINE_CHARS` is cut with a note of how much was left out (the full line
is in the log file). At most `max_lines` lines are kept; older ones are
dropped as new ones arrive.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rich.cells import cell_len
from rich.segment import Segment
from rich.text import Text
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

MAX_LINE_CHARS = 2000
ANSI_ESCAPE = re.compile(
    r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])"
)
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
CACHE_LIMIT = 4096


def clean_line(text: str) -> str:
    """Return a log line as it should be shown: one row of printable text."""
    text = ANSI_ESCAPE.sub("", text)
    if "\r" in text:
        parts = [part for part in text.split("\r") if part]
        text = parts[-1] if parts else ""
    text = CONTROL.sub("", text.expandtabs())
    if len(text) > MAX_LINE_CHARS:
        hidden = len(text) - MAX_LINE_CHARS
        text = f"{text[:MAX_LINE_CHARS]} … [{hidden:,} more characters in the log file]"
    return text


def _max_cells(lines: list[str]) -> int:
    """Return the width in cells of the widest of some clean lines."""
    if all(map(str.isascii, lines)):
        # Clean ASCII text has no control characters: one cell per character.
        return max(map(len, lines))
    return max(cell_len(line) for line in lines)


class LogView(ScrollView, can_focus=True):
    """Log lines with follow mode and search highlighting."""

    COMPONENT_CLASSES = {"log-view--match", "log-view--current-match"}

    def __init__(
        self,
        max_lines: int = 10_000,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.max_lines = max_lines
        self.lines: list[str] = []
        self.dropped = 0
        """Lines removed from the start to stay within `max_lines`."""
        self._width = 0
        self._pattern: re.Pattern[str] | None = None
        self._matches: list[int] = []
        self._current: int | None = None
        self._cache: dict[int, Strip] = {}

    # Content

    def clear(self) -> None:
        self.lines.clear()
        self.dropped = 0
        self._width = 0
        self._matches.clear()
        self._current = None
        self._cache.clear()
        self.virtual_size = Size(0, 0)
        self.scroll_to(0, 0, animate=False)
        self.refresh()

    def append(self, texts: Iterable[str], *, after_gap: bool = False) -> None:
        """Add lines at the end; stay at the end if the view was there.

        `after_gap` drops every line shown first, because lines the view never
        had come between them and the new ones.
        """
        at_end = self.is_vertical_scroll_end or not self.lines
        if after_gap:
            # Unlike `clear`, this keeps the virtual size, and so the layout.
            self.dropped += len(self.lines)
            self.lines.clear()
            self._matches.clear()
            self._current = None
            self._cache.clear()
        start = len(self.lines)
        # A printable line that is not too long is already clean, and checking
        # that in C keeps a flood of output cheap.
        new = [
            text
            if text.isprintable() and len(text) <= MAX_LINE_CHARS
            else clean_line(text)
            for text in texts
        ]
        if not new and not after_gap:
            return
        self.lines.extend(new)
        if new:
            self._width = max(self._width, _max_cells(new))
        if self._pattern is not None:
            search = self._pattern.search
            self._matches += [start + i for i, line in enumerate(new) if search(line)]
        self._prune()
        self.virtual_size = Size(self._width, len(self.lines))
        if at_end:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.refresh()

    def _prune(self) -> None:
        # Keeping exactly `max_lines` keeps the virtual size, and so the
        # screen's layout, unchanged while output floods in. Deleting the
        # oldest lines of 10,000 takes well under a millisecond.
        excess = len(self.lines) - self.max_lines
        if excess <= 0:
            return
        del self.lines[:excess]
        self.dropped += excess
        self._cache.clear()
        self._matches = [index - excess for index in self._matches if index >= excess]
        if self._current is not None:
            self._current = None

    # Search

    @property
    def match_count(self) -> int:
        return len(self._matches)

    @property
    def current_match(self) -> int | None:
        """Position of the current match among all matches, from 0."""
        return self._current

    def search(self, text: str) -> int:
        """Highlight `text` (case-insensitive unless it has capitals); return the
        number of matching lines and move to the newest one."""
        self._cache.clear()
        self._current = None
        if not text:
            self._pattern = None
            self._matches = []
            self.refresh()
            return 0
        flags = 0 if any(c.isupper() for c in text) else re.IGNORECASE
        self._pattern = re.compile(re.escape(text), flags)
        search = self._pattern.search
        self._matches = [i for i, line in enumerate(self.lines) if search(line)]
        if self._matches:
            self._go_to(len(self._matches) - 1)
        self.refresh()
        return len(self._matches)

    def next_match(self, backwards: bool = False) -> None:
        """Move to the next match down (or up), wrapping around."""
        if not self._matches:
            return
        if self._current is None:
            self._go_to(len(self._matches) - 1 if backwards else 0)
            return
        step = -1 if backwards else 1
        self._go_to((self._current + step) % len(self._matches))

    def _go_to(self, match: int) -> None:
        previous = self._current
        self._current = match
        line = self._matches[match]
        for index in (line, self._matches[previous] if previous is not None else None):
            if index is not None:
                self._cache.pop(index, None)
        top = max(0, line - self.scrollable_content_region.height // 2)
        self.scroll_to(y=top, animate=False)
        self.refresh()

    # Rendering

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width
        style = self.rich_style
        if index >= len(self.lines):
            return Strip.blank(width, style)
        strip = self._cache.get(index)
        if strip is None:
            strip = self._render_text(index)
            if len(self._cache) > CACHE_LIMIT:
                self._cache.clear()
            self._cache[index] = strip
        return strip.crop_extend(scroll_x, scroll_x + width, style)

    def _render_text(self, index: int) -> Strip:
        line = self.lines[index]
        text = Text(line, no_wrap=True, end="")
        if self._pattern is not None:
            is_current = (
                self._current is not None and self._matches[self._current] == index
            )
            component = "log-view--current-match" if is_current else "log-view--match"
            match_style = self.get_component_rich_style(component)
            for found in self._pattern.finditer(line):
                text.stylize(match_style, found.start(), found.end())
        segments = list(text.render(self.app.console))
        return Strip(Segment.apply_style(segments, self.rich_style), cell_len(line))
