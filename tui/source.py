"""What the app drives: a live BuildSession or a replayed recording.

Both kinds of source have the same blocking controls, called from the build
worker thread, and both report engine events through `on_event` from that
thread. The app never needs to know which one it has, except that only a live
source has images to open a shell in or to compare.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from engine.breakpoints import Breakpoint, Position
from engine.buildah import Buildah
from engine.events import Event
from engine.plan import Plan
from engine.runner import BuildSession, State

EventHandler = Callable[[Event], None]


class BuildSource(Protocol):
    """The controls and state that `engine.runner.BuildSession` offers."""

    plan: Plan
    on_event: EventHandler

    @property
    def breakpoints(self) -> list[Breakpoint]: ...

    @property
    def state(self) -> State: ...

    @property
    def position(self) -> Position | None: ...

    @property
    def paused_image(self) -> str | None: ...

    @property
    def step_images(self) -> dict[Position, str | None]: ...

    def start(self) -> State: ...

    def resume(self) -> State: ...

    def step(self) -> State: ...

    def rebuild(self) -> State: ...

    def cancel(self, reason: str = "cancelled") -> None: ...


def source_buildah(source: BuildSource) -> Buildah | None:
    """Return the buildah with the source's images, or None for a replay."""
    if isinstance(source, BuildSession):
        return source.request.buildah
    return None


def can_continue(source: BuildSource) -> bool:
    """Return True when `resume` and `step` have something left to run."""
    remaining = getattr(source, "has_more", None)
    return source.state is State.PAUSED and (remaining is None or bool(remaining))
