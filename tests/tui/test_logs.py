"""The log store on disk, the event batcher and line cleaning."""

from __future__ import annotations

import threading
from pathlib import Path

from textual.message import Message

from engine.breakpoints import Position
from engine.events import LogBlock, StepFinished, StepStarted
from tui.batcher import EventBatcher
from tui.logstore import LogStore, read_tail
from tui.messages import BuildEvent, LogBatch
from tui.widgets.log_view import MAX_LINE_CHARS, clean_line


def test_store_writes_step_logs(tmp_path: Path) -> None:
    store = LogStore.create(tmp_path)
    store.new_run()
    store.record(StepStarted(stage=0, step=2, instruction="RUN x", line=3))
    for number in range(5):
        store.record(LogBlock(stage=0, step=2, text=f"line {number}"))
    store.record(LogBlock(stage=None, step=None, text="outside"))
    assert store.tail(Position(0, 2), 2, shown=5) == ["line 3", "line 4"]
    assert store.tail(Position(0, 2), 10, shown=3) == ["line 0", "line 1", "line 2"]
    assert store.tail(None, 10, shown=1) == ["outside"]
    build_log = (store.run_folder / "build.log").read_text()
    assert build_log.startswith("STEP 0/2: RUN x\nline 0\n")
    assert (store.run_folder / "events.jsonl").read_text().count("\n") == 7


def test_read_tail_of_large_file(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    path.write_text("".join(f"line {n}\n" for n in range(200_000)))
    tail = read_tail(path, 3)
    assert tail == ["line 199997", "line 199998", "line 199999"]


def test_clean_line_cuts_long_lines() -> None:
    line = clean_line("x" * (MAX_LINE_CHARS + 500))
    assert line.startswith("x" * MAX_LINE_CHARS + " … [500 more characters")


def test_clean_line_strips_escapes() -> None:
    assert clean_line("\x1b[31mred\x1b[0m\tok") == "red     ok"
    assert clean_line("10%\r50%\r100%") == "100%"


def test_batcher_keeps_order_and_bounds(tmp_path: Path) -> None:
    posted: list[Message] = []
    lock = threading.Lock()

    def post(message: Message) -> None:
        with lock:
            posted.append(message)

    batcher = EventBatcher(post, None, max_lines=100, interval=10.0)
    for number in range(250):
        batcher(LogBlock(stage=0, step=2, text=str(number)))
    batcher(StepFinished(stage=0, step=2, image=None, cached=False, seconds=1.0))
    batch, event = posted
    assert isinstance(batch, LogBatch)
    assert isinstance(event, BuildEvent)
    lines = batch.lines_of(Position(0, 2))
    assert lines == [str(number) for number in range(150, 250)]
    assert batch.counts == {Position(0, 2): 250}


def test_store_tail_keeps_carriage_returns_in_their_line(tmp_path: Path) -> None:
    store = LogStore.create(tmp_path)
    store.new_run()
    store.record(LogBlock(stage=0, step=2, text="10%\r50%\r100%\nform\x0cfeed"))
    store.record(LogBlock(stage=0, step=2, text="not seen yet"))

    assert store.tail(Position(0, 2), 5, shown=2) == ["10%\r50%\r100%", "form\x0cfeed"]
    assert store.tail(Position(0, 2), 1, shown=3) == ["not seen yet"]
