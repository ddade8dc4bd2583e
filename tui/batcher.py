"""Turn engine events into app messages without flooding the app.

The batcher is the `on_event` of the build source, so it runs on the build
thread. It writes every event to the log store, posts each non-log event as
its own message at once, and collects log lines, which a flusher thread
posts as one `LogBatch` about every `interval` seconds. A non-log event
first flushes the lines before it, so the app sees events in order.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

from textual.message import Message

from engine.breakpoints import Position
from engine.events import Event, LogLine
from tui.logstore import LogStore
from tui.messages import BuildEvent, LogBatch

FLUSH_INTERVAL = 0.1


class EventBatcher:
    def __init__(
        self,
        post: Callable[[Message], object],
        store: LogStore | None,
        max_lines: int,
        interval: float = FLUSH_INTERVAL,
    ) -> None:
        self.post = post
        self.store = store
        self.max_lines = max_lines
        self.interval = interval
        self._pending: list[LogLine] = []
        self._lock = threading.Lock()
        # Held from taking lines to posting them, so that a batch taken by the
        # flusher cannot be posted after an event that came later.
        self._post_lock = threading.RLock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def __call__(self, event: Event) -> None:
        if self.store is not None:
            self.store.record(event)
        if isinstance(event, LogLine):
            with self._lock:
                self._pending.append(event)
            return
        with self._post_lock:
            self.flush()
            self.post(BuildEvent(event))

    def flush(self) -> None:
        """Post the collected lines, keeping at most `max_lines` of them."""
        with self._post_lock:
            with self._lock:
                lines, self._pending = self._pending, []
            if not lines:
                return
            if self.store is not None:
                self.store.flush()
            counts: Counter[Position | None] = Counter(
                Position(line.stage, line.step)
                if line.stage is not None and line.step is not None
                else None
                for line in lines
            )
            dropped = max(0, len(lines) - self.max_lines)
            self.post(LogBatch(tuple(lines[dropped:]), dict(counts), dropped))

    def start(self) -> None:
        self._stopped.clear()
        self._thread = threading.Thread(
            target=self._run, name="stagescope-log-batches", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        self.flush()

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            self.flush()
