"""Stage sizes, crossings and cache-miss reasons of real busybox builds."""

from __future__ import annotations

import json
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine import cli
from engine.breakpoints import Position
from engine.buildah import Buildah, StorageOptions
from engine.buildrecord import cache_folder
from engine.events import BuildFinished, Event, StageFinished, StepFinished
from engine.insight import ImageSizes, format_size, image_size, step_sizes
from engine.runner import BuildRequest, BuildSession, State
from engine.session_insight import BuildInsight, attach, wait_for_save

pytestmark = pytest.mark.buildah


@pytest.fixture(autouse=True)
def keep_signal_handlers() -> Iterator[None]:
    """Restore the handlers that `stagescope run` installs for its build."""
    saved = {number: signal.getsignal(number) for number in SIGNALS}
    yield
    for number, handler in saved.items():
        signal.signal(number, handler)


SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

DATA_BYTES = 3000
NOTE_BYTES = 100


@pytest.fixture(autouse=True)
def records_in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(folder))
    return folder


def build(
    buildah: Buildah,
    context: Path,
    build_args: dict[str, str] | None = None,
    extra_args: tuple[str, ...] = (),
) -> tuple[BuildInsight, list[Event]]:
    request = BuildRequest(
        context=context,
        containerfile=context / "Containerfile",
        buildah=buildah,
        build_args=tuple((build_args or {}).items()),
        extra_args=extra_args,
    )
    events: list[Event] = []
    session = BuildSession(request, request.load_plan(), on_event=events.append)
    insight = attach(session)
    assert session.start() is State.FINISHED
    return insight, events


def step_events(events: list[Event]) -> dict[Position, StepFinished]:
    return {
        Position(event.stage, event.step): event
        for event in events
        if isinstance(event, StepFinished)
    }


def reason_codes(insight: BuildInsight) -> dict[tuple[int, int], str]:
    return {tuple(position): r.code for position, r in insight.miss_reasons.items()}


# Sizes and crossings

CROSSING_CONTAINERFILE = """\
FROM localhost/busybox AS builder
RUN echo {token} > /token
RUN mkdir -p /out/sub && head -c {data} /dev/zero > /out/data.bin \\
 && head -c {note} /dev/zero > /out/sub/note.txt && ln -s data.bin /out/link
FROM localhost/busybox AS final
COPY --from=builder /out /app
COPY --from=builder /out/*.bin /bin/sh /extra/
"""


@pytest.fixture
def crossing_build(
    buildah: Buildah, busybox_image: str, tmp_path: Path
) -> tuple[BuildInsight, list[Event]]:
    context = tmp_path / "context"
    context.mkdir()
    (context / "Containerfile").write_text(
        CROSSING_CONTAINERFILE.format(
            token=uuid.uuid4().hex, data=DATA_BYTES, note=NOTE_BYTES
        )
    )
    return build(buildah, context)


def test_crossings_count_files_and_bytes(
    buildah: Buildah, crossing_build: tuple[BuildInsight, list[Event]]
) -> None:
    insight, events = crossing_build
    finished = [event for event in events if isinstance(event, BuildFinished)]
    assert len(finished) == 1
    crossings = finished[0].crossings
    assert [(c["from"], c["to"], c["line"]) for c in crossings] == [
        (0, 1, 6),
        (0, 1, 7),
    ]

    whole_folder = crossings[0]
    assert whole_folder["paths"] == ["/out"]
    assert whole_folder["files"] == 3
    assert whole_folder["bytes"] == DATA_BYTES + NOTE_BYTES

    # /bin/sh is a symlink to busybox; COPY follows it, so the crossing counts
    # the busybox binary.
    glob_and_link = crossings[1]
    assert glob_and_link["paths"] == ["/out/*.bin", "/bin/sh"]
    assert glob_and_link["files"] == 2
    assert glob_and_link["bytes"] > DATA_BYTES + 100_000


def test_stage_finished_events(
    buildah: Buildah, crossing_build: tuple[BuildInsight, list[Event]]
) -> None:
    insight, events = crossing_build
    stages = [event for event in events if isinstance(event, StageFinished)]
    assert [event.stage for event in stages] == [0, 1]
    steps = step_events(events)
    for event in stages:
        last = max(p.step for p in steps if p.stage == event.stage)
        assert event.image == steps[Position(event.stage, last)].image
        assert event.image is not None
        assert event.size == image_size(buildah, event.image)

    builder, final = stages
    assert builder.summary.startswith("builder ")
    assert "reached the final image" in builder.summary
    assert final.summary.startswith("final ")
    assert "the final image" in final.summary
    assert events.index(stages[-1]) < events.index(
        next(e for e in events if isinstance(e, BuildFinished))
    )


def test_step_sizes_add_up(
    buildah: Buildah, crossing_build: tuple[BuildInsight, list[Event]]
) -> None:
    insight, events = crossing_build
    images = {p: e.image for p, e in step_events(events).items()}
    sizes = step_sizes(ImageSizes(buildah), insight.session.plan, images)

    data_step = sizes[Position(0, 3)]
    assert data_step.added >= DATA_BYTES + NOTE_BYTES
    assert data_step.added == data_step.size - sizes[Position(0, 2)].size
    assert sizes[Position(0, 1)].added == sizes[Position(0, 1)].size
    for stage in (0, 1):
        total = sum(s.added for p, s in sizes.items() if p.stage == stage)
        last = max(p.step for p in sizes if p.stage == stage)
        assert total == sizes[Position(stage, last)].size


def test_summary_of_finished_build(
    crossing_build: tuple[BuildInsight, list[Event]],
) -> None:
    insight, _ = crossing_build
    assert insight.summary is not None
    assert insight.summary.sentences[0].startswith("builder ")
    assert "5 files" in insight.summary.sentences[0]


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (999, "999 B"),
        (2_100_000, "2.1 MB"),
        (881_000_000, "881 MB"),
        (12_345, "12 kB"),
        (3_200_000_000, "3.2 GB"),
    ],
)
def test_format_size(size: int, text: str) -> None:
    assert format_size(size) == text


# Why the cache missed

MISS_CONTAINERFILE = """\
FROM localhost/busybox AS builder
ARG FLAVOUR=plain
RUN echo {token} > /token
COPY input.txt /input.txt
RUN cat /input.txt > /output.txt && echo "$FLAVOUR" >> /output.txt
RUN echo {last} > /last
FROM localhost/busybox AS copier
COPY --from=builder /output.txt /output.txt
FROM builder
COPY --from=copier /output.txt /copied.txt
"""


@pytest.fixture
def miss_context(tmp_path: Path) -> Path:
    """Return a context whose Containerfile no other test builds."""
    context = tmp_path / "miss"
    context.mkdir()
    write_miss_containerfile(context, last="first")
    (context / "input.txt").write_text("one\n")
    (context / "input.txt").chmod(0o644)
    return context


def write_miss_containerfile(context: Path, last: str) -> None:
    # The token, one per context, keeps the layers of other tests out of the cache.
    token = context.parent.name
    (context / "Containerfile").write_text(
        MISS_CONTAINERFILE.format(token=token, last=last)
    )


def test_first_build_has_no_record(
    buildah: Buildah, busybox_image: str, miss_context: Path
) -> None:
    insight, events = build(buildah, miss_context)
    codes = reason_codes(insight)
    # The ARG step may come from the cache of another test's build, and the
    # step with this context's token cannot.
    builder = [codes[key] for key in sorted(codes) if key[0] == 0]
    assert builder[0] == "no-record"
    assert set(builder[1:]) == {"earlier-miss"}
    assert (0, 3) in codes
    assert step_events(events)[Position(0, 3)].miss_reason is not None
    assert step_events(events)[Position(0, 1)].miss_reason is None
    wait_for_save(insight.record_file)
    records = list((cache_folder()).glob("*.json"))
    assert len(records) == 1
    assert records[0].parent == cache_folder()


def test_unchanged_rebuild_has_no_reasons(
    buildah: Buildah, busybox_image: str, miss_context: Path
) -> None:
    build(buildah, miss_context)
    insight, events = build(buildah, miss_context)
    assert insight.miss_reasons == {}
    for position, event in step_events(events).items():
        assert event.miss_reason is None
        assert event.cached or position.step == 1


def test_changed_source_file(
    buildah: Buildah, busybox_image: str, miss_context: Path
) -> None:
    build(buildah, miss_context)
    (miss_context / "input.txt").write_text("two\n")
    insight, events = build(buildah, miss_context)

    reason = insight.miss_reasons[Position(0, 4)]
    assert reason.code == "sources-changed"
    assert reason.paths == ("input.txt",)
    assert "input.txt changed" in reason.message
    codes = reason_codes(insight)
    assert codes[(0, 5)] == "earlier-miss"
    assert codes[(1, 2)] == "copy-source-changed"
    assert codes[(2, 2)] == "base-changed"
    assert (0, 3) not in codes


def test_changed_source_mode(
    buildah: Buildah, busybox_image: str, miss_context: Path
) -> None:
    build(buildah, miss_context)
    (miss_context / "input.txt").chmod(0o755)
    insight, _ = build(buildah, miss_context)
    assert reason_codes(insight)[(0, 4)] == "sources-changed"


def test_changed_build_argument(
    buildah: Buildah, busybox_image: str, miss_context: Path
) -> None:
    build(buildah, miss_context)
    insight, _ = build(buildah, miss_context, build_args={"FLAVOUR": "spicy"})

    codes = reason_codes(insight)
    assert (0, 2) not in codes
    reason = insight.miss_reasons[Position(0, 3)]
    assert reason.code == "build-arg-changed"
    assert "FLAVOUR" in reason.message
    assert "'spicy'" in reason.message
    assert codes[(0, 4)] == "earlier-miss"


def test_changed_instruction(
    buildah: Buildah, busybox_image: str, miss_context: Path
) -> None:
    build(buildah, miss_context)
    write_miss_containerfile(miss_context, last="second")
    insight, _ = build(buildah, miss_context)

    reason = insight.miss_reasons[Position(0, 6)]
    assert reason.code == "instruction-changed"
    assert "RUN echo first > /last" in reason.message
    codes = reason_codes(insight)
    assert codes[(2, 2)] == "base-changed"
    assert (0, 5) not in codes
    assert (1, 2) not in codes


def test_no_cache(buildah: Buildah, busybox_image: str, miss_context: Path) -> None:
    build(buildah, miss_context)
    insight, events = build(buildah, miss_context, extra_args=("--no-cache",))
    codes = reason_codes(insight)
    steps_after_from = [p for p in step_events(events) if p.step > 1]
    assert sorted(codes) == sorted(tuple(p) for p in steps_after_from)
    assert set(codes.values()) == {"no-cache"}


# The command line


def test_run_json_events(
    buildah: Buildah,
    buildah_storage: StorageOptions,
    busybox_image: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    context = tmp_path / "context"
    context.mkdir()
    (context / "Containerfile").write_text(
        CROSSING_CONTAINERFILE.format(token=uuid.uuid4().hex, data=10, note=20)
    )
    status = cli.main(
        ["run", "--json", *storage_arguments(buildah_storage), str(context)]
    )
    assert status == 0

    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    kinds = [event["event"] for event in events]
    assert kinds.count("stage-finished") == 2
    assert kinds[-1] == "build-finished"
    assert [c["bytes"] for c in events[-1]["crossings"]][0] == 30
    stage = next(event for event in events if event["event"] == "stage-finished")
    assert set(stage) == {"event", "stage", "image", "size", "summary"}
    first_miss = next(
        event
        for event in events
        if event["event"] == "step-finished" and event["step"] == 2
    )
    assert first_miss["miss_reason"] is not None


def test_run_stops_on_check_error(
    buildah_storage: StorageOptions,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "Containerfile").write_text(
        "FROM localhost/busybox AS Tools\nFROM localhost/busybox\n"
        "COPY --from=tools /bin/sh /sh\n"
    )
    arguments = ["run", "--json", *storage_arguments(buildah_storage), str(tmp_path)]
    assert cli.main(arguments) == 1

    output = capsys.readouterr().out.splitlines()
    events = [json.loads(line) for line in output]
    assert {event["event"] for event in events} == {"check"}
    error = next(event for event in events if event["severity"] == "error")
    assert error["line"] == 3
    assert error["code"] == "stage-name-case"


def test_run_prints_findings_to_stderr(
    buildah_storage: StorageOptions,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "Containerfile").write_text("FROM localhost/busybox\nRUNN true\n")
    arguments = ["run", *storage_arguments(buildah_storage), str(tmp_path)]
    assert cli.main(arguments) == 1

    captured = capsys.readouterr()
    assert captured.out == ""
    containerfile = tmp_path / "Containerfile"
    assert captured.err.startswith(f"{containerfile}:2: error: unknown instruction")


def storage_arguments(storage: StorageOptions) -> list[str]:
    assert storage.root is not None
    assert storage.runroot is not None
    assert storage.storage_driver is not None
    return [
        "--root",
        storage.root,
        "--runroot",
        storage.runroot,
        "--storage-driver",
        storage.storage_driver,
        "--isolation",
        "chroot",
    ]
