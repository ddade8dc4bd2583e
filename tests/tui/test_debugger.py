"""The debugger keys of the app on real buildah builds: variables at a pause,
stepping into the stage a COPY --from reads, stage-end breakpoints,
conditions typed in the app, and a shell fix written after confirmation."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from textual.widgets import Input, Static, TextArea

from engine.breakpoints import Breakpoint, Position
from engine.buildah import Buildah
from engine.conditions import watch_conditions
from engine.plan import load_plan
from engine.runner import BuildRequest, BuildSession, State
from engine.shellfix import BACKUP_SUFFIX
from tests.tui.snapshot_scenes import settle
from tui.app import StagescopeApp
from tui.factory import create_app
from tui.screens.debugger import producing_stage
from tui.screens.prompts import ConditionsScreen, ConfirmScreen
from tui.screens.shell_fix import ShellFixScreen
from tui.widgets.variables_panel import VariablesPanel

SIZE = (150, 44)

COPY_FROM = """\
FROM localhost/busybox AS build
ARG TOKEN
RUN echo "$TOKEN" > /token.txt

FROM localhost/busybox AS final
ARG TOKEN
ARG FLAVOUR=plain
COPY --from=build /token.txt /token.txt
RUN cat /token.txt
"""


def live_app(
    buildah: Buildah,
    tmp_path: Path,
    text: str,
    breakpoints: Sequence[str] = (),
    build_args: tuple[tuple[str, str], ...] = (),
    autostart: bool = True,
) -> StagescopeApp:
    context = tmp_path / "context"
    context.mkdir()
    containerfile = context / "Containerfile"
    containerfile.write_text(text)
    request = BuildRequest(
        context=context,
        containerfile=containerfile,
        buildah=buildah,
        build_args=(("TOKEN", tmp_path.name), *build_args),
    )
    return create_app(
        request.load_plan(),
        request=request,
        breakpoints=[Breakpoint(spec) for spec in breakpoints],
        log_root=tmp_path / "logs",
        autostart=autostart,
    )


def plain(widget: Static) -> str:
    """Return the text a Static shows, as plain text."""
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(widget.content)
    return console.export_text()


def can(app: StagescopeApp, action: str) -> bool:
    return app.build_screen.check_action(action, ()) is True


def test_producing_stage_of_copy_and_mount(tmp_path: Path) -> None:
    path = tmp_path / "Containerfile"
    path.write_text(
        "FROM localhost/busybox AS a\nRUN true\n"
        "FROM localhost/busybox\nCOPY --from=a /x /x\n"
        "RUN --mount=type=bind,from=a,target=/a true\nRUN true\n"
    )
    plan = load_plan(path)
    assert producing_stage(plan, Position(1, 2)) == 0
    assert producing_stage(plan, Position(1, 3)) == 0
    assert producing_stage(plan, Position(1, 4)) is None
    assert producing_stage(plan, Position(1, 5)) is None


async def test_variables_panel_and_step_into(
    buildah: Buildah, busybox_image: str, tmp_path: Path
) -> None:
    app = live_app(buildah, tmp_path, COPY_FROM, ["final:4"], (("FLAVOUR", "spicy"),))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.model.state is State.PAUSED
        assert app.model.paused_at == Position(1, 4)
        screen = app.build_screen
        panel = screen.query_one(VariablesPanel)
        assert panel.has_class("-shown")
        assert panel.border_title == "Variables before final step 4"
        text = plain(panel.query_one("#variables-table", Static))
        assert "FLAVOUR" in text
        assert "spicy" in text
        assert "--build-arg" in text

        assert can(app, "step_into")
        assert not can(app, "step_out")
        await pilot.press("i")
        await pilot.pause()
        assert screen.graph.selected == 0
        assert screen.steps.stage == 0
        assert screen.steps.selected == Position(0, 4)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await pilot.pause()
        assert [b.spec for b in app.source.breakpoints] == ["final:4", "build:end"]
        assert can(app, "step_out")

        await pilot.press("o")
        await pilot.pause()
        assert screen.steps.selected == Position(1, 4)
        assert not can(app, "step_out")

        await pilot.press("v")
        await pilot.pause()
        assert not panel.has_class("-shown")
        await pilot.press("r")
        await settle(pilot)
        assert app.model.paused_at == Position(0, 4)
        assert app.model.paused_image == app.model.image_of(Position(0, 3))
        await pilot.press("q")


async def test_end_breakpoint_from_the_stage_graph(
    buildah: Buildah, busybox_image: str, tmp_path: Path
) -> None:
    app = live_app(buildah, tmp_path, COPY_FROM, autostart=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.build_screen
        screen.graph.focus()
        screen.graph.select(1)
        await pilot.pause()
        assert not can(app, "end_breakpoint"), "the target's end is the build's end"
        screen.graph.select(0)
        await pilot.pause()
        await pilot.press("e")
        await pilot.pause()
        assert [b.spec for b in app.source.breakpoints] == ["build:end"]
        app.run_build("start")
        await settle(pilot)
        assert app.model.state is State.PAUSED
        assert app.model.paused_at == Position(0, 4)
        assert app.model.paused_image == app.model.stage_image(0)
        await pilot.press("q")


SLOW_STEP = """\
FROM localhost/busybox
ARG TOKEN
RUN echo "quick $TOKEN"
RUN sleep 3 && echo "slow $TOKEN"
RUN echo "after $TOKEN"
RUN echo "last $TOKEN"
"""


async def test_condition_typed_in_the_app(
    buildah: Buildah, busybox_image: str, tmp_path: Path
) -> None:
    app = live_app(buildah, tmp_path, SLOW_STEP, autostart=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("B")
        await pilot.pause()
        assert isinstance(app.screen, ConditionsScreen)
        await pilot.press(*"size>nothing", "enter")
        await pilot.pause()
        error = app.screen.query_one("#conditions-error", Static)
        assert "the limit must be" in plain(error)
        app.screen.query_one(Input).value = "duration>2"
        await pilot.press("enter", "escape")
        await pilot.pause()
        assert isinstance(app.source, BuildSession)
        texts = [c.text for c in watch_conditions(app.source).conditions]
        assert texts == ["duration>2"]
        app.run_build("start")
        await settle(pilot)
        assert app.model.state is State.PAUSED
        assert app.model.pause_reason == "condition"
        assert app.model.paused_at == Position(0, 5)
        panel = app.build_screen.query_one(VariablesPanel)
        assert panel.border_subtitle.startswith("duration>2: line 4: it ran")
        await pilot.press("q")


FAILING = """\
FROM localhost/busybox
ARG TOKEN
RUN echo "$TOKEN" > /token
RUN cat /data/config
"""


async def test_shell_fix_after_confirmation(
    buildah: Buildah,
    busybox_image: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    typed = ["ls /", "mkdir -p /data", "echo fixed > /data/config", "exit"]
    shells: list[str] = []

    def fake_shell(buildah: Buildah, image: str, *args: Any, **kwargs: Any) -> int:
        shells.append(image)
        kwargs["history"].extend(typed)
        return 0

    monkeypatch.setattr("tui.screens.actions.run_shell", fake_shell)
    app = live_app(buildah, tmp_path, FAILING)
    monkeypatch.setattr(app, "suspend", contextlib.nullcontext)
    containerfile = tmp_path / "context" / "Containerfile"
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.model.state is State.FAILED
        assert app.model.paused_at == Position(0, 4)
        await pilot.press("s")
        await pilot.pause()
        assert shells == [app.model.paused_image]
        fix_screen = app.screen
        assert isinstance(fix_screen, ShellFixScreen)
        editor = fix_screen.query_one(TextArea)
        assert editor.text == "RUN mkdir -p /data \\\n && echo fixed > /data/config"
        editor.text = "RUN mkdir -p /data && echo fixed > /data/config"
        await pilot.pause()
        diff = plain(fix_screen.query_one("#fix-diff-text", Static))
        assert "+RUN mkdir -p /data && echo fixed > /data/config" in diff
        assert containerfile.read_text() == FAILING

        await pilot.press("escape")
        await pilot.pause()
        assert containerfile.read_text() == FAILING
        assert can(app, "shell_fix")
        await pilot.press("a")
        await pilot.pause()
        fix_screen = app.screen
        assert isinstance(fix_screen, ShellFixScreen)
        fix_screen.query_one(
            TextArea
        ).text = "RUN mkdir -p /data && echo fixed > /data/config"
        await pilot.pause()
        await pilot.press("ctrl+s")
        await settle(pilot)

        lines = containerfile.read_text().splitlines()
        assert lines[3] == "RUN mkdir -p /data && echo fixed > /data/config"
        assert lines[4] == "RUN cat /data/config"
        backup = containerfile.with_name("Containerfile" + BACKUP_SUFFIX)
        assert backup.read_text() == FAILING
        assert app.model.state is State.FINISHED
        assert [s.step_count for s in app.model.plan.stages] == [5]
        new_run = app.model.steps[Position(0, 4)]
        assert new_run.status.value == "done"
        shown = app.model.steps[Position(0, 5)].log_lines
        assert app.log_store.tail(Position(0, 5), 10, shown) == ["fixed"]
        assert not can(app, "shell_fix")
        await pilot.press("q")
