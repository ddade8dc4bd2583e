"""Interactive shells and one-off commands in a throwaway container of an image.

`run_shell` creates a working container from the image with
`buildah from --pull=never`, runs the shell or command in it with
`buildah run` on the caller's terminal, and removes the container when the
process ends, however it ends. Changes made in the shell stay in that
container and never reach the image or the build.

`buildah run` takes the environment, working directory and user from the
container's configuration, which `buildah from` copies from the image, so the
shell starts where a RUN step of the next instruction would.

Images without /bin/sh (FROM scratch, distroless) get a toolbox shell: a
busybox container in which the image's root folder is mounted at /stage.
"""

from __future__ import annotations

import logging
import os
import signal
import stat
import subprocess
import sys
import termios
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import TextIO

from engine.baseimages import ensure_busybox_image
from engine.buildah import Buildah
from engine.errors import StagescopeError
from engine.mounts import require_image, resolve_in_root, throwaway_container
from engine.termination import exit_on_termination_signals

log = logging.getLogger(__name__)

TOOLBOX_IMAGE = "localhost/stagescope-toolbox:latest"
"""Made from the host's static busybox when missing, as no registry is needed."""

STAGE_MOUNT = "/stage"
"""Mount point of the inspected image's root folder inside a toolbox shell."""

SHELLS = ("/bin/bash", "/bin/sh")
"""Shells tried in order. bash comes first because it reads HISTFILE at start,
while busybox ash may be built without history support (Debian 12's
busybox-static is)."""

HISTORY_FOLDER = "/.stagescope"
HISTORY_FILE = f"{HISTORY_FOLDER}/history"

STDIN = 0
"""The shell inherits file descriptor 0 whatever `sys.stdin` has become."""

STOP_TIMEOUT = 10.0
"""Seconds `buildah run` gets to stop its process after SIGTERM before SIGKILL."""


@dataclass(frozen=True)
class ShellContext:
    """Position in a build at which a shell is opened. All fields are optional."""

    stage: str | None = None
    step: int | None = None
    instruction: str | None = None
    failing_command: str | None = None
    """Shell text of the instruction that failed, offered in the shell."""


@dataclass(frozen=True)
class ShellPlan:
    """The `buildah run` command line of a shell and the details the banner shows."""

    image_id: str
    container: str
    argv: tuple[str, ...]
    shell: str
    toolbox_image: str | None
    history_written: bool
    history_file: str | None = None
    """Host path of the history file in the mounted container, if one was made."""
    history_seeded: int = 0
    """Lines the history file held before the shell started."""


def run_shell(
    buildah: Buildah,
    image: str,
    context: ShellContext | None = None,
    command: Sequence[str] = (),
    *,
    toolbox_image: str | None = None,
    banner: TextIO | None = None,
    history: list[str] | None = None,
) -> int:
    """Run `command`, or an interactive shell, in a throwaway container of `image`.

    The process runs in the foreground on this process's stdin, stdout and
    stderr, so call it inside Textual's `App.suspend()`. The banner goes to
    `banner` (default: sys.stderr at call time), never to stdout, so that a
    command's output can be piped. Returns the exit status of the command or
    shell (128 + N when signal N ended it).

    SIGTERM and SIGHUP raise `TerminatedBySignal` after the process has been
    stopped and every container removed.

    With a `history` list, an interactive shell in the image itself (not a
    toolbox) saves its history to a file in the container, and the commands
    typed in it are appended to the list before the container is removed.
    """
    context = context or ShellContext()
    image_id = require_image(buildah, image)
    with exit_on_termination_signals(), ExitStack() as cleanup:
        plan = _prepare(
            buildah,
            image_id,
            context,
            command,
            toolbox_image,
            cleanup,
            keep_history=history is not None,
        )
        stream = banner if banner is not None else sys.stderr
        stream.write(format_banner(plan, context, interactive=not command))
        stream.flush()
        status = run_foreground(list(plan.argv))
        if history is not None and plan.history_file:
            history += read_history(plan.history_file, plan.history_seeded)
        return status


def _prepare(
    buildah: Buildah,
    image_id: str,
    context: ShellContext,
    command: Sequence[str],
    toolbox_image: str | None,
    cleanup: ExitStack,
    keep_history: bool = False,
) -> ShellPlan:
    """Create the containers and work out the `buildah run` command line.

    Every container is registered with `cleanup` as soon as it exists.
    """
    target = cleanup.enter_context(throwaway_container(buildah, image_id, "shell"))
    target_root = buildah.mount(target)
    shell = find_shell(target_root)
    run_options: list[str] = []
    run_container, run_root, toolbox_id = target, target_root, None
    if shell is None:
        toolbox_id = toolbox_image_id(buildah, toolbox_image)
        run_container = cleanup.enter_context(
            throwaway_container(buildah, toolbox_id, "toolbox")
        )
        run_root = buildah.mount(run_container)
        shell = find_shell(run_root)
        if shell is None:
            raise StagescopeError(
                f"toolbox image {toolbox_image or TOOLBOX_IMAGE} has no /bin/sh: "
                "pass --toolbox with an image that has a shell, such as busybox"
            )
        run_options += ["--volume", f"{target_root}:{STAGE_MOUNT}"]
        run_options += ["--workingdir", STAGE_MOUNT]

    history_written = False
    keep_history = keep_history and toolbox_id is None
    seed = context.failing_command or ""
    if (seed or keep_history) and not command:
        history_written = write_history(run_root, seed)
        if history_written:
            run_options += ["--env", f"HISTFILE={HISTORY_FILE}"]
    history_file = None
    if history_written and keep_history:
        history_file = os.path.join(run_root, HISTORY_FILE.lstrip("/"))
    if os.isatty(STDIN):
        run_options.append("--tty")

    argv = buildah.argv(
        "run",
        *buildah.run_options(),
        *run_options,
        run_container,
        "--",
        *(command or [shell]),
    )
    return ShellPlan(
        image_id=image_id,
        container=run_container,
        argv=(buildah.executable, *argv),
        shell=shell,
        toolbox_image=(toolbox_image or TOOLBOX_IMAGE) if toolbox_id else None,
        history_written=history_written and bool(seed),
        history_file=history_file,
        history_seeded=len(seed.splitlines()),
    )


def toolbox_image_id(buildah: Buildah, toolbox_image: str | None) -> str:
    """Return the ID of the toolbox image, making the default one if missing."""
    if toolbox_image:
        return require_image(buildah, toolbox_image)
    return ensure_busybox_image(buildah, reference=TOOLBOX_IMAGE).image_id


def find_shell(root: str) -> str | None:
    """Return the first of SHELLS that is an executable file inside `root`."""
    for shell in SHELLS:
        host_path = resolve_in_root(root, shell)
        if host_path is None:
            continue
        try:
            status = os.stat(host_path, follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISREG(status.st_mode) and status.st_mode & 0o111:
            return shell
    return None


def write_history(root: str, command: str) -> bool:
    """Put `command` in a history file inside the container; return success.

    The folder is world-writable and not sticky, so the shell can rewrite or
    replace the file when it saves its history on exit, whatever user it runs
    as.
    """
    folder = os.path.join(root, HISTORY_FOLDER.lstrip("/"))
    path = os.path.join(folder, "history")
    try:
        os.mkdir(folder, 0o777)
        os.chmod(folder, 0o777)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        fd = os.open(path, flags, 0o666)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            if command.strip():
                file.write(command.rstrip("\n") + "\n")
        os.chmod(path, 0o666)
    except OSError as error:
        log.warning("could not write the shell history file %s: %s", path, error)
        return False
    return True


def read_history(path: str, skip: int = 0) -> list[str]:
    """Return the lines of a history file after the first `skip`, or none if
    the file is unreadable or is not a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as error:
        log.info("no shell history at %s: %s", path, error.strerror)
        return []
    with os.fdopen(fd, encoding="utf-8", errors="replace") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            return []
        lines = file.read().splitlines()
    return lines[skip:]


def format_banner(plan: ShellPlan, context: ShellContext, interactive: bool) -> str:
    """Return the lines printed before the shell starts."""
    lines = ["stagescope shell"]
    if context.stage is not None:
        lines.append(f"  stage:       {context.stage}")
    if context.step is not None:
        lines.append(f"  step:        {context.step}")
    if context.instruction:
        lines.append(f"  instruction: {_one_line(context.instruction)}")
    lines.append(f"  image:       {plan.image_id[:12]}")
    if plan.toolbox_image:
        lines.append(
            f"  toolbox:     yes, the image has no /bin/sh: {plan.shell} from "
            f"{plan.toolbox_image}, the image's files are at {STAGE_MOUNT}"
        )
    else:
        lines.append(f"  toolbox:     no, {plan.shell} from the image")
    if context.failing_command and interactive:
        where = (
            "also in the shell history (Up arrow) if the shell keeps one"
            if plan.history_written
            else "copy it from here"
        )
        lines.append(f"  failing command, {where}:")
        lines += [f"    {line}" for line in context.failing_command.splitlines()]
    if interactive:
        lines.append(
            "  Changes made here are thrown away. Leave with `exit` or Ctrl-D."
        )
    return "\n".join(lines) + "\n"


def _one_line(text: str) -> str:
    first, _, rest = text.strip().partition("\n")
    return first + (" ..." if rest else "")


def run_foreground(argv: list[str]) -> int:
    """Run a process on this terminal and return its exit status.

    Ctrl-C goes to the process, as with a shell's foreground job, so this
    process ignores SIGINT while it waits. If an exception (such as
    TerminatedBySignal) interrupts the wait, the process gets SIGTERM, then
    SIGKILL after STOP_TIMEOUT seconds, before the exception goes on.
    """
    log.debug("running %s", argv)
    try:
        process = subprocess.Popen(argv)
    except OSError as error:
        raise StagescopeError(f"cannot run {argv[0]}: {error.strerror}") from None
    with _sigint_left_to_child(), _terminal_restored():
        try:
            returncode = process.wait()
        except BaseException:
            _stop(process)
            raise
    return 128 - returncode if returncode < 0 else returncode


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    log.info("stopping buildah run (pid %d)", process.pid)
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        log.warning("buildah run (pid %d) ignored SIGTERM; killing it", process.pid)
        process.kill()
        process.wait()


@contextmanager
def _terminal_restored() -> Iterator[None]:
    """Restore stdin's terminal settings afterwards, if stdin is a terminal.

    `buildah run --tty` puts the terminal in raw mode and restores it when it
    exits normally, but not when it is killed.
    """
    try:
        saved = termios.tcgetattr(STDIN)
    except (OSError, ValueError, termios.error):
        yield
        return
    try:
        yield
    finally:
        try:
            termios.tcsetattr(STDIN, termios.TCSADRAIN, saved)
        except (OSError, termios.error) as error:
            log.debug("could not restore the terminal settings: %s", error)


@contextmanager
def _sigint_left_to_child() -> Iterator[None]:
    """Ignore SIGINT in this process only, off the main thread a no-op.

    A Python handler, unlike SIG_IGN, is reset by exec in the child, so the
    child still receives Ctrl-C.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def ignore(number: int, frame: FrameType | None) -> None:
        log.debug("SIGINT left to the foreground process")

    previous = signal.signal(signal.SIGINT, ignore)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
