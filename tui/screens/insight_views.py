"""The build screen's views of what the engine works out beyond progress.

`InsightViews` is mixed into BuildScreen. It fills the step detail, the
findings list, the watch panel and the teaching panel from the app's
InsightModel, jumps to the step of a selected finding, toggles the teaching
panel (`t`), and turns watch-mode events into notifications.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from engine.breakpoints import Position
from engine.events import BreakpointDropped, Event, RebuildPredicted, RebuildSkipped
from tui.insight_model import InsightModel
from tui.widgets.findings import FindingsPanel
from tui.widgets.step_detail import StepDetail
from tui.widgets.teaching import TeachingPanel
from tui.widgets.watch_panel import WatchPanel

if TYPE_CHECKING:
    from tui.screens.build import BuildScreen


class InsightViews:
    """Methods of BuildScreen for the insight, findings, watch and teaching views."""

    def _screen(self) -> BuildScreen:
        return cast("BuildScreen", self)

    def _selection(self) -> tuple[Position | None, bool]:
        """Return the selected step and whether it is a stage's end row; with
        the graph focused, the selected stage's FROM."""
        screen = self._screen()
        if screen.focused is screen.graph:
            return Position(screen.graph.selected, 1), False
        position = screen.steps.selected
        end = position is not None and screen.steps.is_end_row(position)
        return position, end

    def refresh_insight(self) -> None:
        """Redraw every insight view from the model."""
        screen = self._screen()
        if not screen.ready:
            return
        model = screen.model
        position, end = self._selection()
        screen.query_one(StepDetail).show(model, position, end)
        screen.query_one(TeachingPanel).show(model, position, end)
        if isinstance(model, InsightModel):
            screen.query_one(FindingsPanel).show(model.findings)
            screen.query_one(WatchPanel).show(model, self._watched_folder())

    def _watched_folder(self) -> str:
        screen = self._screen()
        request = getattr(screen.stagescope.source, "request", None)
        if request is not None:
            return str(request.context)
        return str(screen.model.plan.path.parent)

    def insight_event(self, event: Event) -> None:
        """Tell the user what watch mode did with a change."""
        screen = self._screen()
        if isinstance(event, RebuildPredicted):
            changed = ", ".join(event.trigger) or "nothing"
            screen.notify(f"Changed: {changed}. {event.reason}", timeout=4)
        elif isinstance(event, RebuildSkipped):
            screen.notify(event.message, title="No rebuild", severity="warning")
        elif isinstance(event, BreakpointDropped):
            screen.notify(event.message, title="Breakpoint", severity="warning")

    def on_findings_panel_jump(self, message: FindingsPanel.Jump) -> None:
        screen = self._screen()
        line = message.finding.line
        instruction = (
            screen.model.plan.instruction_at_line(line) if line is not None else None
        )
        if instruction is None:
            where = f"line {line}" if line is not None else "this finding"
            screen.notify(f"{where} is outside every stage, so no step shows it")
            return
        screen.following = False
        screen.point_at(Position(instruction.stage, instruction.step))
        screen.steps.focus()

    def can_teach(self) -> bool:
        return self._selection()[0] is not None

    def action_toggle_teaching(self) -> None:
        panel = self._screen().query_one(TeachingPanel)
        panel.display = not panel.display
        self.refresh_insight()
