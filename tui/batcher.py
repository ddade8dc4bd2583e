"""Turn engine events into app messages without flooding the app.

The batcher is the `on_event` of the build source, so it runs on the build
thread. It collects log lines, which a flusher thread writes to the log store
and posts as one `LogBatch` about every `interval` seconds. Each other event
first flushes the lines before it, then is written to the store and posted as
its own message, so the store and the app see events in order. Writing lines
in batches keeps the build thread, which reads buildah's output, from
spending its time on disk writes during a flood of output.
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
        if isinstance(event, LogLine):
            with self._lock:
                self._pending.append(event)
            return
        with self._post_lock:
            self.flush()
            if self.store is not None:
                self.store.record(event)
            self.post(BuildEvent(event))

    def flush(self) -> None:
        """Write the collected lines to the store and post at most `max_lines`
        of them."""
        with self._post_lock:
            with self._lock:
                lines, self._pending = self._pending, []
            if not lines:
                return
            if self.store is not None:
                self.store.record_lines(lines)
                self.store.flush()
            # Counting plain tuples first is much faster than a Position per line.
            steps = Counter((line.stage, line.step) for line in lines)
            counts: Counter[Position | None] = Counter()
            for (stage, step), count in steps.items():
                if stage is None or step is None:
                    counts[None] += count
                else:
                    counts[Position(stage, step)] += count
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
