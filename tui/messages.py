"""Messages that carry engine events from the build thread to the app."""

from __future__ import annotations

from textual.message import Message

from engine.breakpoints import Position
from engine.events import Event
from engine.plan import Plan


class BuildEvent(Message):
    """An engine event other than a log line, delivered in order."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class LogBatch(Message):
    """The output that arrived since the previous batch.

    `lines` contains runs of consecutive lines of one step, oldest first.
    When a batch has more lines than the log widget keeps, only the newest
    are sent. `counts` still counts every line, and all are in the log files.
    """

    def __init__(
        self,
        lines: tuple[tuple[Position | None, list[str]], ...],
        counts: dict[Position | None, int],
    ) -> None:
        super().__init__()
        self.lines = lines
        self.counts = counts
        """Lines per step in the whole batch, those not sent included."""

    def lines_of(self, position: Position | None) -> list[str]:
        """Return the batch's lines of one step, in order."""
        return [
            line for where, texts in self.lines if where == position for line in texts
        ]


class BuildReset(Message):
    """A new build starts from the beginning of `plan`: forget the last one."""

    def __init__(self, plan: Plan) -> None:
        super().__init__()
        self.plan = plan


class SizesChanged(Message):
    """Image sizes that the steps table shows became known."""
