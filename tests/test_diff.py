"""Tests of the filesystem diff: diff_trees on folders, then real images."""

from __future__ import annotations

import io
import json
import os
import socket
import stat
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from engine import cli
from engine.buildah import Buildah
from engine.commands.diff import print_file_diff, print_report
from engine.diff import (
    DiffError,
    Entry,
    FilesystemDiff,
    Modification,
    diff_file,
    diff_image_file,
    diff_images,
    diff_trees,
    human_size,
)
from engine.errors import StagescopeError
from engine.mounts import resolve_in_root

ImageBuilder = Callable[[Path, str, str], str]
"""The `build_image` fixture: builds a Containerfile text in a folder as a name."""

# Folder trees


@pytest.fixture()
def trees(tmp_path: Path) -> tuple[Path, Path]:
    """Return two folders with the same small tree and the same times."""
    tree_a = tmp_path / "a"
    tree_b = tmp_path / "b"
    for tree in (tree_a, tree_b):
        (tree / "etc").mkdir(parents=True)
        (tree / "etc" / "config").write_text("key = value\n")
        (tree / "bin").mkdir()
        (tree / "bin" / "tool").write_bytes(b"\x7fELF" + b"\0" * 60)
        (tree / "bin" / "tool").chmod(0o755)
        (tree / "lib").symlink_to("usr/lib")
        (tree / "usr" / "lib").mkdir(parents=True)
        (tree / "usr" / "lib" / "libx.so").write_bytes(b"x" * 1000)
    copy_times(tree_a, tree_b)
    return tree_a, tree_b


def copy_times(source: Path, target: Path) -> None:
    """Give every path in `target` the times of the same path in `source`."""
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        status = os.lstat(path)
        os.utime(
            target / relative,
            ns=(status.st_atime_ns, status.st_mtime_ns),
            follow_symlinks=False,
        )


def paths(entries: Iterable[Entry]) -> list[str]:
    return [entry.path for entry in entries]


def modified(diff: FilesystemDiff) -> dict[str, tuple[str, ...]]:
    return {change.path: change.changes for change in diff.modified}


def test_diff_trees_identical_trees_empty(trees: tuple[Path, Path]) -> None:
    diff = diff_trees(*trees)
    assert diff.empty
    assert diff.summary.added == 0


def test_diff_trees_added_file(trees: tuple[Path, Path]) -> None:
    (trees[1] / "etc" / "new").write_bytes(b"12345")
    diff = diff_trees(*trees)
    assert paths(diff.added) == ["/etc/new"]
    assert diff.added[0].type == "file"
    assert diff.added[0].size == 5
    assert diff.summary.bytes_added == 5
    assert not diff.removed
    assert not diff.modified


def test_diff_trees_added_folder_lists_children(trees: tuple[Path, Path]) -> None:
    (trees[1] / "opt" / "app").mkdir(parents=True)
    (trees[1] / "opt" / "app" / "a").write_bytes(b"a" * 100)
    (trees[1] / "opt" / "app" / "b").write_bytes(b"b" * 20)
    (trees[1] / "opt" / "link").symlink_to("/etc/shadow")
    diff = diff_trees(*trees)
    assert paths(diff.added) == [
        "/opt",
        "/opt/app",
        "/opt/app/a",
        "/opt/app/b",
        "/opt/link",
    ]
    assert [entry.type for entry in diff.added] == [
        "dir",
        "dir",
        "file",
        "file",
        "symlink",
    ]
    assert diff.summary.added == 5
    assert diff.summary.bytes_added == 120


def test_diff_trees_removed_folder_lists_children(trees: tuple[Path, Path]) -> None:
    (trees[1] / "usr" / "lib" / "libx.so").unlink()
    (trees[1] / "usr" / "lib").rmdir()
    diff = diff_trees(*trees)
    assert paths(diff.removed) == ["/usr/lib", "/usr/lib/libx.so"]
    assert diff.summary.bytes_removed == 1000
    assert modified(diff) == {}


def test_diff_trees_equal_size_content_change(trees: tuple[Path, Path]) -> None:
    config = trees[1] / "etc" / "config"
    status = config.stat()
    config.write_text("key = VALUE\n")
    os.utime(config, ns=(status.st_atime_ns, status.st_mtime_ns))
    diff = diff_trees(*trees)
    assert modified(diff) == {"/etc/config": ("content",)}
    assert diff.modified[0].size_before == diff.modified[0].size_after == 12


def test_diff_trees_mtime_only_not_reported(trees: tuple[Path, Path]) -> None:
    os.utime(trees[1] / "etc" / "config", (1, 1))
    os.utime(trees[1] / "etc", (1, 1))
    diff = diff_trees(*trees)
    assert diff.empty


def test_diff_trees_size_change(trees: tuple[Path, Path]) -> None:
    (trees[1] / "usr" / "lib" / "libx.so").write_bytes(b"x" * 1500)
    diff = diff_trees(*trees)
    change = diff.modified[0]
    assert change.path == "/usr/lib/libx.so"
    assert change.changes == ("content",)
    assert change.size_before == 1000
    assert change.size_after == 1500


def test_diff_trees_large_file_change_at_end(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "big").write_bytes(b"\0" * (3 << 20))
    with open(tmp_path / "b" / "big", "r+b") as file:
        file.seek((3 << 20) - 1)
        file.write(b"\1")
    diff = diff_trees(tmp_path / "a", tmp_path / "b")
    assert modified(diff) == {"/big": ("content",)}


def test_diff_trees_mode_change(trees: tuple[Path, Path]) -> None:
    (trees[1] / "bin" / "tool").chmod(0o4755)
    diff = diff_trees(*trees)
    assert modified(diff) == {"/bin/tool": ("mode",)}


def test_diff_trees_folder_mode_change(trees: tuple[Path, Path]) -> None:
    (trees[1] / "etc").chmod(0o700)
    diff = diff_trees(*trees)
    assert modified(diff) == {"/etc": ("mode",)}


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_diff_trees_owner_change(trees: tuple[Path, Path]) -> None:
    os.chown(trees[1] / "etc" / "config", 1000, 1000)
    os.chown(trees[1] / "lib", 0, 50, follow_symlinks=False)
    diff = diff_trees(*trees)
    assert modified(diff) == {"/etc/config": ("owner",), "/lib": ("owner",)}


def test_diff_trees_symlink_retarget(trees: tuple[Path, Path]) -> None:
    (trees[1] / "lib").unlink()
    (trees[1] / "lib").symlink_to("usr/lib64")
    diff = diff_trees(*trees)
    assert modified(diff) == {"/lib": ("target",)}
    assert diff.modified[0].size_before == len("usr/lib")
    assert diff.modified[0].size_after == len("usr/lib64")


def test_diff_trees_symlink_same_length_retarget(trees: tuple[Path, Path]) -> None:
    (trees[1] / "lib").unlink()
    (trees[1] / "lib").symlink_to("usr/LIB")
    diff = diff_trees(*trees)
    assert modified(diff) == {"/lib": ("target",)}


def test_diff_trees_symlinks_outside_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("x")
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "escape").symlink_to(outside)
        (tmp_path / name / "absolute").symlink_to("/")
    (outside / "secret").write_text("changed")
    diff = diff_trees(tmp_path / "a", tmp_path / "b")
    assert diff.empty


def test_diff_trees_file_to_folder(trees: tuple[Path, Path]) -> None:
    config = trees[1] / "etc" / "config"
    config.unlink()
    config.mkdir()
    (config / "part").write_text("a = 1\n")
    diff = diff_trees(*trees)
    assert modified(diff) == {"/etc/config": ("mode", "type")}
    assert diff.modified[0].size_before == 12
    assert diff.modified[0].size_after == 0
    assert paths(diff.added) == ["/etc/config/part"]


def test_diff_trees_folder_to_file(trees: tuple[Path, Path]) -> None:
    folder = trees[1] / "usr" / "lib"
    (folder / "libx.so").unlink()
    folder.rmdir()
    folder.write_text("now a file")
    folder.chmod(0o755)
    diff = diff_trees(*trees)
    assert modified(diff) == {"/usr/lib": ("type",)}
    assert paths(diff.removed) == ["/usr/lib/libx.so"]


def test_diff_trees_file_to_symlink(trees: tuple[Path, Path]) -> None:
    tool = trees[1] / "bin" / "tool"
    tool.unlink()
    tool.symlink_to("busybox")
    diff = diff_trees(*trees)
    assert "type" in modified(diff)["/bin/tool"]


def test_diff_trees_fifo_and_socket(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        os.mkfifo(tmp_path / name / "pipe", 0o644)
    os.mkfifo(tmp_path / "b" / "new-pipe")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(tmp_path / "b" / "sock"))
        (tmp_path / "b" / "pipe").chmod(0o600)
        diff = diff_trees(tmp_path / "a", tmp_path / "b")
    assert [(e.path, e.type) for e in diff.added] == [
        ("/new-pipe", "fifo"),
        ("/sock", "socket"),
    ]
    assert modified(diff) == {"/pipe": ("mode",)}


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")
def test_diff_trees_device_number_change(tmp_path: Path) -> None:
    for name, minor in (("a", 3), ("b", 5)):
        (tmp_path / name).mkdir()
        os.mknod(tmp_path / name / "dev", 0o666 | stat.S_IFCHR, os.makedev(1, minor))
        os.mknod(tmp_path / name / "blk", 0o660 | stat.S_IFBLK, os.makedev(7, 0))
    diff = diff_trees(tmp_path / "a", tmp_path / "b")
    assert modified(diff) == {"/dev": ("content",)}


def test_diff_trees_root_mode_change(trees: tuple[Path, Path]) -> None:
    trees[1].chmod(0o700)
    diff = diff_trees(*trees)
    assert modified(diff) == {"/": ("mode",)}


def test_diff_trees_workers_match_single_process(tmp_path: Path) -> None:
    for name in ("a", "b"):
        for top in range(6):
            for sub in range(8):
                folder = tmp_path / name / f"d{top}" / f"s{sub}"
                folder.mkdir(parents=True)
                for index in range(3):
                    (folder / f"f{index}").write_text(f"{top} {sub} {index}\n")
    (tmp_path / "b" / "d1" / "s2" / "f0").write_text("1 2 X\n")
    (tmp_path / "b" / "d5" / "s7" / "f2").unlink()
    (tmp_path / "b" / "d3" / "extra").mkdir()
    single = diff_trees(tmp_path / "a", tmp_path / "b", workers=1)
    parallel = diff_trees(tmp_path / "a", tmp_path / "b", workers=2)
    assert parallel == single
    assert modified(single) == {"/d1/s2/f0": ("content",)}
    assert paths(single.removed) == ["/d5/s7/f2"]
    assert paths(single.added) == ["/d3/extra"]


def test_diff_trees_missing_root_error(tmp_path: Path) -> None:
    with pytest.raises(DiffError, match="not found"):
        diff_trees(tmp_path / "missing", tmp_path)


def test_diff_trees_json_shape(trees: tuple[Path, Path]) -> None:
    (trees[1] / "etc" / "new").write_text("new\n")
    (trees[1] / "bin" / "tool").unlink()
    (trees[1] / "etc" / "config").write_text("key = other value\n")
    data = json.loads(json.dumps(diff_trees(*trees).to_json()))
    assert set(data) == {"added", "removed", "modified", "summary"}
    assert data["added"] == [{"path": "/etc/new", "type": "file", "size": 4}]
    assert data["removed"] == [{"path": "/bin/tool", "type": "file", "size": 64}]
    assert data["modified"] == [
        {
            "path": "/etc/config",
            "changes": ["content"],
            "size_before": 12,
            "size_after": 18,
        }
    ]
    assert data["summary"] == {
        "added": 1,
        "removed": 1,
        "modified": 1,
        "bytes_added": 4,
        "bytes_removed": 64,
    }


def test_human_size_units() -> None:
    assert human_size(0) == "0 B"
    assert human_size(1023) == "1023 B"
    assert human_size(1536) == "1.5 KiB"
    assert human_size(5 << 20) == "5.0 MiB"


def sample_diff() -> FilesystemDiff:
    return FilesystemDiff(
        added=(
            Entry("/opt", "dir", 0),
            Entry("/opt/app", "file", 5000),
            Entry("/opt/lib", "dir", 0),
            Entry("/opt/lib/x.so", "file", 3000),
        ),
        removed=(Entry("/etc/old.conf", "file", 10),),
        modified=(
            Modification("/bin/sh", ("mode",), 100, 100),
            Modification("/etc/passwd", ("content",), 500, 520),
        ),
    )


def test_print_report_largest_first() -> None:
    output = io.StringIO()
    print_report(sample_diff(), ("a", "b"), 20, output)
    lines = output.getvalue().splitlines()
    assert "  added:    4 paths, 7.8 KiB in files" in lines
    assert "  removed:  1 path, 10 B in files" in lines
    tree = lines[
        lines.index("+ added, - removed, ~ modified; sizes are bytes changed") + 1 :
    ]
    assert tree == [
        "+ /opt/  dir with 3 paths below, 7.8 KiB",
        "  /etc/  2 paths changed, 530 B",
        "~     passwd  content, 500 B -> 520 B",
        "-     old.conf  file, 10 B",
        "~ /bin/sh  mode",
    ]


def test_print_report_limit_hides_rest() -> None:
    output = io.StringIO()
    print_report(sample_diff(), ("a", "b"), 1, output)
    text = output.getvalue()
    assert "+ /opt/" in text
    assert "/etc/" not in text
    assert "... 2 more with 3 paths changed, 530 B; --limit 0 shows all" in text


def test_print_file_diff_binary_sizes(trees: tuple[Path, Path]) -> None:
    (trees[1] / "bin" / "tool").write_bytes(b"\x7fELF" + b"\0" * 100)
    output = io.StringIO()
    result = diff_file(str(trees[0]), str(trees[1]), "/bin/tool")
    print_file_diff(result, ("a", "b"), output)
    assert output.getvalue() == "/bin/tool: binary; 64 B -> 104 B (+40 B)\n"


# One file and paths inside a root


def test_resolve_in_root_absolute_symlink_stays_inside(tmp_path: Path) -> None:
    (tmp_path / "usr" / "bin").mkdir(parents=True)
    (tmp_path / "usr" / "bin" / "dash").write_text("")
    (tmp_path / "bin").symlink_to("/usr/bin")
    (tmp_path / "usr" / "bin" / "sh").symlink_to("/usr/bin/dash")
    resolved = resolve_in_root(str(tmp_path), "/bin/sh")
    assert resolved == str(tmp_path / "usr" / "bin" / "dash")


def test_resolve_in_root_dotdot_stops_at_root(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "up").symlink_to("../../../../etc")
    assert resolve_in_root(str(tmp_path), "/etc/up") == str(tmp_path / "etc")


def test_resolve_in_root_missing_and_loop(tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to("loop")
    (tmp_path / "file").write_text("")
    assert resolve_in_root(str(tmp_path), "/missing") is None
    assert resolve_in_root(str(tmp_path), "/loop") is None
    assert resolve_in_root(str(tmp_path), "/file/below") is None


def test_diff_file_text_unified(trees: tuple[Path, Path]) -> None:
    (trees[1] / "etc" / "config").write_text("key = value\nmore = 1\n")
    result = diff_file(str(trees[0]), str(trees[1]), "/etc/config")
    assert result.unified is not None
    assert "+more = 1" in result.unified
    assert "a:/etc/config" in result.unified
    assert not result.identical


def test_diff_file_binary_sizes(trees: tuple[Path, Path]) -> None:
    (trees[1] / "bin" / "tool").write_bytes(b"\x7fELF" + b"\0" * 100)
    result = diff_file(str(trees[0]), str(trees[1]), "/bin/tool")
    assert result.unified is None
    assert result.not_text == "binary"
    assert result.before is not None
    assert result.before.size == 64
    assert result.after is not None
    assert result.after.size == 104


def test_diff_file_through_symlinked_folder(trees: tuple[Path, Path]) -> None:
    (trees[1] / "usr" / "lib" / "libx.so").write_bytes(b"y" * 1000)
    result = diff_file(str(trees[0]), str(trees[1]), "/lib/libx.so")
    assert not result.same_content
    assert result.unified is not None
    assert "-" + "x" * 1000 in result.unified


def test_diff_file_mode_only(trees: tuple[Path, Path]) -> None:
    (trees[1] / "bin" / "tool").chmod(0o700)
    result = diff_file(str(trees[0]), str(trees[1]), "/bin/tool")
    assert result.same_content
    assert not result.identical
    assert result.changes == ("mode",)


def test_diff_file_only_in_one_tree(trees: tuple[Path, Path]) -> None:
    (trees[1] / "etc" / "new").write_text("line\n")
    result = diff_file(str(trees[0]), str(trees[1]), "/etc/new")
    assert result.before is None
    assert result.unified is not None
    assert "+line" in result.unified


def test_diff_file_missing_everywhere_error(trees: tuple[Path, Path]) -> None:
    with pytest.raises(DiffError, match="/etc/nothing not found in a or in b"):
        diff_file(str(trees[0]), str(trees[1]), "/etc/nothing")


def test_diff_file_folder_error(trees: tuple[Path, Path]) -> None:
    with pytest.raises(DiffError, match="is a folder"):
        diff_file(str(trees[0]), str(trees[1]), "/etc")


# Real images

CONTAINERFILE_A = """\
FROM {base}
RUN mkdir -p /etc/app && echo 'mode = old' > /etc/app/app.conf \\
    && echo keep > /keep && echo gone > /gone
"""

CONTAINERFILE_B = """\
FROM {base}
RUN mkdir -p /etc/app && echo 'mode = new' > /etc/app/app.conf \\
    && echo keep > /keep && mkdir -p /opt/tool && echo 123456 > /opt/tool/data
"""


@pytest.fixture()
def image_pair(
    build_image: ImageBuilder, busybox_image: str, tmp_path: Path
) -> tuple[str, str]:
    image_a = build_image(
        tmp_path / "a",
        "localhost/stagescope-test-diff-a",
        CONTAINERFILE_A.format(base=busybox_image),
    )
    image_b = build_image(
        tmp_path / "b",
        "localhost/stagescope-test-diff-b",
        CONTAINERFILE_B.format(base=busybox_image),
    )
    return image_a, image_b


@pytest.fixture()
def containers_before(buildah: Buildah) -> set[str]:
    """Return the IDs of the working containers that exist before the test."""
    return buildah.container_ids()


def storage_args(buildah: Buildah) -> list[str]:
    args = buildah.storage.global_args()
    if buildah.isolation:
        args += ["--isolation", buildah.isolation]
    return args


@pytest.mark.buildah
def test_diff_images_engine_api(buildah: Buildah, image_pair: tuple[str, str]) -> None:
    before = buildah.container_ids()
    diff = diff_images(buildah, *image_pair)
    assert modified(diff) == {"/etc/app/app.conf": ("content",)}
    assert paths(diff.removed) == ["/gone"]
    assert paths(diff.added) == ["/opt", "/opt/tool", "/opt/tool/data"]
    assert diff.summary.bytes_added == 7
    assert buildah.container_ids() == before


@pytest.mark.buildah
def test_diff_command_json(
    containers_before: set[str],
    buildah: Buildah,
    image_pair: tuple[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = cli.main(["diff", *image_pair, "--json", *storage_args(buildah)])
    data = json.loads(capsys.readouterr().out)
    assert status == 0
    assert data["summary"]["added"] == 3
    assert data["summary"]["removed"] == 1
    assert data["modified"][0]["path"] == "/etc/app/app.conf"
    assert buildah.container_ids() == containers_before


@pytest.mark.buildah
def test_diff_command_text_report(
    buildah: Buildah,
    image_pair: tuple[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = cli.main(["diff", *image_pair, *storage_args(buildah)])
    output = capsys.readouterr().out
    assert status == 0
    assert "added:    3 paths, 7 B in files" in output
    assert "+ /opt/  dir with 2 paths below, 7 B" in output
    assert "- /gone  file, 5 B" in output


@pytest.mark.buildah
def test_diff_command_path_text_file(
    buildah: Buildah,
    image_pair: tuple[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["diff", *image_pair, "--path", "/etc/app/app.conf"]
    status = cli.main([*args, *storage_args(buildah)])
    output = capsys.readouterr().out
    assert status == 0
    assert "-mode = old" in output
    assert "+mode = new" in output


@pytest.mark.buildah
def test_diff_command_path_missing_error(
    containers_before: set[str],
    buildah: Buildah,
    image_pair: tuple[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["diff", *image_pair, "--path", "/etc/missing"]
    status = cli.main([*args, *storage_args(buildah)])
    error = capsys.readouterr().err
    assert status != 0
    assert error.count("\n") == 1
    assert "/etc/missing not found" in error
    assert "Traceback" not in error
    assert buildah.container_ids() == containers_before


@pytest.mark.buildah
def test_diff_command_unknown_image_error(
    containers_before: set[str],
    buildah: Buildah,
    busybox_image: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["diff", busybox_image, "localhost/no-such-image"]
    status = cli.main([*args, *storage_args(buildah)])
    error = capsys.readouterr().err
    assert status != 0
    assert error.count("\n") == 1
    assert "'localhost/no-such-image' not found" in error
    assert buildah.container_ids() == containers_before


@pytest.mark.buildah
def test_diff_image_file_engine_api(
    containers_before: set[str], buildah: Buildah, image_pair: tuple[str, str]
) -> None:
    result = diff_image_file(buildah, *image_pair, "/keep")
    assert result.identical
    with pytest.raises(StagescopeError, match="not found"):
        diff_image_file(buildah, *image_pair, "/nowhere")
    assert buildah.container_ids() == containers_before
