"""Throwaway working containers and paths inside their mounted root folders.

The shell and the diff both look at an image through a working container that
exists only while they run. These helpers create it, mount it, and remove it
(which also unmounts it) however the block ends.
"""

from __future__ import annotations

import logging
import os
import stat
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from engine.buildah import Buildah
from engine.errors import BuildahError, StagescopeError

log = logging.getLogger(__name__)

MAX_SYMLINKS = 40
"""Symlinks followed while resolving one path, as Linux allows (ELOOP past it)."""


def require_image(buildah: Buildah, reference: str) -> str:
    """Return the full ID of a local image, or raise a one-line error naming it."""
    image_id = buildah.image_id(reference)
    if image_id:
        return image_id
    where = f" under {buildah.storage.root}" if buildah.storage.root else ""
    raise StagescopeError(
        f"image {reference!r} not found in buildah's storage{where}: check the "
        "name or ID with `buildah images` (with the same --root and "
        "--storage-driver options)"
    )


@contextmanager
def throwaway_container(buildah: Buildah, image: str, purpose: str) -> Iterator[str]:
    """Create a working container from a local image and remove it afterwards.

    The container is named `stagescope-PURPOSE-XXXXXXXX` so that one left by a
    killed process can be recognised in `buildah containers`.
    """
    name = f"stagescope-{purpose}-{uuid.uuid4().hex[:8]}"
    try:
        container = buildah.from_image(image, name=name)
    except BuildahError:
        raise
    except BaseException:
        # Interrupted (for example by TerminatedBySignal) while buildah may
        # already have created the container: remove it by name if it exists.
        if name in {c.get("containername") for c in _containers(buildah)}:
            buildah.remove_containers([name])
        raise
    log.debug("created container %s from %s", container, image)
    try:
        yield container
    finally:
        # `buildah rm` unmounts as well. A failure is logged, not raised, so
        # that it cannot hide the error that ended the block.
        buildah.remove_containers([container])
        log.debug("removed container %s", container)


def _containers(buildah: Buildah) -> list[dict[str, Any]]:
    try:
        return buildah.containers()
    except BuildahError as error:
        log.warning("could not list containers to clean up: %s", error)
        return []


@contextmanager
def mounted_image(buildah: Buildah, image: str, purpose: str) -> Iterator[str]:
    """Yield the mounted root folder of a throwaway container from `image`."""
    with throwaway_container(buildah, image, purpose) as container:
        yield buildah.mount(container)


def resolve_in_root(root: str, path: str) -> str | None:
    """Return the host path that `path` names inside the root folder `root`.

    Symlinks are followed the way a process chrooted to `root` would see them:
    an absolute target starts again at `root`, and `..` stops at `root`, so the
    result never leaves it. Returns None when a component is missing, is not a
    folder where one is needed, or the symlinks nest more than MAX_SYMLINKS
    deep.
    """
    pending = list(reversed(path.split("/")))
    resolved: list[str] = []
    followed = 0
    while pending:
        part = pending.pop()
        if part in ("", "."):
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        host_path = os.path.join(root, *resolved, part)
        try:
            status = os.lstat(host_path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if stat.S_ISLNK(status.st_mode):
            followed += 1
            if followed > MAX_SYMLINKS:
                return None
            target = os.readlink(host_path)
            if target.startswith("/"):
                resolved = []
            pending.extend(reversed(target.split("/")))
            continue
        if not stat.S_ISDIR(status.st_mode) and any(
            item not in ("", ".") for item in pending
        ):
            return None
        resolved.append(part)
    return os.path.join(root, *resolved)
