"""`stagescope run`: build without the screen, pausing at breakpoints."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from types import FrameType
from typing import Any, TextIO

from engine.commands.build_options import (
    add_build_options,
    breakpoints_from_args,
    conditions_from_args,
    request_from_args,
)
from engine.commands.check import report_before_build
from engine.conditions import watch_conditions
from engine.errors import StagescopeError
from engine.events import (
    BuildCancelled,
    BuildFinished,
    BuildPaused,
    Event,
    LogBlock,
    StageFinished,
    StepFailed,
    StepFinished,
    StepStarted,
)
from engine.plan import Plan
from engine.runner import BuildSession, State
from engine.session_insight import attach
from engine.shellfix import apply_fix, propose_fix, resume_with_fix, useful_commands
from engine.variables_at import describe_variables

SIGNAL_EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="build without the screen, pausing at breakpoints",
        description="Build through buildah bud --layers and report each step. "
        "Options after -- go to buildah bud unchanged.",
    )
    parser.add_argument(
        "--json", action="store_true", help="write one JSON event per line"
    )
    parser.add_argument(
        "--watch",
        action="store_true",
        help="after the build, rebuild whenever the context or the Containerfile "
        "changes, until interrupted",
    )
    add_build_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if getattr(args, "watch", False):
        from engine.commands.run_watch import run_watch

        return run_watch(args)
    request = request_from_args(args)
    version = request.buildah.ensure_usable()
    if not report_before_build(request, version, args.json):
        return 1
    plan = request.load_plan()
    request.ensure_local_bases(plan)
    conditions = conditions_from_args(args)
    printer: EventPrinter = (
        JsonPrinter(sys.stdout)
        if args.json
        else ProgressPrinter(
            plan,
            sys.stdout,
            (
                *request.buildah.storage.global_args(),
                *request.buildah.run_options(),
            ),
        )
    )
    session = BuildSession(request, plan, breakpoints_from_args(args), printer.print)
    attach(session)
    watch_conditions(session).conditions = conditions
    interactive = sys.stdin.isatty() and sys.stdout.isatty() and not args.json

    received: list[int] = []
    at_prompt = threading.Event()

    def on_signal(number: int, frame: FrameType | None) -> None:
        received.append(number)
        session.cancel(reason=signal.Signals(number).name)
        if at_prompt.is_set():
            # input() keeps waiting after a handler returns, so raise to leave it.
            raise KeyboardInterrupt

    for number in SIGNAL_EXIT_CODES:
        signal.signal(number, on_signal)

    state = run_in_thread(session.start)
    while state is State.PAUSED and interactive:
        try:
            choice = prompt_at_pause(session, at_prompt)
        except KeyboardInterrupt:
            break
        if choice == "quit" or received:
            break
        if isinstance(printer, ProgressPrinter):
            printer.plan = session.plan
        state = run_in_thread(session.step if choice == "next" else session.resume)

    if received:
        return SIGNAL_EXIT_CODES.get(signal.Signals(received[0]), 130)
    if state is State.CANCELLED:
        return 130
    if state is State.FAILED:
        return printer.failure_exit_code or 1
    return 0


def run_in_thread(action: Any) -> State:
    """Run a blocking session call on a thread so signals reach the main thread."""
    result: list[State] = []
    thread = threading.Thread(target=lambda: result.append(action()), daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(timeout=0.2)
    return result[0] if result else State.CANCELLED


def prompt_at_pause(session: BuildSession, at_prompt: threading.Event) -> str:
    """Ask what to do at a pause: continue, next, shell or quit.

    `at_prompt` is set while input() waits, and only then does the signal
    handler interrupt the prompt.
    """
    while True:
        at_prompt.set()
        try:
            answer = input("[c]ontinue, [n]ext step, [s]hell, [q]uit? ").strip().lower()
        except EOFError:
            return "quit"
        finally:
            at_prompt.clear()
        if answer in ("c", "continue", ""):
            return "continue"
        if answer in ("n", "next"):
            return "next"
        if answer in ("q", "quit"):
            return "quit"
        if answer in ("s", "shell"):
            commands = useful_commands(open_shell(session))
            if commands and offer_fix(session, commands, at_prompt):
                return "continue"


def open_shell(session: BuildSession) -> list[str]:
    """Open a shell in the paused state, offering the failed RUN at a failure.

    Returns the lines of the shell's history typed in it.
    """
    history: list[str] = []
    if not session.paused_image:
        print("No image to open a shell in: the paused state has no filesystem.")
        return history
    from engine.shell import ShellContext, run_shell

    context = ShellContext()
    if session.position is not None:
        stage = session.plan.stages[session.position.stage]
        instruction = session.plan.instruction(*session.position)
        failing = None
        if (
            session.state is State.FAILED
            and instruction
            and instruction.keyword == "RUN"
        ):
            failing = " ".join(instruction.arguments)
        context = ShellContext(
            stage=stage.label,
            step=session.position.step,
            instruction=instruction.text if instruction else None,
            failing_command=failing,
        )
    try:
        run_shell(
            session.request.buildah, session.paused_image, context, history=history
        )
    except StagescopeError as error:
        print(f"stagescope: error: {error.message}", file=sys.stderr)
    finally:
        # `buildah run --tty` can leave the shared terminal non-blocking, and
        # the next input() would then read end-of-file at once.
        with contextlib.suppress(OSError):
            os.set_blocking(sys.stdin.fileno(), True)
    return history


def offer_fix(
    session: BuildSession, commands: list[str], at_prompt: threading.Event
) -> bool:
    """Offer the commands typed in the shell as a RUN before the paused step.

    Returns True when the user accepted it, so the RUN was written and the
    plan reloaded.
    """
    if session.position is None:
        return False
    fix = propose_fix(session.plan, session.position, commands)
    print(f"The shell's commands as an instruction, before line {fix.line}:")
    print(fix.diff, end="")
    at_prompt.set()
    try:
        answer = input(f"Write this to {fix.path} and continue? [y/N] ")
    except EOFError:
        return False
    finally:
        at_prompt.clear()
    if answer.strip().lower() not in ("y", "yes"):
        print("Nothing written.")
        return False
    try:
        request = session.request
        backup = apply_fix(fix, request.build_arg_values, request.target)
        dropped = resume_with_fix(session)
    except StagescopeError as error:
        print(f"stagescope: error: {error.message}", file=sys.stderr)
        return False
    print(f"Wrote {fix.path}; the file as it was is in {backup}.")
    for _, message in dropped:
        print(message)
    return True


class EventPrinter:
    failure_exit_code: int | None = None

    def print(self, event: Event) -> None:
        raise NotImplementedError

    def note_failure(self, event: Event) -> None:
        if isinstance(event, StepFailed):
            self.failure_exit_code = event.exit_code


class JsonPrinter(EventPrinter):
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.lock = threading.Lock()

    def print(self, event: Event) -> None:
        self.note_failure(event)
        # The contract is one line of output per `log` event.
        events = event.log_lines() if isinstance(event, LogBlock) else [event]
        with self.lock:
            self.stream.write("".join(item.to_json() + "\n" for item in events))
            self.stream.flush()


class ProgressPrinter(EventPrinter):
    """Readable progress: each step with its stage, time and cache hit."""

    def __init__(
        self, plan: Plan, stream: TextIO, shell_options: tuple[str, ...] = ()
    ) -> None:
        self.plan = plan
        self.stream = stream
        self.shell_options = shell_options
        """Options that `stagescope shell` needs to open this build's images."""
        """Options that name the storage, repeated in the shell command it prints."""
        self.steps = 0
        self.cache_hits = 0
        self.previous_step_hit: dict[int, bool] = {}

    def write(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def print(self, event: Event) -> None:
        self.note_failure(event)
        if isinstance(event, StepStarted):
            stage = self.plan.stages[event.stage]
            line = f"line {event.line}" if event.line else "added by buildah"
            self.write(
                f"[{stage.label} {event.step}/{stage.step_count}] "
                f"{event.instruction}  ({line})"
            )
        elif isinstance(event, LogBlock):
            self.write("\n".join(f"    {line}" for line in event.lines()))
        elif isinstance(event, StepFinished):
            self.steps += 1
            if event.cached:
                self.cache_hits += 1
            if event.step > 1:
                outcome = "cache hit" if event.cached else f"{event.seconds:.1f} s"
                self.write(f"    -> {(event.image or '')[:12]}  {outcome}")
            # Only the first miss of a run of misses prints its reason, because
            # the rest miss after it.
            if event.miss_reason and self.previous_step_hit.get(event.stage, True):
                self.write(f"    cache miss: {event.miss_reason}")
            self.previous_step_hit[event.stage] = event.cached or event.step == 1
        elif isinstance(event, StageFinished):
            self.write(f"Stage summary: {event.summary}")
        elif isinstance(event, StepFailed):
            self.write(f"FAILED (exit status {event.exit_code}): {event.message}")
        elif isinstance(event, BuildPaused):
            self.print_pause(event)
        elif isinstance(event, BuildFinished):
            self.write(
                f"Build finished in {event.seconds:.1f} s: image {event.image[:12]}, "
                f"{self.steps} steps, {self.cache_hits} cache hits"
            )
        elif isinstance(event, BuildCancelled):
            self.write(f"Build cancelled ({event.reason}) after {event.seconds:.1f} s")

    def print_pause(self, event: BuildPaused) -> None:
        where = "the end of the stage"
        if event.instruction:
            where = f"line {event.line}: {event.instruction}"
        label = self.plan.stages[event.stage].label if event.stage is not None else "?"
        image = (event.image or "none")[:12]
        self.write(
            f"Paused ({event.reason}) in stage {label} before step {event.step}, "
            f"{where}; state image {image}"
        )
        if event.condition:
            detail = event.condition_detail
            self.write(f"    {event.condition} met by the step before, {detail}")
        for line in describe_variables(event.variables):
            self.write(f"    {line}")
        if event.reason == "failure" and event.image:
            options = " ".join(self.shell_options)
            self.write(
                "Open a shell in the state before the failed step with: "
                f"stagescope shell {options + ' ' if options else ''}{event.image[:12]}"
            )
