"""Helpers for app tests that run real buildah builds."""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.pilot import Pilot

WAIT_SECONDS = 60.0
"""How long a live test waits for a build or a rebuild to reach a state."""


async def wait_until(
    pilot: Pilot[int], condition: Callable[[], bool], what: str
) -> None:
    """Let the app run until `condition` holds; fail after WAIT_SECONDS."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)
    await pilot.pause()
