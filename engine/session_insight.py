"""Add cache-miss reasons, stage sizes and crossings to a session's events.

`attach(session)` installs an event hook on a BuildSession that:

- records each step as it finishes: instruction, image, ARG values, and
  hashes of the context files a COPY or ADD read;
- gives each `step-finished` of a step after FROM that missed the cache a
  `miss_reason`, from a comparison with the last recorded build of the same
  Containerfile and context;
- after a finished build, emits one `stage-finished` per built stage and
  gives `build-finished` its `crossings` (see `engine.insight`);
- saves the record at every end of a build segment (finish, pause, failure,
  cancel), so that the next build compares with this one.

A session's `start` or `rebuild` begins a new build: the hook then reads the
record of the previous build, and keeps comparing with it across the pauses
of this one.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from pathlib import Path

from engine.breakpoints import Position
from engine.buildrecord import (
    BuildRecord,
    MissReason,
    StepRecord,
    explain_miss,
    hash_sources,
    instruction_key_text,
    record_path,
    stage_arguments,
    stage_key,
)
from engine.errors import BuildahError
from engine.events import (
    BuildCancelled,
    BuildFinished,
    BuildPaused,
    BuildStarted,
    Event,
    StageFinished,
    StepFailed,
    StepFinished,
)
from engine.ignore import IgnoreRules
from engine.insight import BuildSummary, ImageSizes, stage_images, summarize
from engine.plan import Instruction
from engine.runner import BuildSession

log = logging.getLogger(__name__)

NO_CACHE_OPTIONS = ("--no-cache", "--no-cache=true")


class BuildInsight:
    """The event hook that `attach` installs; its fields are there for the app.

    `miss_reasons` maps (stage, step) to the reason of each missed step of the
    current build, and `summary` contains the sizes and crossings of the last
    finished build, or None before one finished.
    """

    def __init__(
        self, session: BuildSession, records_folder: Path | None = None
    ) -> None:
        self.session = session
        request = session.request
        self.record_file = record_path(
            request.containerfile, request.context, records_folder
        )
        self.previous: BuildRecord | None = None
        self.current: dict[tuple[str, int], StepRecord] = {}
        self.miss_reasons: dict[Position, MissReason] = {}
        self.summary: BuildSummary | None = None
        self.sizes = ImageSizes(request.buildah)
        """Sizes of the images of this session's steps; an image's size never
        changes, so they are kept across builds."""
        self._rules: IgnoreRules | None = None

    @property
    def no_cache(self) -> bool:
        return any(
            option in NO_CACHE_OPTIONS for option in self.session.request.extra_args
        )

    def __call__(self, event: Event) -> list[Event]:
        if isinstance(event, BuildStarted) and not self.session.step_images:
            self._begin_build()
        elif isinstance(event, StepFinished):
            return [self._step_finished(event)]
        elif isinstance(event, BuildFinished):
            self._save()
            return self._build_finished(event)
        elif isinstance(event, (StepFailed, BuildPaused, BuildCancelled)):
            self._save()
        return [event]

    # Steps

    def _begin_build(self) -> None:
        wait_for_save(self.record_file)
        self.previous = BuildRecord.load(self.record_file)
        self.current = {}
        self.miss_reasons = {}
        self.summary = None
        self._rules = None

    def _step_finished(self, event: StepFinished) -> Event:
        if event.image is not None:
            # Read now, so that the end of the build waits for the last only.
            self.sizes.prefetch(event.image)
        plan = self.session.plan
        instruction = plan.instruction(event.stage, event.step)
        if instruction is None:
            return event
        record = self._record_step(instruction, event)
        self.current[(record.stage, record.step)] = record
        if event.cached or event.step == 1:
            return event
        parent = self.current.get((record.stage, record.step - 1))
        reason = explain_miss(self.previous, record, parent, no_cache=self.no_cache)
        self.miss_reasons[Position(event.stage, event.step)] = reason
        return dataclasses.replace(event, miss_reason=reason.message)

    def _record_step(self, instruction: Instruction, event: StepFinished) -> StepRecord:
        plan = self.session.plan
        sources: dict[str, str] = {}
        copied_from = None
        if instruction.keyword in ("COPY", "ADD") and event.step > 1:
            if instruction.flag("from") is None:
                sources = hash_sources(
                    plan,
                    instruction,
                    self.session.request.context,
                    self._ignore_rules(),
                )
            else:
                copied_from = self._copy_source_image(instruction)
        return StepRecord(
            stage=stage_key(plan, event.stage),
            step=event.step,
            line=instruction.first_line,
            text=instruction.text,
            key=instruction_key_text(instruction),
            image=event.image,
            cached=event.cached,
            arguments=(
                stage_arguments(plan, instruction)
                if instruction.keyword == "RUN"
                else {}
            ),
            sources=sources,
            copied_from=copied_from,
        )

    def _copy_source_image(self, instruction: Instruction) -> str | None:
        plan = self.session.plan
        for edge in plan.edges:
            if edge.kind == "copy" and edge.line == instruction.first_line:
                images = stage_images(plan, self.session.step_images)
                return images.get(edge.source)
        return None

    def _ignore_rules(self) -> IgnoreRules:
        if self._rules is None:
            from engine.watch import ignore_file_option

            request = self.session.request
            ignore_file = ignore_file_option(request.extra_args)
            self._rules = IgnoreRules.for_context(request.context, ignore_file)
        return self._rules

    # Build ends

    def _build_finished(self, event: BuildFinished) -> list[Event]:
        session = self.session
        try:
            summary = summarize(
                session.request.buildah,
                session.plan,
                session.step_images,
                sizes=self.sizes,
            )
        except BuildahError as error:
            log.warning("no stage sizes for this build: %s", error.message)
            return [event]
        self.summary = summary
        events: list[Event] = []
        for stage in session.plan.build_order:
            if stage not in summary.stages:
                continue
            events.append(
                StageFinished(
                    stage=stage,
                    image=summary.stage_images.get(stage),
                    size=summary.stages[stage],
                    summary=summary.sentences.get(stage, ""),
                )
            )
        crossings = tuple(crossing.to_dict() for crossing in summary.crossings)
        events.append(dataclasses.replace(event, crossings=crossings))
        return events

    def _save(self) -> None:
        request = self.session.request
        steps = dict(self.previous.steps) if self.previous else {}
        steps.update(self.current)
        record = BuildRecord(
            containerfile=str(request.containerfile.resolve()),
            context=str(request.context.resolve()),
            steps=steps,
        )
        _save_in_background(record, self.record_file)


_saving: dict[Path, threading.Thread] = {}
_saving_lock = threading.Lock()


def _save_in_background(record: BuildRecord, path: Path) -> None:
    """Write a record on a thread of its own, so that the events of a build's
    end wait for none of it. The thread is not a daemon, so the process
    waits for it before exiting."""
    wait_for_save(path)
    thread = threading.Thread(target=record.save, args=(path,), name="build-record")
    with _saving_lock:
        _saving[path] = thread
    thread.start()


def wait_for_save(path: Path) -> None:
    """Return once the record last saved to `path` is on disk."""
    with _saving_lock:
        thread = _saving.pop(path, None)
    if thread is not None:
        thread.join()


def attach(session: BuildSession, records_folder: Path | None = None) -> BuildInsight:
    """Install the insight hook on a session and return it.

    `records_folder` overrides where build records live (default:
    `engine.buildrecord.cache_folder()`).
    """
    insight = BuildInsight(session, records_folder)
    session.event_hooks.append(insight)
    return insight
