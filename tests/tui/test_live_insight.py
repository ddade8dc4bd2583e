"""Pre-flight findings, sizes and miss reasons in the app, on real builds."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.breakpoints import Position
from engine.buildah import Buildah, StorageOptions
from engine.runner import BuildRequest, State
from tests.tui.snapshot_scenes import settle
from tui.app import StagescopeApp
from tui.factory import create_app
from tui.format import format_size
from tui.main import main
from tui.widgets.findings import FindingsPanel
from tui.widgets.stage_graph import StageNode
from tui.widgets.step_detail import StepDetail
from tui.widgets.step_table import row_key

ENV_FROM_ARG = """\
FROM {image} AS base
ARG VERSION=1.0
ENV APP_VERSION=${{VERSION}}

FROM base
CMD ["cat", "/etc/hostname"]
"""

COPY_ACROSS = """\
FROM {image} AS build
WORKDIR /out
COPY input.txt ./
RUN cp input.txt result.txt

FROM {image}
COPY --from=build /out/result.txt /result.txt
"""


@pytest.fixture(autouse=True)
def build_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def live_app(
    tmp_path: Path, buildah: Buildah, containerfile: str, image: str
) -> StagescopeApp:
    context = tmp_path / "context"
    context.mkdir()
    (context / "Containerfile").write_text(containerfile.format(image=image))
    (context / "input.txt").write_text("twelve bytes")
    request = BuildRequest(
        context=context, containerfile=context / "Containerfile", buildah=buildah
    )
    return create_app(request.load_plan(), request=request, log_root=tmp_path / "logs")


def detail_text(app: StagescopeApp) -> str:
    return str(app.build_screen.query_one(StepDetail).render())


async def test_env_from_arg_finding_shown(
    tmp_path: Path, buildah: Buildah, busybox_image: str
) -> None:
    app = live_app(tmp_path, buildah, ENV_FROM_ARG, busybox_image)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        assert app.model.state is State.FINISHED
        panel = app.build_screen.query_one(FindingsPanel)
        assert panel.display
        assert [(f.severity, f.line, f.code) for f in panel.findings] == [
            ("warning", 3, "env-from-arg")
        ]
        assert "ENV takes its value from ARG VERSION" in str(
            panel.get_option_at_index(0).prompt
        )
        screen = app.build_screen
        screen.point_at(Position(0, 3))
        await pilot.pause()
        assert str(screen.steps.get_row_at(2)[2]) == "3 ▲"
        assert "▲ line 3 warning: ENV takes its value from ARG" in detail_text(app)


async def test_sizes_and_miss_reason_shown(
    tmp_path: Path, buildah: Buildah, busybox_image: str
) -> None:
    app = live_app(tmp_path, buildah, COPY_ACROSS, busybox_image)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        assert app.model.state is State.FINISHED
        screen = app.build_screen
        node = screen.query_one("#stage-0", StageNode)
        notes = str(node.query_one(".notes").render())
        assert "1 file, 12 B, reached the final image" in " ".join(notes.split())
        screen.point_at(Position(0, 4))
        await pilot.pause()
        assert app.model.step_added(app.model.steps[Position(0, 4)]) is not None
        size = app.model.image_size(app.model.steps[Position(0, 4)].image)
        assert size is not None and size > 0
        cell = str(screen.steps.get_cell(row_key(Position(0, 4)), "image"))
        assert cell.endswith(format_size(size))
        assert " · added " in detail_text(app)
        screen.point_at(Position(1, 2))
        await pilot.pause()
        assert "carried 1 file, 12 B from stage build" in detail_text(app)

        (tmp_path / "context" / "input.txt").write_text("thirteen byte")
        await pilot.press("r")
        await settle(pilot)
        assert app.model.state is State.FINISHED
        screen.point_at(Position(0, 3))
        await pilot.pause()
        reason = app.model.miss_reasons.get(Position(0, 3), "")
        assert "input.txt" in reason
        assert f"cache miss: {reason}" in " ".join(detail_text(app).split())


def test_launch_stops_on_check_error(
    tmp_path: Path, buildah_storage: StorageOptions, capsys: pytest.CaptureFixture[str]
) -> None:
    context = tmp_path / "context"
    context.mkdir()
    (context / "Containerfile").write_text("FORM localhost/busybox\n")
    storage = [
        "--root", str(buildah_storage.root),
        "--runroot", str(buildah_storage.runroot),
        "--storage-driver", str(buildah_storage.storage_driver),
    ]  # fmt: skip
    code = main([*storage, "--log-dir", str(tmp_path / "logs"), str(context)])
    error = capsys.readouterr().err
    assert code == 1
    assert error.count("\n") == 1
    assert error.startswith(f"stagescope: error: {context / 'Containerfile'}:1: ")
    assert "(and 1 more error; `stagescope check` lists them)" in error
