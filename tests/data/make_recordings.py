"""Record the JSONL event streams that the TUI tests replay.

Each recording is the output of a real `stagescope run --json` of
tests/data/multistage in a fresh buildah storage under a temporary folder,
so the first build has no cache hits and the later ones reuse its layers.
Run it from anywhere, as root, after changing that Containerfile:

    python tests/data/make_recordings.py

It needs buildah and the host's static busybox (/bin/busybox).
"""

from __future__ import annotations

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


def stagescope(storage: list[str], *arguments: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "tui.main", *arguments, *storage]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="stagescope-recordings-") as folder:
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
    sys.exit(main())
