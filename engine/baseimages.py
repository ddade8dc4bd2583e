"""Local base images for hosts that cannot reach a container registry.

The examples and tests build `FROM localhost/busybox` and
`FROM localhost/debian:bookworm`. This module makes both images from files
already on the host, or reachable through its Debian mirror, so that a build
never needs to pull. Making an image that already exists in the given storage
does nothing. Both functions need root because they mount working containers,
and debootstrap needs root as well.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import struct
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sh

from engine.buildah import Buildah
from engine.errors import StagescopeError

log = logging.getLogger(__name__)

BUSYBOX_IMAGE = "localhost/busybox:latest"
DEBIAN_IMAGE = "localhost/debian:bookworm"
DEBIAN_SUITE = "bookworm"

BUSYBOX_BINARY = Path("/bin/busybox")
"""Debian's busybox-static installs a statically linked busybox here."""

DEFAULT_DEBIAN_MIRROR = "http://deb.debian.org/debian"
APT_CONFIG_DIR = Path("/etc/apt")
MOUNTINFO = Path("/proc/self/mountinfo")

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

BUSYBOX_PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
)
BUSYBOX_GROUP = "root:x:0:\nnogroup:x:65534:\n"


@dataclass(frozen=True)
class BaseImageResult:
    """Outcome of making one base image."""

    reference: str
    image_id: str
    created: bool
    """False when the image already existed and nothing was done."""
    seconds: float
    """Wall-clock time spent, including the check for an existing image."""


def ensure_busybox_image(
    buildah: Buildah,
    binary: Path = BUSYBOX_BINARY,
    reference: str = BUSYBOX_IMAGE,
) -> BaseImageResult:
    """Make a busybox image from the host's static busybox unless it exists.

    The image contains the binary at /bin/busybox, a symlink for each applet at
    the path busybox lists for it (/bin/sh, /usr/bin/env, ...), /tmp, /root and
    a minimal /etc/passwd and /etc/group.
    """

    def make() -> None:
        check_static_busybox(binary)
        with working_container(buildah, "busybox") as container:
            root = Path(buildah.mount(container))
            install_busybox(root, binary)
            configure_and_commit(
                buildah,
                container,
                reference,
                cmd='["/bin/sh"]',
                description="busybox copied from the host by stagescope",
            )

    return ensure_image(buildah, reference, make)


def ensure_debian_image(
    buildah: Buildah,
    mirror: str | None = None,
    reference: str = DEBIAN_IMAGE,
    suite: str = DEBIAN_SUITE,
) -> BaseImageResult:
    """Make a minimal Debian image with debootstrap unless it exists.

    The root filesystem comes from `debootstrap --variant=minbase` run in a
    temporary folder, which is removed afterwards, also on failure. Without a
    mirror, the one the host's apt sources use for `suite` is taken.
    """

    def make() -> None:
        chosen_mirror = mirror or find_debian_mirror(suite=suite)
        with temporary_folder("stagescope-debootstrap-") as folder:
            rootfs = folder / "rootfs"
            run_debootstrap(rootfs, suite, chosen_mirror)
            trim_rootfs(rootfs)
            with working_container(buildah, "debian") as container:
                copy_tree(rootfs, Path(buildah.mount(container)))
                configure_and_commit(
                    buildah,
                    container,
                    reference,
                    cmd='["bash"]',
                    description=f"Debian {suite} minbase made by stagescope",
                )

    return ensure_image(buildah, reference, make)


def ensure_image(
    buildah: Buildah, reference: str, make: Callable[[], None]
) -> BaseImageResult:
    """Run `make` unless `reference` exists, and time the whole step."""
    started = time.monotonic()
    existing = buildah.image_id(reference)
    if existing:
        log.info("%s already exists as %s", reference, existing[:12])
        return BaseImageResult(reference, existing, False, time.monotonic() - started)

    log.info("making %s", reference)
    try:
        make()
    except OSError as error:
        raise StagescopeError(f"making {reference} failed: {error}") from None
    image_id = buildah.image_id(reference)
    if not image_id:
        raise StagescopeError(f"{reference} was committed but cannot be found")
    seconds = time.monotonic() - started
    log.info("made %s as %s in %.1f s", reference, image_id[:12], seconds)
    return BaseImageResult(reference, image_id, True, seconds)


@contextmanager
def working_container(buildah: Buildah, purpose: str) -> Iterator[str]:
    """Create an empty working container and remove it however the block ends."""
    name = f"stagescope-base-{purpose}-{uuid.uuid4().hex[:8]}"
    container = buildah.from_image("scratch", name=name)
    try:
        yield container
    finally:
        # `buildah rm` unmounts too; a failure here is logged, not raised, so
        # that it does not hide the error that ended the block.
        buildah.remove_containers([container])


def configure_and_commit(
    buildah: Buildah, container: str, reference: str, cmd: str, description: str
) -> None:
    buildah.call(
        "config",
        "--env",
        f"PATH={DEFAULT_PATH}",
        "--cmd",
        cmd,
        "--label",
        f"org.opencontainers.image.description={description}",
        container,
    )
    buildah.call("commit", "--quiet", container, reference)


# busybox


def check_static_busybox(binary: Path) -> None:
    """Raise unless `binary` is a statically linked ELF executable.

    A dynamically linked busybox (Debian's `busybox` package) would find no C
    library inside the image and fail on every command.
    """
    install_hint = "install Debian's busybox-static (apt-get install busybox-static)"
    if not binary.is_file():
        raise StagescopeError(f"{binary} not found: {install_hint}")
    try:
        interpreter = has_elf_interpreter(binary)
    except (OSError, ValueError) as error:
        raise StagescopeError(f"cannot read {binary} as ELF: {error}") from None
    if interpreter:
        raise StagescopeError(f"{binary} is dynamically linked: {install_hint}")


def has_elf_interpreter(path: Path) -> bool:
    """Return whether an ELF file names a program interpreter, as dynamic ones do."""
    pt_interp = 3
    with path.open("rb") as file:
        header = file.read(64)
        if header[:4] != b"\x7fELF":
            raise ValueError("no ELF magic number")
        order = "<" if header[5] == 1 else ">"
        if header[4] == 2:
            (table_offset,) = struct.unpack_from(order + "Q", header, 32)
            entry_size, entry_count = struct.unpack_from(order + "HH", header, 54)
        else:
            (table_offset,) = struct.unpack_from(order + "I", header, 28)
            entry_size, entry_count = struct.unpack_from(order + "HH", header, 42)
        file.seek(table_offset)
        table = file.read(entry_size * entry_count)
    if len(table) < entry_size * entry_count:
        raise ValueError("program header table is truncated")
    for index in range(entry_count):
        (segment_type,) = struct.unpack_from(order + "I", table, index * entry_size)
        if segment_type == pt_interp:
            return True
    return False


def install_busybox(root: Path, binary: Path) -> None:
    """Copy busybox into a mounted root filesystem and link its applets."""
    (root / "bin").mkdir(parents=True, exist_ok=True)
    shutil.copy2(binary, root / "bin" / "busybox")
    for applet in busybox_applet_paths(binary):
        link = root / applet
        if link.exists() or link.is_symlink():
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to("/bin/busybox")

    (root / "tmp").mkdir(mode=0o1777, exist_ok=True)
    (root / "tmp").chmod(0o1777)
    (root / "root").mkdir(mode=0o700, exist_ok=True)
    (root / "etc").mkdir(exist_ok=True)
    (root / "etc" / "passwd").write_text(BUSYBOX_PASSWD)
    (root / "etc" / "group").write_text(BUSYBOX_GROUP)


def busybox_applet_paths(binary: Path) -> list[str]:
    """Return each applet's install path relative to /, e.g. `usr/bin/env`."""
    try:
        output = sh.Command(str(binary))("--list-full", _tty_out=False)
    except (sh.ErrorReturnCode, OSError) as error:
        raise StagescopeError(f"{binary} --list-full failed: {error}") from None
    paths = [line.strip().lstrip("/") for line in str(output).splitlines()]
    # Reject anything that would escape the image's root folder.
    return [path for path in paths if path and ".." not in Path(path).parts]


# Debian


def find_debian_mirror(
    apt_dir: Path = APT_CONFIG_DIR, suite: str = DEBIAN_SUITE
) -> str:
    """Return the URI of the host's first `deb` source that carries `suite`.

    Both the one-line format (`sources.list`, `*.list`) and the deb822 format
    (`*.sources`) are read, in apt's order. Without a match, Debian's own
    redirector is returned, which works wherever deb.debian.org is reachable.
    """
    for types, uris, suites in apt_sources(apt_dir):
        if "deb" not in types or suite not in suites:
            continue
        for uri in uris:
            if uri.split(":", 1)[0] in ("http", "https", "file"):
                return uri
    log.warning(
        "no apt source for %s in %s; using %s", suite, apt_dir, DEFAULT_DEBIAN_MIRROR
    )
    return DEFAULT_DEBIAN_MIRROR


AptSource = tuple[list[str], list[str], list[str]]
"""One source entry as (types, URIs, suites)."""


def apt_sources(apt_dir: Path) -> Iterator[AptSource]:
    files = [apt_dir / "sources.list"]
    parts = apt_dir / "sources.list.d"
    if parts.is_dir():
        files += sorted(parts.iterdir())
    for path in files:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        if path.name == "sources.list" or path.suffix == ".list":
            yield from parse_one_line_sources(text)
        elif path.suffix == ".sources":
            yield from parse_deb822_sources(text)


def parse_one_line_sources(text: str) -> Iterator[AptSource]:
    """Parse `deb [options] uri suite component...` lines."""
    for line in text.splitlines():
        line = re.sub(r"\[[^\]]*\]", " ", line.split("#", 1)[0])
        fields = line.split()
        if len(fields) >= 3:
            yield [fields[0]], [fields[1]], [fields[2]]


def parse_deb822_sources(text: str) -> Iterator[AptSource]:
    """Parse deb822 stanzas, skipping those with `Enabled: no`."""
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = ""
        for line in stanza.splitlines():
            if line.startswith("#"):
                continue
            if line[:1].isspace() and key:
                fields[key] += " " + line.strip()
            elif ":" in line:
                key, value = line.split(":", 1)
                key = key.strip().lower()
                fields[key] = value.strip()
        if fields.get("enabled", "yes").lower() == "no":
            continue
        yield (
            fields.get("types", "").split(),
            fields.get("uris", "").split(),
            fields.get("suites", "").split(),
        )


def run_debootstrap(target: Path, suite: str, mirror: str) -> None:
    try:
        debootstrap = sh.Command("debootstrap")
    except sh.CommandNotFound:
        raise StagescopeError(
            "debootstrap not found: install it (apt-get install debootstrap)"
        ) from None
    log.info("running debootstrap %s from %s into %s", suite, mirror, target)
    try:
        debootstrap("--variant=minbase", suite, str(target), mirror, _tty_out=False)
    except sh.ErrorReturnCode as error:
        reason = debootstrap_failure(error, target)
        raise StagescopeError(
            f"debootstrap {suite} from {mirror} failed: {reason}"
        ) from None


def debootstrap_failure(error: sh.ErrorReturnCode, target: Path) -> str:
    """Return the last error line of a failed debootstrap run, else its last line."""
    text = error.stderr.decode("utf-8", "replace") + error.stdout.decode(
        "utf-8", "replace"
    )
    log_file = target / "debootstrap" / "debootstrap.log"
    if log_file.is_file():
        text += log_file.read_text(errors="replace")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("E:", "W: Failure"))]
    if errors:
        return errors[-1]
    return lines[-1] if lines else f"exit status {error.exit_code}"


def trim_rootfs(rootfs: Path) -> None:
    """Remove what an image should not carry: device nodes and apt caches.

    The container runtime provides /dev at run time, and stale package lists
    would let `apt-get install` run without a fresh `apt-get update`.
    """
    for folder in ("dev", "var/cache/apt/archives", "var/lib/apt/lists"):
        path = rootfs / folder
        if not path.is_dir():
            continue
        for entry in path.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            elif entry.name != "lock":
                entry.unlink()
    for cache in (rootfs / "var/cache/apt").glob("*.bin"):
        cache.unlink()


def copy_tree(source: Path, destination: Path) -> None:
    """Copy a root filesystem, keeping owners, modes, links and hard links."""
    try:
        sh.Command("cp")("-a", "--", f"{source}/.", f"{destination}/", _tty_out=False)
    except sh.ErrorReturnCode as error:
        detail = error.stderr.decode("utf-8", "replace").strip().splitlines()
        raise StagescopeError(
            f"copying {source} into the image failed: {detail[-1] if detail else error}"
        ) from None


# temporary folders


@contextmanager
def temporary_folder(prefix: str) -> Iterator[Path]:
    """Yield a new folder and delete it afterwards, after unmounting within it.

    debootstrap mounts /proc, /sys and sometimes bind-mounts host devices
    inside its target. A killed run leaves them mounted, and deleting through
    such a mount would delete host files, so the folder is only deleted once
    nothing below it is mounted.
    """
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield folder
    finally:
        remaining = unmount_below(folder)
        if remaining:
            log.error("not deleting %s: still mounted below it: %s", folder, remaining)
        else:
            shutil.rmtree(folder, ignore_errors=True)


def unmount_below(folder: Path) -> list[str]:
    """Unmount every mount point inside `folder` and return those still mounted."""
    for mount_point in sorted(mounts_below(folder), key=len, reverse=True):
        log.warning("unmounting %s left by an interrupted step", mount_point)
        try:
            sh.Command("umount")("--lazy", mount_point, _tty_out=False)
        except (sh.ErrorReturnCode, sh.CommandNotFound) as error:
            log.error("could not unmount %s: %s", mount_point, error)
    return mounts_below(folder)


def mounts_below(folder: Path | str) -> list[str]:
    """Return the mount points strictly inside `folder`, from mountinfo."""
    prefix = os.path.realpath(folder) + os.sep
    try:
        lines = MOUNTINFO.read_text().splitlines()
    except OSError:
        return []
    points = []
    for line in lines:
        fields = line.split()
        if len(fields) > 4:
            # mountinfo escapes space, tab, newline and backslash as octal.
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), fields[4])
            if point.startswith(prefix):
                points.append(point)
    return points
