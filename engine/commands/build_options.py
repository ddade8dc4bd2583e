"""The build options shared by `stagescope run`, `graph` and the app."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from engine.breakpoints import Breakpoint
from engine.commands.common import add_storage_options, buildah_from_args
from engine.conditions import Condition, parse_conditions
from engine.errors import UsageError
from engine.plan import find_containerfile
from engine.runner import BuildRequest


def add_containerfile_options(parser: argparse.ArgumentParser) -> None:
    """Add the options that choose and read the Containerfile."""
    parser.add_argument(
        "context", nargs="?", default=".", help="build context folder (default: .)"
    )
    parser.add_argument(
        "-f",
        "--file",
        help="Containerfile to build (default: Containerfile, then Dockerfile, "
        "in the context)",
    )
    parser.add_argument(
        "--build-arg",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="build argument, as for buildah; NAME alone takes the environment's value",
    )
    parser.add_argument("--target", help="name of the stage to build up to")


def add_build_options(parser: argparse.ArgumentParser) -> None:
    """Add every option that `run` and the app pass through to `buildah bud`."""
    add_containerfile_options(parser)
    parser.add_argument(
        "-t", "--tag", action="append", default=[], help="name for the final image"
    )
    parser.add_argument(
        "--secret",
        action="append",
        default=[],
        help="secret for RUN --mount=type=secret",
    )
    parser.add_argument(
        "--pull",
        choices=["never", "missing"],
        help="when to pull base images (default: buildah's)",
    )
    parser.add_argument(
        "--format", dest="image_format", choices=["oci", "docker"], help="image format"
    )
    parser.add_argument(
        "--break",
        dest="breakpoints",
        action="append",
        default=[],
        metavar="SPEC",
        help="pause before an instruction: STAGE, STAGE:N (FROM is step 1), "
        "STAGE:end, or a Containerfile line number",
    )
    parser.add_argument(
        "--break-if",
        dest="conditions",
        action="append",
        default=[],
        metavar="CONDITION",
        help="pause after any step that meets CONDITION: duration>SECONDS "
        "(ran longer, e.g. duration>30 or duration>2m), output~REGEX (printed "
        "a matching line), size>BYTES (added more in its layers, e.g. "
        "size>100MB); the step finishes first, as buildah cannot stop inside a "
        "step",
    )
    add_storage_options(parser)


def parse_build_args(values: list[str]) -> tuple[tuple[str, str], ...]:
    pairs = []
    for value in values:
        name, separator, text = value.partition("=")
        if not name:
            raise UsageError(f"--build-arg {value!r}: write NAME=VALUE")
        if not separator:
            if name not in os.environ:
                continue
            text = os.environ[name]
        pairs.append((name, text))
    return tuple(pairs)


def request_from_args(args: argparse.Namespace) -> BuildRequest:
    """Build the request that `run` and the app hand to a BuildSession."""
    context = Path(args.context)
    if not context.is_dir():
        raise UsageError(f"{args.context}: build context folder not found")
    containerfile = find_containerfile(context, args.file)
    return BuildRequest(
        context=context,
        containerfile=containerfile,
        buildah=buildah_from_args(args),
        tags=tuple(getattr(args, "tag", [])),
        build_args=parse_build_args(args.build_arg),
        target=args.target,
        secrets=tuple(getattr(args, "secret", [])),
        pull=getattr(args, "pull", None),
        image_format=getattr(args, "image_format", None),
        extra_args=tuple(getattr(args, "extra", [])),
    )


def breakpoints_from_args(args: argparse.Namespace) -> list[Breakpoint]:
    return [Breakpoint(spec) for spec in getattr(args, "breakpoints", [])]


def conditions_from_args(args: argparse.Namespace) -> list[Condition]:
    """Parse the --break-if values; raise UsageError for an invalid one."""
    return parse_conditions(getattr(args, "conditions", []))
