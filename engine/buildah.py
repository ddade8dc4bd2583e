"""Thin wrapper around the buildah command line.

Every call passes its arguments to buildah as a list through `sh`, never as a
shell string, so user data cannot be read as shell syntax.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import sh

from engine.errors import BuildahError

log = logging.getLogger(__name__)

MINIMUM_VERSION = (1, 22, 0)
"""Oldest buildah whose step lines carry per-stage counters (`[i/n] STEP k/m`)."""

HYBRID_CGROUPS_MESSAGE = "cgroups in hybrid mode not supported"

HYBRID_CGROUPS_HELP = (
    "buildah's OCI runtime (crun) cannot run containers on this host's hybrid "
    "cgroups: rerun with --isolation chroot or --runtime runc, or set "
    "BUILDAH_ISOLATION=chroot in the environment"
)


@dataclass(frozen=True)
class StorageOptions:
    """Buildah's global storage options; None keeps buildah's own default."""

    root: str | None = None
    runroot: str | None = None
    storage_driver: str | None = None

    def global_args(self) -> list[str]:
        args: list[str] = []
        if self.root:
            args += ["--root", self.root]
        if self.runroot:
            args += ["--runroot", self.runroot]
        if self.storage_driver:
            args += ["--storage-driver", self.storage_driver]
        return args


@dataclass(frozen=True)
class Buildah:
    """A buildah executable bound to one storage and one way of running steps."""

    storage: StorageOptions = field(default_factory=StorageOptions)
    isolation: str | None = None
    runtime: str | None = None
    executable: str = "buildah"

    def argv(self, *args: str) -> list[str]:
        """Return the full argument list for a buildah subcommand."""
        return [*self.storage.global_args(), *args]

    def run_options(self) -> list[str]:
        """Return the options that choose how RUN steps and shells execute."""
        options: list[str] = []
        if self.isolation:
            options += ["--isolation", self.isolation]
        if self.runtime:
            options += ["--runtime", self.runtime]
        return options

    def command(self) -> sh.Command:
        try:
            return sh.Command(self.executable)
        except sh.CommandNotFound:
            raise BuildahError(
                f"{self.executable} was not found on PATH: install buildah "
                "(Debian and Ubuntu: apt-get install buildah) and try again"
            ) from None

    def call(self, *args: str) -> str:
        """Run a buildah subcommand and return its standard output."""
        argv = self.argv(*args)
        log.debug("buildah %s", argv)
        try:
            result = self.command()(*argv, _tty_out=False, _decode_errors="replace")
        except sh.ErrorReturnCode as error:
            raise BuildahError(describe_failure(args, error)) from None
        return str(result)

    def version(self) -> tuple[int, int, int]:
        output = self.call("version", "--json")
        try:
            text = json.loads(output)["version"]
        except (ValueError, KeyError):
            text = output
        return parse_version(text)

    def ensure_usable(self) -> tuple[int, int, int]:
        """Check that buildah runs and is new enough, and return its version."""
        version = self.version()
        if version < MINIMUM_VERSION:
            found = ".".join(map(str, version))
            needed = ".".join(map(str, MINIMUM_VERSION))
            raise BuildahError(
                f"buildah {found} is too old: stagescope needs {needed} or newer "
                "to tell stages apart in its output; upgrade buildah"
            )
        return version

    def image_id(self, reference: str) -> str | None:
        """Return the full ID of a local image, or None when there is none."""
        try:
            output = self.call(
                "inspect", "--type", "image", "--format", "{{.FromImageID}}", reference
            )
        except BuildahError:
            return None
        image_id = output.strip().removeprefix("sha256:")
        return image_id or None

    def inspect_image(self, reference: str) -> dict[str, Any]:
        output = self.call("inspect", "--type", "image", reference)
        data: dict[str, Any] = json.loads(output)
        return data

    def containers(self) -> list[dict[str, Any]]:
        """Return every working container in this storage, from all builds."""
        output = self.call("containers", "--all", "--json")
        data = json.loads(output or "[]")
        return list(data or [])

    def container_ids(self) -> set[str]:
        return {container["id"] for container in self.containers()}

    def remove_containers(self, container_ids: list[str] | set[str]) -> None:
        """Remove containers, which also unmounts them; ignore ones already gone."""
        for container_id in sorted(container_ids):
            try:
                self.call("rm", container_id)
            except BuildahError as error:
                log.warning("could not remove container %s: %s", container_id, error)

    def from_image(self, image: str, name: str | None = None) -> str:
        """Create a working container from a local image and return its ID."""
        args = ["from", "--pull=never", "--quiet"]
        if name:
            args += ["--name", name]
        return self.call(*args, image).strip().splitlines()[-1]

    def mount(self, container_id: str) -> str:
        return self.call("mount", container_id).strip()

    def unmount(self, container_id: str) -> None:
        self.call("umount", container_id)


def parse_version(text: str) -> tuple[int, int, int]:
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if not match:
        raise BuildahError(f"could not read buildah's version from {text!r}")
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


def describe_failure(args: tuple[str, ...], error: sh.ErrorReturnCode) -> str:
    """Return a one-line message for a failed buildah call, with the fix."""
    stderr = error.stderr.decode("utf-8", "replace").strip()
    if HYBRID_CGROUPS_MESSAGE in stderr:
        return HYBRID_CGROUPS_HELP
    last_line = stderr.splitlines()[-1] if stderr else f"exit status {error.exit_code}"
    return f"buildah {args[0] if args else ''} failed: {last_line}"
