"""Build a ready-to-run app for the command line, the tests and screenshots."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from engine.breakpoints import Breakpoint
from engine.buildah import Buildah
from engine.events import Event
from engine.plan import Plan
from engine.runner import BuildRequest, BuildSession
from tui.app import DEFAULT_MAX_LOG_LINES, StagescopeApp
from tui.logstore import LogStore, default_log_root
from tui.replay import ReplayFeeder, load_recording
from tui.source import BuildSource


def create_app(
    plan: Plan,
    *,
    request: BuildRequest | None = None,
    recording: Path | Sequence[Event] | None = None,
    source: BuildSource | None = None,
    buildah: Buildah | None = None,
    breakpoints: Iterable[Breakpoint] = (),
    speed: float = 0.0,
    log_root: Path | None = None,
    autostart: bool = True,
    max_log_lines: int = DEFAULT_MAX_LOG_LINES,
    clock: Callable[[], float] = time.monotonic,
    keymap: Mapping[str, str] | None = None,
    notices: Iterable[str] = (),
) -> StagescopeApp:
    """Return the app for a live build (`request`), a replay (`recording`), or
    any other `source` with the controls of a BuildSession.

    `buildah` holds the images of a custom `source`, for the shell and diff.
    A replay plays `speed` times as fast as recorded; 0 plays without waiting.
    Logs go to a new folder under `log_root` (default: the user's cache).
    """
    given = [value for value in (request, recording, source) if value is not None]
    if len(given) != 1:
        raise ValueError("pass exactly one of request, recording and source")
    replay = recording is not None
    if request is not None:
        source = BuildSession(request, plan, breakpoints)
    elif recording is not None:
        events = load_recording(recording) if isinstance(recording, Path) else recording
        source = ReplayFeeder(plan, events, breakpoints, speed=speed)
    assert source is not None
    store = LogStore.create(log_root or _log_root())
    app = StagescopeApp(
        source,
        buildah=request.buildah if request is not None else buildah,
        log_store=store,
        replay=replay,
        autostart=autostart,
        max_log_lines=max_log_lines,
        clock=clock,
        notices=notices,
    )
    if keymap:
        app.keymap = dict(keymap)
        app.set_keymap(dict(keymap))
    return app


def _log_root() -> Path:
    root = default_log_root()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError:
        return Path(tempfile.gettempdir()) / "stagescope-logs"
    return root
