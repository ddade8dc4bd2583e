"""Reading output in blocks gives the events of reading it line by line.

The build session hands the parser whatever one read of buildah's pipe
returned, as whole lines. These tests feed every recording in blocks of
several sizes and check that the events equal those of `feed` on each line,
once each LogBlock is split back into its lines.
"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from engine.events import Event, LogBlock, StepFinished, StepStarted
from engine.output import OutputParser
from engine.plan import load_plan
from engine.runner import _read_blocks

DATA = Path(__file__).parent / "data"
RECORDED = DATA / "buildah-1.28"

RECORDINGS = [
    # (output format, output, Containerfile, target, exit status)
    (output_format, name, containerfile, target, exit_code)
    for output_format in ("buildah-1.28", "buildah-1.30")
    for name, containerfile, target, exit_code in (
        ("cold", "multistage", None, 0),
        ("warm", "multistage", None, 0),
        ("target-first", "target", "first", 0),
        ("target-second", "target", "second", 0),
        ("failing", "failing", None, 3),
        ("glued", "glued", None, 0),
        ("fakestep", "fakestep", None, 0),
        ("fromonly", "fromonly", None, 0),
        ("onbuild", "onbuild", None, 0),
    )
] + [("buildah-1.28", "nested", "nested", None, 0)]


def new_parser(containerfile: str, target: str | None) -> OutputParser:
    plan = load_plan(RECORDED / f"{containerfile}.Containerfile", target=target)
    ticks = iter(range(10_000))
    return OutputParser(
        plan,
        resolve_image=lambda reference: f"full-{reference}",
        clock=lambda: float(next(ticks)),
    )


def by_lines(parser: OutputParser, lines: list[str], exit_code: int) -> list[Event]:
    events: list[Event] = []
    for line in lines:
        events += parser.feed(line)
    return events + parser.finish(exit_code)


def by_blocks(parser: OutputParser, blocks: list[str], exit_code: int) -> list[Event]:
    events: list[Event] = []
    for block in blocks:
        events += parser.feed_block(block)
    return events + parser.finish(exit_code)


def split_blocks(events: list[Event]) -> list[Event]:
    return [
        line
        for event in events
        for line in (event.log_lines() if isinstance(event, LogBlock) else [event])
    ]


def in_blocks(lines: list[str], sizes: list[int]) -> list[str]:
    """Join `lines` into blocks of the given sizes, repeated to the end."""
    blocks = []
    start = 0
    for size in iter(lambda: sizes[len(blocks) % len(sizes)], None):
        if start >= len(lines):
            break
        blocks.append("\n".join(lines[start : start + size]))
        start += size
    return blocks


@pytest.mark.parametrize(
    ("output_format", "name", "containerfile", "target", "exit_code"), RECORDINGS
)
@pytest.mark.parametrize("sizes", [[1], [2], [3, 1, 5], [1_000_000]])
def test_blocks_give_the_events_of_lines(
    output_format: str,
    name: str,
    containerfile: str,
    target: str | None,
    exit_code: int,
    sizes: list[int],
) -> None:
    text = (DATA / output_format / f"{name}.txt").read_text(encoding="utf-8")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    expected = by_lines(new_parser(containerfile, target), lines, exit_code)

    events = by_blocks(
        new_parser(containerfile, target), in_blocks(lines, sizes), exit_code
    )

    assert split_blocks(events) == expected
    assert any(isinstance(event, StepFinished) for event in events)


def flood_parser() -> OutputParser:
    """A parser in the middle of the cold build's first RUN."""
    parser = new_parser("multistage", None)
    lines = (RECORDED / "cold.txt").read_text(encoding="utf-8").splitlines()
    run_line = next(i for i, line in enumerate(lines) if "STEP 2/" in line)
    for line in lines[: run_line + 1]:
        parser.feed(line)
    assert parser.running is not None and parser.running.step == 2
    return parser


def test_flood_of_plain_lines_is_one_block() -> None:
    parser = flood_parser()
    flood = "\n".join(str(n) for n in range(100_000))

    events = parser.feed_block(flood)

    assert events == [LogBlock(stage=0, step=2, text=flood)]


def test_markers_inside_a_flood_are_read() -> None:
    parser = flood_parser()
    block = "one\nsays STEP 3/3: RUN fake\ntwo\n--> 0123456789a\nthree"

    events = parser.feed_block(block)

    # The fake step line is output; the commit line is not, and it ends no
    # step, so the lines around it stay one block.
    assert events == [
        LogBlock(stage=0, step=2, text="one\nsays STEP 3/3: RUN fake\ntwo\nthree")
    ]
    assert parser.running is not None
    assert parser.running.image == "0123456789a"


def test_carriage_returns_end_no_line() -> None:
    parser = flood_parser()

    events = parser.feed_block("10%\r\r\n50%\r100%\r\n\r")

    assert events == [LogBlock(stage=0, step=2, text="10%\n50%\r100%\n")]


def test_bare_image_id_in_flood() -> None:
    parser = flood_parser()
    image = "f" * 64

    events = parser.feed_block(f"a\n{image}\nb")

    assert parser.final_image is None
    assert events == [LogBlock(stage=0, step=2, text=f"a\n{image}\nb")]


def test_bare_image_id_after_commit() -> None:
    parser = flood_parser()
    image = "0123456789a" + "f" * 53

    events = parser.feed_block(f"a\n--> 0123456789a\n{image}")

    assert parser.final_image == image
    assert events == [LogBlock(stage=0, step=2, text="a")]


def test_random_blocks_of_a_recording() -> None:
    lines = (RECORDED / "glued.txt").read_text(encoding="utf-8").splitlines()
    expected = by_lines(new_parser("glued", None), lines, 0)
    chooser = random.Random(7)

    for _ in range(50):
        sizes = [chooser.randint(1, 6) for _ in range(10)]
        events = by_blocks(new_parser("glued", None), in_blocks(lines, sizes), 0)
        assert split_blocks(events) == expected


def read_blocks_of(output: bytes) -> list[str]:
    """Run a process that writes `output` and return what `_read_blocks` hands on."""
    writer = (
        "import sys, time\n"
        "data = sys.stdin.buffer.read()\n"
        "for start in range(0, len(data), 5000):\n"
        "    sys.stdout.buffer.write(data[start:start + 5000])\n"
        "    sys.stdout.flush()\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", writer],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert process.stdin is not None
    process.stdin.write(output)
    process.stdin.close()
    blocks: list[str] = []
    _read_blocks(process, blocks.append)
    assert process.wait() == 0
    return blocks


def test_read_blocks_hands_on_whole_lines() -> None:
    lines = [f"line {n} " + "é" * (n % 7) for n in range(20_000)]
    output = ("\n".join(lines) + "\nno newline at the end").encode()

    blocks = read_blocks_of(output)

    assert "\n".join(blocks).split("\n") == [*lines, "no newline at the end"]
    assert len(blocks) > 1


def test_read_blocks_joins_a_long_line_once() -> None:
    long_line = "x" * 3_000_000

    blocks = read_blocks_of(f"short\n{long_line}\nend\n".encode())

    assert "\n".join(blocks).split("\n") == ["short", long_line, "end"]


def test_consecutive_output_of_one_step_is_one_block() -> None:
    parser = new_parser("multistage", None)
    text = (RECORDED / "cold.txt").read_text(encoding="utf-8").rstrip("\n")

    events = parser.feed_block(text)

    assert len([event for event in events if isinstance(event, StepStarted)]) == 7
    for before, after in zip(events, events[1:], strict=False):
        if isinstance(before, LogBlock) and isinstance(after, LogBlock):
            assert (before.stage, before.step) != (after.stage, after.step)


def test_fake_commit_in_block_is_output() -> None:
    plan = load_plan(RECORDED / "multistage.Containerfile")
    real = "0123456789a" + "b" * 53
    parser = OutputParser(
        plan, resolve_image=lambda ref: real if real.startswith(ref) else None
    )
    lines = (RECORDED / "cold.txt").read_text(encoding="utf-8").splitlines()
    run_line = next(i for i, line in enumerate(lines) if "STEP 2/" in line)
    for line in lines[: run_line + 1]:
        parser.feed(line)

    events = parser.feed_block("--> 99999999999\nx --> 88888888888\n--> 0123456789a")

    assert events == [
        LogBlock(stage=0, step=2, text="--> 99999999999\nx --> 88888888888")
    ]
    assert parser.running is not None
    assert parser.running.image == real
