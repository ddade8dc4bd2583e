"""The build model plus what the engine works out beyond progress.

`InsightModel` folds, on top of `BuildModel`, the events that explain a
build: why each step missed the cache (`step-finished` with `miss_reason`),
the size and summary of each stage (`stage-finished`), what each
COPY --from carried (`build-finished` with `crossings`), and in watch mode
the prediction before each rebuild and the report after it. It also keeps
the pre-flight findings of the Containerfile, which the app sets before
each build, and the exact image sizes that the insight hook measured.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from engine.breakpoints import Position
from engine.checks import Finding
from engine.events import (
    BreakpointDropped,
    BuildFinished,
    Event,
    RebuildFinished,
    RebuildPredicted,
    RebuildSkipped,
    StageFinished,
    StepFinished,
)
from engine.plan import Instruction, Plan
from tui.insight_tap import ImageSizeBook
from tui.model import BuildModel, StepRecord

SEVERITY_ORDER = ("error", "warning", "info")


class InsightModel(BuildModel):
    """A BuildModel that also keeps findings, miss reasons, sizes and, in
    watch mode, predictions. Like BuildModel it does not use Textual."""

    def __init__(
        self,
        plan: Plan,
        clock: Callable[[], float] = time.monotonic,
        sizes: ImageSizeBook | None = None,
    ) -> None:
        self.findings: list[Finding] = []
        """Findings of the last pre-flight check; a new check replaces them."""
        self.sizes = sizes if sizes is not None else ImageSizeBook()
        self.watching = False
        """True in watch mode, where each change starts a rebuild."""
        self.rebuilds = 0
        self.skipped: RebuildSkipped | None = None
        """The last change that started no rebuild, until the next rebuild."""
        self.dropped: list[BreakpointDropped] = []
        super().__init__(plan, clock)

    def reset(self, plan: Plan) -> None:
        super().reset(plan)
        self.miss_reasons: dict[Position, str] = {}
        self.stages_finished: dict[int, StageFinished] = {}
        self.crossings: dict[int, dict[str, Any]] = {}
        """What each COPY --from carried, by the line of the instruction."""
        self.prediction: RebuildPredicted | None = None
        self.report: RebuildFinished | None = None

    def apply(self, event: Event) -> None:
        super().apply(event)
        if isinstance(event, StepFinished) and event.miss_reason:
            self.miss_reasons[Position(event.stage, event.step)] = event.miss_reason
        elif isinstance(event, StageFinished):
            self.stages_finished[event.stage] = event
        elif isinstance(event, BuildFinished):
            self.crossings = {int(c["line"]): c for c in event.crossings}
        elif isinstance(event, RebuildPredicted):
            self.prediction = event
            self.rebuilds += 1
            self.skipped = None
        elif isinstance(event, RebuildFinished):
            self.report = event
        elif isinstance(event, RebuildSkipped):
            self.skipped = event
        elif isinstance(event, BreakpointDropped):
            self.dropped.append(event)

    # Findings

    def findings_for(self, instruction: Instruction) -> list[Finding]:
        """Return the findings on the lines of `instruction`, worst first."""
        found = [
            finding
            for finding in self.findings
            if finding.line is not None
            and instruction.first_line <= finding.line <= instruction.last_line
        ]
        return sorted(found, key=lambda f: SEVERITY_ORDER.index(f.severity))

    def findings_of_step(self, position: Position) -> list[Finding]:
        instruction = self.plan.instruction(*position)
        return self.findings_for(instruction) if instruction is not None else []

    def findings_of_stage(self, stage: int) -> list[Finding]:
        found: list[Finding] = []
        for instruction in self.plan.stages[stage].instructions:
            found += self.findings_for(instruction)
        return found

    # Prediction

    def predicted(self, position: Position) -> str | None:
        """Return "rerun" or "cached" for a step the prediction covers, else None."""
        prediction = self.prediction
        if prediction is None:
            return None
        key = (position.stage, position.step)
        if key in prediction.rerun:
            return "rerun"
        if key in prediction.cached:
            return "cached"
        return None

    def mispredicted(self, record: StepRecord) -> bool:
        """Return True when a finished step's cache result differs from the
        prediction."""
        expected = self.predicted(record.position)
        if expected is None or record.cached is None:
            return False
        return record.cached != (expected == "cached")

    # Sizes

    def image_size(self, image: str | None) -> int | None:
        return self.sizes.get(image)

    def step_added(self, record: StepRecord) -> int | None:
        """Return the bytes a step added to the image before it, when both
        images were measured; FROM adds its whole base image."""
        size = self.sizes.get(record.image)
        if size is None:
            return None
        if record.step == 1:
            return size
        before = self.steps.get(Position(record.stage, record.step - 1))
        before_size = self.sizes.get(before.image if before else None)
        return None if before_size is None else size - before_size

    def crossing_at(self, line: int) -> dict[str, Any] | None:
        return self.crossings.get(line)
