"""Map buildah's build output to events, by meaning rather than by counting lines.

Facts the parser relies on (buildah 1.22 to 1.44):

- A step line is `[i/n] STEP k/m: TEXT`. `[i/n]` (the 1-based stage position)
  is missing when the file has one stage up to the target, skipped stages
  leave gaps in `i`, and `m` grows by one per ONBUILD trigger of the base.
  FROM lines show the base with ARGs expanded, and an earlier stage as its
  64-hex image ID; other instructions are printed as written.
- With `--layers` every step after FROM commits and prints `--> <short id>`
  (11 hex characters up to 1.29, 12 from 1.30). A cache hit first prints
  `--> Using cache <64 hex>`. The last step may print `COMMIT` before its ID,
  and a successful build ends with the final image's 64-hex ID.
- A RUN's own output may lack a final newline, so a marker can arrive glued
  to the end of a log line, and a RUN may print text that looks like a step
  line or a commit. A step line is accepted only when it is the next step
  the plan expects and the running step has committed. A RUN's commit line
  is accepted only when its ID names an image.
- A stage that a `COPY --from` or `RUN --mount=from=` needs may be built on
  demand while that step runs (seen on 1.28 when the stage's cache missed but
  the steps before the COPY hit): its `[i/n] STEP 1/m: FROM` line arrives
  before the COPY's ID line, its steps follow, and the COPY's ID comes after
  the nested stage's last ID.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from engine.events import (
    Event,
    LogBlock,
    LogLine,
    StepFailed,
    StepFinished,
    StepStarted,
)
from engine.plan import Instruction, Plan

log = logging.getLogger(__name__)

STEP_MARKER = re.compile(
    r"(?:\[(?P<stage>\d+)/\d+\] )?STEP (?P<step>\d+)(?:/(?P<steps>\d+))?: (?P<text>.*)$"
)
USING_CACHE = re.compile(r"^--> Using cache (?P<image>[0-9a-f]{64})\s*$")
COMMITTED = re.compile(r"--> (?P<image>[0-9a-f]{11,64})\s*$")
COMMIT = re.compile(r"^(?:\[\d+/\d+\] )?COMMIT(?: \S.*)?$")
FULL_IMAGE_ID = re.compile(r"^[0-9a-f]{64}$")
ERROR = re.compile(r"^Error: (?P<message>.*)$")
STAGE_IMAGE_IN_FROM = re.compile(r"^FROM (?:--\S+ )*(?P<image>[0-9a-f]{64})\b")

MARKER_NEEDLES = ("STEP ", "--> ", "COMMIT", "Error: ")
"""Text that every line `feed` treats as more than a log line contains,
unless the line is a bare 64-hex image ID."""
MARKER_CANDIDATE = re.compile(
    r"^[^\n]*?(?:STEP |--> |COMMIT|Error: )[^\n]*$|^[0-9a-f]{64}\r*$", re.MULTILINE
)
HEX_ID_LINE = re.compile(r"^[0-9a-f]{64}\r*$", re.MULTILINE)
TRAILING_CR = re.compile(r"\r+$", re.MULTILINE)


@dataclass
class _RunningStep:
    stage: int
    step: int
    instruction: Instruction | None
    started: float
    image: str | None = None
    cached: bool = False
    committed_at: float | None = None
    printed_text: str = ""
    printed_total: int | None = None
    """The `m` of `STEP k/m`, where buildah printed one."""


def normalize(text: str) -> str:
    return " ".join(text.split())


class OutputParser:
    """Turns buildah output lines into events for one buildah run.

    `resolve_image` maps a short ID or an image name to a full image ID, or
    to None when there is no such image. It is called once per FROM of an
    external image, once per commit line of a RUN, and once per other
    committed step whose full ID neither a cache line nor the build's last
    line gave.
    """

    def __init__(
        self,
        plan: Plan,
        resolve_image: Callable[[str], str | None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.plan = plan
        self.resolve_image = resolve_image
        self.clock = clock
        self.running: _RunningStep | None = None
        self.stage_images: dict[int, str | None] = {}
        """Per stage, the image after its latest finished step."""
        self.final_image: str | None = None
        self.error_message: str | None = None
        self.finished_steps: list[StepFinished] = []
        self.from_step_totals: dict[int, int] = {}
        """Per stage, the `m` of its FROM line, before ONBUILD triggers add steps."""
        self.suspended: list[_RunningStep] = []
        """Steps waiting for a stage that buildah builds on demand inside them."""
        self.started_stages: set[int] = set()

    # Reading lines

    def feed_block(self, text: str) -> list[Event]:
        """Read complete lines joined by newlines; report output as LogBlocks.

        Gives the same events as `feed` on each line, except that consecutive
        log lines of one step come as one LogBlock. Only lines that could be a
        marker go through `feed`. The lines between them are sliced out of
        `text` whole, which keeps a flood of output cheap.
        """
        collected: list[Event] = []
        if any(needle in text for needle in MARKER_NEEDLES):
            candidates = MARKER_CANDIDATE.finditer(text)
        elif self._ready_for_next_step() and HEX_ID_LINE.search(text):
            candidates = HEX_ID_LINE.finditer(text)
        else:
            self._log_block(text, collected)
            return collected
        start = 0
        for match in candidates:
            if match.start() > start:
                # The newline before the candidate ends the plain lines.
                self._log_block(text[start : match.start() - 1], collected)
            for event in self.feed(match.group()):
                if isinstance(event, LogLine):
                    self._log_block(event.text, collected)
                else:
                    collected.append(event)
            start = match.end() + 1
        if start <= len(text):
            self._log_block(text[start:], collected)
        return _join_blocks(collected)

    def _log_block(self, text: str, events: list[Event]) -> None:
        if "\r" in text:
            text = TRAILING_CR.sub("", text)
        stage = self.running.stage if self.running else None
        step = self.running.step if self.running else None
        events.append(LogBlock(stage=stage, step=step, text=text))

    def feed(self, line: str) -> list[Event]:
        line = line.rstrip("\r\n")
        events: list[Event] = []

        nested = self._find_nested_stage(line)
        if nested is not None:
            stage, total, text = nested
            assert self.running is not None
            self.suspended.append(self.running)
            self.running = None
            events.append(self._start(stage, 1, text, total))
            if total == 1:
                events += self._end_nested_stage()
            return events

        marker = self._find_step_marker(line)
        if marker is not None:
            position, stage, step, text = marker
            if position > 0:
                events += self._text(line[:position])
            if self._is_trigger(stage, step):
                # An ONBUILD trigger belongs to the FROM step: its output is
                # logged there and its commit becomes that step's image.
                return events + [self._log(line[position:])]
            events += self._finish_running()
            marker_match = STEP_MARKER.match(line, position)
            steps = marker_match.group("steps") if marker_match else None
            events.append(self._start(stage, step, text, int(steps) if steps else None))
            return events

        return events + self._text(line)

    def _text(self, line: str) -> list[Event]:
        """Handle a line that is not a step marker: an ID line, an error or a log."""
        match = USING_CACHE.match(line)
        if match and self.running is not None:
            self.running.cached = True
            self.running.image = match.group("image")
            return []

        match = COMMITTED.search(line)
        if match and self.running is not None and self._is_commit(match.group("image")):
            events = self._text(line[: match.start()]) if match.start() > 0 else []
            self._commit(match.group("image"))
            running = self.running
            if self.suspended and running.printed_total == self._printed_step(running):
                events += self._end_nested_stage()
            return events

        if COMMIT.match(line):
            return []
        if (
            FULL_IMAGE_ID.match(line)
            and self.running is not None
            and self._ready_for_next_step()
        ):
            # Buildah prints the final image's ID after the last step
            # committed; before that, a bare ID is the running step's output.
            self.final_image = line
            return []

        match = ERROR.match(line)
        if match:
            self.error_message = match.group("message")
        return [self._log(line)]

    def _log(self, text: str) -> LogLine:
        stage = self.running.stage if self.running else None
        step = self.running.step if self.running else None
        return LogLine(stage=stage, step=step, text=text)

    # Stages built on demand

    def _find_nested_stage(self, line: str) -> tuple[int, int, str] | None:
        """Return (stage, m, text) of a FROM line that starts a nested stage."""
        running = self.running
        if running is None or running.step == 1 or running.image is not None:
            return None
        if running.instruction is None or not self._reads_other_stage(
            running.instruction
        ):
            return None
        match = STEP_MARKER.match(line)
        if (
            match is None
            or match.group("stage") is None
            or match.group("steps") is None
        ):
            return None
        stage = int(match.group("stage")) - 1
        text = match.group("text")
        if (
            not normalize(text).upper().startswith("FROM ")
            or int(match.group("step")) != 1
            or stage in self.started_stages
            or stage >= len(self.plan.stages)
        ):
            return None
        self.from_step_totals[stage] = int(match.group("steps"))
        return stage, int(match.group("steps")), text

    @staticmethod
    def _reads_other_stage(instruction: Instruction) -> bool:
        if instruction.keyword in ("COPY", "ADD"):
            return instruction.flag("from") is not None
        return instruction.keyword == "RUN" and bool(instruction.mount_sources())

    def _end_nested_stage(self) -> list[Event]:
        """Finish the nested stage's last step and return to the step that waited."""
        events = self._finish_running()
        self.running = self.suspended.pop()
        return events

    def _printed_step(self, running: _RunningStep) -> int:
        triggers = 0
        from_total = self.from_step_totals.get(running.stage)
        if from_total is not None and running.printed_total is not None:
            triggers = max(running.printed_total - from_total, 0)
        return running.step + triggers

    # Step markers

    def _find_step_marker(self, line: str) -> tuple[int, int, int, str] | None:
        """Return (position in line, stage, step, text) of an accepted marker."""
        if not self._ready_for_next_step():
            return None
        search_from = 0
        while True:
            index = line.find("STEP ", search_from)
            if index < 0:
                return None
            start = index
            prefix = re.search(r"\[\d+/\d+\] $", line[:index])
            if prefix:
                start = prefix.start()
            match = STEP_MARKER.match(line, start)
            if match:
                accepted = self._accept(match)
                if accepted is not None:
                    return (start, *accepted)
            search_from = index + 1

    def _ready_for_next_step(self) -> bool:
        # Every step after FROM commits and prints its ID before the next step
        # line, so a step line while a RUN is still running is the RUN's output.
        running = self.running
        return running is None or running.step == 1 or running.image is not None

    def _accept(self, match: re.Match[str]) -> tuple[int, int, str] | None:
        text = match.group("text")
        printed_stage = int(match.group("stage")) - 1 if match.group("stage") else None
        printed_step = int(match.group("step"))
        per_stage_counter = match.group("steps") is not None

        if normalize(text).upper().startswith("FROM "):
            stage = self._next_stage(printed_stage)
            if stage is None or (per_stage_counter and printed_step != 1):
                return None
            total = match.group("steps")
            if total is not None:
                self.from_step_totals[stage] = int(total)
            return stage, 1, text

        if self.running is None:
            return None
        stage = self.running.stage
        if printed_stage is not None and printed_stage != stage:
            return None
        step = self.running.step + 1
        if per_stage_counter:
            # buildah runs the base image's ONBUILD triggers right after FROM
            # and counts them as steps, so the stage's step total grows by one
            # per trigger and the Containerfile's steps move up by as many.
            total = int(match.group("steps"))
            from_total = self.from_step_totals.get(stage, total)
            triggers = max(total - from_total, 0)
            if printed_step - triggers <= 1:
                if self.running.step == 1 and match.start() == 0:
                    return stage, 1, text
                return None
            if printed_step - triggers != step:
                return None
        expected = self.plan.instruction(stage, step)
        if expected is not None and self._same_instruction(expected, text):
            return stage, step, text
        if expected is None and per_stage_counter and match.start() == 0:
            # A step the Containerfile does not contain: an ONBUILD trigger
            # of the base image, or an ENV/LABEL step added by buildah itself.
            return stage, step, text
        return None

    def _next_stage(self, printed_stage: int | None) -> int | None:
        current = self.running.stage if self.running else -1
        if printed_stage is not None:
            # Stages usually come in file order, but one built on demand
            # earlier can make a later position arrive first.
            valid = (
                printed_stage not in self.started_stages
                and 0 <= printed_stage < len(self.plan.stages)
            )
            return printed_stage if valid else None
        for index in self.plan.build_order:
            if index > current:
                return index
        return None

    @staticmethod
    def _same_instruction(expected: Instruction, printed: str) -> bool:
        printed_text = normalize(printed)
        expected_text = normalize(expected.original.split("\n")[0])
        if not printed_text.upper().startswith(expected.keyword):
            return False
        return (
            printed_text == expected_text
            or expected_text.startswith(printed_text)
            or printed_text.startswith(expected_text)
        )

    def _is_trigger(self, stage: int, step: int) -> bool:
        running = self.running
        return running is not None and running.stage == stage and step == 1

    # Step lifecycle

    def _start(
        self, stage: int, step: int, text: str, printed_total: int | None = None
    ) -> StepStarted:
        instruction = self.plan.instruction(stage, step)
        self.started_stages.add(stage)
        self.running = _RunningStep(
            stage=stage,
            step=step,
            instruction=instruction,
            started=self.clock(),
            printed_text=text,
            printed_total=printed_total,
        )
        line = instruction.first_line if instruction else None
        return StepStarted(stage=stage, step=step, instruction=text, line=line)

    def _is_commit(self, short_id: str) -> bool:
        """Tell buildah's `--> ID` line from a RUN's output that looks like it:
        the ID of a real commit names an image, which is looked up now."""
        running = self.running
        assert running is not None
        instruction = running.instruction
        if instruction is None or instruction.keyword != "RUN":
            return True
        if running.image is not None and running.image.startswith(short_id):
            return True
        full_id = self.resolve_image(short_id)
        if full_id is None:
            return False
        running.image = full_id
        return True

    def _commit(self, image: str) -> None:
        running = self.running
        assert running is not None
        if running.image is None or not running.image.startswith(image):
            # A short ID is resolved when the step is reported: by then the
            # last step's ID may be known in full from the build's last line.
            running.image = image
        running.committed_at = self.clock()

    def _finish_running(self) -> list[Event]:
        running = self.running
        if running is None:
            return []
        if running.step == 1 and running.image is None:
            running.image = self._base_image(running)
        elif running.image is not None and len(running.image) < 64:
            running.image = self._full_image_id(running.image)
        end = running.committed_at if running.committed_at is not None else self.clock()
        finished = StepFinished(
            stage=running.stage,
            step=running.step,
            image=running.image,
            cached=running.cached,
            seconds=round(end - running.started, 3),
        )
        self.stage_images[running.stage] = running.image
        self.finished_steps.append(finished)
        return [finished]

    def _full_image_id(self, short_id: str) -> str:
        if self.final_image is not None and self.final_image.startswith(short_id):
            return self.final_image
        return self.resolve_image(short_id) or short_id

    def _base_image(self, running: _RunningStep) -> str | None:
        match = STAGE_IMAGE_IN_FROM.match(normalize(running.printed_text))
        if match:
            return match.group("image")
        base = self.plan.stages[running.stage].base
        if base == "scratch":
            return None
        return self.resolve_image(base)

    # End of the run

    def finish(self, exit_code: int) -> list[Event]:
        """Close the run: finish the last step, or report the step that failed."""
        running = self.running
        if exit_code == 0:
            events = self._finish_running()
            self.running = None
            return events

        failed_step = running if running and running.image is None else None
        if running is not None and failed_step is None:
            # The step committed, so buildah failed after it, e.g. while tagging.
            events = self._finish_running()
        else:
            events = []
        message = self.error_message or f"buildah exited with status {exit_code}"
        instruction = failed_step.instruction if failed_step else None
        events.append(
            StepFailed(
                stage=failed_step.stage if failed_step else None,
                step=failed_step.step if failed_step else None,
                instruction=failed_step.printed_text if failed_step else None,
                line=instruction.first_line if instruction else None,
                exit_code=exit_code,
                message=message,
                image=self.image_before(failed_step) if failed_step else None,
                seconds=round(self.clock() - failed_step.started, 3)
                if failed_step
                else 0.0,
            )
        )
        self.running = None
        return events

    def image_before(self, running: _RunningStep) -> str | None:
        if running.step == 1:
            return None
        return self.stage_images.get(running.stage)


def _join_blocks(events: list[Event]) -> list[Event]:
    """Merge consecutive LogBlocks of one step into one."""
    joined: list[Event] = []
    texts: list[str] = []
    for event in events:
        if isinstance(event, LogBlock):
            previous = joined[-1] if joined else None
            if (
                isinstance(previous, LogBlock)
                and texts
                and (previous.stage, previous.step) == (event.stage, event.step)
            ):
                texts.append(event.text)
                continue
            _close_block(joined, texts)
            texts = [event.text]
            joined.append(event)
        else:
            _close_block(joined, texts)
            texts = []
            joined.append(event)
    _close_block(joined, texts)
    return joined


def _close_block(joined: list[Event], texts: list[str]) -> None:
    """Replace the last event, a LogBlock, with one holding all of `texts`."""
    if len(texts) > 1:
        last = joined[-1]
        assert isinstance(last, LogBlock)
        joined[-1] = LogBlock(last.stage, last.step, "\n".join(texts))
