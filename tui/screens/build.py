"""The main screen: stage graph, steps of the selected stage, log, status.

The screen follows the running step by default: each new step selects its
stage and row, and the log shows its output. Moving the selection by key or
mouse stops following; `f` resumes it. A pause or a failure always selects
the step where the build stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, cast

from textual import on
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.reactive import var
from textual.screen import Screen
from textual.widgets import Header

from engine.breakpoints import Position
from engine.events import (
    BuildCancelled,
    BuildFinished,
    BuildPaused,
    Event,
    StepFailed,
    StepStarted,
)
from engine.plan import Plan
from engine.runner import State
from tui.format import format_seconds, shorten
from tui.messages import LogBatch
from tui.model import BuildModel
from tui.replay import END_OF_RECORDING
from tui.screens.actions import diff_request, shell_image
from tui.screens.debugger import DEBUGGER_ACTIONS, DEBUGGER_BINDINGS, DebuggerActions
from tui.screens.insight_views import InsightViews
from tui.widgets.findings import FindingsPanel
from tui.widgets.log_panel import LogPanel
from tui.widgets.stage_graph import StageGraph
from tui.widgets.status_bar import StatusBar
from tui.widgets.steady import KeyFooter
from tui.widgets.step_detail import StepDetail
from tui.widgets.step_table import StepTable
from tui.widgets.teaching import TeachingPanel
from tui.widgets.variables_panel import VariablesPanel
from tui.widgets.watch_panel import WatchPanel

if TYPE_CHECKING:
    from tui.app import StagescopeApp

_NOT_SHOWN = Position(-1, -1)


class BuildScreen(DebuggerActions, InsightViews, Screen[None]):
    BINDINGS = [
        Binding(
            "b", "toggle_breakpoint", "Breakpoint", id="stagescope.breakpoint",
            tooltip="Toggle a breakpoint before the selected step, or after the "
            "FROM of the selected stage",
        ),
        Binding(
            "c", "continue_build", "Continue", id="stagescope.continue",
            tooltip="Run to the next breakpoint or the end of the build",
        ),
        Binding(
            "n", "next_step", "Next", id="stagescope.next",
            tooltip="Run one more instruction and pause again",
        ),
        Binding(
            "x", "stop_build", "Stop", id="stagescope.stop",
            tooltip="Stop buildah and the running step",
        ),
        Binding(
            "r", "rebuild", "Rebuild", id="stagescope.rebuild",
            tooltip="Re-read the Containerfile and build again from the start",
        ),
        Binding(
            "s", "shell", "Shell", id="stagescope.shell",
            tooltip="Open a shell in the selected step's image (the paused state "
            "by default)",
        ),
        Binding(
            "d", "diff", "Diff", id="stagescope.diff",
            tooltip="Compare the selected step with the one before it, or the "
            "selected stage with the stage after it",
        ),
        Binding(
            "slash", "search", "Search", id="stagescope.search",
            tooltip="Search the log of the selected step",
        ),
        Binding(
            "f", "follow", "Follow", id="stagescope.follow",
            tooltip="Select the running step again and follow its output",
        ),
        Binding(
            "t", "toggle_teaching", "Explain", id="stagescope.teaching",
            tooltip="Show or hide what the selected line does and how the stages "
            "connect",
        ),
        *DEBUGGER_BINDINGS,
    ]  # fmt: skip

    following: var[bool] = var(True)

    def __init__(self, max_log_lines: int) -> None:
        super().__init__()
        self.max_log_lines = max_log_lines
        self._log_position: Position | None = _NOT_SHOWN
        self._redraw_pending = False

    @property
    def stagescope(self) -> StagescopeApp:
        return cast("StagescopeApp", self.app)

    @property
    def model(self) -> BuildModel:
        return self.stagescope.model

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="panels"):
            yield StageGraph(self.stagescope.source.plan, id="graph")
            with Vertical(id="detail"):
                yield StepTable(id="steps")
                yield StepDetail(id="step-detail")
                yield VariablesPanel(id="variables")
                with Horizontal(id="lower"):
                    yield LogPanel(self.max_log_lines, id="log")
                    yield TeachingPanel(id="teaching")
        yield FindingsPanel(id="findings")
        yield WatchPanel(id="watch")
        yield StatusBar(id="status")
        yield KeyFooter()

    @property
    def graph(self) -> StageGraph:
        return self.query_one(StageGraph)

    @property
    def steps(self) -> StepTable:
        return self.query_one(StepTable)

    @property
    def log_panel(self) -> LogPanel:
        return self.query_one(LogPanel)

    @property
    def ready(self) -> bool:
        """True while the screen's widgets exist, so updates can be drawn."""
        return self.is_mounted and bool(self.query(StageGraph))

    async def on_mount(self) -> None:
        await self.reset(self.model.plan)
        self.steps.focus()
        self.stagescope.build_screen_ready()

    # Updates from the app

    async def reset(self, plan: Plan) -> None:
        """Show a new build of `plan` from its first stage."""
        if plan is not self.graph.plan:
            await self.graph.set_plan(plan)
        first = plan.build_order[0] if plan.build_order else 0
        self.graph.select(first)
        self.steps.show_stage(self.model, first, self.stagescope.breakpoint_positions())
        self._log_position = _NOT_SHOWN
        self.following = True
        self.show_model()

    def show_model(self) -> None:
        """Redraw statuses, times and the status bar from the model."""
        self.graph.update_status(self.model)
        self.steps.refresh_rows(self.model, self.stagescope.breakpoint_positions())
        self.query_one(StatusBar).show(
            self.model, replay=self.stagescope.replay, following=self.following
        )
        self.refresh_insight()
        self.refresh_variables()

    def show_event(self, event: Event) -> None:
        if isinstance(event, StepStarted) and self.following:
            self.point_at(Position(event.stage, event.step))
        elif isinstance(event, StepFailed):
            self._show_failure(event)
        elif isinstance(event, BuildPaused):
            self._show_pause(event)
        elif isinstance(event, BuildFinished):
            seconds = format_seconds(event.seconds)
            self.notify(f"Build finished in {seconds}: image {event.image[:12]}")
        elif isinstance(event, BuildCancelled):
            self.notify(f"Build stopped ({event.reason})", severity="warning")
        self.insight_event(event)
        self._request_redraw()

    def _request_redraw(self) -> None:
        """Redraw from the model once the events queued now are handled:
        events come in bursts (a step ends, the next starts), and each
        redraw restyles and renders the panels."""
        if not self._redraw_pending:
            self._redraw_pending = True
            self.app.call_later(self._redraw_now)

    def _redraw_now(self) -> None:
        self._redraw_pending = False
        self.show_model()

    def append_log(self, batch: LogBatch) -> None:
        shown = self._log_position
        texts = batch.lines_of(shown)
        # A batch larger than the log view leaves its oldest lines on disk.
        skipped = batch.counts.get(shown, 0) - len(texts)
        if texts or skipped:
            self.log_panel.append(texts, skipped=skipped)

    def _show_failure(self, event: StepFailed) -> None:
        where = ""
        if event.stage is not None and event.step is not None:
            label = self.model.plan.stages[event.stage].label
            where = f"{label} step {event.step}"
            if event.line:
                where += f" (line {event.line})"
            where += ": "
        self.notify(
            f"{where}{event.message}",
            title=f"Build failed with exit status {event.exit_code}",
            severity="error",
            timeout=12,
        )

    def _show_pause(self, event: BuildPaused) -> None:
        if event.stage is None or event.step is None:
            self._show_log(None)
            return
        position = Position(event.stage, event.step)
        self.point_at(position)
        if event.reason in ("failure",):
            return
        label = self.model.plan.stages[event.stage].label
        what = f": {shorten(event.instruction, 60)}" if event.instruction else ""
        if event.reason == END_OF_RECORDING:
            self.notify(f"The recording ends before {label} step {event.step}")
        elif event.instruction is None:
            self.notify(f"Paused at the end of stage {label}, on its finished image")
        else:
            self.notify(f"Paused before {label} step {event.step}{what}")
        if event.condition:
            detail = event.condition_detail or ""
            self.notify(detail, title=f"Condition {event.condition} met")

    # Selection

    def point_at(self, position: Position) -> None:
        """Select a step, its stage and its log, as the app (not the user) does."""
        if self.graph.selected != position.stage or self.steps.stage != position.stage:
            self.graph.select(position.stage)
            self.steps.show_stage(
                self.model, position.stage, self.stagescope.breakpoint_positions()
            )
        self.steps.select_position(position)
        self._show_log(position)

    @on(StageGraph.Selected)
    def _stage_selected(self, message: StageGraph.Selected) -> None:
        self.following = False
        self.graph.select(message.stage)
        self.steps.show_stage(
            self.model, message.stage, self.stagescope.breakpoint_positions()
        )
        self.refresh_bindings()

    @on(StepTable.StepHighlighted)
    def _step_highlighted(self, message: StepTable.StepHighlighted) -> None:
        self._show_log(message.position)
        self.refresh_insight()
        self.refresh_bindings()

    @on(StepTable.Refit)
    def _refit_steps(self) -> None:
        if self.steps.stage is not None:
            self.steps.show_stage(
                self.model, self.steps.stage, self.stagescope.breakpoint_positions()
            )

    @on(StepTable.UserMoved)
    def _user_moved(self) -> None:
        self.following = False

    def watch_following(self, following: bool) -> None:
        self.refresh_bindings()
        if self.is_mounted:
            self.query_one(StatusBar).show(
                self.model, replay=self.stagescope.replay, following=following
            )

    def on_descendant_focus(self) -> None:
        self.refresh_bindings()
        self.refresh_insight()

    def _show_log(self, position: Position | None) -> None:
        if position == self._log_position:
            return
        self._log_position = position
        store = self.stagescope.log_store
        record = self.model.steps.get(position) if position is not None else None
        shown = record.log_lines if record else self.model.build_log_lines
        lines = store.tail(position, self.max_log_lines, shown)
        if position is None:
            title = "Log · output outside any step"
        elif record is None:
            label = self.model.plan.stages[position.stage].label
            title = f"Log · {label} · end of stage"
        else:
            label = self.model.plan.stages[position.stage].label
            instruction = shorten(record.instruction, 50)
            title = f"Log · {label} step {position.step} · {instruction}"
        earlier = max(0, shown - len(lines))
        self.log_panel.show_lines(title, lines, store.step_log(position), earlier)

    # Actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        app = self.stagescope
        model = self.model
        if action == "toggle_breakpoint":
            return self._breakpoint_target() is not None
        if action in ("continue_build", "next_step"):
            return app.can_continue()
        if action == "stop_build":
            return app.building and model.state is State.RUNNING
        if action == "follow":
            return not self.following
        if action == "shell":
            return shell_image(self) is not None
        if action == "diff":
            return diff_request(self) is not None
        if action == "toggle_teaching":
            return self.can_teach()
        if action == "rebuild":
            return not getattr(app.source, "watching", False)
        if action in DEBUGGER_ACTIONS:
            return self.check_debugger_action(action)
        return True

    def _breakpoint_target(self) -> tuple[Position, str] | None:
        """Return the position and spec `b` toggles for the current selection."""
        plan = self.model.plan
        if self.focused is self.graph:
            stage = plan.stages[self.graph.selected]
            return (Position(stage.index, 2), stage.label) if stage.needed else None
        position = self.steps.selected
        if position is None or position.step < 2:
            return None
        stage = plan.stages[position.stage]
        if not stage.needed or position.step > stage.step_count + 1:
            return None
        step = "end" if position.step == stage.step_count + 1 else str(position.step)
        return position, f"{stage.label}:{step}"

    def action_toggle_breakpoint(self) -> None:
        target = self._breakpoint_target()
        if target is None:
            return
        position, spec = target
        added = self.stagescope.toggle_breakpoint(position, spec)
        self.steps.refresh_rows(self.model, self.stagescope.breakpoint_positions())
        if not added:
            self.stagescope.unbreak_now(position)
            self.notify(f"Breakpoint {spec} removed")
        elif self.model.state is State.RUNNING:
            if self.stagescope.break_now(position):
                self.notify(f"Breakpoint {spec} set; the running build pauses there")
            else:
                self.notify(
                    f"Breakpoint {spec} set; the running build is past it or stops "
                    "before it, so it applies from the next continue"
                )
        else:
            self.notify(f"Breakpoint {spec} set")

    def action_continue_build(self) -> None:
        self.following = True
        self.stagescope.run_build("resume")

    def action_next_step(self) -> None:
        self.following = True
        self.stagescope.run_build("step")

    def action_stop_build(self) -> None:
        self.stagescope.stop_build()

    def action_rebuild(self) -> None:
        self.stagescope.restart_build()

    def action_search(self) -> None:
        self.log_panel.open_search()

    def action_follow(self) -> None:
        self.following = True
        target = self.model.running or self.model.paused_at
        if target is not None:
            self.point_at(target)

    def action_shell(self) -> None:
        from tui.screens.actions import open_shell

        open_shell(self)

    def action_diff(self) -> None:
        from tui.screens.actions import open_diff

        open_diff(self)

    def palette_commands(
        self, run: Callable[[str, str], None]
    ) -> Iterator[SystemCommand]:
        """Yield a command palette entry for every action of this screen."""
        for binding in self.BINDINGS:
            assert isinstance(binding, Binding)
            yield SystemCommand(
                binding.description,
                binding.tooltip,
                partial(run, binding.action, binding.description),
            )
