"""The app driven through Textual's Pilot with recorded builds."""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Label

from engine.breakpoints import Breakpoint, Position
from engine.events import (
    BuildFinished,
    BuildStarted,
    Event,
    LogBlock,
    StepFinished,
    StepStarted,
)
from engine.plan import Plan
from engine.runner import State
from tests.tui import snapshot_scenes as scenes
from tests.tui.conftest import MakeApp, fixed_clock
from tui.app import StagescopeApp
from tui.factory import create_app
from tui.screens.build import BuildScreen
from tui.screens.help import HelpScreen
from tui.widgets.stage_graph import StageNode
from tui.widgets.status_bar import StatusBar
from tui.widgets.steady import KeyFooter


async def settle(app: StagescopeApp, pilot: Pilot[int]) -> None:
    """Wait for the build worker and for every message it posted."""
    await scenes.settle(pilot)


def status_text(app: StagescopeApp) -> str:
    return str(app.build_screen.query_one(StatusBar).render())


def notifications(app: StagescopeApp) -> list[str]:
    return [notification.message for notification in app._notifications]


def select_step(screen: BuildScreen, position: Position) -> None:
    screen.point_at(position)


async def test_passing_replay_shows_finished_build(make_app: MakeApp) -> None:
    app = make_app("passing")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(app, pilot)
        assert app.model.state is State.FINISHED
        assert "finished" in status_text(app)
        assert "step 16 of 16" in status_text(app)
        nodes = {node.stage.label: node for node in app.screen.query(StageNode)}
        assert nodes["build"].has_class("-done")
        assert nodes["docs"].has_class("-not-needed")
        assert nodes["final"].has_class("-target")
        assert any("Build finished" in text for text in notifications(app))


async def test_breakpoint_toggle_step_and_continue(make_app: MakeApp) -> None:
    app = make_app("passing")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(app, pilot)
        screen = app.build_screen
        select_step(screen, Position(1, 4))
        screen.steps.focus()
        await pilot.pause()
        await pilot.press("b")
        assert app.source.breakpoints == [Breakpoint("build:4")]
        assert "build:4" in notifications(app)[-1]
        await pilot.press("b")
        assert app.source.breakpoints == []
        await pilot.press("b", "r")
        await settle(app, pilot)
        assert app.model.state is State.PAUSED
        assert app.model.paused_at == Position(1, 4)
        assert screen.steps.selected == Position(1, 4)
        assert screen.check_action("continue_build", ()) is True
        await pilot.press("n")
        await settle(app, pilot)
        assert app.model.paused_at == Position(1, 5)
        assert app.model.steps[Position(1, 4)].log_lines == 8
        await pilot.press("c")
        await settle(app, pilot)
        assert app.model.state is State.FINISHED
        assert screen.check_action("continue_build", ()) is False


async def test_stage_breakpoint_from_graph(make_app: MakeApp) -> None:
    app = make_app("passing")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(app, pilot)
        node = app.screen.query_one("#stage-2", StageNode)
        await pilot.click(node)
        await pilot.pause()
        assert app.build_screen.graph.selected == 2
        assert app.build_screen.steps.stage == 2
        await pilot.press("b")
        assert app.source.breakpoints == [Breakpoint("assets")]
        assert app.breakpoint_positions() == {Position(2, 2)}


async def test_breakpoint_from_command_line(make_app: MakeApp) -> None:
    app = make_app("passing", breakpoints=("final:3",))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(app, pilot)
        assert app.model.state is State.PAUSED
        assert app.model.paused_at == Position(4, 3)
        assert "paused (breakpoint)" in status_text(app)
        row = app.build_screen.steps.get_row_index("4:3")
        assert str(app.build_screen.steps.get_row_at(row)[0]) == "●"


async def test_failure_selects_failed_step(make_app: MakeApp) -> None:
    app = make_app("failure")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(app, pilot)
        screen = app.build_screen
        assert app.model.state is State.FAILED
        assert screen.steps.selected == Position(1, 5)
        assert "test_greeting FAILED: expected hello" in screen.log_panel.view.lines
        assert "failed (exit status" in status_text(app)
        assert screen.query_one("#stage-1").has_class("-failed")
        assert screen.check_action("continue_build", ()) is False
        assert screen.check_action("rebuild", ()) is True


async def test_stop_running_build(make_app: MakeApp) -> None:
    app = make_app("passing", hold_at=22)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        assert app.source.held.wait(5)
        app.batcher.flush()
        await pilot.pause()
        screen = app.build_screen
        assert app.model.running == Position(1, 4)
        assert screen.log_panel.view.lines[-1] == "compiling unit 8 of 8"
        assert screen.check_action("stop_build", ()) is True
        await pilot.press("x")
        await settle(app, pilot)
        assert app.model.state is State.CANCELLED
        assert app.model.cancel_reason == "stopped by the user"
        assert "stopped" in status_text(app)


async def test_quit_stops_build_and_waits(make_app: MakeApp) -> None:
    app = make_app("passing", hold_at=22)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        assert app.source.held.wait(5)
        await pilot.press("q")
        await pilot.pause()
    assert app.source.state is State.CANCELLED
    assert not any(worker.is_running for worker in app.workers)


async def test_follow_stops_on_user_move(make_app: MakeApp) -> None:
    app = make_app("passing", hold_at=22)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        assert app.source.held.wait(5)
        await pilot.pause()
        screen = app.build_screen
        screen.steps.focus()
        await pilot.press("up")
        assert not screen.following
        assert screen.check_action("follow", ()) is True
        await pilot.press("f")
        assert screen.following
        assert screen.steps.selected == Position(1, 4)
        app.source.release.set()
        await settle(app, pilot)


async def test_log_search(make_app: MakeApp) -> None:
    app = make_app("passing")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(app, pilot)
        screen = app.build_screen
        select_step(screen, Position(1, 4))
        await pilot.pause()
        await pilot.press("slash", *"unit 7")
        await pilot.pause()
        view = screen.log_panel.view
        assert view.match_count == 1
        assert str(screen.query_one("#search-count", Label).render()) == "1/1 lines"
        await pilot.press("escape")
        assert view.match_count == 0
        assert not screen.log_panel.has_class("-searching")


async def test_help_lists_every_key(make_app: MakeApp) -> None:
    app = make_app("passing")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(app, pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        rows = [row for _, rows in app.screen.sections() for row in rows]
        keys = {row[0] for row in rows}
        descriptions = {row[1] or row[2] for row in rows}
        for binding in BuildScreen.BINDINGS:
            assert binding.description in descriptions
        for description in ("Quit", "Help", "Command palette: every action by name"):
            assert description in descriptions
        assert {"b", "c", "n", "x", "r", "s", "d", "q", "?", "/"} <= keys
        await pilot.press("escape")
        assert isinstance(app.screen, BuildScreen)


async def test_palette_lists_actions(make_app: MakeApp) -> None:
    app = make_app("passing")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(app, pilot)
        titles = {command.title for command in app.get_system_commands(app.screen)}
        for binding in BuildScreen.BINDINGS:
            assert binding.description in titles
        assert "Show the log folder" in titles


async def test_replay_shell_needs_images(make_app: MakeApp) -> None:
    app = make_app("breakpoint")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(app, pilot)
        screen = app.build_screen
        assert screen.check_action("shell", ()) is True
        await pilot.press("s")
        assert "needs the images of a live build" in notifications(app)[-1]
        select_step(screen, Position(1, 3))
        await pilot.pause()
        await pilot.press("d")
        assert "a diff needs the images" in notifications(app)[-1]


def one_run_step(plan: Plan, output: list[LogBlock]) -> list[Event]:
    """Return a recording whose second step, a RUN, prints `output`."""
    return [
        BuildStarted(containerfile=str(plan.path), target=plan.target),
        StepStarted(
            stage=0, step=1, instruction="FROM localhost/busybox AS base", line=4
        ),
        StepFinished(stage=0, step=1, image="a" * 64, cached=False, seconds=0.1),
        StepStarted(stage=0, step=2, instruction="RUN echo", line=5),
        *output,
        StepFinished(stage=0, step=2, image="b" * 64, cached=False, seconds=2.0),
        BuildFinished(image="b" * 64, seconds=2.1),
    ]


async def test_log_keeps_newest_lines(plan: Plan, tmp_path: Path) -> None:
    lines = 60_000
    long_line = "y" * 1_000_000
    output = [LogBlock(stage=0, step=2, text=f"line {n}") for n in range(lines)]
    events = one_run_step(plan, [*output, LogBlock(stage=0, step=2, text=long_line)])
    app = create_app(
        plan, recording=events, log_root=tmp_path, max_log_lines=1000, clock=fixed_clock
    )
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(app, pilot)
        screen = app.build_screen
        select_step(screen, Position(0, 2))
        await pilot.pause()
        view = screen.log_panel.view
        assert len(view.lines) <= 1000
        assert view.lines[-2] == f"line {lines - 1}"
        assert "more characters in the log file" in view.lines[-1]
        assert app.model.steps[Position(0, 2)].log_lines == lines + 1
        step_log = app.log_store.step_log(Position(0, 2))
        with open(step_log, encoding="utf-8") as handle:
            assert sum(1 for _ in handle) == lines + 1
        assert "all in" in screen.log_panel.border_subtitle


async def test_log_subtitle_counts_skipped_lines(plan: Plan, tmp_path: Path) -> None:
    flood = "\n".join(f"line {n}" for n in range(25_000))
    output = [LogBlock(0, 2, "first"), LogBlock(0, 2, flood)]
    events = one_run_step(plan, output)
    app = create_app(
        plan, recording=events, log_root=tmp_path, max_log_lines=1000, clock=fixed_clock
    )
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(app, pilot)
        panel = app.build_screen.log_panel
        assert panel.view.lines[0] == "line 24000"
        assert panel.view.lines[-1] == "line 24999"
        assert "last 1,000 of 25,001 lines" in panel.border_subtitle


async def test_q_on_the_help_screen_quits(make_app: MakeApp) -> None:
    app = make_app("passing")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(app, pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


async def test_help_opens_again_after_closing(make_app: MakeApp) -> None:
    app = make_app("passing")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(app, pilot)
        for _ in range(2):
            await pilot.press("question_mark")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, HelpScreen)


async def test_footer_keys_and_clicks(
    make_app: MakeApp,
) -> None:
    app = make_app("passing", breakpoints=("build:4",))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(app, pilot)
        footer = app.build_screen.query_one(KeyFooter)
        text = str(footer.render())
        assert " c Continue " in text
        assert " x Stop " not in text
        x = text.index(" c Continue ")
        await pilot.click(KeyFooter, offset=(x + 2, 0))
        await settle(app, pilot)
        assert app.model.state is State.FINISHED
        assert " c Continue " not in str(footer.render())
