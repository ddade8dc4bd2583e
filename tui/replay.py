"""Replay a recorded build: `stagescope run --json` output fed back as events.

A `ReplayFeeder` has the controls of a `BuildSession` and emits the recorded
events through the same `on_event` path, so the app shows a recording exactly
as it showed the live build. It pauses where the recording paused, and also
at the user's own breakpoints and single steps, by holding back the rest of
the stream. With a speed above zero it waits between events for the step
durations the recording reports, scaled by that speed.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from engine.breakpoints import (
    Breakpoint,
    Position,
    is_build_end,
    next_position,
    position_key,
)
from engine.errors import UsageError, read_text_file
from engine.events import (
    BuildCancelled,
    BuildFinished,
    BuildPaused,
    BuildStarted,
    Event,
    LogBlock,
    LogLine,
    StepFailed,
    StepFinished,
    StepStarted,
    event_from_dict,
)
from engine.plan import Plan
from engine.runner import State

END_OF_RECORDING = "end of recording"
"""Pause reason when a recording stops without a pause or a build outcome."""


def load_recording(path: Path) -> list[Event]:
    """Read a JSONL recording; raise UsageError naming the file and line."""
    text = read_text_file(path, "the recording")
    events = []
    # Not splitlines: JSON keeps U+2028 and other line separators unescaped.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            raise UsageError(
                f"{path}:{number}: not a JSON event ({error.msg}); record builds "
                "with `stagescope run --json CONTEXT > FILE`"
            ) from None
        if not isinstance(data, dict):
            raise UsageError(f"{path}:{number}: expected a JSON object per line")
        try:
            event = event_from_dict(data)
        except (ValueError, TypeError) as error:
            raise UsageError(f"{path}:{number}: {error}") from None
        if isinstance(event, LogLine):
            # A build session reports output in blocks, and the app's own
            # recordings keep a block in one `log` event.
            event = LogBlock(event.stage, event.step, event.text)
        events.append(event)
    if not events:
        raise UsageError(
            f"{path}: the recording has no events; record a build with "
            "`stagescope run --json CONTEXT > FILE`"
        )
    return events


def check_recording(events: Iterable[Event], plan: Plan, path: Path) -> None:
    """Raise UsageError unless every step in `events` fits `plan`'s stages."""
    for event in events:
        if not isinstance(event, StepStarted):
            continue
        if event.stage >= len(plan.stages):
            raise UsageError(
                f"{path}: the recording has stage {event.stage} but {plan.path} has "
                f"{len(plan.stages)} stages; pass the Containerfile the recording "
                "was made from with -f"
            )
        instruction = plan.instruction(event.stage, event.step)
        recorded = event.instruction.split(maxsplit=1)[0].upper()
        if instruction is not None and instruction.keyword != recorded:
            label = plan.stages[event.stage].label
            raise UsageError(
                f"{path}: step {event.step} of stage {label} is {recorded} in the "
                f"recording but {instruction.keyword} on line "
                f"{instruction.first_line} of {plan.path}; pass the Containerfile "
                "the recording was made from with -f"
            )


class ReplayFeeder:
    """Emit recorded events with the controls of a `BuildSession`.

    `start`, `resume`, `step` and `rebuild` block until the stream pauses or
    ends, so they run on a worker thread; `cancel` may be called from any
    thread and also interrupts the waits of a timed replay.
    """

    def __init__(
        self,
        plan: Plan,
        events: Iterable[Event],
        breakpoints: Iterable[Breakpoint] = (),
        on_event: Callable[[Event], None] | None = None,
        speed: float = 0.0,
    ) -> None:
        self.plan = plan
        self.events = list(events)
        self.breakpoints = list(breakpoints)
        self.on_event = on_event or (lambda event: None)
        self.speed = speed
        self.state = State.IDLE
        self.position: Position | None = None
        self.paused_image: str | None = None
        self.step_images: dict[Position, str | None] = {}
        self._delays = _event_delays(self.events)
        self._cursor = 0
        self._step_seconds = 0.0
        self._frontier: Position | None = None
        """The position after the last step the stream reported."""
        self._cancelled = threading.Event()
        self._cancel_reason = "cancelled"
        for breakpoint in self.breakpoints:
            breakpoint.resolve(plan)

    @property
    def has_more(self) -> bool:
        """True while recorded events remain to be played."""
        return self._cursor < len(self.events)

    def start(self) -> State:
        self._cursor = 0
        self._step_seconds = 0.0
        self._frontier = None
        self.position = None
        self.paused_image = None
        self.step_images.clear()
        return self.resume()

    def resume(self) -> State:
        return self._play(self._next_breakpoint())

    def step(self) -> State:
        return self._play(next_position(self.plan, self.position))

    def rebuild(self) -> State:
        return self.start()

    def cancel(self, reason: str = "cancelled") -> None:
        self._cancel_reason = reason
        self._cancelled.set()

    def _next_breakpoint(self) -> Position | None:
        after = position_key(self.plan, self.position) if self.position else (-1, 0)
        candidates = [
            breakpoint.resolve(self.plan)
            for breakpoint in self.breakpoints
            if position_key(self.plan, breakpoint.resolve(self.plan)) > after
        ]
        needed = [p for p in candidates if self.plan.stages[p.stage].needed]
        return min(needed, key=lambda p: position_key(self.plan, p), default=None)

    # Playing

    def _play(self, pause_at: Position | None) -> State:
        if pause_at is not None and is_build_end(self.plan, pause_at):
            pause_at = None
        self._cancelled.clear()
        self.state = State.RUNNING
        self._emit_build_started(pause_at)
        while self._cursor < len(self.events):
            event = self.events[self._cursor]
            if self._wait(self._delays[self._cursor]):
                return self._cancel()
            if pause_at is not None and self._reaches(event, pause_at):
                return self._pause(pause_at)
            self._cursor += 1
            self.on_event(event)
            outcome = self._apply(event)
            if outcome is not None:
                return outcome
        return self._end_of_recording()

    def _emit_build_started(self, pause_at: Position | None) -> None:
        started = BuildStarted(
            containerfile=str(self.plan.path),
            target=self.plan.target,
            pause_at=(pause_at.stage, pause_at.step) if pause_at else None,
        )
        if self.has_more:
            recorded = self.events[self._cursor]
            if isinstance(recorded, BuildStarted):
                self._cursor += 1
                started = dataclasses.replace(recorded, pause_at=started.pause_at)
        self.on_event(started)

    def _reaches(self, event: Event, pause_at: Position) -> bool:
        if isinstance(event, StepStarted):
            here = Position(event.stage, event.step)
            return position_key(self.plan, here) >= position_key(self.plan, pause_at)
        return isinstance(event, BuildFinished)

    def _wait(self, seconds: float) -> bool:
        """Wait for a timed replay; return True when cancelled."""
        if self.speed > 0 and seconds > 0:
            self._cancelled.wait(seconds / self.speed)
        return self._cancelled.is_set()

    def _apply(self, event: Event) -> State | None:
        """Track the state an event leaves; return it when the segment ends."""
        if isinstance(event, StepStarted):
            self._frontier = Position(event.stage, event.step)
        elif isinstance(event, StepFinished):
            self.step_images[Position(event.stage, event.step)] = event.image
            self._step_seconds += event.seconds
            self._frontier = Position(event.stage, event.step + 1)
        elif isinstance(event, StepFailed):
            self.state = State.FAILED
            if event.stage is not None and event.step is not None:
                self.position = Position(event.stage, event.step)
            self.paused_image = event.image
        elif isinstance(event, BuildPaused):
            if event.stage is not None and event.step is not None:
                self.position = Position(event.stage, event.step)
            self.paused_image = event.image
            if self.state is not State.FAILED:
                self.state = State.PAUSED
            return self.state
        elif isinstance(event, BuildFinished):
            self.paused_image = event.image or None
            self.state = State.FINISHED
            return self.state
        elif isinstance(event, BuildCancelled):
            self.state = State.CANCELLED
            return self.state
        return None

    # Outcomes

    def _pause(self, position: Position, reason: str = "breakpoint") -> State:
        self.state = State.PAUSED
        self.position = position
        self.paused_image = self._image_before(position)
        instruction = self.plan.instruction(*position)
        self.on_event(
            BuildPaused(
                reason=reason,
                stage=position.stage,
                step=position.step,
                instruction=instruction.text if instruction else None,
                line=instruction.first_line if instruction else None,
                image=self.paused_image,
            )
        )
        return self.state

    def _end_of_recording(self) -> State:
        where = self._frontier or self.position or Position(self.plan.build_order[0], 1)
        return self._pause(where, reason=END_OF_RECORDING)

    def _cancel(self) -> State:
        self.state = State.CANCELLED
        self.on_event(
            BuildCancelled(
                reason=self._cancel_reason, seconds=round(self._step_seconds, 3)
            )
        )
        return self.state

    def _image_before(self, position: Position) -> str | None:
        if position.step <= 1:
            return None
        return self.step_images.get(Position(position.stage, position.step - 1))


def _event_delays(events: list[Event]) -> list[float]:
    """Return, per event, the recorded seconds to wait before emitting it.

    A step's duration is spread evenly over its log lines and its end, since
    the recording times steps but not single lines.
    """
    delays = [0.0] * len(events)
    start: int | None = None
    for index, event in enumerate(events):
        if isinstance(event, StepStarted):
            start = index
        elif isinstance(event, (StepFinished, StepFailed)) and start is not None:
            lines = [
                i for i in range(start + 1, index) if isinstance(events[i], LogBlock)
            ]
            share = event.seconds / (len(lines) + 1)
            for i in [*lines, index]:
                delays[i] = share
            start = None
    return delays
