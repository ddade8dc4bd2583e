"""The real app in a real terminal: pause, shell, continue and quit.

The app runs as its own process in a detached tmux session with a private
tmux server, builds a small busybox Containerfile in the test storage, and
is driven with `tmux send-keys` while the test reads the screen with
`tmux capture-pane`. This covers what the Pilot-based tests cannot: the
command line, the terminal hand-over to `buildah run` for the shell and
back, and the process's exit status.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.baseimages import mounts_below
from engine.buildah import Buildah, StorageOptions

pytestmark = pytest.mark.buildah

REPO = Path(__file__).resolve().parents[1]
WIDTH, HEIGHT = 160, 48
WAIT_SECONDS = 120.0
"""Limit of each wait, generous because a build on two busy cores can stall."""
POLL_SECONDS = 0.2

CONTAINERFILE = """\
FROM {base} AS base
RUN echo "base-$((2 + 3))" > /base.txt

FROM base AS final
RUN echo "state-$((3 * 5))" > /earlier.txt
RUN echo after > /after.txt
"""
BREAKPOINT = "final:3"
"""Before `RUN echo after`: /earlier.txt exists, /after.txt does not yet."""

SHELL_COMMAND = "cat /earlier.txt; test -e /after.txt || echo MARKER-$((6*7))"
"""Prints `state-15` and, only if the paused step has not run, `MARKER-42`.
Neither string appears in the command itself, so seeing them on the screen
means the shell ran it in the paused state."""

TMUX_CONFIG = """\
set -g remain-on-exit on
set -g status off
"""
"""remain-on-exit keeps the last screen readable after the app exits."""

WITH_STATUS_FILE = (
    'status=$1; shift; "$@"; echo $? > "$status.new" && mv "$status.new" "$status"'
)
"""Runs the app and writes its exit status to a file.

tmux's own record of it, `pane_dead_status`, is not reliable. Debian's tmux
calls libutempter when the pane's terminal closes, and libutempter's SIGCHLD
handler can swallow the signal of the app exiting at that moment. tmux then
never reaps the app and never learns its status."""

STATUS_PAUSED = re.compile(r"^\s*paused \(breakpoint\)\s+│", re.MULTILINE)
STATUS_FINISHED = re.compile(r"^\s*finished\s+│", re.MULTILINE)
SHELL_PROMPT = re.compile(r"# *$", re.MULTILINE)


class Terminal:
    """One tmux session on a private server, read and typed into by the test."""

    def __init__(self, socket: str, session: str, status_file: Path) -> None:
        self.socket = socket
        self.session = session
        self.status_file = status_file

    def tmux(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, *args],
            env=tmux_environment(),
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        )
        return result.stdout

    def start(self, command: list[str], cwd: Path, config: Path) -> None:
        wrapped = ["sh", "-c", WITH_STATUS_FILE, "sh", str(self.status_file)]
        self.tmux(
            "-f", str(config),
            "new-session", "-d", "-s", self.session,
            "-x", str(WIDTH), "-y", str(HEIGHT), "-c", str(cwd),
            shlex.join(wrapped + command),
        )  # fmt: skip

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.session)

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.session, *keys)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", self.session, "-l", text)
        self.keys("Enter")

    def exit_status(self) -> int | None:
        """Return the app's exit status (128 + N for signal N), or None while
        it still runs."""
        try:
            return int(self.status_file.read_text())
        except FileNotFoundError:
            return None

    def wait_for(self, *patterns: re.Pattern[str] | str, what: str) -> str:
        """Poll the screen until every pattern is on it; return that screen."""
        deadline = time.monotonic() + WAIT_SECONDS
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if all(_found(pattern, screen) for pattern in patterns):
                return screen
            status = self.exit_status()
            if status is not None:
                pytest.fail(
                    f"the app exited with status {status} before {what}; "
                    f"the screen was:\n{self.screen()}"
                )
            time.sleep(POLL_SECONDS)
        pytest.fail(f"timed out waiting for {what}; the screen was:\n{screen}")

    def wait_for_exit(self) -> int:
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            status = self.exit_status()
            if status is not None:
                return status
            time.sleep(POLL_SECONDS)
        pytest.fail(f"the app did not exit; the screen was:\n{self.screen()}")

    def kill(self) -> None:
        """Stop the server and remove its socket, which kill-server leaves."""
        try:
            path = self.tmux("display-message", "-p", "#{socket_path}").strip()
        except subprocess.CalledProcessError:
            path = ""
        subprocess.run(
            ["tmux", "-L", self.socket, "kill-server"],
            env=tmux_environment(),
            capture_output=True,
            timeout=30,
        )
        if path:
            Path(path).unlink(missing_ok=True)


def tmux_environment() -> dict[str, str]:
    """Return this process's environment without COLUMNS and LINES.

    GNU readline, which pytest loads, exports both to the C environment (not
    to os.environ) when it starts. A tmux server started with them passes
    them on to the app, which then takes them for the terminal's size.
    """
    return {
        name: value
        for name, value in os.environ.items()
        if name not in ("COLUMNS", "LINES")
    }


def _found(pattern: re.Pattern[str] | str, screen: str) -> bool:
    if isinstance(pattern, str):
        return pattern in screen
    return pattern.search(screen) is not None


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed: run scripts/install")
    socket = f"stagescope-e2e-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    terminal = Terminal(socket, "app", tmp_path / "exit-status")
    try:
        yield terminal
    finally:
        terminal.kill()


def app_command(storage: StorageOptions, context: Path, log_dir: Path) -> list[str]:
    return [
        sys.executable, "-m", "tui.main",
        "--root", str(storage.root), "--runroot", str(storage.runroot),
        "--storage-driver", str(storage.storage_driver),
        "--isolation", "chroot", "--pull", "never",
        "--break", BREAKPOINT, "--log-dir", str(log_dir),
        str(context),
    ]  # fmt: skip


def start_app(
    terminal: Terminal, storage: StorageOptions, base: str, folder: Path
) -> Path:
    """Start the app on CONTAINERFILE in `folder`; return its log folder."""
    context = folder / "context"
    context.mkdir()
    (context / "Containerfile").write_text(CONTAINERFILE.format(base=base))
    config = folder / "tmux.conf"
    config.write_text(TMUX_CONFIG)
    log_dir = folder / "logs"
    terminal.start(app_command(storage, context, log_dir), REPO, config)
    return log_dir


def test_pause_shell_continue_quit(
    terminal: Terminal,
    buildah: Buildah,
    buildah_storage: StorageOptions,
    busybox_image: str,
    tmp_path: Path,
) -> None:
    start_app(terminal, buildah_storage, busybox_image, tmp_path)
    terminal.wait_for(
        STATUS_PAUSED, "Steps · final", "paused here", what="the pause at final:3"
    )

    terminal.keys("s")
    terminal.wait_for(
        "stagescope shell", "step:        3", SHELL_PROMPT, what="the shell prompt"
    )
    terminal.type(SHELL_COMMAND)
    screen = terminal.wait_for("MARKER-42", what="the command's output")
    assert re.search(r"^state-15$", screen, re.MULTILINE), screen
    terminal.type("exit")

    terminal.wait_for(
        STATUS_PAUSED, "Steps · final", what="the app after the shell exited"
    )
    terminal.keys("c")
    terminal.wait_for(STATUS_FINISHED, what="the finished build")
    terminal.keys("q")
    assert terminal.wait_for_exit() == 0

    assert buildah.containers() == [], "working containers left behind"
    assert buildah.call("mount").strip() == "", "containers left mounted"
    assert buildah_storage.root is not None
    assert mounts_below(buildah_storage.root) == [], "mounts left in the storage"


def app_processes(log_dir: Path) -> list[str]:
    """Return the PIDs of the app started with `log_dir`, which is unique."""
    result = subprocess.run(
        ["pgrep", "-f", "--", f"--log-dir {log_dir}"], capture_output=True, text=True
    )
    return result.stdout.split()


def test_terminal_closed_during_shell(
    terminal: Terminal,
    buildah: Buildah,
    buildah_storage: StorageOptions,
    busybox_image: str,
    tmp_path: Path,
) -> None:
    log_dir = start_app(terminal, buildah_storage, busybox_image, tmp_path)
    terminal.wait_for(STATUS_PAUSED, what="the pause at final:3")
    terminal.keys("s")
    terminal.wait_for(SHELL_PROMPT, what="the shell prompt")
    assert app_processes(log_dir), "the app's process was not found"

    terminal.kill()

    deadline = time.monotonic() + WAIT_SECONDS
    while app_processes(log_dir) and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
    leftover = app_processes(log_dir)
    for pid in leftover:
        os.kill(int(pid), signal.SIGKILL)
    assert leftover == [], "the app outlived its terminal"
    assert buildah.containers() == [], "working containers left behind"
    assert buildah.call("mount").strip() == "", "containers left mounted"
