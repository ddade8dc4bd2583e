"""Pauses that debug a build, against real buildah on busybox images: the
variables at a pause, stage-end pauses, conditions, and shell fixes.

Each build passes its folder name as TOKEN to a RUN, so no build hits another
test's layer cache.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from engine.breakpoints import Position
from engine.buildah import Buildah
from engine.conditions import parse_conditions, watch_conditions
from engine.events import BuildPaused, StepFinished
from engine.runner import State
from engine.shell import run_shell
from engine.shellfix import apply_fix, propose_fix, resume_with_fix, useful_commands
from tests.test_runner import Build, has_file, new_build, read_file

pytestmark = pytest.mark.buildah

VARIABLES = """\
ARG VERSION=1.0
FROM localhost/busybox AS build
ARG TOKEN
ARG VERSION
ARG CHANNEL
ARG LEVEL=3
ENV APP_HOME=/app
WORKDIR /app
USER 1000
RUN echo "$TOKEN $CHANNEL" > /tmp/args
"""


def last_pause(build: Build) -> BuildPaused:
    pauses = build.recorder.snapshot().of(BuildPaused)
    assert pauses, "the build did not pause"
    pause = pauses[-1]
    assert isinstance(pause, BuildPaused)
    return pause


def test_variables_at_a_pause(
    buildah: Buildah, busybox_image: str, tmp_path: Path
) -> None:
    build = new_build(
        buildah, tmp_path, VARIABLES, ("build:8",), (("CHANNEL", "beta"),)
    )
    assert build.session.start() is State.PAUSED
    variables = last_pause(build).variables
    assert variables is not None
    args = variables["args"]
    assert args["CHANNEL"] == {"value": "beta", "source": "--build-arg", "line": 5}
    assert args["TOKEN"] == {"value": tmp_path.name, "source": "--build-arg", "line": 3}
    assert args["VERSION"] == {"value": "1.0", "source": "global", "line": 4}
    assert args["LEVEL"] == {"value": "3", "source": "default", "line": 6}
    assert variables["env"]["APP_HOME"] == "/app"
    assert "PATH" in variables["env"]
    assert variables["workdir"] == "/app"
    assert variables["user"] == ""
    assert variables["shell"] == ["/bin/sh", "-c"]
    assert variables["base"] == "localhost/busybox"
    build.session.cancel()


def test_variables_after_user(
    buildah: Buildah, busybox_image: str, tmp_path: Path
) -> None:
    build = new_build(buildah, tmp_path, VARIABLES, ("build:9",))
    assert build.session.start() is State.PAUSED
    variables = last_pause(build).variables
    assert variables is not None
    assert variables["user"] == "1000"
    assert variables["args"]["CHANNEL"] == {
        "value": None,
        "source": "unset",
        "line": 5,
    }


STAGE_END = """\
FROM localhost/busybox AS build
ARG TOKEN
RUN echo "$TOKEN" > /built.txt
RUN echo second > /second.txt

FROM localhost/busybox
COPY --from=build /built.txt /copied.txt
"""


def test_stage_end_pauses_on_the_finished_image(
    buildah: Buildah, busybox_image: str, tmp_path: Path
) -> None:
    build = new_build(buildah, tmp_path, STAGE_END, ("build:end",))
    assert build.session.start() is State.PAUSED
    pause = last_pause(build)
    assert (pause.stage, pause.step, pause.instruction) == (0, 5, None)
    assert pause.image is not None
    assert pause.image == build.session.step_images[Position(0, 4)]
    assert has_file(buildah, pause.image, "/second.txt")
    assert build.session.resume() is State.FINISHED


CONDITIONS = """\
FROM localhost/busybox
ARG TOKEN
RUN echo "quick $TOKEN"
RUN sleep 3 && echo "slow $TOKEN"
RUN echo "marker $TOKEN"
RUN head -c 3000000 /dev/zero > /big.bin && echo "$TOKEN"
RUN echo "last $TOKEN"
"""


@pytest.mark.parametrize(
    ("condition", "after_line", "detail"),
    [
        ("duration>2", 4, "it ran"),
        ("output~^marker ", 5, "it printed 'marker "),
        ("size>2MB", 6, "it added 3.0 MB"),
    ],
)
def test_condition_pauses_after_the_step(
    buildah: Buildah,
    busybox_image: str,
    tmp_path: Path,
    condition: str,
    after_line: int,
    detail: str,
) -> None:
    build = new_build(buildah, tmp_path, CONDITIONS)
    watch_conditions(build.session).conditions = parse_conditions([condition])
    containers = buildah.container_ids()
    assert build.session.start() is State.PAUSED
    pause = last_pause(build)
    assert pause.reason == "condition"
    assert pause.condition == condition
    assert pause.condition_detail is not None
    assert pause.condition_detail.startswith(f"line {after_line}: {detail}")
    assert pause.line == after_line + 1
    step = after_line
    assert pause.image == build.session.step_images[Position(0, step)]
    finished = build.recorder.snapshot().steps(StepFinished)
    assert finished == [(0, n) for n in range(1, step + 1)]
    assert buildah.container_ids() == containers
    assert build.session.resume() is State.FINISHED
    assert len(build.recorder.snapshot().of(BuildPaused)) == 1


def test_condition_on_last_step_finishes(
    buildah: Buildah, busybox_image: str, tmp_path: Path
) -> None:
    build = new_build(buildah, tmp_path, CONDITIONS)
    watch_conditions(build.session).conditions = parse_conditions(["output~^last "])
    assert build.session.start() is State.FINISHED


FAILING = """\
FROM localhost/busybox
ARG TOKEN
RUN echo "$TOKEN" > /token
RUN cat /data/config
"""


@contextmanager
def stdin_from(path: Path) -> Iterator[None]:
    saved = os.dup(0)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.dup2(fd, 0)
        yield
    finally:
        os.dup2(saved, 0)
        os.close(saved)
        os.close(fd)


def test_shell_history_fix_resumes(
    buildah: Buildah, busybox_image: str, tmp_path: Path
) -> None:
    build = new_build(buildah, tmp_path, FAILING)
    assert build.session.start() is State.FAILED
    session = build.session
    assert session.position == Position(0, 4)
    assert session.paused_image is not None

    # The shell reads this script instead of a person's typing, and writes to
    # its history file what a person would have typed.
    script = tmp_path.parent / f"{tmp_path.name}-input"
    typed = "mkdir -p /data && echo fixed > /data/config"
    script.write_text(f'echo {typed!r} >> "$HISTFILE"\necho exit >> "$HISTFILE"\n')
    history: list[str] = []
    with stdin_from(script):
        status = run_shell(
            buildah, session.paused_image, history=history, banner=io.StringIO()
        )
    assert status == 0
    commands = useful_commands(history)
    assert commands == [typed]

    fix = propose_fix(session.plan, session.position, commands)
    assert fix.line == 4
    apply_fix(fix)
    assert resume_with_fix(session) == []
    before = build.recorder.snapshot()
    assert session.resume() is State.FINISHED
    added = build.recorder.snapshot().since(before)
    new_run = [
        e
        for e in added.of(StepFinished)
        if (e.stage, e.step) == (0, 4)  # type: ignore[attr-defined]
    ]
    assert new_run and not new_run[0].cached  # type: ignore[attr-defined]
    assert (0, 5, "fixed") in added.logs
    image = session.paused_image
    assert image is not None
    assert read_file(buildah, image, "/data/config") == "fixed\n"
