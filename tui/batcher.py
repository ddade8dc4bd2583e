"""Turn engine events into app messages without flooding the app.

The batcher is the `on_event` of the build source, so it runs on the build
thread. It collects blocks of output, which a flusher thread writes to the
log store and posts as one `LogBatch` about every `interval` seconds. Each
other event first flushes the output before it, then is written to the store
and posted as its own message, so the store and the app see events in order.
Writing output in batches keeps the build thread, which reads buildah's
output, from spending its time on disk writes during a flood of output.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from textual.message import Message

from engine.breakpoints import Position
from engine.events import Event, LogBlock
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
        self._pending: list[LogBlock] = []
        self._lock = threading.Lock()
        # Held from taking lines to posting them, so that a batch taken by the
        # flusher cannot be posted after an event that came later.
        self._post_lock = threading.RLock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, LogBlock):
            with self._lock:
                self._pending.append(event)
            return
        with self._post_lock:
            self.flush()
            if self.store is not None:
                self.store.record(event)
            self.post(BuildEvent(event))

    def flush(self) -> None:
        """Write the collected output to the store and post at most
        `max_lines` lines of it."""
        with self._post_lock:
            with self._lock:
                blocks, self._pending = self._pending, []
            if not blocks:
                return
            if self.store is not None:
                self.store.record_blocks(blocks)
                self.store.flush()
            counts: dict[Position | None, int] = {}
            for block in blocks:
                position = _position_of(block)
                counts[position] = counts.get(position, 0) + block.line_count
            self.post(LogBatch(_newest_lines(blocks, self.max_lines), counts))

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


def _newest_lines(
    blocks: list[LogBlock], limit: int
) -> tuple[tuple[Position | None, list[str]], ...]:
    """Return the last `limit` lines of `blocks` as runs per step, oldest first.

    Only the lines kept are split out of each block's text."""
    runs: list[tuple[Position | None, list[str]]] = []
    remaining = limit
    for block in reversed(blocks):
        if remaining <= 0:
            break
        if block.line_count <= remaining:
            lines = block.lines()
        else:
            lines = block.text.rsplit("\n", remaining)[1:]
        remaining -= len(lines)
        runs.append((_position_of(block), lines))
    runs.reverse()
    return tuple(runs)


def _position_of(block: LogBlock) -> Position | None:
    if block.stage is None or block.step is None:
        return None
    return Position(block.stage, block.step)
