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

BUSYBOX = "93cc64e1309c865c21c078a60c4943690dfd44a967a77b40524843fde0e4d8c5"
# Images of the multistage build (cold.txt and warm.txt).
BASE_RUN = "e1604373427fd31ac6ffd05e0b0692558a5722e2096305888d59abc334012028"
TOOLS_RUN = "c50059aab1086bf5372f062a9f368b31468cc14394a8aec3bf4a396ec15fabc9"
FINAL_COPY = "96da4bd36c82d97e6e55cf5e8b7f4d1305e664ee4651ed16096771431ebecec0"
FINAL_RUN = "1097ce22292b07def53def4cd40294df124611374527b88d569f54326ac2aecd"
# Images of the other builds.
FIRST_RUN = "99b8ba2a30b0e276a0fbcbd1ed386350e2051369df8dc45cfbd869769f324cb5"
SECOND_RUN = "6b7e41cd91af5d1ab560d80aafe2bb1f0588312c7af2ac179f6cb8fa3ec94d6e"
SECOND_ENV = "042f2e45ab43b2e936b41816fa5225dd9b944a6c6c01296b81818b4626332916"
BEFORE_FAILURE = "6dfa947c75146558ec65ec6fda959fa31665464390f6e936248da8982f3656e7"
GLUED_PRINTF = "7e9452bc67a2567fe9600a780209624062f15559ec2674256c360fd5671d44c6"
GLUED_ECHO = "6baa1025084cd0c246d23da43e6d54e251a1fe521c0a84bbd3965a250fd90e31"
FAKE_RUN = "a93d60490ab03d3c87e727b37d195a8e69c32f6ab24b79e8bcd6f0645f0bec9b"
FAKE_COPY = "7d867d586b906622c1500b62a5a074e9b3312af2a00d32aa7a192a85b1e5d413"
FAKE_CAT = "11af92b6cb2bf505c6a6a808a7288d5b80c48bdb9d9434f552ac7ffc86641daf"
BUILT = "23e7dca3f874546c4760a3b6ac42f443c9fed67072945b58ee12a9c4083b2735"
TRIGGERED = "e10aa4dc59e10639f1369f0351031c9f47d4affb2780b0b7711c135b84daec21"
AFTER_TRIGGER = "a673bf7870b0341203346e5237baf23d897251488ecf835b79a006881dfab648"
TRIGGER_CAT = "1a7e8f3c80ba4b20f25c059f5ff98adf624cc0f02040d983ba0e39db0c21745b"


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


def test_onbuild_steps(output_format: str) -> None:
    run = parse(output_format, "onbuild", "onbuild")
    assert run.started == [(0, 1), (0, 2), (0, 3)]


def test_onbuild_lines(output_format: str) -> None:
    run = parse(output_format, "onbuild", "onbuild")
    lines = [e.line for e in run.of(StepStarted)]  # type: ignore[attr-defined]
    assert lines == [1, 2, 3]


def test_onbuild_trigger_logged(output_format: str) -> None:
    run = parse(output_format, "onbuild", "onbuild")
    assert run.logs[0] == (0, 1, "STEP 2/4: RUN echo triggered > /triggered.txt")


def test_onbuild_images(output_format: str) -> None:
    run = parse(output_format, "onbuild", "onbuild")
    assert [e.image for e in run.finished] == [TRIGGERED, AFTER_TRIGGER, TRIGGER_CAT]


def test_onbuild_step_logs(output_format: str) -> None:
    run = parse(output_format, "onbuild", "onbuild")
    assert run.logs[1:] == [(0, 2, "after the trigger"), (0, 3, "triggered")]


# Lines that are not in the recordings


def test_appended_label_step() -> None:
    lines = [
        "STEP 1/5: FROM localhost/busybox\n",
        "STEP 2/5: RUN echo before > /before.txt\n",
        "--> 6dfa947c751\n",
        "STEP 3/5: RUN echo about to fail && exit 3\n",
        "--> 6dfa947c751\n",
        "STEP 4/5: RUN echo never runs\n",
        "--> 6dfa947c751\n",
        'STEP 5/5: LABEL "added"="by buildah"\n',
        "COMMIT\n",
        "--> 6dfa947c751\n",
    ]
    run = parse_lines(plan_for("failing"), lines)
    started = list(run.of(StepStarted))
    assert (started[-1].step, started[-1].line) == (5, None)  # type: ignore[attr-defined]


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
