"""Time `diff_trees` against a bare scandir walk and `diff -rq`.

Generates two trees of FILES files under ROOT (tree B is a copy of tree A with
a small fraction changed), then times, with a warm page cache and in
interleaved rounds:

- floor: a recursive os.scandir walk of both trees that calls
  DirEntry.stat(follow_symlinks=False) on every entry and opens each folder
  relative to its parent's descriptor, as `diff_trees` does;
- floor (paths): the same walk with path strings, as os.walk-style code does;
- diff_trees with its default number of workers, and with workers=1;
- GNU `diff -rq --no-dereference` on the same two folders.

Usage: python bench/diff_bench.py [--files N] [--root DIR] [--rounds N]

The trees are kept between runs and remade when --files or the seed changes.
Pass --clean to delete them afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.diff import FilesystemDiff, diff_trees  # noqa: E402
from engine.treewalk import DIR_FLAGS  # noqa: E402

SEED = 20240601
FILES_PER_FOLDER = 100
FOLDERS_PER_FOLDER = 10
SYMLINK_FRACTION = 0.01

CHANGE_FRACTIONS = {
    "added": 0.005,
    "removed": 0.005,
    "content_same_size": 0.005,
    "content_new_size": 0.002,
    "mode": 0.002,
    "mtime_only": 0.01,
}
"""Share of tree A's files changed in tree B, per kind of change."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=100_000, help="files per tree")
    parser.add_argument(
        "--root",
        type=Path,
        default=Path("/tmp/stagescope-diff-bench"),
        help="folder that contains the two trees",
    )
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds")
    parser.add_argument("--clean", action="store_true", help="delete the trees after")
    args = parser.parse_args()

    expected = prepare_trees(args.root, args.files)
    tree_a, tree_b = str(args.root / "a"), str(args.root / "b")
    check_result(diff_trees(tree_a, tree_b), expected)

    load_before = os.getloadavg()[0]
    timings = time_all(tree_a, tree_b, args.rounds)
    print_report(timings, args.files, load_before)
    if args.clean:
        shutil.rmtree(args.root)
    return 0


# Trees


def prepare_trees(root: Path, files: int) -> dict[str, int]:
    """Make trees A and B unless the same ones exist; return the changes made."""
    marker = root / "trees.json"
    if marker.exists():
        recorded = json.loads(marker.read_text())
        if recorded.get("files") == files and recorded.get("seed") == SEED:
            return dict(recorded["expected"])
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    paths = make_tree(root / "a", files, random.Random(SEED))
    shutil.copytree(root / "a", root / "b", symlinks=True)
    expected = change_tree(root / "b", paths, random.Random(SEED + 1))
    marker.write_text(json.dumps({"files": files, "seed": SEED, "expected": expected}))
    print(f"made two trees of {files} files in {time.perf_counter() - started:.1f} s")
    return expected


def make_tree(root: Path, files: int, rng: random.Random) -> list[Path]:
    """Write `files` files in nested folders; return the regular files' paths."""
    regular: list[Path] = []
    for index in range(files):
        folder_number = index // FILES_PER_FOLDER
        parts = []
        while True:
            parts.append(f"dir{folder_number % FOLDERS_PER_FOLDER}")
            folder_number //= FOLDERS_PER_FOLDER
            if not folder_number:
                break
        folder = root.joinpath(*reversed(parts))
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"file{index % FILES_PER_FOLDER}"
        if rng.random() < SYMLINK_FRACTION:
            path.symlink_to(f"../shared/target{index}")
            continue
        path.write_bytes(rng.randbytes(file_size(rng)))
        regular.append(path)
    return regular


def file_size(rng: random.Random) -> int:
    """Draw a size from a log-normal spread: median about 1.5 KiB, max 1 MiB."""
    return min(int(rng.lognormvariate(7.3, 1.5)), 1 << 20)


def change_tree(
    root: Path, tree_a_files: list[Path], rng: random.Random
) -> dict[str, int]:
    """Apply CHANGE_FRACTIONS to tree B, which starts as a copy of tree A."""
    counts = {
        kind: int(len(tree_a_files) * share) for kind, share in CHANGE_FRACTIONS.items()
    }
    chosen = rng.sample(tree_a_files, sum(counts.values()) - counts["added"])
    tree_a = root.parent / "a"
    position = 0
    for kind in (
        "removed",
        "content_same_size",
        "content_new_size",
        "mode",
        "mtime_only",
    ):
        for path_in_a in chosen[position : position + counts[kind]]:
            apply_change(kind, root / path_in_a.relative_to(tree_a), rng)
        position += counts[kind]
    for index in range(counts["added"]):
        folder = root / "added" / f"dir{index // FILES_PER_FOLDER}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"file{index}").write_bytes(rng.randbytes(file_size(rng)))
    added_folders = 1 + (counts["added"] + FILES_PER_FOLDER - 1) // FILES_PER_FOLDER
    counts["added_entries"] = counts["added"] + added_folders
    return counts


def apply_change(kind: str, path: Path, rng: random.Random) -> None:
    status = path.stat()
    if kind == "removed":
        path.unlink()
        return
    if kind == "content_same_size":
        data = bytearray(path.read_bytes() or b"\0")
        position = rng.randrange(len(data))
        data[position] ^= 0xFF
        path.write_bytes(bytes(data))
    elif kind == "content_new_size":
        path.write_bytes(path.read_bytes() + b"appended")
    elif kind == "mode":
        path.chmod(0o600)
    elif kind == "mtime_only":
        path.touch()
        return
    # Keep the old modification time so that only the intended change differs.
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))


def check_result(result: FilesystemDiff, expected: dict[str, int]) -> None:
    """Exit if diff_trees found other changes than the ones made."""
    reported = {
        "added": result.summary.added,
        "removed": result.summary.removed,
        "modified": result.summary.modified,
    }
    expected_counts = {
        "added": expected["added_entries"],
        "removed": expected["removed"],
        "modified": expected["content_same_size"]
        + expected["content_new_size"]
        + expected["mode"],
    }
    # An empty file cannot keep its size when changed, so a same-size change
    # drawn on one turns it into a 1-byte file. That is still one modification.
    if reported != expected_counts:
        sys.exit(f"diff_trees found {reported}, expected {expected_counts}")
    print(f"diff_trees result checked: {reported}")


# Timing


def floor_walk(root: str) -> int:
    """Walk a tree the way diff_trees does, with nothing but lstat per entry."""

    def walk(fd: int) -> int:
        count = 0
        with os.scandir(fd) as entries:
            for entry in entries:
                entry.stat(follow_symlinks=False)
                count += 1
                if entry.is_dir(follow_symlinks=False):
                    child = os.open(entry.name, DIR_FLAGS, dir_fd=fd)
                    try:
                        count += walk(child)
                    finally:
                        os.close(child)
        return count

    fd = os.open(root, DIR_FLAGS)
    try:
        return walk(fd)
    finally:
        os.close(fd)


def floor_walk_paths(root: str) -> int:
    count = 0
    with os.scandir(root) as entries:
        for entry in entries:
            entry.stat(follow_symlinks=False)
            count += 1
            if entry.is_dir(follow_symlinks=False):
                count += floor_walk_paths(entry.path)
    return count


def run_diff_rq(tree_a: str, tree_b: str) -> None:
    process = subprocess.run(
        ["diff", "-rq", "--no-dereference", tree_a, tree_b],
        stdout=subprocess.DEVNULL,
        check=False,
    )
    if process.returncode not in (0, 1):
        sys.exit(f"diff -rq failed with exit status {process.returncode}")


Timings = dict[str, list[tuple[float, float]]]
"""(wall seconds, CPU seconds) per round, by case."""


def time_all(tree_a: str, tree_b: str, rounds: int) -> Timings:
    cases: dict[str, Callable[[], object]] = {
        "floor": lambda: floor_walk(tree_a) + floor_walk(tree_b),
        "floor (paths)": lambda: floor_walk_paths(tree_a) + floor_walk_paths(tree_b),
        "diff_trees": lambda: diff_trees(tree_a, tree_b),
        "diff_trees workers=1": lambda: diff_trees(tree_a, tree_b, workers=1),
        "diff -rq": lambda: run_diff_rq(tree_a, tree_b),
    }
    for action in cases.values():  # warm the page cache and the code paths
        action()
    timings: Timings = {name: [] for name in cases}
    for _ in range(rounds):
        for name, action in cases.items():
            timings[name].append(measure(action))
    return timings


def measure(action: Callable[[], object]) -> tuple[float, float]:
    """Run `action`; return its wall time and the CPU time of this process and
    of the child processes it waited for (diff_trees workers, diff -rq)."""
    before = os.times()
    started = time.perf_counter()
    action()
    wall = time.perf_counter() - started
    after = os.times()
    cpu = sum(after[:4]) - sum(before[:4])
    return wall, cpu


def print_report(timings: Timings, files: int, load_before: float) -> None:
    walls = {name: [wall for wall, _ in values] for name, values in timings.items()}
    floor = statistics.median(walls["floor"])
    floor_min = min(walls["floor"])
    cpus = len(os.sched_getaffinity(0))
    rounds = len(walls["floor"])
    load = f"1-minute load {load_before:.2f} before, {os.getloadavg()[0]:.2f} after"
    print(f"\n{files} files per tree, {cpus} CPUs, {rounds} rounds, {load}\n")
    print(
        "| case | median s | min s | median / floor | min / floor min | median CPU s |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, values in timings.items():
        median = statistics.median(walls[name])
        best = min(walls[name])
        cpu = statistics.median(cpu for _, cpu in values)
        print(
            f"| {name} | {median:.3f} | {best:.3f} | "
            f"{median / floor:.2f} | {best / floor_min:.2f} | {cpu:.2f} |"
        )


if __name__ == "__main__":
    sys.exit(main())
