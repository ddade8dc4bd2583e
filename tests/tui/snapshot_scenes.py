"""Scenes shared by the snapshot tests and screenshots/make_screenshots.py.

Each scene drives an app to one state worth looking at, through Pilot.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

from textual.pilot import Pilot
from textual.widgets import Input
from textual.worker import WorkerCancelled

from engine.diff import Entry, FilesystemDiff, Modification
from tui.app import StagescopeApp
from tui.screens.actions import ImageSide
from tui.screens.diff import DiffScreen

DIFF_BEFORE = ImageSide("c0ffee" + "0" * 58, "stage build", 1)
DIFF_AFTER = ImageSide("decade" + "0" * 58, "stage final", 4)

SAMPLE_DIFF = FilesystemDiff(
    added=(
        Entry("/app", "dir", 0),
        Entry("/app/assets", "dir", 0),
        Entry("/app/assets/site.css", "file", 22),
        Entry("/app/hello.txt", "file", 27),
    ),
    removed=(
        Entry("/out", "dir", 0),
        Entry("/out/blob", "file", 65536),
        Entry("/out/hello.txt", "file", 27),
        Entry("/work/hello.txt", "file", 27),
    ),
    modified=(Modification("/etc/base-release", ("content",), 11, 17),),
)

SAMPLE_FILE_DIFF = """--- a/etc/base-release
+++ b/etc/base-release
@@ -1 +1 @@
-base layer
+base layer, final
"""


def sample_diff(before: str, after: str) -> FilesystemDiff:
    return SAMPLE_DIFF


def sample_file_diff(before: str, after: str, path: str) -> str:
    return SAMPLE_FILE_DIFF


def stagescope(pilot: Pilot[int]) -> StagescopeApp:
    app = pilot.app
    assert isinstance(app, StagescopeApp)
    return app


async def wait_for_workers(app: StagescopeApp) -> None:
    """Wait for every worker; a replaced exclusive worker counts as done."""
    while running := [worker for worker in app.workers if worker.is_running]:
        for worker in running:
            with contextlib.suppress(WorkerCancelled):
                await worker.wait()


async def settle(pilot: Pilot[int]) -> None:
    """Wait for the build worker and every message it posted."""
    app = stagescope(pilot)
    await pilot.pause()
    await wait_for_workers(app)
    app.batcher.flush()
    await pilot.pause()
    for field in app.screen.query(Input):
        field.cursor_blink = False


def without_notifications(
    scene: Callable[[Pilot[int]], Awaitable[None]],
) -> Callable[[Pilot[int]], Awaitable[None]]:
    """Return `scene` followed by clearing the notifications. They expire after
    seconds of real time, so a picture with them depends on the machine's speed."""

    async def run(pilot: Pilot[int]) -> None:
        await scene(pilot)
        stagescope(pilot).clear_notifications()
        await pilot.pause()

    return run


async def show_held_build(pilot: Pilot[int]) -> None:
    """Wait until a held replay stops emitting, then show what it emitted."""
    app = stagescope(pilot)
    await pilot.pause()
    held = app.source.held  # type: ignore[attr-defined]
    assert held.wait(10), "the replay did not reach its hold point"
    app.batcher.flush()
    await pilot.pause()


async def show_diff_screen(pilot: Pilot[int]) -> None:
    app = stagescope(pilot)
    await settle(pilot)
    screen = DiffScreen(
        None,
        DIFF_BEFORE,
        DIFF_AFTER,
        compare=sample_diff,
        compare_file=sample_file_diff,
    )
    await app.push_screen(screen)
    await pilot.pause()
    await wait_for_workers(app)
    await pilot.pause()
    await pilot.press("end", "e", "down")
    await wait_for_workers(app)
    # The build's notification may or may not have expired by now, depending
    # on the machine's speed, so the picture leaves it out.
    app.clear_notifications()
    await pilot.pause()


async def show_help(pilot: Pilot[int]) -> None:
    await settle(pilot)
    # Cleared before the help opens: the build screen under it keeps drawing
    # the toasts it had when it was covered.
    stagescope(pilot).clear_notifications()
    await pilot.press("question_mark")
    await pilot.pause()
