"""Debugger keys of the build screen, mixed into BuildScreen.

- `i` steps into the stage that the selected (else the paused) COPY --from
  or RUN --mount from= reads: it shows that stage's steps and offers a
  breakpoint at its end for the next run. `o` steps back out, one level per
  press.
- `e` toggles a breakpoint at the end of the selected stage, which pauses on
  the stage's finished image before the stages that use it run.
- `B` edits the conditions that pause the build after a step (see
  engine.conditions).
- After a shell in the paused state, the commands typed in it are offered as
  a RUN before the paused step (`a` offers them again). Accepting writes the
  Containerfile, after a backup, and continues with the new RUN.
- `v` shows or hides the variables in force at the pause.

Each key is in the footer only while it can act.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, cast
from weakref import WeakKeyDictionary

from textual.binding import Binding

from engine.breakpoints import Position
from engine.conditions import Condition, watch_conditions
from engine.errors import StagescopeError
from engine.plan import Plan
from engine.runner import BuildSession, State
from engine.shellfix import ShellFix, apply_fix, resume_with_fix, useful_commands
from tui.format import shorten
from tui.messages import BuildReset
from tui.screens.prompts import ConditionsScreen, ConfirmScreen
from tui.screens.shell_fix import ShellFixScreen
from tui.widgets.variables_panel import VariablesPanel

if TYPE_CHECKING:
    from tui.app import StagescopeApp
    from tui.screens.build import BuildScreen

DEBUGGER_BINDINGS = [
    Binding(
        "i", "step_into", "Step into", id="stagescope.step_into",
        tooltip="Show the stage that the selected COPY --from or RUN --mount "
        "reads, and offer a breakpoint at its end",
    ),
    Binding(
        "o", "step_out", "Step out", id="stagescope.step_out",
        tooltip="Go back to the step that you stepped into a stage from",
    ),
    Binding(
        "e", "end_breakpoint", "Break at end", id="stagescope.end_breakpoint",
        tooltip="Toggle a breakpoint at the end of the selected stage, on its "
        "finished image",
    ),
    Binding(
        "B", "conditions", "Break if", id="stagescope.conditions",
        tooltip="Pause after a step that runs longer than N seconds, prints a "
        "matching line, or adds more than N bytes",
    ),
    Binding(
        "a", "shell_fix", "Shell fix", id="stagescope.shell_fix",
        tooltip="Insert the commands typed in the last shell as a RUN before "
        "the paused step, and continue",
    ),
    Binding(
        "v", "toggle_variables", "Variables", id="stagescope.variables",
        tooltip="Show or hide the ARGs, ENV, WORKDIR, USER and SHELL in force "
        "at the pause",
    ),
]  # fmt: skip

DEBUGGER_ACTIONS = frozenset(binding.action for binding in DEBUGGER_BINDINGS)

PAUSED_STATES = (State.PAUSED, State.FAILED)


_SHARED_CONDITIONS: WeakKeyDictionary[object, list[Condition]] = WeakKeyDictionary()
"""Per watch-mode source, the conditions that every rebuild's session reads."""


def live_session(source: object) -> BuildSession | None:
    """Return the source's current BuildSession, or None for a replay."""
    if isinstance(source, BuildSession):
        return source
    if getattr(source, "watching", False):
        session = getattr(source, "session", None)
        return session if isinstance(session, BuildSession) else None
    return None


def conditions_of(source: object) -> list[Condition] | None:
    """Return the list of conditions that the source's builds obey, which
    callers change in place. Returns None for a replay."""
    if isinstance(source, BuildSession):
        return watch_conditions(source).conditions
    watcher = getattr(source, "watcher", None)
    if not getattr(source, "watching", False) or watcher is None:
        return None
    shared = _SHARED_CONDITIONS.get(source)
    if shared is None:
        shared = _SHARED_CONDITIONS[source] = []
        prepare = watcher.on_session

        def share_conditions(session: BuildSession) -> None:
            prepare(session)
            watch_conditions(session).conditions = shared

        watcher.on_session = share_conditions
        if (session := live_session(source)) is not None:
            watch_conditions(session).conditions = shared
    return shared


def producing_stage(plan: Plan, position: Position) -> int | None:
    """Return the stage that the COPY --from or RUN --mount at `position` reads."""
    instruction = plan.instruction(*position)
    if instruction is None:
        return None
    for edge in plan.edges:
        if (
            edge.kind in ("copy", "mount")
            and edge.target == position.stage
            and edge.line == instruction.first_line
        ):
            return edge.source
    return None


def apply_conditions(app: StagescopeApp, conditions: Iterable[Condition]) -> None:
    """Install the command line's --break-if conditions on the app's build."""
    shared = conditions_of(app.source)
    if shared is not None:
        shared[:] = conditions


class DebuggerActions:
    """Methods of BuildScreen behind DEBUGGER_BINDINGS."""

    _fix: tuple[Position, list[str]] | None = None
    """The paused position and the commands of the last shell opened there."""

    def _build_screen(self) -> BuildScreen:
        return cast("BuildScreen", self)

    def _returns(self) -> list[Position]:
        """Return the steps to go back to, innermost last.

        The list belongs to one pause: once the build moved on, the steps
        stepped in from are history, so a new pause starts an empty list.
        """
        pause = self._build_screen().model.pause
        stack: list[Position] | None = getattr(self, "_step_returns", None)
        if stack is None or getattr(self, "_returns_pause", None) is not pause:
            stack = []
            self._step_returns = stack
            self._returns_pause = pause
        return stack

    def check_debugger_action(self, action: str) -> bool:
        screen = self._build_screen()
        app, model = screen.stagescope, screen.model
        if action == "step_into":
            return self._into_target() is not None
        if action == "step_out":
            return bool(self._returns())
        if action == "end_breakpoint":
            return self._end_target() is not None
        if action == "conditions":
            return conditions_of(app.source) is not None
        if action == "shell_fix":
            return (
                self._fix is not None
                and self._fix[0] == model.paused_at
                and model.state in PAUSED_STATES
                and not app.building
            )
        if action == "toggle_variables":
            pause = model.pause
            return model.state in PAUSED_STATES and bool(pause and pause.variables)
        return True

    def refresh_variables(self) -> None:
        screen = self._build_screen()
        screen.query_one(VariablesPanel).show(screen.model)

    # Stepping into the stage a step reads

    def _into_target(self) -> tuple[Position, int] | None:
        """Return the step to step in from and the stage it reads."""
        screen = self._build_screen()
        model = screen.model
        candidates = []
        if screen.focused is not screen.graph and screen.steps.selected is not None:
            candidates.append(screen.steps.selected)
        if model.paused_at is not None:
            candidates.append(model.paused_at)
        for position in candidates:
            stage = producing_stage(model.plan, position)
            if stage is not None:
                return position, stage
        return None

    def action_step_into(self) -> None:
        target = self._into_target()
        if target is None:
            return
        screen = self._build_screen()
        position, stage_index = target
        plan = screen.model.plan
        stage = plan.stages[stage_index]
        screen.following = False
        self._returns().append(position)
        end = Position(stage_index, stage.step_count + 1)
        screen.point_at(end)
        screen.steps.focus()
        instruction = plan.instruction(*position)
        reader = shorten(instruction.text if instruction else "", 50)
        spec = f"{stage.label}:end"
        app = screen.stagescope
        if end in app.breakpoint_positions() or not self._can_end_break(stage_index):
            screen.notify(f"Stage {stage.label} makes what {reader} reads; o steps out")
            return
        question = (
            f"Stage {stage.label} makes what line {position_line(plan, position)} "
            f"reads:\n  {reader}\n\nBreak at the end of {stage.label} ({spec}) on "
            "the next run, to look at its finished image?"
        )
        app.push_screen(
            ConfirmScreen("Step into", question),
            lambda yes: self._break_at_end(end, spec) if yes else None,
        )

    def _break_at_end(self, end: Position, spec: str) -> None:
        screen = self._build_screen()
        app = screen.stagescope
        if end not in app.breakpoint_positions():
            app.toggle_breakpoint(end, spec)
        screen.steps.refresh_rows(screen.model, app.breakpoint_positions())
        screen.refresh_bindings()
        screen.notify(f"Breakpoint {spec} set; r builds again and pauses there")

    def action_step_out(self) -> None:
        returns = self._returns()
        if not returns:
            return
        screen = self._build_screen()
        screen.point_at(returns.pop())
        screen.steps.focus()
        screen.refresh_bindings()

    # Stage-end breakpoints

    def _can_end_break(self, stage_index: int) -> bool:
        """Return whether a breakpoint at the stage's end can pause. At the
        target's end the build is over, so it cannot."""
        plan = self._build_screen().model.plan
        return plan.stages[stage_index].needed and stage_index != plan.target

    def _end_target(self) -> tuple[Position, str] | None:
        screen = self._build_screen()
        plan = screen.model.plan
        stage_index = (
            screen.graph.selected
            if screen.focused is screen.graph
            else screen.steps.stage
        )
        if stage_index is None or not self._can_end_break(stage_index):
            return None
        stage = plan.stages[stage_index]
        return Position(stage_index, stage.step_count + 1), f"{stage.label}:end"

    def action_end_breakpoint(self) -> None:
        target = self._end_target()
        if target is None:
            return
        screen = self._build_screen()
        app = screen.stagescope
        position, spec = target
        added = app.toggle_breakpoint(position, spec)
        screen.steps.refresh_rows(screen.model, app.breakpoint_positions())
        if added and screen.model.state is State.RUNNING:
            app.break_now(position)
        elif not added:
            app.unbreak_now(position)
        if added:
            screen.notify(
                f"Breakpoint {spec} set: the build pauses on the finished image of "
                "the stage, before the stages that use it"
            )
        else:
            screen.notify(f"Breakpoint {spec} removed")

    # Conditions

    def action_conditions(self) -> None:
        screen = self._build_screen()
        conditions = conditions_of(screen.stagescope.source)
        if conditions is None:
            return
        screen.app.push_screen(ConditionsScreen(conditions, screen.refresh_bindings))

    # Shell fixes

    def shell_exited(self, image: str, history: list[str]) -> None:
        """Offer the commands typed in a shell of the paused state as a fix."""
        screen = self._build_screen()
        model = screen.model
        if (
            live_session(screen.stagescope.source) is None
            or model.paused_at is None
            or image != model.paused_image
        ):
            return
        commands = useful_commands(history)
        if not commands:
            screen.notify(
                "The shell's history has no commands to offer as a RUN; a shell "
                "that saves no history, such as busybox sh, records none",
                timeout=6,
            )
            return
        self._fix = (model.paused_at, commands)
        screen.refresh_bindings()
        self.action_shell_fix()

    def action_shell_fix(self) -> None:
        screen = self._build_screen()
        if self._fix is None or self.check_debugger_action("shell_fix") is not True:
            return
        position, commands = self._fix
        screen.app.push_screen(
            ShellFixScreen(screen.model.plan, position, commands), self._write_fix
        )

    def _write_fix(self, fix: ShellFix | None) -> None:
        screen = self._build_screen()
        app = screen.stagescope
        session = live_session(app.source)
        if fix is None or session is None:
            screen.notify("Nothing written; a offers the shell's commands again")
            return
        request = session.request

        try:
            backup = apply_fix(fix, request.build_arg_values, request.target)
        except StagescopeError as error:
            screen.notify(error.message, title="Shell fix", severity="error")
            return
        self._fix = None
        self._returns().clear()

        wrote = (
            f"Wrote the RUN on line {fix.line} of {fix.path}; the file as it was "
            f"is in {backup.name}."
        )
        if getattr(app.source, "watching", False):
            # The watcher notices the edit and rebuilds with the new RUN itself.
            screen.notify(f"{wrote} Watch mode rebuilds with it.")
            return
        try:
            dropped = resume_with_fix(session)
        except StagescopeError as error:
            screen.notify(f"{wrote} {error.message}", severity="error")
            return

        screen.notify(f"{wrote} Continuing from the new RUN.")
        for _, message in dropped:
            screen.notify(message, title="Breakpoint", severity="warning")
        app.post_message(BuildReset(session.plan))
        app.run_build("resume")

    # Variables

    def action_toggle_variables(self) -> None:
        screen = self._build_screen()
        panel = screen.query_one(VariablesPanel)
        panel.hidden_by_user = not panel.hidden_by_user
        panel.show(screen.model)


def position_line(plan: Plan, position: Position) -> str:
    instruction = plan.instruction(*position)
    return str(instruction.first_line) if instruction else "?"
