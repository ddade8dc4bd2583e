"""Shared fixtures: a private buildah storage and the local base images in it.

Tests that use buildah get a storage of their own under a temporary folder, so
they never see or change the images and containers in buildah's default
storage. The folder is deleted when the session ends. Tests that use the
`buildah_storage` fixture, directly or through another fixture, are marked
`buildah`, and those that use `debian_image` are also marked `slow`.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine.baseimages import ensure_busybox_image, ensure_debian_image, unmount_below
from engine.buildah import Buildah, StorageOptions
from engine.errors import BuildahError

log = logging.getLogger(__name__)

STORAGE_CHECK_TEST = "test_storage_left_clean"
"""Name of the test that runs last, to check that no test left a container."""

STORAGE_DRIVERS = ("overlay", "vfs")
"""Storage drivers to try, in order of preference.

overlay shares each layer between the images and containers built on it, so a
Debian build costs its own changes only. It needs a kernel and a backing
filesystem that support overlay mounts, which rules it out where the temporary
folder itself sits on overlayfs, as in many containers. vfs works everywhere
but copies every layer in full for each image and container, which makes
Debian-based builds several times slower and larger.
"""


def pytest_itemcollected(item: pytest.Item) -> None:
    # Marking here, before pytest_collection_modifyitems, lets `-m` select on it.
    fixtures = getattr(item, "fixturenames", ())
    if "buildah_storage" in fixtures:
        item.add_marker(pytest.mark.buildah)
    if "debian_image" in fixtures:
        item.add_marker(pytest.mark.slow)


# trylast: the hook must run after any plugin that reorders tests, such as one
# that shuffles them, or the storage check would not stay last.
@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    # A stable sort keeps the order of every other test.
    items.sort(key=lambda item: item.name == STORAGE_CHECK_TEST)


@pytest.fixture(scope="session")
def buildah_storage() -> Iterator[StorageOptions]:
    """Return storage options for a new buildah storage, deleted afterwards."""
    if shutil.which("buildah") is None:
        pytest.skip("buildah is not installed: run scripts/install")
    folder = Path(tempfile.mkdtemp(prefix="stagescope-test-storage-"))
    try:
        storage = choose_storage(folder)
        yield storage
        remove_storage(storage)
    finally:
        delete_folder(folder)


@pytest.fixture(scope="session")
def buildah(buildah_storage: StorageOptions) -> Buildah:
    """Return a Buildah bound to the test storage.

    chroot isolation runs RUN steps without an OCI runtime, so the tests do not
    depend on crun or runc working with the host's cgroup setup.
    """
    return Buildah(storage=buildah_storage, isolation="chroot")


@pytest.fixture(scope="session")
def busybox_image(buildah: Buildah) -> str:
    """Return the reference of a busybox image made in the test storage."""
    return ensure_busybox_image(buildah).reference


ImageBuilder = Callable[[Path, str, str], str]


@pytest.fixture(scope="session")
def build_image(buildah: Buildah) -> ImageBuilder:
    """Return a function that builds `containerfile` in `folder` as `name`."""

    def build(folder: Path, name: str, containerfile: str) -> str:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "Containerfile").write_text(containerfile, encoding="utf-8")
        buildah.call(
            "bud",
            *buildah.run_options(),
            "--pull=never",
            "--quiet",
            "--tag",
            name,
            "--file",
            str(folder / "Containerfile"),
            str(folder),
        )
        return name

    return build


@pytest.fixture(scope="session")
def debootstrap_temporary_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the folder where the Debian image's debootstrap run keeps its files,
    private to this session so that other runs on the machine do not count."""
    return tmp_path_factory.mktemp("debootstrap-temporary")


@pytest.fixture(scope="session")
def debian_image(buildah: Buildah, debootstrap_temporary_root: Path) -> str:
    """Return the reference of a Debian image made with debootstrap.

    This downloads the minbase packages from the host's Debian mirror once per
    session and takes about half a minute.
    """
    saved = tempfile.tempdir
    tempfile.tempdir = str(debootstrap_temporary_root)
    try:
        return ensure_debian_image(buildah).reference
    finally:
        tempfile.tempdir = saved


def choose_storage(folder: Path) -> StorageOptions:
    """Return options for the first storage driver that can mount a container.

    STAGESCOPE_TEST_STORAGE_DRIVER, when set, names the only driver to try.

    Each driver gets its own sub-folder because containers/storage refuses to
    open a root that a different driver has initialised.
    """
    failures = []
    forced = os.environ.get("STAGESCOPE_TEST_STORAGE_DRIVER")
    for driver in (forced,) if forced else STORAGE_DRIVERS:
        storage = StorageOptions(
            root=str(folder / driver / "root"),
            runroot=str(folder / driver / "run"),
            storage_driver=driver,
        )
        try:
            check_storage(Buildah(storage=storage))
        except BuildahError as error:
            log.warning("storage driver %s does not work here: %s", driver, error)
            failures.append(f"{driver}: {error.message}")
            remove_storage(storage)
            continue
        log.info("test storage uses the %s driver in %s", driver, folder)
        return storage
    raise RuntimeError("no buildah storage driver works: " + "; ".join(failures))


def check_storage(buildah: Buildah) -> None:
    """Create, mount and remove an empty container, as every build does."""
    container = buildah.from_image("scratch")
    try:
        buildah.mount(container)
    finally:
        buildah.remove_containers([container])


def remove_storage(storage: StorageOptions) -> None:
    """Remove all containers from a storage, which unmounts them as well."""
    buildah = Buildah(storage=storage)
    for args in (("rm", "--all"), ("umount", "--all")):
        try:
            buildah.call(*args)
        except BuildahError as error:
            log.warning("buildah %s failed in the test storage: %s", args, error)


def delete_folder(folder: Path) -> None:
    """Delete the storage folder, but never through a mount point inside it."""
    remaining = unmount_below(folder)
    if remaining:
        log.error(
            "left %s in place because these are still mounted: %s", folder, remaining
        )
        return
    shutil.rmtree(folder, ignore_errors=True)
