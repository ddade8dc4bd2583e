"""The full build log on disk: one file per step, one for the whole run.

The log widget keeps only the newest lines, so everything buildah printed is
written here: events as they arrive, log lines in batches (see
`tui.batcher`). Each run (a start or a rebuild) gets a folder of its own
holding `build.log` (all output, with a header per step),
`stage<S>-step<K>.log` per step, and `events.jsonl`, which is a recording
that `stagescope replay` reads. The recording keeps each block of output in
one `log` event whose text holds its lines separated by newlines, which is
cheaper to write than one event per line and which `replay` reads too.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import threading
import time
from collections import deque
from collections.abc import Sequence
from json.encoder import encode_basestring
from pathlib import Path
from typing import IO

from engine.breakpoints import Position
from engine.events import Event, LogBlock, StepStarted

log = logging.getLogger(__name__)

KEEP_SESSIONS = 20
"""Log folders of earlier app sessions kept under the log root."""

TAIL_CHUNK = 64 * 1024

_LOG_BLOCK_JSON_FAST = tuple(f.name for f in dataclasses.fields(LogBlock)) == (
    "stage",
    "step",
    "text",
)
"""Whether `_event_json` writes every field of LogBlock, so it can skip `to_json`."""


def default_log_root() -> Path:
    """Return $XDG_CACHE_HOME/stagescope/logs, or ~/.cache/stagescope/logs."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "stagescope" / "logs"


class LogStore:
    """Writes the logs of every run of one app session under `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.run_folder = folder
        self.runs = 0
        self._lock = threading.Lock()
        self._build_log: IO[bytes] | None = None
        self._events: IO[str] | None = None
        self._step_file: IO[bytes] | None = None
        self._step_position: Position | None = None
        self.written: dict[Position | None, int] = {}
        """Lines written per step in the current run."""
        self._sizes: dict[Position | None, int] = {}
        self._ends: dict[Position | None, dict[int, int]] = {}
        """Per step, the size in bytes of its log file after each block, by
        the number of lines written by then."""

    @classmethod
    def create(cls, root: Path) -> LogStore:
        """Make a new session folder under `root`, pruning the oldest ones."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        folder = root / f"{stamp}-{os.getpid()}"
        folder.mkdir(parents=True, exist_ok=True)
        _prune(root, keep=KEEP_SESSIONS)
        return cls(folder)

    def new_run(self) -> Path:
        """Close the current run's files and start the folder of the next run."""
        with self._lock:
            self._close_files()
            self.runs += 1
            self.run_folder = self.folder / f"run-{self.runs}"
            self.run_folder.mkdir(parents=True, exist_ok=True)
            self.written = {}
            self._sizes = {}
            self._ends = {}
            self._build_log = open(  # noqa: SIM115 - closed by _close_files
                self.run_folder / "build.log", "ab"
            )
            self._events = open(  # noqa: SIM115 - closed by _close_files
                self.run_folder / "events.jsonl", "a", encoding="utf-8"
            )
        return self.run_folder

    def record(self, event: Event) -> None:
        """Append an event, and a log line's text, to the run's files."""
        with self._lock:
            if self._events is None:
                return
            self._events.write(_event_json(event) + "\n")
            if isinstance(event, StepStarted):
                assert self._build_log is not None
                header = f"STEP {event.stage}/{event.step}: {event.instruction}\n"
                self._build_log.write(header.encode())
            elif isinstance(event, LogBlock):
                self._write_block(event)

    def record_blocks(self, blocks: Sequence[LogBlock]) -> None:
        """Append blocks of output, as `record` does for each, in a few writes."""
        with self._lock:
            if self._events is None:
                return
            self._events.write("".join([_event_json(block) + "\n" for block in blocks]))
            for block in blocks:
                self._write_block(block)

    def flush(self) -> None:
        with self._lock:
            for handle in (self._build_log, self._events, self._step_file):
                if handle is not None:
                    handle.flush()

    def close(self) -> None:
        with self._lock:
            self._close_files()

    def step_log(self, position: Position | None) -> Path:
        """Return the file of a step's lines; None means lines outside any step."""
        if position is None:
            return self.run_folder / "outside-steps.log"
        return self.run_folder / f"stage{position.stage}-step{position.step}.log"

    def tail(self, position: Position | None, count: int, shown: int) -> list[str]:
        """Return up to `count` lines of a step's log, ending at line `shown`.

        Lines after `shown` are on disk but not yet delivered to the app, which
        will append them when their batch arrives.
        """
        self.flush()
        if not count or not shown:
            return []
        with self._lock:
            end = self._ends.get(position, {}).get(shown)
            unseen = max(0, self.written.get(position, 0) - shown)
        if end is not None:
            # The app has seen whole batches, so its count ends a block.
            return read_tail(self.step_log(position), count, end=end)
        lines = read_tail(self.step_log(position), count + unseen)
        return lines[: len(lines) - unseen][-count:]

    def _write_block(self, block: LogBlock) -> None:
        """Write a block's lines to the build log and its step's log."""
        assert self._build_log is not None
        position = _position_of(block)
        data = (block.text + "\n").encode()
        self._build_log.write(data)
        if self._step_file is None or position != self._step_position:
            if self._step_file is not None:
                self._step_file.close()
            self._step_file = open(  # noqa: SIM115 - closed by _close_files
                self.step_log(position), "ab"
            )
            self._step_position = position
        self._step_file.write(data)
        lines = self.written.get(position, 0) + block.line_count
        self.written[position] = lines
        size = self._sizes.get(position, 0) + len(data)
        self._sizes[position] = size
        self._ends.setdefault(position, {})[lines] = size

    def _close_files(self) -> None:
        for handle in (self._build_log, self._events, self._step_file):
            if handle is not None:
                handle.close()
        self._build_log = self._events = self._step_file = None
        self._step_position = None


def _position_of(line: LogBlock) -> Position | None:
    if line.stage is None or line.step is None:
        return None
    return Position(line.stage, line.step)


def _event_json(event: Event) -> str:
    """Return `event.to_json()`, built directly for a block of output.

    The generic `to_json` is several times slower, and a flood of output
    makes this the hottest call of the log path. The text matches
    `json.dumps(..., ensure_ascii=False)`, which the tests check.
    """
    if type(event) is not LogBlock or not _LOG_BLOCK_JSON_FAST:
        return event.to_json()
    stage = "null" if event.stage is None else str(event.stage)
    step = "null" if event.step is None else str(event.step)
    text = encode_basestring(event.text)
    return f'{{"event": "log", "stage": {stage}, "step": {step}, "text": {text}}}'


def read_tail(path: Path, count: int, end: int | None = None) -> list[str]:
    """Return the last `count` lines of a text file, or of its first `end`
    bytes, reading from there backwards."""
    try:
        with open(path, "rb") as handle:
            if end is None:
                handle.seek(0, os.SEEK_END)
                end = handle.tell()
            chunks: deque[bytes] = deque()
            newlines = 0
            position = end
            while position > 0 and newlines <= count:
                size = min(TAIL_CHUNK, position)
                position -= size
                handle.seek(position)
                chunk = handle.read(size)
                chunks.appendleft(chunk)
                newlines += chunk.count(b"\n")
    except FileNotFoundError:
        return []
    # Not splitlines, which also splits at carriage returns and form feeds.
    lines = b"".join(chunks).decode("utf-8", "replace").split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines[-count:] if count else []


def _prune(root: Path, keep: int) -> None:
    sessions = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.name)
    for old in sessions[:-keep]:
        log.info("removing old log folder %s", old)
        shutil.rmtree(old, ignore_errors=True)
