"""The diff screen on two real images made in the test storage."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Tree

from engine.buildah import Buildah
from engine.diff import FilesystemDiff, diff_images
from engine.mounts import throwaway_container
from tests.tui.conftest import MakeApp
from tests.tui.snapshot_scenes import wait_for_workers
from tui.screens.actions import ImageSide
from tui.screens.diff import DiffScreen


def commit_with_files(
    buildah: Buildah, base: str, files: dict[str, str], name: str
) -> str:
    """Commit `base` plus `files` as a new image and return its ID."""
    with throwaway_container(buildah, base, "tui-test") as container:
        root = Path(buildah.mount(container))
        for path, text in files.items():
            target = root / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        buildah.call("commit", "--quiet", container, name)
    image = buildah.image_id(name)
    assert image is not None
    return image


@pytest.fixture
def two_images(buildah: Buildah, busybox_image: str) -> Iterator[tuple[str, str]]:
    before = commit_with_files(
        buildah, busybox_image, {"/etc/motd": "hello\n"}, "localhost/tui-before"
    )
    after = commit_with_files(
        buildah,
        before,
        {"/etc/motd": "hello, world\n", "/srv/big.bin": "x" * 5000},
        "localhost/tui-after",
    )
    yield before, after
    buildah.call("rmi", "localhost/tui-after", "localhost/tui-before")


async def test_diff_screen_on_real_images(
    make_app: MakeApp, buildah: Buildah, two_images: tuple[str, str]
) -> None:
    before, after = two_images
    app = make_app("passing")
    async with app.run_test(size=(150, 44)) as pilot:
        await pilot.pause()
        await wait_for_workers(app)
        screen = DiffScreen(
            buildah, ImageSide(before, "before", 0), ImageSide(after, "after", 0)
        )
        await app.push_screen(screen)
        await pilot.pause()
        await wait_for_workers(app)
        await pilot.pause()
        assert screen.result is not None
        assert [e.path for e in screen.result.added] == ["/srv", "/srv/big.bin"]
        assert [m.path for m in screen.result.modified] == ["/etc/motd"]
        tree: Tree[object] = screen.query_one("#diff-tree", Tree)
        labels = [str(node.label) for node in tree.root.children]
        assert labels[0].startswith("+ srv/")
        assert labels[1].startswith("  etc/")
        await pilot.press("end", "e", "down")
        await wait_for_workers(app)
        await pilot.pause()
        assert "-hello\n" in screen.file_diff_text
        assert "+hello, world\n" in screen.file_diff_text
        await pilot.press("escape")
        assert screen is not app.screen


async def test_quit_during_a_diff_waits_for_its_containers(
    make_app: MakeApp, buildah: Buildah, two_images: tuple[str, str]
) -> None:
    before, after = two_images
    containers_before = buildah.container_ids()
    started = threading.Event()
    finished = threading.Event()

    def slow_diff(first: str, second: str) -> FilesystemDiff:
        started.set()
        time.sleep(1.0)
        result = diff_images(buildah, first, second)
        finished.set()
        return result

    app = make_app("passing")
    async with app.run_test(size=(150, 44)) as pilot:
        await pilot.pause()
        await wait_for_workers(app)
        screen = DiffScreen(
            None,
            ImageSide(before, "before", 0),
            ImageSide(after, "after", 0),
            compare=slow_diff,
            compare_file=lambda first, second, path: "",
        )
        await app.push_screen(screen)
        assert started.wait(10)
        await app.action_quit()
        assert finished.is_set()
    assert buildah.container_ids() == containers_before
