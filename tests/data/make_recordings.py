"""Record the JSONL event streams that the TUI tests replay.

Each recording is the output of a real `stagescope run --json` of
tests/data/multistage in a fresh buildah storage under a temporary folder,
so the first build has no cache hits and the later ones reuse its layers.
`insight.jsonl` is recorded alone, in a storage and a build-record folder
of its own, so that it shows a first build's cache-miss reasons, stage
summaries and crossings.
Run it from anywhere, as root, after changing that Containerfile:

    python tests/data/make_recordings.py [NAME...]

Without names it makes every recording; `insight` alone makes only that one.

It needs buildah and the host's static busybox (/bin/busybox).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONTEXT = "tests/data/multistage"
OUTPUT = Path(__file__).resolve().parent / "recordings"

RECORDINGS: dict[str, list[str]] = {
    "passing": [],
    "breakpoint": ["--break", "build:5"],
    "failure": ["--build-arg", "FAIL=1"],
}


def stagescope(
    storage: list[str], *arguments: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "tui.main", *arguments, *storage]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, env=env)


def record_insight(folder: str) -> int:
    """Record a first build of tests/data/multistage with no earlier build
    record, so that every miss has a reason and the stages get summaries."""
    storage = [
        "--root", f"{folder}/insight/root",
        "--runroot", f"{folder}/insight/run",
        "--storage-driver", "vfs",
    ]  # fmt: skip
    env = dict(os.environ, XDG_CACHE_HOME=f"{folder}/insight/cache")
    made = stagescope(storage, "base-images", env=env)
    if made.returncode != 0:
        print(made.stderr, file=sys.stderr)
        return made.returncode
    result = stagescope(
        [*storage, "--isolation", "chroot"], "run", "--json", CONTEXT, env=env
    )
    (OUTPUT / "insight.jsonl").write_text(result.stdout, encoding="utf-8")
    lines = result.stdout.count("\n")
    print(f"insight.jsonl: {lines} events, exit status {result.returncode}")
    return 0


def main(names: list[str]) -> int:
    wanted = set(names) or {*RECORDINGS, "insight"}
    with tempfile.TemporaryDirectory(prefix="stagescope-recordings-") as folder:
        OUTPUT.mkdir(exist_ok=True)
        if "insight" in wanted:
            status = record_insight(folder)
            if status != 0 or wanted == {"insight"}:
                return status
        storage = [
            "--root", f"{folder}/root",
            "--runroot", f"{folder}/run",
            "--storage-driver", "vfs",
        ]  # fmt: skip
        made = stagescope(storage, "base-images")
        if made.returncode != 0:
            print(made.stderr, file=sys.stderr)
            return made.returncode
        OUTPUT.mkdir(exist_ok=True)
        for name, options in RECORDINGS.items():
            result = stagescope(
                [*storage, "--isolation", "chroot"], "run", "--json", *options, CONTEXT
            )
            (OUTPUT / f"{name}.jsonl").write_text(result.stdout, encoding="utf-8")
            lines = result.stdout.count("\n")
            print(f"{name}.jsonl: {lines} events, exit status {result.returncode}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
