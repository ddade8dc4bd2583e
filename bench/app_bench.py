"""Measure the app under a log flood: build time, key latency, memory, startup.

A busybox Containerfile has a step that prints `--lines` lines (1,000,000 by
default). The real app runs it in a detached tmux session, so it draws to a
real terminal, in a private buildah storage. Every run passes a new
`--build-arg NONCE=...`, which the last two RUN steps use, so the flooding
step always misses the layer cache.

- build: the app's build, from the start of its build session to the frame
  that shows it finished, against `buildah bud --layers` of the same file
  with its output sent to /dev/null. Runs alternate which goes first.
  Target: at most 1.2 times buildah.
- keys: while the step floods, the benchmark presses `?` (help opens), `?`
  (it closes), `up` (the step before is selected and its log shown) and
  `down` (back to the flooding step), one at a time. The 1,000,000 lines
  take about a second, too short for 40 keys, so these runs use a step that
  prints `seq 1 100000` over and over for `KEY_FLOOD_SECONDS`. Each is timed from
  `tmux send-keys` until `tmux capture-pane` shows its effect, so the
  figures include both tmux commands and the 5 ms polling. Target: under
  100 ms.
  For comparison, the same keys are timed once more while that step sleeps
  instead of printing.
- memory: the app process's peak resident set (VmHWM) over each run.
  Target: under 300 MB.
- startup: from `tmux new-session` to the first screen with the header and
  the stage and step panels, on a one-step Containerfile. Target: under 1 s.

The app runs through this file's `--app-child` mode, which records when
builds start and finish and the peak memory to a file, then runs the
`stagescope` command line unchanged.

Usage:

    .venv/bin/python bench/app_bench.py [--lines 1000000] [--repeat 3]
        [--key-runs 2] [--startup-runs 10] [--storage FOLDER]
"""

from __future__ import annotations

import argparse
import atexit
import itertools
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from engine.baseimages import ensure_busybox_image  # noqa: E402
from engine.buildah import Buildah, StorageOptions  # noqa: E402

WIDTH, HEIGHT = 160, 48
WAIT_SECONDS = 300.0
KEY_TIMEOUT = 10.0
KEY_POLL_SECONDS = 0.005
KEY_GAP_SECONDS = 0.15
"""Pause between one key's effect showing and the next key."""
TARGET_RATIO = 1.2
TARGET_KEY_MS = 100.0
TARGET_RSS_MB = 300.0
TARGET_STARTUP_S = 1.0

QUIET_SECONDS = 25
"""Long enough for 40 keys, the `--keys` default, at up to 400 ms each."""
KEY_FLOOD_SECONDS = 25
"""How long the flooding step of the key runs prints, for the same reason."""
KEY_FLOOD_COMMAND = (
    f"end=$(($(date +%s) + {KEY_FLOOD_SECONDS})); "
    'while [ "$(date +%s)" -lt "$end" ]; do seq 1 100000; done'
)

FLOOD_STAGE = "flood"
FLOOD_STEP = 4
"""The flooding RUN: FROM is step 1, then ARG, then the RUN that writes /nonce."""

FLOOD_CONTAINERFILE = """\
FROM localhost/busybox AS flood
ARG NONCE=0
RUN echo "nonce $NONCE" > /nonce
RUN echo "flood $NONCE"; {command}
"""
STARTUP_CONTAINERFILE = """\
FROM localhost/busybox AS small
RUN true
"""

HELP_TITLE = "Keys  (escape closes)"
STEPS_TITLE = "Steps · "
LOG_TITLE = "Log · {stage} step {step} ·"


# The app, instrumented


class StatsWriter:
    """Appends timestamped records, as JSON lines, to a file."""

    def __init__(self, path: Path) -> None:
        self.file = open(path, "a", encoding="utf-8")  # noqa: SIM115
        self.lock = threading.Lock()

    def write(self, kind: str, **fields: object) -> None:
        record = {
            "kind": kind,
            "t": time.monotonic(),
            "cpu": time.process_time(),
            "peak_kb": peak_rss_kb(),
        }
        record.update(fields)
        with self.lock:
            self.file.write(json.dumps(record) + "\n")
            self.file.flush()


def peak_rss_kb() -> int:
    """Return this process's peak resident set size (VmHWM) in KiB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def run_app_child(stats_path: str, arguments: list[str]) -> int:
    """Run `stagescope ARGUMENTS`, recording build starts and finished frames."""
    from engine.events import BuildFinished
    from engine.runner import BuildSession, State
    from tui.app import StagescopeApp
    from tui.main import main as stagescope_main
    from tui.messages import BuildEvent

    stats = StatsWriter(Path(stats_path))
    original_start = BuildSession.start
    original_on_build_event = StagescopeApp.on_build_event

    def start(self: BuildSession) -> State:
        stats.write("build-start")
        return original_start(self)

    def on_build_event(self: StagescopeApp, message: BuildEvent) -> None:
        original_on_build_event(self, message)
        if isinstance(message.event, BuildFinished):
            # Runs after the next frame, which shows the build finished.
            self.call_after_refresh(stats.write, "finished-painted")

    BuildSession.start = start  # type: ignore[method-assign]
    StagescopeApp.on_build_event = on_build_event  # type: ignore[method-assign]
    atexit.register(stats.write, "exit")
    return stagescope_main(arguments)


def read_stats(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.endswith("}")]


def first(records: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    return next((record for record in records if record["kind"] == kind), None)


# tmux


def tmux_environment() -> dict[str, str]:
    """Return the environment without COLUMNS and LINES, which the app would
    take for the terminal's size instead of the pane's."""
    return {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}


WITH_STATUS_FILE = (
    'status=$1; shift; "$@"; echo $? > "$status.new" && mv "$status.new" "$status"'
)
"""Runs a command and writes its exit status to a file, because tmux's
`pane_dead_status` can stay empty when libutempter swallows the SIGCHLD."""


class Terminal:
    """A detached tmux session of WIDTH x HEIGHT on a private server."""

    def __init__(self, folder: Path) -> None:
        self.socket = f"stagescope-bench-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.status_file = folder / "exit-status"
        self.config = folder / "tmux.conf"
        self.config.write_text("set -g remain-on-exit on\nset -g status off\n")

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

    def start(self, command: list[str]) -> None:
        wrapped = ["sh", "-c", WITH_STATUS_FILE, "sh", str(self.status_file)]
        self.tmux(
            "-f", str(self.config), "new-session", "-d", "-s", "bench",
            "-x", str(WIDTH), "-y", str(HEIGHT), "-c", str(REPO),
            shlex.join(wrapped + command),
        )  # fmt: skip

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "bench")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "bench", *keys)

    def exit_status(self) -> int | None:
        try:
            return int(self.status_file.read_text())
        except FileNotFoundError:
            return None

    def wait_for_exit(self) -> int:
        deadline = time.monotonic() + WAIT_SECONDS
        while (status := self.exit_status()) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the app did not exit:\n{self.screen()}")
            time.sleep(0.05)
        return status

    def close(self) -> None:
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


# Runs


@dataclass
class Setup:
    buildah: Buildah
    flood_context: Path
    quiet_context: Path
    """The same steps, with a step that sleeps instead of printing."""
    key_flood_context: Path
    """The same steps, with a step that prints for KEY_FLOOD_SECONDS."""
    startup_context: Path
    work: Path

    def storage_args(self) -> list[str]:
        storage = self.buildah.storage
        return [
            "--root", str(storage.root), "--runroot", str(storage.runroot),
            "--storage-driver", str(storage.storage_driver),
            "--isolation", "chroot", "--pull", "never",
        ]  # fmt: skip


@dataclass
class AppRun:
    build_seconds: float
    """From the build session's start to the frame showing it finished."""
    total_seconds: float
    """From `tmux new-session` to the frame showing the build finished."""
    peak_mb: float
    cpu_seconds: float
    """CPU time of the app process, all threads, from launch to the finished frame."""
    key_ms: dict[str, list[float]] = field(default_factory=dict)
    late_keys: int = 0
    """Keys whose effect showed only after the build finished (not counted)."""


def new_nonce() -> str:
    return uuid.uuid4().hex[:12]


def plain_bud(setup: Setup) -> float:
    """Time `buildah bud` of the flood file with a new nonce, output discarded."""
    buildah = setup.buildah
    containerfile = setup.flood_context / "Containerfile"
    argv = buildah.argv(
        "bud", "--layers", "--force-rm", "-f", str(containerfile),
        *buildah.run_options(), "--build-arg", f"NONCE={new_nonce()}",
        "--pull=never", str(setup.flood_context),
    )  # fmt: skip
    started = time.monotonic()
    subprocess.run(
        [buildah.executable, *argv],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    return time.monotonic() - started


def app_run(setup: Setup, keys: int, context: Path | None = None) -> AppRun:
    """Build the flood file, or the one in `context`, in the app; press `keys`
    keys while its fourth step runs."""
    folder = Path(tempfile.mkdtemp(prefix="run-", dir=setup.work))
    stats_path = folder / "stats.jsonl"
    command = [
        sys.executable, str(Path(__file__).resolve()), "--app-child", str(stats_path),
        "--", *setup.storage_args(), "--build-arg", f"NONCE={new_nonce()}",
        "--log-dir", str(folder / "logs"), str(context or setup.flood_context),
    ]  # fmt: skip
    terminal = Terminal(folder)
    try:
        launched = time.monotonic()
        terminal.start(command)
        key_ms: dict[str, list[float]] = {}
        late = 0
        if keys:
            key_ms, late = press_keys_during_flood(terminal, stats_path, keys)
        finished = wait_for_record(terminal, stats_path, "finished-painted")
        if HELP_TITLE in terminal.screen():
            # The help screen does not pass `q` on to the app.
            terminal.keys("?")
            wait_for_screen(terminal, lambda screen: HELP_TITLE not in screen)
        terminal.keys("q")
        status = terminal.wait_for_exit()
        if status != 0:
            raise RuntimeError(f"the app exited with status {status}")
        records = read_stats(stats_path)
    finally:
        terminal.close()
    started = first(records, "build-start")
    assert started is not None
    peak_kb = max(record["peak_kb"] for record in records)
    shutil.rmtree(folder, ignore_errors=True)
    return AppRun(
        build_seconds=finished["t"] - started["t"],
        total_seconds=finished["t"] - launched,
        peak_mb=peak_kb / 1024,
        cpu_seconds=finished["cpu"],
        key_ms=key_ms,
        late_keys=late,
    )


def wait_for_record(terminal: Terminal, stats_path: Path, kind: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        record = first(read_stats(stats_path), kind)
        if record is not None:
            return record
        if terminal.exit_status() is not None or time.monotonic() > deadline:
            raise RuntimeError(
                f"no {kind} record; the screen was:\n{terminal.screen()}"
            )
        time.sleep(0.05)


KeyCheck = Callable[[str], bool]


def wait_for_screen(terminal: Terminal, check: KeyCheck) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not check(screen := terminal.screen()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the screen did not change as expected:\n{screen}")
        time.sleep(0.05)


def key_cycle() -> Iterator[tuple[str, str, KeyCheck]]:
    """Yield (label, tmux key, check of the screen after it), round and round."""
    before = LOG_TITLE.format(stage=FLOOD_STAGE, step=FLOOD_STEP - 1)
    flooding = LOG_TITLE.format(stage=FLOOD_STAGE, step=FLOOD_STEP)
    return itertools.cycle(
        [
            ("help opens", "?", lambda screen: HELP_TITLE in screen),
            (
                "help closes",
                "?",
                lambda screen: HELP_TITLE not in screen and STEPS_TITLE in screen,
            ),
            ("select up", "Up", lambda screen: before in screen),
            ("select down", "Down", lambda screen: flooding in screen),
        ]
    )


def press_keys_during_flood(
    terminal: Terminal, stats_path: Path, count: int
) -> tuple[dict[str, list[float]], int]:
    """Press `count` keys while the flooding step runs.

    Return the latencies in ms per key, and the number of keys whose effect
    showed only after the build finished, which are left out.
    """
    deadline = time.monotonic() + WAIT_SECONDS
    flood_title = LOG_TITLE.format(stage=FLOOD_STAGE, step=FLOOD_STEP)
    while flood_title not in terminal.screen():
        if time.monotonic() > deadline or terminal.exit_status() is not None:
            raise RuntimeError(f"the flooding step did not show:\n{terminal.screen()}")
        time.sleep(0.05)
    seen: list[tuple[str, float, float]] = []
    for label, key, check in itertools.islice(key_cycle(), count):
        if first(read_stats(stats_path), "finished-painted") is not None:
            break
        sent = time.monotonic()
        terminal.keys(key)
        while not check(terminal.screen()):
            if time.monotonic() - sent > KEY_TIMEOUT:
                raise RuntimeError(f"{label} did not show:\n{terminal.screen()}")
            time.sleep(KEY_POLL_SECONDS)
        shown = time.monotonic()
        seen.append((label, sent, shown))
        time.sleep(KEY_GAP_SECONDS)
    finished = first(read_stats(stats_path), "finished-painted")
    end = finished["t"] if finished else float("inf")
    latencies: dict[str, list[float]] = {}
    late = 0
    for label, sent, shown in seen:
        if shown > end:
            late += 1
            continue
        latencies.setdefault(label, []).append((shown - sent) * 1000)
    return latencies, late


def startup_run(
    setup: Setup, command: list[str], ready: Callable[[str], bool]
) -> float:
    """Return the seconds from `tmux new-session` to a screen that `ready` accepts."""
    folder = Path(tempfile.mkdtemp(prefix="startup-", dir=setup.work))
    terminal = Terminal(folder)
    try:
        started = time.monotonic()
        terminal.start(command)
        while not ready(terminal.screen()):
            if time.monotonic() - started > WAIT_SECONDS:
                raise RuntimeError(f"no first screen:\n{terminal.screen()}")
            time.sleep(KEY_POLL_SECONDS)
        seconds = time.monotonic() - started
        terminal.keys("q")
        terminal.wait_for_exit()
    finally:
        terminal.close()
    shutil.rmtree(folder, ignore_errors=True)
    return seconds


def stagescope_command() -> list[str]:
    script = Path(sys.executable).parent / "stagescope"
    return [str(script)] if script.exists() else [sys.executable, "-m", "tui.main"]


def first_screen(screen: str) -> bool:
    return "stagescope —" in screen and "Stages" in screen and STEPS_TITLE in screen


# Report


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from importlib.metadata import version

    return (
        f"{os.cpu_count()} cores ({model}), Linux {platform.release()}, "
        f"Python {platform.python_version()}, Textual {version('textual')}, "
        f"{tmux_version()}"
    )


def tmux_version() -> str:
    result = subprocess.run(["tmux", "-V"], capture_output=True, text=True)
    return result.stdout.strip()


def flood_command(lines: int, width: int) -> str:
    if width <= 0:
        return f"seq 1 {lines}"
    return (
        f'awk \'BEGIN {{ pad = sprintf("%{width}s", ""); gsub(/ /, "x", pad); '
        f"for (i = 1; i <= {lines}; i++) print i, pad }}'"
    )


def shows_ready(screen: str) -> bool:
    return "READY" in screen


def report_build(plain: list[float], runs: list[AppRun]) -> None:
    plain_median = statistics.median(plain)
    build_median = statistics.median(run.build_seconds for run in runs)
    total_median = statistics.median(run.total_seconds for run in runs)
    cpu_median = statistics.median(run.cpu_seconds for run in runs)
    print(
        f"build: buildah bud {plain_median:.2f} s, app {build_median:.2f} s "
        f"(ratio {build_median / plain_median:.2f}, target {TARGET_RATIO}); "
        f"app from launch {total_median:.2f} s (ratio "
        f"{total_median / plain_median:.2f}); app CPU {cpu_median:.2f} s; runs: "
        f"{', '.join(f'{t:.2f}' for t in plain)} | "
        f"{', '.join(f'{run.build_seconds:.2f}' for run in runs)}"
    )


def report_keys(key_runs: list[AppRun], title: str) -> None:
    print(f"{title}:")
    every: list[float] = []
    for label in ("help opens", "help closes", "select up", "select down"):
        values = [v for run in key_runs for v in run.key_ms.get(label, [])]
        every += values
        if values:
            print(
                f"  {label}: n={len(values)} median "
                f"{statistics.median(values):.0f} ms, p95 "
                f"{percentile(values, 0.95):.0f} ms, max {max(values):.0f} ms"
            )
    late = sum(run.late_keys for run in key_runs)
    if every:
        print(
            f"  all: n={len(every)} median {statistics.median(every):.0f} ms, "
            f"p95 {percentile(every, 0.95):.0f} ms, max {max(every):.0f} ms "
            f"(target under {TARGET_KEY_MS:.0f} ms; {late} shown after the build "
            "finished, not counted)"
        )


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000, help="lines to print")
    parser.add_argument(
        "--line-width",
        type=int,
        default=0,
        help="pad each line with this many characters (default: plain `seq`)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="timed builds of each")
    parser.add_argument("--key-runs", type=int, default=2, help="app runs with keys")
    parser.add_argument("--keys", type=int, default=40, help="keys per key run")
    parser.add_argument("--startup-runs", type=int, default=10)
    parser.add_argument(
        "--storage", help="storage folder to reuse (default: a new one under /var/tmp)"
    )
    return parser.parse_args()


def main() -> int:
    arguments = parse_arguments()
    folder = Path(
        arguments.storage
        or tempfile.mkdtemp(prefix="stagescope-app-bench-", dir="/var/tmp")
    )
    storage = StorageOptions(
        root=str(folder / "root"), runroot=str(folder / "run"), storage_driver="overlay"
    )
    buildah = Buildah(storage=storage, isolation="chroot")
    ensure_busybox_image(buildah)
    work = Path(tempfile.mkdtemp(prefix="work-", dir=folder))
    flood_context = work / "flood"
    flood_context.mkdir()
    (flood_context / "Containerfile").write_text(
        FLOOD_CONTAINERFILE.format(
            command=flood_command(arguments.lines, arguments.line_width)
        )
    )
    quiet_context = work / "quiet"
    quiet_context.mkdir()
    (quiet_context / "Containerfile").write_text(
        FLOOD_CONTAINERFILE.format(command=f"sleep {QUIET_SECONDS}")
    )
    key_flood_context = work / "key-flood"
    key_flood_context.mkdir()
    (key_flood_context / "Containerfile").write_text(
        FLOOD_CONTAINERFILE.format(command=KEY_FLOOD_COMMAND)
    )
    startup_context = work / "small"
    startup_context.mkdir()
    (startup_context / "Containerfile").write_text(STARTUP_CONTAINERFILE)
    setup = Setup(
        buildah, flood_context, quiet_context, key_flood_context, startup_context, work
    )
    version = ".".join(map(str, buildah.version()))
    print(f"storage {folder}, buildah {version}, {machine()}")
    print(f"flood: {flood_command(arguments.lines, arguments.line_width)}")
    print(f"load average at start: {os.getloadavg()[0]:.2f}")

    plain: list[float] = []
    runs: list[AppRun] = []
    for repetition in range(arguments.repeat):
        order = ("plain", "app") if repetition % 2 == 0 else ("app", "plain")
        for which in order:
            if which == "plain":
                plain.append(plain_bud(setup))
                print(f"  buildah bud: {plain[-1]:.2f} s", flush=True)
            else:
                runs.append(app_run(setup, keys=0))
                print(
                    f"  app: build {runs[-1].build_seconds:.2f} s, total "
                    f"{runs[-1].total_seconds:.2f} s, app CPU "
                    f"{runs[-1].cpu_seconds:.2f} s, peak {runs[-1].peak_mb:.0f} MB",
                    flush=True,
                )
    key_runs = [
        app_run(setup, keys=arguments.keys, context=setup.key_flood_context)
        for _ in range(arguments.key_runs)
    ]
    quiet_runs = [
        app_run(setup, keys=arguments.keys, context=quiet_context)
        for _ in range(1 if arguments.key_runs else 0)
    ]
    startup_command = [
        *stagescope_command(), *setup.storage_args(),
        "--log-dir", str(work / "startup-logs"), str(startup_context),
    ]  # fmt: skip
    startup = [
        startup_run(setup, startup_command, first_screen)
        for _ in range(arguments.startup_runs)
    ]
    floor = [
        startup_run(setup, ["sh", "-c", "echo READY; sleep 0.2"], shows_ready)
        for _ in range(3 if startup else 0)
    ]

    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    if plain and runs:
        report_build(plain, runs)
    if key_runs:
        report_keys(key_runs, "keys during the flood")
    if quiet_runs:
        report_keys(quiet_runs, f"keys while a step sleeps {QUIET_SECONDS} s")
    if runs or key_runs:
        peak = max(run.peak_mb for run in runs + key_runs)
        print(f"memory: peak RSS {peak:.0f} MB (target under {TARGET_RSS_MB:.0f} MB)")
    if startup:
        print(
            f"startup: median {statistics.median(startup):.2f} s, max "
            f"{max(startup):.2f} s (target under {TARGET_STARTUP_S:.0f} s); tmux "
            f"and polling alone: {statistics.median(floor) * 1000:.0f} ms"
        )
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[1] == "--app-child" and sys.argv[3] == "--":
        sys.exit(run_app_child(sys.argv[2], sys.argv[4:]))
    sys.exit(main())
