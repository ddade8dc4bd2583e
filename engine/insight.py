"""Image sizes, crossings between stages and stage summaries of a finished build.

The functions take the plan and a finished BuildSession's `step_images` (the
image after each step, FROM included), so the app can call them on any
session. `engine.session_insight.attach` adds their results to a session's
events.

Sizes are the sums of the layer sizes in each image's manifest. For images
that Buildah built, and the local base images, those are uncompressed sizes.
For an image pulled from a registry they can be the compressed sizes that the
registry's manifest lists.
"""

from __future__ import annotations

import concurrent.futures
import fnmatch
import functools
import json
import logging
import os
import posixpath
import stat
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

from engine.breakpoints import Position
from engine.buildah import Buildah
from engine.errors import BuildahError
from engine.mounts import resolve_in_root, throwaway_container
from engine.plan import Instruction, Plan
from engine.prediction import stage_values
from engine.variables import expand

log = logging.getLogger(__name__)

GLOB_CHARACTERS = frozenset("*?[")


@dataclass(frozen=True)
class StepSize:
    """An image after one step, and the bytes the step added to its parent."""

    stage: int
    step: int
    image: str | None
    size: int
    added: int


@dataclass(frozen=True)
class Crossing:
    """The files and bytes that one COPY --from (or ADD --from) carried between
    two stages."""

    source: int
    target: int
    line: int
    paths: tuple[str, ...]
    """The source paths as the instruction names them, variables expanded."""
    files: int
    """Files, symlinks and other non-folder entries under those paths."""
    bytes: int
    """Bytes of the regular files among them."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": self.source,
            "to": self.target,
            "line": self.line,
            "paths": list(self.paths),
            "files": self.files,
            "bytes": self.bytes,
        }


# Sizes


class ImageSizes:
    """Image sizes read from Buildah, each image asked once.

    `prefetch` starts a lookup in the background, so that a session can ask
    for each step's size as the step finishes and have them all by the end
    of the build. Threads may share one ImageSizes.
    """

    def __init__(self, buildah: Buildah) -> None:
        self.buildah = buildah
        self.on_size: Callable[[str, int], object] | None = None
        """Called with each image and size read, on the thread that read it."""
        self._lookups: dict[str, concurrent.futures.Future[int]] = {}
        self._lock = threading.Lock()

    def prefetch(self, image: str) -> None:
        """Start reading an image's size unless it was asked for already."""
        self._lookup(image)

    def size(self, image: str | None) -> int:
        """Return an image's size in bytes; 0 for scratch (None).

        Raises BuildahError when Buildah cannot read the image."""
        if image is None:
            return 0
        lookup = self._lookup(image)
        try:
            return lookup.result()
        except BuildahError:
            with self._lock:
                if self._lookups.get(image) is lookup:
                    del self._lookups[image]  # the next call reads it again
            raise

    def _lookup(self, image: str) -> concurrent.futures.Future[int]:
        with self._lock:
            lookup = self._lookups.get(image)
            if lookup is None:
                lookup = _size_readers().submit(image_size, self.buildah, image)
                self._lookups[image] = lookup
                lookup.add_done_callback(partial(self._report, image))
            return lookup

    def _report(self, image: str, lookup: concurrent.futures.Future[int]) -> None:
        on_size = self.on_size
        if on_size is not None and lookup.exception() is None:
            on_size(image, lookup.result())


@functools.cache
def _size_readers() -> concurrent.futures.ThreadPoolExecutor:
    return concurrent.futures.ThreadPoolExecutor(
        max_workers=2, thread_name_prefix="image-size"
    )


def image_size(buildah: Buildah, image: str) -> int:
    """Return the sum of the layer sizes in an image's manifest, in bytes."""
    output = buildah.call(
        "inspect", "--type", "image", "--format", "{{.Manifest}}", image
    )
    manifest = json.loads(output)
    return sum(int(layer.get("size", 0)) for layer in manifest.get("layers", []))


def stage_images(
    plan: Plan, step_images: dict[Position, str | None]
) -> dict[int, str | None]:
    """Return the image each built stage ended with: that of its last step."""
    last: dict[int, int] = {}
    for position in step_images:
        if position.step > last.get(position.stage, 0):
            last[position.stage] = position.step
    return {
        stage: step_images[Position(stage, step)]
        for stage, step in sorted(last.items())
        if stage < len(plan.stages)
    }


def step_sizes(
    sizes: ImageSizes, plan: Plan, step_images: dict[Position, str | None]
) -> dict[Position, StepSize]:
    """Return each step's image size and the bytes it added to the step before.

    FROM adds its whole base image. A step that removes files adds a negative
    number only when it squashes layers, because layers never shrink.
    """
    result: dict[Position, StepSize] = {}
    for position in sorted(step_images):
        image = step_images[position]
        size = sizes.size(image)
        before = step_images.get(Position(position.stage, position.step - 1))
        added = size - sizes.size(before) if position.step > 1 else size
        result[position] = StepSize(position.stage, position.step, image, size, added)
    return result


def stage_sizes(
    sizes: ImageSizes, plan: Plan, step_images: dict[Position, str | None]
) -> dict[int, int]:
    """Return the size in bytes of each built stage's image."""
    return {
        stage: sizes.size(image)
        for stage, image in stage_images(plan, step_images).items()
    }


# Crossings


def crossings(
    buildah: Buildah, plan: Plan, step_images: dict[Position, str | None]
) -> list[Crossing]:
    """Measure what each COPY --from between built stages carried.

    Each source stage image is mounted through a throwaway working container
    named `stagescope-crossing-...`, which is unmounted and removed however
    the measuring ends. An edge whose image cannot be mounted is logged and
    left out.
    """
    images = stage_images(plan, step_images)
    result = []
    for edge in plan.edges:
        if edge.kind != "copy" or edge.source not in images:
            continue
        instruction = plan.instruction_at_line(edge.line)
        image = images[edge.source]
        if instruction is None or image is None or edge.target not in images:
            continue
        paths = copy_sources(plan, instruction)
        try:
            with mounted_image(buildah, image) as root:
                files, size = measure_paths(root, paths)
        except BuildahError as error:
            log.warning("cannot measure the copy on line %d: %s", edge.line, error)
            continue
        result.append(Crossing(edge.source, edge.target, edge.line, paths, files, size))
    return result


def copy_sources(plan: Plan, instruction: Instruction) -> tuple[str, ...]:
    """Return the source paths of a COPY or ADD with ARG and ENV values expanded."""
    values: dict[str, str] | None = None
    sources = []
    for argument in instruction.arguments[:-1]:
        if "$" in argument:
            values = values if values is not None else stage_values(plan, instruction)
            argument = expand(argument, values)
        sources.append(argument)
    return tuple(sources)


@contextmanager
def mounted_image(buildah: Buildah, image: str) -> Iterator[str]:
    """Yield the mounted root folder of a throwaway container of `image`."""
    with throwaway_container(buildah, image, "crossing") as container:
        root = buildah.mount(container)
        try:
            yield root
        finally:
            try:
                buildah.unmount(container)
            except BuildahError as error:
                log.warning("could not unmount container %s: %s", container, error)


def measure_paths(root: str, sources: tuple[str, ...]) -> tuple[int, int]:
    """Count the entries and bytes that COPY takes from `sources` under `root`.

    As COPY does, a source that is a symlink is followed and a folder is
    copied with everything below it, symlinks inside it kept as symlinks.
    Relative sources start at the image's root folder.
    """
    files = 0
    size = 0
    seen: set[str] = set()
    for source in sources:
        for relative in expand_glob(root, source):
            host_path = resolve_in_root(root, relative)
            if host_path is None or host_path in seen:
                continue
            seen.add(host_path)
            count, total = _measure_tree(host_path)
            files += count
            size += total
    return files, size


def expand_glob(root: str, source: str) -> list[str]:
    """Return the paths under `root` that a source names, wildcards expanded."""
    matches = [""]
    for part in source.split("/"):
        if part in ("", "."):
            continue
        if not GLOB_CHARACTERS.intersection(part):
            matches = [posixpath.join(match, part) for match in matches]
            continue
        expanded = []
        for match in matches:
            folder = resolve_in_root(root, match)
            if folder is None or not os.path.isdir(folder):
                continue
            for name in sorted(os.listdir(folder)):
                if fnmatch.fnmatchcase(name, part):
                    expanded.append(posixpath.join(match, name))
        matches = expanded
    return matches


def _measure_tree(host_path: str) -> tuple[int, int]:
    status = os.stat(host_path)
    if not stat.S_ISDIR(status.st_mode):
        return 1, status.st_size if stat.S_ISREG(status.st_mode) else 0
    files = 0
    size = 0
    for folder, folders, names in os.walk(host_path):
        linked = [
            name for name in folders if os.path.islink(os.path.join(folder, name))
        ]
        for name in names + linked:
            entry = os.lstat(os.path.join(folder, name))
            files += 1
            if stat.S_ISREG(entry.st_mode):
                size += entry.st_size
    return files, size


# Summaries


def format_size(size: int) -> str:
    """Return a size in decimal units with about three significant digits."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if abs(value) < 1000 or unit == "GB":
            if unit == "B":
                return f"{int(value)} B"
            return f"{value:.1f} {unit}" if abs(value) < 10 else f"{value:.0f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def describe_stages(
    plan: Plan, sizes: dict[int, int], crossed: list[Crossing]
) -> dict[int, str]:
    """Return one sentence per built stage: its size and where its files went.

    For example "builder 881 MB; 1 file, 2.1 MB, reached the final image".
    """
    final_stages = _final_image_stages(plan)
    sentences = {}
    for stage_index, size in sizes.items():
        stage = plan.stages[stage_index]
        if stage.name is not None:
            parts = [f"{stage.name} {format_size(size)}"]
        else:
            parts = [f"stage {stage.index}: {format_size(size)}"]
        if stage_index == plan.target:
            parts.append("the final image")
        elif stage_index in final_stages:
            parts.append("base of the final image")
        outgoing = [c for c in crossed if c.source == stage_index]
        parts += _describe_crossings(plan, outgoing, final_stages)
        if len(parts) == 1:
            parts.append("nothing copied out of it")
        sentences[stage_index] = "; ".join(parts)
    return sentences


def _final_image_stages(plan: Plan) -> set[int]:
    """Return the target stage and the stages its image is based on through FROM."""
    stages = {plan.target}
    base = plan.stages[plan.target].base_stage
    while base is not None and base not in stages:
        stages.add(base)
        base = plan.stages[base].base_stage
    return stages


def _describe_crossings(
    plan: Plan, outgoing: list[Crossing], final_stages: set[int]
) -> list[str]:
    groups: dict[str, list[Crossing]] = {}
    for crossing in outgoing:
        if crossing.target in final_stages:
            where = "reached the final image"
        else:
            where = f"went to stage {plan.stages[crossing.target].label}"
        groups.setdefault(where, []).append(crossing)
    parts = []
    for where, group in groups.items():
        files = sum(crossing.files for crossing in group)
        size = sum(crossing.bytes for crossing in group)
        noun = "file" if files == 1 else "files"
        parts.append(f"{files} {noun}, {format_size(size)}, {where}")
    return parts


@dataclass(frozen=True)
class BuildSummary:
    """Sizes, crossings and one sentence per stage of a finished build."""

    steps: dict[Position, StepSize]
    stages: dict[int, int]
    stage_images: dict[int, str | None]
    crossings: list[Crossing]
    sentences: dict[int, str]


def summarize(
    buildah: Buildah,
    plan: Plan,
    step_images: dict[Position, str | None],
    sizes: ImageSizes | None = None,
) -> BuildSummary:
    """Compute everything this module reports about a finished build, with
    the sizes already read or being read in `sizes`."""
    sizes = sizes or ImageSizes(buildah)
    per_stage = stage_sizes(sizes, plan, step_images)
    crossed = crossings(buildah, plan, step_images)
    return BuildSummary(
        steps=step_sizes(sizes, plan, step_images),
        stages=per_stage,
        stage_images=stage_images(plan, step_images),
        crossings=crossed,
        sentences=describe_stages(plan, per_stage, crossed),
    )
