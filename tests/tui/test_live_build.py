"""The app on a real buildah build of tests/data/multistage."""

from __future__ import annotations

from pathlib import Path

from engine.breakpoints import Breakpoint, Position
from engine.buildah import Buildah
from engine.plan import Plan
from engine.runner import BuildRequest, State
from tests.tui.conftest import CONTAINERFILE, fixed_clock
from tests.tui.snapshot_scenes import settle, wait_for_workers
from tui.factory import create_app
from tui.screens.diff import DiffScreen


async def test_live_pause_diff_and_continue(
    plan: Plan, buildah: Buildah, busybox_image: str, tmp_path: Path
) -> None:
    request = BuildRequest(
        context=CONTAINERFILE.parent, containerfile=CONTAINERFILE, buildah=buildah
    )
    app = create_app(
        plan,
        request=request,
        breakpoints=[Breakpoint("build:5")],
        log_root=tmp_path,
        clock=fixed_clock,
    )
    async with app.run_test(size=(150, 44)) as pilot:
        await settle(pilot)
        assert app.model.state is State.PAUSED
        assert app.model.paused_at == Position(1, 5)
        assert app.model.paused_image == app.model.image_of(Position(1, 4))
        screen = app.build_screen
        screen.point_at(Position(1, 3))
        await pilot.pause()
        assert screen.check_action("diff", ()) is True
        await pilot.press("d")
        await pilot.pause()
        diff_screen = app.screen
        assert isinstance(diff_screen, DiffScreen)
        await wait_for_workers(app)
        await pilot.pause()
        assert diff_screen.result is not None
        added = [entry.path for entry in diff_screen.result.added]
        assert "/work/hello.txt" in added
        await pilot.press("escape", "c")
        await settle(pilot)
        assert app.model.state is State.FINISHED
        assert app.model.final_image is not None
        await pilot.press("q")


async def test_rebuild_reads_changed_containerfile(
    buildah: Buildah, busybox_image: str, tmp_path: Path
) -> None:
    context = tmp_path / "context"
    context.mkdir()
    containerfile = context / "Containerfile"
    containerfile.write_text("FROM localhost/busybox AS one\nRUN echo one\n")
    request = BuildRequest(
        context=context, containerfile=containerfile, buildah=buildah
    )
    app = create_app(request.load_plan(), request=request, log_root=tmp_path)
    async with app.run_test(size=(150, 44)) as pilot:
        await settle(pilot)
        assert app.model.state is State.FINISHED
        containerfile.write_text(
            "FROM localhost/busybox AS one\nRUN echo one\n"
            "FROM one AS two\nRUN echo two\n"
        )
        await pilot.press("r")
        await settle(pilot)
        assert app.model.state is State.FINISHED
        assert [stage.label for stage in app.model.plan.stages] == ["one", "two"]
        assert len(app.build_screen.graph.nodes()) == 2
        assert app.build_screen.query_one("#stage-1").has_class("-done")
