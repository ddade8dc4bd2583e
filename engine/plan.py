"""Turn a Containerfile into a plan: stages, instructions and the stage graph.

Parsing uses BuildKit's own parser (the `dockerfile` package), so heredocs,
the escape directive, flags and line ranges come out as BuildKit parses them.
Validation rejects, before buildah starts, the input that buildah would
misread or fail on late.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import dockerfile

from engine.errors import ContainerfileError, UsageError
from engine.variables import expand, platform_args

log = logging.getLogger(__name__)

KNOWN_INSTRUCTIONS = frozenset(
    {
        "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM",
        "HEALTHCHECK", "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL",
        "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
    }
)  # fmt: skip

EDGE_KINDS = ("from", "copy", "mount")

MINIMUM_ARGUMENTS = {
    "ADD": 2, "ARG": 1, "COPY": 2, "EXPOSE": 1, "LABEL": 1, "RUN": 1,
    "STOPSIGNAL": 1, "USER": 1, "VOLUME": 1, "WORKDIR": 1,
}  # fmt: skip
"""How many non-empty words each instruction needs, as buildah requires."""

USAGE = {
    "ADD": "ADD <source>... <destination>",
    "ARG": "ARG <name>[=<default>]",
    "COPY": "COPY <source>... <destination>",
    "EXPOSE": "EXPOSE <port>[/<protocol>]...",
    "LABEL": "LABEL <key>=<value>...",
    "RUN": "RUN <command>",
    "STOPSIGNAL": "STOPSIGNAL <signal>",
    "USER": "USER <user>[:<group>]",
    "VOLUME": "VOLUME <path>...",
    "WORKDIR": "WORKDIR <path>",
}


@dataclass(frozen=True)
class Heredoc:
    name: str
    content: str
    file_descriptor: int


@dataclass(frozen=True)
class Instruction:
    """One instruction of a stage; `step` counts from 1 at FROM, as buildah does."""

    keyword: str
    flags: tuple[str, ...]
    arguments: tuple[str, ...]
    original: str
    first_line: int
    last_line: int
    heredocs: tuple[Heredoc, ...]
    stage: int
    step: int

    def flag(self, name: str) -> str | None:
        """Return the value of `--name=value`, or None when the flag is absent."""
        prefix = f"--{name}="
        for flag in self.flags:
            if flag.startswith(prefix):
                return flag[len(prefix) :]
        return None

    def mount_sources(self) -> list[str]:
        """Return the `from=` values of this instruction's `--mount` flags."""
        sources = []
        for flag in self.flags:
            if not flag.startswith("--mount="):
                continue
            for option in flag[len("--mount=") :].split(","):
                key, _, value = option.partition("=")
                if key.strip() == "from" and value:
                    sources.append(value.strip())
        return sources

    @property
    def text(self) -> str:
        """The instruction as one line: its first line, continuations joined."""
        return self.original.split("\n")[0] if self.original else self.keyword


@dataclass(frozen=True)
class Stage:
    index: int
    name: str | None
    base: str
    base_stage: int | None
    first_line: int
    last_line: int
    instructions: tuple[Instruction, ...]
    needed: bool = True

    @property
    def label(self) -> str:
        return self.name if self.name is not None else str(self.index)

    @property
    def step_count(self) -> int:
        return len(self.instructions)


@dataclass(frozen=True)
class Edge:
    """Stage `source` feeds stage `target` through the instruction on `line`."""

    source: int
    target: int
    kind: str
    line: int


@dataclass(frozen=True)
class Plan:
    path: Path
    text: str
    stages: tuple[Stage, ...]
    edges: tuple[Edge, ...]
    global_args: tuple[Instruction, ...]
    target: int
    build_args: dict[str, str] = field(default_factory=dict)

    @property
    def build_order(self) -> list[int]:
        """Return the needed stages in the order buildah builds them."""
        return [stage.index for stage in self.stages if stage.needed]

    def stage_named(self, reference: str) -> Stage | None:
        """Return the stage a `--from` or `--target` value names, by name or index."""
        for stage in self.stages:
            if stage.name == reference:
                return stage
        if reference.isdigit() and int(reference) < len(self.stages):
            return self.stages[int(reference)]
        return None

    def instruction(self, stage: int, step: int) -> Instruction | None:
        instructions = self.stages[stage].instructions
        return instructions[step - 1] if 1 <= step <= len(instructions) else None

    def instruction_at_line(self, line: int) -> Instruction | None:
        for stage in self.stages:
            for instruction in stage.instructions:
                if instruction.first_line <= line <= instruction.last_line:
                    return instruction
        return None

    def truncated_text(self, stage: int, step: int) -> str:
        """Return the Containerfile cut before `step` of `stage`.

        Lines are kept verbatim up to the cut, so every instruction before it
        has exactly the text that buildah keys its layer cache on. A `step`
        past the stage's last instruction cuts at the end of the stage.
        """
        instruction = self.instruction(stage, step)
        if instruction is not None:
            cut_line = instruction.first_line
        elif stage + 1 < len(self.stages):
            cut_line = self.stages[stage + 1].first_line
        else:
            return self.text
        # Split on newlines only, as the parser counts lines: splitlines()
        # also breaks at form feeds and other separators inside a line.
        lines = self.text.split("\n")
        return "".join(line + "\n" for line in lines[: cut_line - 1])


def find_containerfile(context: Path, file: str | None) -> Path:
    """Return the Containerfile to build, looking where buildah looks."""
    if file:
        path = Path(file)
        if path.is_file():
            return path
        # buildah also looks for a relative -f path inside the build context.
        if not path.is_absolute() and (context / path).is_file():
            return context / path
        raise UsageError(
            f"{file}: Containerfile not found in the current folder or in "
            f"{context}; check the -f value"
        )
    for name in ("Containerfile", "Dockerfile"):
        if (context / name).is_file():
            return context / name
    raise UsageError(
        f"{context}: no Containerfile or Dockerfile in this folder; "
        "name one with -f or give the build context folder"
    )


def load_plan(
    path: Path,
    build_args: dict[str, str] | None = None,
    target: str | None = None,
    image_exists: Callable[[str], bool] | None = None,
) -> Plan:
    """Read, parse and validate a Containerfile.

    `image_exists` reports whether a local image of a name exists. It decides
    whether a `--from` value one typo away from a stage name is a mistake.
    Raises ContainerfileError with the file and line for invalid input.
    """
    text = read_text(path)
    commands = parse_commands(path, text)
    builder = _PlanBuilder(path, build_args or {}, image_exists)
    for command in commands:
        builder.add(command)
    return builder.finish(text, target)


def read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ContainerfileError(path, None, f"cannot read: {error.strerror}") from None
    if b"\0" in data:
        line = data[: data.index(b"\0")].count(b"\n") + 1
        raise ContainerfileError(path, line, "not a text file (it contains NUL bytes)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ContainerfileError(
            path,
            line,
            f"not UTF-8 text (byte {data[error.start]:#04x}); save it as UTF-8",
        ) from None


def parse_commands(path: Path, text: str) -> tuple[dockerfile.Command, ...]:
    try:
        commands: tuple[dockerfile.Command, ...] = dockerfile.parse_string(text)
    except dockerfile.GoParseError as error:
        message = str(error)
        if "no instructions" in message:
            raise ContainerfileError(
                path, 1, "the file has no instructions; add a FROM line"
            ) from None
        match = re.search(r"line (\d+)", message)
        line = int(match.group(1)) if match else first_failing_line(text)
        raise ContainerfileError(path, line, f"parse error: {message}") from None
    return commands


def first_failing_line(text: str) -> int | None:
    """Return the first line whose inclusion makes the parser fail.

    Some parse errors (`ENV must have two arguments`, `unterminated heredoc`)
    carry no line number; parsing ever longer prefixes of the file finds it.
    """
    lines = text.split("\n")

    def fails(count: int) -> bool:
        try:
            dockerfile.parse_string("\n".join(lines[:count]) + "\n")
        except dockerfile.GoParseError as error:
            return "no instructions" not in str(error)
        return False

    if not fails(len(lines)):
        return None
    low, high = 1, len(lines)
    while low < high:
        middle = (low + high) // 2
        if fails(middle):
            high = middle
        else:
            low = middle + 1
    return low


def one_typo_apart(a: str, b: str) -> bool:
    """Return True when one insertion, deletion, change or swap of two
    neighbouring characters turns `a` into `b`."""
    if a == b:
        return False
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        differences = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        if len(differences) == 1:
            return True
        first, last = differences[0], differences[-1]
        return (
            len(differences) == 2
            and last == first + 1
            and a[first] == b[last]
            and a[last] == b[first]
        )
    shorter, longer = (a, b) if len(a) < len(b) else (b, a)
    for index in range(len(longer)):
        if longer[:index] + longer[index + 1 :] == shorter:
            return True
    return False


class _PlanBuilder:
    """Accumulates parsed commands into stages, checking each as it comes."""

    def __init__(
        self,
        path: Path,
        build_args: dict[str, str],
        image_exists: Callable[[str], bool] | None,
    ) -> None:
        self.path = path
        self.build_args = build_args
        self.image_exists = image_exists
        self.global_args: list[Instruction] = []
        self.global_values: dict[str, str] = platform_args()
        self.stages: list[Stage] = []
        self.current: list[Instruction] = []
        self.edges: list[Edge] = []

    def error(self, line: int | None, message: str) -> ContainerfileError:
        return ContainerfileError(self.path, line, message)

    def add(self, command: dockerfile.Command) -> None:
        keyword = command.cmd.upper()
        if keyword not in KNOWN_INSTRUCTIONS:
            raise self.error(
                command.start_line,
                f"unknown instruction {command.cmd!r}; check its spelling",
            )
        if keyword == "FROM":
            self._close_stage()
            self._start_stage(command)
            return
        self._check_arguments(command, keyword)
        if not self.stages:
            if keyword != "ARG":
                raise self.error(
                    command.start_line,
                    f"{keyword} before the first FROM; only ARG may come before it",
                )
            instruction = self._instruction(command, stage=-1, step=0)
            self.global_args.append(instruction)
            self._declare_global_args(instruction)
            return
        step = len(self.current) + 1
        self.current.append(self._instruction(command, len(self.stages) - 1, step))

    def _check_arguments(self, command: dockerfile.Command, keyword: str) -> None:
        """Reject instructions that buildah would reject for missing arguments."""
        words = [word for word in command.value if word.strip()]
        needed = MINIMUM_ARGUMENTS.get(keyword, 0)
        if keyword in ("COPY", "ADD") and command.heredocs:
            needed = 1
        if len(words) >= needed:
            return
        missing = "an argument"
        if needed == 2:
            missing = "a destination and at least one source"
        raise self.error(
            command.start_line,
            f"{keyword} needs {missing}: {command.original.strip()!r}; "
            f"write {USAGE.get(keyword, keyword)}",
        )

    def _instruction(
        self, command: dockerfile.Command, stage: int, step: int
    ) -> Instruction:
        heredocs = tuple(
            Heredoc(h.name, h.content, h.file_descriptor) for h in command.heredocs
        )
        return Instruction(
            keyword=command.cmd.upper(),
            flags=tuple(command.flags),
            arguments=tuple(command.value),
            original=command.original,
            first_line=command.start_line,
            last_line=command.end_line,
            heredocs=heredocs,
            stage=stage,
            step=step,
        )

    def _declare_global_args(self, instruction: Instruction) -> None:
        for argument in instruction.arguments:
            name, has_default, default = argument.partition("=")
            if name in self.build_args:
                self.global_values[name] = self.build_args[name]
            elif has_default:
                self.global_values[name] = expand(default, self.global_values)

    def _start_stage(self, command: dockerfile.Command) -> None:
        index = len(self.stages)
        line = command.start_line
        words = list(command.value)
        if not words:
            raise self.error(
                line, "FROM without an image; write FROM <image> [AS <name>]"
            )
        name: str | None = None
        if len(words) == 3 and words[1].upper() == "AS":
            name = words[2]
        elif len(words) != 1:
            raise self.error(
                line,
                f"invalid FROM {' '.join(words)!r}; write FROM <image> [AS <name>]",
            )
        for stage in self.stages:
            if name is not None and stage.name == name:
                raise self.error(
                    line,
                    f"stage name {name!r} is already used on line {stage.first_line}; "
                    "give each stage its own name",
                )

        base = expand(words[0], self.global_values)
        if not base:
            raise self.error(
                line, f"FROM {words[0]!r} expands to an empty image name; set that ARG"
            )
        base_stage = self._stage_reference(
            base, line, "FROM", self._known_local_base, index
        )
        if base_stage is not None:
            self.edges.append(Edge(base_stage, index, "from", line))
        placeholder = Stage(index, name, base, base_stage, line, line, ())
        self.stages.append(placeholder)
        self.current = [self._instruction(command, index, 1)]

    def _known_local_base(self, name: str) -> bool:
        # Without a way to ask buildah, a FROM one typo away from a stage name
        # is assumed to be an image, because bases are usually images.
        return self.image_exists(name) if self.image_exists else True

    def _close_stage(self) -> None:
        if not self.stages:
            return
        stage = self.stages[-1]
        instructions = tuple(self.current)
        for instruction in instructions[1:]:
            self._add_instruction_edges(instruction)
        self.stages[-1] = Stage(
            index=stage.index,
            name=stage.name,
            base=stage.base,
            base_stage=stage.base_stage,
            first_line=stage.first_line,
            last_line=instructions[-1].last_line,
            instructions=instructions,
        )

    def _add_instruction_edges(self, instruction: Instruction) -> None:
        line = instruction.first_line
        image_exists = self.image_exists or (lambda name: False)
        if instruction.keyword in ("COPY", "ADD"):
            source = instruction.flag("from")
            if source is not None:
                stage = self._stage_reference(
                    source, line, "--from", image_exists, instruction.stage
                )
                if stage is not None:
                    self.edges.append(Edge(stage, instruction.stage, "copy", line))
        if instruction.keyword == "RUN":
            for source in instruction.mount_sources():
                stage = self._stage_reference(
                    source, line, "--mount from", image_exists, instruction.stage
                )
                if stage is not None:
                    self.edges.append(Edge(stage, instruction.stage, "mount", line))

    def _stage_reference(
        self,
        reference: str,
        line: int,
        where: str,
        image_exists: Callable[[str], bool],
        current_stage: int,
    ) -> int | None:
        """Resolve a reference to a stage before `current_stage`, or None."""
        earlier = self.stages[:current_stage]
        for stage in earlier:
            if stage.name == reference:
                return stage.index
        if reference.isdigit() and where != "FROM":
            index = int(reference)
            if index >= len(earlier):
                raise self.error(
                    line,
                    f"{where}={reference}: no stage {index} before this line "
                    f"(stages so far: {_describe_stages(earlier)})",
                )
            return index
        for stage in earlier:
            if stage.name is not None and stage.name.lower() == reference.lower():
                raise self.error(
                    line,
                    f"{where} {reference!r} differs from stage {stage.name!r} only by "
                    f"letter case; buildah's stage names are case-sensitive and it "
                    f"would pull an image named {reference!r}: write {stage.name!r}",
                )
        for stage in earlier:
            if (
                stage.name is not None
                and one_typo_apart(stage.name, reference)
                and not image_exists(reference)
            ):
                raise self.error(
                    line,
                    f"{where} {reference!r} is not a stage or a local image; "
                    f"did you mean stage {stage.name!r}?",
                )
        return None

    def finish(self, text: str, target: str | None) -> Plan:
        if not self.stages:
            line = self.global_args[-1].first_line if self.global_args else 1
            raise self.error(
                line, "no FROM instruction; a build needs at least one stage"
            )
        self._close_stage()
        target_index = self._target_index(target)
        needed = _needed_stages(target_index, self.edges)
        stages = tuple(
            Stage(
                index=stage.index,
                name=stage.name,
                base=stage.base,
                base_stage=stage.base_stage,
                first_line=stage.first_line,
                last_line=stage.last_line,
                instructions=stage.instructions,
                needed=stage.index in needed,
            )
            for stage in self.stages
        )
        return Plan(
            path=self.path,
            text=text,
            stages=stages,
            edges=tuple(self.edges),
            global_args=tuple(self.global_args),
            target=target_index,
            build_args=dict(self.build_args),
        )

    def _target_index(self, target: str | None) -> int:
        if target is None:
            return len(self.stages) - 1
        for stage in self.stages:
            if stage.name == target:
                return stage.index
        raise UsageError(
            f"{self.path}: --target {target!r} names no stage; "
            f"stages are: {_describe_stages(self.stages)}"
        )


def _needed_stages(target: int, edges: Iterable[Edge]) -> set[int]:
    """Return the target and every stage it depends on, as buildah builds them."""
    sources: dict[int, set[int]] = {}
    for edge in edges:
        sources.setdefault(edge.target, set()).add(edge.source)
    needed = {target}
    pending = [target]
    while pending:
        for source in sources.get(pending.pop(), set()):
            if source not in needed:
                needed.add(source)
                pending.append(source)
    return needed


def _describe_stages(stages: Iterable[Stage]) -> str:
    labels = [
        f"{stage.index} ({stage.name})" if stage.name else str(stage.index)
        for stage in stages
    ]
    return ", ".join(labels) or "none"
