"""The ARG and ENV values that one line of a Containerfile can see.

The rules, as Buildah applies them: an ARG before the first FROM is global,
and only FROM lines can use it. Inside a stage it is empty until a bare
`ARG NAME` declares it again. An ARG declared in a stage lasts until the end
of that stage and is not passed to stages built FROM it. An ENV is saved in
the stage's image, so later lines and stages built FROM it see it.
"""

from __future__ import annotations

from engine.plan import Instruction, Plan

MAX_SHOWN = 6
"""Names listed per kind before the rest are counted."""


def global_args(plan: Plan) -> dict[str, str]:
    """Return each global ARG's value: the --build-arg value, else its default."""
    values: dict[str, str] = {}
    for instruction in plan.global_args:
        for argument in instruction.arguments:
            name, _, default = argument.partition("=")
            values[name] = plan.build_args.get(name, default)
    return values


def stage_args(plan: Plan, instruction: Instruction) -> dict[str, str]:
    """Return the ARGs declared in the stage before `instruction`, with values."""
    globals_ = global_args(plan)
    values: dict[str, str] = {}
    for earlier in _earlier(plan, instruction):
        if earlier.keyword != "ARG":
            continue
        for argument in earlier.arguments:
            name, has_default, default = argument.partition("=")
            fallback = default if has_default else globals_.get(name, "")
            values[name] = plan.build_args.get(name, fallback)
    return values


def stage_env(plan: Plan, instruction: Instruction) -> tuple[list[str], list[str]]:
    """Return the ENV names set before `instruction`: (in this stage, inherited
    from the stages it is built FROM)."""
    own = [
        str(name)
        for earlier in _earlier(plan, instruction)
        if earlier.keyword == "ENV"
        for name in earlier.arguments[::2]
    ]
    inherited: list[str] = []
    base = plan.stages[instruction.stage].base_stage
    while base is not None:
        stage = plan.stages[base]
        for other in stage.instructions:
            if other.keyword == "ENV":
                inherited += [str(name) for name in other.arguments[::2]]
        base = stage.base_stage
    return own, inherited


def _earlier(plan: Plan, instruction: Instruction) -> tuple[Instruction, ...]:
    stage = plan.stages[instruction.stage]
    return stage.instructions[1 : instruction.step - 1]


def scope_section(plan: Plan, instruction: Instruction) -> str:
    """Describe the ARG and ENV values visible on the line of `instruction`."""
    globals_ = global_args(plan)
    label = plan.stages[instruction.stage].label
    if instruction.keyword == "FROM":
        if not globals_:
            return ""
        return (
            f"This FROM line can use the global ARGs {_pairs(globals_)}. Inside "
            f"stage {label} they are empty until a bare ARG NAME declares them again."
        )
    parts = []
    declared = stage_args(plan, instruction)
    if declared:
        parts.append(f"ARGs of stage {label} here: {_pairs(declared)}.")
    hidden = [name for name in globals_ if name not in declared]
    if hidden:
        parts.append(
            f"Global {_names(hidden)} {'is' if len(hidden) == 1 else 'are'} not "
            f"declared in this stage, so ${{{hidden[0]}}} is empty on this line."
        )
    own, inherited = stage_env(plan, instruction)
    if own:
        parts.append(f"ENV set earlier in {label}: {_names(own)}.")
    if inherited:
        parts.append(f"ENV inherited through FROM: {_names(inherited)}.")
    if not parts:
        parts.append(f"No ARG or ENV is set in stage {label} before this line.")
    return " ".join(parts)


def _pairs(values: dict[str, str]) -> str:
    shown = [f"{name}={value!r}" for name, value in list(values.items())[:MAX_SHOWN]]
    rest = len(values) - MAX_SHOWN
    return ", ".join(shown) + (f" and {rest} more" if rest > 0 else "")


def _names(names: list[str]) -> str:
    unique = list(dict.fromkeys(names))
    rest = len(unique) - MAX_SHOWN
    return ", ".join(unique[:MAX_SHOWN]) + (f" and {rest} more" if rest > 0 else "")
