"""The fast paths of the log: batched writes, direct JSON and clean lines.

Each fast path must give the same result as the plain code it skips, which
these tests compare.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.cells import cell_len
from textual.app import App, ComposeResult
from textual.message import Message

from engine.breakpoints import Position
from engine.events import LogBlock, StepFinished, StepStarted
from tui.batcher import EventBatcher
from tui.logstore import LogStore, _event_json
from tui.widgets.log_view import LogView, _max_cells, clean_line

TEXTS = [
    "plain",
    "",
    'quotes " and \\ backslash',
    "tab\there",
    "\x1b[31mred\x1b[0m",
    "10%\r100%",
    "accents é and wide 漢字 and ✓",
    "control \x00\x07\x7f and line separator \u2028",
]


@pytest.mark.parametrize("text", [*TEXTS, "several\nlines\n"])
@pytest.mark.parametrize(("stage", "step"), [(0, 4), (None, None), (12, None)])
def test_log_block_json_matches_to_json(
    text: str, stage: int | None, step: int | None
) -> None:
    line = LogBlock(stage=stage, step=step, text=text)
    assert _event_json(line) == line.to_json()


def test_other_events_keep_to_json() -> None:
    event = StepStarted(stage=0, step=2, instruction="RUN x", line=3)
    assert _event_json(event) == event.to_json()


def make_lines() -> list[LogBlock]:
    lines = [LogBlock(stage=0, step=2, text=f"two {n}") for n in range(3)]
    lines.append(LogBlock(stage=None, step=None, text="outside"))
    lines += [LogBlock(stage=0, step=3, text=text) for text in TEXTS]
    lines.append(LogBlock(stage=0, step=2, text="two again"))
    return lines


def run_files(store: LogStore) -> dict[str, str]:
    return {path.name: path.read_text() for path in store.run_folder.iterdir()}


def test_record_blocks_writes_what_record_writes(tmp_path: Path) -> None:
    one_by_one = LogStore.create(tmp_path / "one")
    one_by_one.new_run()
    batched = LogStore.create(tmp_path / "batched")
    batched.new_run()
    lines = make_lines()

    for line in lines:
        one_by_one.record(line)
    batched.record_blocks(lines[:5])
    batched.record_blocks(lines[5:])
    one_by_one.flush()
    batched.flush()

    assert run_files(batched) == run_files(one_by_one)
    assert batched.written == one_by_one.written
    assert batched.written[Position(0, 2)] == 4


def test_batcher_writes_lines_before_the_next_event(tmp_path: Path) -> None:
    store = LogStore.create(tmp_path)
    store.new_run()
    posted: list[Message] = []
    batcher = EventBatcher(posted.append, store, max_lines=2, interval=10.0)

    batcher(StepStarted(stage=0, step=2, instruction="RUN x", line=3))
    for number in range(5):
        batcher(LogBlock(stage=0, step=2, text=f"line {number}"))
    batcher(StepFinished(stage=0, step=2, image=None, cached=False, seconds=1.0))
    store.flush()

    events = (store.run_folder / "events.jsonl").read_text().splitlines()
    names = [json.loads(event)["event"] for event in events]
    assert names == ["step-started", *["log"] * 5, "step-finished"]
    assert store.tail(Position(0, 2), 10, shown=5) == [f"line {n}" for n in range(5)]


def test_max_cells_counts_wide_characters() -> None:
    lines = ["abc", "漢字漢字", "ab"]
    assert _max_cells(lines) == max(cell_len(line) for line in lines) == 8
    assert _max_cells(["abc", "abcde"]) == 5


class LogApp(App[None]):
    def compose(self) -> ComposeResult:
        yield LogView(max_lines=5)


async def test_append_cleans_lines_and_keeps_the_newest() -> None:
    app = LogApp()
    async with app.run_test(size=(60, 10)) as pilot:
        view = app.query_one(LogView)
        view.append(TEXTS)
        await pilot.pause()

        assert view.lines == [clean_line(text) for text in TEXTS][-5:]
        assert view.dropped == len(TEXTS) - 5
        assert view.virtual_size.height == 5


async def test_append_after_a_gap_replaces_the_lines() -> None:
    app = LogApp()
    async with app.run_test(size=(60, 10)) as pilot:
        view = app.query_one(LogView)
        view.append(["one", "two", "three"])
        view.append(["ten"], after_gap=True)
        await pilot.pause()

        assert view.lines == ["ten"]
        assert view.dropped == 3
