"""Watch mode in the app, on real busybox builds of a temporary context."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.breakpoints import Breakpoint, Position
from engine.buildah import Buildah
from engine.runner import BuildRequest, State
from tests.tui.live_helpers import wait_until
from tests.tui.snapshot_scenes import settle
from tui.app import StagescopeApp
from tui.factory import create_app
from tui.watching import WatchSource
from tui.widgets.findings import FindingsPanel
from tui.widgets.watch_panel import WatchPanel

CONTAINERFILE = """\
FROM {image} AS build
WORKDIR /src
COPY input.txt ./
RUN wc -c input.txt > count.txt

FROM {image}
COPY --from=build /src/count.txt /count.txt
"""

SLOW_RUN = "RUN sleep 3 && wc -c input.txt > count.txt"
ENV_FROM_ARG = "ARG MODE=demo\nENV MODE=${MODE}\n"
"""Lines 8 and 9 of the edited file: an ENV that takes an ARG's value with no
RUN after it, which the pre-flight check warns about."""


def watch_text(app: StagescopeApp) -> str:
    return str(app.build_screen.query_one(WatchPanel).render())


def notifications(app: StagescopeApp) -> list[str]:
    return [notification.message for notification in app._notifications]


@pytest.fixture
def context(tmp_path: Path, busybox_image: str) -> Path:
    folder = tmp_path / "context"
    folder.mkdir()
    (folder / "Containerfile").write_text(CONTAINERFILE.format(image=busybox_image))
    (folder / "input.txt").write_text("hello\n")
    return folder


@pytest.fixture(autouse=True)
def build_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def watch_app(context: Path, buildah: Buildah, tmp_path: Path) -> StagescopeApp:
    request = BuildRequest(
        context=context, containerfile=context / "Containerfile", buildah=buildah
    )
    return create_app(
        request.load_plan(),
        request=request,
        watch=True,
        breakpoints=[Breakpoint("build:4")],
        log_root=tmp_path / "logs",
    )


async def test_watch_rebuilds_on_save(
    context: Path, buildah: Buildah, tmp_path: Path
) -> None:
    containers_before = {container["id"] for container in buildah.containers()}
    app = watch_app(context, buildah, tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        model = app.model
        assert model.state is State.PAUSED
        assert model.paused_at == Position(0, 4)
        assert "first build" in watch_text(app)
        await pilot.press("c")
        await settle(pilot)
        assert model.state is State.FINISHED

        (context / "input.txt").write_text("hello, world\n")
        await wait_until(pilot, lambda: model.prediction is not None, "a prediction")
        assert model.prediction is not None
        assert model.prediction.trigger == ("input.txt",)
        assert model.prediction.reason == "COPY input.txt ./ : input.txt changed"
        assert model.predicted(Position(0, 2)) == "cached"
        assert model.predicted(Position(0, 3)) == "rerun"
        assert model.predicted(Position(1, 2)) == "rerun"

        await wait_until(pilot, lambda: model.report is not None, "the rebuild report")
        assert model.state is State.PAUSED
        assert model.paused_at == Position(0, 4), "the breakpoint survives a rebuild"
        assert model.report is not None
        assert model.report.outcome == "paused"
        assert model.report.first_step_seconds is not None
        assert model.report.mispredicted == ()
        text = watch_text(app)
        assert "rebuild 1 · changed: input.txt" in text
        assert "Predicted: from build step 3 (line 3): COPY input.txt ./" in text
        assert "Latency: save → first rebuilt step" in text
        assert "save → paused" in text
        assert "prediction held" in text

        await pilot.press("n")
        await settle(pilot)
        assert model.paused_at == Position(0, 5)
        assert str(app.build_screen.steps.get_row_at(3)[5]) == "miss"
        await pilot.press("c")
        await settle(pilot)
        assert model.state is State.FINISHED
        assert app.build_screen.check_action("rebuild", ()) is False

        # Buildah hashes content, not times: a touch predicts a miss that is a hit.
        os.utime(context / "input.txt")
        await wait_until(pilot, lambda: model.rebuilds == 2, "a second prediction")
        await wait_until(pilot, lambda: model.report is not None, "the second report")
        assert model.report is not None
        assert model.report.mispredicted == ((0, 3, "cached"),)
        assert "prediction wrong: build step 3 was a cache hit" in watch_text(app)
        assert str(app.build_screen.steps.get_row_at(2)[5]) == "hit≠"
        await pilot.press("q")
    containers_after = {container["id"] for container in buildah.containers()}
    assert containers_after == containers_before


async def test_watch_drops_breakpoint_and_quits_clean(
    context: Path, buildah: Buildah, tmp_path: Path
) -> None:
    containers_before = {container["id"] for container in buildah.containers()}
    app = watch_app(context, buildah, tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        model = app.model
        assert model.paused_at == Position(0, 4)
        containerfile = context / "Containerfile"
        text = containerfile.read_text()
        edited = text.replace("RUN wc -c input.txt > count.txt", SLOW_RUN)
        containerfile.write_text(edited + ENV_FROM_ARG)
        await wait_until(
            pilot, lambda: model.running == Position(0, 4), "the slow RUN to start"
        )
        await wait_until(pilot, lambda: bool(model.findings), "the new check")
        assert [(f.line, f.code) for f in model.findings] == [(9, "env-from-arg")]
        assert app.build_screen.query_one(FindingsPanel).display
        assert [event.spec for event in model.dropped] == ["build:4"]
        assert any("breakpoint build:4 dropped" in text for text in notifications(app))
        assert app.source.breakpoints == []
        assert app.building
        await pilot.press("q")
    source = app.source
    assert isinstance(source, WatchSource)
    assert source.watcher.stop_event.is_set()
    assert not source.watcher.is_building()
    containers_after = {container["id"] for container in buildah.containers()}
    assert containers_after == containers_before
