"""Watch mode: the prediction on plans, the change filter, and real rebuilds.

The real-buildah tests run a Watcher on a context in tmp_path and wait for its
events, each wait bounded by a timeout. Every Containerfile carries the
test's folder name, so that no test hits another's layer cache.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import watchfiles

from engine.breakpoints import Breakpoint, Position
from engine.buildah import Buildah
from engine.events import (
    BreakpointDropped,
    BuildCancelled,
    BuildFinished,
    BuildPaused,
    BuildStarted,
    Event,
    RebuildFinished,
    RebuildPredicted,
    RebuildSkipped,
    StepFinished,
    StepStarted,
    event_from_dict,
)
from engine.ignore import IgnoreRules
from engine.plan import Plan, load_plan
from engine.prediction import follow_breakpoints, follow_positions, predict
from engine.runner import BuildRequest
from engine.watch import (
    ChangeFilter,
    Watcher,
    ignore_file_option,
    is_editor_temporary,
    newest_change_time,
)

ROOT = Path(__file__).resolve().parent.parent
WAIT = 60.0
"""Upper bound for any single wait on a build or a change."""

APP = """\
FROM localhost/busybox AS build
RUN echo one > /one
WORKDIR /src
COPY config.txt ./
RUN cat config.txt > /config.out
COPY . .
RUN cat main.go

FROM localhost/busybox AS unused
COPY main.go /

FROM localhost/busybox
COPY --from=build /src/main.go /main.go
RUN ls /
"""


def plan_of(tmp_path: Path, text: str, name: str = "Containerfile") -> Plan:
    path = tmp_path / name
    path.write_text(text)
    return load_plan(path)


def positions(*pairs: tuple[int, int]) -> frozenset[Position]:
    return frozenset(Position(*pair) for pair in pairs)


# Prediction from changed paths


def test_copy_dot_reruns_dependent_stages(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, APP)
    prediction = predict(plan, ["main.go"], tmp_path, IgnoreRules())
    assert prediction.first_miss == Position(0, 6)
    assert prediction.reason == "COPY . . : main.go changed"
    assert prediction.rerun == positions((0, 6), (0, 7), (2, 2), (2, 3))
    assert prediction.cached == positions((0, 2), (0, 3), (0, 4), (0, 5))


def test_named_source_reruns_from_its_copy(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, APP)
    prediction = predict(plan, ["config.txt"], tmp_path, IgnoreRules())
    assert prediction.first_miss == Position(0, 4)
    assert prediction.reason == "COPY config.txt ./ : config.txt changed"


def test_stages_that_are_not_built_are_left_out(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, APP)
    prediction = predict(plan, ["main.go"], tmp_path, IgnoreRules())
    assert not any(position.stage == 1 for position in prediction.rerun)
    assert not any(position.stage == 1 for position in prediction.cached)


def test_ignored_path_predicts_no_miss(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, APP)
    prediction = predict(plan, ["notes.log"], tmp_path, IgnoreRules.parse("*.log"))
    assert prediction.first_miss is None
    assert prediction.rerun == frozenset()
    assert "no step reads notes.log" in prediction.reason


def test_path_outside_the_context_is_not_copied(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, "FROM localhost/busybox\nCOPY . /app/\n")
    changed = ["../elsewhere/Containerfile"]
    assert predict(plan, changed, tmp_path, IgnoreRules()).first_miss is None


def test_unread_path_predicts_no_miss(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, "FROM localhost/busybox\nCOPY a.txt /\nRUN true\n")
    prediction = predict(plan, ["b.txt"], tmp_path, IgnoreRules())
    assert prediction.first_miss is None
    assert prediction.cached == positions((0, 2), (0, 3))


def test_glob_source_matches_new_and_nested_files(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, "FROM localhost/busybox\nRUN true\nCOPY src/*.go /\n")
    assert predict(plan, ["src/new.go"], tmp_path, IgnoreRules()).first_miss == (0, 3)
    assert predict(plan, ["src/a.txt"], tmp_path, IgnoreRules()).first_miss is None


def test_folder_source_matches_files_below_it(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, "FROM localhost/busybox\nCOPY ./src/ /app/\n")
    assert predict(plan, ["src/x/y.go"], tmp_path, IgnoreRules()).first_miss == (0, 2)
    assert predict(plan, ["srcx/y.go"], tmp_path, IgnoreRules()).first_miss is None


def test_removed_folder_above_a_source_matches(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, "FROM localhost/busybox\nCOPY src/app/main.go /\n")
    assert predict(plan, ["src"], tmp_path, IgnoreRules()).first_miss == (0, 2)


def test_copy_from_a_stage_reads_no_context(tmp_path: Path) -> None:
    text = "FROM localhost/busybox AS a\nRUN true\nFROM localhost/busybox\n"
    text += "COPY --from=a main.go /\n"
    plan = plan_of(tmp_path, text)
    assert predict(plan, ["main.go"], tmp_path, IgnoreRules()).first_miss is None


def test_heredoc_and_url_sources_read_no_context(tmp_path: Path) -> None:
    text = "FROM localhost/busybox\nADD https://example.invalid/x /x\n"
    text += "COPY <<EOF /y\nhello\nEOF\n"
    plan = plan_of(tmp_path, text)
    prediction = predict(plan, ["x", "EOF", "https:"], tmp_path, IgnoreRules())
    assert prediction.first_miss is None


def test_source_with_a_build_arg_is_expanded(tmp_path: Path) -> None:
    text = "FROM localhost/busybox\nARG APP=web\nCOPY ${APP}/ /app/\n"
    plan = plan_of(tmp_path, text)
    assert predict(plan, ["web/x"], tmp_path, IgnoreRules()).first_miss == (0, 3)
    assert predict(plan, ["api/x"], tmp_path, IgnoreRules()).first_miss is None


def test_from_stage_miss_propagates(tmp_path: Path) -> None:
    text = "FROM localhost/busybox AS base\nCOPY a.txt /\n"
    text += "FROM base\nRUN cat /a.txt\nRUN true\n"
    plan = plan_of(tmp_path, text)
    prediction = predict(plan, ["a.txt"], tmp_path, IgnoreRules())
    assert prediction.rerun == positions((0, 2), (1, 2), (1, 3))


def test_mount_from_a_rebuilt_stage_stays_cached(tmp_path: Path) -> None:
    text = "FROM localhost/busybox AS tools\nCOPY tool /\n"
    text += "FROM localhost/busybox\nRUN true\n"
    text += "RUN --mount=type=bind,from=tools,target=/t ls /t\n"
    plan = plan_of(tmp_path, text)
    prediction = predict(plan, ["tool"], tmp_path, IgnoreRules())
    assert prediction.rerun == positions((0, 2))


def test_ignore_rule_change_misses_where_the_copied_files_change(
    tmp_path: Path,
) -> None:
    (tmp_path / "keep.txt").write_text("k")
    (tmp_path / "extra.log").write_text("e")
    plan = plan_of(tmp_path, "FROM localhost/busybox\nRUN true\nCOPY . /c/\n")
    old = IgnoreRules.parse("*.log\n")
    new = IgnoreRules.parse("")
    prediction = predict(plan, [], tmp_path, new, old_rules=old)
    assert prediction.first_miss == (0, 3)
    assert "changed which files it copies" in prediction.reason


def test_carried_steps_stay_predicted(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, APP)
    prediction = predict(plan, [], tmp_path, IgnoreRules(), carried=[Position(0, 5)])
    assert prediction.first_miss == Position(0, 5)
    assert "previous rebuild stopped" in prediction.reason


# Prediction from Containerfile edits


def test_changed_run_line_misses_from_that_line(tmp_path: Path) -> None:
    old = plan_of(tmp_path, APP, "old")
    new = plan_of(tmp_path, APP.replace("RUN cat main.go", "RUN head main.go"), "new")
    prediction = predict(
        new, ["Containerfile"], tmp_path, IgnoreRules.parse("*"), old_plan=old
    )
    assert prediction.first_miss == Position(0, 7)
    assert prediction.reason == "RUN line 7 changed"
    assert prediction.rerun == positions((0, 7), (2, 2), (2, 3))


def test_lines_inserted_above_only_move_instructions(tmp_path: Path) -> None:
    old = plan_of(tmp_path, APP, "old")
    new = plan_of(tmp_path, "# a comment\n\n" + APP, "new")
    prediction = predict(new, [], tmp_path, IgnoreRules(), old_plan=old)
    assert prediction.first_miss is None


def test_inserted_instruction_misses_from_itself(tmp_path: Path) -> None:
    old = plan_of(tmp_path, APP, "old")
    new = plan_of(
        tmp_path, APP.replace("WORKDIR /src\n", "WORKDIR /src\nENV A=1\n"), "new"
    )
    prediction = predict(new, [], tmp_path, IgnoreRules(), old_plan=old)
    assert prediction.first_miss == Position(0, 4)
    assert prediction.reason == "ENV line 4 changed"


def test_changed_base_image_misses_after_from(tmp_path: Path) -> None:
    old = plan_of(tmp_path, "FROM localhost/busybox\nRUN true\n", "old")
    new = plan_of(tmp_path, "FROM localhost/other\nRUN true\n", "new")
    prediction = predict(new, [], tmp_path, IgnoreRules(), old_plan=old)
    assert prediction.first_miss == Position(0, 2)
    assert prediction.reason == "FROM line 1 changed"


def test_removed_last_step_reruns_dependents(tmp_path: Path) -> None:
    text = "FROM localhost/busybox AS a\nRUN echo 1\nRUN echo 2\n"
    text += "FROM localhost/busybox\nRUN true\nCOPY --from=a /x /x\n"
    old = plan_of(tmp_path, text, "old")
    new = plan_of(tmp_path, text.replace("RUN echo 2\n", ""), "new")
    prediction = predict(new, [], tmp_path, IgnoreRules(), old_plan=old)
    assert prediction.rerun == positions((1, 3))


def test_new_stage_pairs_named_stages_by_name(tmp_path: Path) -> None:
    old = plan_of(tmp_path, APP, "old")
    extra = "FROM localhost/busybox AS extra\nRUN echo extra\n\n"
    new = plan_of(tmp_path, extra + APP, "new")
    prediction = predict(new, [], tmp_path, IgnoreRules(), old_plan=old)
    assert all(position.stage != 1 for position in prediction.rerun)


# Breakpoints through edits


def test_line_breakpoint_follows_lines_inserted_above(tmp_path: Path) -> None:
    old = plan_of(tmp_path, APP, "old")
    new = plan_of(tmp_path, "# one\n# two\n" + APP, "new")
    followed = follow_breakpoints(old, new, [Breakpoint("7")])
    assert followed.breakpoints == [Breakpoint("9")]
    assert followed.dropped == []


def test_step_breakpoint_follows_an_inserted_instruction(tmp_path: Path) -> None:
    old = plan_of(tmp_path, APP, "old")
    new = plan_of(
        tmp_path, APP.replace("WORKDIR /src\n", "WORKDIR /src\nENV A=1\n"), "new"
    )
    followed = follow_breakpoints(old, new, [Breakpoint("build:5")])
    assert followed.breakpoints == [Breakpoint("build:6")]


def test_breakpoint_of_a_removed_instruction_is_dropped(tmp_path: Path) -> None:
    old = plan_of(tmp_path, APP, "old")
    new = plan_of(tmp_path, APP.replace("RUN cat main.go\n", ""), "new")
    followed = follow_breakpoints(old, new, [Breakpoint("7"), Breakpoint("build:end")])
    assert followed.breakpoints == [Breakpoint("build:end")]
    assert len(followed.dropped) == 1
    assert "RUN cat main.go" in followed.dropped[0][1]


def test_repeated_instruction_keeps_its_occurrence(tmp_path: Path) -> None:
    text = "FROM localhost/busybox\nRUN true\nRUN true\n"
    old = plan_of(tmp_path, text, "old")
    new = plan_of(
        tmp_path,
        text.replace("FROM localhost/busybox\n", "FROM localhost/busybox\nENV A=1\n"),
        "new",
    )
    assert follow_positions(old, new, [Position(0, 3)]) == [Position(0, 4)]


# Change filter


@pytest.mark.parametrize(
    "name",
    ["main.go.swp", ".main.go.swx", "main.go~", ".#main.go", "#main.go#", "4913",
     "main.go.tmp", "main.go___jb_tmp___", "main.go___jb_old___"],
)  # fmt: skip
def test_editor_temporary_files_are_recognised(name: str) -> None:
    assert is_editor_temporary(name)


def test_ordinary_names_are_not_temporary() -> None:
    assert not is_editor_temporary("main.go")
    assert not is_editor_temporary("#")


def test_filter_rejects_noise_and_keeps_what_matters(tmp_path: Path) -> None:
    containerfile = tmp_path / "Containerfile"
    change_filter = ChangeFilter(tmp_path, containerfile, IgnoreRules.parse("*\n"))
    change = watchfiles.Change.modified
    assert change_filter(change, str(containerfile))
    assert change_filter(change, str(tmp_path / ".containerignore"))
    assert not change_filter(change, str(tmp_path / "main.go"))
    change_filter.rules = IgnoreRules.parse("*.log\n")
    assert change_filter(change, str(tmp_path / "main.go"))
    assert not change_filter(change, str(tmp_path / "build.log"))
    assert not change_filter(change, str(tmp_path / ".git" / "index"))
    assert not change_filter(change, str(tmp_path / "sub" / ".hg" / "x"))
    assert not change_filter(change, str(tmp_path / "main.go.swp"))
    assert not change_filter(change, str(tmp_path.parent / "elsewhere"))


def test_change_time_is_the_newest_modification(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.write_text("a")
    second.write_text("b")
    os.utime(first, (1000.0, 1000.0))
    now = time.time()
    os.utime(second, (now - 0.5, now - 0.5))
    found = newest_change_time([first, second, tmp_path / "gone"], now, 2.0)
    assert found == pytest.approx(now - 0.5)


def test_change_time_ignores_kept_old_times(tmp_path: Path) -> None:
    path = tmp_path / "a"
    path.write_text("a")
    os.utime(path, (1000.0, 1000.0))
    assert newest_change_time([path], 5000.0, 2.0) == 5000.0


def test_ignorefile_option_is_read_from_buildah_options() -> None:
    assert ignore_file_option(["--ignorefile", "x"]) == Path("x")
    assert ignore_file_option(["--ignorefile=y"]) == Path("y")
    assert ignore_file_option(["--jobs", "1"]) is None


def test_watch_events_round_trip_through_json() -> None:
    event = RebuildFinished(
        trigger=("main.go",),
        outcome="finished",
        predicted_first_miss=(0, 4),
        actual_first_miss=(0, 4),
        first_step_seconds=0.2,
        finish_seconds=1.0,
    )
    assert event_from_dict(json.loads(event.to_json())) == event


# Real rebuilds


class Recorder:
    """Collects a watcher's events and lets a test wait for one of them."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.condition = threading.Condition()

    def __call__(self, event: Event) -> None:
        with self.condition:
            self.events.append(event)
            self.condition.notify_all()

    def of(self, kind: type[Event]) -> list[Event]:
        with self.condition:
            return [event for event in self.events if isinstance(event, kind)]

    def wait_for(
        self, kind: type[Event], count: int = 1, where: Callable[[Event], bool] = bool
    ) -> Event:
        """Wait for the `count`-th event of `kind` that `where` accepts; return it."""
        deadline = time.monotonic() + WAIT

        def matching() -> list[Event]:
            return [e for e in self.events if isinstance(e, kind) and where(e)]

        with self.condition:
            while len(matching()) < count:
                remaining = deadline - time.monotonic()
                assert remaining > 0, (
                    f"no {kind.__name__} #{count} in {WAIT} s: {self.events}"
                )
                self.condition.wait(remaining)
            return matching()[count - 1]

    def since(self, start: int) -> list[Event]:
        with self.condition:
            return self.events[start:]


@pytest.fixture
def start_watcher(
    buildah: Buildah, busybox_image: str
) -> Iterator[Callable[..., tuple[Watcher, Recorder]]]:
    """Start a Watcher on a context; stop it and check no container is left."""
    started: list[tuple[Watcher, threading.Thread]] = []
    containers_before = buildah.container_ids()

    def start(
        context: Path, breakpoints: tuple[Breakpoint, ...] = ()
    ) -> tuple[Watcher, Recorder]:
        recorder = Recorder()
        request = BuildRequest(
            context=context,
            containerfile=context / "Containerfile",
            buildah=buildah,
            pull="never",
        )
        watcher = Watcher(request, breakpoints, on_event=recorder)
        thread = watcher.start()
        started.append((watcher, thread))
        assert watcher.ready.wait(WAIT), "the watch did not start"
        assert watcher.error is None
        return watcher, recorder

    yield start
    for watcher, thread in started:
        watcher.stop()
        thread.join(WAIT)
        assert not thread.is_alive(), "the watcher did not stop"
    assert buildah.container_ids() == containers_before


def make_context(tmp_path: Path, containerfile: str, **files: str) -> Path:
    context = tmp_path / "context"
    context.mkdir()
    (context / "Containerfile").write_text(containerfile)
    for name, text in files.items():
        (context / name.replace("__", "/")).write_text(text)
    return context


def rebuilt_steps(events: list[Event]) -> dict[tuple[int, int], bool]:
    return {
        (e.stage, e.step): e.cached
        for e in events
        if isinstance(e, StepFinished) and e.step > 1
    }


@pytest.mark.buildah
def test_editing_a_source_reruns_exactly_from_its_copy(
    tmp_path: Path, start_watcher: Callable[..., tuple[Watcher, Recorder]]
) -> None:
    containerfile = (
        "FROM localhost/busybox\n"
        f"RUN echo {tmp_path.name} > /token\n"
        "WORKDIR /src\n"
        "COPY config.txt ./\n"
        "COPY main.go ./\n"
        "RUN cat main.go\n"
    )
    context = make_context(
        tmp_path, containerfile, **{"config.txt": "c", "main.go": "v1"}
    )
    watcher, recorder = start_watcher(context)
    recorder.wait_for(BuildFinished)
    mark = len(recorder.events)

    (context / "main.go").write_text("v2")

    predicted = recorder.wait_for(RebuildPredicted)
    assert predicted.trigger == ("main.go",)
    assert predicted.first_miss == (0, 5)
    report = recorder.wait_for(RebuildFinished)
    assert report.outcome == "finished"
    assert report.actual_first_miss == (0, 5)
    assert report.mispredicted == ()
    assert report.first_step_seconds is not None
    assert 0 < report.first_step_seconds <= report.finish_seconds
    steps = rebuilt_steps(recorder.since(mark))
    assert steps == {
        (0, 2): True,
        (0, 3): True,
        (0, 4): True,
        (0, 5): False,
        (0, 6): False,
    }
    started = [e for e in recorder.since(mark) if isinstance(e, BuildStarted)]
    assert started[0].trigger == ("main.go",)
    assert started[0].predicted_first_miss == (0, 5)
    assert started[0].reason == "COPY main.go ./ : main.go changed"


@pytest.mark.buildah
def test_editing_an_ignored_file_triggers_nothing(
    tmp_path: Path, start_watcher: Callable[..., tuple[Watcher, Recorder]]
) -> None:
    containerfile = f"FROM localhost/busybox\nRUN echo {tmp_path.name}\nCOPY . /c/\n"
    context = make_context(
        tmp_path,
        containerfile,
        **{".containerignore": "*.log\n", "app.txt": "a", "build.log": "1"},
    )
    (context / ".git").mkdir()
    watcher, recorder = start_watcher(context)
    recorder.wait_for(BuildFinished)

    (context / "build.log").write_text("2")
    (context / ".git" / "index").write_text("x")
    (context / "app.txt.swp").write_text("x")
    (context / "app.txt").write_text("b")

    predicted = recorder.wait_for(RebuildPredicted)
    assert predicted.trigger == ("app.txt",)
    recorder.wait_for(RebuildFinished)
    assert len(recorder.of(RebuildPredicted)) == 1


@pytest.mark.buildah
def test_editing_the_ignore_file_reruns_the_copy_it_changes(
    tmp_path: Path, start_watcher: Callable[..., tuple[Watcher, Recorder]]
) -> None:
    containerfile = (
        f"FROM localhost/busybox\nRUN echo {tmp_path.name}\n"
        "COPY src/ /src/\nRUN ls /src\n"
    )
    context = make_context(
        tmp_path, containerfile, **{".containerignore": "src/*.log\n"}
    )
    (context / "src").mkdir()
    (context / "src" / "app.txt").write_text("a")
    (context / "src" / "debug.log").write_text("d")
    watcher, recorder = start_watcher(context)
    recorder.wait_for(BuildFinished)

    (context / ".containerignore").write_text("# nothing ignored\n")

    predicted = recorder.wait_for(RebuildPredicted)
    assert predicted.trigger == (".containerignore",)
    assert predicted.first_miss == (0, 3)
    assert "changed which files it copies" in predicted.reason
    report = recorder.wait_for(RebuildFinished)
    assert report.actual_first_miss == (0, 3)
    assert report.mispredicted == ()


@pytest.mark.buildah
def test_write_burst_starts_one_rebuild(
    tmp_path: Path, start_watcher: Callable[..., tuple[Watcher, Recorder]]
) -> None:
    containerfile = f"FROM localhost/busybox\nRUN echo {tmp_path.name}\nCOPY src /src\n"
    context = make_context(tmp_path, containerfile)
    (context / "src").mkdir()
    (context / "other.txt").write_text("o")
    watcher, recorder = start_watcher(context)
    recorder.wait_for(BuildFinished)

    names = [f"src/file{index}.txt" for index in range(20)]
    for name in names:
        (context / name).write_text(name)
    recorder.wait_for(RebuildFinished)
    (context / "other.txt").write_text("sentinel")
    recorder.wait_for(RebuildFinished, count=2)

    predictions = recorder.of(RebuildPredicted)
    assert len(predictions) == 2
    assert set(names) <= set(predictions[0].trigger)
    assert predictions[1].trigger == ("other.txt",)


@pytest.mark.buildah
def test_change_during_build_cancels_it(
    tmp_path: Path,
    buildah: Buildah,
    start_watcher: Callable[..., tuple[Watcher, Recorder]],
) -> None:
    containerfile = (
        "FROM localhost/busybox\n"
        f"RUN echo {tmp_path.name}\n"
        "COPY mode.txt /\n"
        "RUN if grep -q slow /mode.txt; then sleep 60; fi\n"
    )
    context = make_context(tmp_path, containerfile, **{"mode.txt": "fast"})
    containers_before = buildah.container_ids()
    watcher, recorder = start_watcher(context)
    recorder.wait_for(BuildFinished)

    (context / "mode.txt").write_text("slow")
    recorder.wait_for(RebuildPredicted)
    recorder.wait_for(StepStarted, count=2, where=lambda e: e.step == 4)  # type: ignore[attr-defined]
    (context / "mode.txt").write_text("fast again")

    cancelled = recorder.wait_for(BuildCancelled)
    assert cancelled.reason == "changed: mode.txt"
    first = recorder.wait_for(RebuildFinished)
    assert first.outcome == "cancelled"
    second = recorder.wait_for(RebuildFinished, count=2)
    assert second.outcome == "finished"
    assert second.actual_first_miss == (0, 3)
    assert buildah.container_ids() == containers_before


@pytest.mark.buildah
def test_breakpoint_follows_its_instruction_when_lines_are_inserted(
    tmp_path: Path, start_watcher: Callable[..., tuple[Watcher, Recorder]]
) -> None:
    containerfile = (
        "FROM localhost/busybox\n"
        f"RUN echo {tmp_path.name} > /token\n"
        "RUN echo marker\n"
        "RUN echo after\n"
        "RUN echo gone\n"
    )
    context = make_context(tmp_path, containerfile)
    watcher, recorder = start_watcher(context, (Breakpoint("3"), Breakpoint("5")))
    paused = recorder.wait_for(BuildPaused)
    assert paused.line == 3

    edited = containerfile.replace(
        "RUN echo marker\n", "RUN echo inserted\n\nRUN echo marker\n"
    )
    edited = edited.replace("RUN echo gone\n", "")
    (context / "Containerfile").write_text(edited)

    paused = recorder.wait_for(BuildPaused, count=2)
    assert paused.line == 5
    assert paused.instruction == "RUN echo marker"
    assert watcher.breakpoints == [Breakpoint("5")]
    dropped = recorder.wait_for(BreakpointDropped)
    assert "RUN echo gone" in dropped.message
    predicted = recorder.wait_for(RebuildPredicted)
    assert predicted.first_miss == (0, 3)
    assert predicted.reason == "RUN line 3 changed"

    assert watcher.resume()
    finished = recorder.wait_for(BuildFinished)
    assert finished.image


@pytest.mark.buildah
def test_broken_containerfile_skips_until_it_parses_again(
    tmp_path: Path, start_watcher: Callable[..., tuple[Watcher, Recorder]]
) -> None:
    containerfile = f"FROM localhost/busybox\nRUN echo {tmp_path.name}\n"
    context = make_context(tmp_path, containerfile)
    watcher, recorder = start_watcher(context)
    recorder.wait_for(BuildFinished)

    (context / "Containerfile").write_text(containerfile + "FROBNICATE now\n")
    skipped = recorder.wait_for(RebuildSkipped)
    assert "FROBNICATE" in skipped.message
    (context / "Containerfile").write_text(containerfile + "RUN echo fixed\n")
    report = recorder.wait_for(RebuildFinished)
    assert report.actual_first_miss == (0, 3)


@pytest.mark.buildah
def test_containerfile_outside_the_context_is_watched(
    tmp_path: Path, buildah: Buildah, busybox_image: str
) -> None:
    context = tmp_path / "context"
    context.mkdir()
    (context / "data.txt").write_text("d")
    elsewhere = tmp_path / "files"
    elsewhere.mkdir()
    containerfile = elsewhere / "Containerfile"
    text = f"FROM localhost/busybox\nRUN echo {tmp_path.name}\nCOPY data.txt /\n"
    containerfile.write_text(text)
    (elsewhere / "unrelated.txt").write_text("u")
    request = BuildRequest(
        context=context, containerfile=containerfile, buildah=buildah, pull="never"
    )
    changes: list[tuple[tuple[str, ...], Position | None]] = []
    recorder = Recorder()
    watcher = Watcher(
        request,
        on_event=recorder,
        on_change=lambda batch, prediction: changes.append(
            (batch.paths, prediction.first_miss)
        ),
    )
    thread = watcher.start()
    try:
        recorder.wait_for(BuildFinished)
        (elsewhere / "unrelated.txt").write_text("v")
        containerfile.write_text(text + "RUN echo added\n")
        report = recorder.wait_for(RebuildFinished)
        assert report.trigger == ("../files/Containerfile",)
        assert report.actual_first_miss == (0, 4)
        assert changes == [(("../files/Containerfile",), Position(0, 4))]
    finally:
        watcher.stop()
        thread.join(WAIT)


# The command line


def watch_command(buildah: Buildah, context: Path) -> list[str]:
    storage = buildah.storage
    return [
        sys.executable, "-m", "tui.main", "run", "--watch", "--json",
        "--pull", "never", "--root", str(storage.root), "--runroot",
        str(storage.runroot), "--storage-driver", str(storage.storage_driver),
        "--isolation", "chroot", str(context),
    ]  # fmt: skip


def read_until(
    process: subprocess.Popen[str], done: Callable[[dict[str, object]], bool]
) -> list[dict[str, object]]:
    """Read JSON events up to and including the first one that `done` accepts."""
    assert process.stdout is not None
    events: list[dict[str, object]] = []
    timer = threading.Timer(WAIT, process.kill)
    timer.start()
    try:
        for line in process.stdout:
            events.append(json.loads(line))
            if done(events[-1]):
                return events
    finally:
        timer.cancel()
    raise AssertionError(f"the command ended early: {events}")


@pytest.mark.buildah
@pytest.mark.parametrize(
    "signal_number, exit_code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)]
)
def test_watch_command_ends_cleanly_on_a_signal(
    tmp_path: Path,
    buildah: Buildah,
    busybox_image: str,
    signal_number: int,
    exit_code: int,
) -> None:
    containerfile = (
        "FROM localhost/busybox\n"
        f"RUN echo {tmp_path.name} {signal_number}\n"
        "COPY mode.txt /\n"
        "RUN if grep -q slow /mode.txt; then sleep 60; fi\n"
    )
    context = make_context(tmp_path, containerfile, **{"mode.txt": "fast"})
    containers_before = buildah.container_ids()
    process = subprocess.Popen(
        watch_command(buildah, context), stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        read_until(process, lambda event: event["event"] == "build-finished")
        (context / "mode.txt").write_text("slow")
        events = read_until(
            process,
            lambda event: event["event"] == "step-started" and event["step"] == 4,
        )
        started = [e for e in events if e["event"] == "build-started"]
        assert started[-1]["trigger"] == ["mode.txt"]
        assert started[-1]["predicted_first_miss"] == [0, 3]
        assert started[-1]["reason"] == "COPY mode.txt / : mode.txt changed"
        process.send_signal(signal_number)
        assert process.wait(WAIT) == exit_code
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert buildah.container_ids() == containers_before


@pytest.mark.buildah
def test_watch_command_prints_a_line_per_rebuild(
    tmp_path: Path, buildah: Buildah, busybox_image: str
) -> None:
    containerfile = f"FROM localhost/busybox\nRUN echo {tmp_path.name}\nCOPY a.txt /\n"
    context = make_context(tmp_path, containerfile, **{"a.txt": "1"})
    command = [word for word in watch_command(buildah, context) if word != "--json"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert process.stdout is not None
    lines: list[str] = []
    timer = threading.Timer(WAIT, process.kill)
    timer.start()
    try:
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("Watching "):
                (context / "a.txt").write_text("2")
            if line.startswith("Rebuild: "):
                process.send_signal(signal.SIGINT)
        assert process.wait(WAIT) == 130
    finally:
        timer.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
    changed = [line for line in lines if line.startswith("Changed: ")]
    assert changed == [
        "Changed: a.txt. Rebuilding from stage 0 step 3 (line 3): "
        "COPY a.txt / : a.txt changed; 1 step to rerun, 1 cached."
    ]
    rebuilt = [line for line in lines if line.startswith("Rebuild: ")]
    assert len(rebuilt) == 1
    assert rebuilt[0].endswith("; prediction held.")
