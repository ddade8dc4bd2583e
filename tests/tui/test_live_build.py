"""The app on a real buildah build of tests/data/multistage."""

from __future__ import annotations

from pathlib import Path

from engine.breakpoints import Breakpoint, Position
from engine.buildah import Buildah
from engine.plan import Plan
from engine.runner import BuildRequest, State
from tests.tui.conftest import CONTAINERFILE, fixed_clock
from tests.tui.snapshot_scenes import settle
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
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert diff_screen.result is not None
        added = [entry.path for entry in diff_screen.result.added]
        assert "/work/hello.txt" in added
        await pilot.press("escape", "c")
        await settle(pilot)
        assert app.model.state is State.FINISHED
        assert app.model.final_image is not None
        await pilot.press("q")
