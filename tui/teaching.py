"""Explanations of the selected instruction and of multistage builds.

`explain` returns a few short sections for the teaching panel: what the
selected line does (by keyword and flags, with its real stage names, paths
and values), which ARG and ENV values it can see, where its stage sits in the
graph, and why the final image is small, with the sizes and crossings of the
last finished build when there is one. It does not use Textual.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass

from engine.breakpoints import Position
from engine.insight import format_size
from engine.plan import Instruction, Plan, Stage
from tui.insight_model import InsightModel
from tui.insight_text import describe_crossing
from tui.teaching_scope import scope_section


@dataclass(frozen=True)
class Section:
    title: str
    body: str


def explain(model: InsightModel, position: Position, end: bool) -> list[Section]:
    """Return the sections that explain the step at `position`, or the end of
    its stage when `end` is True."""
    plan = model.plan
    stage = plan.stages[position.stage]
    instruction = None if end else plan.instruction(*position)
    sections = []
    if instruction is None:
        sections.append(Section(f"End of stage {stage.label}", _end_text(plan, stage)))
    else:
        keyword = instruction.keyword
        if instruction.flag("from") is not None:
            keyword += " --from"
        title = f"Line {instruction.first_line} · {keyword}"
        sections.append(Section(title, explain_instruction(model, instruction)))
        scope = scope_section(plan, instruction)
        if scope:
            sections.append(Section("ARG and ENV here", scope))
    sections.append(Section(f"Stage {stage.label}", stage_text(model, stage)))
    sections.append(Section("Why the final image is small", final_text(model)))
    return sections


def explain_instruction(model: InsightModel, instruction: Instruction) -> str:
    keyword = instruction.keyword
    if keyword == "FROM":
        return from_text(model.plan, model.plan.stages[instruction.stage])
    if keyword in ("COPY", "ADD") and instruction.flag("from") is not None:
        return copy_from_text(model, instruction)
    explainer = EXPLAINERS.get(keyword)
    if explainer is not None:
        return explainer(model.plan, instruction)
    return OTHER_KEYWORDS.get(keyword, f"{keyword} changes the image's settings.")


# FROM and the stage graph


def from_text(plan: Plan, stage: Stage) -> str:
    name = f", named {stage.name}," if stage.name else ""
    if stage.base_stage is not None:
        base = plan.stages[stage.base_stage].label
        text = (
            f"FROM {stage.base} starts stage {stage.index}{name} from the "
            f"finished image of stage {base}. Its files, ENV, WORKDIR and USER "
            f"carry over; its ARGs do not."
        )
    elif stage.base == "scratch":
        text = f"FROM scratch starts stage {stage.index}{name} with no files."
    else:
        text = (
            f"FROM {stage.base} starts stage {stage.index}{name} from the image "
            f"{stage.base}. The lines after it, up to the next FROM, build this "
            f"stage's own filesystem, one layer per step."
        )
    if stage.name is None and stage.index != len(plan.stages) - 1:
        text += f" It has no name, so later stages refer to it as {stage.index}."
    return text + " " + _role(plan, stage)


def _role(plan: Plan, stage: Stage) -> str:
    if stage.index == plan.target:
        return "This stage is the target: its image is what the build produces."
    if not stage.needed:
        target = _named(plan.stages[plan.target])
        return (
            f"The target {target} needs nothing from it, so Buildah skips it; "
            f"--target {stage.label} would build it."
        )
    uses = [
        f"{_named(plan.stages[edge.target])} (line {edge.line}, "
        f"{_edge_word(edge.kind)})"
        for edge in plan.edges
        if edge.source == stage.index
    ]
    return (
        f"Later stages use it: {', '.join(uses)}. Only what those lines take from "
        f"it can reach the final image."
    )


def _named(stage: Stage) -> str:
    """Return a stage's name, or `stage N` for an unnamed one."""
    return stage.name or f"stage {stage.index}"


def _edge_word(kind: str) -> str:
    return {"from": "FROM", "copy": "COPY --from", "mount": "RUN --mount"}[kind]


def _end_text(plan: Plan, stage: Stage) -> str:
    return (
        f"The image here is stage {stage.label}'s result: what FROM {stage.label} "
        f"and COPY --from={stage.label} in later stages see. {_role(plan, stage)}"
    )


def stage_text(model: InsightModel, stage: Stage) -> str:
    """Describe what the stage starts from and what it costs."""
    plan = model.plan
    if stage.base_stage is not None:
        start = f"Starts FROM stage {plan.stages[stage.base_stage].label}"
    else:
        start = f"Starts from the image {stage.base}"
    lines = f"lines {stage.first_line}-{stage.last_line}"
    text = f"{start}; {lines}, {stage.step_count} steps."
    finished = model.stages_finished.get(stage.index)
    seconds = model.stage_seconds(stage.index)
    if finished is not None:
        text += f" Last build: {format_size(finished.size)}"
        text += f" in {seconds:.1f} s." if seconds is not None else "."
    elif not stage.needed:
        text += " Not built for this target, so it costs nothing."
    return text


# COPY and ADD


def copy_from_text(model: InsightModel, instruction: Instruction) -> str:
    plan = model.plan
    source = instruction.flag("from") or ""
    paths = " ".join(instruction.arguments[:-1])
    destination = instruction.arguments[-1] if instruction.arguments else "?"
    target = plan.stages[instruction.stage].label
    stage = plan.stage_named(source)
    if stage is None or stage.index >= instruction.stage:
        return (
            f"{instruction.keyword} --from={source} copies {paths} straight out of "
            f"the image {source} into {destination}; no stage of this file builds it."
        )
    text = (
        f"COPY --from={source} copies {paths} out of the finished image of stage "
        f"{stage.label} into {destination} of stage {target}. Only these paths cross "
        f"over: the rest of {_named(stage)}, such as compilers, caches and "
        f"sources, stays behind. Buildah builds {_named(stage)} first."
    )
    crossing = model.crossing_at(instruction.first_line)
    if crossing is not None:
        text += f" In the last build it carried {describe_crossing(crossing)}"
        finished = model.stages_finished.get(stage.index)
        if finished is not None:
            text += f" of {_named(stage)}'s {format_size(finished.size)}"
        text += "."
    return text


def copy_text(plan: Plan, instruction: Instruction) -> str:
    paths = " ".join(instruction.arguments[:-1]) or "?"
    destination = instruction.arguments[-1] if instruction.arguments else "?"
    label = plan.stages[instruction.stage].label
    text = (
        f"{instruction.keyword} copies {paths} from the build context into "
        f"{destination}. Buildah hashes the content of these files: a change "
        f"makes this step and every later step of stage {label} miss the cache. "
        f"Files that .containerignore excludes are not in the context."
    )
    if instruction.keyword == "ADD":
        text += " ADD also downloads URLs and unpacks local tar archives."
    return text


# RUN, ARG and ENV


def run_text(plan: Plan, instruction: Instruction) -> str:
    command = " ".join(instruction.arguments)
    text = (
        f"RUN runs `{_shorten(command)}` in a container of stage "
        f"{plan.stages[instruction.stage].label}'s image so far; what it writes "
        f"becomes a new layer. Its cache key is the line's text and the ARG "
        f"values in scope, not the files it reads."
    )
    for flag in instruction.flags:
        if not flag.startswith("--mount="):
            continue
        options = dict(
            option.partition("=")[::2] for option in flag[len("--mount=") :].split(",")
        )
        target = options.get("target") or options.get("dst") or "?"
        if options.get("from"):
            text += (
                f" --mount shows {options['from']}'s image at {target} only while "
                f"the command runs; none of it stays in the layer."
            )
        elif options.get("type") == "cache":
            text += f" The cache mount keeps {target} between builds, not in the image."
        elif options.get("type") == "secret":
            text += " The secret mount is readable only during this command."
    return text


def arg_text(plan: Plan, instruction: Instruction) -> str:
    names = [argument.partition("=")[0] for argument in instruction.arguments]
    label = plan.stages[instruction.stage].label
    text = (
        f"ARG {', '.join(names)} declares build arguments for the rest of stage "
        f"{label}: later lines can use ${names[0]}, and RUN sees it as an "
        f"environment variable. It is not saved in the image, and stages built "
        f"FROM {label} do not see it."
    )
    global_names = {a.partition("=")[0] for i in plan.global_args for a in i.arguments}
    bare = [argument for argument in instruction.arguments if "=" not in argument]
    inherited = [name for name in bare if name in global_names]
    if inherited:
        text += (
            f" A bare ARG {inherited[0]} takes the value of the global ARG declared "
            f"before the first FROM."
        )
    return text


def env_text(plan: Plan, instruction: Instruction) -> str:
    pairs = instruction.arguments
    names = [str(name) for name in pairs[::2]]
    label = plan.stages[instruction.stage].label
    return (
        f"ENV {', '.join(names)} is saved in stage {label}'s image: later lines of "
        f"the stage, stages built FROM {label}, and containers of the image see it. "
        f"Unlike an ARG it outlives the build. Buildah keys this step on the line "
        f"as written, so a changed ${{ARG}} in it alone does not rerun it."
    )


def _shorten(command: str, width: int = 60) -> str:
    try:
        words = shlex.split(command)
        command = " ".join(words) if words else command
    except ValueError:
        pass
    return command if len(command) <= width else command[: width - 1] + "…"


EXPLAINERS: dict[str, Callable[[Plan, Instruction], str]] = {
    "COPY": copy_text,
    "ADD": copy_text,
    "RUN": run_text,
    "ARG": arg_text,
    "ENV": env_text,
}

OTHER_KEYWORDS = {
    "WORKDIR": "WORKDIR sets the folder that later RUN, COPY and ADD lines and "
    "the image's containers start in, and creates it when missing. Stages built "
    "FROM this one inherit it.",
    "USER": "USER sets who later RUN lines and the image's containers run as. "
    "Stages built FROM this one inherit it.",
    "CMD": "CMD sets the default command of containers of this image. In a "
    "builder stage it does nothing, unless a later stage starts FROM it.",
    "ENTRYPOINT": "ENTRYPOINT sets the program that containers of this image run; "
    "CMD becomes its default arguments. It matters in the final image only.",
    "EXPOSE": "EXPOSE records a port in the image's settings; it opens nothing.",
    "LABEL": "LABEL adds metadata to the image; it adds no layer of files.",
    "VOLUME": "VOLUME marks a folder as a mount point for containers of the image.",
    "HEALTHCHECK": "HEALTHCHECK sets a command that checks a running container; "
    "the OCI image format ignores it, the docker format keeps it.",
    "SHELL": "SHELL changes the shell that later RUN lines in this stage use.",
    "STOPSIGNAL": "STOPSIGNAL sets the signal that stops containers of the image.",
    "ONBUILD": "ONBUILD stores an instruction that runs when another build starts "
    "FROM this image.",
    "MAINTAINER": "MAINTAINER records an author; LABEL is the current way.",
}


# The final image


def final_text(model: InsightModel) -> str:
    plan = model.plan
    target = plan.stages[plan.target]
    chain = _base_chain(plan, target)
    text = (
        f"The result is the image of stage {target.label}"
        + (f", built on {', '.join(chain)} through FROM" if chain else "")
        + ". It holds what its own lines add and what COPY --from carries in; "
        "every other stage only feeds it."
    )
    if not model.stages_finished:
        return text + " Sizes appear after a finished build."
    final = model.stages_finished.get(plan.target)
    if final is not None:
        text += f" Last build: {_named(target)} {format_size(final.size)}."
    others = []
    for index, finished in sorted(model.stages_finished.items()):
        if index == plan.target or _named(plan.stages[index]) in chain:
            continue
        carried = [c for c in model.crossings.values() if int(c["from"]) == index]
        moved = ", ".join(describe_crossing(c) for c in carried) or "nothing"
        others.append(
            f"{_named(plan.stages[index])} {format_size(finished.size)}, of which "
            f"{moved} crossed"
        )
    if others:
        text += " Left behind: " + "; ".join(others) + "."
    return text


def _base_chain(plan: Plan, stage: Stage) -> list[str]:
    chain = []
    base = stage.base_stage
    while base is not None:
        chain.append(_named(plan.stages[base]))
        base = plan.stages[base].base_stage
    return chain
