"""The output parser on recorded buildah output.

tests/data/buildah-1.28 contains real buildah 1.28.2 output and the
Containerfiles it came from. tests/data/buildah-1.30 contains the same output
with the 12-hex short IDs of buildah 1.30 and later, derived as its README
explains. Every recording runs through both formats.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from engine.events import Event, LogLine, StepFailed, StepFinished, StepStarted
from engine.output import OutputParser
from engine.plan import Plan, load_plan

DATA = Path(__file__).parent / "data"
RECORDED = DATA / "buildah-1.28"
FORMATS = ("buildah-1.28", "buildah-1.30")

BUSYBOX = "1b9b0c6573effb7094dd58fdbe03f8e310b027733f16693bf73ffc78f314352f"
# Images of the multistage build (cold.txt and warm.txt).
BASE_RUN = "517c1b36f7bdf6e18f1a33a44c0ce5f5617169a753e0c2c6775918c28372c442"
TOOLS_RUN = "b20c3ddb6999fd710b5509114c98d930c30c36c67f70db80f3174ea1c3c16a18"
FINAL_COPY = "0b0589788a8f3226785ac06a3d4c9b4ff281246cb6f235d7a4fcc79289a43982"
FINAL_RUN = "02e8520c85a6ddce7a5a851ac9bbbd9555e7c3b32f9e993c78fa4ccd7a8a2c17"
# Images of the other builds.
FIRST_RUN = "c32ec482a28df38cfd79ff4c5d5e990aade9daed088b5d7e59890eb828611ee3"
SECOND_RUN = "f661a6b2e6e6af01e231c0cca8888c7a9270f96f6195114a07e7e89d25a29fd6"
SECOND_ENV = "01dc74ecdd7f593e64e53c1eaf898e2c3c41fd17c477b79c7ec2cb6c3783fcd1"
BEFORE_FAILURE = "b0caa708fda412f03a16a738ac3ff9b1f0fdd46d4623dcf16e341d01a3fba903"
GLUED_PRINTF = "a46cf7de37c9a406b4ef8787edbb0d9d3cee5ca2cc470fda6da9798f2953e179"
GLUED_ECHO = "7deb74b6d4236573e9f12ec2b203e94f62dd037687e91d0054791436a2dd8fa2"
FAKE_RUN = "8cc963e65336216488c7a08abb9dd22e4a990c9072feca63fd65df09032a8109"
FAKE_COPY = "6649d6585d66467cbf23ecf3248633b5b42e065422b29f6521c196c5012898c0"
FAKE_CAT = "31fdb725977974ad6009e5664f12958d88b3324b946a2106f9ddf8576c330eb8"
BUILT = "2a881559b2b75087357d0c2ff4336b3bc14e97992f0bcd7c2b65e2416b985d28"


@dataclass
class FakeResolver:
    """Maps short IDs and image names to the full IDs known from the recording."""

    ids: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)
    requested: list[str] = field(default_factory=list)

    @classmethod
    def from_recording(cls) -> FakeResolver:
        resolver = cls()
        for line in (RECORDED / "images.txt").read_text(encoding="utf-8").splitlines():
            image, name = line.split()
            image = image.removeprefix("sha256:")
            resolver.ids.append(image)
            if name != "<none>:<none>":
                resolver.names[name] = image
                resolver.names[name.removesuffix(":latest")] = image
        return resolver

    def __call__(self, reference: str) -> str | None:
        self.requested.append(reference)
        if reference in self.names:
            return self.names[reference]
        matches = [image for image in self.ids if image.startswith(reference)]
        return matches[0] if len(matches) == 1 else None


@dataclass
class Run:
    events: list[Event]
    parser: OutputParser
    resolver: FakeResolver

    def of(self, kind: type[Event]) -> Iterator[Event]:
        return (event for event in self.events if isinstance(event, kind))

    @property
    def started(self) -> list[tuple[int, int]]:
        return [(e.stage, e.step) for e in self.of(StepStarted)]  # type: ignore[attr-defined]

    @property
    def finished(self) -> list[StepFinished]:
        return list(self.of(StepFinished))  # type: ignore[arg-type]

    @property
    def logs(self) -> list[tuple[int | None, int | None, str]]:
        return [(e.stage, e.step, e.text) for e in self.of(LogLine)]  # type: ignore[attr-defined]

    @property
    def failures(self) -> list[StepFailed]:
        return list(self.of(StepFailed))  # type: ignore[arg-type]


def plan_for(containerfile: str, target: str | None = None) -> Plan:
    return load_plan(RECORDED / f"{containerfile}.Containerfile", target=target)


def parse_lines(plan: Plan, lines: list[str], exit_code: int = 0) -> Run:
    resolver = FakeResolver.from_recording()
    ticks = iter(range(1000))
    parser = OutputParser(plan, resolver, clock=lambda: float(next(ticks)))
    events: list[Event] = []
    for line in lines:
        events += parser.feed(line)
    events += parser.finish(exit_code)
    return Run(events, parser, resolver)


def parse(
    output_format: str,
    name: str,
    containerfile: str,
    target: str | None = None,
    exit_code: int = 0,
) -> Run:
    text = (DATA / output_format / f"{name}.txt").read_text(encoding="utf-8")
    return parse_lines(
        plan_for(containerfile, target), text.splitlines(True), exit_code
    )


@pytest.fixture(params=FORMATS)
def output_format(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def cold(output_format: str) -> Run:
    return parse(output_format, "cold", "multistage")


@pytest.fixture
def warm(output_format: str) -> Run:
    return parse(output_format, "warm", "multistage")


@pytest.fixture
def failing(output_format: str) -> Run:
    return parse(output_format, "failing", "failing", exit_code=3)


# A cold multistage build


def test_cold_steps(cold: Run) -> None:
    assert cold.started == [(0, 1), (0, 2), (2, 1), (2, 2), (3, 1), (3, 2), (3, 3)]


def test_cold_skips_unused(cold: Run) -> None:
    assert all(stage != 1 for stage, _ in cold.started)


def test_cold_finished_steps(cold: Run) -> None:
    assert [(e.stage, e.step) for e in cold.finished] == cold.started


def test_cold_alternates(cold: Run) -> None:
    kinds = [type(e) for e in cold.events if not isinstance(e, LogLine)]
    assert kinds == [StepStarted, StepFinished] * 7


def test_cold_images(cold: Run) -> None:
    assert [e.image for e in cold.finished] == [
        BUSYBOX,
        BASE_RUN,
        BUSYBOX,
        TOOLS_RUN,
        BASE_RUN,
        FINAL_COPY,
        FINAL_RUN,
    ]


def test_cold_not_cached(cold: Run) -> None:
    assert [e.cached for e in cold.finished] == [False] * 7


def test_cold_logs(cold: Run) -> None:
    assert cold.logs == [(2, 2, "tool ready"), (3, 3, "tool"), (3, 3, "base")]


def test_cold_lines(cold: Run) -> None:
    lines = [e.line for e in cold.of(StepStarted)]  # type: ignore[attr-defined]
    assert lines == [3, 4, 9, 10, 13, 14, 15]


def test_cold_instruction_text(cold: Run) -> None:
    started = list(cold.of(StepStarted))
    assert started[3].instruction == "RUN echo tool > /tool.txt  && echo tool ready"  # type: ignore[attr-defined]


def test_cold_stage_from_text(cold: Run) -> None:
    started = list(cold.of(StepStarted))
    assert started[4].instruction == f"FROM {BASE_RUN}"  # type: ignore[attr-defined]


def test_cold_final_image(cold: Run) -> None:
    assert cold.parser.final_image == FINAL_RUN


def test_cold_no_failure(cold: Run) -> None:
    assert cold.failures == []


def test_cold_stage_images(cold: Run) -> None:
    assert cold.parser.stage_images == {0: BASE_RUN, 2: TOOLS_RUN, 3: FINAL_RUN}


def test_cold_durations(cold: Run) -> None:
    assert all(e.seconds > 0 for e in cold.finished)


def test_cold_resolves_base(cold: Run) -> None:
    assert "localhost/busybox" in cold.resolver.requested


def test_cold_short_ids(cold: Run, output_format: str) -> None:
    length = 11 if output_format == "buildah-1.28" else 12
    short = [ref for ref in cold.resolver.requested if "/" not in ref]
    assert {len(ref) for ref in short} == {length}


# The same build again, from the cache


def test_warm_steps(warm: Run) -> None:
    assert warm.started == [(0, 1), (0, 2), (2, 1), (2, 2), (3, 1), (3, 2), (3, 3)]


def test_warm_cached(warm: Run) -> None:
    assert [e.cached for e in warm.finished] == [
        False,
        True,
        False,
        True,
        False,
        True,
        True,
    ]


def test_warm_images(warm: Run) -> None:
    assert [e.image for e in warm.finished] == [
        BUSYBOX,
        BASE_RUN,
        BUSYBOX,
        TOOLS_RUN,
        BASE_RUN,
        FINAL_COPY,
        FINAL_RUN,
    ]


def test_warm_no_logs(warm: Run) -> None:
    assert warm.logs == []


def test_warm_final_image(warm: Run) -> None:
    assert warm.parser.final_image == FINAL_RUN


def test_warm_cache_ids_not_resolved(warm: Run) -> None:
    assert warm.resolver.requested == ["localhost/busybox", "localhost/busybox"]


# --target


def test_target_first_steps(output_format: str) -> None:
    run = parse(output_format, "target-first", "target", target="first")
    assert run.started == [(0, 1), (0, 2)]


def test_target_first_image(output_format: str) -> None:
    run = parse(output_format, "target-first", "target", target="first")
    assert [e.image for e in run.finished] == [BUSYBOX, FIRST_RUN]


def test_target_first_final(output_format: str) -> None:
    run = parse(output_format, "target-first", "target", target="first")
    assert run.parser.final_image == FIRST_RUN


def test_target_second_steps(output_format: str) -> None:
    run = parse(output_format, "target-second", "target", target="second")
    assert run.started == [(1, 1), (1, 2), (1, 3)]


def test_target_second_images(output_format: str) -> None:
    run = parse(output_format, "target-second", "target", target="second")
    assert [e.image for e in run.finished] == [BUSYBOX, SECOND_RUN, SECOND_ENV]


def test_target_second_final(output_format: str) -> None:
    run = parse(output_format, "target-second", "target", target="second")
    assert run.parser.final_image == SECOND_ENV


# A failing RUN


def test_failing_steps(failing: Run) -> None:
    assert failing.started == [(0, 1), (0, 2), (0, 3)]


def test_failing_finished(failing: Run) -> None:
    assert [(e.stage, e.step) for e in failing.finished] == [(0, 1), (0, 2)]


def test_failing_one_failure(failing: Run) -> None:
    assert len(failing.failures) == 1


def test_failing_last_event(failing: Run) -> None:
    assert isinstance(failing.events[-1], StepFailed)


def test_failure_position(failing: Run) -> None:
    failure = failing.failures[0]
    assert (failure.stage, failure.step) == (0, 3)


def test_failure_exit_code(failing: Run) -> None:
    assert failing.failures[0].exit_code == 3


def test_failure_message(failing: Run) -> None:
    expected = 'building at STEP "RUN echo about to fail && exit 3": exit status 3'
    assert failing.failures[0].message == expected


def test_failure_image_before(failing: Run) -> None:
    assert failing.failures[0].image == BEFORE_FAILURE


def test_failure_line(failing: Run) -> None:
    assert failing.failures[0].line == 3


def test_failure_instruction(failing: Run) -> None:
    assert failing.failures[0].instruction == "RUN echo about to fail && exit 3"


def test_failure_seconds(failing: Run) -> None:
    assert failing.failures[0].seconds > 0


def test_failing_logs(failing: Run) -> None:
    assert failing.logs[0] == (0, 3, "about to fail")


def test_failing_logs_attributed(failing: Run) -> None:
    assert {(stage, step) for stage, step, _ in failing.logs} == {(0, 3)}


def test_failing_no_final(failing: Run) -> None:
    assert failing.parser.final_image is None


# Output quirks


def test_glued_log(output_format: str) -> None:
    run = parse(output_format, "glued", "glued")
    assert run.logs[0] == (0, 2, "no final newline")


def test_glued_images(output_format: str) -> None:
    run = parse(output_format, "glued", "glued")
    assert [e.image for e in run.finished] == [BUSYBOX, GLUED_PRINTF, GLUED_ECHO]


def test_glued_steps(output_format: str) -> None:
    run = parse(output_format, "glued", "glued")
    assert run.started == [(0, 1), (0, 2), (0, 3)]


def test_glued_next_log(output_format: str) -> None:
    run = parse(output_format, "glued", "glued")
    assert run.logs[1] == (0, 3, "next")


def test_fake_step_steps(output_format: str) -> None:
    run = parse(output_format, "fakestep", "fakestep")
    assert run.started == [(0, 1), (0, 2), (0, 3), (0, 4)]


def test_fake_step_logs(output_format: str) -> None:
    run = parse(output_format, "fakestep", "fakestep")
    assert run.logs[:2] == [
        (0, 2, "STEP 3/4: COPY x /x"),
        (0, 2, "[1/1] STEP 3/4: COPY x /x"),
    ]


def test_fake_step_images(output_format: str) -> None:
    run = parse(output_format, "fakestep", "fakestep")
    assert [e.image for e in run.finished] == [BUSYBOX, FAKE_RUN, FAKE_COPY, FAKE_CAT]


def test_fake_step_real_line(output_format: str) -> None:
    run = parse(output_format, "fakestep", "fakestep")
    lines = [e.line for e in run.of(StepStarted)]  # type: ignore[attr-defined]
    assert lines == [1, 2, 3, 4]


def test_from_only_steps(output_format: str) -> None:
    run = parse(output_format, "fromonly", "fromonly")
    assert run.started == [(0, 1), (0, 2), (1, 1)]


def test_from_only_image(output_format: str) -> None:
    run = parse(output_format, "fromonly", "fromonly")
    assert run.finished[-1].image == BUILT


def test_from_only_final(output_format: str) -> None:
    run = parse(output_format, "fromonly", "fromonly")
    assert run.parser.final_image == BUILT


# Lines that are not in the recordings


def test_log_before_steps() -> None:
    run = parse_lines(plan_for("failing"), ['time="x" level=warning msg="w"\n'])
    assert run.logs == [(None, None, 'time="x" level=warning msg="w"')]


def test_failure_before_steps() -> None:
    run = parse_lines(plan_for("failing"), ["Error: no such file\n"], exit_code=125)
    failure = run.failures[0]
    assert (failure.stage, failure.step, failure.image) == (None, None, None)


def test_failure_before_steps_message() -> None:
    run = parse_lines(plan_for("failing"), ["Error: no such file\n"], exit_code=125)
    assert run.failures[0].message == "no such file"


def test_failure_without_message() -> None:
    run = parse_lines(plan_for("failing"), [], exit_code=1)
    assert run.failures[0].message == "buildah exited with status 1"


def test_failing_from() -> None:
    lines = ["STEP 1/4: FROM localhost/busybox\n", "Error: creating build container\n"]
    run = parse_lines(plan_for("failing"), lines, exit_code=125)
    failure = run.failures[0]
    assert (failure.stage, failure.step, failure.image) == (0, 1, None)


def test_crlf_output() -> None:
    text = (RECORDED / "glued.txt").read_text(encoding="utf-8")
    lines = [line.replace("\n", "\r\n") for line in text.splitlines(True)]
    run = parse_lines(plan_for("glued"), lines)
    assert [e.image for e in run.finished] == [BUSYBOX, GLUED_PRINTF, GLUED_ECHO]


def test_step_line_during_run() -> None:
    lines = [
        "STEP 1/4: FROM localhost/busybox\n",
        "STEP 2/4: RUN echo before > /before.txt\n",
        "STEP 3/4: RUN echo about to fail && exit 3\n",
    ]
    run = parse_lines(plan_for("failing"), lines)
    assert run.logs == [(0, 2, "STEP 3/4: RUN echo about to fail && exit 3")]
