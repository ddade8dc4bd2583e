"""Light stage bookkeeping on the raw parse of a Containerfile, for the checks.

Unlike `engine.plan`, nothing here raises on invalid input: a FROM line that
cannot be read still starts a stage, and an unknown instruction is kept, so
that the checks can report every problem of a file in one run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import dockerfile

from engine.variables import expand, platform_args

VARIABLE_REFERENCE = re.compile(
    r"(?<!\\)\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))"
)


@dataclass
class RawStage:
    """A stage as written: its FROM line's words and the commands after it."""

    index: int
    from_command: dockerfile.Command
    commands: list[dockerfile.Command] = field(default_factory=list)

    @property
    def line(self) -> int:
        return int(self.from_command.start_line)

    @property
    def words(self) -> list[str]:
        return [str(word) for word in self.from_command.value]

    @property
    def base(self) -> str:
        """The image or stage reference as written, before ARG expansion."""
        return self.words[0] if self.words else ""

    @property
    def name(self) -> str | None:
        words = self.words
        if len(words) == 3 and words[1].upper() == "AS":
            return words[2]
        return None

    @property
    def label(self) -> str:
        return repr(self.name) if self.name else str(self.index)


@dataclass
class Layout:
    """The commands of a Containerfile grouped into a preamble and stages."""

    preamble: list[dockerfile.Command]
    """Every command before the first FROM; only ARG is valid there."""
    stages: list[RawStage]
    global_values: dict[str, str]
    """The values that FROM lines see: platform ARGs, then the global ARGs
    with their defaults or build arguments."""

    @property
    def global_arg_names(self) -> set[str]:
        names: set[str] = set()
        for command in self.preamble:
            if keyword(command) == "ARG":
                names.update(name for name, _ in arg_declarations(command))
        return names

    def expanded_base(self, stage: RawStage) -> str:
        return expand(stage.base, self.global_values)

    def resolve(self, reference: str, before: int, *, last: bool) -> int | None:
        """Return the stage before index `before` that a reference names exactly.

        With duplicate names, Buildah 1.28 resolves FROM to the first stage and
        COPY --from to the last one, so `last` picks which. A number is a
        stage index.
        """
        matches = [
            stage.index for stage in self.stages[:before] if stage.name == reference
        ]
        if matches:
            return matches[-1] if last else matches[0]
        if reference.isdigit() and int(reference) < before:
            return int(reference)
        return None

    def needed_stages(self, target: int) -> set[int]:
        """Return the target and every stage it depends on, as Buildah builds them."""
        needed = {target}
        pending = [target]
        while pending:
            stage = self.stages[pending.pop()]
            for source in self.sources_of(stage):
                if source not in needed:
                    needed.add(source)
                    pending.append(source)
        return needed

    def sources_of(self, stage: RawStage) -> list[int]:
        sources = []
        base = self.resolve(self.expanded_base(stage), stage.index, last=False)
        if base is not None:
            sources.append(base)
        for command in stage.commands:
            for reference in stage_references(command):
                source = self.resolve(reference, stage.index, last=True)
                if source is not None:
                    sources.append(source)
        return sources

    def base_chain(self, stage: RawStage) -> list[RawStage]:
        """Return the stage and the stages below it through FROM, nearest first."""
        chain = [stage]
        while True:
            base = self.resolve(
                self.expanded_base(chain[-1]), chain[-1].index, last=False
            )
            if base is None or self.stages[base] in chain:
                return chain
            chain.append(self.stages[base])


def keyword(command: dockerfile.Command) -> str:
    return str(command.cmd).upper()


def build_layout(
    commands: Iterable[dockerfile.Command], build_args: dict[str, str]
) -> Layout:
    """Group commands into stages and work out the global ARG values."""
    layout = Layout(preamble=[], stages=[], global_values=platform_args())
    for command in commands:
        if keyword(command) == "FROM":
            layout.stages.append(RawStage(len(layout.stages), command))
        elif layout.stages:
            layout.stages[-1].commands.append(command)
        else:
            layout.preamble.append(command)
            if keyword(command) == "ARG":
                _declare_global(layout.global_values, command, build_args)
    return layout


def _declare_global(
    values: dict[str, str], command: dockerfile.Command, build_args: dict[str, str]
) -> None:
    for name, default in arg_declarations(command):
        if name in build_args:
            values[name] = build_args[name]
        elif default is not None:
            values[name] = expand(default, values)


def arg_declarations(command: dockerfile.Command) -> list[tuple[str, str | None]]:
    """Return (name, default or None) for each name that an ARG line declares."""
    declarations = []
    for word in command.value:
        name, separator, default = str(word).partition("=")
        declarations.append((name, default if separator else None))
    return declarations


def env_names(command: dockerfile.Command) -> list[str]:
    """Return the names an ENV line sets; the parser gives name, value pairs."""
    return [str(name) for name in command.value[0::2]]


def referenced_names(text: str) -> list[str]:
    """Return the names that `$NAME` and `${NAME...}` reference in `text`, in order."""
    names = []
    for match in VARIABLE_REFERENCE.finditer(text):
        names.append(match.group("braced") or match.group("plain"))
    return names


def command_body(command: dockerfile.Command) -> str:
    """Return an instruction's text after its keyword, heredoc bodies included."""
    parts = str(command.original).split(None, 1)
    return parts[1] if len(parts) > 1 else ""


def stage_references(command: dockerfile.Command) -> list[str]:
    """Return the stage or image names in COPY/ADD --from and RUN --mount from=."""
    references = []
    for flag in command.flags:
        text = str(flag)
        if text.startswith("--from=") and keyword(command) in ("COPY", "ADD"):
            references.append(text[len("--from=") :])
        if text.startswith("--mount=") and keyword(command) == "RUN":
            for option in text[len("--mount=") :].split(","):
                key, _, value = option.partition("=")
                if key.strip() == "from" and value:
                    references.append(value.strip())
    return references


def flag_names(command: dockerfile.Command) -> set[str]:
    """Return the flags of a command without their values, e.g. {"--from"}."""
    return {str(flag).split("=", 1)[0] for flag in command.flags}
