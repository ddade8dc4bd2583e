"""ARG scoping and the variables a pause reports, from plans alone."""

from __future__ import annotations

from pathlib import Path

from engine.breakpoints import Position
from engine.plan import Plan, load_plan
from engine.variables_at import ArgValue, args_at, image_config, variables_at

CONTAINERFILE = """\
ARG VERSION=1.0
ARG MODE
ARG UNUSED=x
FROM localhost/busybox AS build
ARG VERSION
ARG MODE
ARG LEVEL=3
ARG DERIVED=v${VERSION}-${LEVEL}
ENV HOME_DIR=/h
ARG FROM_ENV=${HOME_DIR}/x
ARG EMPTY
ARG TARGETARCH
RUN true
SHELL ["/bin/sh", "-ec"]
RUN true

FROM build AS test
RUN true
ARG LEVEL
RUN true
"""


def plan_of(tmp_path: Path, build_args: dict[str, str] | None = None) -> Plan:
    path = tmp_path / "Containerfile"
    path.write_text(CONTAINERFILE)
    return load_plan(path, build_args=build_args)


def test_global_args_need_a_declaration_in_the_stage(tmp_path: Path) -> None:
    plan = plan_of(tmp_path)
    assert args_at(plan, Position(0, 2)) == {}
    args = args_at(plan, Position(0, 3))
    assert args == {"VERSION": ArgValue("1.0", "global", 5)}


def test_sources_without_build_args(tmp_path: Path) -> None:
    args = args_at(plan_of(tmp_path), Position(0, 10))
    assert args["VERSION"] == ArgValue("1.0", "global", 5)
    assert args["MODE"] == ArgValue(None, "unset", 6)
    assert args["LEVEL"] == ArgValue("3", "default", 7)
    assert args["DERIVED"] == ArgValue("v1.0-3", "default", 8)
    assert args["FROM_ENV"] == ArgValue("/h/x", "default", 10)
    assert args["EMPTY"] == ArgValue(None, "unset", 11)
    assert args["TARGETARCH"].source == "platform"
    assert "UNUSED" not in args


def test_build_args_override_every_declaration(tmp_path: Path) -> None:
    plan = plan_of(
        tmp_path, {"VERSION": "2.0", "LEVEL": "9", "MODE": "fast", "OTHER": "o"}
    )
    args = args_at(plan, Position(0, 10))
    assert args["VERSION"] == ArgValue("2.0", "--build-arg", 5)
    assert args["MODE"] == ArgValue("fast", "--build-arg", 6)
    assert args["LEVEL"] == ArgValue("9", "--build-arg", 7)
    assert args["DERIVED"] == ArgValue("v2.0-9", "default", 8)
    assert "OTHER" not in args


def test_args_skip_derived_stages(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, {"LEVEL": "9"})
    assert args_at(plan, Position(1, 3)) == {}
    assert args_at(plan, Position(1, 4)) == {"LEVEL": ArgValue("9", "--build-arg", 19)}


def test_variables_read_the_image_configuration(tmp_path: Path) -> None:
    plan = plan_of(tmp_path)
    inspect = {
        "OCIv1": {
            "config": {
                "Env": ["PATH=/bin", "HOME_DIR=/h", "EQ=a=b"],
                "WorkingDir": "/w",
                "User": "1000",
            }
        }
    }
    variables = variables_at(plan, Position(0, 11), image_config(inspect))
    assert variables.env == {"PATH": "/bin", "HOME_DIR": "/h", "EQ": "a=b"}
    assert variables.workdir == "/w"
    assert variables.user == "1000"
    assert variables.shell == ("/bin/sh", "-c")
    assert variables.base == "localhost/busybox"
    assert variables.base_stage is None


def test_shell_follows_the_stage_chain(tmp_path: Path) -> None:
    plan = plan_of(tmp_path)
    assert variables_at(plan, Position(0, 12), None).shell == ("/bin/sh", "-ec")
    later = variables_at(plan, Position(1, 2), None)
    assert later.shell == ("/bin/sh", "-ec")
    assert later.base_stage == "build"


def test_docker_format_shell_wins(tmp_path: Path) -> None:
    inspect = {"Docker": {"config": {"Shell": ["/bin/bash", "-c"]}}}
    variables = variables_at(plan_of(tmp_path), Position(0, 2), image_config(inspect))
    assert variables.shell == ("/bin/bash", "-c")


def test_json_form(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, {"VERSION": "2.0"})
    data = variables_at(plan, Position(0, 6), {"Env": ["A=1"]}).to_dict()
    assert data["args"]["VERSION"] == {
        "value": "2.0",
        "source": "--build-arg",
        "line": 5,
    }
    assert data["env"] == {"A": "1"}
    assert data["shell"] == ["/bin/sh", "-c"]
    assert set(data) == {
        "args", "env", "workdir", "user", "shell", "base", "base_stage"
    }  # fmt: skip
