"""The output parser on a stage that buildah builds on demand inside a COPY.

tests/data/buildah-1.28/nested.txt is real buildah 1.28.2 output: the stage
`builder` missed the cache while the final stage's steps before its
`COPY --from=builder` hit, so buildah started the final stage first and built
`builder` while the COPY waited for it.
"""

from __future__ import annotations

from pathlib import Path

from engine.events import LogLine, StepFinished, StepStarted
from engine.output import OutputParser
from engine.plan import load_plan

RECORDED = Path(__file__).parent / "data" / "buildah-1.28"


def parse_nested() -> list[object]:
    plan = load_plan(RECORDED / "nested.Containerfile")
    parser = OutputParser(plan, resolve_image=lambda reference: f"full-{reference}")
    events: list[object] = []
    for line in (RECORDED / "nested.txt").read_text(encoding="utf-8").splitlines():
        events += parser.feed(line)
    events += parser.finish(0)
    return events


def test_nested_stage_steps_are_reported() -> None:
    started = [(e.stage, e.step) for e in parse_nested() if isinstance(e, StepStarted)]

    assert started == [(0, 1), (0, 2), (2, 1), (2, 2), (2, 3), (1, 1), (1, 2), (2, 4)]


def test_nested_stage_commit_goes_to_its_step() -> None:
    finished = {
        (e.stage, e.step): e.image
        for e in parse_nested()
        if isinstance(e, StepFinished)
    }

    assert finished[(1, 2)] == "full-9bc80ddf15b"
    assert finished[(2, 3)] == "full-7b9d923680d"
    assert finished[(2, 4)] == (
        "c42952daf554545b3cd7d6181f8303816dda291bcb839b9c473ac13ca4176c01"
    )


def test_nested_stage_leaves_no_step_line_in_log() -> None:
    logs = [e.text for e in parse_nested() if isinstance(e, LogLine)]

    assert logs == ["after"]
