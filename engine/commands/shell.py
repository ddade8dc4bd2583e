"""`stagescope shell`: a shell or one command in a throwaway container of an image."""

from __future__ import annotations

import argparse
import io
from typing import Any

from engine.commands.common import add_storage_options, buildah_from_args
from engine.shell import STAGE_MOUNT, TOOLBOX_IMAGE, run_shell


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "shell",
        help="open a shell, or run one command, in a throwaway container of an image",
        description=(
            "Create a working container from IMAGE, run an interactive shell in "
            "it (or the command after --), and remove the container afterwards. "
            "Changes made in it never reach the image. Images without /bin/sh "
            f"get a toolbox shell with the image's files at {STAGE_MOUNT}. "
            "The exit status is the command's; stagescope's own errors exit "
            "with 2, or 125 when buildah fails."
        ),
        epilog="example: stagescope shell localhost/app:latest -- cat /etc/os-release",
    )
    parser.add_argument("image", metavar="IMAGE", help="local image name or ID")
    parser.add_argument(
        "--toolbox",
        metavar="IMAGE",
        help=(
            "image whose /bin/sh serves images without a shell (default: "
            f"{TOOLBOX_IMAGE}, made from the host's static busybox if missing)"
        ),
    )
    parser.add_argument(
        "--quiet",
        "-q",
        action="store_true",
        help="print no banner before the shell or command",
    )
    add_storage_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run the shell or command and return its exit status."""
    buildah = buildah_from_args(args)
    command = list(getattr(args, "extra", []) or [])
    banner = io.StringIO() if args.quiet else None
    return run_shell(
        buildah,
        args.image,
        command=command,
        toolbox_image=args.toolbox,
        banner=banner,
    )
