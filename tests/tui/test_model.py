"""The build model folded from recorded events."""

from __future__ import annotations

from engine.breakpoints import Position
from engine.plan import Plan
from engine.runner import State
from tests.tui.conftest import fixed_clock, recording
from tui.model import BuildModel, Status


def model_of(plan: Plan, name: str) -> BuildModel:
    model = BuildModel(plan, fixed_clock)
    for event in recording(name):
        model.apply(event)
    return model


def test_passing_build_statuses(plan: Plan) -> None:
    model = model_of(plan, "passing")
    assert model.state is State.FINISHED
    statuses = [model.stage_status(stage.index) for stage in plan.stages]
    assert statuses == [
        Status.DONE,
        Status.DONE,
        Status.DONE,
        Status.NOT_NEEDED,
        Status.DONE,
    ]
    assert model.progress() == (16, 16)
    assert model.cache_hits() == (0, 12)


def test_breakpoint_recording_pauses(plan: Plan) -> None:
    model = model_of(plan, "breakpoint")
    assert model.state is State.PAUSED
    assert model.paused_at == Position(1, 5)
    assert model.stage_status(0) is Status.CACHED
    assert model.stage_status(1) is Status.PAUSED
    assert model.stage_status(4) is Status.WAITING
    record = model.steps[Position(1, 5)]
    assert model.step_status(record) is Status.PAUSED
    assert model.state_before(Position(1, 5)) == model.image_of(Position(1, 4))


def test_failure_recording_fails(plan: Plan) -> None:
    model = model_of(plan, "failure")
    assert model.state is State.FAILED
    assert model.failure is not None
    assert model.failure.exit_code != 0
    assert model.stage_status(1) is Status.FAILED
    assert model.steps[Position(1, 5)].status is Status.FAILED
    assert model.steps[Position(1, 5)].log_lines >= 2


def test_reset_forgets_build(plan: Plan) -> None:
    model = model_of(plan, "passing")
    model.reset(plan)
    assert model.state is State.IDLE
    assert model.progress() == (0, 16)
    assert all(r.status is Status.WAITING for r in model.steps.values())
