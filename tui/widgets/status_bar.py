"""One line under the panels: build state, progress, time and cache hits."""

from __future__ import annotations

from textual.widgets import Static

from engine.runner import State
from tui.format import format_seconds
from tui.model import BuildModel
from tui.widgets.steady import show_content

STATE_CLASSES = [f"-{state.value}" for state in State]


class StatusBar(Static):
    """Shows the model's summary; the state is a CSS class (`-running`, ...)."""

    def show(
        self, model: BuildModel, *, replay: bool = False, following: bool = True
    ) -> None:
        state_class = f"-{model.state.value}"
        if not self.has_class(state_class):
            # Changing classes restyles the widget, so only on a new state.
            self.remove_class(*STATE_CLASSES)
            self.add_class(state_class)
        parts = [f" {self._state_text(model)} "]
        current, total = model.progress()
        parts.append(f"step {current} of {total}")
        parts.append(format_seconds(model.elapsed()) or "0.00 s")
        hits, eligible = model.cache_hits()
        parts.append(f"cache hits {hits}/{eligible}")
        if model.pause_target is not None:
            stage = model.plan.stages[model.pause_target.stage]
            parts.append(f"pausing at {stage.label}:{model.pause_target.step}")
        if not following and model.state is State.RUNNING:
            parts.append("not following (f)")
        if replay:
            parts.append("replay")
        show_content(self, "  │  ".join(parts))

    @staticmethod
    def _state_text(model: BuildModel) -> str:
        state = model.state
        if state is State.PAUSED:
            return f"paused ({model.pause_reason})" if model.pause_reason else "paused"
        if state is State.FAILED:
            code = model.failure.exit_code if model.failure else None
            return f"failed (exit status {code})" if code is not None else "failed"
        if state is State.CANCELLED:
            return (
                f"stopped ({model.cancel_reason})" if model.cancel_reason else "stopped"
            )
        if state is State.IDLE:
            return "idle"
        return str(state.value)
