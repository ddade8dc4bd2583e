"""`stagescope check`: report what Buildah will do with a Containerfile.

Text output is one `file:line: severity: message` line per finding, on
stdout. With --json the output is one JSON list of `{"severity", "line",
"code", "message"}` objects. The exit status is 1 when a finding is an error
and 0 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from engine.buildah import Buildah
from engine.checks import (
    Finding,
    Version,
    check_file,
    check_request,
    has_errors,
    installed_version,
)
from engine.commands.build_options import add_containerfile_options, parse_build_args
from engine.errors import UsageError
from engine.events import CheckFinding
from engine.plan import find_containerfile
from engine.runner import BuildRequest


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check",
        help="report what Buildah will do with a Containerfile, without building",
        description="Check a Containerfile against the installed Buildah: "
        "features it does not support, stage names, build arguments, skipped "
        "stages and toolchains left in the final image. Exits with status 1 "
        "when a finding is an error.",
    )
    add_containerfile_options(parser)
    parser.add_argument(
        "--format",
        dest="image_format",
        choices=["oci", "docker"],
        help="image format the build will use (default: $BUILDAH_FORMAT, else oci)",
    )
    parser.add_argument(
        "--json", action="store_true", help="write the findings as one JSON list"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    context = Path(args.context)
    if not context.is_dir():
        raise UsageError(f"{args.context}: build context folder not found")
    containerfile = find_containerfile(context, args.file)
    findings = check_file(
        containerfile,
        installed_version(Buildah()),
        build_args=dict(parse_build_args(args.build_arg)),
        target=args.target,
        image_format=args.image_format,
    )
    if args.json:
        write_json(findings, sys.stdout)
    else:
        for finding in findings:
            print(finding.format(containerfile))
    return 1 if has_errors(findings) else 0


def write_json(findings: list[Finding], stream: TextIO) -> None:
    data = [finding.to_dict() for finding in findings]
    stream.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def report_before_build(
    request: BuildRequest, version: Version | None, as_json: bool
) -> bool:
    """Print the findings for a build about to start; return False on an error.

    Text goes to stderr as `file:line: severity: message`; in JSON mode each
    finding goes to stdout as a `check` event. When a finding is an error the
    build will not start, so only the errors are printed.
    """
    findings = check_request(request, version)
    if has_errors(findings):
        findings = [finding for finding in findings if finding.severity == "error"]
    path = str(request.containerfile)
    for finding in findings:
        if as_json:
            event = CheckFinding(file=path, **finding.to_dict())
            print(event.to_json(), flush=True)
        else:
            print(finding.format(path), file=sys.stderr, flush=True)
    return not has_errors(findings)
