"""Scenes of the insight views, shared by the snapshot tests and
screenshots/make_screenshots.py.

They replay tests/data/recordings/insight.jsonl, a first build of
tests/data/multistage that reports miss reasons, stage summaries and what
COPY --from carried.
"""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot

from engine.breakpoints import Position
from engine.checks import Finding, check_file
from engine.plan import load_plan
from tests.tui.conftest import CONTAINERFILE, fixed_clock, recording
from tests.tui.snapshot_scenes import settle, stagescope
from tui.app import StagescopeApp
from tui.factory import create_app

BUILDAH_VERSION = (1, 28, 2)
COPY_FROM_BUILD = Position(4, 2)
"""`COPY --from=build /out/hello.txt /app/hello.txt` in stage final."""


def stable_findings() -> list[Finding]:
    """Return the real findings for tests/data/multistage that do not depend
    on the Buildah version, so that new version rules leave the pictures alone."""
    findings = check_file(CONTAINERFILE, BUILDAH_VERSION)
    return [finding for finding in findings if finding.code == "stage-unused"]


def insight_app(log_root: Path) -> StagescopeApp:
    """Return an app that replays the insight recording with its findings."""
    return create_app(
        load_plan(CONTAINERFILE),
        recording=recording("insight"),
        log_root=log_root,
        clock=fixed_clock,
        check=stable_findings,
    )


async def show_insight(pilot: Pilot[int]) -> None:
    """The finished build with the COPY --from step of stage final selected."""
    await settle(pilot)
    app = stagescope(pilot)
    app.build_screen.point_at(COPY_FROM_BUILD)
    # A notification expires after some seconds of real time, which a slow
    # machine can exceed, so the pictures leave them out.
    app.clear_notifications()
    await pilot.pause()


async def show_teaching(pilot: Pilot[int]) -> None:
    """The teaching panel on the COPY --from step of stage final."""
    await show_insight(pilot)
    await pilot.press("t")
    await pilot.pause()
