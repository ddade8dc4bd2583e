"""Turn SIGTERM and SIGHUP into an exception so that `finally` blocks run.

Python's default action for both signals ends the process at once, which would
leave behind the working containers and mounts that a shell or a diff created.
Inside `exit_on_termination_signals()` the first of them raises
`TerminatedBySignal` in the main thread instead, and the caller's cleanup runs.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from engine.errors import StagescopeError

log = logging.getLogger(__name__)

TERMINATION_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class TerminatedBySignal(StagescopeError):
    """SIGTERM or SIGHUP arrived; the exit status follows the shell convention."""

    def __init__(self, number: int) -> None:
        name = signal.Signals(number).name
        super().__init__(f"stopped by {name}")
        self.signal_number = number
        self.exit_code = 128 + number


@contextmanager
def exit_on_termination_signals() -> Iterator[None]:
    """Raise `TerminatedBySignal` on the first SIGTERM or SIGHUP in this block.

    Later signals are logged and ignored so that they cannot interrupt the
    cleanup the first one started. The previous handlers come back afterwards.
    Off the main thread Python cannot install handlers, so the block runs
    without them.
    """
    if threading.current_thread() is not threading.main_thread():
        log.debug("not on the main thread: SIGTERM and SIGHUP keep their handlers")
        yield
        return

    received: list[int] = []

    def on_signal(number: int, frame: FrameType | None) -> None:
        received.append(number)
        if len(received) == 1:
            raise TerminatedBySignal(number)
        log.warning("ignoring %s during cleanup", signal.Signals(number).name)

    previous = {
        number: signal.signal(number, on_signal) for number in TERMINATION_SIGNALS
    }
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
