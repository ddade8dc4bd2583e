"""Measure watch mode's latency from a saved file to the first rebuilt step.

A Watcher watches a busybox context whose Containerfile has several steps
before `COPY main.txt`. Each round saves main.txt and times how long it takes
until the COPY step starts. The reference, measured in the same run and
alternating with the rounds, is what plain `buildah bud --layers` takes for
a fully cached build of the steps before that COPY: the Containerfile cut
just before it. The watch mode's own cost is the difference, and the target
is at most 150 ms.

Usage:

    .venv/bin/python bench/watch_bench.py [--rounds 15] [--storage FOLDER]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.baseimages import ensure_busybox_image  # noqa: E402
from engine.buildah import Buildah, StorageOptions  # noqa: E402
from engine.events import (  # noqa: E402
    BuildFinished,
    Event,
    RebuildFinished,
    RebuildPredicted,
    StepStarted,
)
from engine.runner import BuildRequest  # noqa: E402
from engine.watch import Watcher  # noqa: E402

CONTAINERFILE = """\
FROM localhost/busybox
RUN echo {token} > /token
ENV APP=/app MODE=bench
WORKDIR /app
RUN echo two > /two
COPY deps.txt ./
RUN cat deps.txt > /deps
COPY main.txt ./
RUN cat main.txt
"""
FIRST_AFFECTED = (0, 8)
"""The COPY main.txt step: FROM is step 1."""
TARGET_OVERHEAD = 0.150
WAIT = 60.0


class Timeline:
    """Wall-clock arrival time of each event the watcher reports."""

    def __init__(self) -> None:
        self.events: list[tuple[float, Event]] = []
        self.condition = threading.Condition()

    def __call__(self, event: Event) -> None:
        with self.condition:
            self.events.append((time.time(), event))
            self.condition.notify_all()

    def wait_for(self, kind: type[Event], after: int) -> tuple[float, Event]:
        deadline = time.monotonic() + WAIT
        with self.condition:
            while True:
                for arrived, event in self.events[after:]:
                    if isinstance(event, kind):
                        return arrived, event
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no {kind.__name__} within {WAIT} s")
                self.condition.wait(remaining)

    def first_step_start(self, after: int) -> float:
        deadline = time.monotonic() + WAIT
        with self.condition:
            while True:
                for arrived, event in self.events[after:]:
                    if (
                        isinstance(event, StepStarted)
                        and (
                            event.stage,
                            event.step,
                        )
                        == FIRST_AFFECTED
                    ):
                        return arrived
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"the first affected step did not start within {WAIT} s"
                    )
                self.condition.wait(remaining)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="saves to measure")
    parser.add_argument(
        "--storage", help="storage folder to reuse (default: a new one under /var/tmp)"
    )
    return parser.parse_args()


def plain_cached_bud(buildah: Buildah, containerfile: Path, context: Path) -> float:
    argv = buildah.argv(
        "bud", "--layers", "--pull=never", *buildah.run_options(),
        "-f", str(containerfile), str(context),
    )  # fmt: skip
    started = time.perf_counter()
    subprocess.run(
        ["buildah", *argv],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    return time.perf_counter() - started


def measure_round(timeline: Timeline, context: Path, number: int) -> dict[str, float]:
    mark = len(timeline.events)
    saved_at = time.time()
    (context / "main.txt").write_text(f"version {number}\n")
    step_at = timeline.first_step_start(mark)
    _, predicted = timeline.wait_for(RebuildPredicted, mark)
    _, report = timeline.wait_for(RebuildFinished, mark)
    assert isinstance(predicted, RebuildPredicted)
    assert isinstance(report, RebuildFinished)
    assert predicted.first_miss == FIRST_AFFECTED, predicted
    assert report.mispredicted == (), report
    return {
        "latency": step_at - saved_at,
        "detected": predicted.detected_seconds,
        "reported_first_step": report.first_step_seconds or 0.0,
        "finish": report.finish_seconds,
    }


def describe_machine(buildah: Buildah) -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    version = ".".join(map(str, buildah.version()))
    return (
        f"{os.cpu_count()} cores ({model}), Linux {platform.release()}, "
        f"buildah {version}, Python {platform.python_version()}"
    )


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return (
        f"median {statistics.median(ordered) * 1000:.0f} ms, "
        f"p90 {p90 * 1000:.0f} ms, min {ordered[0] * 1000:.0f} ms"
    )


def main() -> int:
    arguments = parse_arguments()
    folder = Path(
        arguments.storage
        or tempfile.mkdtemp(prefix="stagescope-bench-", dir="/var/tmp")
    )
    storage = StorageOptions(
        root=str(folder / "root"), runroot=str(folder / "run"), storage_driver="overlay"
    )
    buildah = Buildah(storage=storage, isolation="chroot")
    ensure_busybox_image(buildah)
    print(f"machine: {describe_machine(buildah)}; storage {folder}")

    with tempfile.TemporaryDirectory(prefix="stagescope-watch-bench-") as work:
        context = Path(work) / "context"
        context.mkdir()
        (context / "Containerfile").write_text(CONTAINERFILE.format(token=time.time()))
        (context / "deps.txt").write_text("deps\n")
        (context / "main.txt").write_text("version 0\n")
        request = BuildRequest(
            context=context,
            containerfile=context / "Containerfile",
            buildah=buildah,
            pull="never",
        )
        truncated = Path(work) / "Truncated"
        truncated.write_text(request.load_plan().truncated_text(*FIRST_AFFECTED))

        timeline = Timeline()
        watcher = Watcher(request, on_event=timeline)
        thread = watcher.start()
        try:
            timeline.wait_for(BuildFinished, 0)
            results = run_rounds(
                arguments.rounds, buildah, truncated, context, timeline
            )
        finally:
            watcher.stop()
            thread.join(WAIT)
    report(results)
    return 0


def run_rounds(
    rounds: int, buildah: Buildah, truncated: Path, context: Path, timeline: Timeline
) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {
        key: []
        for key in ("latency", "detected", "reported_first_step", "finish", "plain")
    }
    plain_cached_bud(buildah, truncated, context)  # the first run fills the cache
    for number in range(1, rounds + 1):
        if number % 2:
            results["plain"].append(plain_cached_bud(buildah, truncated, context))
        measured = measure_round(timeline, context, number)
        if not number % 2:
            results["plain"].append(plain_cached_bud(buildah, truncated, context))
        for key, value in measured.items():
            results[key].append(value)
    return results


def report(results: dict[str, list[float]]) -> None:
    latency = statistics.median(results["latency"])
    plain = statistics.median(results["plain"])
    overhead = latency - plain
    verdict = "within" if overhead <= TARGET_OVERHEAD else "over"
    print(f"save to first rebuilt step: {summary(results['latency'])}")
    print(f"  same, from the file's mtime: {summary(results['reported_first_step'])}")
    print(f"  change detected after: {summary(results['detected'])}")
    print(
        f"plain cached buildah bud of the steps before it: {summary(results['plain'])}"
    )
    print(
        f"watch-mode overhead (medians): {overhead * 1000:.0f} ms, {verdict} the "
        f"{TARGET_OVERHEAD * 1000:.0f} ms target"
    )
    print(f"save to rebuild finished: {summary(results['finish'])}")


if __name__ == "__main__":
    sys.exit(main())
