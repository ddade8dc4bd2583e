"""The log of one step: a header, the lines, and a search bar opened by `/`."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Label

from tui.widgets.log_view import LogView


class SearchInput(Input):
    """The search field: Enter and Down go to the next match, Up to the previous."""

    BINDINGS = [
        Binding("down", "next_match", "Next match", id="stagescope.search.next"),
        Binding(
            "up", "previous_match", "Previous match", id="stagescope.search.previous"
        ),
        Binding("escape", "close", "Close search", id="stagescope.search.close"),
    ]

    def action_next_match(self) -> None:
        self.post_message(LogPanel.SearchMove(backwards=False))

    def action_previous_match(self) -> None:
        self.post_message(LogPanel.SearchMove(backwards=True))

    def action_close(self) -> None:
        self.post_message(LogPanel.SearchClosed())


class LogPanel(Vertical):
    """Shows the lines of the step the build screen points it at."""

    class SearchMove(Message):
        def __init__(self, backwards: bool) -> None:
            super().__init__()
            self.backwards = backwards

    class SearchClosed(Message):
        pass

    def __init__(self, max_lines: int, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.max_lines = max_lines
        self.full_log: Path | None = None
        self._earlier = 0

    def compose(self) -> ComposeResult:
        yield LogView(self.max_lines, id="log-view")
        with Horizontal(id="search-bar"):
            yield Label("/", id="search-label")
            yield SearchInput(placeholder="search the log", id="search-input")
            yield Label("", id="search-count")

    @property
    def view(self) -> LogView:
        return self.query_one(LogView)

    def show_lines(
        self,
        title: str,
        lines: Iterable[str],
        full_log: Path | None = None,
        earlier: int = 0,
    ) -> None:
        """Replace the content with another step's lines; `earlier` lines before
        them are only in `full_log`."""
        self.border_title = title
        self.full_log = full_log
        view = self.view
        view.clear()
        view.append(lines)
        self._earlier = earlier
        self._show_subtitle()
        self._rerun_search()

    def append(self, lines: Iterable[str], skipped: int = 0) -> None:
        """Add lines at the end; `skipped` lines before them are only in the
        full log."""
        self._earlier += skipped
        # The lines shown are not followed by the next ones after a gap.
        self.view.append(lines, after_gap=skipped > 0)
        self._show_subtitle()
        if self.has_class("-searching"):
            self._show_count()

    def _show_subtitle(self) -> None:
        view = self.view
        hidden = self._earlier + view.dropped
        if hidden and self.full_log is not None:
            self.border_subtitle = (
                f"last {len(view.lines):,} of {hidden + len(view.lines):,} lines · "
                f"all in {self.full_log}"
            )
        else:
            self.border_subtitle = ""

    # Search

    def open_search(self) -> None:
        self.add_class("-searching")
        self.query_one(SearchInput).focus()

    @on(Input.Changed, "#search-input")
    def _search_changed(self, event: Input.Changed) -> None:
        self.view.search(event.value)
        self._show_count()

    @on(Input.Submitted, "#search-input")
    def _search_submitted(self) -> None:
        self.view.next_match()
        self._show_count()

    @on(SearchMove)
    def _search_move(self, event: SearchMove) -> None:
        self.view.next_match(backwards=event.backwards)
        self._show_count()

    @on(SearchClosed)
    def _search_closed(self) -> None:
        self.remove_class("-searching")
        self.query_one(SearchInput).value = ""
        self.view.search("")
        self.view.focus()

    def _rerun_search(self) -> None:
        text = self.query_one(SearchInput).value
        if text and self.has_class("-searching"):
            self.view.search(text)
            self._show_count()

    def _show_count(self) -> None:
        view = self.view
        label = self.query_one("#search-count", Label)
        if not self.query_one(SearchInput).value:
            label.update("")
        elif view.match_count == 0:
            label.update("no match")
        else:
            current = view.current_match
            position = f"{current + 1}/" if current is not None else ""
            label.update(f"{position}{view.match_count} lines")
