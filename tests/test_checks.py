"""Pre-flight checks: each rule on a Containerfile that triggers it, and one that
does not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine import cli
from engine.checks import Finding, check_file, check_text, has_errors
from engine.toolchains import installed_compilers, is_toolchain_image

BUILDAH_1_28 = (1, 28, 2)
NEWEST = (1, 44, 0)


def findings_with(code: str, findings: list[Finding]) -> list[Finding]:
    return [finding for finding in findings if finding.code == code]


def lines_of(code: str, findings: list[Finding]) -> list[int | None]:
    return [finding.line for finding in findings_with(code, findings)]


# The two cases every release must flag


def test_stage_reference_case_differs() -> None:
    text = (
        "FROM busybox AS Tools\n"
        "RUN echo ok\n"
        "FROM busybox\n"
        "COPY --from=tools /bin/sh /sh\n"
    )
    findings = check_text(text, BUILDAH_1_28)

    case = findings_with("stage-name-case", findings)
    assert [finding.line for finding in case] == [4]
    assert case[0].severity == "error"
    assert "'Tools'" in case[0].message
    assert has_errors(findings)


def test_env_from_arg_flagged() -> None:
    text = "FROM busybox\nARG RELEASE=1\nENV RELEASE_TAG=v$RELEASE\n"
    findings = check_text(text, BUILDAH_1_28)

    env = findings_with("env-from-arg", findings)
    assert [finding.line for finding in env] == [3]
    assert env[0].severity == "warning"
    assert "--no-cache" in env[0].message
    assert not has_errors(findings)


# One Containerfile that triggers each rule and one that does not

CASES = [
    # code, severity, line, triggering text, clean text
    (
        "heredoc",
        "error",
        2,
        "FROM busybox\nRUN <<EOF\necho hi\nEOF\n",
        "FROM busybox\nRUN echo hi\n",
    ),
    (
        "copy-parents",
        "error",
        2,
        "FROM busybox\nCOPY --parents a/b.txt /dst/\n",
        "FROM busybox\nCOPY a/b.txt /dst/a/\n",
    ),
    (
        "copy-link",
        "error",
        2,
        "FROM busybox\nCOPY --link a.txt /a.txt\n",
        "FROM busybox\nCOPY a.txt /a.txt\n",
    ),
    (
        "add-git",
        "error",
        2,
        "FROM busybox\nADD https://example.org/tool.git#v1 /src\n",
        "FROM busybox\nADD https://example.org/tool.tar.gz /src\n",
    ),
    (
        "run-network",
        "error",
        2,
        "FROM busybox\nRUN --network=none echo hi\n",
        "FROM busybox\nRUN --mount=type=tmpfs,target=/tmp echo hi\n",
    ),
    (
        "add-checksum",
        "error",
        2,
        "FROM busybox\nADD --checksum=sha256:00 https://example.org/a /a\n",
        "FROM busybox\nADD https://example.org/a /a\n",
    ),
    (
        "shell-oci",
        "warning",
        2,
        'FROM busybox\nSHELL ["/bin/ash", "-c"]\nRUN echo hi\n',
        "FROM busybox\nRUN echo hi\n",
    ),
    (
        "healthcheck-oci",
        "warning",
        2,
        "FROM busybox\nHEALTHCHECK CMD true\n",
        "FROM busybox\nCMD true\n",
    ),
    (
        "onbuild-oci",
        "warning",
        2,
        "FROM busybox\nONBUILD RUN echo child\n",
        "FROM busybox\nRUN echo self\n",
    ),
    (
        "stage-name-duplicate",
        "error",
        3,
        "FROM busybox AS a\nRUN echo 1\nFROM busybox AS a\nRUN echo 2\n",
        "FROM busybox AS a\nRUN echo 1\nFROM busybox AS b\nRUN echo 2\n",
    ),
    (
        "stage-name-case",
        "error",
        3,
        "FROM busybox AS Build\nRUN echo 1\nFROM build\n",
        "FROM busybox AS Build\nRUN echo 1\nFROM Build\n",
    ),
    (
        "stage-index-invalid",
        "error",
        3,
        "FROM busybox\nRUN echo 1\nCOPY --from=1 /a /a\n",
        "FROM busybox\nRUN echo 1\nFROM busybox\nCOPY --from=0 /a /a\n",
    ),
    (
        "env-from-arg",
        "warning",
        3,
        "FROM busybox\nARG V=1\nLABEL version=$V\n",
        "FROM busybox\nARG V=1\nLABEL version=$V\nRUN echo $V > /v\n",
    ),
    (
        "global-arg-not-in-stage",
        "warning",
        3,
        "ARG V=1\nFROM busybox\nRUN echo $V\n",
        "ARG V=1\nFROM busybox\nARG V\nRUN echo $V\n",
    ),
    (
        "stage-arg-in-from",
        "error",
        3,
        "FROM busybox AS a\nARG BASE=busybox\nFROM $BASE\n",
        "ARG BASE=busybox\nFROM busybox AS a\nFROM $BASE\n",
    ),
    (
        "from-arg-undeclared",
        "warning",
        1,
        "FROM busybox:${TAG}\n",
        "ARG TAG=latest\nFROM busybox:${TAG}\n",
    ),
    (
        "stage-unused",
        "info",
        1,
        "FROM busybox AS unused\nRUN echo 1\nFROM busybox\nRUN echo 2\n",
        "FROM busybox AS used\nRUN echo 1\nFROM busybox\nCOPY --from=used /a /a\n",
    ),
    (
        "toolchain-image",
        "info",
        1,
        "FROM golang:1.22\nRUN go build -o /app .\n",
        "FROM golang:1.22 AS build\nRUN go build -o /app .\n"
        "FROM busybox\nCOPY --from=build /app /app\n",
    ),
    (
        "toolchain-install",
        "info",
        2,
        "FROM debian\nRUN apt-get update && apt-get install -y build-essential\n",
        "FROM debian\nRUN apt-get update && apt-get install -y ca-certificates\n",
    ),
    (
        "instruction-unknown",
        "error",
        2,
        "FROM busybox\nRUNN echo hi\n",
        "FROM busybox\nRUN echo hi\n",
    ),
    (
        "instruction-before-from",
        "error",
        1,
        "ENV A=1\nFROM busybox\n",
        "ARG A=1\nFROM busybox\n",
    ),
    (
        "from-missing",
        "error",
        1,
        "ARG A=1\n",
        "ARG A=1\nFROM busybox\n",
    ),
    (
        "from-invalid",
        "error",
        1,
        "FROM busybox builder\n",
        "FROM busybox AS builder\n",
    ),
]


@pytest.mark.parametrize(
    ("code", "severity", "line", "triggering", "clean"),
    CASES,
    ids=[case[0] for case in CASES],
)
def test_rule_triggers_and_stays_quiet(
    code: str, severity: str, line: int, triggering: str, clean: str
) -> None:
    found = findings_with(code, check_text(triggering, BUILDAH_1_28))
    assert [finding.line for finding in found] == [line]
    assert found[0].severity == severity
    assert found[0].message

    assert findings_with(code, check_text(clean, BUILDAH_1_28)) == []


def test_target_unknown() -> None:
    text = "FROM busybox AS build\nFROM busybox AS final\n"
    found = findings_with("target-unknown", check_text(text, NEWEST, target="tests"))
    assert len(found) == 1
    assert found[0].line is None
    assert "build, final" in found[0].message

    assert (
        findings_with("target-unknown", check_text(text, NEWEST, target="build")) == []
    )


def test_target_decides_unused_stages() -> None:
    text = "FROM busybox AS build\nRUN echo 1\nFROM build AS test\nFROM busybox\n"
    default = check_text(text, NEWEST)
    assert lines_of("stage-unused", default) == [1, 3]

    with_target = check_text(text, NEWEST, target="test")
    assert lines_of("stage-unused", with_target) == [4]


def test_parse_error_is_one_finding() -> None:
    findings = check_text('FROM busybox\nENV ["a"]\n', NEWEST)
    assert [finding.code for finding in findings] == ["parse-error"]
    assert findings[0].severity == "error"


# Versions


@pytest.mark.parametrize(
    ("code", "text", "since"),
    [
        ("heredoc", "FROM busybox\nRUN <<EOF\necho hi\nEOF\n", (1, 33, 0)),
        ("copy-parents", "FROM busybox\nCOPY --parents a /b/\n", (1, 40, 0)),
        ("copy-link", "FROM busybox\nCOPY --link a /b\n", (1, 41, 0)),
        ("add-git", "FROM busybox\nADD git@example.org:a/b.git /b\n", (1, 38, 0)),
        ("run-network", "FROM busybox\nRUN --network=host true\n", (1, 30, 0)),
        (
            "add-checksum",
            "FROM busybox\nADD --checksum=sha256:0 http://h/a /a\n",
            (1, 33, 0),
        ),
    ],
)
def test_feature_depends_on_version(
    code: str, text: str, since: tuple[int, int, int]
) -> None:
    older = (since[0], since[1] - 1, 9)
    assert [f.severity for f in findings_with(code, check_text(text, older))] == [
        "error"
    ]
    assert findings_with(code, check_text(text, since)) == []

    unknown = findings_with(code, check_text(text, None))
    assert [finding.severity for finding in unknown] == ["warning"]
    assert "unknown" in unknown[0].message


def test_shell_depends_on_version_and_format() -> None:
    text = 'FROM busybox\nSHELL ["/bin/ash", "-c"]\n'
    assert lines_of("shell-oci", check_text(text, (1, 43, 0))) == [2]
    assert lines_of("shell-oci", check_text(text, None)) == [2]
    assert lines_of("shell-oci", check_text(text, (1, 44, 0))) == []
    docker = check_text(text, BUILDAH_1_28, image_format="docker")
    assert lines_of("shell-oci", docker) == []


def test_oci_format_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "FROM busybox\nHEALTHCHECK CMD true\n"
    monkeypatch.setenv("BUILDAH_FORMAT", "docker")
    assert lines_of("healthcheck-oci", check_text(text, BUILDAH_1_28)) == []
    monkeypatch.setenv("BUILDAH_FORMAT", "oci")
    assert lines_of("healthcheck-oci", check_text(text, BUILDAH_1_28)) == [2]


# Rule details


def test_all_findings_reported_at_once() -> None:
    text = (
        "FROM busybox AS a\n"
        "FROM busybox AS a\n"
        "FROM busybox AS Tools\n"
        "FROM busybox\n"
        "COPY --from=tools /a /a\n"
        "RUN <<EOF\necho hi\nEOF\n"
    )
    codes = {finding.code for finding in check_text(text, BUILDAH_1_28)}
    assert {"stage-name-duplicate", "stage-name-case", "heredoc"} <= codes


def test_stage_arg_in_from_partial_name() -> None:
    text = "FROM busybox AS a\nARG TAG=1\nFROM busybox:$TAG\n"
    found = findings_with("stage-arg-in-from", check_text(text, NEWEST))
    assert [finding.severity for finding in found] == ["warning"]


def test_global_arg_hidden_by_env() -> None:
    text = "ARG V=1\nFROM busybox\nENV V=2\nRUN echo $V\n"
    assert lines_of("global-arg-not-in-stage", check_text(text, NEWEST)) == []


def test_global_arg_in_arg_default() -> None:
    text = "ARG V=1\nFROM busybox\nARG W=$V\n"
    assert lines_of("global-arg-not-in-stage", check_text(text, NEWEST)) == [3]


def test_toolchain_through_base_stage() -> None:
    text = (
        "FROM rust:1.80 AS base\n"
        "RUN apk add --no-cache musl-dev gcc\n"
        "FROM base\n"
        "RUN echo final\n"
    )
    findings = check_text(text, NEWEST)
    assert lines_of("toolchain-image", findings) == [1]
    assert lines_of("toolchain-install", findings) == [2]


def test_toolchain_base_from_global_arg() -> None:
    text = "ARG IMAGE=python:3.12\nFROM ${IMAGE}\n"
    assert lines_of("toolchain-image", check_text(text, NEWEST)) == [2]
    slim = check_text(text, NEWEST, build_args={"IMAGE": "python:3.12-slim"})
    assert lines_of("toolchain-image", slim) == []


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("golang:1.22", True),
        ("docker.io/library/rust", True),
        ("gcc:14", True),
        ("node:20", True),
        ("node:20-slim", False),
        ("python:3.12-alpine", False),
        ("maven:3-eclipse-temurin-21", True),
        ("gradle:8.10-jdk21", True),
        ("openjdk:21-jdk", True),
        ("eclipse-temurin:21-jre", False),
        ("mcr.microsoft.com/dotnet/sdk:8.0", True),
        ("mcr.microsoft.com/dotnet/runtime:8.0", False),
        ("debian:bookworm-slim", False),
        ("localhost/busybox", False),
    ],
)
def test_toolchain_images(reference: str, expected: bool) -> None:
    assert is_toolchain_image(reference) is expected


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("apt-get install -y --no-install-recommends gcc libc6-dev", ["gcc"]),
        ("DEBIAN_FRONTEND=noninteractive apt-get -y install golang-go", ["golang-go"]),
        ("apk add --no-cache build-base", ["build-base"]),
        ("dnf install -y gcc-c++ make && dnf clean all", ["gcc-c++", "make"]),
        ("apt-get install -y openjdk-17-jdk-headless", ["openjdk-17-jdk-headless"]),
        ("apt-get install -y curl ca-certificates", []),
        ("apt-get update", []),
        ("echo install gcc", []),
    ],
)
def test_installed_compilers(command: str, expected: list[str]) -> None:
    assert installed_compilers(command) == expected


# Files and the command line


def test_check_file_reports_plan_errors(tmp_path: Path) -> None:
    containerfile = tmp_path / "Containerfile"
    containerfile.write_text(
        "FROM busybox AS builder\nFROM busybox\nCOPY --from=buidler /a /a\n"
    )
    findings = check_file(containerfile, NEWEST)
    plan_errors = findings_with("plan-invalid", findings)
    assert [finding.line for finding in plan_errors] == [3]
    assert "did you mean stage 'builder'" in plan_errors[0].message


def test_finding_format() -> None:
    finding = Finding("warning", 3, "env-from-arg", "message text")
    assert finding.format("Containerfile") == "Containerfile:3: warning: message text"
    assert Finding("error", None, "c", "m").format("F") == "F: error: m"


def run_check_command(monkeypatch: pytest.MonkeyPatch, arguments: list[str]) -> int:
    monkeypatch.setattr(
        "engine.commands.check.installed_version", lambda buildah: BUILDAH_1_28
    )
    return cli.main(["check", *arguments])


def test_check_command_json(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "Containerfile").write_text(
        "FROM busybox AS Tools\nRUN echo ok\nFROM busybox\nCOPY --from=tools /a /a\n"
    )
    status = run_check_command(monkeypatch, ["--json", str(tmp_path)])
    assert status == 1

    data = json.loads(capsys.readouterr().out)
    assert {"severity": "error", "line": 4, "code": "stage-name-case"}.items() <= (
        data[-1].items()
    )
    for item in data:
        assert set(item) == {"severity", "line", "code", "message"}


def test_check_command_text(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    containerfile = tmp_path / "Build.containerfile"
    containerfile.write_text("FROM busybox\nARG RELEASE=1\nENV TAG=v$RELEASE\n")
    status = run_check_command(monkeypatch, ["-f", str(containerfile), str(tmp_path)])
    assert status == 0

    output = capsys.readouterr().out
    assert output.startswith(f"{containerfile}:3: warning: ENV takes its value")


def test_check_command_build_arg_and_target(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "Containerfile").write_text(
        "ARG IMAGE=golang:1.22\nFROM ${IMAGE} AS build\nFROM busybox AS final\n"
    )
    arguments = ["--json", "--build-arg", "IMAGE=busybox", "--target", "build"]
    status = run_check_command(monkeypatch, [*arguments, str(tmp_path)])
    assert status == 0

    codes = [item["code"] for item in json.loads(capsys.readouterr().out)]
    assert codes == ["stage-unused"]


EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.mark.parametrize("name", ["parallel", "build-args", "test-target", "failing"])
def test_examples_have_no_errors(name: str) -> None:
    findings = check_file(EXAMPLES / name / "Containerfile", BUILDAH_1_28)
    assert not has_errors(findings), [f.format(name) for f in findings]


# RUN --mount from a stage on Buildah 1.28

MOUNT_FROM_STAGE = (
    "FROM busybox AS assets\n"
    "RUN mkdir /assets\n"
    "FROM busybox\n"
    "RUN --mount=type=bind,from=assets,source=/assets,target=/mnt ls /mnt\n"
)


def test_mount_from_stage_flagged_on_1_28() -> None:
    findings = findings_with(
        "mount-from-cached-stage", check_text(MOUNT_FROM_STAGE, BUILDAH_1_28)
    )

    assert [finding.line for finding in findings] == [4]
    assert findings[0].severity == "warning"
    assert "COPY --from=assets" in findings[0].message


def test_mount_from_stage_quiet_when_fixed() -> None:
    findings = check_text(MOUNT_FROM_STAGE, NEWEST)

    assert lines_of("mount-from-cached-stage", findings) == []


def test_mount_from_image_not_flagged() -> None:
    text = "FROM busybox\nRUN --mount=type=bind,from=busybox,target=/mnt ls /mnt\n"
    findings = check_text(text, BUILDAH_1_28)

    assert lines_of("mount-from-cached-stage", findings) == []
