"""Check that the test suite leaves its buildah storage clean.

conftest.py moves this test after all others, so a test (or the code it
exercises) that leaves a working container or a mount behind makes it fail.
"""

from engine.baseimages import mounts_below
from engine.buildah import Buildah, StorageOptions


def test_storage_left_clean(buildah: Buildah, buildah_storage: StorageOptions) -> None:
    containers = [
        f"{container.get('containername')} ({container.get('id', '')[:12]})"
        for container in buildah.containers()
    ]
    assert containers == [], "tests left working containers behind"

    mounted = buildah.call("mount").strip()
    assert mounted == "", "tests left containers mounted"

    assert buildah_storage.root is not None
    assert mounts_below(buildah_storage.root) == [], "mounts left in the storage"
