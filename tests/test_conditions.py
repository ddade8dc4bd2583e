"""Parsing `--break-if` conditions, and the hook that requests pauses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.breakpoints import Position
from engine.conditions import (
    ConditionWatch,
    parse_condition,
    parse_conditions,
    watch_conditions,
)
from engine.errors import UsageError
from engine.events import LogBlock, StepFinished
from engine.plan import load_plan
from engine.runner import BuildRequest, BuildSession


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("duration>30", 30.0),
        ("duration > 1.5s", 1.5),
        ("DURATION>2m", 120.0),
        ("duration>1h", 3600.0),
    ],
)
def test_duration_limits(text: str, seconds: float) -> None:
    condition = parse_condition(text)
    assert condition.kind == "duration"
    assert condition.limit == seconds
    assert condition.text == text.strip()


def test_output_pattern_keeps_its_spaces() -> None:
    condition = parse_condition(" output~^a b ")
    assert condition.text == "output~^a b "
    assert condition.pattern is not None
    assert condition.pattern.pattern == "^a b "


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("size>500", 500),
        ("size>100MB", 100_000_000),
        ("size>100mb", 100_000_000),
        ("size>2kB", 2000),
        ("size>1.5GiB", 1.5 * 1024**3),
        ("size>3MiB", 3 * 1024**2),
        ("size>1G", 1000**3),
    ],
)
def test_size_limits(text: str, size: float) -> None:
    condition = parse_condition(text)
    assert condition.kind == "size"
    assert condition.limit == size


def test_output_pattern_keeps_everything_after_the_tilde() -> None:
    condition = parse_condition("output~warn(ing)?: .*>x")
    assert condition.kind == "output"
    assert condition.pattern is not None
    assert condition.pattern.search("npm warning: peer >x")
    assert not condition.pattern.search("all fine")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("duration<30", "write duration>SECONDS"),
        ("duration>fast", "a time such as"),
        ("duration>30 days", "a time such as"),
        ("size>10XB", "a size such as"),
        ("output~", "give a pattern"),
        ("output~(", "invalid regular expression"),
        ("memory>1GB", "write duration>SECONDS"),
        ("output>3", "write duration>SECONDS"),
        ("", "write duration>SECONDS"),
    ],
)
def test_invalid_conditions_say_what_to_write(text: str, says: str) -> None:
    with pytest.raises(UsageError) as error:
        parse_condition(text)
    assert says in error.value.message
    assert "--break-if" in error.value.message


def test_parse_conditions_keeps_the_order() -> None:
    conditions = parse_conditions(["size>1MB", "duration>3"])
    assert [c.kind for c in conditions] == ["size", "duration"]


class FakeSession(BuildSession):
    """A session that records pause requests instead of stopping buildah."""

    def __init__(self, tmp_path: Path) -> None:
        containerfile = tmp_path / "Containerfile"
        containerfile.write_text(
            "FROM localhost/busybox\nRUN echo one\nRUN echo two\nRUN echo three\n"
        )
        request = BuildRequest(context=tmp_path, containerfile=containerfile)
        super().__init__(request, load_plan(containerfile))
        self.requests: list[tuple[Position, str, str]] = []

    def pause_after(self, position: Position, condition: str, detail: str) -> None:
        self.requests.append((position, condition, detail))


def finished(step: int, seconds: float, cached: bool = False, image: Any = "b") -> Any:
    return StepFinished(stage=0, step=step, image=image, cached=cached, seconds=seconds)


def test_duration_fires_on_slow_misses(tmp_path: Path) -> None:
    session = FakeSession(tmp_path)
    watch = ConditionWatch(session, parse_conditions(["duration>2"]))
    watch(finished(2, 1.0))
    watch(finished(3, 5.0, cached=True))
    watch(finished(4, 2.5))
    assert session.requests == [(Position(0, 4), "duration>2", "line 4: it ran 2.5 s")]


def test_output_fires_on_printing_step(tmp_path: Path) -> None:
    session = FakeSession(tmp_path)
    watch = ConditionWatch(session, parse_conditions(["output~^two$"]))
    watch(LogBlock(stage=0, step=2, text="one\ntwo three"))
    watch(LogBlock(stage=None, step=None, text="two"))
    watch(LogBlock(stage=0, step=3, text="one\ntwo\nthree"))
    assert session.requests == [
        (Position(0, 3), "output~^two$", "line 3: it printed 'two'")
    ]


@pytest.mark.parametrize(
    ("pattern", "fires"),
    [
        (r"one\ntwo", False),
        (r"\Atwo", True),
        (r"(?<!one)two", True),
        (r"o\Z", True),
        (r"^x", False),
    ],
)
def test_output_pattern_in_block(tmp_path: Path, pattern: str, fires: bool) -> None:
    session = FakeSession(tmp_path)
    watch = ConditionWatch(session, parse_conditions([f"output~{pattern}"]))
    watch(LogBlock(stage=0, step=2, text="one\ntwo"))
    assert bool(session.requests) is fires


def test_size_counts_the_layers_the_step_added(tmp_path: Path) -> None:
    session = FakeSession(tmp_path)
    layers = {
        "base": [900_000],
        "a": [1_000_000, 500_000],
        "b": [1_000_000, 500_000, 2_500_000],
    }
    watch = ConditionWatch(session, parse_conditions(["size>1MB"]), layers.__getitem__)
    session.step_images[Position(0, 1)] = "base"
    session.step_images[Position(0, 2)] = "a"
    watch(finished(2, 0.1, image="a"))
    session.step_images[Position(0, 3)] = "b"
    watch(finished(3, 0.1, image="b"))
    assert session.requests == [(Position(0, 3), "size>1MB", "line 3: it added 2.5 MB")]


def test_watch_conditions_installs_one_hook(tmp_path: Path) -> None:
    session = FakeSession(tmp_path)
    first = watch_conditions(session)
    assert watch_conditions(session) is first
    assert session.event_hooks.count(first) == 1
