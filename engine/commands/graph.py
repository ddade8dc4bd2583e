"""`stagescope graph`: print the stage graph without building."""

from __future__ import annotations

import argparse
from typing import Any

from engine.commands.build_options import add_containerfile_options, request_from_args
from engine.commands.common import add_storage_options
from engine.graph import FORMATS, render


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "graph",
        help="print the stage graph of a Containerfile",
        description="Print the stages of a Containerfile and the edges between "
        "them (FROM <stage>, COPY/ADD --from, RUN --mount from=).",
    )
    add_containerfile_options(parser)
    parser.add_argument(
        "--format",
        dest="output_format",
        choices=FORMATS,
        default="text",
        help="output format (default: text)",
    )
    add_storage_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    request = request_from_args(args)
    print(render(request.load_plan(), args.output_format))
    return 0
