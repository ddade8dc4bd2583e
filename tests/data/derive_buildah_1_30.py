"""Derive the buildah 1.30+ output fixtures from the 1.28 recordings.

buildah 1.30 and later print 12 hex characters in the `--> <id>` line that
ends each committed step, where 1.28 prints 11; the other lines are the same.
This script rewrites each short ID of buildah-1.28/*.txt to the first 12
characters of the full ID it abbreviates, taken from buildah-1.28/images.txt,
and writes the result to buildah-1.30/.

Run it from any folder: python tests/data/derive_buildah_1_30.py
"""

from __future__ import annotations

import re
from pathlib import Path

DATA = Path(__file__).resolve().parent
SOURCE = DATA / "buildah-1.28"
TARGET = DATA / "buildah-1.30"
SHORT_ID = re.compile(r"--> (?P<id>[0-9a-f]{11})(?=\s*$)", re.MULTILINE)


def full_ids() -> list[str]:
    lines = (SOURCE / "images.txt").read_text(encoding="utf-8").splitlines()
    return [line.split()[0].removeprefix("sha256:") for line in lines if line]


def lengthen(match: re.Match[str], ids: list[str]) -> str:
    short = match.group("id")
    matches = [image for image in ids if image.startswith(short)]
    if len(matches) != 1:
        raise SystemExit(f"{short}: {len(matches)} full IDs match")
    return f"--> {matches[0][:12]}"


def main() -> None:
    ids = full_ids()
    TARGET.mkdir(exist_ok=True)
    for source in sorted(SOURCE.glob("*.txt")):
        if source.name == "images.txt":
            continue
        text = source.read_text(encoding="utf-8")
        derived = SHORT_ID.sub(lambda match: lengthen(match, ids), text)
        (TARGET / source.name).write_text(derived, encoding="utf-8")


if __name__ == "__main__":
    main()
