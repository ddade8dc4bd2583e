"""The build as the screen shows it, folded from engine events.

`BuildModel.apply` takes every event in order and keeps, per step, its
status, cache hit, duration and image, and per build, the state, the pause
and the failure. It imports no Textual, so tests can feed it events.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass

from engine.breakpoints import Position
from engine.events import (
    BuildCancelled,
    BuildFinished,
    BuildPaused,
    BuildStarted,
    Event,
    LogBlock,
    StepFailed,
    StepFinished,
    StepStarted,
)
from engine.plan import Plan, Stage
from engine.runner import State


class Status(enum.Enum):
    """Status of a step or a stage; the value is the word the screen shows."""

    WAITING = "waiting"
    RUNNING = "running"
    CACHED = "cached"
    DONE = "done"
    FAILED = "failed"
    PAUSED = "paused"
    STOPPED = "stopped"
    NOT_NEEDED = "not needed"


FINISHED = (Status.CACHED, Status.DONE)


@dataclass
class StepRecord:
    """One step of a stage: an instruction of the plan or one buildah added."""

    stage: int
    step: int
    instruction: str
    line: int | None
    status: Status = Status.WAITING
    cached: bool | None = None
    seconds: float | None = None
    image: str | None = None
    started_at: float | None = None
    log_lines: int = 0
    in_plan: bool = True

    @property
    def position(self) -> Position:
        return Position(self.stage, self.step)


class BuildModel:
    """Per-step and per-build state of one build, as its events report it."""

    def __init__(self, plan: Plan, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.plan = plan
        self.reset(plan)

    def reset(self, plan: Plan) -> None:
        """Forget every event: a new build of `plan` starts."""
        self.plan = plan
        self.state = State.IDLE
        self.steps: dict[Position, StepRecord] = {}
        for stage in plan.stages:
            for instruction in stage.instructions:
                position = Position(stage.index, instruction.step)
                self.steps[position] = StepRecord(
                    stage=stage.index,
                    step=instruction.step,
                    instruction=instruction.text,
                    line=instruction.first_line,
                )
        self.running: Position | None = None
        self.pause_target: Position | None = None
        self.paused_at: Position | None = None
        self.pause_reason: str | None = None
        self.paused_image: str | None = None
        self.pause: BuildPaused | None = None
        """The event of the current pause, with its variables and condition."""
        self.failure: StepFailed | None = None
        self.final_image: str | None = None
        self.build_seconds: float | None = None
        self.cancel_reason: str | None = None
        self.build_log_lines = 0
        self.segments = 0

    def image_size(self, image: str | None) -> int | None:
        """Return an image's size in bytes, when it is known."""
        return None

    # Events

    def apply(self, event: Event) -> None:
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event)

    def _build_started(self, event: BuildStarted) -> None:
        self.state = State.RUNNING
        self.segments += 1
        self.pause_target = Position(*event.pause_at) if event.pause_at else None
        self.paused_at = None
        self.pause_reason = None
        self.pause = None
        self.failure = None
        self.cancel_reason = None
        self.build_seconds = None

    def _step_started(self, event: StepStarted) -> None:
        position = Position(event.stage, event.step)
        record = self.steps.get(position)
        if record is None:
            record = StepRecord(
                event.stage, event.step, event.instruction, event.line, in_plan=False
            )
            self.steps[position] = record
        record.status = Status.RUNNING
        record.started_at = self.clock()
        record.cached = None
        record.seconds = None
        self.running = position

    def _log(self, event: LogBlock) -> None:
        self.add_log_lines(event.stage, event.step, event.line_count)

    def add_log_lines(self, stage: int | None, step: int | None, count: int) -> None:
        """Count lines of output; the app counts whole batches this way."""
        record = self._record(stage, step)
        if record is None:
            self.build_log_lines += count
        else:
            record.log_lines += count

    def _step_finished(self, event: StepFinished) -> None:
        record = self._record(event.stage, event.step)
        if record is None:
            return
        record.status = Status.CACHED if event.cached else Status.DONE
        record.cached = event.cached
        record.seconds = event.seconds
        record.image = event.image
        if self.running == record.position:
            self.running = None

    def _step_failed(self, event: StepFailed) -> None:
        self.failure = event
        record = self._record(event.stage, event.step)
        if record is not None:
            record.status = Status.FAILED
            record.seconds = event.seconds
        self.running = None

    def _paused(self, event: BuildPaused) -> None:
        self.state = State.FAILED if event.reason == "failure" else State.PAUSED
        self.pause_reason = event.reason
        self.paused_image = event.image
        self.pause = event
        self.pause_target = None
        if event.stage is not None and event.step is not None:
            self.paused_at = Position(event.stage, event.step)

    def _finished(self, event: BuildFinished) -> None:
        self.state = State.FINISHED
        self.final_image = event.image or None
        self.paused_image = self.final_image
        self.build_seconds = event.seconds
        self.pause_target = None

    def _cancelled(self, event: BuildCancelled) -> None:
        self.state = State.CANCELLED
        self.cancel_reason = event.reason
        self.build_seconds = event.seconds
        self.pause_target = None
        for record in self.steps.values():
            if record.status is Status.RUNNING:
                record.status = Status.STOPPED
        self.running = None

    def _record(self, stage: int | None, step: int | None) -> StepRecord | None:
        if stage is None or step is None:
            return None
        return self.steps.get(Position(stage, step))

    # Queries

    def steps_of(self, stage: int) -> list[StepRecord]:
        """Return the stage's steps in order, including ones buildah added."""
        records = [r for r in self.steps.values() if r.stage == stage]
        return sorted(records, key=lambda record: record.step)

    def step_status(self, record: StepRecord) -> Status:
        if not self.plan.stages[record.stage].needed:
            return Status.NOT_NEEDED
        if record.status is Status.WAITING and self.paused_at == record.position:
            return Status.PAUSED
        return record.status

    def stage_status(self, index: int) -> Status:
        stage = self.plan.stages[index]
        if not stage.needed:
            return Status.NOT_NEEDED
        statuses = [record.status for record in self.steps_of(index)]
        if Status.FAILED in statuses:
            return Status.FAILED
        paused_here = self.paused_at is not None and self.paused_at.stage == index
        if paused_here and self.state is State.PAUSED:
            return Status.PAUSED
        if Status.RUNNING in statuses:
            return Status.RUNNING
        if Status.STOPPED in statuses:
            return Status.STOPPED
        return self._completion_status(stage, statuses)

    def _completion_status(self, stage: Stage, statuses: list[Status]) -> Status:
        planned = statuses[: stage.step_count]
        if planned and all(status in FINISHED for status in planned):
            later = [s for s in self.steps_of(stage.index) if s.step > 1]
            if later and all(record.cached for record in later):
                return Status.CACHED
            return Status.DONE
        if any(status in FINISHED for status in statuses):
            return Status.RUNNING if self.state is State.RUNNING else Status.STOPPED
        return Status.WAITING

    def step_seconds(self, record: StepRecord) -> float | None:
        """Return the step's duration, or its time so far while it runs."""
        if record.status is Status.RUNNING and record.started_at is not None:
            return max(0.0, self.clock() - record.started_at)
        return record.seconds

    def stage_seconds(self, index: int) -> float | None:
        durations = [self.step_seconds(record) for record in self.steps_of(index)]
        known = [seconds for seconds in durations if seconds is not None]
        return sum(known) if known else None

    def elapsed(self) -> float:
        """Return the build's time: the engine's total once it ends, else the
        sum of the step durations so far."""
        if self.build_seconds is not None:
            return self.build_seconds
        total = 0.0
        for index in self.plan.build_order:
            total += self.stage_seconds(index) or 0.0
        return total

    def progress(self) -> tuple[int, int]:
        """Return (current step, steps to build) over the needed stages."""
        needed = [r for r in self.steps.values() if self.plan.stages[r.stage].needed]
        total = len(needed)
        done = sum(1 for record in needed if record.status in FINISHED)
        current = done + (1 if self.running is not None else 0)
        return current, total

    def cache_hits(self) -> tuple[int, int]:
        """Return (cache hits, steps that could hit the cache) so far."""
        eligible = [
            r for r in self.steps.values() if r.step > 1 and r.status in FINISHED
        ]
        return sum(1 for record in eligible if record.cached), len(eligible)

    def image_of(self, position: Position) -> str | None:
        """Return the image of the state after `position`, if it committed."""
        record = self.steps.get(position)
        return record.image if record is not None else None

    def state_before(self, position: Position) -> str | None:
        """Return the image of the state just before `position`."""
        if position.step <= 1:
            return None
        if self.paused_at == position and self.paused_image:
            return self.paused_image
        return self.image_of(Position(position.stage, position.step - 1))

    def stage_image(self, index: int) -> str | None:
        """Return the image after the stage's last finished step."""
        for record in reversed(self.steps_of(index)):
            if record.status in FINISHED and record.image:
                return record.image
        return None


_HANDLERS: dict[type[Event], Callable[[BuildModel, Event], None]] = {
    BuildStarted: BuildModel._build_started,  # type: ignore[dict-item]
    StepStarted: BuildModel._step_started,  # type: ignore[dict-item]
    LogBlock: BuildModel._log,  # type: ignore[dict-item]
    StepFinished: BuildModel._step_finished,  # type: ignore[dict-item]
    StepFailed: BuildModel._step_failed,  # type: ignore[dict-item]
    BuildPaused: BuildModel._paused,  # type: ignore[dict-item]
    BuildFinished: BuildModel._finished,  # type: ignore[dict-item]
    BuildCancelled: BuildModel._cancelled,  # type: ignore[dict-item]
}
