"""Turn the commands typed in a shell at a pause into a RUN instruction.

At a pause, a shell opened in the paused state is where a fix gets tried:
install the missing package, create the folder, set the permission. The
shell's history contains those commands. `propose_fix` makes them one RUN
instruction inserted before the paused step (at the end of the stage for a
stage-end pause), and shows the change as a unified diff. `apply_fix` writes
it, after copying the Containerfile to a backup next to it.

Nothing is written by `propose_fix`, because the caller shows the diff and
requests confirmation first. After `apply_fix`, `resume_with_fix` reloads the
plan into the paused session, so the next resume builds the new RUN first.
Breakpoints follow their instructions as in watch mode.

The commands are joined with `&&`, so the RUN stops at the first one that
fails, as it would have in the shell only if typed that way; the caller lets
the user edit the instruction before it is written.

NOTE: when the Containerfile is inside the build context, the edit and the
backup are context changes, so a `COPY . .` before the paused step misses the
cache on resume unless .containerignore excludes them.
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from engine.breakpoints import Breakpoint, Position
from engine.errors import StagescopeError
from engine.plan import Plan, load_plan
from engine.prediction import follow_breakpoints
from engine.runner import BuildSession

BACKUP_SUFFIX = ".stagescope-backup"

IGNORED_COMMANDS = frozenset({"exit", "logout", "history", "clear", "reset"})
"""Commands that leave or manage the shell, which never belong in a RUN."""

LOOKING_COMMANDS = frozenset(
    {
        "cat", "df", "du", "env", "file", "head", "id", "less", "ls",
        "more", "printenv", "ps", "pwd", "stat", "tail", "tree", "type", "uname",
        "which", "whoami",
    }
)  # fmt: skip
"""Commands that only look around, unless their output is redirected. In a RUN
they change nothing, and one that failed in the shell would fail the build."""

_SHELL_OPERATORS = re.compile(r"[>|;&`]|\$\(")

_TIMESTAMP = re.compile(r"^#\d+$")
_ESCAPE_DIRECTIVE = re.compile(r"^#\s*escape\s*=\s*(\S)\s*$", re.IGNORECASE)
_DIRECTIVE = re.compile(r"^#\s*\w+\s*=")


@dataclass(frozen=True)
class ShellFix:
    """A RUN instruction to insert into a Containerfile, and the result."""

    path: Path
    position: Position
    """The paused position, whose step number the new RUN takes."""
    line: int
    """The line of the edited file on which the new RUN starts."""
    instruction: str
    old_text: str
    new_text: str

    @property
    def diff(self) -> str:
        name = str(self.path)
        lines = difflib.unified_diff(
            self.old_text.splitlines(keepends=True),
            self.new_text.splitlines(keepends=True),
            fromfile=f"{name} (now)",
            tofile=f"{name} (with the fix)",
        )
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def useful_commands(history: Iterable[str]) -> list[str]:
    """Return the commands worth repeating in a RUN, in order.

    Drops blank lines, bash's timestamp lines, commands that leave or manage
    the shell, commands that only look around (`ls`, `cat FILE`, ...), and
    repeats of the command just before.
    """
    commands: list[str] = []
    for line in history:
        command = line.strip()
        if not command or _TIMESTAMP.match(command):
            continue
        word = _first_word(command)
        if word in IGNORED_COMMANDS:
            continue
        if word in LOOKING_COMMANDS and not _SHELL_OPERATORS.search(command):
            continue
        if commands and commands[-1] == command:
            continue
        commands.append(command)
    return commands


def _first_word(command: str) -> str:
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    return words[0] if words else ""


def escape_character(text: str) -> str:
    """Return the line continuation character set by an escape directive."""
    for line in text.split("\n"):
        stripped = line.strip()
        match = _ESCAPE_DIRECTIVE.match(stripped)
        if match:
            return match.group(1)
        if not _DIRECTIVE.match(stripped):
            break
    return "\\"


def run_instruction(commands: list[str], escape: str = "\\") -> str:
    """Return a RUN instruction that runs `commands` one after the other."""
    if not commands:
        raise ValueError("no commands to make a RUN of")
    return f"RUN {commands[0]}" + "".join(
        f" {escape}\n && {command}" for command in commands[1:]
    )


def insertion_line(plan: Plan, position: Position) -> int:
    """Return the line before which a fix for a pause at `position` goes."""
    instruction = plan.instruction(*position)
    if instruction is not None:
        return instruction.first_line
    return plan.stages[position.stage].instructions[-1].last_line + 1


def propose_fix(
    plan: Plan, position: Position, commands: list[str], instruction: str | None = None
) -> ShellFix:
    """Return the change that inserts a RUN of `commands` (or `instruction`,
    as the user edited it) before `position`."""
    text = plan.text
    instruction = instruction or run_instruction(commands, escape_character(text))
    line = insertion_line(plan, position)
    carriage = "\r" if "\r\n" in text else ""
    lines = text.split("\n")
    added = [part.rstrip("\r") + carriage for part in instruction.split("\n")]
    index = line - 1
    if index >= len(lines):
        # After a last line that has no newline: add one before the fix.
        lines[-1] += carriage
        added[-1] = added[-1].removesuffix(carriage)
    new_text = "\n".join(lines[:index] + added + lines[index:])
    return ShellFix(plan.path, position, line, instruction, text, new_text)


def backup_path(path: Path) -> Path:
    """Return a backup path next to `path` that does not exist yet."""
    candidate = path.with_name(path.name + BACKUP_SUFFIX)
    number = 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}{BACKUP_SUFFIX}.{number}")
        number += 1
    return candidate


def check_fix(
    fix: ShellFix, build_args: dict[str, str] | None = None, target: str | None = None
) -> None:
    """Raise StagescopeError when the edited text is not a valid Containerfile."""
    with tempfile.TemporaryDirectory(prefix="stagescope-fix-") as folder:
        path = Path(folder) / fix.path.name
        path.write_text(fix.new_text, encoding="utf-8")
        try:
            load_plan(path, build_args, target)
        except StagescopeError as error:
            message = error.message.replace(str(path), str(fix.path))
            raise StagescopeError(f"the fix is not valid: {message}") from None


def apply_fix(
    fix: ShellFix, build_args: dict[str, str] | None = None, target: str | None = None
) -> Path:
    """Back the Containerfile up, write the fix, and return the backup's path.

    The edited text is checked first, with the build's arguments and target.
    Raises StagescopeError when it is invalid, when the file changed since the
    fix was proposed, or when it cannot be written. The file is then left as
    it was.
    """
    check_fix(fix, build_args, target)
    try:
        current = fix.path.read_text(encoding="utf-8")
    except OSError as error:
        raise StagescopeError(f"{fix.path}: cannot read: {error.strerror}") from None
    if current != fix.old_text:
        raise StagescopeError(
            f"{fix.path} changed since the fix was proposed; nothing was written"
        )
    backup = backup_path(fix.path)
    try:
        shutil.copy2(fix.path, backup)
        _write_replacing(fix.path, fix.new_text)
    except OSError as error:
        raise StagescopeError(
            f"{fix.path}: could not write the fix: {error.strerror}"
        ) from None
    return backup


def _write_replacing(path: Path, text: str) -> None:
    """Write `text` to a new file beside `path`, then rename it over `path`."""
    mode = path.stat().st_mode & 0o7777
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as file:
            file.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def resume_with_fix(session: BuildSession) -> list[tuple[Breakpoint, str]]:
    """Reload the edited Containerfile into the paused `session`.

    Breakpoints follow their instructions. Returns the dropped ones, each with
    the reason. The session's position now names the new RUN, so the next
    `resume` or `step` builds it first.
    """
    old_plan = session.plan
    plan = session.request.load_plan()
    followed = follow_breakpoints(old_plan, plan, session.breakpoints)
    session.reload(plan, followed.breakpoints)
    return followed.dropped
