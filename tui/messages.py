"""Messages that carry engine events from the build thread to the app."""

from __future__ import annotations

from textual.message import Message

from engine.breakpoints import Position
from engine.events import Event, LogLine
from engine.plan import Plan


class BuildEvent(Message):
    """An engine event other than a log line, delivered in order."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class LogBatch(Message):
    """The log lines that arrived since the previous batch.

    When a batch contains more lines than the log widget keeps, only the newest
    are sent and `dropped` counts the rest; all of them are in the log files.
    """

    def __init__(
        self,
        lines: tuple[LogLine, ...],
        counts: dict[Position | None, int],
        dropped: int = 0,
    ) -> None:
        super().__init__()
        self.lines = lines
        self.counts = counts
        """Lines per step in the whole batch, dropped ones included."""
        self.dropped = dropped


class BuildReset(Message):
    """A new build starts from the beginning of `plan`: forget the last one."""

    def __init__(self, plan: Plan) -> None:
        super().__init__()
        self.plan = plan
