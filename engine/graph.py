"""Render a plan's stage graph as text, JSON, Graphviz dot or Mermaid."""

from __future__ import annotations

import json
from typing import Any

from engine.plan import Plan, Stage

FORMATS = ("text", "json", "dot", "mermaid")


def graph_data(plan: Plan) -> dict[str, Any]:
    """Return the graph as `stagescope graph --format json` prints it."""
    stages = [
        {
            "index": stage.index,
            "name": stage.name,
            "base": stage.base,
            "base_stage": stage.base_stage,
            "first_line": stage.first_line,
            "last_line": stage.last_line,
            "needed": stage.needed,
        }
        for stage in plan.stages
    ]
    edges = [
        {"from": edge.source, "to": edge.target, "kind": edge.kind, "line": edge.line}
        for edge in plan.edges
    ]
    return {"stages": stages, "edges": edges}


def render(plan: Plan, output_format: str) -> str:
    if output_format == "json":
        return json.dumps(graph_data(plan), indent=2)
    if output_format == "dot":
        return render_dot(plan)
    if output_format == "mermaid":
        return render_mermaid(plan)
    return render_text(plan)


def _stage_title(stage: Stage) -> str:
    name = stage.name if stage.name is not None else f"stage {stage.index}"
    return f"{name} (FROM {stage.base})"


def render_text(plan: Plan) -> str:
    lines = []
    for stage in plan.stages:
        marks = []
        if stage.index == plan.target:
            marks.append("target")
        if not stage.needed:
            marks.append("not needed, skipped by buildah")
        suffix = f"  [{', '.join(marks)}]" if marks else ""
        lines.append(
            f"{stage.index}: {_stage_title(stage)}  "
            f"lines {stage.first_line}-{stage.last_line}, "
            f"{stage.step_count} steps{suffix}"
        )
        for edge in plan.edges:
            if edge.target == stage.index:
                source = plan.stages[edge.source].label
                lines.append(f"    <- {source} ({edge.kind}, line {edge.line})")
    return "\n".join(lines)


_DOT_STYLES = {"from": "solid", "copy": "bold", "mount": "dashed"}


def render_dot(plan: Plan) -> str:
    lines = ["digraph stages {", "  rankdir=LR;", "  node [shape=box];"]
    for stage in plan.stages:
        label = _stage_title(stage).replace('"', '\\"')
        style = "" if stage.needed else ", style=dotted"
        lines.append(f'  s{stage.index} [label="{label}"{style}];')
    for edge in plan.edges:
        style = _DOT_STYLES[edge.kind]
        lines.append(
            f"  s{edge.source} -> s{edge.target} "
            f'[label="{edge.kind} (line {edge.line})", style={style}];'
        )
    lines.append("}")
    return "\n".join(lines)


_MERMAID_ARROWS = {"from": "-->", "copy": "==>", "mount": "-.->"}


def render_mermaid(plan: Plan) -> str:
    lines = ["flowchart LR"]
    for stage in plan.stages:
        label = _stage_title(stage).replace('"', "#quot;")
        lines.append(f'  s{stage.index}["{label}"]')
    for edge in plan.edges:
        arrow = _MERMAID_ARROWS[edge.kind]
        lines.append(
            f"  s{edge.source} {arrow}|{edge.kind} line {edge.line}| s{edge.target}"
        )
    for stage in plan.stages:
        if not stage.needed:
            lines.append(f"  style s{stage.index} stroke-dasharray: 5 5")
    return "\n".join(lines)
