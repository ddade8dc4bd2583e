"""The pre-flight check rules; `engine.checks` runs them and documents the codes.

Each rule takes a Context and adds findings to it. Each message states what
the installed Buildah does at that line and how to fix it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dockerfile

from engine.plan import KNOWN_INSTRUCTIONS
from engine.rawplan import (
    Layout,
    RawStage,
    arg_declarations,
    command_body,
    env_names,
    flag_names,
    keyword,
    referenced_names,
    stage_references,
)
from engine.toolchains import installed_compilers, is_toolchain_image
from engine.variables import platform_args

Version = tuple[int, int, int]

SHELL_IN_OCI_SINCE: Version = (1, 44, 0)

GIT_URL = re.compile(r"^(?:git@[^\s:]+:|git://|ssh://|https?://\S+\.git(?:[#?]\S*)?$)")


@dataclass(frozen=True)
class Finding:
    """One problem or hint about a Containerfile, tied to a line when it has one."""

    severity: str
    """"error", "warning" or "info"."""
    line: int | None
    code: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "line": self.line,
            "code": self.code,
            "message": self.message,
        }

    def format(self, path: Path | str) -> str:
        """Return the finding as `file:line: severity: message`, as compilers do."""
        location = f"{path}:{self.line}" if self.line is not None else str(path)
        return f"{location}: {self.severity}: {self.message}"


@dataclass
class Context:
    """The input of every rule, and the findings the rules add to it."""

    layout: Layout
    version: Version | None
    build_args: dict[str, str]
    target: str | None
    image_format: str
    findings: list[Finding] = field(default_factory=list)

    def add(self, severity: str, line: int | None, code: str, message: str) -> None:
        self.findings.append(Finding(severity, line, code, message))

    def target_stage(self) -> RawStage | None:
        """Return the stage the build ends at, or None when --target names none."""
        stages = self.layout.stages
        if not stages:
            return None
        if self.target is None:
            return stages[-1]
        for stage in stages:
            if stage.name == self.target:
                return stage
        return None


def version_text(version: Version | None) -> str:
    return ".".join(map(str, version)) if version else "unknown"


def release_text(version: Version) -> str:
    """Return a release as Buildah's notes name it: 1.33 for (1, 33, 0)."""
    major, minor, patch = version
    return f"{major}.{minor}.{patch}" if patch else f"{major}.{minor}"


def all_commands(layout: Layout) -> list[dockerfile.Command]:
    commands = list(layout.preamble)
    for stage in layout.stages:
        commands.append(stage.from_command)
        commands += stage.commands
    return commands


# Structure


def check_structure(context: Context) -> None:
    layout = context.layout
    for command in all_commands(layout):
        if keyword(command) not in KNOWN_INSTRUCTIONS:
            context.add(
                "error",
                command.start_line,
                "instruction-unknown",
                f"unknown instruction {command.cmd!r}: Buildah stops the build here. "
                "Check its spelling.",
            )
    for command in layout.preamble:
        if keyword(command) != "ARG" and keyword(command) in KNOWN_INSTRUCTIONS:
            context.add(
                "error",
                command.start_line,
                "instruction-before-from",
                f"{keyword(command)} before the first FROM: Buildah rejects the file, "
                "because only ARG may come before it. Move it into a stage.",
            )
    if not layout.stages:
        line = layout.preamble[-1].start_line if layout.preamble else 1
        context.add(
            "error",
            line,
            "from-missing",
            "no FROM instruction, so Buildah has nothing to build. Add FROM <image>.",
        )
    for stage in layout.stages:
        words = stage.words
        if len(words) == 1 or (len(words) == 3 and words[1].upper() == "AS"):
            continue
        context.add(
            "error",
            stage.line,
            "from-invalid",
            f"invalid FROM {' '.join(words)!r}: Buildah rejects it. "
            "Write FROM <image> [AS <name>].",
        )


def check_target(context: Context) -> None:
    if context.target is None or not context.layout.stages:
        return
    if context.target_stage() is None:
        names = ", ".join(stage.name for stage in context.layout.stages if stage.name)
        context.add(
            "error",
            None,
            "target-unknown",
            f"--target {context.target!r} names no stage, so Buildah stops before "
            f"building anything. Named stages: {names or 'none'}.",
        )


# Stage names


def check_stage_names(context: Context) -> None:
    stages = context.layout.stages
    for stage in stages:
        if stage.name is None:
            continue
        for earlier in stages[: stage.index]:
            if earlier.name == stage.name:
                context.add(
                    "error",
                    stage.line,
                    "stage-name-duplicate",
                    f"stage name {stage.name!r} is already used on line "
                    f"{earlier.line}. Buildah builds both stages, and (as seen with "
                    f"Buildah 1.28) FROM {stage.name} then means the first of them "
                    f"while COPY --from={stage.name} means the last. Give each "
                    "stage its own name.",
                )
                break


def check_stage_references(context: Context) -> None:
    layout = context.layout
    for stage in layout.stages:
        base = layout.expanded_base(stage)
        if base and layout.resolve(base, stage.index, last=False) is None:
            _check_case(context, stage, base, stage.line, "FROM")
        for command in stage.commands:
            for reference in stage_references(command):
                where = f"{keyword(command)} --from"
                if keyword(command) == "RUN":
                    where = "RUN --mount from"
                if layout.resolve(reference, stage.index, last=True) is not None:
                    continue
                if reference.isdigit():
                    context.add(
                        "error",
                        command.start_line,
                        "stage-index-invalid",
                        f"{where}={reference} names no stage before this line, so "
                        f"Buildah fails here. Stages before it: 0 to {stage.index - 1}"
                        if stage.index
                        else f"{where}={reference}: no stage comes before this one.",
                    )
                    continue
                _check_case(context, stage, reference, command.start_line, where)


def _check_case(
    context: Context, stage: RawStage, reference: str, line: int, where: str
) -> None:
    for earlier in context.layout.stages[: stage.index]:
        if earlier.name is None or earlier.name.lower() != reference.lower():
            continue
        separator = " " if where == "FROM" else "="
        context.add(
            "error",
            line,
            "stage-name-case",
            f"{where}{separator}{reference} differs from stage {earlier.name!r} "
            f"(line {earlier.line}) only by letter case. Buildah's stage names are "
            f"case-sensitive, so it looks for an image named {reference!r} instead "
            f"and fails unless it can pull one. Write {earlier.name!r}.",
        )
        return


# Features that need a newer Buildah


@dataclass(frozen=True)
class Feature:
    code: str
    since: Version
    description: str
    """The feature as a message names it; `{keyword}` becomes the instruction."""
    older_buildah: str
    """The behaviour of a Buildah older than `since`, as a message states it."""
    fix: str
    used_by: Callable[[dockerfile.Command], bool]


def _uses_flag(
    keywords: tuple[str, ...], flag: str
) -> Callable[[dockerfile.Command], bool]:
    def used_by(command: dockerfile.Command) -> bool:
        return keyword(command) in keywords and flag in flag_names(command)

    return used_by


def _adds_git_url(command: dockerfile.Command) -> bool:
    sources = [str(word) for word in command.value[:-1]]
    return keyword(command) == "ADD" and any(GIT_URL.match(s) for s in sources)


REJECTS_FLAG = "rejects the flag, so the build fails at this step"

FEATURES = (
    Feature(
        "heredoc",
        (1, 33, 0),
        "A heredoc (<<EOF)",
        "runs the <<EOF line as a command of its own and then reads the heredoc "
        "body as Containerfile instructions, so the build fails",
        "Write the commands on the RUN line joined with &&, or COPY a script file "
        "and run it, or upgrade Buildah.",
        lambda command: bool(command.heredocs),
    ),
    Feature(
        "copy-parents",
        (1, 40, 0),
        "COPY --parents",
        REJECTS_FLAG,
        "Copy each folder to its full destination path in a COPY of its own, or "
        "upgrade Buildah.",
        _uses_flag(("COPY",), "--parents"),
    ),
    Feature(
        "copy-link",
        (1, 41, 0),
        "{keyword} --link",
        REJECTS_FLAG,
        "Remove --link: it only changes how the layer is stored, so the image "
        "gets the same files without it. Or upgrade Buildah.",
        _uses_flag(("COPY", "ADD"), "--link"),
    ),
    Feature(
        "add-git",
        (1, 38, 0),
        "ADD from a Git repository URL",
        "does not clone the repository: it treats the URL as a file to download "
        "or a local path",
        "Clone the repository with git in a RUN step, or upgrade Buildah.",
        _adds_git_url,
    ),
    Feature(
        "run-network",
        (1, 30, 0),
        "RUN --network",
        REJECTS_FLAG,
        "Remove the flag and give the whole build a network mode after `--` "
        "(stagescope run ... -- --network=none), or upgrade Buildah.",
        _uses_flag(("RUN",), "--network"),
    ),
    Feature(
        "add-checksum",
        (1, 33, 0),
        "ADD --checksum",
        REJECTS_FLAG,
        "Remove the flag and verify the file with sha256sum -c in the next RUN "
        "step, or upgrade Buildah.",
        _uses_flag(("ADD",), "--checksum"),
    ),
)


def check_features(context: Context) -> None:
    version = context.version
    for command in all_commands(context.layout):
        for feature in FEATURES:
            if not feature.used_by(command):
                continue
            description = feature.description.format(keyword=keyword(command))
            needs = f"{description} needs Buildah {release_text(feature.since)}"
            if version is None:
                context.add(
                    "warning",
                    command.start_line,
                    feature.code,
                    f"{needs} or newer, and the installed version is unknown. "
                    f"An older Buildah {feature.older_buildah}. {feature.fix}",
                )
            elif version < feature.since:
                context.add(
                    "error",
                    command.start_line,
                    feature.code,
                    f"{needs} or newer: the installed Buildah {version_text(version)} "
                    f"{feature.older_buildah}. {feature.fix}",
                )


MOUNT_FROM_CACHED_STAGE_FIXED: Version = (1, 29, 0)
"""First release after upstream closed containers/buildah#4375, where a RUN
--mount from a stage that came from the layer cache got an empty folder.
Observed failing on 1.28.2; the release is an estimate from the report's date."""


def check_mount_from_stage(context: Context) -> None:
    version = context.version
    if version is not None and version >= MOUNT_FROM_CACHED_STAGE_FIXED:
        return
    stages = context.layout.stages
    for stage in stages:
        earlier = {str(s.index) for s in stages[: stage.index]}
        earlier |= {s.name for s in stages[: stage.index] if s.name}
        for command in stage.commands:
            if keyword(command) != "RUN":
                continue
            mounted = [
                reference
                for reference in stage_references(command)
                if reference in earlier
            ]
            if mounted:
                _report_mount_from_stage(context, command, mounted[0])


def _report_mount_from_stage(
    context: Context, command: dockerfile.Command, stage: str
) -> None:
    if context.version is None:
        subject = "Buildah 1.28 (the installed version is unknown)"
    else:
        subject = f"the installed Buildah {version_text(context.version)}"
    context.add(
        "warning",
        command.start_line,
        "mount-from-cached-stage",
        f"RUN --mount from={stage}: when stage {stage} comes from the layer cache "
        f"but this RUN does not, {subject} mounts an empty folder, so the RUN fails "
        f"or reads nothing (containers/buildah#4375). Copy what the RUN needs with "
        f"COPY --from={stage} instead, build with --no-cache, or upgrade Buildah.",
    )


# The OCI image format


def check_oci_format(context: Context) -> None:
    if context.image_format != "oci":
        return
    for stage in context.layout.stages:
        for command in stage.commands:
            name = keyword(command)
            if name == "SHELL":
                _check_shell(context, command)
            elif name in ("HEALTHCHECK", "ONBUILD"):
                field = "health check" if name == "HEALTHCHECK" else "build trigger"
                context.add(
                    "warning",
                    command.start_line,
                    f"{name.lower()}-oci",
                    f"{name} is left out of the image: the OCI image format, "
                    f"Buildah's default, has no field for a {field}, so Buildah "
                    f"drops it with a warning. Build with --format docker to keep it.",
                )


def _check_shell(context: Context, command: dockerfile.Command) -> None:
    version = context.version
    if version is not None and version >= SHELL_IN_OCI_SINCE:
        return
    since = release_text(SHELL_IN_OCI_SINCE)
    if version is None:
        subject = f"Buildah before {since} (the installed version is unknown)"
    else:
        subject = f"the installed Buildah {version_text(version)}"
    context.add(
        "warning",
        command.start_line,
        "shell-oci",
        f"SHELL has no effect: {subject} ignores it when it builds an OCI image, its "
        "default format, and runs the later RUN steps with /bin/sh -c. Build with "
        "--format docker, or call the shell you need in each RUN.",
    )


# Build arguments


def check_stage_arguments(context: Context) -> None:
    layout = context.layout
    global_lines = _global_arg_lines(layout)
    for stage in layout.stages:
        declared: set[str] = set()
        environment: set[str] = set()
        for position, command in enumerate(stage.commands):
            name = keyword(command)
            if name == "ONBUILD":
                continue
            references = referenced_names(command_body(command))
            _check_global_references(
                context, command, references, declared | environment, global_lines
            )
            if name in ("ENV", "LABEL"):
                from_args = [r for r in references if r in declared - environment]
                later = stage.commands[position + 1 :]
                if from_args and not any(keyword(c) == "RUN" for c in later):
                    _report_env_from_arg(context, command, from_args[0])
            if name == "ARG":
                declared.update(n for n, _ in arg_declarations(command))
            elif name == "ENV":
                environment.update(env_names(command))


def _global_arg_lines(layout: Layout) -> dict[str, int]:
    lines: dict[str, int] = {}
    for command in layout.preamble:
        if keyword(command) == "ARG":
            for name, _ in arg_declarations(command):
                lines.setdefault(name, int(command.start_line))
    return lines


def _check_global_references(
    context: Context,
    command: dockerfile.Command,
    references: list[str],
    in_scope: set[str],
    global_lines: dict[str, int],
) -> None:
    for name in dict.fromkeys(references):
        if name not in global_lines or name in in_scope:
            continue
        context.add(
            "warning",
            command.start_line,
            "global-arg-not-in-stage",
            f"${name} is empty here: ARG {name} is declared before the first FROM "
            f"(line {global_lines[name]}), and such an ARG is visible only to FROM "
            f"lines. Declare it again inside this stage with `ARG {name}` above "
            "this line to get its value.",
        )


def _report_env_from_arg(
    context: Context, command: dockerfile.Command, argument: str
) -> None:
    name = keyword(command)
    context.add(
        "warning",
        command.start_line,
        "env-from-arg",
        f"{name} takes its value from ARG {argument}, but Buildah keys the layer "
        f"cache of this step on the text as written, not on the value. A build "
        f"with a new --build-arg {argument}=... reuses the cached layer, and with "
        f"no RUN after it in this stage the image keeps the old value. Add a RUN "
        f"after it (RUN steps are keyed on ARG values), or build with --no-cache "
        f"after changing {argument}.",
    )


def check_from_arguments(context: Context) -> None:
    layout = context.layout
    global_names = layout.global_arg_names | set(platform_args())
    for stage in layout.stages:
        empty = not layout.expanded_base(stage)
        severity = "error" if empty else "warning"
        outcome = (
            "the image name is empty and Buildah fails with 'no FROM statement found'"
            if empty
            else "the image name Buildah uses lacks that part"
        )
        for name in dict.fromkeys(referenced_names(stage.base)):
            if name in global_names:
                continue
            declared_at = _stage_declaring(layout.stages[: stage.index], name)
            if declared_at is not None:
                context.add(
                    severity,
                    stage.line,
                    "stage-arg-in-from",
                    f"FROM cannot use ARG {name}: it is declared inside a stage "
                    f"(line {declared_at}), and FROM lines see only ARGs declared "
                    f"before the first FROM. ${name} expands to nothing here, so "
                    f"{outcome}. Move `ARG {name}=...` above the first FROM.",
                )
            else:
                context.add(
                    severity,
                    stage.line,
                    "from-arg-undeclared",
                    f"no ARG {name} is declared before the first FROM, so ${name} "
                    f"expands to nothing here and {outcome}. Add `ARG {name}` "
                    "above the first FROM.",
                )


def _stage_declaring(stages: list[RawStage], name: str) -> int | None:
    for stage in stages:
        for command in stage.commands:
            if keyword(command) == "ARG" and any(
                declared == name for declared, _ in arg_declarations(command)
            ):
                return int(command.start_line)
    return None


# The stage graph


def check_unused_stages(context: Context) -> None:
    target = context.target_stage()
    if target is None:
        return
    needed = context.layout.needed_stages(target.index)
    for stage in context.layout.stages:
        if stage.index in needed:
            continue
        build_it = f"build it with --target {stage.name}, " if stage.name else ""
        context.add(
            "info",
            stage.line,
            "stage-unused",
            f"stage {stage.label} is not needed for the target stage {target.label}: "
            "Buildah skips it (--skip-unused-stages is on by default), so it is not "
            f"built at all, not even with --no-cache. Copy from it in a needed "
            f"stage, {build_it}or remove it.",
        )


def check_toolchains(context: Context) -> None:
    target = context.target_stage()
    if target is None:
        return
    chain = context.layout.base_chain(target)
    root = chain[-1]
    base = context.layout.expanded_base(root)
    if context.layout.resolve(base, root.index, last=False) is None and (
        is_toolchain_image(base)
    ):
        context.add(
            "info",
            root.line,
            "toolchain-image",
            f"the final image is based on {base}, an image with a compiler "
            "toolchain, so it ships the compilers too. Build in this stage and "
            "COPY --from it only the result into a final stage based on a small "
            "runtime image (a -slim, distroless or busybox image).",
        )
    for stage in chain:
        for command in stage.commands:
            if keyword(command) != "RUN":
                continue
            packages = installed_compilers(command_body(command))
            if packages:
                context.add(
                    "info",
                    command.start_line,
                    "toolchain-install",
                    f"this RUN installs {', '.join(packages)} into the final "
                    f"image. Install build tools in a build stage, and COPY --from "
                    "it only what the program needs at run time.",
                )


CHECKS: tuple[Callable[[Context], None], ...] = (
    check_structure,
    check_target,
    check_stage_names,
    check_stage_references,
    check_features,
    check_mount_from_stage,
    check_oci_format,
    check_stage_arguments,
    check_from_arguments,
    check_unused_stages,
    check_toolchains,
)
"""Every rule, in the order they run; findings are sorted by line afterwards."""
