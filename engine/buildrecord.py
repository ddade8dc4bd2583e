"""Records of past builds, and why a step missed the layer cache.

After each build, stagescope keeps a record of it in the user's cache folder
(`$XDG_CACHE_HOME/stagescope/builds/`, else `~/.cache/stagescope/builds/`),
one JSON file per Containerfile and context. The record stores, per step, the
instruction, the image it produced, the ARG values in scope, a content hash
and mode of each context file a COPY or ADD read, and the source stage image
of a COPY --from. The next build of the same Containerfile and context
compares each step that missed the cache against it.

Buildah 1.28 keys a step's cache on its parent image and its instruction. A
RUN is also keyed on the ARG values in scope (its history reads
`|1 NAME=value ...`), and a COPY or ADD on the content and mode of what it
copies, but not on file times. The reasons follow that order.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.ignore import IgnoreRules
from engine.plan import Instruction, Plan
from engine.prediction import (
    context_sources,
    describe_paths,
    instruction_key,
    source_reads,
)
from engine.variables import expand

log = logging.getLogger(__name__)

RECORD_FORMAT = 1
"""Version of the record file layout; records of another version are ignored."""

MAX_HASHED_PATHS = 20_000
"""Context paths hashed for one COPY or ADD; past it the rest go unrecorded."""

HASH_CHUNK = 1 << 20


def cache_folder() -> Path:
    """Return the folder of the build records, following XDG_CACHE_HOME."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "stagescope" / "builds"


def record_path(containerfile: Path, context: Path, folder: Path | None = None) -> Path:
    """Return the record file of one Containerfile and context."""
    key = f"{containerfile.resolve()}\0{context.resolve()}"
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]
    return (folder or cache_folder()) / f"{digest}.json"


@dataclass(frozen=True)
class StepRecord:
    """The inputs and the resulting image of one step."""

    stage: str
    """The stage's name, or its index as text for an unnamed stage."""
    step: int
    line: int | None
    text: str
    """The instruction's first line, for messages."""
    key: str
    """The instruction as Buildah's cache compares it (flags, arguments, heredocs)."""
    image: str | None
    cached: bool
    arguments: dict[str, str] = field(default_factory=dict)
    """For a RUN, the values of the ARGs declared in the stage before it. Other
    instructions record none, because their cache keys do not include them."""
    sources: dict[str, str] = field(default_factory=dict)
    """Per context path a COPY or ADD read: "sha256:<hex> <octal mode>", or
    "dir <octal mode>" for a folder."""
    copied_from: str | None = None
    """For COPY --from a stage, that stage's image when this step ran."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepRecord:
        return cls(
            stage=str(data["stage"]),
            step=int(data["step"]),
            line=data.get("line"),
            text=str(data.get("text", "")),
            key=str(data.get("key", "")),
            image=data.get("image"),
            cached=bool(data.get("cached", False)),
            arguments=dict(data.get("arguments") or {}),
            sources=dict(data.get("sources") or {}),
            copied_from=data.get("copied_from"),
        )


@dataclass
class BuildRecord:
    """The steps of the last build of one Containerfile and context."""

    containerfile: str
    context: str
    steps: dict[tuple[str, int], StepRecord] = field(default_factory=dict)
    saved_at: str = ""

    def step(self, stage: str, step: int) -> StepRecord | None:
        return self.steps.get((stage, step))

    def has_stage(self, stage: str) -> bool:
        return any(key[0] == stage for key in self.steps)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": RECORD_FORMAT,
            "containerfile": self.containerfile,
            "context": self.context,
            "saved_at": self.saved_at,
            "steps": [asdict(step) for step in self.steps.values()],
        }

    @classmethod
    def load(cls, path: Path) -> BuildRecord | None:
        """Read a record; a missing, unreadable or foreign file gives None."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            log.warning("ignoring build record %s: %s", path, error)
            return None
        if not isinstance(data, dict) or data.get("format") != RECORD_FORMAT:
            log.info("ignoring build record %s of another format", path)
            return None
        try:
            steps = [StepRecord.from_dict(item) for item in data.get("steps", [])]
        except (KeyError, TypeError, ValueError) as error:
            log.warning("ignoring build record %s: %s", path, error)
            return None
        return cls(
            containerfile=str(data.get("containerfile", "")),
            context=str(data.get("context", "")),
            steps={(step.stage, step.step): step for step in steps},
            saved_at=str(data.get("saved_at", "")),
        )

    def save(self, path: Path) -> None:
        """Write the record atomically; failures are logged, not raised."""
        self.saved_at = datetime.now(UTC).isoformat(timespec="seconds")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(
                "w", encoding="utf-8", dir=path.parent, delete=False, suffix=".tmp"
            ) as handle:
                json.dump(self.to_dict(), handle, indent=1)
            os.replace(handle.name, path)
        except OSError as error:
            log.warning("could not save the build record %s: %s", path, error)


def stage_key(plan: Plan, stage: int) -> str:
    """Return the key that pairs a stage with the same stage of an earlier build."""
    name = plan.stages[stage].name
    return name if name is not None else str(stage)


def instruction_key_text(instruction: Instruction) -> str:
    return json.dumps(instruction_key(instruction), ensure_ascii=False)


def stage_arguments(plan: Plan, instruction: Instruction) -> dict[str, str]:
    """Return the ARGs declared in the stage before `instruction`, with values."""
    global_values: dict[str, str] = {}
    for declaration in plan.global_args:
        for argument in declaration.arguments:
            name, _, default = argument.partition("=")
            global_values[name] = plan.build_args.get(
                name, expand(default, global_values)
            )
    values: dict[str, str] = {}
    stage = plan.stages[instruction.stage]
    for earlier in stage.instructions[1 : instruction.step - 1]:
        if earlier.keyword != "ARG":
            continue
        for argument in earlier.arguments:
            name, has_default, default = argument.partition("=")
            if name in plan.build_args:
                values[name] = plan.build_args[name]
            elif has_default:
                values[name] = expand(default, {**global_values, **values})
            else:
                values[name] = global_values.get(name, "")
    return values


def hash_sources(
    plan: Plan, instruction: Instruction, context: Path, rules: IgnoreRules
) -> dict[str, str]:
    """Hash the context files and folders that a COPY or ADD reads.

    Returns an empty dict for an instruction that reads no context. Paths that
    the ignore rules leave out are not read by Buildah and not hashed here.
    """
    sources = context_sources(plan, instruction)
    if not sources:
        return {}
    hashes: dict[str, str] = {}
    for source in sources:
        for path in _source_paths(context, source, rules):
            if path in hashes:
                continue
            if len(hashes) >= MAX_HASHED_PATHS:
                log.warning(
                    "line %d reads more than %d context paths; hashed the first only",
                    instruction.first_line,
                    MAX_HASHED_PATHS,
                )
                return hashes
            digest = _path_digest(context / path)
            if digest is not None:
                hashes[path] = digest
    return hashes


def _source_paths(context: Path, source: str, rules: IgnoreRules) -> list[str]:
    if any(character in source for character in "*?["):
        return [
            path for path in rules.included_paths(context) if source_reads(source, path)
        ]
    return list(rules.included_paths(context, source))


def _path_digest(path: Path) -> str | None:
    try:
        status = path.lstat()
        mode = stat.S_IMODE(status.st_mode)
        if stat.S_ISDIR(status.st_mode):
            return f"dir {mode:o}"
        if stat.S_ISLNK(status.st_mode):
            target = os.readlink(path)
            return f"link:{target} {mode:o}"
        if not stat.S_ISREG(status.st_mode):
            # Opening a FIFO would block until a writer appears; a device or
            # socket has no content to hash either.
            return f"special {stat.S_IFMT(status.st_mode):o} {mode:o}"
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(HASH_CHUNK):
                digest.update(chunk)
    except OSError as error:
        log.warning("cannot hash %s: %s", path, error.strerror)
        return None
    return f"sha256:{digest.hexdigest()} {mode:o}"


# Why a step missed


@dataclass(frozen=True)
class MissReason:
    """The reason one step missed the layer cache.

    `code` is one of: no-cache, earlier-miss, no-record, new-step,
    base-changed, instruction-changed, build-arg-changed, sources-changed,
    copy-source-changed, unknown. `paths` lists the changed context paths of
    sources-changed.
    """

    code: str
    message: str
    paths: tuple[str, ...] = ()


def explain_miss(
    previous: BuildRecord | None,
    step: StepRecord,
    parent: StepRecord | None,
    *,
    no_cache: bool,
) -> MissReason:
    """Say why `step` missed the cache; `parent` is this build's step before it."""
    if no_cache:
        return MissReason("no-cache", "--no-cache: Buildah rebuilds every step")
    if parent is not None and parent.step > 1 and not parent.cached:
        return MissReason(
            "earlier-miss",
            f"an earlier step missed: step {parent.step} (line {parent.line}) made "
            "a new image, and Buildah rebuilds every later step of the stage",
        )
    if previous is None:
        return MissReason(
            "no-record",
            "no earlier build of this Containerfile and context is recorded",
        )
    old = previous.step(step.stage, step.step)
    if old is None and not previous.has_stage(step.stage):
        return MissReason(
            "no-record", f"no earlier build of stage {step.stage} is recorded"
        )
    if old is None:
        return MissReason(
            "new-step",
            f"the last build had no step {step.step} in stage {step.stage}",
        )
    old_parent = previous.step(step.stage, step.step - 1)
    return _compare_with_record(step, parent, old, old_parent)


def _compare_with_record(
    step: StepRecord,
    parent: StepRecord | None,
    old: StepRecord,
    old_parent: StepRecord | None,
) -> MissReason:
    parent_changed = (
        parent is not None
        and old_parent is not None
        and parent.image != old_parent.image
    )
    if parent_changed and parent is not None and parent.step == 1:
        return MissReason(
            "base-changed",
            f"the base image changed: {parent.text} gave {_short(old_parent)} in "
            f"the last build and {_short(parent)} now",
        )
    reason = _input_changed(old, step)
    if reason is not None:
        return reason
    if parent_changed and parent is not None:
        # The step before was a cache hit, but on another cached image than
        # last time, and the cache has no result of this step on top of it.
        return MissReason(
            "earlier-miss",
            f"step {parent.step} (line {parent.line}) reused another cached image "
            f"than in the last build ({_short(parent)}, not {_short(old_parent)}), "
            "and the cache has no result of this step on top of it",
        )
    return MissReason(
        "unknown",
        "nothing changed in the instruction, the step before it, its build "
        "arguments or its files: the cached layer may have been removed "
        "(buildah rmi or prune), or the last build used other options",
    )


def _short(step: StepRecord | None) -> str:
    image = step.image if step is not None else None
    return image[:12] if image else "scratch"


def _input_changed(old: StepRecord, step: StepRecord) -> MissReason | None:
    if old.key != step.key:
        return MissReason(
            "instruction-changed",
            f"the instruction changed since the last build; it was: {old.text}",
        )
    changed_arguments = [
        name
        for name in sorted(set(old.arguments) | set(step.arguments))
        if old.arguments.get(name) != step.arguments.get(name)
    ]
    if changed_arguments:
        name = changed_arguments[0]
        return MissReason(
            "build-arg-changed",
            f"build argument {name} changed: it was {old.arguments.get(name)!r} "
            f"and is {step.arguments.get(name)!r} now",
        )
    if old.sources != step.sources:
        return _sources_changed(old.sources, step.sources)
    if old.copied_from != step.copied_from:
        return MissReason(
            "copy-source-changed",
            "the files it copies from another stage changed: that stage was rebuilt",
        )
    return None


def _sources_changed(old: dict[str, str], new: dict[str, str]) -> MissReason:
    changed = [path for path in new if path in old and old[path] != new[path]]
    added = [path for path in new if path not in old]
    removed = [path for path in old if path not in new]
    parts = []
    for paths, what in ((changed, "changed"), (added, "added"), (removed, "removed")):
        if paths:
            parts.append(f"{describe_paths(paths)} {what}")
    return MissReason(
        "sources-changed",
        "the copied files changed since the last build: " + "; ".join(parts),
        tuple(sorted(changed + added + removed)),
    )
