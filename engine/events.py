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
    reason: str | None = None
    """In watch mode, why `predicted_first_miss` misses the cache."""


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
class LogBlock(Event):
    """Consecutive lines of output of one step, joined by newlines.

    A build session reports output in blocks, so that a step that prints a
    million lines costs a few thousand events rather than a million. The
    JSON contract stays one line per `log` event: `log_lines` gives them.
    """

    name: ClassVar[str] = "log"
    stage: int | None
    step: int | None
    text: str

    @property
    def line_count(self) -> int:
        return self.text.count("\n") + 1

    def lines(self) -> list[str]:
        return self.text.split("\n")

    def log_lines(self) -> list[LogLine]:
        return [LogLine(self.stage, self.step, line) for line in self.lines()]


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
    miss_reason: str | None = None
    """The reason a step after FROM missed the layer cache, compared with the
    last recorded build. None for cache hits and for FROM, which buildah never
    looks up in the cache."""


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
    """The build stopped before `step` of `stage`: `reason` is "breakpoint",
    "failure", or "condition" when the step before met a `--break-if`
    condition.

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
    variables: dict[str, Any] | None = None
    """The variables in force before the paused step, or None where unknown:
    `{"args": {NAME: {"value", "source", "line"}}, "env": {NAME: VALUE},
    "workdir", "user", "shell" (a list of words), "base" (the FROM image),
    "base_stage" (the label of the stage FROM names, or None)}`. An ARG's
    `source` is "--build-arg", "default", "global", "platform" or "unset"
    (declared without a value, then its `value` is None); see
    engine.variables_at."""
    condition: str | None = None
    """With reason "condition": the condition as written, e.g. "duration>30"."""
    condition_detail: str | None = None
    """With reason "condition": how the step before the pause met it."""


@dataclass(frozen=True)
class BuildFinished(Event):
    name: ClassVar[str] = "build-finished"
    image: str
    seconds: float
    crossings: tuple[dict[str, Any], ...] = ()
    """The files each COPY --from carried between stages: `from` and `to` (stage
    indexes), `line`, `paths` (the sources as written), `files` and `bytes`."""


@dataclass(frozen=True)
class BuildCancelled(Event):
    name: ClassVar[str] = "build-cancelled"
    reason: str
    seconds: float


@dataclass(frozen=True)
class StageFinished(Event):
    """The image a built stage ended with, reported after the build finished.

    `size` is in bytes, `image` None for a stage that is only FROM scratch, and
    `summary` one sentence for people, e.g. "builder 881 MB; 1 file, 2.1 MB,
    reached the final image".
    """

    name: ClassVar[str] = "stage-finished"
    stage: int
    image: str | None
    size: int
    summary: str = ""


@dataclass(frozen=True)
class CheckFinding(Event):
    """A pre-flight check finding, written before the build starts."""

    name: ClassVar[str] = "check"
    file: str
    severity: str
    line: int | None
    code: str
    message: str


@dataclass(frozen=True)
class RebuildPredicted(Event):
    """Watch mode saw a change and predicts what the rebuild reruns.

    `trigger` lists the changed paths relative to the context. `rerun` and
    `cached` list the (stage, step) pairs after FROM of the needed stages.
    `changed_at` is the newest modification time of the changed files (Unix
    seconds), and `detected_seconds` the time from it until the watcher
    handed the change over.
    """

    name: ClassVar[str] = "prediction"
    trigger: tuple[str, ...]
    first_miss: tuple[int, int] | None
    reason: str
    rerun: tuple[tuple[int, int], ...]
    cached: tuple[tuple[int, int], ...]
    changed_at: float
    detected_seconds: float


@dataclass(frozen=True)
class RebuildFinished(Event):
    """A watch-mode rebuild stopped: finished, paused, failed or cancelled.

    Latencies count from the change (`changed_at` of the prediction):
    `first_step_seconds` until the first step that missed the cache started
    (None when none did), `finish_seconds` until buildah stopped.
    `mispredicted` lists the steps whose cache result the prediction got
    wrong as (stage, step, what happened: "rerun" or "cached").
    """

    name: ClassVar[str] = "rebuild-finished"
    trigger: tuple[str, ...]
    outcome: str
    predicted_first_miss: tuple[int, int] | None
    actual_first_miss: tuple[int, int] | None
    first_step_seconds: float | None
    finish_seconds: float
    mispredicted: tuple[tuple[int, int, str], ...] = ()


@dataclass(frozen=True)
class RebuildSkipped(Event):
    """Watch mode saw a change but started no rebuild; `message` gives the reason."""

    name: ClassVar[str] = "rebuild-skipped"
    trigger: tuple[str, ...]
    message: str


@dataclass(frozen=True)
class BreakpointDropped(Event):
    """An edit of the Containerfile removed a breakpoint's instruction."""

    name: ClassVar[str] = "breakpoint-dropped"
    spec: str
    message: str


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
        StageFinished,
        CheckFinding,
        RebuildPredicted,
        RebuildFinished,
        RebuildSkipped,
        BreakpointDropped,
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
