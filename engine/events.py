"""Typed, immutable events that a build reports while it runs.

The JSON form of each event is a contract: `stagescope run --json` writes one
object per line with an `event` field, scripts and the tests read it, and
`stagescope replay` turns a recording back into these classes.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class Event:
    name: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"event": self.name}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            data[field.name] = list(value) if isinstance(value, tuple) else value
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)


@dataclass(frozen=True)
class BuildStarted(Event):
    """A buildah run began: a full build, or a truncated one that ends at a pause."""

    name: ClassVar[str] = "build-started"
    containerfile: str
    target: int
    pause_at: tuple[int, int] | None = None
    trigger: tuple[str, ...] = ()
    predicted_first_miss: tuple[int, int] | None = None


@dataclass(frozen=True)
class StepStarted(Event):
    name: ClassVar[str] = "step-started"
    stage: int
    step: int
    instruction: str
    line: int | None


@dataclass(frozen=True)
class LogLine(Event):
    """One line of output, attributed to the step that was running."""

    name: ClassVar[str] = "log"
    stage: int | None
    step: int | None
    text: str


@dataclass(frozen=True)
class StepFinished(Event):
    """A step committed. `image` is the full ID of the state after it, or None
    for a FROM scratch step."""

    name: ClassVar[str] = "step-finished"
    stage: int
    step: int
    image: str | None
    cached: bool
    seconds: float


@dataclass(frozen=True)
class StepFailed(Event):
    """A step failed. `image` is the state before it, where one exists.

    `stage` and `step` are None when buildah failed before any step started.
    """

    name: ClassVar[str] = "step-failed"
    stage: int | None
    step: int | None
    instruction: str | None
    line: int | None
    exit_code: int
    message: str
    image: str | None
    seconds: float


@dataclass(frozen=True)
class BuildPaused(Event):
    """The build stopped before `step` of `stage`, at a breakpoint or a failure.

    `image` is the full ID of the paused state: the image committed by the
    step before, which is what a shell or a diff opens.
    """

    name: ClassVar[str] = "paused"
    reason: str
    stage: int | None
    step: int | None
    instruction: str | None
    line: int | None
    image: str | None


@dataclass(frozen=True)
class BuildFinished(Event):
    name: ClassVar[str] = "build-finished"
    image: str
    seconds: float


@dataclass(frozen=True)
class BuildCancelled(Event):
    name: ClassVar[str] = "build-cancelled"
    reason: str
    seconds: float


EVENT_TYPES: dict[str, type[Event]] = {
    cls.name: cls
    for cls in (
        BuildStarted,
        StepStarted,
        LogLine,
        StepFinished,
        StepFailed,
        BuildPaused,
        BuildFinished,
        BuildCancelled,
    )
}


def event_from_dict(data: dict[str, Any]) -> Event:
    """Rebuild an event from its JSON form; unknown fields are ignored.

    Raises ValueError for an unknown `event` name or a missing field.
    """
    kind = data.get("event")
    cls = EVENT_TYPES.get(str(kind))
    if cls is None:
        raise ValueError(f"unknown event {kind!r}")
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        if field.name not in data:
            if field.default is dataclasses.MISSING:
                raise ValueError(f"event {kind!r} has no field {field.name!r}")
            continue
        value = data[field.name]
        values[field.name] = tuple(value) if isinstance(value, list) else value
    return cls(**values)
