"""Watch mode in the app: a build source that rebuilds on every save.

`WatchSource` drives an `engine.watch.Watcher` with the blocking controls of
a BuildSession, so the app's build worker can start it and continue its
pauses as usual. The watcher builds on threads of its own: `start` returns
when the first build stops, and each later rebuild begins on the watcher's
thread, with no worker. Before each rebuild the source calls `on_rebuild`
with the plan it builds, so that the app can forget the last build first.
Then the `prediction` event, the build's own events and `rebuild-finished`
follow through `on_event`.

The watcher keeps the breakpoints: it moves them with their instructions
when the Containerfile changes and reports each one an edit removed. Each
rebuild is a new BuildSession, which gets the insight hook (miss reasons,
sizes, crossings) before it starts.

NOTE: the hook measures sizes and crossings before it passes on
`build-finished`, so "save → finished" includes that measuring: 0.7 to 1.1 s
for the 8- and 16-step busybox builds of the tests, measured on 2 cores
with overlay storage while other builds ran.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from engine.breakpoints import Breakpoint, Position
from engine.events import Event, RebuildPredicted
from engine.plan import Plan
from engine.runner import BuildRequest, BuildSession, State
from engine.watch import Watcher, WatchSettings
from tui.insight_tap import ImageSizeBook, attach_insight

log = logging.getLogger(__name__)

POLL_SECONDS = 0.05
"""How often a blocking control checks whether the watcher's build stopped."""
CLOSE_TIMEOUT = 90.0
"""How long `close` waits for the watcher to cancel its build and clean up.
The watcher itself waits up to 60 s for a cancelled build."""


class WatchSource:
    """The controls of a BuildSession over a Watcher, for the app."""

    watching = True

    def __init__(
        self,
        request: BuildRequest,
        plan: Plan,
        breakpoints: Iterable[Breakpoint] = (),
        *,
        sizes: ImageSizeBook | None = None,
        settings: WatchSettings | None = None,
    ) -> None:
        self.request = request
        self._plan = plan
        self.sizes = sizes if sizes is not None else ImageSizeBook()
        self.on_event: Callable[[Event], None] = lambda event: None
        self.on_rebuild: Callable[[Plan], None] = lambda plan: None
        """Called on the watcher's thread with the plan of each rebuild, just
        before its `prediction` event."""
        self.watcher = Watcher(
            request,
            breakpoints,
            on_event=self._deliver,
            on_session=self._prepare_session,
            settings=settings,
        )
        self._thread: threading.Thread | None = None

    # What the app reads

    @property
    def plan(self) -> Plan:
        return self.watcher.plan or self._plan

    @plan.setter
    def plan(self, plan: Plan) -> None:
        self._plan = plan

    @property
    def breakpoints(self) -> list[Breakpoint]:
        """The watcher's breakpoints; the app toggles them in place."""
        return self.watcher.breakpoints

    @property
    def session(self) -> BuildSession | None:
        return self.watcher.session

    @property
    def state(self) -> State:
        session = self.session
        return session.state if session is not None else State.IDLE

    @property
    def position(self) -> Position | None:
        session = self.session
        return session.position if session is not None else None

    @property
    def paused_image(self) -> str | None:
        session = self.session
        return session.paused_image if session is not None else None

    @property
    def step_images(self) -> dict[Position, str | None]:
        session = self.session
        return session.step_images if session is not None else {}

    def is_building(self) -> bool:
        return self.watcher.is_building()

    # Controls, called from the app's build worker

    def start(self) -> State:
        """Start watching and wait for the first build to stop.

        Only the first call starts the watcher; the app offers no rebuild in
        watch mode, because every save starts one.
        """
        if self._thread is None:
            self._thread = self.watcher.start()
            self.watcher.ready.wait()
            if self.watcher.error is not None:
                raise self.watcher.error
        return self._wait_for_build()

    def resume(self) -> State:
        self._sync_breakpoints()
        if not self.watcher.resume():
            return self.state
        return self._wait_for_build()

    def step(self) -> State:
        self._sync_breakpoints()
        if not self.watcher.step():
            return self.state
        return self._wait_for_build()

    def rebuild(self) -> State:
        return self.start()

    def cancel(self, reason: str = "cancelled") -> None:
        """Stop the running build; the watch goes on and the next save rebuilds."""
        session = self.session
        if session is not None:
            session.cancel(reason)

    def close(self) -> None:
        """Stop watching, cancel the build and wait until its containers are gone."""
        self.watcher.stop("quit")
        thread = self._thread
        if thread is not None:
            thread.join(timeout=CLOSE_TIMEOUT)
            if thread.is_alive():
                log.error("the watcher did not stop in %.0f s", CLOSE_TIMEOUT)

    # Internals

    def _wait_for_build(self) -> State:
        while self.watcher.is_building():
            time.sleep(POLL_SECONDS)
        return self.state

    def _sync_breakpoints(self) -> None:
        """Give the paused session the breakpoints the user toggled since it
        started; each session keeps a copy of the list."""
        session = self.session
        if session is not None:
            session.breakpoints[:] = self.watcher.breakpoints

    def _prepare_session(self, session: BuildSession) -> None:
        attach_insight(session, self.sizes)

    def _deliver(self, event: Event) -> None:
        if isinstance(event, RebuildPredicted):
            plan = self.watcher.plan
            if plan is not None:
                self.on_rebuild(plan)
        self.on_event(event)
