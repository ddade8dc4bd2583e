"""Build a ready-to-run app for the command line, the tests and screenshots."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from engine.breakpoints import Breakpoint
from engine.buildah import Buildah
from engine.checks import Finding, Version
from engine.events import Event
from engine.plan import Plan
from engine.runner import BuildRequest, BuildSession
from tui.app import DEFAULT_MAX_LOG_LINES, StagescopeApp
from tui.insight_tap import ImageSizeBook, attach_insight
from tui.logstore import LogStore, default_log_root
from tui.messages import BuildReset
from tui.preflight import Check, Preflight, request_check
from tui.replay import ReplayFeeder, load_recording
from tui.source import BuildSource
from tui.watching import WatchSource


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
    watch: bool = False,
    findings: Sequence[Finding] | None = None,
    check: Check | None = None,
    buildah_version: Version | None = None,
) -> StagescopeApp:
    """Return the app for a live build (`request`), a replay (`recording`), or
    any other `source` with the controls of a BuildSession.

    `buildah` is the storage with the images of a custom `source`, for the
    shell and diff.
    A replay plays `speed` times as fast as recorded; 0 plays without waiting.
    Logs go to a new folder under `log_root` (default: the user's cache).

    A live build rebuilds on every save with `watch`, and is checked before
    each build (`check`, by default `engine.checks.check_request` with
    `buildah_version`, which is asked of Buildah when None); `findings` are
    those of a check made just before, shown for the first build.
    """
    given = [value for value in (request, recording, source) if value is not None]
    if len(given) != 1:
        raise ValueError("pass exactly one of request, recording and source")
    replay = recording is not None
    sizes = ImageSizeBook()
    if request is not None and watch:
        source = WatchSource(request, plan, breakpoints, sizes=sizes)
    elif request is not None:
        source = BuildSession(request, plan, breakpoints)
        attach_insight(source, sizes)
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
        preflight=Preflight(_check(request, check, buildah_version), findings),
        sizes=sizes,
    )
    if isinstance(source, WatchSource):
        source.on_rebuild = lambda plan: _announce_rebuild(app, plan)
    if keymap:
        app.keymap = dict(keymap)
        app.set_keymap(dict(keymap))
    return app


def _check(
    request: BuildRequest | None, check: Check | None, version: Version | None
) -> Check | None:
    if check is not None or request is None:
        return check
    return request_check(request, version)


def _announce_rebuild(app: StagescopeApp, plan: Plan) -> None:
    """Start a new log run and reset the screen before a watch-mode rebuild.

    Runs on the watcher's thread before the rebuild's first event; the lines
    of the build before are flushed first, so they stay in its run.
    """
    app.batcher.flush()
    app.log_store.new_run()
    app.post_message(BuildReset(plan))


def _log_root() -> Path:
    root = default_log_root()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError:
        return Path(tempfile.gettempdir()) / "stagescope-logs"
    return root
