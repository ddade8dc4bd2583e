"""`stagescope run --watch`: build, then rebuild on every change until stopped.

SIGINT, SIGTERM and SIGHUP cancel the running build, which removes its
working containers, and end the command with 130, 143 or 129. With `--json`
every event goes to standard output as one JSON object per line; engine.watch
describes the watch-mode events. Without it, each rebuild prints one line
with the change and the prediction, the progress of its steps, and one line
with the latencies and whether the prediction held.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType
from typing import TextIO

from engine.commands.build_options import (
    breakpoints_from_args,
    conditions_from_args,
    request_from_args,
)
from engine.commands.run import (
    SIGNAL_EXIT_CODES,
    EventPrinter,
    JsonPrinter,
    ProgressPrinter,
)
from engine.conditions import watch_conditions
from engine.events import (
    BreakpointDropped,
    BuildCancelled,
    BuildFinished,
    BuildPaused,
    Event,
    RebuildFinished,
    RebuildPredicted,
    RebuildSkipped,
)
from engine.plan import Plan
from engine.watch import Watcher

BUILD_ENDS = (BuildFinished, BuildPaused, BuildCancelled)


def run_watch(args: argparse.Namespace) -> int:
    request = request_from_args(args)
    request.buildah.ensure_usable()
    plan = request.load_plan()
    request.ensure_local_bases(plan)
    printer: EventPrinter = (
        JsonPrinter(sys.stdout) if args.json else WatchPrinter(plan, sys.stdout)
    )
    conditions = conditions_from_args(args)
    watcher = Watcher(
        request,
        breakpoints_from_args(args),
        on_event=printer.print,
        on_session=lambda session: watch_conditions(session).conditions.extend(
            conditions
        ),
    )
    if isinstance(printer, WatchPrinter):
        printer.watcher = watcher

    received: list[int] = []

    def on_signal(number: int, frame: FrameType | None) -> None:
        received.append(number)
        watcher.stop(reason=signal.Signals(number).name)

    for number in SIGNAL_EXIT_CODES:
        signal.signal(number, on_signal)

    thread = watcher.start()
    while thread.is_alive():
        thread.join(timeout=0.2)
    if watcher.error is not None and not received:
        raise watcher.error
    if received:
        return SIGNAL_EXIT_CODES.get(signal.Signals(received[0]), 130)
    return 0


class WatchPrinter(EventPrinter):
    """Readable output: a line per rebuild around each build's own progress."""

    def __init__(self, plan: Plan, stream: TextIO) -> None:
        self.stream = stream
        self.progress = ProgressPrinter(plan, stream)
        self.watcher: Watcher | None = None
        self.lock = threading.Lock()
        self.announced = False

    def write(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def print(self, event: Event) -> None:
        with self.lock:
            if isinstance(event, RebuildPredicted):
                if self.watcher is not None and self.watcher.plan is not None:
                    self.progress = ProgressPrinter(self.watcher.plan, self.stream)
                self.write(describe_prediction(self.progress.plan, event))
            elif isinstance(event, RebuildFinished):
                self.write(describe_rebuild(self.progress.plan, event))
            elif isinstance(event, RebuildSkipped):
                self.write(f"Change to {', '.join(event.trigger)}: {event.message}")
            elif isinstance(event, BreakpointDropped):
                self.write(f"Warning: {event.message}")
            else:
                self.progress.print(event)
                if isinstance(event, BUILD_ENDS) and not self.announced:
                    self.announced = True
                    self.announce_watch()

    def announce_watch(self) -> None:
        if self.watcher is not None:
            self.write(f"Watching {self.watcher.context} for changes; Ctrl-C stops.")


def describe_step(plan: Plan, stage: int, step: int) -> str:
    label = plan.stages[stage].label if stage < len(plan.stages) else str(stage)
    instruction = plan.instruction(stage, step)
    where = f" (line {instruction.first_line})" if instruction else ""
    return f"stage {label} step {step}{where}"


def describe_prediction(plan: Plan, event: RebuildPredicted) -> str:
    changed = ", ".join(event.trigger) or "nothing"
    if event.first_miss is None:
        return f"Changed: {changed}. Rebuilding; {event.reason}."
    stage, step = event.first_miss
    return (
        f"Changed: {changed}. Rebuilding from {describe_step(plan, stage, step)}: "
        f"{event.reason}; {count_steps(len(event.rerun))} to rerun, "
        f"{len(event.cached)} cached."
    )


def count_steps(count: int) -> str:
    return f"{count} step" if count == 1 else f"{count} steps"


def describe_rebuild(plan: Plan, event: RebuildFinished) -> str:
    if event.first_step_seconds is not None:
        timing = (
            f"first rebuilt step started {event.first_step_seconds:.3f} s after "
            f"the change, {event.outcome} after {event.finish_seconds:.2f} s"
        )
    else:
        timing = f"no step rebuilt, {event.outcome} after {event.finish_seconds:.2f} s"
    if not event.mispredicted:
        verdict = "prediction held" if event.outcome != "cancelled" else "cancelled"
    else:
        wrong = [
            f"{describe_step(plan, stage, step)} was "
            f"{'a cache hit' if actual == 'cached' else 'rebuilt'}"
            for stage, step, actual in event.mispredicted
        ]
        verdict = "prediction wrong: " + "; ".join(wrong)
    return f"Rebuild: {timing}; {verdict}."
