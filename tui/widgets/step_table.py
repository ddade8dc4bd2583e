"""The steps of one stage: instruction, line, status, cache hit, time, size.

Rows are the stage's instructions from the plan, steps that buildah added
(such as ONBUILD triggers), and a last row for the end of the stage, where a
breakpoint pauses after the stage's last instruction.
"""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from engine.breakpoints import Position
from tui.format import (
    BREAKPOINT_MARK,
    format_seconds,
    format_size,
    short_image,
    shorten,
)
from tui.insight_text import cache_cell, line_cell
from tui.model import BuildModel, Status, StepRecord

OTHER_COLUMNS_WIDTH = 60
"""Cells taken by every column but the instruction, with their padding."""
MIN_INSTRUCTION_WIDTH = 24
COLUMNS = ("break", "step", "line", "instruction", "status", "cache", "time", "image")
LABELS = ("", "#", "line", "instruction", "status", "cache", "time", "image / size")

STATUS_COLORS = {
    Status.RUNNING: "warning",
    Status.CACHED: "success",
    Status.DONE: "success",
    Status.FAILED: "error",
    Status.PAUSED: "accent",
    Status.STOPPED: "error",
}


def row_key(position: Position) -> str:
    return f"{position.stage}:{position.step}"


class StepTable(DataTable[Text | str]):
    """Rows of the selected stage; the cursor row is the selected step."""

    BINDINGS = [
        Binding("k", "cursor_up", "Up", show=False, id="stagescope.steps.up"),
        Binding("j", "cursor_down", "Down", show=False, id="stagescope.steps.down"),
    ]

    class StepHighlighted(Message):
        """The cursor moved to a step, by key, by mouse or by the app."""

        def __init__(self, position: Position) -> None:
            super().__init__()
            self.position = position

    class UserMoved(Message):
        """The user moved the cursor, by key or by mouse."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self.stage: int | None = None
        self.positions: list[Position] = []

    def on_mount(self) -> None:
        for key, label in zip(COLUMNS, LABELS, strict=True):
            self.add_column(label, key=key)

    def show_stage(
        self, model: BuildModel, stage: int, breakpoints: set[Position]
    ) -> None:
        """Fill the table with the rows of `stage`, keeping the cursor's step."""
        keep = self.cursor_row if stage == self.stage else 0
        self.stage = stage
        self.clear()
        self.positions = []
        for record in model.steps_of(stage):
            self.positions.append(record.position)
            self.add_row(
                *self._cells(model, record, breakpoints), key=row_key(record.position)
            )
        end = Position(stage, model.plan.stages[stage].step_count + 1)
        self.positions.append(end)
        self.add_row(*self._end_cells(model, end, breakpoints), key=row_key(end))
        self.border_title = f"Steps · {model.plan.stages[stage].label}"
        self.move_cursor(row=min(keep, len(self.positions) - 1), animate=False)

    def refresh_rows(self, model: BuildModel, breakpoints: set[Position]) -> None:
        """Update every cell in place; add rows for steps that buildah added."""
        if self.stage is None:
            return
        if len(model.steps_of(self.stage)) + 1 != len(self.positions):
            self.show_stage(model, self.stage, breakpoints)
            return
        for record in model.steps_of(self.stage):
            self._update_row(self._cells(model, record, breakpoints), record.position)
        end = self.positions[-1]
        self._update_row(self._end_cells(model, end, breakpoints), end)

    def select_position(self, position: Position) -> None:
        if position in self.positions:
            self.move_cursor(row=self.positions.index(position), animate=False)

    @property
    def selected(self) -> Position | None:
        if not self.positions or self.cursor_row < 0:
            return None
        return self.positions[min(self.cursor_row, len(self.positions) - 1)]

    def is_end_row(self, position: Position) -> bool:
        return bool(self.positions) and position == self.positions[-1]

    def on_click(self) -> None:
        self.post_message(self.UserMoved())

    def action_cursor_up(self) -> None:
        self.post_message(self.UserMoved())
        super().action_cursor_up()

    def action_cursor_down(self) -> None:
        self.post_message(self.UserMoved())
        super().action_cursor_down()

    def action_page_up(self) -> None:
        self.post_message(self.UserMoved())
        super().action_page_up()

    def action_page_down(self) -> None:
        self.post_message(self.UserMoved())
        super().action_page_down()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if 0 <= event.cursor_row < len(self.positions):
            self.post_message(self.StepHighlighted(self.positions[event.cursor_row]))

    def on_resize(self) -> None:
        self.post_message(self.Refit())

    class Refit(Message):
        """The table's width changed, so the instruction column must be redrawn."""

    def _instruction_width(self) -> int:
        width = self.scrollable_content_region.width
        if width <= 0:
            return 48
        return max(MIN_INSTRUCTION_WIDTH, width - OTHER_COLUMNS_WIDTH)

    # Cells

    def _update_row(self, cells: list[Text | str], position: Position) -> None:
        key = row_key(position)
        for column, value in zip(COLUMNS, cells, strict=True):
            self.update_cell(key, column, value, update_width=column != "instruction")

    def _color(self, status: Status) -> str:
        variable = STATUS_COLORS.get(status)
        if variable is None:
            return self.app.theme_variables.get("text-muted", "")
        return self.app.theme_variables.get(variable, "")

    def _mark(self, position: Position, breakpoints: set[Position]) -> Text:
        if position in breakpoints:
            return Text(
                BREAKPOINT_MARK, style=self.app.theme_variables.get("error", "red")
            )
        return Text("")

    def _cells(
        self, model: BuildModel, record: StepRecord, breakpoints: set[Position]
    ) -> list[Text | str]:
        status = model.step_status(record)
        label = "▶ paused here" if status is Status.PAUSED else status.value
        size = model.image_size(record.image)
        image = short_image(record.image)
        if size is not None:
            image = f"{image} {format_size(size)}"
        instruction = shorten(record.instruction, self._instruction_width())
        return [
            self._mark(record.position, breakpoints),
            str(record.step),
            line_cell(model, record, self.app.theme_variables),
            Text(instruction, style="" if record.in_plan else "italic"),
            Text(label, style=self._color(status)),
            cache_cell(model, record, self.app.theme_variables),
            format_seconds(model.step_seconds(record)),
            image,
        ]

    def _end_cells(
        self, model: BuildModel, end: Position, breakpoints: set[Position]
    ) -> list[Text | str]:
        paused = model.paused_at == end and model.state.value == "paused"
        label = (
            Text("▶ paused here", style=self._color(Status.PAUSED))
            if paused
            else Text("")
        )
        muted = self.app.theme_variables.get("text-muted", "")
        return [
            self._mark(end, breakpoints),
            "",
            "",
            Text("end of stage", style=f"italic {muted}"),
            label,
            "",
            "",
            "",
        ]
