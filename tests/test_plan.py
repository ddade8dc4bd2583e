"""Parsing, validation and graph rendering of Containerfiles, without buildah."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.breakpoints import Breakpoint, Position, is_build_end, next_position
from engine.errors import ContainerfileError, UsageError
from engine.graph import graph_data, render
from engine.plan import Plan, find_containerfile, load_plan, one_typo_apart
from engine.variables import expand

MULTISTAGE = """\
# A comment and a global ARG come before the first stage.
ARG BASE=localhost/busybox

FROM ${BASE} AS build
RUN echo one > /one.txt \\
 && echo two > /two.txt
COPY --chown=1:1 a.txt /a.txt

FROM localhost/busybox AS unused
RUN echo never

FROM build AS test
RUN --mount=type=bind,from=unused,target=/mnt ls /mnt

FROM localhost/busybox
COPY --from=build /one.txt /one.txt
ADD --from=0 /two.txt /two.txt
"""


def write(tmp_path: Path, text: str | bytes, name: str = "Containerfile") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def plan_of(tmp_path: Path, text: str, **options: object) -> Plan:
    return load_plan(write(tmp_path, text), **options)  # type: ignore[arg-type]


def rejection(tmp_path: Path, text: str | bytes, **options: object) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ContainerfileError) as caught:
        load_plan(path, **options)  # type: ignore[arg-type]
    return caught.value.message


@pytest.fixture
def multistage(tmp_path: Path) -> Plan:
    return plan_of(tmp_path, MULTISTAGE)


# Stages and instructions


def test_stage_count(multistage: Plan) -> None:
    assert len(multistage.stages) == 4


def test_stage_names(multistage: Plan) -> None:
    assert [s.name for s in multistage.stages] == ["build", "unused", "test", None]


def test_stage_bases(multistage: Plan) -> None:
    bases = [s.base for s in multistage.stages]
    assert bases == [
        "localhost/busybox",
        "localhost/busybox",
        "build",
        "localhost/busybox",
    ]


def test_stage_base_stage(multistage: Plan) -> None:
    assert [s.base_stage for s in multistage.stages] == [None, None, 0, None]


def test_stage_first_lines(multistage: Plan) -> None:
    assert [s.first_line for s in multistage.stages] == [4, 9, 12, 15]


def test_stage_last_lines(multistage: Plan) -> None:
    assert [s.last_line for s in multistage.stages] == [7, 10, 13, 17]


def test_stage_label(multistage: Plan) -> None:
    assert [s.label for s in multistage.stages] == ["build", "unused", "test", "3"]


def test_global_args(multistage: Plan) -> None:
    assert [a.arguments for a in multistage.global_args] == [
        ("BASE=localhost/busybox",)
    ]


def test_steps_count_from_one(multistage: Plan) -> None:
    assert [i.step for i in multistage.stages[0].instructions] == [1, 2, 3]


def test_step_keywords(multistage: Plan) -> None:
    assert [i.keyword for i in multistage.stages[0].instructions] == [
        "FROM",
        "RUN",
        "COPY",
    ]


def test_instruction_stage(multistage: Plan) -> None:
    assert {i.stage for i in multistage.stages[2].instructions} == {2}


def test_continuation_lines(multistage: Plan) -> None:
    run = multistage.instruction(0, 2)
    assert run is not None
    assert (run.first_line, run.last_line) == (5, 6)


def test_continuation_original(multistage: Plan) -> None:
    run = multistage.instruction(0, 2)
    assert run is not None
    assert run.original == "RUN echo one > /one.txt  && echo two > /two.txt"


def test_flags(multistage: Plan) -> None:
    copy = multistage.instruction(0, 3)
    assert copy is not None
    assert copy.flags == ("--chown=1:1",)


def test_flag_value(multistage: Plan) -> None:
    copy = multistage.instruction(0, 3)
    assert copy is not None
    assert copy.flag("chown") == "1:1"


def test_flag_absent(multistage: Plan) -> None:
    copy = multistage.instruction(0, 3)
    assert copy is not None
    assert copy.flag("from") is None


def test_arguments(multistage: Plan) -> None:
    copy = multistage.instruction(0, 3)
    assert copy is not None
    assert copy.arguments == ("a.txt", "/a.txt")


def test_mount_sources(multistage: Plan) -> None:
    run = multistage.instruction(2, 2)
    assert run is not None
    assert run.mount_sources() == ["unused"]


def test_instruction_past_end(multistage: Plan) -> None:
    assert multistage.instruction(0, 4) is None


def test_instruction_at_continuation(multistage: Plan) -> None:
    assert multistage.instruction_at_line(6) == multistage.instruction(0, 2)


def test_instruction_at_blank_line(multistage: Plan) -> None:
    assert multistage.instruction_at_line(8) is None


def test_json_form_arguments(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, 'FROM scratch\nCMD ["/bin/sh", "-c", "true"]\n')
    assert plan.stages[0].instructions[1].arguments == ("/bin/sh", "-c", "true")


def test_lowercase_keyword(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, "from scratch as low\nrun true\n")
    assert [i.keyword for i in plan.stages[0].instructions] == ["FROM", "RUN"]


def test_lowercase_as(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, "FROM scratch as low\n")
    assert plan.stages[0].name == "low"


HEREDOC = """\
FROM localhost/busybox
RUN <<EOF
echo from a heredoc
EOF
COPY <<-NOTE /note.txt
	hello
	NOTE
RUN true
"""


def test_heredoc_lines(tmp_path: Path) -> None:
    run = plan_of(tmp_path, HEREDOC).instruction(0, 2)
    assert run is not None
    assert (run.first_line, run.last_line) == (2, 4)


def test_heredoc_name(tmp_path: Path) -> None:
    run = plan_of(tmp_path, HEREDOC).instruction(0, 2)
    assert run is not None
    assert [h.name for h in run.heredocs] == ["EOF"]


def test_heredoc_content(tmp_path: Path) -> None:
    run = plan_of(tmp_path, HEREDOC).instruction(0, 2)
    assert run is not None
    assert run.heredocs[0].content == "echo from a heredoc\n"


def test_heredoc_text(tmp_path: Path) -> None:
    run = plan_of(tmp_path, HEREDOC).instruction(0, 2)
    assert run is not None
    assert run.text == "RUN <<EOF"


def test_heredoc_copy_lines(tmp_path: Path) -> None:
    copy = plan_of(tmp_path, HEREDOC).instruction(0, 3)
    assert copy is not None
    assert (copy.first_line, copy.last_line) == (5, 7)


def test_after_heredoc_step(tmp_path: Path) -> None:
    run = plan_of(tmp_path, HEREDOC).instruction(0, 4)
    assert run is not None
    assert run.first_line == 8


def test_escape_directive(tmp_path: Path) -> None:
    text = "# escape=`\nFROM scratch\nRUN echo a `\n  b\n"
    run = plan_of(tmp_path, text).instruction(0, 2)
    assert run is not None
    assert (run.first_line, run.last_line) == (3, 4)


def test_crlf_lines(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, "FROM scratch\r\n\r\nCOPY a /a\r\n")
    assert plan.stages[0].last_line == 3


# ARG resolution in FROM


def test_arg_default(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, "ARG IMAGE=one\nFROM $IMAGE\n")
    assert plan.stages[0].base == "one"


def test_arg_braces(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, "ARG TAG=1.0\nFROM img:${TAG}\n")
    assert plan.stages[0].base == "img:1.0"


def test_arg_fallback_unset(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, "ARG IMAGE\nFROM ${IMAGE:-fallback}\n")
    assert plan.stages[0].base == "fallback"


def test_arg_fallback_empty(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, "ARG IMAGE=\nFROM ${IMAGE:-fallback}\n")
    assert plan.stages[0].base == "fallback"


def test_arg_fallback_set(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, "ARG IMAGE=set\nFROM ${IMAGE:-fallback}\n")
    assert plan.stages[0].base == "set"


def test_arg_alternative_set(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, "ARG DEBUG=1\nFROM img${DEBUG:+-debug}\n")
    assert plan.stages[0].base == "img-debug"


def test_arg_alternative_unset(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, "ARG DEBUG\nFROM img${DEBUG:+-debug}\n")
    assert plan.stages[0].base == "img"


def test_build_arg_overrides_default(tmp_path: Path) -> None:
    plan = plan_of(
        tmp_path, "ARG IMAGE=one\nFROM $IMAGE\n", build_args={"IMAGE": "two"}
    )
    assert plan.stages[0].base == "two"


def test_build_arg_sets_declared(tmp_path: Path) -> None:
    text = "ARG IMAGE\nFROM ${IMAGE:-fallback}\n"
    plan = plan_of(tmp_path, text, build_args={"IMAGE": "given"})
    assert plan.stages[0].base == "given"


def test_build_arg_needs_declaration(tmp_path: Path) -> None:
    text = "FROM ${IMAGE:-fallback}\n"
    plan = plan_of(tmp_path, text, build_args={"IMAGE": "given"})
    assert plan.stages[0].base == "fallback"


def test_build_arg_enables_alternative(tmp_path: Path) -> None:
    text = "ARG DEBUG\nFROM img${DEBUG:+-debug}\n"
    plan = plan_of(tmp_path, text, build_args={"DEBUG": "yes"})
    assert plan.stages[0].base == "img-debug"


def test_arg_uses_earlier_arg(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, "ARG A=img\nARG B=${A}:2\nFROM $B\n")
    assert plan.stages[0].base == "img:2"


def test_arg_quoted_default(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, 'ARG IMAGE="localhost/busybox"\nFROM ${IMAGE}\n')
    assert plan.stages[0].base == "localhost/busybox"


def test_arg_quoted_stage(tmp_path: Path) -> None:
    text = "ARG S='first'\nFROM scratch AS first\nFROM ${S}\n"
    plan = plan_of(tmp_path, text)
    assert plan.stages[1].base_stage == 0


def test_arg_in_stage_not_global(tmp_path: Path) -> None:
    text = "FROM scratch AS one\nARG IMAGE=inner\nFROM ${IMAGE:-outer}\n"
    plan = plan_of(tmp_path, text)
    assert plan.stages[1].base == "outer"


def test_platform_arg(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, "FROM img-${TARGETOS}\n")
    assert plan.stages[0].base == "img-linux"


# Graph edges


def test_edges(multistage: Plan) -> None:
    edges = {(e.source, e.target, e.kind, e.line) for e in multistage.edges}
    assert edges == {
        (0, 2, "from", 12),
        (1, 2, "mount", 13),
        (0, 3, "copy", 16),
        (0, 3, "copy", 17),
    }


def test_edge_copy_by_name(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, "FROM scratch AS a\nFROM scratch\nCOPY --from=a /x /x\n")
    assert [(e.source, e.target, e.kind) for e in plan.edges] == [(0, 1, "copy")]


def test_edge_copy_by_index(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, "FROM scratch AS a\nFROM scratch\nCOPY --from=0 /x /x\n")
    assert [(e.source, e.target, e.kind) for e in plan.edges] == [(0, 1, "copy")]


def test_edge_add_by_name(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, "FROM scratch AS a\nFROM scratch\nADD --from=a /x /x\n")
    assert [(e.source, e.target, e.kind) for e in plan.edges] == [(0, 1, "copy")]


def test_edge_mount(tmp_path: Path) -> None:
    text = "FROM scratch AS a\nFROM img\nRUN --mount=type=cache,from=a,target=/c true\n"
    plan = plan_of(tmp_path, text)
    assert [(e.source, e.target, e.kind, e.line) for e in plan.edges] == [
        (0, 1, "mount", 3)
    ]


def test_copy_from_image(tmp_path: Path) -> None:
    text = "FROM scratch AS a\nFROM scratch\nCOPY --from=docker.io/library/img /x /x\n"
    assert plan_of(tmp_path, text).edges == ()


def test_mount_without_from(tmp_path: Path) -> None:
    text = "FROM scratch AS a\nFROM img\nRUN --mount=type=tmpfs,target=/t true\n"
    assert plan_of(tmp_path, text).edges == ()


# Needed stages and --target


def test_needed_default(multistage: Plan) -> None:
    assert [s.needed for s in multistage.stages] == [True, False, False, True]


def test_default_target(multistage: Plan) -> None:
    assert multistage.target == 3


def test_build_order(multistage: Plan) -> None:
    assert multistage.build_order == [0, 3]


def test_needed_with_target(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, MULTISTAGE, target="test")
    assert [s.needed for s in plan.stages] == [True, True, True, False]


def test_target_index(tmp_path: Path) -> None:
    assert plan_of(tmp_path, MULTISTAGE, target="test").target == 2


def test_target_first_stage(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, MULTISTAGE, target="build")
    assert plan.build_order == [0]


def test_target_unknown(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        plan_of(tmp_path, MULTISTAGE, target="nosuch")
    assert "'nosuch' names no stage" in caught.value.message


def test_needed_transitive(tmp_path: Path) -> None:
    text = (
        "FROM scratch AS a\nFROM a AS b\nFROM scratch AS c\n"
        "FROM scratch\nCOPY --from=b / /\n"
    )
    plan = plan_of(tmp_path, text)
    assert [s.needed for s in plan.stages] == [True, True, False, True]


# Renderers


def test_json_shape(multistage: Plan) -> None:
    data = json.loads(render(multistage, "json"))
    assert set(data) == {"stages", "edges"}


def test_json_stage_keys(multistage: Plan) -> None:
    data = json.loads(render(multistage, "json"))
    keys = {"index", "name", "base", "base_stage", "first_line", "last_line", "needed"}
    assert all(set(stage) == keys for stage in data["stages"])


def test_json_edge_keys(multistage: Plan) -> None:
    data = json.loads(render(multistage, "json"))
    assert all(set(edge) == {"from", "to", "kind", "line"} for edge in data["edges"])


def test_json_stage_values(multistage: Plan) -> None:
    stage = graph_data(multistage)["stages"][2]
    assert stage == {
        "index": 2,
        "name": "test",
        "base": "build",
        "base_stage": 0,
        "first_line": 12,
        "last_line": 13,
        "needed": False,
    }


def test_json_edge_values(multistage: Plan) -> None:
    assert graph_data(multistage)["edges"][0] == {
        "from": 0,
        "to": 2,
        "kind": "from",
        "line": 12,
    }


def test_dot_header(multistage: Plan) -> None:
    assert render(multistage, "dot").startswith("digraph stages {\n")


def test_dot_footer(multistage: Plan) -> None:
    assert render(multistage, "dot").endswith("\n}")


def test_dot_node(multistage: Plan) -> None:
    assert '  s0 [label="build (FROM localhost/busybox)"];' in render(multistage, "dot")


def test_dot_unneeded_node(multistage: Plan) -> None:
    expected = '  s1 [label="unused (FROM localhost/busybox)", style=dotted];'
    assert expected in render(multistage, "dot")


def test_dot_edge(multistage: Plan) -> None:
    expected = '  s0 -> s3 [label="copy (line 16)", style=bold];'
    assert expected in render(multistage, "dot")


def test_dot_mount_edge(multistage: Plan) -> None:
    expected = '  s1 -> s2 [label="mount (line 13)", style=dashed];'
    assert expected in render(multistage, "dot")


def test_mermaid_header(multistage: Plan) -> None:
    assert render(multistage, "mermaid").splitlines()[0] == "flowchart LR"


def test_mermaid_node(multistage: Plan) -> None:
    assert '  s3["stage 3 (FROM localhost/busybox)"]' in render(multistage, "mermaid")


def test_mermaid_edges(multistage: Plan) -> None:
    lines = render(multistage, "mermaid").splitlines()
    assert [line for line in lines if "|" in line] == [
        "  s0 -->|from line 12| s2",
        "  s1 -.->|mount line 13| s2",
        "  s0 ==>|copy line 16| s3",
        "  s0 ==>|copy line 17| s3",
    ]


def test_mermaid_unneeded(multistage: Plan) -> None:
    lines = render(multistage, "mermaid").splitlines()
    assert [line for line in lines if line.startswith("  style")] == [
        "  style s1 stroke-dasharray: 5 5",
        "  style s2 stroke-dasharray: 5 5",
    ]


def test_text_stage_line(multistage: Plan) -> None:
    lines = render(multistage, "text").splitlines()
    assert lines[0] == "0: build (FROM localhost/busybox)  lines 4-7, 3 steps"


def test_text_target_line(multistage: Plan) -> None:
    lines = render(multistage, "text").splitlines()
    assert (
        "3: stage 3 (FROM localhost/busybox)  lines 15-17, 3 steps  [target]" in lines
    )


def test_text_unneeded(multistage: Plan) -> None:
    lines = render(multistage, "text").splitlines()
    assert lines[2].endswith("[not needed, skipped by buildah]")


def test_text_edge(multistage: Plan) -> None:
    lines = render(multistage, "text").splitlines()
    assert "    <- build (copy, line 16)" in lines


# Truncation


def test_truncated_before_step(multistage: Plan) -> None:
    assert multistage.truncated_text(0, 3) == "".join(MULTISTAGE.splitlines(True)[:6])


def test_truncated_after_from(multistage: Plan) -> None:
    assert multistage.truncated_text(3, 2) == "".join(MULTISTAGE.splitlines(True)[:15])


def test_truncated_end_of_stage(multistage: Plan) -> None:
    assert multistage.truncated_text(0, 4) == "".join(MULTISTAGE.splitlines(True)[:8])


def test_truncated_end_of_last(multistage: Plan) -> None:
    assert multistage.truncated_text(3, 4) == MULTISTAGE


def test_truncated_is_prefix(multistage: Plan) -> None:
    assert MULTISTAGE.startswith(multistage.truncated_text(2, 2))


def test_truncated_keeps_whitespace(tmp_path: Path) -> None:
    text = "FROM scratch\n  RUN   echo   a  \\\n\t  b   \n# note\nRUN true\n"
    plan = plan_of(tmp_path, text)
    assert plan.truncated_text(0, 3) == text[: text.index("RUN true")]


def test_truncated_keeps_crlf(tmp_path: Path) -> None:
    text = "FROM scratch\r\nRUN a\r\nRUN b\r\n"
    assert plan_of(tmp_path, text).truncated_text(0, 3) == "FROM scratch\r\nRUN a\r\n"


def test_truncated_form_feed(tmp_path: Path) -> None:
    text = "FROM scratch\nRUN printf 'a\fb'\nRUN one\nRUN two\n"
    plan = plan_of(tmp_path, text)
    assert plan.truncated_text(0, 4) == "FROM scratch\nRUN printf 'a\fb'\nRUN one\n"


def test_truncated_keeps_heredoc(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, HEREDOC)
    assert plan.truncated_text(0, 3) == HEREDOC[: HEREDOC.index("COPY")]


# Rejections


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("", 1, "no instructions"),
        ("# only\n\n# comments\n", 1, "no instructions"),
        ("ARG A=1\nARG B=2\n", 2, "no FROM instruction"),
        ("ARG A=1\nRUN true\nFROM scratch\n", 2, "RUN before the first FROM"),
        ("FROM scratch\nFROM\n", 2, "FROM without an image"),
        ("FROM scratch\nFROM --platform=linux/amd64\n", 2, "FROM without an image"),
        ("FROM scratch AS a b\n", 1, "invalid FROM"),
        ("ARG E=\nFROM ${E}\n", 2, "expands to an empty image name"),
        ("FROM scratch\n\nFROOM x\n", 3, "unknown instruction 'FROOM'"),
        (
            "FROM scratch AS a\nRUN true\nFROM scratch AS a\n",
            3,
            "already used on line 1",
        ),
        ("FROM scratch AS a\nFROM scratch\nCOPY --from=1 / /\n", 3, "no stage 1"),
        ("FROM scratch\nCOPY --from=0 / /\n", 2, "no stage 0"),
        ("FROM scratch AS a\nFROM scratch\nRUN --mount=from=4 true\n", 3, "no stage 4"),
        (
            "FROM scratch AS build\nFROM scratch\nCOPY --from=Build / /\n",
            3,
            "letter case",
        ),
        ("FROM scratch AS build\nFROM Build\n", 2, "letter case"),
    ],
)
def test_rejected(tmp_path: Path, text: str, line: int, words: str) -> None:
    message = rejection(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'Containerfile'}:{line}: ")
    assert words in message


def test_rejected_one_line(tmp_path: Path) -> None:
    assert "\n" not in rejection(tmp_path, "FROM scratch\nFROOM x\n")


TYPO = "FROM scratch AS builder\nFROM scratch\nCOPY --from={} / /\n"


@pytest.mark.parametrize(
    "reference", ["buildr", "builders", "buidler", "bulider", "xuilder"]
)
def test_typo_rejected(tmp_path: Path, reference: str) -> None:
    message = rejection(
        tmp_path, TYPO.format(reference), image_exists=lambda name: False
    )
    assert message.startswith(f"{tmp_path / 'Containerfile'}:3: ")
    assert "did you mean stage 'builder'" in message


def test_typo_without_lookup(tmp_path: Path) -> None:
    message = rejection(tmp_path, TYPO.format("buidler"))
    assert "did you mean stage 'builder'" in message


def test_typo_local_image(tmp_path: Path) -> None:
    plan = plan_of(
        tmp_path, TYPO.format("buidler"), image_exists=lambda n: n == "buidler"
    )
    assert plan.edges == ()


def test_typo_lookup_name(tmp_path: Path) -> None:
    requested: list[str] = []

    def image_exists(name: str) -> bool:
        requested.append(name)
        return True

    plan_of(tmp_path, TYPO.format("buidler"), image_exists=image_exists)
    assert requested == ["buidler"]


def test_two_typos_accepted(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, TYPO.format("bxidlxr"), image_exists=lambda name: False)
    assert plan.edges == ()


def test_typo_in_mount(tmp_path: Path) -> None:
    text = (
        "FROM scratch AS builder\nFROM img\nRUN --mount=from=buidler,target=/b true\n"
    )
    message = rejection(tmp_path, text, image_exists=lambda name: False)
    assert message.startswith(f"{tmp_path / 'Containerfile'}:3: ")


def test_typo_in_from(tmp_path: Path) -> None:
    text = "FROM scratch AS builder\nFROM buidler\n"
    message = rejection(tmp_path, text, image_exists=lambda name: False)
    assert message.startswith(f"{tmp_path / 'Containerfile'}:2: ")


def test_typo_in_from_image(tmp_path: Path) -> None:
    text = "FROM scratch AS builder\nFROM buidler\n"
    assert (
        plan_of(tmp_path, text, image_exists=lambda name: True).stages[1].base_stage
        is None
    )


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("build", "build", False),
        ("build", "buld", True),
        ("build", "builds", True),
        ("build", "bxild", True),
        ("build", "biuld", True),
        ("build", "dliub", False),
        ("build", "bilud", False),
        ("build", "bu", False),
        ("ab", "ba", True),
    ],
)
def test_one_typo_apart(a: str, b: str, expected: bool) -> None:
    assert one_typo_apart(a, b) is expected


def test_binary_rejected(tmp_path: Path) -> None:
    message = rejection(tmp_path, b"FROM scratch\nRUN true\n\x89PNG\x00\x01\x02")
    assert message.startswith(f"{tmp_path / 'Containerfile'}:3: ")
    assert "not a text file" in message


def test_binary_first_line(tmp_path: Path) -> None:
    message = rejection(tmp_path, b"\x00\x00\x00\x18ftypmp42\n")
    assert message.startswith(f"{tmp_path / 'Containerfile'}:1: ")


def test_latin1_rejected(tmp_path: Path) -> None:
    message = rejection(tmp_path, "FROM scratch\n\n# caf\xe9\n".encode("latin-1"))
    assert message.startswith(f"{tmp_path / 'Containerfile'}:3: ")
    assert "not UTF-8" in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ContainerfileError) as caught:
        load_plan(tmp_path / "absent")
    assert "cannot read" in caught.value.message


def test_utf8_accepted(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, '# caf\xe9 \u2603\nFROM scratch\nLABEL note="\xe9t\xe9"\n')
    assert plan.stages[0].step_count == 2


# Finding the Containerfile


def test_find_containerfile(tmp_path: Path) -> None:
    write(tmp_path, "FROM scratch\n")
    write(tmp_path, "FROM scratch\n", name="Dockerfile")
    assert find_containerfile(tmp_path, None) == tmp_path / "Containerfile"


def test_find_dockerfile(tmp_path: Path) -> None:
    write(tmp_path, "FROM scratch\n", name="Dockerfile")
    assert find_containerfile(tmp_path, None) == tmp_path / "Dockerfile"


def test_find_none(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        find_containerfile(tmp_path, None)


def test_find_file_option(tmp_path: Path) -> None:
    path = write(tmp_path, "FROM scratch\n", name="Other")
    assert find_containerfile(tmp_path / "elsewhere", str(path)) == path


def test_find_file_in_context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    context = tmp_path / "context"
    context.mkdir()
    write(context, "FROM scratch\n", name="Dev.containerfile")
    monkeypatch.chdir(tmp_path)
    found = find_containerfile(context, "Dev.containerfile")
    assert found == context / "Dev.containerfile"


def test_find_file_missing(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        find_containerfile(tmp_path, "Absent")
    assert "Absent: Containerfile not found" in caught.value.message


# Variable expansion


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$SET", "value"),
        ("${SET}", "value"),
        ("a${SET}b", "avalueb"),
        ("$UNSET", ""),
        ("${UNSET}", ""),
        ("${UNSET:-default}", "default"),
        ("${EMPTY:-default}", "default"),
        ("${SET:-default}", "value"),
        ("${UNSET-default}", "default"),
        ("${EMPTY-default}", ""),
        ("${SET:+alt}", "alt"),
        ("${EMPTY:+alt}", ""),
        ("${UNSET:+alt}", ""),
        ("${EMPTY+alt}", "alt"),
        ("${UNSET+alt}", ""),
        ("${UNSET:-${SET}}", "value"),
        ("${UNSET:-${ALSO:-deep}}", "deep"),
        ("${SET:+${SET}-x}", "value-x"),
        ("\\$SET", "$SET"),
        ("$", "$"),
        ("a$-b", "a$-b"),
        ("${SET", "${SET"),
        ("$SET.tar", "value.tar"),
        ("$SET_x", ""),
        ('"$SET"', "value"),
        ("'$SET'", "$SET"),
        ('"a b"', "a b"),
        ('"it\'s"', "it's"),
        ("no refs", "no refs"),
    ],
)
def test_expand(text: str, expected: str) -> None:
    assert expand(text, {"SET": "value", "EMPTY": ""}) == expected


# Breakpoints


@pytest.mark.parametrize(
    ("spec", "position"),
    [
        ("build", (0, 2)),
        ("3:2", (3, 2)),
        ("build:3", (0, 3)),
        ("build:2", (0, 2)),
        ("build:end", (0, 4)),
        ("build:4", (0, 4)),
        ("test:end", (2, 3)),
        ("0:3", (0, 3)),
        ("4", (0, 2)),
        ("5", (0, 2)),
        ("6", (0, 2)),
        ("7", (0, 3)),
        ("16", (3, 2)),
        ("17", (3, 3)),
        (" build:3 ", (0, 3)),
    ],
)
def test_breakpoint(multistage: Plan, spec: str, position: tuple[int, int]) -> None:
    assert Breakpoint(spec).resolve(multistage) == Position(*position)


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("nosuch", "no stage 'nosuch'"),
        ("nosuch:2", "no stage 'nosuch'"),
        ("", "no stage ''"),
        ("build:1", "step must be 2 to 4"),
        ("build:5", "step must be 2 to 4"),
        ("build:0", "step must be 2 to 4"),
        ("build:x", "step must be 2 to 4"),
        ("build:", "step must be 2 to 4"),
        ("1", "is not an instruction"),
        ("8", "is not an instruction"),
        ("99", "is not an instruction"),
        ("0", "is not an instruction"),
    ],
)
def test_breakpoint_rejected(multistage: Plan, spec: str, words: str) -> None:
    with pytest.raises(UsageError) as caught:
        Breakpoint(spec).resolve(multistage)
    assert words in caught.value.message


def test_breakpoint_global_arg(multistage: Plan) -> None:
    with pytest.raises(UsageError):
        Breakpoint("2").resolve(multistage)


def test_next_from_start(multistage: Plan) -> None:
    assert next_position(multistage, None) == Position(0, 2)


def test_next_in_stage(multistage: Plan) -> None:
    assert next_position(multistage, Position(0, 2)) == Position(0, 3)


def test_next_to_stage_end(multistage: Plan) -> None:
    assert next_position(multistage, Position(0, 3)) == Position(0, 4)


def test_next_skips_unneeded(multistage: Plan) -> None:
    assert next_position(multistage, Position(0, 4)) == Position(3, 2)


def test_next_at_build_end(multistage: Plan) -> None:
    assert next_position(multistage, Position(3, 4)) is None


def test_next_with_target(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, MULTISTAGE, target="test")
    assert next_position(plan, Position(1, 3)) == Position(2, 2)


def test_build_end(multistage: Plan) -> None:
    assert is_build_end(multistage, Position(3, 4))


def test_not_build_end(multistage: Plan) -> None:
    assert not is_build_end(multistage, Position(0, 4))


# Instructions missing their arguments, and parse errors without a line number

MISSING_ARGUMENTS = [
    ("FROM busybox\nCOPY\n", 2, "COPY needs a destination and at least one source"),
    ("FROM busybox\nCOPY only-one\n", 2, "COPY needs a destination"),
    ("FROM busybox\nADD x\n", 2, "ADD needs a destination"),
    ("FROM busybox\nRUN echo\nRUN\n", 3, "RUN needs an argument"),
    ("FROM busybox\nWORKDIR\n", 2, "WORKDIR needs an argument"),
    ("FROM busybox\nLABEL\n", 2, "LABEL needs an argument"),
]


@pytest.mark.parametrize(("text", "line", "message"), MISSING_ARGUMENTS)
def test_missing_arguments_rejected(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    error = rejection(tmp_path, text)

    assert f"Containerfile:{line}:" in error
    assert message in error


def test_copy_heredoc_needs_destination_only(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, "FROM busybox\nCOPY <<EOF /x\nhi\nEOF\n")

    assert plan.stages[0].instructions[1].keyword == "COPY"


def test_parse_error_line_found(tmp_path: Path) -> None:
    error = rejection(tmp_path, "FROM busybox\nRUN true\nENV X\nRUN x\n")

    assert "Containerfile:3:" in error
    assert "ENV must have two arguments" in error


def test_unterminated_heredoc_line_found(tmp_path: Path) -> None:
    error = rejection(tmp_path, "FROM busybox\nRUN true\nRUN <<EOF\necho\n")

    assert "Containerfile:3:" in error
