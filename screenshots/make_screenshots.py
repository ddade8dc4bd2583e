"""Write SVG screenshots of the app to this folder.

    python screenshots/make_screenshots.py

The build screens, the teaching panel included, replay the recorded builds
of tests/data/multistage, so they look the same on every machine. The diff
screen compares two stages of a real build of that Containerfile, and the
watch-mode screen shows a real rebuild after a file of a small context
changed, both in a temporary buildah storage that is deleted afterwards.
Those builds need buildah, root and the host's static busybox.
With --no-buildah, or when buildah is missing, the diff screen shows a
sample diff and there is no watch-mode screen.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from textual.pilot import Pilot  # noqa: E402

from engine.baseimages import ensure_busybox_image  # noqa: E402
from engine.breakpoints import Position  # noqa: E402
from engine.buildah import Buildah, StorageOptions  # noqa: E402
from engine.plan import load_plan  # noqa: E402
from engine.runner import BuildRequest, BuildSession, State  # noqa: E402
from tests.tui import insight_scenes  # noqa: E402
from tests.tui import snapshot_scenes as scenes  # noqa: E402
from tests.tui.conftest import (  # noqa: E402
    CONTAINERFILE,
    HeldReplay,
    fixed_clock,
    recording,
)
from tests.tui.live_helpers import wait_until  # noqa: E402
from tui.app import StagescopeApp  # noqa: E402
from tui.factory import create_app  # noqa: E402
from tui.screens.actions import diff_request  # noqa: E402
from tui.screens.diff import DiffScreen  # noqa: E402

SIZE = (150, 44)
OUTPUT = Path(__file__).resolve().parent
Scene = Callable[[Pilot[int]], Awaitable[None]]


async def capture(app: StagescopeApp, scene: Scene, name: str) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await scene(pilot)
        app.save_screenshot(f"{name}.svg", str(OUTPUT))
        print(f"wrote screenshots/{name}.svg")


def replay_app(name: str, logs: Path, hold_at: int | None = None) -> StagescopeApp:
    plan = load_plan(CONTAINERFILE)
    events = recording(name)
    if hold_at is not None:
        source = HeldReplay(plan, events, hold_at=hold_at)
        return create_app(plan, source=source, log_root=logs, clock=fixed_clock)
    return create_app(plan, recording=events, log_root=logs, clock=fixed_clock)


async def recorded_screens(logs: Path) -> None:
    await capture(replay_app("passing", logs, 22), scenes.show_held_build, "running")
    await capture(replay_app("breakpoint", logs), scenes.settle, "paused")
    await capture(replay_app("failure", logs), scenes.settle, "failed")
    await capture(replay_app("passing", logs), scenes.show_help, "help")
    teaching = insight_scenes.insight_app(logs)
    await capture(teaching, insight_scenes.show_teaching, "teaching")


async def sample_diff_screen(logs: Path) -> None:
    await capture(replay_app("passing", logs), scenes.show_diff_screen, "diff")


async def live_diff_screen(buildah: Buildah, logs: Path) -> None:
    """Build tests/data/multistage and compare stage build with stage final."""
    plan = load_plan(CONTAINERFILE)
    request = BuildRequest(CONTAINERFILE.parent, CONTAINERFILE, buildah)
    session = BuildSession(request, plan)
    app = create_app(plan, source=session, buildah=buildah, log_root=logs)

    async def scene(pilot: Pilot[int]) -> None:
        await scenes.settle(pilot)
        screen = app.build_screen
        if app.model.state is State.FAILED:
            raise RuntimeError("the build of tests/data/multistage failed")
        await pilot.click("#stage-1")
        await pilot.pause()
        request = diff_request(screen)
        if request is None:
            statuses = [app.model.stage_status(s.index).value for s in plan.stages]
            raise RuntimeError(f"stage build or final has no image: {statuses}")
        diff = DiffScreen(buildah, request.before, request.after)
        await app.push_screen(diff)
        await pilot.pause()
        await scenes.wait_for_workers(app)
        await pilot.pause()
        # Open /app and select /app/hello.txt, the file copied from build.
        await pilot.press("home", "down", "e", "down")
        await scenes.wait_for_workers(app)
        await pilot.pause()

    await capture(app, scene, "diff")


WATCHED_CONTAINERFILE = """\
FROM localhost/busybox AS build
WORKDIR /src
COPY greet.sh ./
RUN sh greet.sh > greeting.txt

FROM localhost/busybox
COPY --from=build /src/greeting.txt /greeting.txt
CMD ["cat", "/greeting.txt"]
"""


async def watch_screen(buildah: Buildah, folder: Path, logs: Path) -> None:
    """Build a small context in watch mode, change a file, and show the rebuild."""
    context = folder / "watched"
    context.mkdir()
    (context / "Containerfile").write_text(WATCHED_CONTAINERFILE)
    script = context / "greet.sh"
    script.write_text("echo hello\n")
    request = BuildRequest(context, context / "Containerfile", buildah)
    app = create_app(request.load_plan(), request=request, watch=True, log_root=logs)

    async def scene(pilot: Pilot[int]) -> None:
        await scenes.settle(pilot)
        script.write_text("echo hello, world\n")
        model = app.model
        await wait_until(pilot, lambda: model.report is not None, "the rebuild")
        app.build_screen.point_at(Position(0, 3))
        # The footer redraws its keys a moment after the rebuild's last event.
        await pilot.pause(0.5)

    await capture(app, scene, "watch")


def buildah_works() -> bool:
    return shutil.which("buildah") is not None and Path("/bin/busybox").exists()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--no-buildah",
        action="store_true",
        help="show a sample diff instead of building images",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="stagescope-screenshots-") as folder:
        logs = Path(folder) / "logs"
        asyncio.run(recorded_screens(logs))
        if args.no_buildah or not buildah_works():
            asyncio.run(sample_diff_screen(logs))
            return 0
        storage = StorageOptions(
            root=f"{folder}/root", runroot=f"{folder}/run", storage_driver="vfs"
        )
        buildah = Buildah(storage=storage, isolation="chroot")
        ensure_busybox_image(buildah)
        # Keep the build records of these builds out of the user's cache.
        os.environ["XDG_CACHE_HOME"] = f"{folder}/cache"
        try:
            asyncio.run(live_diff_screen(buildah, logs))
            asyncio.run(watch_screen(buildah, Path(folder), logs))
        finally:
            buildah.call("rm", "--all")
            buildah.call("rmi", "--all", "--force")
    return 0


if __name__ == "__main__":
    sys.exit(main())
