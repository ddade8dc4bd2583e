"""Breakpoint specifications and the positions where a build can pause.

A position (stage, step) means "paused before `step` of `stage`", with FROM
as step 1. So step 2 is right after the base image is in place, and the step
after the stage's last instruction is the end of the stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from engine.errors import UsageError
from engine.plan import Plan


class Position(NamedTuple):
    stage: int
    step: int


@dataclass(frozen=True)
class Breakpoint:
    """A breakpoint as the user wrote it: `STAGE`, `STAGE:N`, `STAGE:end` or a line."""

    spec: str

    def resolve(self, plan: Plan) -> Position:
        """Return the position this breakpoint pauses at in `plan`.

        Raises UsageError naming the spec and the valid choices.
        """
        spec = self.spec.strip()
        if spec.isdigit():
            return _position_at_line(plan, int(spec), spec)

        stage_ref, separator, step_text = spec.rpartition(":")
        if not separator:
            stage_ref = spec
        stage = plan.stage_named(stage_ref)
        if stage is None:
            stages = ", ".join(s.label for s in plan.stages)
            raise UsageError(
                f"--break {spec!r}: no stage {stage_ref!r}; stages are: {stages}"
            )
        if not separator:
            return Position(stage.index, 2)
        if step_text == "end":
            return Position(stage.index, stage.step_count + 1)
        if not step_text.isdigit() or not 2 <= int(step_text) <= stage.step_count + 1:
            raise UsageError(
                f"--break {spec!r}: step must be 2 to {stage.step_count + 1} or 'end' "
                f"(stage {stage.label} has {stage.step_count} steps, FROM is step 1)"
            )
        return Position(stage.index, int(step_text))


def _position_at_line(plan: Plan, line: int, spec: str) -> Position:
    instruction = plan.instruction_at_line(line)
    if instruction is None:
        raise UsageError(
            f"--break {spec}: line {line} of {plan.path} is not an instruction of "
            "a stage; give the line of an instruction after a FROM"
        )
    return Position(instruction.stage, max(instruction.step, 2))


def position_key(plan: Plan, position: Position) -> tuple[int, int]:
    """Return a key that orders positions as the build reaches them."""
    order = plan.build_order
    rank = order.index(position.stage) if position.stage in order else len(order)
    return rank, position.step


def next_position(plan: Plan, position: Position | None) -> Position | None:
    """Return the position one instruction after `position`, or None at the end."""
    order = plan.build_order
    if position is None:
        return Position(order[0], 2)
    stage = plan.stages[position.stage]
    if position.step <= stage.step_count:
        return Position(position.stage, position.step + 1)
    rank = order.index(position.stage) if position.stage in order else len(order)
    if rank + 1 < len(order):
        return Position(order[rank + 1], 2)
    return None


def is_build_end(plan: Plan, position: Position) -> bool:
    """Return True when pausing at `position` would mean the whole build ran."""
    target = plan.stages[plan.target]
    return position.stage == target.index and position.step > target.step_count
