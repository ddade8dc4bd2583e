"""Measure stagescope's headless run against plain `buildah bud --layers`.

Everything runs in one private buildah storage, in one process, so both
commands see the same base images and the same machine state:

- cold: the layer cache emptied before each build (base images kept);
- warm: the same build again, every step a cache hit;
- pause and resume: a breakpoint pause (a build of the truncated file) and
  the resume to the end, against plain `buildah bud` of the truncated file
  and of the whole file, both fully cached.

Runs alternate which command goes first. Usage:

    .venv/bin/python bench/build_bench.py [--context examples/go] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.baseimages import ensure_busybox_image, ensure_debian_image  # noqa: E402
from engine.breakpoints import Breakpoint  # noqa: E402
from engine.buildah import Buildah, StorageOptions  # noqa: E402
from engine.plan import find_containerfile  # noqa: E402
from engine.runner import BuildRequest, BuildSession, State  # noqa: E402

BASE_IMAGES = ("localhost/busybox:latest", "localhost/debian:bookworm")


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--context", default="examples/go", help="build context")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each kind")
    parser.add_argument(
        "--break",
        dest="breakpoint",
        help="breakpoint for the pause measurement (default: the final stage's "
        "second step)",
    )
    parser.add_argument(
        "--storage",
        help="storage folder to reuse (default: a new one under /var/tmp)",
    )
    return parser.parse_args()


def timed(action) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def plain_bud(buildah: Buildah, containerfile: Path, context: Path) -> None:
    argv = buildah.argv(
        "bud", "--layers", "--force-rm", "--pull=never", *buildah.run_options(),
        "-f", str(containerfile), str(context),
    )  # fmt: skip
    subprocess.run(["buildah", *argv], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.STDOUT)  # fmt: skip


def stagescope_run(buildah: Buildah, containerfile: Path, context: Path) -> None:
    storage = buildah.storage
    argv = [
        sys.executable, "-m", "tui.main", "run", "--json", "--pull", "never",
        "--root", str(storage.root), "--runroot", str(storage.runroot),
        "--storage-driver", str(storage.storage_driver), "--isolation", "chroot",
        "-f", str(containerfile), str(context),
    ]  # fmt: skip
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL,
                   cwd=Path(__file__).resolve().parent.parent)  # fmt: skip


def empty_layer_cache(buildah: Buildah) -> None:
    """Remove every image but the base images, so the next build is cold."""
    keep = {buildah.image_id(reference) for reference in BASE_IMAGES}
    output = buildah.call("images", "--all", "--no-trunc", "--quiet")
    doomed = [
        line.strip().removeprefix("sha256:")
        for line in output.splitlines()
        if line.strip() and line.strip().removeprefix("sha256:") not in keep
    ]
    if doomed:
        buildah.call("rmi", "--force", *doomed)


def measure_pair(
    buildah: Buildah, containerfile: Path, context: Path, repeat: int, cold: bool
) -> tuple[list[float], list[float]]:
    plain_times: list[float] = []
    stagescope_times: list[float] = []
    for run in range(repeat):
        order = ("plain", "stagescope") if run % 2 == 0 else ("stagescope", "plain")
        for which in order:
            if cold:
                empty_layer_cache(buildah)
            if which == "plain":
                plain_times.append(
                    timed(lambda: plain_bud(buildah, containerfile, context))
                )
            else:
                stagescope_times.append(
                    timed(lambda: stagescope_run(buildah, containerfile, context))
                )
    return plain_times, stagescope_times


def measure_pause(
    buildah: Buildah, containerfile: Path, context: Path, spec: str | None, repeat: int
) -> dict[str, list[float]]:
    request = BuildRequest(
        context=context, containerfile=containerfile, buildah=buildah, pull="never"
    )
    plan = request.load_plan()
    if spec is None:
        spec = f"{plan.target}:2"
    position = Breakpoint(spec).resolve(plan)
    kinds = ("pause", "resume", "plain_truncated", "plain_full")
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    with tempfile.TemporaryDirectory() as folder:
        truncated = Path(folder) / "Containerfile"
        truncated.write_text(plan.truncated_text(*position), encoding="utf-8")
        for _ in range(repeat):
            session = BuildSession(request, plan, [Breakpoint(spec)])
            started = time.perf_counter()
            state = session.start()
            paused = time.perf_counter()
            assert state is State.PAUSED, state
            state = session.resume()
            finished = time.perf_counter()
            assert state is State.FINISHED, state
            times["pause"].append(paused - started)
            times["resume"].append(finished - paused)
            times["plain_truncated"].append(
                timed(lambda: plain_bud(buildah, truncated, context))
            )
            times["plain_full"].append(
                timed(lambda: plain_bud(buildah, containerfile, context))
            )
    return times


def report(label: str, plain: list[float], ours: list[float]) -> None:
    plain_median = statistics.median(plain)
    ours_median = statistics.median(ours)
    plain_runs = ", ".join(f"{t:.2f}" for t in plain)
    our_runs = ", ".join(f"{t:.2f}" for t in ours)
    print(
        f"{label}: buildah bud {plain_median:.2f} s, "
        f"stagescope run {ours_median:.2f} s, "
        f"ratio {ours_median / plain_median:.3f} (runs: {plain_runs} | {our_runs})"
    )


def main() -> int:
    arguments = parse_arguments()
    context = Path(arguments.context).resolve()
    containerfile = find_containerfile(context, None)
    folder = Path(
        arguments.storage
        or tempfile.mkdtemp(prefix="stagescope-bench-", dir="/var/tmp")
    )
    storage = StorageOptions(
        root=str(folder / "root"), runroot=str(folder / "run"), storage_driver="overlay"
    )
    buildah = Buildah(storage=storage, isolation="chroot")
    os.environ.setdefault("BUILDAH_ISOLATION", "chroot")
    print(f"storage {folder}, buildah {'.'.join(map(str, buildah.version()))}, "
          f"{os.cpu_count()} cores, context {context}")  # fmt: skip
    ensure_busybox_image(buildah)
    ensure_debian_image(buildah)

    plain, ours = measure_pair(
        buildah, containerfile, context, arguments.repeat, cold=True
    )
    report("cold", plain, ours)
    plain, ours = measure_pair(
        buildah, containerfile, context, arguments.repeat, cold=False
    )
    report("warm", plain, ours)

    times = measure_pause(
        buildah, containerfile, context, arguments.breakpoint, arguments.repeat
    )
    medians = {key: statistics.median(values) for key, values in times.items()}
    print(
        f"pause: {medians['pause']:.2f} s against "
        f"{medians['plain_truncated']:.2f} s for buildah bud of the truncated file "
        f"(ratio "
        f"{medians['pause'] / medians['plain_truncated']:.2f}); resume: "
        f"{medians['resume']:.2f} s against {medians['plain_full']:.2f} s for buildah "
        f"bud of the whole file, fully cached (ratio "
        f"{medians['resume'] / medians['plain_full']:.2f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
