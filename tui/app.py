"""The stagescope app: owns the build source, its worker and the build model.

The build runs on one thread worker at a time. The source reports events
through an `EventBatcher`, which posts them to the app as messages. The app
folds them into a `BuildModel` and then redraws the build screen. Only
the app touches the source's controls, and only from the worker, except for
`cancel`, which is thread-safe.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from functools import partial

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from engine.breakpoints import Breakpoint, Position
from engine.buildah import Buildah
from engine.errors import StagescopeError
from engine.plan import Plan
from engine.runner import State
from tui.batcher import EventBatcher
from tui.insight_model import InsightModel
from tui.insight_tap import ImageSizeBook
from tui.logstore import LogStore
from tui.messages import BuildEvent, BuildReset, LogBatch, SizesChanged
from tui.preflight import FindingsChecked, Preflight, preflight_error
from tui.screens.build import BuildScreen
from tui.screens.help import HelpScreen
from tui.source import BuildSource, can_continue

log = logging.getLogger(__name__)

DEFAULT_MAX_LOG_LINES = 10_000
TICK_SECONDS = 0.5
"""How often running times on screen are redrawn while a build runs."""


DIFF_GROUPS = ("diff", "file-diff")
"""Worker groups of the diff screen, which hold mounted containers."""


def _terminal_fd() -> int | None:
    """Return the file descriptor of the app's terminal, or None without one."""
    for stream in (sys.__stdout__, sys.__stdin__):
        if stream is not None and stream.isatty():
            return stream.fileno()
    return None


class StagescopeApp(App[int]):
    """Step through a multistage build, live or replayed."""

    CSS_PATH = "stagescope.tcss"
    TITLE = "stagescope"
    BINDINGS = [
        Binding("q", "quit", "Quit", id="stagescope.quit"),
        Binding("question_mark", "help", "Help", id="stagescope.help"),
    ]

    def __init__(
        self,
        source: BuildSource,
        *,
        buildah: Buildah | None,
        log_store: LogStore,
        replay: bool = False,
        autostart: bool = True,
        max_log_lines: int = DEFAULT_MAX_LOG_LINES,
        clock: Callable[[], float] = time.monotonic,
        notices: Iterable[str] = (),
        preflight: Preflight | None = None,
        sizes: ImageSizeBook | None = None,
    ) -> None:
        super().__init__()
        self.source = source
        self.buildah = buildah
        self.log_store = log_store
        self.replay = replay
        self.autostart = autostart
        self.max_log_lines = max_log_lines
        self.model = InsightModel(source.plan, clock, sizes)
        self.model.sizes.on_change = lambda: self.post_message(SizesChanged())
        self.model.watching = bool(getattr(source, "watching", False))
        self.preflight = preflight or Preflight(None)
        self.batcher = EventBatcher(self.post_message, log_store, max_log_lines)
        source.on_event = self.batcher
        self.notices = list(notices)
        self.keymap: dict[str, str] = {}
        """Keys per binding id that replace the defaults; the help screen shows them."""
        self._build_lock = threading.Lock()
        self._quitting = False
        self.sub_title = str(source.plan.path) + (" (replay)" if replay else "")

    @property
    def build_screen(self) -> BuildScreen:
        screen = self.get_screen("build")
        assert isinstance(screen, BuildScreen)
        return screen

    def drawable_screen(self) -> BuildScreen | None:
        """Return the build screen if it can be drawn on, as it cannot while
        the app starts or quits."""
        if self._quitting:
            return None
        try:
            screen = self.build_screen
        except KeyError:
            return None
        return screen if screen.ready else None

    def on_mount(self) -> None:
        self._terminal = _terminal_fd()
        self.install_screen(BuildScreen(self.max_log_lines), name="build")
        self.push_screen("build")
        self.batcher.start()
        self.set_interval(TICK_SECONDS, self._tick)
        self._previous_handlers: dict[int, object] = {}
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGTERM, signal.SIGHUP):
                self._previous_handlers[number] = signal.signal(
                    number, self._on_stop_signal
                )

    def _on_stop_signal(self, number: int, frame: object) -> None:
        """Quit as `q` does on SIGTERM and SIGHUP (a closed terminal), so that
        buildah, in its own process group, is stopped and cleaned up too."""
        log.info("quitting on %s", signal.Signals(number).name)
        self.source.cancel(signal.Signals(number).name)
        self.call_later(self.run_action, "quit")

    def build_screen_ready(self) -> None:
        """Start the build once the build screen has its widgets."""
        for notice in self.notices:
            self.notify(notice, timeout=8)
        if self.autostart:
            # After the first frame: the build's threads would otherwise hold
            # the GIL while the screen is drawn for the first time.
            self.call_after_refresh(self.run_build, "start")

    async def on_unmount(self) -> None:
        for number, handler in getattr(self, "_previous_handlers", {}).items():
            signal.signal(number, handler)
        self._quitting = True
        self.source.cancel("quit")
        await self._close_source()
        self.batcher.stop()
        self.log_store.close()

    # Build controls

    @property
    def building(self) -> bool:
        if any(w.group == "build" and w.is_running for w in self.workers):
            return True
        # In watch mode each save starts a build on the watcher's own thread.
        is_building = getattr(self.source, "is_building", None)
        return bool(is_building and is_building())

    def can_continue(self) -> bool:
        return not self.building and can_continue(self.source)

    def run_build(self, command: str) -> None:
        """Run `start`, `resume`, `step` or `rebuild` of the source on the worker."""
        if self._quitting:
            return
        self.model.state = State.RUNNING
        if (screen := self.drawable_screen()) is not None:
            screen.show_model()
        self._build_worker(command)

    def stop_build(self, reason: str = "stopped by the user") -> None:
        self.source.cancel(reason)

    def restart_build(self) -> None:
        """Rebuild from a re-read Containerfile, stopping a running build first."""
        if self.building:
            self.source.cancel("rebuild")
        self.run_build("rebuild")

    @work(thread=True, exclusive=True, exit_on_error=False, group="build")
    def _build_worker(self, command: str) -> State:
        # A build replaced by a newer worker still runs until its cancel takes
        # effect; the lock makes the new one wait for it.
        with self._build_lock:
            if self._quitting:
                return self.source.state
            if command in ("start", "rebuild"):
                self._check_before_build()
            if command == "rebuild":
                self._reload_plan()
            if command in ("start", "rebuild"):
                self.log_store.new_run()
                self.post_message(BuildReset(self.source.plan))
                return self.source.start()
            return getattr(self.source, command)()  # type: ignore[no-any-return]

    def _check_before_build(self) -> None:
        """Run the pre-flight checks; raise PreflightError when one found an
        error, so that the build does not start."""
        findings = self.preflight.run()
        if findings is None:
            return
        self.post_message(FindingsChecked(findings))
        error = preflight_error(findings, self.source.plan.path)
        if error is not None:
            raise error

    @work(thread=True, exclusive=True, exit_on_error=False, group="preflight")
    def _check_worker(self) -> None:
        findings = self.preflight.run()
        if findings is not None:
            self.post_message(FindingsChecked(findings))

    def on_findings_checked(self, message: FindingsChecked) -> None:
        self.model.findings = message.findings
        self._redraw()

    async def _close_source(self) -> None:
        """Stop a watching source and wait until its build has cleaned up."""
        close = getattr(self.source, "close", None)
        if close is not None:
            await asyncio.to_thread(close)

    def _reload_plan(self) -> None:
        """Re-read the Containerfile of a live build; keep the breakpoints that
        still resolve."""
        request = getattr(self.source, "request", None)
        if request is None:
            return
        plan = request.load_plan()
        kept = []
        for breakpoint in self.source.breakpoints:
            try:
                breakpoint.resolve(plan)
            except StagescopeError:
                self.call_from_thread(
                    self.notify,
                    f"Breakpoint {breakpoint.spec} no longer fits the Containerfile "
                    "and was removed",
                    severity="warning",
                )
                continue
            kept.append(breakpoint)
        self.source.breakpoints[:] = kept
        self.source.plan = plan

    async def action_quit(self) -> None:
        """Stop the build, wait for its worker and any diff, and leave."""
        self._quitting = True
        self.source.cancel("quit")
        workers = [w for w in self.workers if w.group == "build" and w.is_running]
        if workers or self.building:
            self.notify("Stopping the build…", timeout=3)
        # A diff works on two mounted containers and removes them when it
        # ends; a thread cannot be stopped, and leaving would leak them.
        workers += [w for w in self.workers if w.group in DIFF_GROUPS and w.is_running]
        if workers:
            await self.workers.wait_for_complete(workers)
        await self._close_source()
        self.exit(0)

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        # Composed once and kept: the keys do not change while the app runs,
        # and laying the table out again made `?` slow during a build.
        if not self.is_screen_installed("help"):
            self.install_screen(HelpScreen(), name="help")
        self.push_screen("help")

    # Breakpoints

    def breakpoint_positions(self) -> set[Position]:
        positions = set()
        for breakpoint in self.source.breakpoints:
            try:
                positions.add(breakpoint.resolve(self.source.plan))
            except StagescopeError:
                continue
        return positions

    def toggle_breakpoint(self, position: Position, spec: str) -> bool:
        """Remove the breakpoints at `position`, or add `spec`; return True if added."""
        plan = self.source.plan
        matching = [
            b for b in self.source.breakpoints if self._resolves_to(b, plan, position)
        ]
        if matching:
            for breakpoint in matching:
                self.source.breakpoints.remove(breakpoint)
            return False
        self.source.breakpoints.append(Breakpoint(spec))
        return True

    def unbreak_now(self, position: Position) -> None:
        """Withdraw a `break_now(position)` that the running build still has."""
        withdraw = getattr(self.source, "withdraw_break", None)
        if withdraw is not None:
            withdraw(position)

    def break_now(self, position: Position) -> bool:
        """Ask the running build to pause before `position` too; return True
        if it will."""
        break_before = getattr(self.source, "break_before", None)
        return bool(break_before is not None and break_before(position))

    @staticmethod
    def _resolves_to(breakpoint: Breakpoint, plan: Plan, position: Position) -> bool:
        try:
            return breakpoint.resolve(plan) == position
        except StagescopeError:
            return False

    # Messages from the build thread

    async def on_build_reset(self, message: BuildReset) -> None:
        if self.model.watching and message.plan.text != self.model.plan.text:
            self._check_worker()
        self.model.reset(message.plan)
        if (screen := self.drawable_screen()) is not None:
            await screen.reset(message.plan)

    def on_build_event(self, message: BuildEvent) -> None:
        self.model.apply(message.event)
        if (screen := self.drawable_screen()) is not None:
            screen.show_event(message.event)
            self.refresh_bindings()

    def on_log_batch(self, message: LogBatch) -> None:
        for position, count in message.counts.items():
            stage, step = position if position is not None else (None, None)
            self.model.add_log_lines(stage, step, count)
        if (screen := self.drawable_screen()) is not None:
            screen.append_log(message)

    def on_sizes_changed(self, message: SizesChanged) -> None:
        self._redraw()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            self.report_worker_error(event.worker)
        if event.worker.group == "build" and event.state in (
            WorkerState.SUCCESS,
            WorkerState.ERROR,
        ):
            if event.state is WorkerState.ERROR and self.model.state is State.RUNNING:
                self.model.state = State.CANCELLED
                self.model.cancel_reason = "error"
            self._redraw()
        if self.drawable_screen() is not None:
            self.refresh_bindings()

    def _redraw(self) -> None:
        if (screen := self.drawable_screen()) is not None:
            screen.show_model()

    def report_worker_error(self, worker: Worker[object]) -> None:
        """Notify the user of a worker's error: the one place errors surface."""
        error = worker.error
        if isinstance(error, StagescopeError):
            text = error.message
        else:
            text = f"{type(error).__name__}: {error}"
            log.error("worker %s failed", worker.name, exc_info=error)
        title = {
            "build": "Build",
            "diff": "Diff",
            "preflight": "Pre-flight check",
        }.get(worker.group, "Error")
        self.notify(text, title=title, severity="error", timeout=10)

    def _tick(self) -> None:
        if self._terminal is not None and not os.isatty(self._terminal):
            self._terminal_closed()
            return
        if self.model.state is State.RUNNING and self.screen is self.drawable_screen():
            self._redraw()

    def _terminal_closed(self) -> None:
        """Quit as `q` does once the terminal is gone. SIGHUP reports that
        too, except when the shell in the terminal's foreground received it."""
        self._terminal = None
        log.info("the terminal was closed; quitting")
        self.source.cancel("terminal closed")
        self.call_later(self.run_action, "quit")

    # Command palette

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield from self.build_screen.palette_commands(self.run_palette_action)
        yield SystemCommand(
            "Show the log folder",
            "Where the full output and the events of each run are written",
            self.show_log_folder,
        )

    def show_log_folder(self) -> None:
        self.notify(
            f"{self.log_store.folder}\nEach run has build.log, one log per step and "
            "events.jsonl, which `stagescope replay` reads.",
            title="Log folder",
            timeout=15,
        )

    def run_palette_action(self, action: str, title: str) -> None:
        screen = self.build_screen
        if self.screen is not screen:
            self.pop_screen()
        if screen.check_action(action, ()) is not True:
            self.notify(f"{title} is not available right now", severity="warning")
            return
        self.call_later(partial(screen.run_action, action))
