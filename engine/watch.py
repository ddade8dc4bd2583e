"""Watch mode: rebuild when the build context or the Containerfile changes.

A `Watcher` builds once, then watches the context folder (and the
Containerfile's folder when the file lies outside the context) with
watchfiles. Each burst of changes becomes one rebuild through a new
`BuildSession`, which reuses every cached layer the change does not affect.
A change that arrives while a rebuild runs cancels it (buildah's process
group is stopped and its working containers removed) and starts the next,
unless the change affects no step, in which case the running build goes on.

What never triggers a rebuild: paths the context's ignore file excludes,
version-control folders (`.git`, `.hg`, `.svn`, `.bzr`) and editor
temporary files (`*.swp`, `*.swo`, `*.swx`, `*~`, `.#*`, `#*#`, `4913`,
`*.tmp`, JetBrains' `*___jb_tmp___` and `*___jb_old___`). The ignore files
and the Containerfile always do, even when the ignore file lists them.

Bursts: watchfiles hands over a batch once no change has come for
`step_ms` (50 ms) or at the latest `debounce_ms` (800 ms) after the first
change, so an editor's save or a `git checkout` starts one rebuild. The
watcher adds about `step_ms` to the time from a change to its rebuild.

Events, in this order for each rebuild, to the `on_event` callback (and as
JSON lines from `stagescope run --watch --json`):

- `prediction` (`RebuildPredicted`): the changed paths, the first step
  expected to miss the cache and the reason, and the steps expected to rerun
  and to stay cached. `changed_at` is the newest modification time of the
  changed files, `detected_seconds` the time from then to the batch;
- `build-started` with `trigger`, `predicted_first_miss` and `reason`;
- the build's step events, then `build-finished`, `paused` or
  `build-cancelled`;
- `rebuild-finished` (`RebuildFinished`): outcome, the actual first miss,
  `first_step_seconds` (change to the first rebuilt step starting),
  `finish_seconds` (change to buildah stopping) and the steps whose cache
  result differed from the prediction.

`rebuild-skipped` reports a change that started nothing (a Containerfile
that no longer parses, or a change no step reads during a build), and
`breakpoint-dropped` a breakpoint whose instruction an edit removed.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import watchfiles

from engine.breakpoints import Breakpoint, Position, position_key
from engine.errors import StagescopeError
from engine.events import (
    BreakpointDropped,
    BuildStarted,
    Event,
    RebuildFinished,
    RebuildPredicted,
    RebuildSkipped,
    StepFailed,
    StepFinished,
    StepStarted,
)
from engine.ignore import IGNORE_FILE_NAMES, IgnoreRules
from engine.plan import Plan
from engine.prediction import (
    Prediction,
    follow_breakpoints,
    follow_positions,
    predict,
    relative_to_context,
)
from engine.runner import BuildRequest, BuildSession, State

log = logging.getLogger(__name__)

VCS_FOLDERS = frozenset({".git", ".hg", ".svn", ".bzr"})
EDITOR_TEMPORARY_SUFFIXES = (
    "~", ".swp", ".swo", ".swx", ".tmp", "___jb_tmp___", "___jb_old___",
)  # fmt: skip
EDITOR_TEMPORARY_NAMES = frozenset({"4913"})
"""Vim creates and deletes a file named 4913 to test a folder is writable."""

BUILD_STOP_TIMEOUT = 60.0
"""How long to wait for a cancelled build to stop and clean up."""


@dataclass(frozen=True)
class WatchSettings:
    """Settings for grouping changes into batches; the defaults suit editors and git."""

    step_ms: int = 50
    """A batch ends when no change came for this long."""
    debounce_ms: int = 800
    """A batch ends at the latest this long after its first change."""
    poll_ms: int = 200
    """How often an idle watcher wakes to check that it should go on."""
    force_polling: bool | None = None
    """Poll instead of inotify; None lets watchfiles decide."""


@dataclass(frozen=True)
class ChangeBatch:
    """The relevant changes of one burst."""

    paths: tuple[str, ...]
    """Changed paths relative to the context, sorted."""
    changes: frozenset[tuple[watchfiles.Change, str]]
    """The raw watchfiles changes, with absolute paths."""
    detected_at: float
    """When the watcher handed the batch over (Unix seconds)."""
    changed_at: float
    """The newest modification time among the changed files (Unix seconds)."""


def is_editor_temporary(name: str) -> bool:
    """Return True for the name of an editor's swap, backup or scratch file."""
    return (
        name in EDITOR_TEMPORARY_NAMES
        or name.endswith(EDITOR_TEMPORARY_SUFFIXES)
        or name.startswith(".#")
        or (len(name) > 1 and name.startswith("#") and name.endswith("#"))
    )


class ChangeFilter:
    """Decides which changed paths matter; a `watch_filter` for watchfiles.

    `rules` may be replaced while watching, when an ignore file changes.
    """

    def __init__(self, context: Path, containerfile: Path, rules: IgnoreRules):
        self.context = context
        self.containerfile = containerfile
        self.rules = rules

    def relevant(self, path: str) -> bool:
        if Path(path) == self.containerfile:
            return True
        relative = os.path.relpath(path, self.context)
        if relative == "." or relative.startswith(".." + os.sep) or relative == "..":
            return False
        parts = relative.split(os.sep)
        if any(part in VCS_FOLDERS for part in parts):
            return False
        if is_editor_temporary(parts[-1]):
            return False
        if relative in IGNORE_FILE_NAMES:
            return True
        return not self.rules.ignored("/".join(parts))

    def __call__(self, change: watchfiles.Change, path: str) -> bool:
        return self.relevant(path)


def newest_change_time(
    paths: Iterable[Path], detected_at: float, window: float
) -> float:
    """Return the newest modification time of `paths`, as the time of the change.

    Deleted files have none, and a time older than `window` before detection
    was kept from elsewhere (`cp -p`, an archive). In both cases the
    detection time is used instead.
    """
    newest = 0.0
    for path in paths:
        try:
            newest = max(newest, path.lstat().st_mtime)
        except OSError:
            continue
    if newest < detected_at - window:
        return detected_at
    return min(newest, detected_at)


def ignore_file_option(extra_args: Iterable[str]) -> Path | None:
    """Return the `--ignorefile` value among options passed to buildah bud."""
    args = list(extra_args)
    for index, arg in enumerate(args):
        if arg == "--ignorefile" and index + 1 < len(args):
            return Path(args[index + 1])
        if arg.startswith("--ignorefile="):
            return Path(arg.partition("=")[2])
    return None


class Watcher:
    """Builds, then rebuilds on every relevant change until stopped.

    `run` blocks; `start` runs it on a daemon thread. Builds run on a thread
    of their own, so callbacks come from those two threads, never from the
    caller's. `on_event` receives every event, `on_change` each accepted
    batch with its prediction just before the rebuild starts, and
    `on_session` each new BuildSession before it starts, so that the caller
    can add event hooks to it. `stop` (or setting `stop_event`) cancels the
    running build and ends the watch.
    A paused build continues through `resume` and `step`, which run on the
    build thread so that a change can cancel them too.
    """

    def __init__(
        self,
        request: BuildRequest,
        breakpoints: Iterable[Breakpoint] = (),
        *,
        on_event: Callable[[Event], None] | None = None,
        on_change: Callable[[ChangeBatch, Prediction], None] | None = None,
        on_session: Callable[[BuildSession], None] | None = None,
        settings: WatchSettings | None = None,
        stop_event: threading.Event | None = None,
    ) -> None:
        self.request = request
        self.context = request.context.resolve()
        self.containerfile = request.containerfile.resolve()
        self.breakpoints = list(breakpoints)
        self.on_event = on_event or (lambda event: None)
        self.on_change = on_change or (lambda batch, prediction: None)
        self.on_session = on_session or (lambda session: None)
        self.settings = settings or WatchSettings()
        self.stop_event = stop_event or threading.Event()
        self.ready = threading.Event()
        """Set once the watch is in place; the first build may still run."""
        self.error: BaseException | None = None
        """What ended `run` early, such as an unreadable Containerfile."""
        self.plan: Plan | None = None
        self.session: BuildSession | None = None
        self.rebuilds = 0
        self.ignore_file = ignore_file_option(request.extra_args)
        self.rules = IgnoreRules.for_context(self.context, self.ignore_file)
        self.filter = ChangeFilter(self.context, self.containerfile, self.rules)
        self._built_rules = self.rules
        self._pending_paths: set[str] = set()
        self._batches: queue.Queue[ChangeBatch] = queue.Queue()
        self._build_thread: threading.Thread | None = None
        self._tracker: _RebuildTracker | None = None
        self._lock = threading.Lock()
        self._build_lock = threading.Lock()
        """Held while deciding to start a build, so that only one runs."""
        self._stop_reason = "watch stopped"

    # Public controls

    def start(self) -> threading.Thread:
        """Run the watch on a daemon thread and return the thread."""
        thread = threading.Thread(target=self._run_guarded, name="stagescope-watch")
        thread.daemon = True
        thread.start()
        return thread

    def run(self) -> None:
        """Build, then rebuild on changes until `stop` is called."""
        self.plan = self.request.load_plan()
        sources = self._start_sources()
        try:
            self._start_build(self.plan, None, None)
            self._wait_for_sources(sources)
            self.ready.set()
            while not self.stop_event.is_set():
                batch = self._next_batch()
                if batch is not None:
                    self._handle(batch)
        finally:
            self.stop_event.set()
            self._cancel_build(self._stop_reason)
            for thread in sources:
                thread.join(timeout=5)

    def stop(self, reason: str = "watch stopped") -> None:
        """End the watch and cancel the running build; safe from any thread."""
        self._stop_reason = reason
        self.stop_event.set()
        with self._lock:
            session = self.session
        if session is not None:
            session.cancel(reason)

    def resume(self) -> bool:
        """Continue a paused build on the build thread; False when not paused.

        Call it from any thread but not from `on_event`, which runs on the
        build thread.
        """
        return self._continue(lambda session: session.resume)

    def step(self) -> bool:
        """Run one more step of a paused build; False when not paused."""
        return self._continue(lambda session: session.step)

    def is_building(self) -> bool:
        thread = self._build_thread
        return thread is not None and thread.is_alive()

    def _run_guarded(self) -> None:
        try:
            self.run()
        except BaseException as error:  # reported to the caller through .error
            log.debug("watch ended by %r", error)
            self.error = error
            self.ready.set()

    # Watching

    def _start_sources(self) -> list[_ChangeSource]:
        roots = [(self.context, True)]
        if not self.containerfile.is_relative_to(self.context):
            roots.append((self.containerfile.parent, False))
        sources = [_ChangeSource(self, root, recursive) for root, recursive in roots]
        for source in sources:
            source.start()
        return sources

    def _wait_for_sources(self, sources: list[_ChangeSource]) -> None:
        for source in sources:
            while not source.watching.wait(0.1):
                if self.stop_event.is_set() or not source.is_alive():
                    return

    def _next_batch(self) -> ChangeBatch | None:
        """Wait briefly for a batch; merge any others that are already queued."""
        try:
            batch = self._batches.get(timeout=0.1)
        except queue.Empty:
            return None
        while True:
            try:
                more = self._batches.get_nowait()
            except queue.Empty:
                return batch
            batch = ChangeBatch(
                paths=tuple(sorted(set(batch.paths) | set(more.paths))),
                changes=batch.changes | more.changes,
                detected_at=more.detected_at,
                changed_at=max(batch.changed_at, more.changed_at),
            )

    def queue_changes(self, changes: set[tuple[watchfiles.Change, str]]) -> None:
        """Hand a batch of relevant watchfiles changes to the watch loop."""
        detected_at = time.time()
        absolute = sorted({path for _, path in changes})
        window = max(2.0, 2 * self.settings.debounce_ms / 1000)
        batch = ChangeBatch(
            paths=tuple(relative_to_context(self.context, Path(p)) for p in absolute),
            changes=frozenset(changes),
            detected_at=detected_at,
            changed_at=newest_change_time(map(Path, absolute), detected_at, window),
        )
        self._batches.put(batch)

    # Reacting to a change

    def _handle(self, batch: ChangeBatch) -> None:
        assert self.plan is not None
        paths = self._pending_paths | set(batch.paths)
        trigger = tuple(sorted(paths))
        if any(path in IGNORE_FILE_NAMES for path in batch.paths):
            self.rules = IgnoreRules.for_context(self.context, self.ignore_file)
            self.filter.rules = self.rules
        plan = self._plan_after(batch, trigger)
        if plan is None:
            self._pending_paths = paths
            return
        with self._build_lock:
            self._rebuild(batch, plan, paths, trigger)

    def _rebuild(
        self, batch: ChangeBatch, plan: Plan, paths: set[str], trigger: tuple[str, ...]
    ) -> None:
        """Cancel the running build if the change affects it, and start the next."""
        assert self.plan is not None
        if self.is_building():
            direct = self._predict(plan, paths, carried=())
            if direct.first_miss is None and plan.text == self.plan.text:
                message = f"{direct.reason}; the running build goes on"
                self._emit(RebuildSkipped(trigger=trigger, message=message))
                return
            self._cancel_build(
                f"changed: {direct.trigger[0] if direct.trigger else '?'}"
            )

        carried = self._carried_positions(plan)
        prediction = self._predict(plan, paths, carried=carried)
        self._follow_breakpoints(plan)
        self.plan = plan
        self._built_rules = self.rules
        self._pending_paths = set()
        self.rebuilds += 1
        self._emit(_prediction_event(prediction, batch))
        try:
            self.on_change(batch, prediction)
        except Exception:
            log.exception("on_change callback failed")
        self._start_build(plan, prediction, batch)

    def _plan_after(self, batch: ChangeBatch, trigger: tuple[str, ...]) -> Plan | None:
        """Return the plan to build, reloaded when the Containerfile changed."""
        assert self.plan is not None
        changed = {Path(path) for _, path in batch.changes}
        if self.containerfile not in changed:
            return self.plan
        try:
            return self.request.load_plan()
        except StagescopeError as error:
            message = f"{error.message}; waiting for the next change"
            self._emit(RebuildSkipped(trigger=trigger, message=message))
            return None

    def _predict(
        self, plan: Plan, paths: Iterable[str], carried: Iterable[Position]
    ) -> Prediction:
        return predict(
            plan,
            paths,
            self.context,
            self.rules,
            old_plan=self.plan,
            old_rules=self._built_rules,
            carried=carried,
        )

    def _carried_positions(self, plan: Plan) -> list[Position]:
        """Return the steps the last rebuild should have rerun but never reached."""
        tracker = self._tracker
        if tracker is None or self.plan is None:
            return []
        unfinished = tracker.unfinished()
        if plan.text == self.plan.text:
            return unfinished
        return follow_positions(self.plan, plan, unfinished)

    def _follow_breakpoints(self, plan: Plan) -> None:
        assert self.plan is not None
        if plan.text == self.plan.text or not self.breakpoints:
            return
        followed = follow_breakpoints(self.plan, plan, self.breakpoints)
        for breakpoint, message in followed.dropped:
            log.warning("%s", message)
            self._emit(BreakpointDropped(spec=breakpoint.spec, message=message))
        self.breakpoints = followed.breakpoints

    # Builds

    def _start_build(
        self, plan: Plan, prediction: Prediction | None, batch: ChangeBatch | None
    ) -> None:
        tracker = _RebuildTracker(plan, prediction, batch)
        session = BuildSession(
            self.request,
            plan,
            self.breakpoints,
            on_event=lambda event: self._emit(tracker.observe(event)),
        )
        self.on_session(session)
        with self._lock:
            self.session = session
            self._tracker = tracker
        self._run_on_build_thread(session, tracker, session.start)

    def _run_on_build_thread(
        self,
        session: BuildSession,
        tracker: _RebuildTracker,
        action: Callable[[], State],
    ) -> None:
        def body() -> None:
            try:
                state = action()
            except Exception:
                log.exception("the build stopped with an error")
                state = State.FAILED
            report = tracker.report(state)
            if report is not None:
                self._emit(report)

        thread = threading.Thread(target=body, name="stagescope-build", daemon=True)
        self._build_thread = thread
        if self.stop_event.is_set():
            session.cancel(self._stop_reason)
        thread.start()

    def _continue(self, choose: Callable[[BuildSession], Callable[[], State]]) -> bool:
        # A rebuild that is starting wins over continuing the old build.
        if not self._build_lock.acquire(blocking=False):
            return False
        try:
            with self._lock:
                session, tracker = self.session, self._tracker
            if session is None or tracker is None or session.state is not State.PAUSED:
                return False
            # The build thread reports the pause just before it ends.
            thread = self._build_thread
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=BUILD_STOP_TIMEOUT)
            if self.is_building():
                return False
            tracker.restart_clock()
            self._run_on_build_thread(session, tracker, choose(session))
            return True
        finally:
            self._build_lock.release()

    def _cancel_build(self, reason: str) -> None:
        """Cancel the running build, if any, and wait until it cleaned up."""
        thread = self._build_thread
        if thread is None or not thread.is_alive():
            return
        with self._lock:
            session = self.session
        if session is not None:
            session.cancel(reason)
        thread.join(timeout=BUILD_STOP_TIMEOUT)
        if thread.is_alive():
            log.error("the cancelled build did not stop in %.0f s", BUILD_STOP_TIMEOUT)

    def _emit(self, event: Event) -> None:
        try:
            self.on_event(event)
        except Exception:
            log.exception("event handler failed on %s", event.name)


class _ChangeSource(threading.Thread):
    """Runs watchfiles on one folder and queues the relevant batches."""

    def __init__(self, watcher: Watcher, root: Path, recursive: bool) -> None:
        super().__init__(name=f"stagescope-watch-{root.name}", daemon=True)
        self.watcher = watcher
        self.root = root
        self.recursive = recursive
        self.watching = threading.Event()
        """Set once watchfiles watches the folder."""

    def run(self) -> None:
        watcher = self.watcher
        settings = watcher.settings
        changes_iterator = watchfiles.watch(
            self.root,
            watch_filter=watcher.filter,
            debounce=settings.debounce_ms,
            step=settings.step_ms,
            stop_event=watcher.stop_event,
            rust_timeout=settings.poll_ms,
            yield_on_timeout=True,
            raise_interrupt=False,
            force_polling=settings.force_polling,
            recursive=self.recursive,
            ignore_permission_denied=True,
        )
        try:
            for changes in changes_iterator:
                # The first yield, a change or a timeout, proves the watch is set up.
                self.watching.set()
                if changes:
                    watcher.queue_changes(changes)
        except Exception:
            log.exception("watching %s failed", self.root)
            watcher.stop("watching failed")


class _RebuildTracker:
    """Times one rebuild and compares its cache hits with the prediction."""

    def __init__(
        self, plan: Plan, prediction: Prediction | None, batch: ChangeBatch | None
    ) -> None:
        self.plan = plan
        self.prediction = prediction
        self.batch = batch
        self.announced = False
        self.started: dict[Position, float] = {}
        self.finished: dict[Position, bool] = {}
        """Each step that ran after FROM, and whether it was a cache hit."""
        self.first_rebuilt_at: float | None = None
        self._lock = threading.Lock()

    def observe(self, event: Event) -> Event:
        """Record the timing and cache result of `event`; return it, annotated."""
        now = time.time()
        if isinstance(event, BuildStarted) and not self.announced:
            self.announced = True
            return self._announce(event)
        with self._lock:
            if isinstance(event, StepStarted):
                self.started[Position(event.stage, event.step)] = now
            elif isinstance(event, StepFinished) and event.step > 1:
                position = Position(event.stage, event.step)
                self.finished[position] = event.cached
                if not event.cached:
                    self._note_rebuilt(position)
            elif isinstance(event, StepFailed) and _after_from(event.stage, event.step):
                assert event.stage is not None and event.step is not None
                position = Position(event.stage, event.step)
                self.finished[position] = False
                self._note_rebuilt(position)
        return event

    def _announce(self, event: BuildStarted) -> BuildStarted:
        prediction = self.prediction
        if prediction is None:
            return event
        first = prediction.first_miss
        return BuildStarted(
            containerfile=event.containerfile,
            target=event.target,
            pause_at=event.pause_at,
            trigger=prediction.trigger,
            predicted_first_miss=(first.stage, first.step) if first else None,
            reason=prediction.reason,
        )

    def _note_rebuilt(self, position: Position) -> None:
        if self.first_rebuilt_at is None:
            self.first_rebuilt_at = self.started.get(position, time.time())

    def restart_clock(self) -> None:
        """Resuming from a pause is not part of the latency of the change."""
        self.batch = None

    def unfinished(self) -> list[Position]:
        """Return the steps predicted to rerun that did not run in this build."""
        if self.prediction is None:
            return []
        with self._lock:
            return [p for p in self.prediction.rerun if p not in self.finished]

    def report(self, state: State) -> RebuildFinished | None:
        prediction, batch = self.prediction, self.batch
        if prediction is None or batch is None:
            return None
        now = time.time()
        with self._lock:
            finished = dict(self.finished)
            first_rebuilt_at = self.first_rebuilt_at
        rebuilt = [p for p, cached in finished.items() if not cached]
        actual_first = min(
            rebuilt, key=lambda p: position_key(self.plan, p), default=None
        )
        mispredicted = tuple(
            (p.stage, p.step, "cached" if cached else "rerun")
            for p, cached in sorted(finished.items())
            if cached == prediction.expects_rerun(p)
        )
        first = prediction.first_miss
        return RebuildFinished(
            trigger=prediction.trigger,
            outcome=state.value,
            predicted_first_miss=(first.stage, first.step) if first else None,
            actual_first_miss=(
                (actual_first.stage, actual_first.step) if actual_first else None
            ),
            first_step_seconds=_since(batch.changed_at, first_rebuilt_at),
            finish_seconds=round(now - batch.changed_at, 3),
            mispredicted=mispredicted,
        )


def _after_from(stage: int | None, step: int | None) -> bool:
    return stage is not None and step is not None and step > 1


def _since(start: float, end: float | None) -> float | None:
    return None if end is None else round(end - start, 3)


def _prediction_event(prediction: Prediction, batch: ChangeBatch) -> RebuildPredicted:
    first = prediction.first_miss
    return RebuildPredicted(
        trigger=prediction.trigger,
        first_miss=(first.stage, first.step) if first else None,
        reason=prediction.reason,
        rerun=tuple((p.stage, p.step) for p in sorted(prediction.rerun)),
        cached=tuple((p.stage, p.step) for p in sorted(prediction.cached)),
        changed_at=round(batch.changed_at, 6),
        detected_seconds=round(batch.detected_at - batch.changed_at, 3),
    )
