"""Watch mode's account of the latest rebuild, above the status bar.

Three lines: what changed, what the watcher predicted before the rebuild,
and afterwards how long the save took to reach the first rebuilt step and
the end of the build, and where the prediction was wrong.
"""

from __future__ import annotations

from collections.abc import Mapping

from rich.text import Text
from textual.widgets import Static

from engine.events import RebuildFinished
from engine.plan import Plan
from engine.runner import State
from tui.insight_model import InsightModel


class WatchPanel(Static):
    """Shown only in watch mode."""

    def show(self, model: InsightModel, context: str) -> None:
        self.display = model.watching
        if model.watching:
            self.update(watch_text(model, context, self.app.theme_variables))


def watch_text(model: InsightModel, context: str, theme: Mapping[str, str]) -> Text:
    muted = "dim"
    text = Text()
    text.append("Watching ", style="bold")
    text.append(context)
    prediction = model.prediction
    if prediction is None:
        text.append(" · first build; every save rebuilds", style=muted)
    else:
        changed = ", ".join(prediction.trigger) or "nothing"
        text.append(f" · rebuild {model.rebuilds} · changed: ", style=muted)
        text.append(changed, style="bold")
    text.append("\n")
    if prediction is not None:
        text.append("Predicted: ", style="bold")
        text.append(describe_prediction(model.plan, prediction.first_miss))
        text.append(f"{prediction.reason}; ")
        text.append(f"{_steps(len(prediction.rerun))} to rerun, ")
        text.append(f"{len(prediction.cached)} cached")
    text.append("\n")
    text.append_text(_outcome_line(model, theme))
    return text


def describe_prediction(plan: Plan, first_miss: tuple[int, int] | None) -> str:
    if first_miss is None:
        return ""
    stage, step = first_miss
    label = plan.stages[stage].label if stage < len(plan.stages) else str(stage)
    instruction = plan.instruction(stage, step)
    where = f" (line {instruction.first_line})" if instruction else ""
    return f"from {label} step {step}{where}: "


def _outcome_line(model: InsightModel, theme: Mapping[str, str]) -> Text:
    text = Text()
    if model.skipped is not None:
        changed = ", ".join(model.skipped.trigger)
        text.append(f"Change to {changed}: {model.skipped.message}", style="italic")
        return text
    report = model.report
    if report is None:
        if model.prediction is not None and model.state is State.RUNNING:
            text.append("Rebuilding…", style="italic")
        return text
    text.append("Latency: ", style="bold")
    text.append(describe_latency(report))
    if report.mispredicted:
        text.append(" · ")
        text.append(
            describe_mispredictions(model.plan, report), style=theme.get("warning", "")
        )
    elif report.outcome != "cancelled":
        text.append(" · prediction held", style=theme.get("success", ""))
    return text


def describe_latency(report: RebuildFinished) -> str:
    if report.first_step_seconds is None:
        first = "no step rebuilt"
    else:
        first = f"save → first rebuilt step {report.first_step_seconds:.2f} s"
    return f"{first} · save → {report.outcome} {report.finish_seconds:.2f} s"


def describe_mispredictions(plan: Plan, report: RebuildFinished) -> str:
    wrong = []
    for stage, step, actual in report.mispredicted:
        label = plan.stages[stage].label if stage < len(plan.stages) else str(stage)
        happened = "was a cache hit" if actual == "cached" else "was rebuilt"
        wrong.append(f"{label} step {step} {happened}")
    return "prediction wrong: " + "; ".join(wrong)


def _steps(count: int) -> str:
    return "1 step" if count == 1 else f"{count} steps"
