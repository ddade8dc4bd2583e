"""Pre-flight checks: what the installed Buildah will do with a Containerfile.

Each finding names a line, what Buildah will do there and how to fix it.
The rules (in `engine.checkrules`) work on the raw parse with the light stage
bookkeeping of `engine.rawplan`, so one run reports every finding, including
several that `load_plan` would stop at one by one. `check_file` then loads the
plan and reports whatever it still rejects as `plan-invalid`.

`stagescope run` runs these checks before every build. In text mode it prints
the findings to stderr as `file:line: severity: message`; with --json it
writes each one to stdout as a `check` event, before the first build event.
Any error stops the build with exit status 1, and then only the errors are
printed.

Finding codes are stable, for scripts and for the app:

- structure, always errors: `parse-error`, `instruction-unknown`,
  `instruction-before-from`, `from-missing`, `from-invalid`, `target-unknown`,
  `stage-name-duplicate`, `stage-name-case`, `stage-index-invalid`,
  `plan-invalid`;
- features newer than the installed Buildah, errors when its version is known
  to be older and warnings when the version is unknown: `heredoc`,
  `copy-parents`, `copy-link`, `add-git`, `run-network`, `add-checksum`;
- a Buildah 1.28 bug, a warning: `mount-from-cached-stage`;
- the OCI image format, warnings: `shell-oci`, `healthcheck-oci`,
  `onbuild-oci`;
- build arguments, warnings: `env-from-arg`, `global-arg-not-in-stage`, and
  `stage-arg-in-from` and `from-arg-undeclared`, which are errors when the
  FROM image name expands to nothing;
- the stage graph, info: `stage-unused`, `toolchain-image`,
  `toolchain-install`.

What an older Buildah does with each feature was observed with Buildah 1.28.2,
except for `add-git`, which needs a network. The release that added each
feature comes from Buildah's release notes.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import dockerfile

from engine.buildah import Buildah
from engine.checkrules import CHECKS, Context, Finding, Version
from engine.errors import BuildahError, ContainerfileError, UsageError
from engine.plan import load_plan, read_text
from engine.rawplan import build_layout
from engine.runner import BuildRequest

log = logging.getLogger(__name__)

SEVERITIES = ("error", "warning", "info")

__all__ = [
    "Finding",
    "Version",
    "check_file",
    "check_request",
    "check_text",
    "default_image_format",
    "has_errors",
    "installed_version",
]


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(finding.severity == "error" for finding in findings)


def default_image_format() -> str:
    """Return the image format `buildah bud` uses without --format."""
    return os.environ.get("BUILDAH_FORMAT", "").lower() or "oci"


def installed_version(buildah: Buildah) -> Version | None:
    """Return the installed Buildah's version, or None when it cannot be run."""
    try:
        return buildah.version()
    except BuildahError as error:
        log.warning("checking without a Buildah version: %s", error.message)
        return None


def check_request(request: BuildRequest, version: Version | None) -> list[Finding]:
    """Check the Containerfile of a build request with the request's options."""
    return check_file(
        request.containerfile,
        version,
        build_args=request.build_arg_values,
        target=request.target,
        image_format=request.image_format or _format_in(request.extra_args),
        image_exists=lambda name: request.buildah.image_id(name) is not None,
    )


def _format_in(extra_args: tuple[str, ...]) -> str | None:
    """Return the value of a --format option passed through to buildah bud."""
    for index, argument in enumerate(extra_args):
        if argument.startswith("--format="):
            return argument.split("=", 1)[1]
        if argument == "--format" and index + 1 < len(extra_args):
            return extra_args[index + 1]
    return None


def check_file(
    path: Path,
    version: Version | None,
    build_args: dict[str, str] | None = None,
    target: str | None = None,
    image_format: str | None = None,
    image_exists: Callable[[str], bool] | None = None,
) -> list[Finding]:
    """Check a Containerfile for a Buildah version and the options of a build.

    `version` None means the installed version is unknown, and each version
    check then reports a warning that names the release it needs.
    `image_format` None means Buildah's default: BUILDAH_FORMAT, else oci.
    `image_exists` goes to `load_plan`, which uses it to tell a typo in a
    stage name from a local image. Raises ContainerfileError only when the
    file cannot be read as UTF-8 text.
    """
    text = read_text(path)
    findings = check_text(text, version, build_args, target, image_format)
    if not has_errors(findings):
        findings += _plan_findings(path, build_args or {}, target, image_exists)
    return findings


def check_text(
    text: str,
    version: Version | None,
    build_args: dict[str, str] | None = None,
    target: str | None = None,
    image_format: str | None = None,
) -> list[Finding]:
    """Check Containerfile text; `check_file` describes the parameters."""
    try:
        commands = dockerfile.parse_string(text)
    except dockerfile.GoParseError as error:
        if "no instructions" in str(error):
            message = "the file has no instructions, so Buildah has nothing to build"
            return [
                Finding("error", 1, "from-missing", f"{message}. Add FROM <image>.")
            ]
        match = re.search(r"line (\d+)", str(error))
        line = int(match.group(1)) if match else None
        message = f"cannot parse the file ({error}); fix the syntax there"
        return [Finding("error", line, "parse-error", message)]
    arguments = build_args or {}
    context = Context(
        layout=build_layout(commands, arguments),
        version=version,
        build_args=arguments,
        target=target,
        image_format=(image_format or default_image_format()).lower(),
    )
    for check in CHECKS:
        check(context)
    return sorted(context.findings, key=_finding_order)


def _finding_order(finding: Finding) -> tuple[int, int, str]:
    line = finding.line if finding.line is not None else 0
    return line, SEVERITIES.index(finding.severity), finding.code


def _plan_findings(
    path: Path,
    build_args: dict[str, str],
    target: str | None,
    image_exists: Callable[[str], bool] | None,
) -> list[Finding]:
    """Report what `load_plan` rejects and no rule covers."""
    try:
        load_plan(path, build_args, target, image_exists)
    except ContainerfileError as error:
        location = f"{error.path}:{error.line}: " if error.line else f"{error.path}: "
        message = error.message.removeprefix(location)
        return [Finding("error", error.line, "plan-invalid", message)]
    except UsageError as error:
        return [Finding("error", None, "plan-invalid", error.message)]
    return []
