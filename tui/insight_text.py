"""Short texts that mark findings, predictions and sizes in the steps table
and the stage graph.

In the steps table, the line cell carries the worst finding on that line:
`✘` error, `▲` warning, `ℹ` info. Until a step of a watch-mode rebuild
finishes, its cache cell shows the prediction (`→miss`, `→hit`). Then it
shows buildah's result, marked `≠` when the prediction was wrong. In the graph,
each stage gets a note (its predicted reruns, its size and summary, its
findings) and each COPY --from edge the files and bytes it carried.
"""

from __future__ import annotations

from collections.abc import Mapping

from rich.text import Text

from engine.checks import Finding
from engine.insight import format_size
from engine.plan import Edge
from tui.insight_model import InsightModel
from tui.model import BuildModel, Status, StepRecord

FINDING_MARKS = {"error": "✘", "warning": "▲", "info": "ℹ"}
FINDING_COLORS = {"error": "error", "warning": "warning", "info": "primary"}
"""Theme variable of each severity's color."""
MISPREDICTED_MARK = "≠"
SETTLED = (Status.CACHED, Status.DONE, Status.NOT_NEEDED)
"""Stage statuses after which a prediction no longer matters."""


def severity_style(severity: str, theme: Mapping[str, str]) -> str:
    return theme.get(FINDING_COLORS.get(severity, "primary"), "")


def finding_label(finding: Finding) -> str:
    """Return `▲ line 16 warning`, the start of a finding on screen."""
    where = f"line {finding.line}" if finding.line is not None else "no line"
    return f"{FINDING_MARKS[finding.severity]} {where} {finding.severity}"


def line_cell(model: BuildModel, record: StepRecord, theme: Mapping[str, str]) -> Text:
    """Return the line number of a step, marked with its worst finding."""
    text = Text(str(record.line) if record.line else "—")
    if not isinstance(model, InsightModel) or not record.in_plan:
        return text
    findings = model.findings_of_step(record.position)
    if findings:
        worst = findings[0].severity
        text.append(" " + FINDING_MARKS[worst], style=severity_style(worst, theme))
    return text


def cache_cell(model: BuildModel, record: StepRecord, theme: Mapping[str, str]) -> Text:
    """Return buildah's cache result of a step, or the prediction before it."""
    if record.step < 2:
        return Text("")
    if record.cached is not None:
        text = Text("hit" if record.cached else "miss")
        if isinstance(model, InsightModel) and model.mispredicted(record):
            text.append(MISPREDICTED_MARK, style=theme.get("warning", ""))
        return text
    if not isinstance(model, InsightModel):
        return Text("")
    predicted = model.predicted(record.position)
    if predicted is None:
        return Text("")
    word = "→miss" if predicted == "rerun" else "→hit"
    return Text(word, style="italic dim")


def stage_note(model: BuildModel, stage: int) -> str:
    """Return the lines under a stage node: prediction, summary, findings."""
    if not isinstance(model, InsightModel):
        return ""
    lines = []
    prediction = _stage_prediction(model, stage)
    if prediction:
        lines.append(prediction)
    finished = model.stages_finished.get(stage)
    if finished is not None and finished.summary:
        lines.append(finished.summary)
    findings = model.findings_of_stage(stage)
    if findings:
        lines.append(_count_findings(findings))
    return "\n".join(lines)


def _stage_prediction(model: InsightModel, stage: int) -> str:
    """Describe what a watch-mode rebuild is expected to rerun in `stage`,
    until the stage has finished."""
    if model.prediction is None or model.stage_status(stage) in SETTLED:
        return ""
    steps = [
        record.step
        for record in model.steps_of(stage)
        if model.predicted(record.position) == "rerun"
    ]
    if steps:
        count = "1 step" if len(steps) == 1 else f"{len(steps)} steps"
        return f"→ reruns {count} from step {min(steps)}"
    if any(model.predicted(r.position) == "cached" for r in model.steps_of(stage)):
        return "→ all cached"
    return ""


def _count_findings(findings: list[Finding]) -> str:
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding.severity] = counts.get(finding.severity, 0) + 1
    parts = []
    for severity, count in counts.items():
        noun = severity if count == 1 else f"{severity}s"
        if severity == "info":
            noun = "info"
        parts.append(f"{FINDING_MARKS[severity]} {count} {noun}")
    lines = sorted({f.line for f in findings if f.line is not None})
    where = f" (line {', '.join(map(str, lines))})" if lines else ""
    return ", ".join(parts) + where


def edge_note(model: BuildModel, edge: Edge) -> str:
    """Return what a COPY --from edge carried, such as `1 file, 27 B`."""
    if edge.kind != "copy" or not isinstance(model, InsightModel):
        return ""
    crossing = model.crossing_at(edge.line)
    if crossing is None:
        return ""
    return describe_crossing(crossing)


def describe_crossing(crossing: Mapping[str, object]) -> str:
    files = int(str(crossing.get("files", 0)))
    size = int(str(crossing.get("bytes", 0)))
    noun = "file" if files == 1 else "files"
    return f"{files} {noun}, {format_size(size)}"
