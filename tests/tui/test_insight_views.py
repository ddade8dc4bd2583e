"""The findings, insight and teaching views on a replayed first build."""

from __future__ import annotations

from pathlib import Path

from engine.breakpoints import Position
from tests.tui import insight_scenes
from tests.tui.snapshot_scenes import settle
from tui.screens.build import BuildScreen
from tui.widgets.findings import FindingsPanel
from tui.widgets.stage_graph import StageNode
from tui.widgets.step_detail import StepDetail
from tui.widgets.teaching import TeachingPanel

SIZE = (160, 48)


def detail_text(screen: BuildScreen) -> str:
    return str(screen.query_one(StepDetail).render())


async def test_stage_summaries_in_graph(tmp_path: Path) -> None:
    app = insight_scenes.insight_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        nodes = {node.stage.label: node for node in app.screen.query(StageNode)}
        build_notes = str(nodes["build"].query_one(".notes").render())
        assert "build 2.2 MB; 1 file, 27 B, reached the final image" in build_notes
        edges = [str(label.render()) for _, _, label in nodes["final"].edge_labels]
        assert "══ COPY --from build  :22  1 file, 27 B" in edges
        docs_notes = str(nodes["docs"].query_one(".notes").render())
        assert docs_notes == "ℹ 1 info (line 18)"


async def test_step_detail_shows_reason_and_crossing(tmp_path: Path) -> None:
    app = insight_scenes.insight_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.build_screen
        screen.point_at(Position(1, 4))
        await pilot.pause()
        text = detail_text(screen)
        assert "cache miss, rebuilt" in text
        assert "cache miss: an earlier step missed: step 3 (line 10)" in text
        screen.point_at(insight_scenes.COPY_FROM_BUILD)
        await pilot.pause()
        text = detail_text(screen)
        assert "carried 1 file, 27 B from stage build (/out/hello.txt)" in text
        assert "no earlier build of this Containerfile and context" in text
        end = Position(1, app.model.plan.stages[1].step_count + 1)
        screen.point_at(end)
        await pilot.pause()
        assert "build 2.2 MB; 1 file, 27 B, reached the final image" in detail_text(
            screen
        )


async def test_finding_marks_line_and_jumps(tmp_path: Path) -> None:
    app = insight_scenes.insight_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.build_screen
        panel = screen.query_one(FindingsPanel)
        assert panel.display
        assert [finding.line for finding in panel.findings] == [18]
        assert "1 info" in str(panel.border_title)
        panel.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert screen.steps.selected == Position(3, 1)
        assert screen.focused is screen.steps
        line_cell = screen.steps.get_row_at(0)[2]
        assert str(line_cell) == "18 ℹ"
        assert "ℹ line 18 info: stage 'docs' is not needed" in detail_text(screen)


async def test_teaching_panel_toggles(tmp_path: Path) -> None:
    app = insight_scenes.insight_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.build_screen
        panel = screen.query_one(TeachingPanel)
        assert not panel.display
        assert screen.check_action("toggle_teaching", ()) is True
        await pilot.press("t")
        assert panel.display
        await pilot.press("t")
        assert not panel.display


async def test_teaching_explains_from_as(tmp_path: Path) -> None:
    app = insight_scenes.insight_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.build_screen
        screen.point_at(Position(1, 1))
        await pilot.press("t")
        text = screen.query_one(TeachingPanel).text
        assert "Line 8 · FROM" in text
        assert (
            "FROM base starts stage 1, named build, from the finished image of "
            "stage base" in text
        )
        assert "its ARGs do not" in text
        assert "Later stages use it: final (line 22, COPY --from)" in text
        screen.point_at(Position(0, 1))
        await pilot.pause()
        text = screen.query_one(TeachingPanel).text
        assert "FROM localhost/busybox starts stage 0, named base, from the image" in (
            " ".join(text.split())
        )


async def test_teaching_explains_copy_from(tmp_path: Path) -> None:
    app = insight_scenes.insight_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await insight_scenes.show_teaching(pilot)
        text = " ".join(app.build_screen.query_one(TeachingPanel).text.split())
        assert "Line 22 · COPY --from" in text
        assert (
            "COPY --from=build copies /out/hello.txt out of the finished image of "
            "stage build into /app/hello.txt of stage final" in text
        )
        assert "In the last build it carried 1 file, 27 B of build's 2.2 MB" in text
        assert "Left behind: build 2.2 MB, of which 1 file, 27 B crossed" in text


async def test_teaching_explains_arg_scope(tmp_path: Path) -> None:
    app = insight_scenes.insight_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.build_screen
        screen.point_at(Position(1, 5))
        await pilot.press("t")
        text = " ".join(screen.query_one(TeachingPanel).text.split())
        assert "ARGs of stage build here: FAIL='0'" in text
        screen.point_at(Position(4, 4))
        await pilot.pause()
        text = " ".join(screen.query_one(TeachingPanel).text.split())
        assert "ENV GREETING is saved in stage final's image" in text


async def test_palette_and_help_list_explain(tmp_path: Path) -> None:
    app = insight_scenes.insight_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        titles = {command.title for command in app.get_system_commands(app.screen)}
        assert "Explain" in titles
        binding = next(b for b in BuildScreen.BINDINGS if b.id == "stagescope.teaching")
        assert binding.key == "t"
        assert binding.description == "Explain"
