"""Command lines that open the app: `stagescope [OPTIONS] CONTEXT` and
`stagescope replay FILE`.

Both check their input before the app starts, so a missing buildah, a bad
Containerfile or an unreadable recording ends with one line on stderr and a
non-zero status instead of a screen. A live build also runs the pre-flight
checks first: an error stops it with one such line and status 1, as in
`stagescope run`, while warnings and info go to the app's findings list.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from engine.checks import check_request
from engine.cli import split_extra
from engine.commands.build_options import (
    add_build_options,
    add_containerfile_options,
    breakpoints_from_args,
    conditions_from_args,
    parse_build_args,
    request_from_args,
)
from engine.errors import StagescopeError, UsageError
from engine.events import BuildStarted, Event
from engine.plan import Plan, find_containerfile, load_plan
from tui.keys import load_keymap
from tui.preflight import plan_check, preflight_error
from tui.replay import check_recording, load_recording


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stagescope",
        description="Step through a multistage Containerfile build run by buildah. "
        "Options after -- go to buildah bud unchanged. Subcommands (graph, run, "
        "replay, ...) work without the screen; see `stagescope --help`.",
    )
    add_build_options(parser)
    parser.add_argument(
        "--watch",
        action="store_true",
        help="after the build, rebuild whenever a file of the context or the "
        "Containerfile changes",
    )
    _add_app_options(parser)
    return parser


def build_replay_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stagescope replay",
        description="Show a build recorded with `stagescope run --json > FILE` "
        "without running buildah. The recording does not contain the "
        "Containerfile, so give the one it was made from (with -f or as the "
        "context folder); shell and diff need a live build's images.",
    )
    parser.add_argument("recording", help="JSON lines file written by `run --json`")
    add_containerfile_options(parser)
    parser.add_argument(
        "--break",
        dest="breakpoints",
        action="append",
        default=[],
        metavar="SPEC",
        help="also pause the replay before an instruction: STAGE, STAGE:N "
        "(FROM is step 1), STAGE:end, or a Containerfile line number",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=0.0,
        help="play at this multiple of the recorded step times; 0 (the default) "
        "plays without waiting",
    )
    _add_app_options(parser)
    return parser


def _add_app_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-dir",
        type=Path,
        help="folder for the full logs (default: ~/.cache/stagescope/logs)",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="log what stagescope does to the log folder",
    )
    parser.add_argument(
        "--keys",
        type=Path,
        metavar="FILE",
        help="other keys for the app's actions, as lines such as continue = "
        '"f5" (default: ~/.config/stagescope/keys.toml, if it exists)',
    )


def launch(arguments: list[str]) -> int:
    """Open the app on a live build; return the exit status."""
    own, extra = split_extra(arguments)
    args = build_parser().parse_args(own)
    args.extra = extra
    try:
        request = request_from_args(args)
        version = request.buildah.ensure_usable()
        findings = check_request(request, version)
        error = preflight_error(findings, request.containerfile)
        if error is not None:
            raise error
        plan = request.load_plan()
        request.ensure_local_bases(plan)
        breakpoints = breakpoints_from_args(args)
        for breakpoint in breakpoints:
            breakpoint.resolve(plan)
        conditions = conditions_from_args(args)
        keymap = load_keymap(args.keys)
    except StagescopeError as error:
        return _fail(error)
    from tui.factory import create_app
    from tui.screens.debugger import apply_conditions

    app = create_app(
        plan,
        request=request,
        breakpoints=breakpoints,
        log_root=args.log_dir,
        watch=args.watch,
        findings=findings,
        buildah_version=version,
        keymap=keymap,
    )
    apply_conditions(app, conditions)
    return _run(app, args.debug)


def replay(arguments: list[str]) -> int:
    """Open the app on a recording; return the exit status."""
    args = build_replay_parser().parse_args(arguments)
    try:
        if args.speed < 0:
            raise UsageError(f"--speed {args.speed}: give 0 or a positive number")
        recording = Path(args.recording)
        events = load_recording(recording)
        plan = _replay_plan(args, events)
        check_recording(events, plan, recording)
        breakpoints = breakpoints_from_args(args)
        for breakpoint in breakpoints:
            breakpoint.resolve(plan)
        keymap = load_keymap(args.keys)
    except StagescopeError as error:
        return _fail(error)
    from tui.factory import create_app

    app = create_app(
        plan,
        recording=events,
        keymap=keymap,
        breakpoints=breakpoints,
        speed=args.speed,
        log_root=args.log_dir,
        check=plan_check(plan),
    )
    return _run(app, args.debug)


def _replay_plan(args: argparse.Namespace, events: list[Event]) -> Plan:
    """Load the Containerfile named on the command line, else the recorded one."""
    recorded = next(
        (Path(e.containerfile) for e in events if isinstance(e, BuildStarted)), None
    )
    context = Path(args.context)
    if args.file is None and args.context == "." and recorded is not None:
        if recorded.is_file():
            return load_plan(
                recorded, dict(parse_build_args(args.build_arg)), args.target
            )
        raise UsageError(
            f"{args.recording} was recorded from {recorded}, which does not exist "
            "here: give the Containerfile with -f FILE or its context folder"
        )
    if not context.is_dir():
        raise UsageError(f"{args.context}: build context folder not found")
    containerfile = find_containerfile(context, args.file)
    return load_plan(containerfile, dict(parse_build_args(args.build_arg)), args.target)


def _fail(error: StagescopeError) -> int:
    print(f"stagescope: error: {error.message}", file=sys.stderr)
    return error.exit_code


def _run(app: object, debug: bool) -> int:
    from tui.app import StagescopeApp

    assert isinstance(app, StagescopeApp)
    log_file = app.log_store.folder / "stagescope.log"
    logging.basicConfig(
        filename=log_file,
        level=logging.DEBUG if debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        app.run()
    except KeyboardInterrupt:
        return 130
    return app.return_code or 0
