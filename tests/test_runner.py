"""BuildSession against real buildah, in the test storage, on busybox images.

Each build passes its own folder name as a build argument that a RUN uses, so
no build hits the layer cache of another and every cache flag is exact. Builds
are module fixtures, and the tests after each one only inspect what it left,
so every build runs once.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import engine.runner
from engine.breakpoints import Breakpoint, Position
from engine.buildah import Buildah
from engine.events import (
    BuildCancelled,
    BuildFinished,
    BuildPaused,
    BuildStarted,
    Event,
    LogBlock,
    StepFailed,
    StepFinished,
    StepStarted,
)
from engine.output import OutputParser
from engine.runner import BuildRequest, BuildSession, State

pytestmark = pytest.mark.buildah

TWO_STAGES = """\
FROM localhost/busybox AS build
ARG TOKEN
RUN echo "one $TOKEN" > /one.txt
RUN echo "two $TOKEN" > /two.txt
RUN echo three > /three.txt

FROM localhost/busybox
COPY --from=build /two.txt /two.txt
RUN cat /two.txt
"""
ALL_STEPS = [(0, 1), (0, 2), (0, 3), (0, 4), (0, 5), (1, 1), (1, 2), (1, 3)]


@dataclass
class Recorder:
    """Collects a session's events, in the order the session emits them."""

    events: list[Event] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, event: Event) -> None:
        with self.lock:
            self.events.append(event)

    def snapshot(self) -> Events:
        with self.lock:
            return Events(list(self.events))


@dataclass(frozen=True)
class Events:
    """The events of a session up to some moment."""

    all: list[Event]

    def of(self, kind: type[Event]) -> list[Event]:
        return [event for event in self.all if isinstance(event, kind)]

    def steps(self, kind: type[Event]) -> list[tuple[int, int]]:
        return [(e.stage, e.step) for e in self.of(kind)]  # type: ignore[attr-defined]

    def since(self, earlier: Events) -> Events:
        return Events(self.all[len(earlier.all) :])

    @property
    def last(self) -> Event:
        return self.all[-1]

    @property
    def logs(self) -> list[tuple[int, int, str]]:
        return [
            (line.stage, line.step, line.text)
            for block in self.of(LogBlock)
            for line in block.log_lines()  # type: ignore[attr-defined]
        ]


class RecordingParser(OutputParser):
    """An OutputParser that keeps every event it makes, before the session
    drops the steps that an earlier segment already reported."""

    instances: list[list[Event]] = []

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.own: list[Event] = []
        RecordingParser.instances.append(self.own)

    def feed(self, line: str) -> list[Event]:
        events = super().feed(line)
        self.own.extend(events)
        return events

    def finish(self, exit_code: int) -> list[Event]:
        events = super().finish(exit_code)
        self.own.extend(events)
        return events


@dataclass
class Build:
    session: BuildSession
    recorder: Recorder
    folder: Path

    def run(self, action: str) -> tuple[State, Events]:
        """Call start/resume/step and return its state and the events it added."""
        before = self.recorder.snapshot()
        state = getattr(self.session, action)()
        return state, self.recorder.snapshot().since(before)


def new_build(
    buildah: Buildah,
    folder: Path,
    text: str,
    breakpoints: tuple[str, ...] = (),
    build_args: tuple[tuple[str, str], ...] = (),
) -> Build:
    containerfile = folder / "Containerfile"
    containerfile.write_text(text, encoding="utf-8")
    request = BuildRequest(
        context=folder,
        containerfile=containerfile,
        buildah=buildah,
        build_args=(("TOKEN", folder.name), *build_args),
    )
    recorder = Recorder()
    plan = request.load_plan()
    session = BuildSession(
        request, plan, [Breakpoint(b) for b in breakpoints], recorder
    )
    return Build(session, recorder, folder)


def has_file(buildah: Buildah, image: str, path: str) -> bool:
    """Return whether `path` exists in `image`, looked up in a mounted container."""
    container = buildah.from_image(image)
    try:
        root = Path(buildah.mount(container))
        return (root / path.lstrip("/")).exists()
    finally:
        buildah.remove_containers([container])


def read_file(buildah: Buildah, image: str, path: str) -> str:
    """Return a file of `image`, read by `cat` in a container of it."""
    container = buildah.from_image(image)
    try:
        return buildah.call("run", *buildah.run_options(), container, "cat", path)
    finally:
        buildah.remove_containers([container])


# A full build


@pytest.fixture(scope="module")
def full(
    buildah: Buildah, busybox_image: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[State, Events, Path]:
    build = new_build(buildah, tmp_path_factory.mktemp("full"), TWO_STAGES)
    return (*build.run("start"), build.folder)


def test_full_state(full: tuple[State, Events, Path]) -> None:
    assert full[0] is State.FINISHED


def test_full_first_event(full: tuple[State, Events, Path]) -> None:
    assert isinstance(full[1].all[0], BuildStarted)


def test_full_no_pause(full: tuple[State, Events, Path]) -> None:
    assert full[1].all[0].pause_at is None  # type: ignore[attr-defined]


def test_full_last_event(full: tuple[State, Events, Path]) -> None:
    assert isinstance(full[1].last, BuildFinished)


def test_full_steps(full: tuple[State, Events, Path]) -> None:
    assert full[1].steps(StepStarted) == ALL_STEPS


def test_full_pairs(full: tuple[State, Events, Path]) -> None:
    kinds = [type(e) for e in full[1].all if isinstance(e, (StepStarted, StepFinished))]
    assert kinds == [StepStarted, StepFinished] * len(ALL_STEPS)


def test_full_log(full: tuple[State, Events, Path]) -> None:
    assert [text for stage, step, text in full[1].logs if (stage, step) == (1, 3)] == [
        f"two {full[2].name}"
    ]


def test_full_not_cached(full: tuple[State, Events, Path]) -> None:
    cached = [e.cached for e in full[1].of(StepFinished) if e.step > 2]  # type: ignore[attr-defined]
    assert cached == [False] * 4


def test_full_image_exists(buildah: Buildah, full: tuple[State, Events, Path]) -> None:
    image = full[1].last.image  # type: ignore[attr-defined]
    assert buildah.image_id(image) == image


def test_full_image_is_last_step(full: tuple[State, Events, Path]) -> None:
    last_step = full[1].of(StepFinished)[-1]
    assert full[1].last.image == last_step.image  # type: ignore[attr-defined]


def test_full_no_container(buildah: Buildah, full: tuple[State, Events, Path]) -> None:
    assert buildah.containers() == []


# A breakpoint, then resume


@dataclass
class PauseAndResume:
    build: Build
    paused_state: State
    paused: Events
    resumed_state: State | None = None
    resumed: Events | None = None
    segments: list[list[Event]] = field(default_factory=list)


@pytest.fixture(scope="module")
def pause_resume(
    buildah: Buildah, busybox_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PauseAndResume]:
    with pytest.MonkeyPatch.context() as patch:
        RecordingParser.instances = []
        patch.setattr(engine.runner, "OutputParser", RecordingParser)
        build = new_build(
            buildah, tmp_path_factory.mktemp("pause"), TWO_STAGES, ("build:4",)
        )
        state, events = build.run("start")
        yield PauseAndResume(build, state, events, segments=RecordingParser.instances)


@pytest.fixture(scope="module")
def paused(pause_resume: PauseAndResume) -> Events:
    return pause_resume.paused


@pytest.fixture(scope="module")
def pause_image(paused: Events) -> str:
    image = paused.last.image  # type: ignore[attr-defined]
    assert isinstance(image, str)
    return image


@pytest.fixture(scope="module")
def resumed(pause_resume: PauseAndResume, pause_image: str) -> PauseAndResume:
    # Depends on pause_image so that the pause is inspected before resuming.
    if pause_resume.resumed is None:
        pause_resume.resumed_state, pause_resume.resumed = pause_resume.build.run(
            "resume"
        )
    return pause_resume


def test_pause_state(pause_resume: PauseAndResume) -> None:
    assert pause_resume.paused_state is State.PAUSED


def test_pause_started_at(paused: Events) -> None:
    assert paused.all[0].pause_at == [0, 4] or paused.all[0].pause_at == (0, 4)  # type: ignore[attr-defined]


def test_pause_event_last(paused: Events) -> None:
    assert isinstance(paused.last, BuildPaused)


def test_pause_reason(paused: Events) -> None:
    assert paused.last.reason == "breakpoint"  # type: ignore[attr-defined]


def test_pause_position(paused: Events) -> None:
    assert (paused.last.stage, paused.last.step) == (0, 4)  # type: ignore[attr-defined]


def test_pause_line(paused: Events) -> None:
    assert paused.last.line == 4  # type: ignore[attr-defined]


def test_pause_instruction(paused: Events) -> None:
    assert paused.last.instruction == 'RUN echo "two $TOKEN" > /two.txt'  # type: ignore[attr-defined]


def test_pause_steps_ran(paused: Events) -> None:
    assert paused.steps(StepFinished) == [(0, 1), (0, 2), (0, 3)]


def test_pause_step_not_started(paused: Events) -> None:
    assert (0, 4) not in paused.steps(StepStarted)


def test_pause_image_before_step(paused: Events, pause_image: str) -> None:
    assert pause_image == paused.of(StepFinished)[-1].image  # type: ignore[attr-defined]


def test_pause_session_image(pause_resume: PauseAndResume, pause_image: str) -> None:
    assert pause_resume.build.session.paused_image == pause_image


def test_pause_image_inspect(buildah: Buildah, pause_image: str) -> None:
    found = buildah.inspect_image(pause_image)["FromImageID"]
    assert found.removeprefix("sha256:") == pause_image


def test_pause_file_mounted(buildah: Buildah, pause_image: str) -> None:
    assert has_file(buildah, pause_image, "/one.txt")


def test_pause_next_file_absent(buildah: Buildah, pause_image: str) -> None:
    assert not has_file(buildah, pause_image, "/two.txt")


def test_pause_file_run(
    buildah: Buildah, pause_image: str, pause_resume: PauseAndResume
) -> None:
    content = read_file(buildah, pause_image, "/one.txt")
    assert content == f"one {pause_resume.build.folder.name}\n"


def test_pause_no_container(buildah: Buildah, pause_image: str) -> None:
    assert buildah.containers() == []


def test_resume_state(resumed: PauseAndResume) -> None:
    assert resumed.resumed_state is State.FINISHED


def test_resume_first_event(resumed: PauseAndResume) -> None:
    assert isinstance(resumed.resumed.all[0], BuildStarted)  # type: ignore[union-attr]


def test_resume_last_event(resumed: PauseAndResume) -> None:
    assert isinstance(resumed.resumed.last, BuildFinished)  # type: ignore[union-attr]


def test_resume_rest(resumed: PauseAndResume) -> None:
    assert resumed.resumed.steps(StepStarted) == ALL_STEPS[3:]  # type: ignore[union-attr]


def test_resume_all_steps(resumed: PauseAndResume) -> None:
    events = resumed.build.recorder.snapshot()
    assert events.steps(StepFinished) == ALL_STEPS


def test_resume_no_duplicate_starts(resumed: PauseAndResume) -> None:
    counts = Counter(resumed.build.recorder.snapshot().steps(StepStarted))
    assert max(counts.values()) == 1


def test_resume_no_duplicate_finishes(resumed: PauseAndResume) -> None:
    counts = Counter(resumed.build.recorder.snapshot().steps(StepFinished))
    assert max(counts.values()) == 1


def test_resume_two_runs(resumed: PauseAndResume) -> None:
    assert len(resumed.segments) == 2


def test_resume_replayed(resumed: PauseAndResume) -> None:
    replayed = [
        (e.stage, e.step) for e in resumed.segments[1] if isinstance(e, StepFinished)
    ]
    assert replayed[:3] == [(0, 1), (0, 2), (0, 3)]


def test_resume_earlier_cached(resumed: PauseAndResume) -> None:
    cached = [
        e.cached
        for e in resumed.segments[1]
        if isinstance(e, StepFinished) and e.stage == 0 and e.step in (2, 3)
    ]
    assert cached == [True, True]


def test_resume_same_images(resumed: PauseAndResume) -> None:
    def images(events: list[Event]) -> dict[tuple[int, int], str | None]:
        return {
            (e.stage, e.step): e.image for e in events if isinstance(e, StepFinished)
        }

    first, second = images(resumed.segments[0]), images(resumed.segments[1])
    assert {position: second[position] for position in first} == first


def test_resume_rest_not_cached(resumed: PauseAndResume) -> None:
    cached = [e.cached for e in resumed.resumed.of(StepFinished) if e.step > 1]  # type: ignore[union-attr, attr-defined]
    assert cached == [False, False, False, False]


def test_resume_no_container(buildah: Buildah, resumed: PauseAndResume) -> None:
    assert buildah.containers() == []


# step() and STAGE:end


@pytest.fixture(scope="module")
def stepped(
    buildah: Buildah, busybox_image: str, tmp_path_factory: pytest.TempPathFactory
) -> list[tuple[State, Events]]:
    """A build paused at build:4, then stepped three times."""
    build = new_build(
        buildah, tmp_path_factory.mktemp("step"), TWO_STAGES, ("build:4",)
    )
    return [build.run(action) for action in ("start", "step", "step", "step")]


def test_step_paused(stepped: list[tuple[State, Events]]) -> None:
    assert [state for state, _ in stepped] == [State.PAUSED] * 4


def test_step_one_start(stepped: list[tuple[State, Events]]) -> None:
    assert stepped[1][1].steps(StepStarted) == [(0, 4)]


def test_step_one_finish(stepped: list[tuple[State, Events]]) -> None:
    assert stepped[1][1].steps(StepFinished) == [(0, 4)]


def test_step_pause_after(stepped: list[tuple[State, Events]]) -> None:
    event = stepped[1][1].last
    assert (event.stage, event.step) == (0, 5)  # type: ignore[attr-defined]


def test_step_image(stepped: list[tuple[State, Events]]) -> None:
    events = stepped[1][1]
    assert events.last.image == events.of(StepFinished)[-1].image  # type: ignore[attr-defined]


def test_step_two(stepped: list[tuple[State, Events]]) -> None:
    assert stepped[2][1].steps(StepFinished) == [(0, 5)]


def test_step_two_pause(stepped: list[tuple[State, Events]]) -> None:
    event = stepped[2][1].last
    assert (event.stage, event.step, event.instruction) == (0, 6, None)  # type: ignore[attr-defined]


def test_step_next_stage(stepped: list[tuple[State, Events]]) -> None:
    assert stepped[3][1].steps(StepFinished) == [(1, 1)]


def test_step_next_stage_pause(stepped: list[tuple[State, Events]]) -> None:
    event = stepped[3][1].last
    assert (event.stage, event.step) == (1, 2)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def stage_end(
    buildah: Buildah, busybox_image: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[State, Events]:
    folder = tmp_path_factory.mktemp("end")
    return new_build(buildah, folder, TWO_STAGES, ("build:end",)).run("start")


def test_end_state(stage_end: tuple[State, Events]) -> None:
    assert stage_end[0] is State.PAUSED


def test_end_position(stage_end: tuple[State, Events]) -> None:
    event = stage_end[1].last
    assert (event.stage, event.step) == (0, 6)  # type: ignore[attr-defined]


def test_end_no_instruction(stage_end: tuple[State, Events]) -> None:
    assert stage_end[1].last.instruction is None  # type: ignore[attr-defined]


def test_end_whole_stage(stage_end: tuple[State, Events]) -> None:
    assert stage_end[1].steps(StepFinished) == ALL_STEPS[:5]


def test_end_image(stage_end: tuple[State, Events]) -> None:
    events = stage_end[1]
    assert events.last.image == events.of(StepFinished)[-1].image  # type: ignore[attr-defined]


def test_end_file(buildah: Buildah, stage_end: tuple[State, Events]) -> None:
    assert has_file(buildah, stage_end[1].last.image, "/three.txt")  # type: ignore[attr-defined]


# A failing RUN

FAILING = """\
FROM localhost/busybox
ARG TOKEN
RUN echo "$TOKEN" > /before.txt
RUN echo going to fail && exit 7
RUN echo never
"""


@pytest.fixture(scope="module")
def failed(
    buildah: Buildah, busybox_image: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[State, Events, set[str]]:
    before = buildah.container_ids()
    state, events = new_build(buildah, tmp_path_factory.mktemp("fail"), FAILING).run(
        "start"
    )
    return state, events, before


@pytest.fixture(scope="module")
def failure(failed: tuple[State, Events, set[str]]) -> StepFailed:
    failures = failed[1].of(StepFailed)
    assert len(failures) == 1
    return failures[0]  # type: ignore[return-value]


def test_failed_state(failed: tuple[State, Events, set[str]]) -> None:
    assert failed[0] is State.FAILED


def test_failed_exit_code(failure: StepFailed) -> None:
    assert failure.exit_code == 7


def test_failed_position(failure: StepFailed) -> None:
    assert (failure.stage, failure.step) == (0, 4)


def test_failed_line(failure: StepFailed) -> None:
    assert failure.line == 4


def test_failed_instruction(failure: StepFailed) -> None:
    assert failure.instruction == "RUN echo going to fail && exit 7"


def test_failed_message(failure: StepFailed) -> None:
    assert "exit status 7" in failure.message


def test_failed_image_before(
    failed: tuple[State, Events, set[str]], failure: StepFailed
) -> None:
    assert failure.image == failed[1].of(StepFinished)[-1].image  # type: ignore[attr-defined]


def test_failed_image_file(buildah: Buildah, failure: StepFailed) -> None:
    assert failure.image is not None
    assert has_file(buildah, failure.image, "/before.txt")


def test_failed_paused_last(failed: tuple[State, Events, set[str]]) -> None:
    assert isinstance(failed[1].last, BuildPaused)


def test_failed_paused_reason(failed: tuple[State, Events, set[str]]) -> None:
    assert failed[1].last.reason == "failure"  # type: ignore[attr-defined]


def test_failed_paused_position(failed: tuple[State, Events, set[str]]) -> None:
    event = failed[1].last
    assert (event.stage, event.step) == (0, 4)  # type: ignore[attr-defined]


def test_failed_paused_image(
    failed: tuple[State, Events, set[str]], failure: StepFailed
) -> None:
    assert failed[1].last.image == failure.image  # type: ignore[attr-defined]


def test_failed_log(failed: tuple[State, Events, set[str]]) -> None:
    assert (0, 4, "going to fail") in failed[1].logs


def test_failed_never(failed: tuple[State, Events, set[str]]) -> None:
    assert (0, 5) not in failed[1].steps(StepStarted)


def test_failed_no_container(
    buildah: Buildah, failed: tuple[State, Events, set[str]]
) -> None:
    assert buildah.container_ids() == failed[2]


# Cancel

LONG = """\
FROM localhost/busybox
ARG TOKEN
RUN echo "sleeping $TOKEN" && sleep 30
"""


def proc_stat(pid: str) -> list[str]:
    """Return the fields of /proc/PID/stat after the command name."""
    return (Path("/proc") / pid / "stat").read_text().rsplit(")", 1)[1].split()


def buildah_group(marker: str) -> int | None:
    """Return the process group of the buildah whose arguments hold `marker`."""
    for entry in Path("/proc").iterdir():
        try:
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
            if arguments[0].endswith(b"buildah") and marker.encode() in arguments:
                return int(proc_stat(entry.name)[2])
        except (OSError, IndexError):
            continue
    return None


def live_members(group: int) -> list[int]:
    """Return the processes of a group that are still running (not zombies)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = proc_stat(entry.name)
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def members_after_exit(group: int, timeout: float = 10.0) -> list[int]:
    """Return the group's running processes once it empties or `timeout` passes.

    The kernel reaps an exited group asynchronously, so this polls /proc.
    """
    deadline = time.monotonic() + timeout
    while (members := live_members(group)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return members


@dataclass
class Cancelled:
    state: State
    events: Events
    group: int | None
    seconds: float
    containers_before: set[str]
    folder: Path


@pytest.fixture(scope="module")
def cancelled(
    buildah: Buildah, busybox_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Cancelled:
    before = buildah.container_ids()
    build = new_build(buildah, tmp_path_factory.mktemp("cancel"), LONG)
    sleeping = threading.Event()

    def on_event(event: Event) -> None:
        build.recorder(event)
        if isinstance(event, LogBlock) and "\nsleeping" in f"\n{event.text}":
            sleeping.set()

    build.session.on_event = on_event
    result: list[State] = []
    worker = threading.Thread(target=lambda: result.append(build.session.start()))
    started = time.monotonic()
    worker.start()
    assert sleeping.wait(120), "the long RUN never started"
    group = buildah_group(str(build.folder / "Containerfile"))
    build.session.cancel()
    worker.join(120)
    seconds = time.monotonic() - started
    return Cancelled(
        result[0], build.recorder.snapshot(), group, seconds, before, build.folder
    )


def test_cancel_state(cancelled: Cancelled) -> None:
    assert cancelled.state is State.CANCELLED


def test_cancel_event(cancelled: Cancelled) -> None:
    assert isinstance(cancelled.events.last, BuildCancelled)


def test_cancel_reason(cancelled: Cancelled) -> None:
    assert cancelled.events.last.reason == "cancelled"  # type: ignore[attr-defined]


def test_cancel_no_failure(cancelled: Cancelled) -> None:
    assert cancelled.events.of(StepFailed) == []


def test_cancel_no_pause(cancelled: Cancelled) -> None:
    assert cancelled.events.of(BuildPaused) == []


def test_cancel_before_sleep_ends(cancelled: Cancelled) -> None:
    assert cancelled.seconds < 25


def test_cancel_group_found(cancelled: Cancelled) -> None:
    assert cancelled.group is not None


def test_cancel_group_gone(cancelled: Cancelled) -> None:
    assert cancelled.group is not None
    assert members_after_exit(cancelled.group) == []


def test_cancel_no_container(buildah: Buildah, cancelled: Cancelled) -> None:
    assert buildah.container_ids() == cancelled.containers_before


def test_cancel_then_build(buildah: Buildah, cancelled: Cancelled) -> None:
    folder = cancelled.folder / "after"
    folder.mkdir()
    build = new_build(buildah, folder, "FROM localhost/busybox\nRUN echo $TOKEN\n")
    assert build.run("start")[0] is State.FINISHED


# Fidelity: a plain buildah build after a paused session is all cache hits

FIDELITY = """\
ARG BASE=localhost/busybox
FROM ${BASE} AS build
ARG TOKEN
ARG FLAVOUR=plain
RUN echo "$TOKEN $FLAVOUR" > /flavour.txt
RUN echo a > /a.txt \\
 && echo b > /b.txt

FROM ${BASE}
COPY --from=build /flavour.txt /b.txt /
RUN cat /flavour.txt
"""


@dataclass
class Fidelity:
    states: list[State]
    events: Events
    plain_output: list[str]


@pytest.fixture(scope="module")
def fidelity(
    buildah: Buildah, busybox_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Fidelity:
    folder = tmp_path_factory.mktemp("fidelity")
    build = new_build(
        buildah, folder, FIDELITY, ("build:6", "1:3"), build_args=(("FLAVOUR", "salt"),)
    )
    states = [build.run(action)[0] for action in ("start", "resume", "resume")]
    argv = ["buildah", *buildah.argv("bud", "--layers", *buildah.run_options())]
    for name, value in build.session.request.build_args:
        argv += ["--build-arg", f"{name}={value}"]
    argv += ["-f", str(folder / "Containerfile"), str(folder)]
    plain = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert plain.returncode == 0, plain.stderr
    return Fidelity(states, build.recorder.snapshot(), plain.stdout.splitlines())


def test_fidelity_session(fidelity: Fidelity) -> None:
    assert fidelity.states == [State.PAUSED, State.PAUSED, State.FINISHED]


def test_fidelity_pauses(fidelity: Fidelity) -> None:
    pauses = [(e.stage, e.step) for e in fidelity.events.of(BuildPaused)]  # type: ignore[attr-defined]
    assert pauses == [(0, 6), (1, 3)]


def test_fidelity_all_cached(fidelity: Fidelity) -> None:
    steps = [
        line
        for line in fidelity.plain_output
        if "STEP " in line and ": FROM " not in line
    ]
    hits = [
        line for line in fidelity.plain_output if line.startswith("--> Using cache ")
    ]
    assert len(hits) == len(steps)


def test_fidelity_hit_count(fidelity: Fidelity) -> None:
    hits = [
        line for line in fidelity.plain_output if line.startswith("--> Using cache ")
    ]
    assert len(hits) == 6


def test_fidelity_same_image(fidelity: Fidelity) -> None:
    finished = fidelity.events.of(BuildFinished)
    assert fidelity.plain_output[-1] == finished[0].image  # type: ignore[attr-defined]


# A breakpoint added while the build runs

LATE_BREAK = """\
FROM localhost/busybox
ARG TOKEN
RUN echo "sleeping $TOKEN" && sleep 2
RUN echo "third $TOKEN" > /third
RUN echo "fourth $TOKEN" > /fourth
"""


def run_until_sleeping(build: Build) -> tuple[threading.Thread, list[State]]:
    """Start the build on a thread; return once its sleeping RUN has started."""
    sleeping = threading.Event()

    def on_event(event: Event) -> None:
        build.recorder(event)
        if isinstance(event, StepStarted) and event.step == 3:
            sleeping.set()

    build.session.on_event = on_event
    result: list[State] = []
    worker = threading.Thread(target=lambda: result.append(build.session.start()))
    worker.start()
    assert sleeping.wait(120), "the sleeping RUN never started"
    return worker, result


def test_late_breakpoint_pauses_build(
    buildah: Buildah, busybox_image: str, tmp_path: Path
) -> None:
    build = new_build(buildah, tmp_path, LATE_BREAK)
    worker, result = run_until_sleeping(build)

    assert build.session.break_before(Position(0, 5)) is True
    worker.join(120)

    assert result == [State.PAUSED]
    events = build.recorder.snapshot()
    paused = events.of(BuildPaused)[-1]
    assert isinstance(paused, BuildPaused)
    assert (paused.reason, paused.stage, paused.step) == ("breakpoint", 0, 5)
    assert paused.condition is None
    assert (0, 4) in events.steps(StepFinished)
    assert (0, 5) not in events.steps(StepStarted)
    assert paused.image is not None and has_file(buildah, paused.image, "/third")
    assert not has_file(buildah, paused.image, "/fourth")


def test_late_breakpoint_on_started_step(
    buildah: Buildah, busybox_image: str, tmp_path: Path
) -> None:
    build = new_build(buildah, tmp_path, LATE_BREAK)
    worker, result = run_until_sleeping(build)

    assert build.session.break_before(Position(0, 3)) is False
    worker.join(120)

    assert result == [State.FINISHED]


def test_late_breakpoint_earliest_wins(
    buildah: Buildah, busybox_image: str, tmp_path: Path
) -> None:
    build = new_build(buildah, tmp_path, LATE_BREAK)
    worker, result = run_until_sleeping(build)

    assert build.session.break_before(Position(0, 5)) is True
    assert build.session.break_before(Position(0, 4)) is True
    worker.join(120)

    assert result == [State.PAUSED]
    paused = build.recorder.snapshot().of(BuildPaused)[-1]
    assert isinstance(paused, BuildPaused)
    assert (paused.stage, paused.step) == (0, 4)


def test_late_breakpoint_withdrawn(
    buildah: Buildah, busybox_image: str, tmp_path: Path
) -> None:
    build = new_build(buildah, tmp_path, LATE_BREAK)
    worker, result = run_until_sleeping(build)

    assert build.session.break_before(Position(0, 5)) is True
    assert build.session.withdraw_break(Position(0, 5)) is True
    worker.join(120)

    assert result == [State.FINISHED]


FAKE_COMMIT = """\
FROM localhost/busybox
ARG TOKEN
RUN echo "before $TOKEN"; echo '--> 0123456789a'; echo 'STEP 4/4: RUN echo four'; \\
    echo more; exit 3
RUN echo four
"""


def test_fake_commit_line_is_output(
    buildah: Buildah, busybox_image: str, tmp_path: Path
) -> None:
    build = new_build(buildah, tmp_path, FAKE_COMMIT)

    state, events = build.run("start")

    assert state is State.FAILED
    failed = events.of(StepFailed)[-1]
    assert isinstance(failed, StepFailed)
    assert (failed.stage, failed.step, failed.exit_code) == (0, 3, 3)
    assert (0, 4) not in events.steps(StepStarted)
    texts = [text for stage, step, text in events.logs if (stage, step) == (0, 3)]
    assert "--> 0123456789a" in texts
    assert "STEP 4/4: RUN echo four" in texts
    assert "more" in texts
