"""Tests of `stagescope shell`: helpers on folders, then real containers."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from engine import cli
from engine.buildah import Buildah
from engine.shell import (
    HISTORY_FILE,
    ShellContext,
    ShellPlan,
    find_shell,
    format_banner,
    run_shell,
    write_history,
)

ImageBuilder = Callable[[Path, str, str], str]
"""The `build_image` fixture: builds a Containerfile text in a folder as a name."""

REPOSITORY = Path(__file__).resolve().parent.parent

# Helpers on folders


def make_executable(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!binary\n")
    path.chmod(0o755)


def test_find_shell_prefers_bash(tmp_path: Path) -> None:
    make_executable(tmp_path / "bin" / "bash")
    make_executable(tmp_path / "bin" / "sh")
    assert find_shell(str(tmp_path)) == "/bin/bash"


def test_find_shell_absolute_symlink_inside_root(tmp_path: Path) -> None:
    make_executable(tmp_path / "bin" / "busybox")
    (tmp_path / "bin" / "sh").symlink_to("/bin/busybox")
    assert find_shell(str(tmp_path)) == "/bin/sh"


def test_find_shell_none_without_shell(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "sh").write_text("not executable")
    assert find_shell(str(tmp_path)) is None


def test_write_history_file_and_modes(tmp_path: Path) -> None:
    assert write_history(str(tmp_path), "make install\n")
    history = tmp_path / HISTORY_FILE.lstrip("/")
    assert history.read_text() == "make install\n"
    assert history.stat().st_mode & 0o777 == 0o666
    assert history.parent.stat().st_mode & 0o7777 == 0o777


def test_write_history_existing_folder_fails_softly(tmp_path: Path) -> None:
    (tmp_path / HISTORY_FILE.lstrip("/")).parent.mkdir()
    assert not write_history(str(tmp_path), "make")


def plan(toolbox: bool, history: bool = False) -> ShellPlan:
    return ShellPlan(
        image_id="0123456789abcdef0123",
        container="c",
        argv=("buildah",),
        shell="/bin/sh",
        toolbox_image="localhost/stagescope-toolbox:latest" if toolbox else None,
        history_written=history,
    )


def test_format_banner_with_context() -> None:
    context = ShellContext(
        stage="build",
        step=4,
        instruction="RUN make \\\n  install",
        failing_command="make install",
    )
    text = format_banner(plan(toolbox=False, history=True), context, True)
    assert "stage:       build" in text
    assert "step:        4" in text
    assert "instruction: RUN make \\ ..." in text
    assert "image:       0123456789ab" in text
    assert "toolbox:     no" in text
    assert "(Up arrow)" in text
    assert "    make install" in text


def test_format_banner_toolbox() -> None:
    text = format_banner(plan(toolbox=True), ShellContext(), False)
    assert "toolbox:     yes" in text
    assert "/stage" in text
    assert "stage:" not in text
    assert "thrown away" not in text


# Real containers

SHELL_CONTAINERFILE = """\
FROM {base}
ENV GREETING=hello
WORKDIR /data
RUN echo original > /data/file
"""

SCRATCH_CONTAINERFILE = """\
FROM scratch
COPY hello.txt /hello.txt
"""


@pytest.fixture(scope="module")
def shell_image(
    build_image: ImageBuilder,
    busybox_image: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> str:
    folder = tmp_path_factory.mktemp("shell-image")
    containerfile = SHELL_CONTAINERFILE.format(base=busybox_image)
    return build_image(folder, "localhost/stagescope-test-shell", containerfile)


@pytest.fixture(scope="module")
def scratch_image(
    build_image: ImageBuilder, tmp_path_factory: pytest.TempPathFactory
) -> str:
    folder = tmp_path_factory.mktemp("scratch-image")
    (folder / "hello.txt").write_text("hello from scratch\n")
    name = "localhost/stagescope-test-scratch"
    return build_image(folder, name, SCRATCH_CONTAINERFILE)


@pytest.fixture()
def containers_before(buildah: Buildah) -> set[str]:
    """Return the IDs of the working containers that exist before the test."""
    return buildah.container_ids()


def storage_args(buildah: Buildah) -> list[str]:
    args = buildah.storage.global_args()
    if buildah.isolation:
        args += ["--isolation", buildah.isolation]
    return args


def shell_cli(buildah: Buildah, image: str, *command: str) -> int:
    return cli.main(["shell", image, *storage_args(buildah), "--", *command])


@pytest.mark.buildah
def test_shell_command_sees_image_files(
    containers_before: set[str],
    buildah: Buildah,
    shell_image: str,
    capfd: pytest.CaptureFixture[str],
) -> None:
    status = shell_cli(buildah, shell_image, "cat", "/data/file")
    captured = capfd.readouterr()
    assert status == 0
    assert captured.out == "original\n"
    assert "toolbox:     no" in captured.err
    assert buildah.container_ids() == containers_before


@pytest.mark.buildah
def test_shell_command_uses_image_config(
    buildah: Buildah, shell_image: str, capfd: pytest.CaptureFixture[str]
) -> None:
    status = shell_cli(buildah, shell_image, "sh", "-c", 'echo "$GREETING"; pwd')
    assert status == 0
    assert capfd.readouterr().out == "hello\n/data\n"


@pytest.mark.buildah
def test_shell_command_exit_status(
    containers_before: set[str],
    buildah: Buildah,
    shell_image: str,
    capfd: pytest.CaptureFixture[str],
) -> None:
    assert shell_cli(buildah, shell_image, "sh", "-c", "exit 7") == 7
    assert buildah.container_ids() == containers_before


@pytest.mark.buildah
def test_shell_changes_never_reach_image(
    containers_before: set[str],
    buildah: Buildah,
    shell_image: str,
    capfd: pytest.CaptureFixture[str],
) -> None:
    image_id = buildah.image_id(shell_image)
    command = "echo changed > /data/file; touch /data/new"
    assert shell_cli(buildah, shell_image, "sh", "-c", command) == 0
    capfd.readouterr()
    status = shell_cli(buildah, shell_image, "sh", "-c", "cat /data/file; ls /data")
    assert status == 0
    assert capfd.readouterr().out == "original\nfile\n"
    assert buildah.image_id(shell_image) == image_id
    assert buildah.container_ids() == containers_before


@pytest.mark.buildah
def test_shell_toolbox_for_scratch_image(
    containers_before: set[str],
    buildah: Buildah,
    scratch_image: str,
    capfd: pytest.CaptureFixture[str],
) -> None:
    status = shell_cli(buildah, scratch_image, "cat", "/stage/hello.txt")
    captured = capfd.readouterr()
    assert status == 0
    assert captured.out == "hello from scratch\n"
    assert "toolbox:     yes" in captured.err
    assert buildah.container_ids() == containers_before
    assert buildah.call("mount").strip() == ""


@pytest.mark.buildah
def test_shell_toolbox_works_in_stage(
    buildah: Buildah, scratch_image: str, capfd: pytest.CaptureFixture[str]
) -> None:
    assert shell_cli(buildah, scratch_image, "sh", "-c", "pwd; ls") == 0
    assert capfd.readouterr().out == "/stage\nhello.txt\n"


@contextmanager
def stdin_from(path: Path) -> Iterator[None]:
    """Point file descriptor 0, which the shell inherits, at a file."""
    saved = os.dup(0)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.dup2(fd, 0)
        yield
    finally:
        os.dup2(saved, 0)
        os.close(saved)
        os.close(fd)


@pytest.mark.buildah
def test_shell_failing_command_in_history(
    containers_before: set[str],
    buildah: Buildah,
    shell_image: str,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    script = tmp_path / "input"
    script.write_text('echo "$HISTFILE"; cat "$HISTFILE"\n')
    context = ShellContext(stage="test", step=2, failing_command="make install")
    banner = io.StringIO()
    with stdin_from(script):
        status = run_shell(buildah, shell_image, context, banner=banner)
    assert status == 0
    assert capfd.readouterr().out == f"{HISTORY_FILE}\nmake install\n"
    assert "    make install" in banner.getvalue()
    assert buildah.container_ids() == containers_before


@pytest.mark.buildah
def test_shell_unknown_image_error(
    buildah: Buildah, capfd: pytest.CaptureFixture[str]
) -> None:
    status = shell_cli(buildah, "localhost/no-such-image", "true")
    error = capfd.readouterr().err
    assert status != 0
    assert error.count("\n") == 1
    assert "'localhost/no-such-image' not found" in error


def shell_process(
    buildah: Buildah, image: str, *command: str
) -> subprocess.Popen[bytes]:
    code = "import sys; from engine.cli import main; sys.exit(main(sys.argv[1:]))"
    argv = [sys.executable, "-c", code, "shell", "--quiet", image]
    return subprocess.Popen(
        [*argv, *storage_args(buildah), "--", *command],
        cwd=REPOSITORY,
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_for_container(
    buildah: Buildah, existing: set[str], timeout: float = 30.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if buildah.container_ids() - existing:
            return
        time.sleep(0.2)
    raise AssertionError("the shell's container did not appear")


@pytest.mark.buildah
@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGHUP])
def test_shell_signal_removes_container(
    containers_before: set[str],
    buildah: Buildah,
    shell_image: str,
    number: signal.Signals,
) -> None:
    process = shell_process(buildah, shell_image, "sleep", "60")
    try:
        wait_for_container(buildah, containers_before)
        # Let `buildah run` start the command after the container exists.
        time.sleep(1.0)
        process.send_signal(number)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 128 + number
    assert f"stopped by {number.name}" in stderr.decode()
    assert buildah.container_ids() == containers_before
