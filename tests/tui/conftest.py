"""Fixtures for the app tests: the test Containerfile, recordings, and apps.

The recordings in tests/data/recordings were made by
tests/data/make_recordings.py from real `stagescope run --json` builds of
tests/data/multistage. Paths are relative to the repository root, which the
tests make the working folder, so titles in snapshots do not depend on where
the repository is checked out.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine.breakpoints import Breakpoint
from engine.events import Event
from engine.plan import Plan, load_plan
from tui.app import StagescopeApp
from tui.factory import create_app
from tui.replay import ReplayFeeder, load_recording

REPO = Path(__file__).resolve().parents[2]
CONTAINERFILE = Path("tests/data/multistage/Containerfile")
RECORDINGS = Path("tests/data/recordings")


def fixed_clock() -> float:
    return 1000.0


@pytest.fixture(autouse=True)
def in_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    # The help screen shows where the key file is; keep it the same everywhere.
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)


@pytest.fixture
def plan() -> Plan:
    return load_plan(CONTAINERFILE)


def recording(name: str) -> list[Event]:
    return load_recording(RECORDINGS / f"{name}.jsonl")


class HeldReplay(ReplayFeeder):
    """A replay that stops emitting before event `hold_at` until released or
    cancelled, so the app shows a build that is still running."""

    def __init__(self, *args: object, hold_at: int, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.hold_at = hold_at
        self.held = threading.Event()
        self.release = threading.Event()

    def _wait(self, seconds: float) -> bool:
        if self._cursor == self.hold_at and not self.release.is_set():
            self.held.set()
            while not (self.release.is_set() or self._cancelled.wait(0.01)):
                pass
        return super()._wait(seconds)


MakeApp = Callable[..., StagescopeApp]


@pytest.fixture
def make_app(plan: Plan, tmp_path: Path) -> Iterator[MakeApp]:
    """Return a factory of apps replaying a named recording."""

    def make(
        name: str = "passing",
        breakpoints: tuple[str, ...] = (),
        hold_at: int | None = None,
        **options: object,
    ) -> StagescopeApp:
        events = recording(name)
        points = [Breakpoint(spec) for spec in breakpoints]
        if hold_at is not None:
            source = HeldReplay(plan, events, points, hold_at=hold_at)
            return create_app(
                plan, source=source, log_root=tmp_path, clock=fixed_clock, **options
            )  # type: ignore[arg-type]
        return create_app(
            plan,
            recording=events,
            breakpoints=points,
            log_root=tmp_path,
            clock=fixed_clock,
            **options,  # type: ignore[arg-type]
        )

    yield make
