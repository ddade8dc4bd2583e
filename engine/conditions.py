"""Conditional breakpoints: pause after a step that ran long, printed a
matching line, or added many bytes.

A condition is written as one of:

- `duration>SECONDS`: the step ran longer than that (`30`, `30s`, `1.5m`);
- `output~REGEX`: a line of the step's output matches the Python regular
  expression (searched anywhere in the line);
- `size>BYTES`: the layers the step added hold more than that many bytes
  (`500000`, `100MB`, `1.5GiB`). kB, MB and GB count by 1000, KiB, MiB and
  GiB by 1024.

Buildah cannot pause inside a step, so a condition never cuts a step short:
the step that meets it finishes and commits, and the build pauses right after
it, before the next step, with the reason `condition`. A duration or output
condition may be met while the step still runs; the runner then stops the
build at the next step boundary and cuts the Containerfile after the step,
which replays everything before from the layer cache. The size is measured
once the step has committed, from the layer sizes in the image's manifest,
which are uncompressed for images that buildah built. Cache hits never meet
a condition, because they ran in an earlier build. The last step of the
target stage is the end of the build, so a condition met there lets the
build finish.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from engine.breakpoints import Position
from engine.buildah import Buildah
from engine.errors import BuildahError, UsageError
from engine.events import Event, LogBlock, StepFinished
from engine.runner import BuildSession

log = logging.getLogger(__name__)

CONDITION_SYNTAX = (
    "duration>SECONDS (e.g. duration>30, duration>2m), output~REGEX "
    "(e.g. 'output~warning|error'), or size>BYTES (e.g. size>100MB)"
)

SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}
TIME_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}

_COMPARISON = re.compile(
    r"^\s*(?P<kind>[A-Za-z]+)\s*(?P<operator>>|~)(?P<value>.*)$", re.DOTALL
)
_AMOUNT = re.compile(r"^(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>[A-Za-z]*)$")


@dataclass(frozen=True)
class Condition:
    """A parsed condition. `text` is the condition as the user wrote it."""

    text: str
    kind: str
    """"duration", "output" or "size"."""
    limit: float = 0.0
    """Seconds for duration, bytes for size."""
    pattern: re.Pattern[str] | None = None


def parse_condition(text: str) -> Condition:
    """Parse one condition. Raises UsageError naming the problem."""
    match = _COMPARISON.match(text)
    if match is None:
        raise UsageError(f"--break-if {text!r}: write {CONDITION_SYNTAX}")
    kind = match.group("kind").lower()
    operator, value = match.group("operator"), match.group("value")
    if kind == "output" and operator == "~":
        # The pattern is taken as written, spaces included.
        written = text.lstrip()
        return Condition(written, kind, pattern=_compile(written, value))
    written, value = text.strip(), value.strip()
    if kind == "duration" and operator == ">":
        seconds = _amount(written, value, TIME_UNITS, "a time such as 30 or 2m")
        return Condition(written, kind, limit=seconds)
    if kind == "size" and operator == ">":
        size = _amount(written, value, SIZE_UNITS, "a size such as 100MB or 1GiB")
        return Condition(written, kind, limit=size)
    raise UsageError(f"--break-if {text!r}: write {CONDITION_SYNTAX}")


def parse_conditions(texts: Iterable[str]) -> list[Condition]:
    return [parse_condition(text) for text in texts]


def _compile(written: str, value: str) -> re.Pattern[str]:
    if not value:
        raise UsageError(f"--break-if {written!r}: give a pattern after ~")
    try:
        return re.compile(value)
    except re.error as error:
        raise UsageError(
            f"--break-if {written!r}: invalid regular expression: {error}"
        ) from None


def _amount(
    written: str, value: str, units: Mapping[str, float], example: str
) -> float:
    match = _AMOUNT.match(value)
    unit = match.group("unit").lower() if match else ""
    if match is None or unit not in units:
        raise UsageError(f"--break-if {written!r}: the limit must be {example}")
    return float(match.group("number")) * units[unit]


_WHOLE_TEXT_ANCHOR = re.compile(r"\\[AZ]|\(\?<[=!]")


@functools.lru_cache(maxsize=64)
def _block_filter(pattern: re.Pattern[str]) -> re.Pattern[str] | None:
    """Return a pattern that finds every line `pattern` matches in a block of
    lines, and maybe a few more; None when no such pattern is known.

    With MULTILINE, `^` and `$` match at each line's ends as they do on the
    line alone. `\\A`, `\\Z` and lookbehinds can tell a line from a block, so
    patterns with them are tried on each line."""
    if _WHOLE_TEXT_ANCHOR.search(pattern.pattern):
        return None
    return re.compile(pattern.pattern, pattern.flags | re.MULTILINE)


def _first_matching_line(pattern: re.Pattern[str], text: str) -> str | None:
    """Return the first of the newline-separated lines that `pattern` matches."""
    block_filter = _block_filter(pattern)
    if block_filter is not None and block_filter.search(text) is None:
        return None
    return next((line for line in text.split("\n") if pattern.search(line)), None)


def format_bytes(size: float) -> str:
    for unit, factor in (("GB", 1000**3), ("MB", 1000**2), ("kB", 1000)):
        if abs(size) >= factor:
            return f"{size / factor:.1f} {unit}"
    return f"{int(size)} B"


class ConditionWatch:
    """The event hook that pauses a session when a condition is met.

    The app changes `conditions` between segments, and the hook reads the
    list on every event. `layers` returns an image's layer sizes in order.
    """

    def __init__(
        self,
        session: BuildSession,
        conditions: Iterable[Condition] = (),
        layers: Callable[[str], list[int]] | None = None,
    ) -> None:
        self.session = session
        self.conditions = list(conditions)
        self.layers = layers or (
            lambda image: layer_sizes(self.session.request.buildah, image)
        )

    def __call__(self, event: Event) -> list[Event]:
        if self.conditions:
            if isinstance(event, LogBlock):
                self._check_output(event)
            elif isinstance(event, StepFinished) and not event.cached:
                self._check_finished(event)
        return [event]

    def _check_output(self, event: LogBlock) -> None:
        if event.stage is None or event.step is None:
            return
        for condition in self._of_kind("output"):
            assert condition.pattern is not None
            line = _first_matching_line(condition.pattern, event.text)
            if line is not None:
                detail = f"it printed {_quote(line)}"
                self._fire(Position(event.stage, event.step), condition, detail)
                return

    def _check_finished(self, event: StepFinished) -> None:
        position = Position(event.stage, event.step)
        for condition in self._of_kind("duration"):
            if event.seconds > condition.limit:
                self._fire(position, condition, f"it ran {event.seconds:.1f} s")
                return
        sizes = self._of_kind("size")
        if not sizes or event.step < 2 or event.image is None:
            return
        added = self._added_bytes(position, event.image)
        for condition in sizes:
            if added is not None and added > condition.limit:
                self._fire(position, condition, f"it added {format_bytes(added)}")
                return

    def _added_bytes(self, position: Position, image: str) -> int | None:
        """Return the size of the layers the step added on top of the image
        before it, whose layers come first in the step's image."""
        before = self.session.step_images.get(
            Position(position.stage, position.step - 1)
        )
        try:
            layers = self.layers(image)
            kept = len(self.layers(before)) if before else 0
        except (BuildahError, ValueError, KeyError) as error:
            log.warning("could not read the layers of image %s: %s", image, error)
            return None
        return sum(layers[kept:])

    def _of_kind(self, kind: str) -> list[Condition]:
        return [condition for condition in self.conditions if condition.kind == kind]

    def _fire(self, position: Position, condition: Condition, detail: str) -> None:
        instruction = self.session.plan.instruction(*position)
        what = f"line {instruction.first_line}" if instruction else "the step"
        log.info("condition %s met at %s: %s", condition.text, position, detail)
        self.session.pause_after(position, condition.text, f"{what}: {detail}")


def _quote(text: str, limit: int = 60) -> str:
    text = text.strip()
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def layer_sizes(buildah: Buildah, image: str) -> list[int]:
    """Return the sizes of an image's layers, from its manifest, in order."""
    output = buildah.call(
        "inspect", "--type", "image", "--format", "{{.Manifest}}", image
    )
    manifest = json.loads(output)
    return [int(layer["size"]) for layer in manifest.get("layers", [])]


def watch_conditions(session: BuildSession) -> ConditionWatch:
    """Return the session's condition hook, installing one the first time."""
    for hook in session.event_hooks:
        if isinstance(hook, ConditionWatch):
            return hook
    watch = ConditionWatch(session)
    session.event_hooks.append(watch)
    return watch
