"""Predict which steps a rebuild reruns, before buildah runs it.

Buildah's layer cache keys each step on its parent image and its instruction,
and a COPY or ADD also on the content of what it copies. So after a change:

- a COPY or ADD from the context misses when one of its sources matches a
  changed path that the ignore rules keep (`COPY . .` matches every such path;
  `COPY --from` and heredoc or URL sources read no context);
- when the Containerfile changed, each stage's first instruction that differs
  from the old plan misses (a changed FROM makes the stage's first step
  after it miss);
- every step after a miss in its stage misses, and a stage that reruns
  anything makes the stages built on it (`FROM stage`, `COPY --from`) miss
  from the instruction that uses it.

A `RUN --mount=from=stage` does not miss when that stage is rebuilt: buildah
1.28 reuses the cached layer (measured), so the prediction does the same.
Buildah hashes the content and mode of copied files but not their times.
So a change that only touches a file's time (`touch`, saving it unchanged)
predicts a miss that turns out a cache hit, and the comparison after the
build reports it. The prediction only covers the needed stages.

Breakpoints follow their instructions through Containerfile edits: each is
tied to its instruction's text and stage, and found again in the new plan.
"""

from __future__ import annotations

import functools
import logging
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from engine.breakpoints import Breakpoint, Position, position_key
from engine.errors import UsageError
from engine.ignore import IgnoreRules, clean_path, compile_pattern
from engine.plan import Instruction, Plan, Stage
from engine.variables import expand

log = logging.getLogger(__name__)

URL_PREFIXES = ("http://", "https://", "git@", "git://", "ssh://")
MAX_PATHS_IN_REASON = 3


@dataclass(frozen=True)
class Miss:
    """The first step of one stage that misses the cache, and why.

    `step` may be one past the stage's last step: nothing in the stage reruns,
    but its final image differs (its last instructions were removed).
    """

    step: int
    reason: str


@dataclass(frozen=True)
class Prediction:
    """The steps after FROM of the needed stages that a rebuild reruns or reuses."""

    trigger: tuple[str, ...]
    """The changed paths, relative to the context, sorted."""
    first_miss: Position | None
    """The first step in build order expected to miss, or None for none."""
    reason: str
    """The cause of the first miss, or the reason that nothing should miss."""
    rerun: frozenset[Position]
    cached: frozenset[Position]

    def expects_rerun(self, position: Position) -> bool:
        return position in self.rerun


# Prediction


def predict(
    plan: Plan,
    changed: Iterable[str],
    context: Path,
    rules: IgnoreRules,
    *,
    old_plan: Plan | None = None,
    old_rules: IgnoreRules | None = None,
    carried: Iterable[Position] = (),
) -> Prediction:
    """Predict the rebuild of `plan` after the context paths `changed` changed.

    `old_plan` is the plan of the previous build when the Containerfile
    changed, `old_rules` the ignore rules before an ignore file changed, and
    `carried` the steps an interrupted rebuild was expected to rerun but
    never reached, in `plan`'s positions.
    """
    trigger = tuple(sorted(set(changed)))
    roots: dict[int, Miss] = {}
    if old_plan is not None and old_plan.text != plan.text:
        _add_misses(roots, changed_instructions(old_plan, plan))
    _add_misses(roots, copy_misses(plan, trigger, rules))
    if old_rules is not None and old_rules != rules:
        _add_misses(roots, ignore_rule_misses(plan, context, old_rules, rules))
    for position in carried:
        reason = "left to rerun when the previous rebuild stopped"
        _add_misses(roots, {position.stage: Miss(position.step, reason)})

    first_misses = propagate(plan, roots)
    rerun, cached = _split_steps(plan, first_misses)
    first = min(rerun, key=lambda p: position_key(plan, p), default=None)
    if first is not None:
        reason = first_misses[first.stage].reason
    else:
        reason = _nothing_reruns_reason(trigger)
    return Prediction(trigger, first, reason, frozenset(rerun), frozenset(cached))


def _add_misses(roots: dict[int, Miss], misses: dict[int, Miss]) -> None:
    for stage, miss in misses.items():
        if stage not in roots or miss.step < roots[stage].step:
            roots[stage] = miss


def _split_steps(
    plan: Plan, first_misses: dict[int, Miss]
) -> tuple[set[Position], set[Position]]:
    rerun: set[Position] = set()
    cached: set[Position] = set()
    for stage in plan.stages:
        if not stage.needed:
            continue
        miss = first_misses.get(stage.index)
        for step in range(2, stage.step_count + 1):
            position = Position(stage.index, step)
            if miss is not None and step >= miss.step:
                rerun.add(position)
            else:
                cached.add(position)
    return rerun, cached


def _nothing_reruns_reason(trigger: tuple[str, ...]) -> str:
    if not trigger:
        return "nothing changed that a step reads"
    return f"no step reads {describe_paths(trigger)}: every step should be a cache hit"


def propagate(plan: Plan, roots: dict[int, Miss]) -> dict[int, Miss]:
    """Spread misses to the stages built on a stage that reruns anything."""
    first_misses: dict[int, Miss] = {}
    for stage in plan.stages:
        if not stage.needed:
            continue
        candidates = [roots[stage.index]] if stage.index in roots else []
        base = stage.base_stage
        if base is not None and base in first_misses:
            label = plan.stages[base].label
            candidates.append(Miss(2, f"FROM {label}: stage {label} is rebuilt"))
        for edge in plan.edges:
            # NOTE: a RUN --mount=from= step stays cached when its stage is
            # rebuilt (buildah 1.28); newer versions may rerun it.
            if edge.target != stage.index or edge.kind != "copy":
                continue
            if edge.source not in first_misses:
                continue
            instruction = plan.instruction_at_line(edge.line)
            if instruction is not None:
                label = plan.stages[edge.source].label
                reason = f"{instruction.text} : stage {label} is rebuilt"
                candidates.append(Miss(instruction.step, reason))
        if candidates:
            first_misses[stage.index] = min(candidates, key=lambda miss: miss.step)
    return first_misses


# Context reads


def context_sources(plan: Plan, instruction: Instruction) -> tuple[str, ...] | None:
    """Return the context paths a COPY or ADD reads, or None when it reads none.

    A source with a variable that cannot be expanded reads the whole context.
    """
    if instruction.keyword not in ("COPY", "ADD") or instruction.flag("from"):
        return None
    heredocs = {heredoc.name for heredoc in instruction.heredocs}
    values: dict[str, str] | None = None
    sources = []
    for argument in instruction.arguments[:-1]:
        if argument.startswith("<<") and argument.lstrip("<-").strip("'\"") in heredocs:
            continue
        if instruction.keyword == "ADD" and argument.startswith(URL_PREFIXES):
            continue
        if "$" in argument:
            values = values if values is not None else stage_values(plan, instruction)
            argument = expand(argument, values)
        sources.append(clean_path(argument) if argument else ".")
    return tuple(sources) if sources else None


def stage_values(plan: Plan, instruction: Instruction) -> dict[str, str]:
    """Return the ARG and ENV values known before `instruction` in its stage."""
    values: dict[str, str] = {}
    for argument in (a for i in plan.global_args for a in i.arguments):
        name, _, default = argument.partition("=")
        values[name] = plan.build_args.get(name, default)
    for earlier in plan.stages[instruction.stage].instructions[
        1 : instruction.step - 1
    ]:
        if earlier.keyword == "ARG":
            for argument in earlier.arguments:
                name, _, default = argument.partition("=")
                values[name] = plan.build_args.get(name, values.get(name, default))
        elif earlier.keyword == "ENV":
            pairs = earlier.arguments
            for name, value in zip(pairs[::2], pairs[1::2], strict=False):
                values[name] = expand(value, values)
    return values


def source_reads(source: str, path: str) -> bool:
    """Return True when a COPY source (cleaned, maybe a glob) covers `path`.

    It does when the source names the path or a folder holding it, and when
    the path is a folder above the source, whose removal or renaming changes
    what the source names.
    """
    if source == ".":
        return True
    pattern = _compiled(source)
    parts = path.split("/")
    for count in range(1, len(parts) + 1):
        if pattern.fullmatch("/".join(parts[:count])):
            return True
    source_parts = source.split("/")
    if len(parts) >= len(source_parts):
        return False
    if "**" in source:
        return True
    return all(
        _compiled(source_part).fullmatch(part)
        for source_part, part in zip(source_parts, parts, strict=False)
    )


@functools.lru_cache(maxsize=512)
def _compiled(pattern: str) -> re.Pattern[str]:
    return compile_pattern(pattern)


def copy_misses(
    plan: Plan, changed: Iterable[str], rules: IgnoreRules
) -> dict[int, Miss]:
    """Return, per stage, the first COPY or ADD that reads a changed path."""
    kept = [p for p in changed if not p.startswith("../") and not rules.ignored(p)]
    misses: dict[int, Miss] = {}
    if not kept:
        return misses
    for stage in plan.stages:
        if not stage.needed:
            continue
        for instruction in stage.instructions[1:]:
            sources = context_sources(plan, instruction)
            if sources is None:
                continue
            read = [p for p in kept if any(source_reads(s, p) for s in sources)]
            if read:
                reason = f"{instruction.text} : {describe_paths(read)} changed"
                misses[stage.index] = Miss(instruction.step, reason)
                break
    return misses


def ignore_rule_misses(
    plan: Plan, context: Path, old_rules: IgnoreRules, rules: IgnoreRules
) -> dict[int, Miss]:
    """Return, per stage, the first COPY or ADD whose files the new rules change."""
    old_paths = set(old_rules.included_paths(context))
    new_paths = set(rules.included_paths(context))
    differing = sorted(old_paths ^ new_paths)
    if not differing:
        return {}
    name = rules.source.name if rules.source else "the ignore file"
    misses: dict[int, Miss] = {}
    for stage in plan.stages:
        if not stage.needed:
            continue
        for instruction in stage.instructions[1:]:
            sources = context_sources(plan, instruction)
            if sources is None:
                continue
            if any(source_reads(s, p) for s in sources for p in differing):
                reason = f"{instruction.text} : {name} changed which files it copies"
                misses[stage.index] = Miss(instruction.step, reason)
                break
    return misses


def describe_paths(paths: Iterable[str]) -> str:
    paths = sorted(paths)
    shown = ", ".join(paths[:MAX_PATHS_IN_REASON])
    rest = len(paths) - MAX_PATHS_IN_REASON
    return f"{shown} and {rest} more" if rest > 0 else shown


def relative_to_context(context: Path, path: Path) -> str:
    """Return `path` relative to the context, `/`-separated (`../` when outside)."""
    return clean_path(posixpath.relpath(str(path), str(context)))


# Containerfile edits


def instruction_key(instruction: Instruction) -> tuple[object, ...]:
    """Return what buildah's cache compares of an instruction: all but its lines."""
    heredocs = tuple((h.name, h.content) for h in instruction.heredocs)
    return instruction.keyword, instruction.flags, instruction.arguments, heredocs


def pair_stages(old_plan: Plan, plan: Plan) -> dict[int, int]:
    """Map each stage of `plan` to the stage of `old_plan` it continues.

    Named stages pair by name; the others by index, when the old stage at
    that index has no name that `plan` still uses.
    """
    new_names = {stage.name for stage in plan.stages if stage.name is not None}
    old_by_name = {s.name: s.index for s in old_plan.stages if s.name is not None}
    pairs: dict[int, int] = {}
    for stage in plan.stages:
        if stage.name is not None and stage.name in old_by_name:
            pairs[stage.index] = old_by_name[stage.name]
        elif stage.index < len(old_plan.stages):
            old = old_plan.stages[stage.index]
            if old.name is None or old.name not in new_names:
                pairs[stage.index] = old.index
    return pairs


def changed_instructions(old_plan: Plan, plan: Plan) -> dict[int, Miss]:
    """Return, per stage of `plan`, the first instruction that differs from before."""
    pairs = pair_stages(old_plan, plan)
    changed_args = _changed_global_args(old_plan, plan)
    misses: dict[int, Miss] = {}
    for stage in plan.stages:
        old_index = pairs.get(stage.index)
        if old_index is None:
            misses[stage.index] = Miss(2, f"stage {stage.label} is new")
            continue
        miss = _first_difference(old_plan.stages[old_index], stage, changed_args)
        if miss is not None:
            misses[stage.index] = miss
    return misses


def _first_difference(old: Stage, new: Stage, changed_args: set[str]) -> Miss | None:
    first = new.instructions[0]
    if old.base != new.base or old.instructions[0].flags != first.flags:
        return Miss(2, f"FROM line {first.first_line} changed")
    for instruction in new.instructions[1:]:
        step = instruction.step
        if step > old.step_count:
            return Miss(
                step, f"{instruction.keyword} line {instruction.first_line} added"
            )
        if instruction_key(instruction) != instruction_key(old.instructions[step - 1]):
            return Miss(
                step, f"{instruction.keyword} line {instruction.first_line} changed"
            )
        if instruction.keyword == "ARG" and _declares(instruction, changed_args):
            return Miss(
                step, f"ARG line {instruction.first_line}: its global value changed"
            )
    if new.step_count < old.step_count:
        return Miss(new.step_count + 1, f"the end of stage {new.label} was removed")
    return None


def _changed_global_args(old_plan: Plan, plan: Plan) -> set[str]:
    old = {a for i in old_plan.global_args for a in i.arguments}
    new = {a for i in plan.global_args for a in i.arguments}
    return {argument.partition("=")[0] for argument in old ^ new}


def _declares(instruction: Instruction, names: set[str]) -> bool:
    return any(
        argument.partition("=")[0] in names for argument in instruction.arguments
    )


# Following breakpoints and positions through edits


@dataclass(frozen=True)
class Anchor:
    """A step tied to its instruction, so that it can be found after an edit."""

    stage: int
    step: int
    key: tuple[object, ...] | None
    """The instruction's key, or None for the end of the stage."""
    occurrence: int
    """How many instructions with the same key come before it in its stage."""


def anchor(plan: Plan, position: Position) -> Anchor:
    stage = plan.stages[position.stage]
    instruction = plan.instruction(*position)
    if instruction is None:
        return Anchor(stage.index, position.step, None, 0)
    key = instruction_key(instruction)
    earlier = stage.instructions[: position.step - 1]
    occurrence = sum(1 for other in earlier if instruction_key(other) == key)
    return Anchor(stage.index, position.step, key, occurrence)


def find_anchor(old_plan: Plan, plan: Plan, anchored: Anchor) -> Position | None:
    """Return where the anchored step is in `plan`, or None when it is gone."""
    old_to_new = {old: new for new, old in pair_stages(old_plan, plan).items()}
    stage_index = old_to_new.get(anchored.stage)
    if stage_index is None:
        return None
    stage = plan.stages[stage_index]
    if anchored.key is None:
        return Position(stage.index, stage.step_count + 1)
    matches = [i for i in stage.instructions if instruction_key(i) == anchored.key]
    if not matches:
        return None
    chosen = matches[min(anchored.occurrence, len(matches) - 1)]
    return Position(stage.index, chosen.step)


def follow_positions(
    old_plan: Plan, plan: Plan, positions: Iterable[Position]
) -> list[Position]:
    """Return the positions of `old_plan` found again in `plan`; drop the rest."""
    found = (find_anchor(old_plan, plan, anchor(old_plan, p)) for p in positions)
    return [position for position in found if position is not None]


@dataclass(frozen=True)
class FollowedBreakpoints:
    breakpoints: list[Breakpoint]
    dropped: list[tuple[Breakpoint, str]]
    """Each breakpoint that was dropped, with a sentence saying why."""


def follow_breakpoints(
    old_plan: Plan, plan: Plan, breakpoints: Iterable[Breakpoint]
) -> FollowedBreakpoints:
    """Move breakpoints to where their instructions are in the edited plan.

    A line breakpoint follows the instruction on that line and a `STAGE:N`
    breakpoint the instruction at step N; `STAGE` and `STAGE:end` stay as
    they are while the stage exists. A breakpoint whose instruction is gone
    is dropped.
    """
    kept: list[Breakpoint] = []
    dropped: list[tuple[Breakpoint, str]] = []
    for breakpoint in breakpoints:
        try:
            moved = _follow_breakpoint(old_plan, plan, breakpoint)
        except UsageError as error:
            dropped.append((breakpoint, error.message))
            continue
        if isinstance(moved, str):
            dropped.append((breakpoint, moved))
        else:
            kept.append(moved)
    return FollowedBreakpoints(kept, dropped)


def _follow_breakpoint(
    old_plan: Plan, plan: Plan, breakpoint: Breakpoint
) -> Breakpoint | str:
    spec = breakpoint.spec.strip()
    position = breakpoint.resolve(old_plan)
    if spec.isdigit():
        instruction = old_plan.instruction_at_line(int(spec))
        assert instruction is not None, "resolve() accepted the line"
        position = Position(instruction.stage, instruction.step)
    elif ":" not in spec or spec.endswith(":end"):
        breakpoint.resolve(plan)
        return breakpoint
    found = find_anchor(old_plan, plan, anchor(old_plan, position))
    if found is None:
        instruction = old_plan.instruction(*position)
        text = instruction.text if instruction else f"the end of stage {position.stage}"
        return f"breakpoint {spec} dropped: {text!r} is no longer in the Containerfile"
    if spec.isdigit():
        moved = plan.instruction(*found)
        assert moved is not None
        return Breakpoint(str(moved.first_line))
    stage = plan.stages[found.stage]
    if found.step > stage.step_count:
        return Breakpoint(f"{stage.label}:end")
    return Breakpoint(f"{stage.label}:{found.step}")
