"""Pre-flight checks of the Containerfile before each build in the app.

The command line checks the file before the app starts and stops on an
error; the app shows the warnings and info it found. After that, the app
checks again before each start or rebuild, on the build worker, and in
watch mode after each change of the Containerfile. An error stops a start
or rebuild before buildah runs. `engine.checks` documents every finding.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from textual.message import Message

from engine.checks import (
    Finding,
    Version,
    check_file,
    check_request,
    has_errors,
    installed_version,
)
from engine.errors import StagescopeError
from engine.plan import Plan
from engine.runner import BuildRequest

Check = Callable[[], list[Finding]]


class FindingsChecked(Message):
    """A pre-flight check finished; `findings` replace the ones shown."""

    def __init__(self, findings: list[Finding]) -> None:
        super().__init__()
        self.findings = findings


class PreflightError(StagescopeError):
    """A pre-flight check found an error, so the build does not start."""

    exit_code = 1


class Preflight:
    """Runs the checks of one build source before each of its builds."""

    def __init__(
        self, check: Check | None, findings: Sequence[Finding] | None = None
    ) -> None:
        self.check = check
        self._startup_findings = list(findings) if findings is not None else None

    def run(self) -> list[Finding] | None:
        """Return the findings for the next build, or None without checks.

        Findings given to the constructor, from the check before the app
        started, serve the first build; every later build is checked anew.
        Blocks on buildah, so call it from a worker.
        """
        if self._startup_findings is not None:
            findings, self._startup_findings = self._startup_findings, None
            return findings
        return self.check() if self.check is not None else None


def request_check(request: BuildRequest, version: Version | None = None) -> Check:
    """Return a check of a live build's Containerfile with the build's options.

    The installed Buildah's version is asked once, on the first check, when
    `version` is None.
    """
    known: list[Version | None] = [version] if version is not None else []
    lock = threading.Lock()

    def check() -> list[Finding]:
        with lock:
            if not known:
                known.append(installed_version(request.buildah))
        return check_request(request, known[0])

    return check


def plan_check(plan: Plan) -> Check:
    """Return a check of a plan's file, for a replay: no Buildah version is
    known, so each version-dependent feature gets a warning."""
    stage = plan.stages[plan.target]
    target = stage.name if plan.target != len(plan.stages) - 1 else None

    def check() -> list[Finding]:
        return check_file(plan.path, None, plan.build_args, target)

    return check


def error_lines(findings: Iterable[Finding], path: Path | str) -> list[str]:
    """Return each error as `file:line: message`, as other errors are shown."""
    lines = []
    for finding in findings:
        if finding.severity != "error":
            continue
        location = f"{path}:{finding.line}" if finding.line is not None else str(path)
        lines.append(f"{location}: {finding.message}")
    return lines


def preflight_error(findings: list[Finding], path: Path | str) -> PreflightError | None:
    """Return the error that stops a build with these findings, or None."""
    if not has_errors(findings):
        return None
    lines = error_lines(findings, path)
    more = ""
    if len(lines) > 1:
        noun = "error" if len(lines) == 2 else "errors"
        more = f" (and {len(lines) - 1} more {noun}; `stagescope check` lists them)"
    return PreflightError(lines[0] + more)
