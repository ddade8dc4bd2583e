"""Image selection for the shell and diff actions of the build screen.

`s` opens the selected step's state: the paused state on the paused row, the
image a finished step committed, or the stage's last image on the end row.
`d` compares the selected step with the step before it, or, with the stage
graph focused (or on the end row), the selected stage with the stage after
it: the first stage that builds on it, else the next one in build order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from textual.app import SuspendNotSupported

from engine.breakpoints import Position
from engine.errors import StagescopeError
from engine.shell import ShellContext, run_shell
from engine.termination import TerminatedBySignal
from tui.model import BuildModel

if TYPE_CHECKING:
    from tui.screens.build import BuildScreen

log = logging.getLogger(__name__)

REDRAW_AFTER_SHELL = 0.2
"""Seconds after a shell when the whole screen is drawn again."""

REPLAY_HAS_NO_IMAGES = (
    "A replay has no images: {what} needs the images of a live build. Run "
    "`stagescope CONTEXT` on the machine that built them."
)


@dataclass(frozen=True)
class ImageSide:
    """One side of a diff or the target of a shell: an image and its label."""

    image: str
    label: str
    stage: int
    step: int | None = None
    """The step whose state this is: the paused step means the state before it."""


@dataclass(frozen=True)
class DiffRequest:
    before: ImageSide
    after: ImageSide


def shell_image(screen: BuildScreen) -> ImageSide | None:
    model = screen.model
    if screen.focused is screen.graph:
        return _stage_side(model, screen.graph.selected)
    position = screen.steps.selected
    if position is None:
        paused = model.paused_at
        if model.paused_image and paused is not None:
            return ImageSide(model.paused_image, "paused state", *paused)
        return None
    label = model.plan.stages[position.stage].label
    if position == model.paused_at and model.paused_image:
        return ImageSide(
            model.paused_image, f"{label} before step {position.step}", *position
        )
    if screen.steps.is_end_row(position):
        return _stage_side(model, position.stage)
    image = model.image_of(position)
    if image is None:
        return None
    return ImageSide(image, f"{label} after step {position.step}", *position)


def diff_request(screen: BuildScreen) -> DiffRequest | None:
    model = screen.model
    position = screen.steps.selected
    if screen.focused is screen.graph or (
        position is not None and screen.steps.is_end_row(position)
    ):
        stage = screen.graph.selected if screen.focused is screen.graph else None
        if stage is None and position is not None:
            stage = position.stage
        return _stage_diff(model, stage) if stage is not None else None
    if position is None or position.step < 2:
        return None
    after = model.image_of(position)
    before = model.image_of(Position(position.stage, position.step - 1))
    if after is None or before is None:
        return None
    label = model.plan.stages[position.stage].label
    return DiffRequest(
        ImageSide(before, f"{label} step {position.step - 1}", position.stage),
        ImageSide(after, f"{label} step {position.step}", position.stage),
    )


def next_stage(model: BuildModel, stage: int) -> int | None:
    """Return the stage after `stage`: its first user, else the next one built."""
    users = sorted({e.target for e in model.plan.edges if e.source == stage})
    if users:
        return users[0]
    order = model.plan.build_order
    if stage in order and order.index(stage) + 1 < len(order):
        return order[order.index(stage) + 1]
    return None


def _stage_diff(model: BuildModel, stage: int) -> DiffRequest | None:
    following = next_stage(model, stage)
    if following is None:
        return None
    before = _stage_side(model, stage)
    after = _stage_side(model, following)
    if before is None or after is None:
        return None
    return DiffRequest(before, after)


def _stage_side(model: BuildModel, stage: int) -> ImageSide | None:
    image = model.stage_image(stage)
    if image is None:
        return None
    return ImageSide(image, f"stage {model.plan.stages[stage].label}", stage)


def open_diff(screen: BuildScreen) -> None:
    request = diff_request(screen)
    app = screen.stagescope
    if request is None:
        return
    if app.buildah is None:
        screen.notify(REPLAY_HAS_NO_IMAGES.format(what="a diff"), severity="warning")
        return
    from tui.screens.diff import DiffScreen

    app.push_screen(DiffScreen(app.buildah, request.before, request.after))


def shell_context(model: BuildModel, target: ImageSide) -> ShellContext:
    """Describe where the shell opens; offer the failed command at a failure."""
    stage = model.plan.stages[target.stage]
    instruction = (
        model.plan.instruction(target.stage, target.step) if target.step else None
    )
    failure = model.failure
    failing_command = None
    if (
        failure is not None
        and instruction is not None
        and (failure.stage, failure.step) == (target.stage, target.step)
        and instruction.keyword == "RUN"
    ):
        failing_command = " ".join(instruction.arguments)
    return ShellContext(
        stage=stage.label,
        step=target.step,
        instruction=instruction.text if instruction else None,
        failing_command=failing_command,
    )


def open_shell(screen: BuildScreen) -> None:
    """Suspend the app and run a shell in the selected image in the terminal."""
    target = shell_image(screen)
    app = screen.stagescope
    if target is None:
        return
    if app.buildah is None:
        screen.notify(REPLAY_HAS_NO_IMAGES.format(what="a shell"), severity="warning")
        return
    context = shell_context(screen.model, target)
    history: list[str] = []
    failure: OSError | StagescopeError | None = None
    try:
        with app.suspend():
            # Caught in here: an error leaving the block would skip giving
            # the terminal back to the app.
            try:
                code = run_shell(app.buildah, target.image, context, history=history)
            except (OSError, StagescopeError) as error:
                failure = error
    except SuspendNotSupported:
        screen.notify("This terminal cannot hand over to a shell", severity="error")
        return
    # The terminal held the shell's screen; draw every cell again once the
    # app is back, because Textual repaints only what it believes changed.
    # NOTE: on a loaded machine, in tmux, rows can stay blank after a shell
    # whose output scrolled even so; the cause is not known.
    app.set_timer(REDRAW_AFTER_SHELL, partial(app.refresh, repaint=True, layout=True))
    if isinstance(failure, TerminatedBySignal):
        # SIGTERM or SIGHUP was meant for the app, and the shell took it.
        app.call_later(app.run_action, "quit")
        return
    if isinstance(failure, OSError):
        screen.notify(f"The shell could not start: {failure}", severity="error")
        return
    if failure is not None:
        screen.notify(failure.message, title="Shell", severity="error")
        return
    screen.notify(f"Shell in {target.label} exited with status {code}")
    screen.shell_exited(target.image, history)
