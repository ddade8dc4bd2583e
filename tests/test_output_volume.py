"""Builds whose context or output stress how the runner reads them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.buildah import Buildah
from engine.events import Event, LogBlock, StepFailed
from engine.runner import BuildRequest, BuildSession, State
from engine.session_insight import attach

pytestmark = pytest.mark.buildah

FLOOD = """\
FROM localhost/busybox
ARG TOKEN
RUN echo "$TOKEN"; seq 1 20000; echo "FATAL: the real error"; exit 3
"""


def build(
    buildah: Buildah, folder: Path, insight: bool = False
) -> tuple[State, list[Event]]:
    request = BuildRequest(
        context=folder,
        containerfile=folder / "Containerfile",
        buildah=buildah,
        build_args=(("TOKEN", folder.name),),
        pull="never",
    )
    events: list[Event] = []
    session = BuildSession(request, request.load_plan(), on_event=events.append)
    if insight:
        attach(session)
    return session.start(), events


def test_flood_keeps_every_line(
    tmp_path: Path, buildah: Buildah, busybox_image: str
) -> None:
    (tmp_path / "Containerfile").write_text(FLOOD, encoding="utf-8")

    state, events = build(buildah, tmp_path)
    logs = [
        line
        for event in events
        if isinstance(event, LogBlock)
        for line in event.lines()
    ]
    failures = [event for event in events if isinstance(event, StepFailed)]

    assert state is State.FAILED
    assert [str(n) for n in range(1, 20001)] == [t for t in logs if t.isdigit()]
    assert "FATAL: the real error" in logs
    assert failures[0].exit_code == 3


def test_fifo_in_context_builds(
    tmp_path: Path,
    buildah: Buildah,
    busybox_image: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The build record hashes every COPY source; opening the FIFO would block.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    context = tmp_path / "context"
    context.mkdir()
    (context / "Containerfile").write_text(
        "FROM localhost/busybox\nCOPY . /ctx/\n", encoding="utf-8"
    )
    os.mkfifo(context / "pipe")

    state, _ = build(buildah, context, insight=True)

    assert state is State.FINISHED
