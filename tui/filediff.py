"""A unified diff of one file as it is in two images.

TODO: use the engine's own per-file diff once engine/diff.py offers one;
until then this mounts both images with the engine's mount helpers.
"""

from __future__ import annotations

import difflib
import os

from engine.buildah import Buildah
from engine.mounts import mounted_image, resolve_in_root

MAX_TEXT_BYTES = 2 * 1024 * 1024
"""Files larger than this are not read for a text diff."""


def file_diff(buildah: Buildah, image_a: str, image_b: str, path: str) -> str:
    """Return a unified diff of `path`, or a one-line note when there is none."""
    with (
        mounted_image(buildah, image_a, "diff") as root_a,
        mounted_image(buildah, image_b, "diff") as root_b,
    ):
        before = _read_text(root_a, path)
        after = _read_text(root_b, path)
    if isinstance(before, str) and before.startswith("\0"):
        return before[1:]
    if isinstance(after, str) and after.startswith("\0"):
        return after[1:]
    lines = difflib.unified_diff(
        (before or "").splitlines(keepends=True),
        (after or "").splitlines(keepends=True),
        fromfile=f"a{path}" if before is not None else "/dev/null",
        tofile=f"b{path}" if after is not None else "/dev/null",
    )
    text = "".join(lines)
    return text or "The contents are equal; only the metadata changed."


def _read_text(root: str, path: str) -> str | None:
    """Return the file's text, None when absent, or a note prefixed with NUL."""
    host_path = resolve_in_root(root, path)
    if host_path is None or not os.path.lexists(host_path):
        return None
    if not os.path.isfile(host_path):
        return "\0Not a regular file: no text to compare."
    size = os.path.getsize(host_path)
    if size > MAX_TEXT_BYTES:
        return (
            f"\0{path} has {size:,} bytes, more than the {MAX_TEXT_BYTES:,} shown here."
        )
    with open(host_path, "rb") as handle:
        data = handle.read()
    if b"\0" in data[:8192]:
        return "\0Binary file: no text to compare."
    return data.decode("utf-8", "replace")
