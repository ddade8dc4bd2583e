"""SVG snapshots of every screen; update them with `pytest --snapshot-update`.

The recordings fix every image ID and duration, and the apps use a fixed
clock, so the pictures change only when the app's look changes. They leave
out notifications, which expire after seconds of real time.
"""

from __future__ import annotations

from typing import Any

from tests.tui import snapshot_scenes as scenes
from tests.tui.conftest import MakeApp

SIZE = (150, 44)


def test_running_build(snap_compare: Any, make_app: MakeApp) -> None:
    app = make_app("passing", hold_at=22)
    assert snap_compare(
        app,
        terminal_size=SIZE,
        run_before=scenes.without_notifications(scenes.show_held_build),
    )


def test_paused_at_breakpoint(snap_compare: Any, make_app: MakeApp) -> None:
    app = make_app("breakpoint")
    assert snap_compare(
        app, terminal_size=SIZE, run_before=scenes.without_notifications(scenes.settle)
    )


def test_failed_build(snap_compare: Any, make_app: MakeApp) -> None:
    app = make_app("failure")
    assert snap_compare(
        app, terminal_size=SIZE, run_before=scenes.without_notifications(scenes.settle)
    )


def test_diff_screen(snap_compare: Any, make_app: MakeApp) -> None:
    app = make_app("passing")
    assert snap_compare(app, terminal_size=SIZE, run_before=scenes.show_diff_screen)


def test_help_screen(snap_compare: Any, make_app: MakeApp) -> None:
    app = make_app("passing")
    assert snap_compare(
        app,
        terminal_size=SIZE,
        run_before=scenes.show_help,
    )
