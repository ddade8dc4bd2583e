"""Commands typed in a shell at a pause, turned into a RUN and written."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.breakpoints import Breakpoint, Position
from engine.errors import StagescopeError
from engine.plan import Plan, load_plan
from engine.runner import BuildRequest, BuildSession
from engine.shellfix import (
    BACKUP_SUFFIX,
    apply_fix,
    escape_character,
    propose_fix,
    resume_with_fix,
    run_instruction,
    useful_commands,
)

CONTAINERFILE = """\
FROM localhost/busybox AS build
RUN echo one
RUN echo two \\
    three

FROM localhost/busybox
COPY --from=build /etc/hostname /x
"""


def plan_of(tmp_path: Path, text: str = CONTAINERFILE) -> Plan:
    path = tmp_path / "Containerfile"
    path.write_bytes(text.encode())
    return load_plan(path)


def test_useful_commands_drop_noise() -> None:
    history = [
        "#1700000000",
        "touch /a",
        "touch /a",
        "",
        "mkdir -p /data",
        "  exit 3",
        "history",
        "echo 'unclosed",
        "touch /a",
    ]
    assert useful_commands(history) == [
        "touch /a",
        "mkdir -p /data",
        "echo 'unclosed",
        "touch /a",
    ]


def test_useful_commands_drop_looking_around() -> None:
    history = [
        "ls -l /data",
        "cat /etc/os-release",
        "pwd",
        "cat /a > /b",
        "ls | wc -l",
        "find / -name x -delete; true",
        "cd /src",
    ]
    assert useful_commands(history) == [
        "cat /a > /b",
        "ls | wc -l",
        "find / -name x -delete; true",
        "cd /src",
    ]


def test_run_instruction_joins_with_and() -> None:
    assert run_instruction(["a"]) == "RUN a"
    assert run_instruction(["a", "b c"]) == "RUN a \\\n && b c"
    assert run_instruction(["a", "b"], "`") == "RUN a `\n && b"
    with pytest.raises(ValueError):
        run_instruction([])


def test_escape_directive() -> None:
    assert escape_character("# escape=`\nFROM x\n") == "`"
    assert escape_character("# syntax=x\n#escape = `\nFROM x\n") == "`"
    assert escape_character("FROM x\n# escape=`\n") == "\\"


def test_fix_goes_before_the_paused_step(tmp_path: Path) -> None:
    plan = plan_of(tmp_path)
    fix = propose_fix(plan, Position(0, 3), ["mkdir /data", "touch /data/x"])
    assert fix.line == 3
    assert fix.new_text.splitlines()[1:5] == [
        "RUN echo one",
        "RUN mkdir /data \\",
        " && touch /data/x",
        "RUN echo two \\",
    ]
    assert load_plan_text(tmp_path, fix.new_text).stages[0].step_count == 4
    assert "+RUN mkdir /data \\\n+ && touch /data/x\n" in fix.diff
    assert fix.diff.startswith("---")


def load_plan_text(tmp_path: Path, text: str) -> Plan:
    other = tmp_path / "other"
    other.mkdir(exist_ok=True)
    return plan_of(other, text)


def test_fix_at_the_end_of_a_stage(tmp_path: Path) -> None:
    plan = plan_of(tmp_path)
    fix = propose_fix(plan, Position(0, 4), ["true"])
    assert fix.line == 5
    lines = fix.new_text.splitlines()
    assert lines[3:6] == ["    three", "RUN true", ""]


def test_fix_after_unterminated_last_line(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, "FROM localhost/busybox\r\nRUN a")
    fix = propose_fix(plan, Position(0, 3), ["b"])
    assert fix.new_text == "FROM localhost/busybox\r\nRUN a\r\nRUN b"


def test_edited_instruction_replaces_the_commands(tmp_path: Path) -> None:
    plan = plan_of(tmp_path)
    fix = propose_fix(plan, Position(0, 2), ["ignored"], "RUN edited")
    assert fix.new_text.splitlines()[1] == "RUN edited"


def test_apply_backs_up_and_refuses_a_changed_file(tmp_path: Path) -> None:
    plan = plan_of(tmp_path)
    path = plan.path
    path.chmod(0o640)
    fix = propose_fix(plan, Position(0, 2), ["true"])
    backup = apply_fix(fix)
    assert backup == tmp_path / f"Containerfile{BACKUP_SUFFIX}"
    assert backup.read_text() == CONTAINERFILE
    assert path.read_text() == fix.new_text
    assert path.stat().st_mode & 0o777 == 0o640
    with pytest.raises(StagescopeError, match="changed since"):
        apply_fix(fix)
    second = apply_fix(propose_fix(load_plan(path), Position(0, 2), ["false"]))
    assert second.name == f"Containerfile{BACKUP_SUFFIX}.1"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_apply_rejects_an_invalid_edit(tmp_path: Path) -> None:
    plan = plan_of(tmp_path)
    fix = propose_fix(plan, Position(0, 2), [], "BOGUS thing")
    with pytest.raises(StagescopeError) as error:
        apply_fix(fix)
    assert error.value.message.startswith(f"the fix is not valid: {plan.path}:2:")
    assert plan.path.read_text() == CONTAINERFILE
    assert list(tmp_path.iterdir()) == [plan.path]


def test_resume_with_fix_keeps_breakpoints_on_their_instructions(
    tmp_path: Path,
) -> None:
    plan = plan_of(tmp_path)
    request = BuildRequest(context=tmp_path, containerfile=plan.path)
    breakpoints = [Breakpoint("build:3"), Breakpoint("3"), Breakpoint("build:end")]
    session = BuildSession(request, plan, breakpoints)
    session.position = Position(0, 3)
    session.step_images[Position(0, 2)] = "image"
    apply_fix(propose_fix(plan, Position(0, 3), ["a", "b"]))
    assert resume_with_fix(session) == []
    assert [b.spec for b in session.breakpoints] == ["build:4", "5", "build:end"]
    assert session.resolved_breakpoints() == [
        Position(0, 4),
        Position(0, 4),
        Position(0, 5),
    ]
    inserted = session.plan.instruction(0, 3)
    assert inserted is not None
    assert inserted.text == "RUN a  && b"
    assert session.step_images == {}
