"""Run a build through `buildah bud --layers` and pause it at breakpoints.

A pause is a build of a truncated copy of the Containerfile: every line up to
the paused instruction, built with the same context and arguments. Resuming
builds the next truncation or the whole file, and every step that already ran
is a layer-cache hit, so the build the user steps through is exactly the one
buildah makes of the real file.
"""

from __future__ import annotations

import codecs
import concurrent.futures
import contextlib
import dataclasses
import enum
import fcntl
import io
import logging
import os
import queue
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from engine.breakpoints import (
    Breakpoint,
    Position,
    is_build_end,
    next_position,
    position_key,
)
from engine.buildah import HYBRID_CGROUPS_HELP, HYBRID_CGROUPS_MESSAGE, Buildah
from engine.errors import BuildahError, ContainerfileError
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
from engine.output import OutputParser
from engine.plan import Plan, load_plan
from engine.variables_at import image_config, variables_at

log = logging.getLogger(__name__)

TERMINATE_GRACE_SECONDS = 5.0
"""How long buildah gets to exit after SIGTERM before its group gets SIGKILL."""

OWN_CONTAINER_PREFIX = "stagescope-"
"""Name prefix of the shell and diff containers, which build cleanup leaves alone."""

EventHook = Callable[[Event], list[Event]]
"""Turns one session event into the events delivered in its place: the event
itself, an enriched copy, or more events around it. Hooks run on the thread
that emits the event, after `step_images` has the step of a StepFinished."""


@dataclass(frozen=True)
class StopRequest:
    """A request to pause right after `position`: from a condition hook, or
    for a breakpoint added while the segment runs (`reason` "breakpoint")."""

    position: Position
    condition: str
    detail: str
    reason: str = "condition"


class State(enum.Enum):
    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"
    FAILED = "failed"
    FINISHED = "finished"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class BuildRequest:
    """The build's inputs and every option passed through to `buildah bud`."""

    context: Path
    containerfile: Path
    buildah: Buildah = field(default_factory=Buildah)
    tags: tuple[str, ...] = ()
    build_args: tuple[tuple[str, str], ...] = ()
    target: str | None = None
    secrets: tuple[str, ...] = ()
    pull: str | None = None
    image_format: str | None = None
    extra_args: tuple[str, ...] = ()

    @property
    def build_arg_values(self) -> dict[str, str]:
        return dict(self.build_args)

    def load_plan(self) -> Plan:
        return load_plan(
            self.containerfile,
            build_args=self.build_arg_values,
            target=self.target,
            image_exists=lambda name: self.buildah.image_id(name) is not None,
        )

    def ensure_local_bases(self, plan: Plan) -> None:
        """Reject a build whose `localhost/` base image is missing from the storage.

        No registry serves `localhost/`, so buildah would fail late with a
        connection error that does not say what is missing.
        """
        for stage in plan.stages:
            base = stage.base
            if not stage.needed or stage.base_stage is not None:
                continue
            if not base.startswith("localhost/") or self.buildah.image_id(base):
                continue
            make = "stagescope base-images"
            if "debian" in base:
                make += " --debian"
            storage = " ".join(self.buildah.storage.global_args())
            if storage:
                make += f" {storage}"
            raise ContainerfileError(
                self.containerfile,
                stage.first_line,
                f"base image {base!r} is not in this buildah storage, and no "
                f"registry serves localhost/ images; make it with `{make}` or "
                "build it first",
            )

    def bud_argv(self, containerfile: Path, *, final: bool) -> list[str]:
        """Return buildah's arguments for a full build (`final`) or a truncated one.

        A truncated build ends at its file's last stage, so it gets no --target
        and no tags.
        """
        args = ["bud", "--layers", "--force-rm", "-f", str(containerfile)]
        args += self.buildah.run_options()
        for name, value in self.build_args:
            args += ["--build-arg", f"{name}={value}"]
        if final:
            for tag in self.tags:
                args += ["--tag", tag]
            if self.target:
                args += ["--target", self.target]
        for secret in self.secrets:
            args += ["--secret", secret]
        if self.pull:
            args.append(f"--pull={self.pull}")
        if self.image_format:
            args += ["--format", self.image_format]
        args += self.extra_args
        args.append(str(self.context))
        return self.buildah.argv(*args)


class BuildSession:
    """One build of one Containerfile, run in segments between pauses.

    `start`, `resume`, `step` and `rebuild` block until buildah stops, so
    callers run them on a worker thread; `cancel` may be called from any
    thread. Events go to `on_event` from the thread that reads buildah's
    output. Steps that already ran in this session are not reported again
    when a later segment replays them from the cache.
    """

    def __init__(
        self,
        request: BuildRequest,
        plan: Plan,
        breakpoints: Iterable[Breakpoint] = (),
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        self.request = request
        self.plan = plan
        self.breakpoints = list(breakpoints)
        self.on_event = on_event or (lambda event: None)
        self.state = State.IDLE
        self.position: Position | None = None
        self.paused_image: str | None = None
        self.step_images: dict[Position, str | None] = {}
        self.event_hooks: list[EventHook] = []
        """Called in order on each event before `on_event`; see EventHook."""
        self._reported: set[Position] = set()
        self._started: set[Position] = set()
        """Steps this build reported starting; with `_reported`, reset on start."""
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._cancelled = threading.Event()
        self._cancel_reason = "cancelled"
        self._containers_at_start: set[str] | None = None
        # Listed now, while the caller (the app, say) is still starting, so
        # that the first build does not wait for it.
        self._containers_listing: concurrent.futures.Future[set[str]] | None = (
            _in_background(request.buildah.container_ids)
        )
        self._active_seconds = 0.0
        self._stop: StopRequest | None = None
        self._stopping = False
        self._segment_target: Position | None = None
        for breakpoint in self.breakpoints:
            breakpoint.resolve(plan)

    # Public controls

    def start(self) -> State:
        """Run from the beginning to the first breakpoint or the end."""
        self.position = None
        self._reported.clear()
        self._started.clear()
        self.step_images.clear()
        self._active_seconds = 0.0
        self._cancelled.clear()
        self._containers_at_start = self._list_containers()
        return self.resume()

    def resume(self) -> State:
        """Continue to the next breakpoint after the current position, or the end."""
        self._stop = None
        return self._run_until(self._next_breakpoint())

    def step(self) -> State:
        """Run exactly one more instruction and pause again."""
        self._stop = None
        return self._run_until(next_position(self.plan, self.position))

    def rebuild(self) -> State:
        """Re-read the Containerfile and start over, keeping the breakpoints."""
        self.plan = self.request.load_plan()
        return self.start()

    def cancel(self, reason: str = "cancelled") -> None:
        """Stop the running buildah, if any: SIGTERM to its group, then SIGKILL.

        A cancel between segments stops the next `resume` or `step` from
        starting one; only `start` or `rebuild` runs the build again.
        """
        self._cancel_reason = reason
        self._cancelled.set()
        with self._lock:
            process = self._process
        if process is not None:
            _terminate_group(process)

    def _list_containers(self) -> set[str]:
        """Return the IDs of the working containers before a build."""
        listing, self._containers_listing = self._containers_listing, None
        if listing is not None:
            return listing.result()
        return self.request.buildah.container_ids()

    def reload(self, plan: Plan, breakpoints: Iterable[Breakpoint]) -> None:
        """Take an edited plan while paused, keeping the paused position.

        For an edit that inserted instructions at the paused position, so the
        next `resume` or `step` builds them. Every step is reported again by
        the next segment, mostly as cache hits, because positions may have
        moved.
        """
        self.plan = plan
        self.breakpoints = list(breakpoints)
        for breakpoint in self.breakpoints:
            breakpoint.resolve(plan)
        self._reported.clear()
        self._started.clear()
        self.step_images.clear()

    def pause_after(self, position: Position, condition: str, detail: str) -> None:
        """Pause before the step after `position`, which runs or just finished.

        Called by event hooks on the thread that reads buildah's output. The
        step finishes and commits. Then buildah is stopped, and the build runs
        again cut right after the step, so every step is a cache hit, and it
        pauses with the reason "condition". Of several requests in one segment,
        the earliest position wins.
        """
        self._request_stop(StopRequest(position, condition, detail))

    def break_before(self, position: Position) -> bool:
        """Pause the running segment before `position`, where a breakpoint was
        just added; call it from any thread.

        Return False when the running segment cannot or need not pause there:
        it is not running, the step at `position` started already, the
        segment ends there or before anyway, or another stop was asked for.
        The breakpoint then applies from the next continue, as any does.
        """
        if self.state is not State.RUNNING or position.step < 2:
            return False
        if position in self._started or position in self._reported:
            return False
        target = self._segment_target
        key = position_key(self.plan, position)
        if target is not None and position_key(self.plan, target) <= key:
            return False
        before = Position(position.stage, position.step - 1)
        request = StopRequest(before, "", "", reason="breakpoint")
        return self._request_stop(request)

    def withdraw_break(self, position: Position) -> bool:
        """Undo `break_before(position)` unless buildah is being stopped for
        it already; return True if it was undone."""
        before = Position(position.stage, position.step - 1)
        with self._lock:
            stop = self._stop
            if (
                stop is None
                or self._stopping
                or stop.reason != "breakpoint"
                or stop.position != before
            ):
                return False
            self._stop = None
        return True

    def _request_stop(self, request: StopRequest) -> bool:
        """Ask to pause after `request.position`. Of several requests in one
        segment, the earliest position wins."""
        key = position_key(self.plan, request.position)
        with self._lock:
            current = self._stop
            if current is not None and (
                self._stopping or position_key(self.plan, current.position) <= key
            ):
                return False
            self._stop = request
        if request.position in self._reported:
            self._stop_at_boundary()
        return True

    def resolved_breakpoints(self) -> list[Position]:
        return [breakpoint.resolve(self.plan) for breakpoint in self.breakpoints]

    # Segments

    def _next_breakpoint(self) -> Position | None:
        after = position_key(self.plan, self.position) if self.position else (-1, 0)
        candidates = [
            position
            for position in self.resolved_breakpoints()
            if self.plan.stages[position.stage].needed
            and position_key(self.plan, position) > after
        ]
        return min(candidates, key=lambda p: position_key(self.plan, p), default=None)

    def _run_until(self, pause_at: Position | None) -> State:
        if pause_at is not None and is_build_end(self.plan, pause_at):
            pause_at = None
        if self._cancelled.is_set():
            self.state = State.CANCELLED
            self._emit(
                BuildCancelled(reason=self._cancel_reason, seconds=self._elapsed())
            )
            return self.state
        if self._containers_at_start is None:
            self._containers_at_start = self._list_containers()
        self.state = State.RUNNING
        self._segment_target = pause_at
        self._emit(
            BuildStarted(
                containerfile=str(self.request.containerfile),
                target=self.plan.target,
                pause_at=(pause_at.stage, pause_at.step) if pause_at else None,
            )
        )
        if pause_at is None:
            return self._run_buildah(self.request.containerfile, pause_at)
        with tempfile.TemporaryDirectory(prefix="stagescope-") as folder:
            truncated = Path(folder) / "Containerfile"
            truncated.write_text(self.plan.truncated_text(*pause_at), encoding="utf-8")
            return self._run_buildah(truncated, pause_at)

    def _run_buildah(self, containerfile: Path, pause_at: Position | None) -> State:
        buildah = self.request.buildah
        argv = self.request.bud_argv(containerfile, final=pause_at is None)
        parser = OutputParser(self.plan, resolve_image=self._prefetch_base_images())
        started = time.monotonic()
        log.info("running buildah %s", argv)

        # Reporting output can be slower than buildah writes it, because an
        # event hook may inspect an image. So the thread that drains the pipe
        # only queues blocks of whole lines, another parses them, and buildah
        # never waits on stagescope. NOTE: the queue has no bound, so a parser
        # far behind a flood keeps the backlog in memory.
        blocks: queue.SimpleQueue[str | None] = queue.SimpleQueue()

        def parse_blocks() -> None:
            while (block := blocks.get()) is not None:
                for event in parser.feed_block(block):
                    self._emit_step_event(event)

        consumer = threading.Thread(
            target=parse_blocks, name="buildah-output", daemon=True
        )
        consumer.start()
        try:
            exit_code = self._wait(buildah, argv, blocks.put)
        finally:
            blocks.put(None)
            consumer.join()
        if self._stopping and not self._cancelled.is_set():
            return self._cut_after_stop(started)
        failure: StepFailed | None = None
        for event in parser.finish(exit_code):
            if isinstance(event, StepFailed):
                failure = event
            else:
                self._emit_step_event(event)
        self._active_seconds += time.monotonic() - started
        if exit_code != 0 or self._cancelled.is_set():
            # With --force-rm buildah removes its working containers itself,
            # unless it was killed or failed outside a step.
            self._remove_new_containers(self._containers_at_start or set())

        if self._cancelled.is_set():
            self.state = State.CANCELLED
            reason = self._cancel_reason
            self._emit(BuildCancelled(reason=reason, seconds=self._elapsed()))
            return self.state
        if failure is not None:
            return self._fail(failure)
        if pause_at is None:
            return self._finish(parser)
        return self._pause(pause_at, parser)

    def _stop_at_boundary(self) -> None:
        """Stop buildah after the step a condition named, unless the segment
        or the build ends right after that step anyway."""
        stop = self._stop
        if stop is None or self._stopping:
            return
        after = next_position(self.plan, stop.position)
        if after is None or is_build_end(self.plan, after):
            return
        target = self._segment_target
        if target is not None and position_key(self.plan, target) <= position_key(
            self.plan, after
        ):
            return
        log.info("stopping buildah after %s for condition %s", after, stop.condition)
        self._stopping = True
        with self._lock:
            process = self._process
        if process is not None:
            _terminate_group(process)

    def _cut_after_stop(self, started: float) -> State:
        """Run the build again cut after the step a condition named; every
        step of that build is a cache hit."""
        self._stopping = False
        self._active_seconds += time.monotonic() - started
        self._remove_new_containers(self._containers_at_start or set())
        assert self._stop is not None
        return self._run_until(next_position(self.plan, self._stop.position))

    def _wait(
        self, buildah: Buildah, argv: list[str], on_block: Callable[[str], None]
    ) -> int:
        # NOTE: sh 2.4 lost up to a third of a fast RUN's output here (20,000
        # lines from `seq`, in every buffering mode), including the failing
        # step's last lines. So the build's own process is read through
        # subprocess, and every other buildah call goes through sh.
        buildah.command()  # raises the plain "buildah not found" error
        process = subprocess.Popen(
            [buildah.executable, *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _widen_pipe(process)
        with self._lock:
            self._process = process
        if self._cancelled.is_set():
            _terminate_group(process)
        try:
            _read_blocks(process, on_block)
            exit_code = process.wait()
        finally:
            with self._lock:
                self._process = None
        # A process killed by signal N reports -N; report it as a shell does.
        if exit_code < 0:
            exit_code = 128 - exit_code
        return exit_code

    def _prefetch_base_images(self) -> Callable[[str], str | None]:
        """Start looking up the base images while buildah starts, and return a
        resolver that uses those lookups; a FROM step waits for its own only."""
        buildah = self.request.buildah
        references = {
            stage.base
            for stage in self.plan.stages
            if stage.needed and stage.base_stage is None and stage.base != "scratch"
        }
        lookups: dict[str, concurrent.futures.Future[str | None]] = {}
        if references:
            executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=min(len(references), 4), thread_name_prefix="base-image"
            )
            lookups = {
                ref: executor.submit(buildah.image_id, ref) for ref in references
            }
            executor.shutdown(wait=False)

        def resolve(reference: str) -> str | None:
            lookup = lookups.get(reference)
            return (
                lookup.result() if lookup is not None else buildah.image_id(reference)
            )

        return resolve

    def _remove_new_containers(self, before: set[str]) -> None:
        buildah = self.request.buildah
        leftovers = {
            container["id"]
            for container in buildah.containers()
            if container["id"] not in before
            and not container.get("containername", "").startswith(OWN_CONTAINER_PREFIX)
        }
        if leftovers:
            log.info("removing %d working containers left by buildah", len(leftovers))
            buildah.remove_containers(leftovers)

    # Outcomes

    def _fail(self, failure: StepFailed) -> State:
        if HYBRID_CGROUPS_MESSAGE in failure.message:
            failure = dataclasses.replace(failure, message=HYBRID_CGROUPS_HELP)
        self.state = State.FAILED
        failed_at = None
        if failure.stage is not None and failure.step is not None:
            failed_at = self.position = Position(failure.stage, failure.step)
        self.paused_image = failure.image
        self._emit(failure)
        self._emit(
            BuildPaused(
                reason="failure",
                stage=failure.stage,
                step=failure.step,
                instruction=failure.instruction,
                line=failure.line,
                image=failure.image,
                variables=self._variables(failed_at, failure.image),
            )
        )
        return self.state

    def _finish(self, parser: OutputParser) -> State:
        self.state = State.FINISHED
        last = parser.finished_steps[-1].image if parser.finished_steps else None
        image = parser.final_image or last or ""
        self.paused_image = image or None
        self._emit(BuildFinished(image=image, seconds=self._elapsed()))
        return self.state

    def _pause(self, position: Position, parser: OutputParser) -> State:
        self.state = State.PAUSED
        self.position = position
        stage_image = parser.stage_images.get(position.stage)
        self.paused_image = parser.final_image or stage_image
        instruction = self.plan.instruction(*position)
        stop = self._stop
        if stop is not None and next_position(self.plan, stop.position) != position:
            stop = None
        if stop is not None and stop.reason != "condition":
            stop = None
        self._emit(
            BuildPaused(
                reason="condition" if stop else "breakpoint",
                stage=position.stage,
                step=position.step,
                instruction=instruction.text if instruction else None,
                line=instruction.first_line if instruction else None,
                image=self.paused_image,
                variables=self._variables(position, self.paused_image),
                condition=stop.condition if stop else None,
                condition_detail=stop.detail if stop else None,
            )
        )
        return self.state

    def _variables(
        self, position: Position | None, image: str | None
    ) -> dict[str, Any] | None:
        """Return the `variables` of a pause before `position`."""
        if position is None:
            return None
        config = None
        if image:
            try:
                config = image_config(self.request.buildah.inspect_image(image))
            except (BuildahError, ValueError) as error:
                log.warning("could not read the configuration of %s: %s", image, error)
        return variables_at(self.plan, position, config).to_dict()

    # Events

    def _emit_step_event(self, event: Event) -> None:
        """Forward a step event unless an earlier segment already reported it,
        or buildah is being stopped after a step that met a condition."""
        if self._stopping:
            return
        stage = getattr(event, "stage", None)
        step = getattr(event, "step", None)
        is_step_event = isinstance(event, (StepStarted, StepFinished, LogBlock))
        if is_step_event and stage is not None and step is not None:
            position = Position(stage, step)
            if position in self._reported:
                return
            if isinstance(event, StepStarted):
                self._started.add(position)
            if isinstance(event, StepFinished):
                self._reported.add(position)
                self.step_images[position] = event.image
        self._emit(event)
        stop = self._stop
        if (
            isinstance(event, StepFinished)
            and stop is not None
            and stop.position == (event.stage, event.step)
        ):
            self._stop_at_boundary()

    def _emit(self, event: Event) -> None:
        for delivered in self._apply_hooks(event):
            try:
                self.on_event(delivered)
            except Exception:
                log.exception("event handler failed on %s", delivered.name)

    def _apply_hooks(self, event: Event) -> list[Event]:
        events = [event]
        for hook in self.event_hooks:
            replaced: list[Event] = []
            for item in events:
                try:
                    replaced += hook(item)
                except Exception:
                    log.exception("event hook failed on %s; passing it on", item.name)
                    replaced.append(item)
            events = replaced
        return events

    def _elapsed(self) -> float:
        return round(self._active_seconds, 3)


def _read_blocks(
    process: subprocess.Popen[bytes], on_block: Callable[[str], None]
) -> None:
    """Read the process's output as fast as it comes and hand over the whole
    lines of each read, joined by newlines, without the last newline."""
    assert process.stdout is not None
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    # The start of an unfinished line, in pieces, so that a line of many
    # megabytes is joined once rather than copied on every read.
    pieces: list[str] = []
    stream = cast(io.BufferedReader, process.stdout)
    while chunk := stream.read1(65536):
        text = decoder.decode(chunk)
        end = text.rfind("\n")
        if end < 0:
            pieces.append(text)
            continue
        pieces.append(text[:end])
        on_block("".join(pieces))
        pieces = [text[end + 1 :]]
    rest = "".join(pieces) + decoder.decode(b"", final=True)
    if rest:
        on_block(rest)


PIPE_BYTES = 1 << 20
"""Capacity asked for the pipe from buildah; Linux gives 64 KiB by default."""
F_SETPIPE_SZ = 1031
"""Linux's fcntl command to resize a pipe; Python's fcntl module has it
only from 3.10 on some platforms."""


def _widen_pipe(process: subprocess.Popen[bytes]) -> None:
    """Let buildah write ahead while the reader waits for the GIL: with a
    full pipe, buildah and the step that prints would wait too."""
    assert process.stdout is not None
    try:
        fcntl.fcntl(process.stdout.fileno(), F_SETPIPE_SZ, PIPE_BYTES)
    except OSError as error:
        log.debug("could not widen the pipe from buildah: %s", error)


def _in_background(
    function: Callable[[], set[str]],
) -> concurrent.futures.Future[set[str]]:
    """Run `function` on a daemon thread and return a future of its result.

    The future raises the function's error when asked for the result."""
    future: concurrent.futures.Future[set[str]] = concurrent.futures.Future()

    def run() -> None:
        try:
            future.set_result(function())
        except BaseException as error:  # noqa: BLE001 - handed to the caller
            future.set_exception(error)

    threading.Thread(target=run, name="buildah-containers", daemon=True).start()
    return future


def _terminate_group(process: subprocess.Popen[bytes]) -> None:
    """Send SIGTERM to buildah's process group, and SIGKILL if it lingers."""
    try:
        group = os.getpgid(process.pid)
    except ProcessLookupError:
        return
    try:
        os.killpg(group, signal.SIGTERM)
    except ProcessLookupError:
        return

    def kill_if_alive() -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)

    timer = threading.Timer(TERMINATE_GRACE_SECONDS, kill_if_alive)
    timer.daemon = True
    timer.start()
    threading.Thread(
        target=_cancel_timer_on_exit, args=(process, timer), daemon=True
    ).start()


def _cancel_timer_on_exit(
    process: subprocess.Popen[bytes], timer: threading.Timer
) -> None:
    process.wait()
    timer.cancel()
