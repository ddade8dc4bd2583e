"""The replay feeder and recording checks, without the app."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.breakpoints import Breakpoint, Position
from engine.errors import UsageError
from engine.events import (
    BuildCancelled,
    BuildFinished,
    BuildPaused,
    BuildStarted,
    Event,
    LogBlock,
    StepFailed,
    StepStarted,
)
from engine.plan import Plan
from engine.runner import State
from tests.tui.conftest import recording
from tui.replay import END_OF_RECORDING, ReplayFeeder, check_recording, load_recording


def feeder(
    plan: Plan, name: str, *breakpoints: str
) -> tuple[ReplayFeeder, list[Event]]:
    emitted: list[Event] = []
    source = ReplayFeeder(
        plan, recording(name), [Breakpoint(b) for b in breakpoints], emitted.append
    )
    return source, emitted


def started_positions(events: list[Event]) -> list[Position]:
    return [Position(e.stage, e.step) for e in events if isinstance(e, StepStarted)]


def test_passing_replay_finishes(plan: Plan) -> None:
    source, emitted = feeder(plan, "passing")
    assert source.start() is State.FINISHED
    assert isinstance(emitted[0], BuildStarted)
    assert isinstance(emitted[-1], BuildFinished)
    assert len(started_positions(emitted)) == 16
    assert source.step_images[Position(4, 5)] == emitted[-1].image


def test_breakpoint_pauses_before_step(plan: Plan) -> None:
    source, emitted = feeder(plan, "passing", "build:4")
    assert source.start() is State.PAUSED
    assert source.position == Position(1, 4)
    pause = emitted[-1]
    assert isinstance(pause, BuildPaused)
    assert pause.reason == "breakpoint"
    assert pause.image == source.step_images[Position(1, 3)]
    assert Position(1, 4) not in started_positions(emitted)


def test_step_runs_one_instruction(plan: Plan) -> None:
    source, emitted = feeder(plan, "passing", "build:4")
    source.start()
    emitted.clear()
    assert source.step() is State.PAUSED
    assert started_positions(emitted) == [Position(1, 4)]
    assert source.position == Position(1, 5)


def test_end_of_stage_breakpoint(plan: Plan) -> None:
    source, emitted = feeder(plan, "passing", "build:end")
    assert source.start() is State.PAUSED
    assert source.position == Position(1, 7)
    assert started_positions(emitted)[-1] == Position(1, 6)
    assert source.paused_image == source.step_images[Position(1, 6)]


def test_continue_after_pause_finishes(plan: Plan) -> None:
    source, emitted = feeder(plan, "passing", "build:4")
    source.start()
    assert source.resume() is State.FINISHED
    starts = [e for e in emitted if isinstance(e, BuildStarted)]
    assert [s.pause_at for s in starts] == [(1, 4), None]


def test_recorded_pause_is_kept(plan: Plan) -> None:
    source, emitted = feeder(plan, "breakpoint")
    assert source.start() is State.PAUSED
    assert source.position == Position(1, 5)
    assert not source.has_more


def test_recorded_failure_fails(plan: Plan) -> None:
    source, emitted = feeder(plan, "failure")
    assert source.start() is State.FAILED
    failures = [e for e in emitted if isinstance(e, StepFailed)]
    assert len(failures) == 1
    assert (failures[0].stage, failures[0].step) == (1, 5)


def test_cut_recording_pauses_at_end(plan: Plan) -> None:
    events = recording("passing")[:14]
    emitted: list[Event] = []
    source = ReplayFeeder(plan, events, on_event=emitted.append)
    assert source.start() is State.PAUSED
    pause = emitted[-1]
    assert isinstance(pause, BuildPaused)
    assert pause.reason == END_OF_RECORDING
    assert (pause.stage, pause.step) == (1, 4)


def test_cancel_stops_timed_replay(plan: Plan) -> None:
    emitted: list[Event] = []
    source = ReplayFeeder(plan, recording("passing"), speed=0.5)

    def cancel_at_first_step(event: Event) -> None:
        emitted.append(event)
        if isinstance(event, StepStarted):
            source.cancel("test")

    source.on_event = cancel_at_first_step
    assert source.start() is State.CANCELLED
    assert isinstance(emitted[-1], BuildCancelled)
    assert emitted[-1].reason == "test"
    assert len(started_positions(emitted)) == 1


def test_load_recording_rejects_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(
        '{"event": "build-started", "containerfile": "x", "target": 0}\nnope\n'
    )
    with pytest.raises(UsageError, match=r"bad.jsonl:2: not a JSON event"):
        load_recording(path)


def test_load_recording_rejects_unknown_event(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"event": "party"}\n')
    with pytest.raises(UsageError, match="unknown event 'party'"):
        load_recording(path)


def test_load_recording_rejects_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n")
    with pytest.raises(UsageError, match="has no events"):
        load_recording(path)


def test_check_recording_rejects_other_file(tmp_path: Path) -> None:
    other = tmp_path / "Containerfile"
    other.write_text("FROM localhost/busybox\nRUN true\n")
    from engine.plan import load_plan

    with pytest.raises(UsageError, match="has stage 1 but"):
        check_recording(recording("passing"), load_plan(other), Path("rec.jsonl"))


def test_check_recording_rejects_other_keyword(tmp_path: Path) -> None:
    text = Path("tests/data/multistage/Containerfile").read_text()
    other = tmp_path / "Containerfile"
    other.write_text(text.replace("WORKDIR /work", "USER root"))
    from engine.plan import load_plan

    with pytest.raises(UsageError, match="is WORKDIR in the recording but USER"):
        check_recording(recording("passing"), load_plan(other), Path("rec.jsonl"))


def test_load_recording_reads_log_blocks_of_the_app(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    blocks = [
        LogBlock(stage=0, step=2, text="one\ntwo"),
        LogBlock(stage=0, step=2, text="separator \u2028 inside"),
    ]
    path.write_text("".join(block.to_json() + "\n" for block in blocks))

    assert load_recording(path) == blocks
