"""The stage graph: every stage as a node in build order, with its edges.

Each node shows the stage's index and name, its base image, its live status
and time, and one line per incoming edge, drawn per kind: `━━` for FROM
<stage>, `══` for COPY --from and `┄┄` for RUN --mount from=. A last line
lists the stages that use it. Status and selection are CSS classes on the
node (`-running`, `-failed`, `-selected`, ...), styled in stagescope.tcss.
"""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Label

from engine.plan import Edge, Plan, Stage
from tui.format import (
    EDGE_GLYPHS,
    EDGE_WORDS,
    STATUS_ICONS,
    format_seconds,
    status_class,
)
from tui.insight_text import edge_note, stage_note
from tui.model import BuildModel, Status
from tui.widgets.steady import show_content

STATUS_CLASSES = [status_class(status) for status in Status]


class StageNode(Widget):
    """One stage of the graph."""

    def __init__(self, plan: Plan, stage: Stage) -> None:
        super().__init__(id=f"stage-{stage.index}", classes="-waiting")
        self.plan = plan
        self.stage = stage
        self.edge_labels: list[tuple[Edge, str, Label]] = []
        """Each incoming edge with its text and label, which gets what it carried."""
        if stage.index == plan.target:
            self.add_class("-target")

    def compose(self) -> ComposeResult:
        stage = self.stage
        with Horizontal(classes="head"):
            yield Label(STATUS_ICONS[Status.WAITING], classes="icon")
            title = (
                f"{stage.index} {stage.name}" if stage.name else f"stage {stage.index}"
            )
            yield Label(title, classes="title")
            if stage.index == self.plan.target:
                yield Label("target", classes="badge")
            yield Label("", classes="status")
        if stage.base_stage is None:
            yield Label(stage.base, classes="base")
        for edge in self.plan.edges:
            if edge.target != stage.index:
                continue
            source = self.plan.stages[edge.source].label
            glyph, words = EDGE_GLYPHS[edge.kind], EDGE_WORDS[edge.kind]
            text = f"{glyph} {words} {source}  :{edge.line}"
            label = Label(text, classes=f"edge -{edge.kind}")
            self.edge_labels.append((edge, text, label))
            yield label
        users = sorted({e.target for e in self.plan.edges if e.source == stage.index})
        if users:
            names = ", ".join(self.plan.stages[index].label for index in users)
            yield Label(f"→ used by {names}", classes="users")
        yield Label("", classes="notes")

    def update_status(self, model: BuildModel) -> None:
        status = model.stage_status(self.stage.index)
        if not self.has_class(status_class(status)):
            # Changing classes restyles the node, so only on a new status.
            self.remove_class(*STATUS_CLASSES)
            self.add_class(status_class(status))
        show_content(self.query_one(".icon", Label), STATUS_ICONS[status])
        seconds = format_seconds(model.stage_seconds(self.stage.index))
        text = status.value if not seconds else f"{status.value} {seconds}"
        show_content(self.query_one(".status", Label), text)
        self._show_notes(model)

    def _show_notes(self, model: BuildModel) -> None:
        """Show the stage's summary, prediction and findings, and what each
        COPY --from edge carried."""
        notes = stage_note(model, self.stage.index)
        label = self.query_one(".notes", Label)
        show_content(label, notes)
        label.display = bool(notes)
        for edge, text, edge_label in self.edge_labels:
            carried = edge_note(model, edge)
            show_content(edge_label, f"{text}  {carried}" if carried else text)

    def on_click(self, event: events.Click) -> None:
        event.stop()
        graph = self.query_ancestor(StageGraph)
        graph.focus()
        graph.post_message(StageGraph.Selected(self.stage.index))


class StageGraph(VerticalScroll, can_focus=True):
    """Stage nodes in build order; up and down move the selection."""

    BINDINGS = [
        Binding(
            "up,k", "move(-1)", "Previous stage", show=False, id="stagescope.graph.up"
        ),
        Binding(
            "down,j", "move(1)", "Next stage", show=False, id="stagescope.graph.down"
        ),
        Binding(
            "home", "move_to(0)", "First stage", show=False, id="stagescope.graph.first"
        ),
        Binding(
            "end", "move_to(-1)", "Last stage", show=False, id="stagescope.graph.last"
        ),
    ]

    class Selected(Message):
        """The user selected a stage, by key or by mouse."""

        def __init__(self, stage: int) -> None:
            super().__init__()
            self.stage = stage

    def __init__(self, plan: Plan, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.plan = plan
        self.selected = plan.build_order[0] if plan.build_order else 0

    def compose(self) -> ComposeResult:
        for stage in self.plan.stages:
            yield StageNode(self.plan, stage)

    def on_mount(self) -> None:
        self.border_title = "Stages"
        self.select(self.selected)

    async def set_plan(self, plan: Plan) -> None:
        """Show another plan, as after a rebuild that re-read the Containerfile."""
        self.plan = plan
        await self.remove_children()
        await self.mount_all([StageNode(plan, stage) for stage in plan.stages])
        self.select(min(self.selected, len(plan.stages) - 1))

    def nodes(self) -> list[StageNode]:
        return list(self.query(StageNode))

    def update_status(self, model: BuildModel) -> None:
        for node in self.nodes():
            node.update_status(model)

    def select(self, stage: int) -> None:
        """Mark `stage` as selected and scroll it into view, without a message."""
        self.selected = stage
        for node in self.nodes():
            node.set_class(node.stage.index == stage, "-selected")
            if node.stage.index == stage:
                self.scroll_to_widget(node, animate=False)

    def action_move(self, offset: int) -> None:
        index = max(0, min(len(self.plan.stages) - 1, self.selected + offset))
        self.post_message(self.Selected(index))

    def action_move_to(self, index: int) -> None:
        self.post_message(self.Selected(index % len(self.plan.stages)))
