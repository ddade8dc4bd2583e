"""Sizes of the images a build committed, from one `buildah images` call.

buildah reports sizes as rounded text ("2.13 MB", decimal units), so the
byte counts here are approximate to three significant digits.
"""

from __future__ import annotations

import json
import re

from engine.buildah import Buildah

UNITS = {"B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4}
SIZE_TEXT = re.compile(r"^\s*([\d.]+)\s*([kKMGT]?B)\s*$")


def parse_size(text: str) -> int | None:
    """Return the bytes in a size such as "2.13 MB", or None if unreadable."""
    match = SIZE_TEXT.match(text)
    if not match:
        return None
    return int(float(match.group(1)) * UNITS[match.group(2).upper()])


def image_sizes(buildah: Buildah) -> dict[str, int]:
    """Return the size of every image in the storage, by full image ID."""
    output = buildah.call("images", "--all", "--json", "--no-trunc")
    sizes = {}
    for image in json.loads(output or "[]") or []:
        image_id = str(image.get("id", "")).removeprefix("sha256:")
        size = parse_size(str(image.get("size", "")))
        if image_id and size is not None:
            sizes[image_id] = size
    return sizes
