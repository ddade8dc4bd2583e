"""The variables in force at a pause: ARGs, ENV, WORKDIR, USER, SHELL, base.

ARGs come from the plan, by the Containerfile's scoping rules:

- an ARG before the first FROM is global: usable in FROM lines, and inside a
  stage only once the stage declares it again (`ARG NAME`, which then takes
  the global value);
- an ARG inside a stage is visible from its declaration to the end of that
  stage, and not in stages built on it;
- `--build-arg NAME=VALUE` overrides the default of every declaration of
  NAME; a build argument that no ARG declares stays invisible;
- buildah predefines the platform ARGs (TARGETARCH, BUILDPLATFORM, ...) in
  the global scope, so a stage can use them once it declares them.

Each ARG carries its source: `--build-arg`, `default` (the stage's own
default), `global` (the default of the global declaration), `platform`, or
`unset` (declared without a value anywhere).

ENV, WORKDIR and USER come from the paused image's configuration, which
already contains what the base image set. SHELL is only kept in Docker-format
images; for OCI images it is read from the SHELL instructions of the stage
and the stages it is built on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.breakpoints import Position
from engine.plan import Plan
from engine.variables import expand, platform_args

DEFAULT_SHELL = ("/bin/sh", "-c")

SOURCE_BUILD_ARG = "--build-arg"
SOURCE_DEFAULT = "default"
SOURCE_GLOBAL = "global"
SOURCE_PLATFORM = "platform"
SOURCE_UNSET = "unset"


@dataclass(frozen=True)
class ArgValue:
    """An ARG in scope. `value` is None for an ARG declared without a value."""

    value: str | None
    source: str
    line: int | None = None
    """Line of the declaration that brought it into the stage."""

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "source": self.source, "line": self.line}


@dataclass(frozen=True)
class PauseVariables:
    args: dict[str, ArgValue] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = ""
    user: str = ""
    shell: tuple[str, ...] = DEFAULT_SHELL
    base: str = ""
    base_stage: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form carried by the `paused` event."""
        return {
            "args": {name: value.to_dict() for name, value in self.args.items()},
            "env": dict(self.env),
            "workdir": self.workdir,
            "user": self.user,
            "shell": list(self.shell),
            "base": self.base,
            "base_stage": self.base_stage,
        }


def global_args(plan: Plan) -> dict[str, ArgValue]:
    """Return the global scope: platform ARGs, then the ARGs before FROM."""
    scope = {
        name: ArgValue(plan.build_args.get(name, value), _platform_source(plan, name))
        for name, value in platform_args().items()
    }
    for declaration in plan.global_args:
        for argument in declaration.arguments:
            name, has_default, default = argument.partition("=")
            if name in plan.build_args:
                value: str | None = plan.build_args[name]
                source = SOURCE_BUILD_ARG
            elif has_default:
                value = expand(default, _values(scope))
                source = SOURCE_GLOBAL
            else:
                value, source = None, SOURCE_UNSET
            scope[name] = ArgValue(value, source, declaration.first_line)
    return scope


def _platform_source(plan: Plan, name: str) -> str:
    return SOURCE_BUILD_ARG if name in plan.build_args else SOURCE_PLATFORM


def _values(scope: dict[str, ArgValue]) -> dict[str, str]:
    return {name: arg.value for name, arg in scope.items() if arg.value is not None}


def args_at(plan: Plan, position: Position) -> dict[str, ArgValue]:
    """Return the ARGs visible before `position`, in declaration order."""
    outer = global_args(plan)
    stage = plan.stages[position.stage]
    scope: dict[str, ArgValue] = {}
    env: dict[str, str] = {}
    for instruction in stage.instructions[1 : position.step - 1]:
        if instruction.keyword == "ENV":
            pairs = instruction.arguments
            for name, value in zip(pairs[::2], pairs[1::2], strict=False):
                env[name] = expand(value, {**_values(scope), **env})
            continue
        if instruction.keyword != "ARG":
            continue
        for argument in instruction.arguments:
            name, has_default, default = argument.partition("=")
            line = instruction.first_line
            if name in plan.build_args:
                scope[name] = ArgValue(plan.build_args[name], SOURCE_BUILD_ARG, line)
            elif has_default:
                value = expand(default, {**_values(scope), **env})
                scope[name] = ArgValue(value, SOURCE_DEFAULT, line)
            elif name in outer:
                scope[name] = ArgValue(outer[name].value, outer[name].source, line)
            else:
                scope[name] = ArgValue(None, SOURCE_UNSET, line)
    return scope


def shell_at(plan: Plan, position: Position) -> tuple[str, ...] | None:
    """Return the shell set by the last SHELL before `position`, following the
    stages the stage is built on. Returns None when no SHELL set one."""
    stage_index: int | None = position.stage
    last_step = position.step - 1
    while stage_index is not None:
        stage = plan.stages[stage_index]
        for instruction in reversed(stage.instructions[1:last_step]):
            if instruction.keyword == "SHELL" and instruction.arguments:
                return tuple(instruction.arguments)
        stage_index = stage.base_stage
        if stage_index is not None:
            last_step = plan.stages[stage_index].step_count + 1
    return None


def image_config(inspect: dict[str, Any]) -> dict[str, Any]:
    """Return the container configuration from `buildah inspect --type image`."""
    for section in ("Docker", "OCIv1"):
        config = (inspect.get(section) or {}).get("config")
        if config:
            return dict(config)
    return {}


def variables_at(
    plan: Plan, position: Position, config: dict[str, Any] | None
) -> PauseVariables:
    """Return what is in force before `position`, given the paused image's
    configuration (None for an empty state such as FROM scratch)."""
    config = config or {}
    env: dict[str, str] = {}
    for item in config.get("Env") or []:
        name, _, value = str(item).partition("=")
        env[name] = value
    shell = config.get("Shell") or shell_at(plan, position) or DEFAULT_SHELL
    stage = plan.stages[position.stage]
    base_stage = None
    if stage.base_stage is not None:
        base_stage = plan.stages[stage.base_stage].label
    return PauseVariables(
        args=args_at(plan, position),
        env=env,
        workdir=str(config.get("WorkingDir") or ""),
        user=str(config.get("User") or ""),
        shell=tuple(str(word) for word in shell),
        base=stage.base,
        base_stage=base_stage,
    )


def describe_variables(data: dict[str, Any] | None) -> list[str]:
    """Return readable lines for the `variables` of a `paused` event."""
    if not data:
        return []
    base = data.get("base", "")
    if data.get("base_stage"):
        base = f"stage {data['base_stage']}"
    lines = [f"FROM    {base}"]
    for name, arg in (data.get("args") or {}).items():
        value = "(no value)" if arg.get("value") is None else arg["value"]
        lines.append(f"ARG     {name}={value}  ({arg.get('source')})")
    for name, value in (data.get("env") or {}).items():
        lines.append(f"ENV     {name}={value}")
    shell = " ".join(data.get("shell") or DEFAULT_SHELL)
    lines.append(
        f"WORKDIR {data.get('workdir') or '/'}   USER {data.get('user') or 'root'}"
        f"   SHELL {shell}"
    )
    return lines
