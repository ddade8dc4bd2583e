"""Filesystem differences between two images or two plain folders.

`diff_trees` compares two root folders entry by entry with lstat semantics:
symlinks are compared by target and never followed, and the walk never leaves
either root (see engine.treewalk). `diff_images` mounts two images through
throwaway working containers and compares their root folders.

A path present on both sides is modified when any of these differ:

- `content`: regular files differ in size, or have equal sizes and different
  bytes; device nodes differ in device number.
- `mode`: permission bits, including setuid, setgid and sticky.
- `owner`: the numeric uid or gid.
- `type`: file, dir, symlink, fifo, socket, char or block.
- `target`: the path a symlink points at.

Modification times are ignored. When a folder is added or removed, every
entry below it is listed as added or removed too; the same holds for the
folder side of a type change such as dir -> file. `bytes_added` and
`bytes_removed` sum the sizes of the regular files listed as added or removed.

Regular files of equal size are always read and compared, because equal size
and modification time do not prove equal content: image layers can store
times in whole seconds, and `buildah bud --timestamp` sets every file to one
time. Those reads dominate the cost of a large diff, so the walk is spread
over worker processes.
"""

from __future__ import annotations

import difflib
import logging
import os
import stat
from collections import deque
from dataclasses import dataclass
from typing import Any

from engine.buildah import Buildah
from engine.mounts import mounted_image, require_image, resolve_in_root
from engine.treewalk import (
    CHANGE_KINDS,
    Changes,
    DiffError,
    TreeWalk,
    Unit,
    entry_size,
    entry_type,
    run_in_workers,
    same_bytes,
)

log = logging.getLogger(__name__)

__all__ = [
    "CHANGE_KINDS",
    "DiffError",
    "DiffSummary",
    "Entry",
    "FileDiff",
    "FileState",
    "FilesystemDiff",
    "Modification",
    "diff_file",
    "diff_image_file",
    "diff_images",
    "diff_trees",
    "human_size",
]

UNITS_PER_WORKER = 16
"""Folders queued per worker before the walk moves to worker processes.

Many small units let a worker that finishes early take the next one, which
balances trees where one folder (such as /usr) contains most of the files.
"""

MAX_WORKERS = 8

TEXT_DIFF_MAX_BYTES = 4 << 20
"""Larger files are compared by size only: difflib slows down sharply on them."""


@dataclass(frozen=True)
class Entry:
    """An added or removed path; `size` is 0 for anything but files and symlinks."""

    path: str
    type: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "type": self.type, "size": self.size}


@dataclass(frozen=True)
class Modification:
    """A path present on both sides whose entry differs."""

    path: str
    changes: tuple[str, ...]
    size_before: int
    size_after: int

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "changes": list(self.changes),
            "size_before": self.size_before,
            "size_after": self.size_after,
        }


@dataclass(frozen=True)
class DiffSummary:
    """Counts of changed paths and the bytes of added and removed files."""

    added: int
    removed: int
    modified: int
    bytes_added: int
    bytes_removed: int

    def to_json(self) -> dict[str, int]:
        return {
            "added": self.added,
            "removed": self.removed,
            "modified": self.modified,
            "bytes_added": self.bytes_added,
            "bytes_removed": self.bytes_removed,
        }


@dataclass(frozen=True)
class FilesystemDiff:
    """Changes from tree A to tree B; each tuple is sorted by path."""

    added: tuple[Entry, ...] = ()
    removed: tuple[Entry, ...] = ()
    modified: tuple[Modification, ...] = ()

    @property
    def summary(self) -> DiffSummary:
        return DiffSummary(
            added=len(self.added),
            removed=len(self.removed),
            modified=len(self.modified),
            bytes_added=sum(e.size for e in self.added if e.type == "file"),
            bytes_removed=sum(e.size for e in self.removed if e.type == "file"),
        )

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.modified)

    def to_json(self) -> dict[str, Any]:
        return {
            "added": [entry.to_json() for entry in self.added],
            "removed": [entry.to_json() for entry in self.removed],
            "modified": [change.to_json() for change in self.modified],
            "summary": self.summary.to_json(),
        }


def diff_images(buildah: Buildah, image_a: str, image_b: str) -> FilesystemDiff:
    """Compare the root filesystems of two local images.

    Each image is mounted through a throwaway working container, which is
    removed (and so unmounted) when the comparison ends, also on error.
    """
    id_a = require_image(buildah, image_a)
    id_b = require_image(buildah, image_b)
    with (
        mounted_image(buildah, id_a, "diff") as root_a,
        mounted_image(buildah, id_b, "diff") as root_b,
    ):
        log.info("comparing %s at %s with %s at %s", image_a, root_a, image_b, root_b)
        return diff_trees(root_a, root_b)


def diff_trees(
    root_a: str | os.PathLike[str],
    root_b: str | os.PathLike[str],
    *,
    workers: int | None = None,
) -> FilesystemDiff:
    """Compare two folders as root filesystems; reported paths start with /.

    The walk starts breadth-first in this process. Once UNITS_PER_WORKER
    folders per worker are queued, the rest go to `workers` forked processes
    (default: the CPUs this process may run on, at most MAX_WORKERS).
    `workers=1` keeps all of the work in this process.
    """
    roots = (os.fspath(root_a), os.fspath(root_b))
    for root in roots:
        if not os.path.isdir(root):
            raise DiffError(f"folder {root} not found: pass an existing folder")
    if workers is None:
        workers = min(len(os.sched_getaffinity(0)), MAX_WORKERS)

    walk = TreeWalk(roots)
    walk.compare_roots()
    pending: deque[Unit] = deque([("both", "")])
    while pending and (workers < 2 or len(pending) < UNITS_PER_WORKER * workers):
        walk.run_unit(pending.popleft(), pending)
    if pending:
        log.debug("handing %d folders to %d worker processes", len(pending), workers)
        walk.changes.merge(run_in_workers(roots, list(pending), workers))
    return _sorted_result(walk.changes)


def _sorted_result(changes: Changes) -> FilesystemDiff:
    return FilesystemDiff(
        added=tuple(Entry(*found) for found in sorted(changes.added)),
        removed=tuple(Entry(*found) for found in sorted(changes.removed)),
        modified=tuple(Modification(*item) for item in sorted(changes.modified)),
    )


# One file


@dataclass(frozen=True)
class FileState:
    """A path's lstat details on one side of a file diff."""

    type: str
    size: int
    mode: int
    """Permission bits, including setuid, setgid and sticky."""
    uid: int
    gid: int


@dataclass(frozen=True)
class FileDiff:
    """One path compared in two trees.

    `before` or `after` is None where the path does not exist. `unified` is a
    unified diff when every side that exists is a UTF-8 text file of at most
    TEXT_DIFF_MAX_BYTES; otherwise it is None and `not_text` gives the reason.
    """

    path: str
    before: FileState | None
    after: FileState | None
    same_content: bool
    """Both sides exist with the same type, size and bytes."""
    unified: str | None
    not_text: str | None = None

    @property
    def identical(self) -> bool:
        return self.same_content and self.before == self.after

    @property
    def changes(self) -> tuple[str, ...]:
        """Change kinds as in `Modification.changes`; empty if one side is missing."""
        if self.before is None or self.after is None:
            return ()
        flags = {
            "content": not self.same_content and self.before.type == self.after.type,
            "mode": self.before.mode != self.after.mode,
            "owner": (self.before.uid, self.before.gid)
            != (self.after.uid, self.after.gid),
            "type": self.before.type != self.after.type,
            "target": False,
        }
        return tuple(kind for kind in CHANGE_KINDS if flags[kind])


def diff_image_file(
    buildah: Buildah, image_a: str, image_b: str, path: str
) -> FileDiff:
    """Compare one file of two local images; see `diff_file`."""
    id_a = require_image(buildah, image_a)
    id_b = require_image(buildah, image_b)
    with (
        mounted_image(buildah, id_a, "diff") as root_a,
        mounted_image(buildah, id_b, "diff") as root_b,
    ):
        return diff_file(root_a, root_b, path, labels=(image_a, image_b))


def diff_file(
    root_a: str,
    root_b: str,
    path: str,
    labels: tuple[str, str] = ("a", "b"),
) -> FileDiff:
    """Compare the file at `path` inside two root folders.

    Symlinks on the way, the last component included, are followed as a
    process inside the image would follow them, never out of the root. Raises
    DiffError when the path exists in neither tree or is a folder.
    """
    path = "/" + path.lstrip("/")
    side_a = _read_side(root_a, path)
    side_b = _read_side(root_b, path)
    if side_a is None and side_b is None:
        raise DiffError(
            f"{path} not found in {labels[0]} or in {labels[1]}: give a path "
            "that exists in at least one of them, starting at the image root"
        )
    if {side.state.type for side in (side_a, side_b) if side} == {"dir"}:
        raise DiffError(
            f"{path} is a folder: --path compares one file; leave it out to "
            "compare whole images"
        )
    return _compare_sides(path, side_a, side_b, labels)


@dataclass(frozen=True)
class _Side:
    host_path: str
    state: FileState
    data: bytes | None
    """The content of a regular file of up to TEXT_DIFF_MAX_BYTES, else None."""


def _read_side(root: str, path: str) -> _Side | None:
    host_path = resolve_in_root(root, path)
    if host_path is None:
        return None
    try:
        status = os.lstat(host_path)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise DiffError(f"cannot read {host_path}: {error.strerror}") from None
    state = FileState(
        type=entry_type(status.st_mode),
        size=entry_size(status),
        mode=stat.S_IMODE(status.st_mode),
        uid=status.st_uid,
        gid=status.st_gid,
    )
    if not stat.S_ISREG(status.st_mode) or status.st_size > TEXT_DIFF_MAX_BYTES:
        return _Side(host_path, state, None)
    try:
        with open(host_path, "rb", opener=_open_no_follow) as file:
            return _Side(host_path, state, file.read())
    except OSError as error:
        raise DiffError(f"cannot read {host_path}: {error.strerror}") from None


def _open_no_follow(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK)


def _compare_sides(
    path: str, side_a: _Side | None, side_b: _Side | None, labels: tuple[str, str]
) -> FileDiff:
    before = side_a.state if side_a else None
    after = side_b.state if side_b else None
    same_content = _same_content(side_a, side_b)
    data_a = side_a.data if side_a else b""
    data_b = side_b.data if side_b else b""
    if data_a is None or data_b is None:
        sizes = [side.state.size for side in (side_a, side_b) if side]
        too_large = max(sizes) > TEXT_DIFF_MAX_BYTES
        reason = "too large for a text diff" if too_large else "not a regular file"
        return FileDiff(path, before, after, same_content, None, reason)
    text_a = _decode_text(data_a)
    text_b = _decode_text(data_b)
    if text_a is None or text_b is None:
        return FileDiff(path, before, after, same_content, None, "binary")
    lines = difflib.unified_diff(
        text_a.splitlines(),
        text_b.splitlines(),
        fromfile=f"{labels[0]}:{path}" if side_a else "/dev/null",
        tofile=f"{labels[1]}:{path}" if side_b else "/dev/null",
        lineterm="",
    )
    return FileDiff(path, before, after, same_content, "\n".join(lines))


def _same_content(side_a: _Side | None, side_b: _Side | None) -> bool:
    """Return whether both sides exist with equal type, size and bytes."""
    if side_a is None or side_b is None:
        return False
    if (side_a.state.type, side_a.state.size) != (side_b.state.type, side_b.state.size):
        return False
    if side_a.data is not None and side_b.data is not None:
        return side_a.data == side_b.data
    if side_a.state.type != "file":
        return True
    # Regular files above the text limit: compare them without keeping them.
    try:
        file_a = _open_no_follow(side_a.host_path, os.O_RDONLY)
        try:
            file_b = _open_no_follow(side_b.host_path, os.O_RDONLY)
            try:
                return same_bytes(file_a, file_b, side_a.state.size)
            finally:
                os.close(file_b)
        finally:
            os.close(file_a)
    except OSError as error:
        raise DiffError(f"cannot read {error.filename}: {error.strerror}") from None


def _decode_text(data: bytes) -> str | None:
    """Return the data as text, or None for binary data (NUL bytes or not UTF-8)."""
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def human_size(size: int) -> str:
    """Format a byte count with binary units, e.g. 1536 -> '1.5 KiB'."""
    if abs(size) < 1024:
        return f"{size} B"
    value = size / 1024
    for unit in ("KiB", "MiB", "GiB"):
        if abs(value) < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"
