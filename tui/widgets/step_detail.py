"""The engine's findings about the selected step, under the steps table.

For a step: its cache result and why it missed, the prediction of a
watch-mode rebuild, the bytes it added, what a COPY --from carried, and the
findings on its lines. For the end row of a stage: the stage's size and
summary. Everything comes from the InsightModel.
"""

from __future__ import annotations

from collections.abc import Mapping

from rich.text import Text
from textual.widgets import Static

from engine.breakpoints import Position
from engine.insight import format_size
from tui.format import format_seconds
from tui.insight_model import InsightModel
from tui.insight_text import describe_crossing, finding_label, severity_style
from tui.model import BuildModel, StepRecord
from tui.widgets.steady import show_content


class StepDetail(Static):
    """A few lines about the selected step or stage."""

    def show(self, model: BuildModel, position: Position | None, end: bool) -> None:
        if not isinstance(model, InsightModel) or position is None:
            show_content(self, "")
            return
        theme = self.app.theme_variables
        if end:
            self.border_title = f"Stage {model.plan.stages[position.stage].label}"
            show_content(self, stage_text(model, position.stage, theme))
            return
        record = model.steps.get(position)
        if record is None:
            show_content(self, "")
            return
        label = model.plan.stages[position.stage].label
        self.border_title = f"Step · {label} step {position.step}"
        show_content(self, step_text(model, record, theme))


def step_text(
    model: InsightModel, record: StepRecord, theme: Mapping[str, str]
) -> Text:
    muted = "dim"
    text = Text()
    text.append(_outcome(model, record), style="bold")
    added = model.step_added(record)
    if added is not None:
        kind = "base image" if record.step == 1 else "added"
        text.append(f" · {kind} {format_size(added)}")
    size = model.sizes.get(record.image)
    if size is not None and record.step > 1:
        text.append(f" · image {format_size(size)}", style=muted)
    reason = model.miss_reasons.get(record.position)
    if reason:
        text.append(f"\ncache miss: {reason}")
    prediction = _prediction_line(model, record)
    if prediction:
        style = theme.get("warning", "") if model.mispredicted(record) else muted
        text.append(f"\n{prediction}", style=style)
    crossing = model.crossing_at(record.line) if record.line else None
    if crossing is not None and crossing.get("to") == record.stage:
        source = model.plan.stages[int(crossing["from"])].label
        paths = " ".join(str(path) for path in crossing.get("paths", ()))
        text.append(
            f"\ncarried {describe_crossing(crossing)} from stage {source} ({paths})"
        )
    for finding in model.findings_of_step(record.position):
        style = severity_style(finding.severity, theme)
        text.append(f"\n{finding_label(finding)}: ", style=style)
        text.append(finding.message)
    return text


def _outcome(model: InsightModel, record: StepRecord) -> str:
    status = model.step_status(record).value
    seconds = format_seconds(model.step_seconds(record))
    if record.cached is not None and record.step > 1:
        status = "cache hit" if record.cached else "cache miss, rebuilt"
    where = f"line {record.line}" if record.line else "added by buildah"
    return " · ".join(part for part in (where, status, seconds) if part)


def _prediction_line(model: InsightModel, record: StepRecord) -> str:
    expected = model.predicted(record.position)
    if expected is None or model.prediction is None:
        return ""
    first = model.prediction.first_miss
    because = ""
    if first is not None and tuple(first) == tuple(record.position):
        because = f" ({model.prediction.reason})"
    line = f"predicted: {'rerun' if expected == 'rerun' else 'cache hit'}{because}"
    if model.mispredicted(record):
        actual = "a cache hit" if record.cached else "rebuilt"
        line += f"; it was {actual}, so the prediction was wrong"
    return line


def stage_text(model: InsightModel, stage: int, theme: Mapping[str, str]) -> Text:
    text = Text()
    status = model.stage_status(stage).value
    seconds = format_seconds(model.stage_seconds(stage))
    text.append(" · ".join(part for part in (status, seconds) if part), style="bold")
    finished = model.stages_finished.get(stage)
    if finished is not None:
        text.append(f"\n{finished.summary or format_size(finished.size)}")
    elif model.plan.stages[stage].needed:
        text.append(
            "\nsize and summary after a finished build",
            style="dim",
        )
    for finding in model.findings_of_stage(stage):
        style = severity_style(finding.severity, theme)
        text.append(f"\n{finding_label(finding)}: ", style=style)
        text.append(finding.message)
    return text
