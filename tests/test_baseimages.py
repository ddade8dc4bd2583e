"""Tests for the local base images and the `base-images` subcommand."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import pytest
import sh

from engine import baseimages
from engine.baseimages import (
    DEFAULT_DEBIAN_MIRROR,
    BaseImageResult,
    ensure_busybox_image,
    ensure_debian_image,
    find_debian_mirror,
    has_elf_interpreter,
    mounts_below,
    temporary_folder,
)
from engine.buildah import Buildah
from engine.commands import base_images
from engine.errors import StagescopeError


def run_in_image(buildah: Buildah, image: str, *command: str) -> str:
    """Run a command in a new container from `image` and return its output."""
    container = buildah.from_image(image)
    try:
        return buildah.call("run", *buildah.run_options(), container, "--", *command)
    finally:
        buildah.remove_containers([container])


def image_config(buildah: Buildah, image: str) -> dict[str, object]:
    config: dict[str, object] = buildah.inspect_image(image)["OCIv1"]["config"]
    return config


# busybox


def test_busybox_image_runs_shell(buildah: Buildah, busybox_image: str) -> None:
    output = run_in_image(buildah, busybox_image, "/bin/sh", "-c", "echo ok")
    assert output.strip() == "ok"


def test_busybox_applets_link_to_binary(buildah: Buildah, busybox_image: str) -> None:
    for applet in ("/bin/sh", "/usr/bin/env", "/bin/ls"):
        target = run_in_image(
            buildah, busybox_image, "/bin/busybox", "readlink", applet
        )
        assert target.strip() == "/bin/busybox", applet


def test_busybox_image_has_tmp_and_users(buildah: Buildah, busybox_image: str) -> None:
    script = "stat -c %a /tmp && cut -d: -f1,3 /etc/passwd"
    output = run_in_image(buildah, busybox_image, "/bin/sh", "-c", script).split()
    assert output == ["1777", "root:0", "nobody:65534"]


def test_busybox_image_config(buildah: Buildah, busybox_image: str) -> None:
    config = image_config(buildah, busybox_image)
    assert config["Cmd"] == ["/bin/sh"]
    assert f"PATH={baseimages.DEFAULT_PATH}" in config["Env"]  # type: ignore[operator]


def test_busybox_image_made_once(buildah: Buildah, busybox_image: str) -> None:
    image_id = buildah.image_id(busybox_image)
    result = ensure_busybox_image(buildah)
    assert result.created is False
    assert result.image_id == image_id
    assert result.reference == busybox_image


def test_busybox_rejects_dynamic_binary(buildah: Buildah) -> None:
    dynamic = Path(sys.executable).resolve()
    reference = "localhost/stagescope-test-dynamic:latest"
    with pytest.raises(StagescopeError, match="dynamically linked"):
        ensure_busybox_image(buildah, binary=dynamic, reference=reference)
    assert buildah.image_id(reference) is None


def test_busybox_missing_binary_names_package(buildah: Buildah, tmp_path: Path) -> None:
    with pytest.raises(StagescopeError, match="busybox-static"):
        ensure_busybox_image(
            buildah,
            binary=tmp_path / "busybox",
            reference="localhost/stagescope-test-missing:latest",
        )


def test_busybox_failure_removes_container(
    buildah: Buildah, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(root: Path, binary: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(baseimages, "install_busybox", fail)
    before = buildah.container_ids()
    reference = "localhost/stagescope-test-failed:latest"
    with pytest.raises(StagescopeError, match="No space left on device"):
        ensure_busybox_image(buildah, reference=reference)
    assert buildah.container_ids() == before
    assert buildah.image_id(reference) is None


# Debian


def test_debian_image_has_apt_get(buildah: Buildah, debian_image: str) -> None:
    output = run_in_image(buildah, debian_image, "apt-get", "--version")
    assert output.startswith("apt ")


def test_debian_image_runs_bash(buildah: Buildah, debian_image: str) -> None:
    output = run_in_image(buildah, debian_image, "bash", "-c", "echo $BASH_VERSION")
    assert output.strip().startswith("5.")


def test_debian_image_config(buildah: Buildah, debian_image: str) -> None:
    config = image_config(buildah, debian_image)
    assert config["Cmd"] == ["bash"]
    assert f"PATH={baseimages.DEFAULT_PATH}" in config["Env"]  # type: ignore[operator]


def test_debian_image_has_no_apt_caches(buildah: Buildah, debian_image: str) -> None:
    folders = ("/var/cache/apt/archives", "/var/lib/apt/lists")
    files = run_in_image(buildah, debian_image, "find", *folders, "-mindepth", "1")
    assert files.strip() == ""


def test_debian_image_names_release(buildah: Buildah, debian_image: str) -> None:
    output = run_in_image(buildah, debian_image, "cat", "/etc/os-release")
    assert "VERSION_CODENAME=bookworm" in output


def test_debian_image_made_once(buildah: Buildah, debian_image: str) -> None:
    result = ensure_debian_image(buildah)
    assert result.created is False
    assert result.image_id == buildah.image_id(debian_image)


def test_debian_leaves_no_temporary_folder(
    debian_image: str, debootstrap_temporary_root: Path
) -> None:
    leftovers = list(debootstrap_temporary_root.glob("stagescope-debootstrap-*"))
    assert leftovers == []


# Debian mirror discovery


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_mirror_from_deb822_sources(tmp_path: Path) -> None:
    write(
        tmp_path / "sources.list.d" / "debian.sources",
        "Types: deb\n"
        "URIs: http://mirror.example/debian\n"
        "Suites: bookworm bookworm-updates\n"
        "Components: main\n"
        "\n"
        "Types: deb\n"
        "URIs: http://mirror.example/debian-security\n"
        "Suites: bookworm-security\n",
    )
    assert find_debian_mirror(tmp_path) == "http://mirror.example/debian"


def test_mirror_skips_disabled_stanza(tmp_path: Path) -> None:
    write(
        tmp_path / "sources.list.d" / "a.sources",
        "Enabled: no\nTypes: deb\nURIs: http://off.example/debian\nSuites: bookworm\n",
    )
    write(
        tmp_path / "sources.list.d" / "b.sources",
        "Types: deb\nURIs: http://on.example/debian\nSuites: bookworm\n",
    )
    assert find_debian_mirror(tmp_path) == "http://on.example/debian"


def test_mirror_reads_multiline_fields(tmp_path: Path) -> None:
    write(
        tmp_path / "sources.list.d" / "debian.sources",
        "Types: deb deb-src\n"
        "URIs: https://mirror.example/debian\n"
        "Suites: bookworm\n"
        "Signed-By:\n"
        " -----BEGIN PGP PUBLIC KEY BLOCK-----\n"
        " .\n"
        " mQINBGPL\n"
        " -----END PGP PUBLIC KEY BLOCK-----\n",
    )
    assert find_debian_mirror(tmp_path) == "https://mirror.example/debian"


def test_mirror_from_one_line_sources(tmp_path: Path) -> None:
    write(
        tmp_path / "sources.list",
        "# deb http://commented.example/debian bookworm main\n"
        "deb-src http://source.example/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] "
        "http://list.example/debian bookworm main\n",
    )
    assert find_debian_mirror(tmp_path) == "http://list.example/debian"


def test_mirror_sources_list_comes_first(tmp_path: Path) -> None:
    write(tmp_path / "sources.list", "deb http://first.example/debian bookworm main\n")
    write(
        tmp_path / "sources.list.d" / "z.list",
        "deb http://second.example/debian bookworm main\n",
    )
    assert find_debian_mirror(tmp_path) == "http://first.example/debian"


def test_mirror_ignores_other_file_names(tmp_path: Path) -> None:
    write(
        tmp_path / "sources.list.d" / "old.list.disabled",
        "deb http://disabled.example/debian bookworm main\n",
    )
    assert find_debian_mirror(tmp_path) == DEFAULT_DEBIAN_MIRROR


def test_mirror_needs_matching_suite(tmp_path: Path) -> None:
    write(tmp_path / "sources.list", "deb http://ubuntu.example/ubuntu jammy main\n")
    assert find_debian_mirror(tmp_path) == DEFAULT_DEBIAN_MIRROR


# helpers


def test_has_elf_interpreter_static_busybox() -> None:
    busybox = baseimages.BUSYBOX_BINARY
    if not busybox.is_file():
        pytest.skip(f"{busybox} is not installed: run scripts/install")
    assert has_elf_interpreter(busybox) is False


def test_has_elf_interpreter_dynamic_python() -> None:
    assert has_elf_interpreter(Path(sys.executable).resolve()) is True


def test_has_elf_interpreter_rejects_text(tmp_path: Path) -> None:
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\n")
    with pytest.raises(ValueError, match="ELF"):
        has_elf_interpreter(script)


def test_temporary_folder_removed_on_error() -> None:
    with pytest.raises(RuntimeError), temporary_folder("stagescope-test-") as folder:
        (folder / "file").write_text("data")
        raise RuntimeError("step failed")
    assert not folder.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_temporary_folder_unmounts_first() -> None:
    with temporary_folder("stagescope-test-") as folder:
        inner = folder / "rootfs" / "proc"
        inner.mkdir(parents=True)
        sh.Command("mount")("-t", "tmpfs", "tmpfs", str(inner))
        assert mounts_below(folder) == [str(inner)]
    assert mounts_below(folder) == []
    assert not folder.exists()


def test_temporary_folder_kept_while_mounted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(baseimages, "unmount_below", lambda folder: ["/mounted"])
    with temporary_folder("stagescope-test-") as folder:
        pass
    assert folder.exists()
    shutil.rmtree(folder)


# command line


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="stagescope")
    base_images.register(parser.add_subparsers())
    return parser.parse_args(argv)


def test_command_parses_options() -> None:
    args = parse("base-images", "--debian", "--mirror", "http://m.example/debian")
    assert args.handler is base_images.run
    assert args.debian is True
    assert args.mirror == "http://m.example/debian"


def test_command_reports_existing_image(
    buildah: Buildah, busybox_image: str, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = buildah.storage
    args = parse(
        "base-images",
        "--root",
        str(storage.root),
        "--runroot",
        str(storage.runroot),
        "--storage-driver",
        str(storage.storage_driver),
    )
    assert args.handler(args) == 0
    output = capsys.readouterr().out
    assert f"{busybox_image}: already present as" in output
    assert "debian" not in output


def test_command_report_shows_seconds(capsys: pytest.CaptureFixture[str]) -> None:
    base_images.report(BaseImageResult("localhost/x:latest", "ab" * 32, True, 12.34))
    assert (
        capsys.readouterr().out == "localhost/x:latest: made abababababab in 12.3 s\n"
    )
