"""Attach the engine's insight hook to a session and pass its sizes to the app.

`engine.session_insight.attach` reports stage sizes and crossings as events,
but the size of each step's image only in its `summary`, on the build
thread. `attach_insight` adds a second hook that copies those sizes, by
image ID, into an `ImageSizeBook` that the app reads. An image's size never
changes, so the book needs no reset between builds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from engine.events import BuildFinished, Event
from engine.runner import BuildSession
from engine.session_insight import BuildInsight, attach


class ImageSizeBook:
    """Image sizes in bytes (sums of the manifest's layer sizes) by image ID.

    Build threads add to it and the app reads it, so every access locks.
    """

    def __init__(self) -> None:
        self._sizes: dict[str, int] = {}
        self._lock = threading.Lock()
        self.on_change: Callable[[], object] = lambda: None
        """Called, on the adding thread, after sizes were added."""

    def add(self, sizes: Mapping[str, int]) -> None:
        with self._lock:
            known = self._sizes.items() >= sizes.items()
            self._sizes.update(sizes)
        if not known:
            self.on_change()

    def get(self, image: str | None) -> int | None:
        if image is None:
            return None
        with self._lock:
            return self._sizes.get(image)

    def __len__(self) -> int:
        with self._lock:
            return len(self._sizes)


def attach_insight(session: BuildSession, book: ImageSizeBook) -> BuildInsight:
    """Install the insight hook on `session` and copy its step sizes to `book`."""
    insight = attach(session)
    # Each step's size as soon as it is read, for the steps table.
    insight.sizes.on_size = lambda image, size: book.add({image: size})

    def record_sizes(event: Event) -> list[Event]:
        summary = insight.summary
        if isinstance(event, BuildFinished) and summary is not None:
            book.add(
                {size.image: size.size for size in summary.steps.values() if size.image}
            )
        return [event]

    session.event_hooks.append(record_sizes)
    return insight
