"""`stagescope base-images`: make the local base images the examples build on."""

from __future__ import annotations

import argparse

from engine.baseimages import (
    BUSYBOX_IMAGE,
    DEBIAN_IMAGE,
    BaseImageResult,
    ensure_busybox_image,
    ensure_debian_image,
)
from engine.commands.common import add_storage_options, buildah_from_args


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "base-images",
        help="make local busybox and Debian base images without a registry",
        description=(
            f"Make {BUSYBOX_IMAGE} from the host's static busybox and, with "
            f"--debian, {DEBIAN_IMAGE} with debootstrap from the host's Debian "
            "mirror. Images that already exist in the storage are kept as they "
            "are. Needs root, because it mounts containers and runs debootstrap."
        ),
    )
    parser.add_argument(
        "--debian",
        action="store_true",
        help=f"also make {DEBIAN_IMAGE} (downloads the minbase packages)",
    )
    parser.add_argument(
        "--mirror",
        help=(
            "Debian mirror URL for debootstrap (default: the host's apt source "
            "for bookworm, else http://deb.debian.org/debian)"
        ),
    )
    add_storage_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    buildah = buildah_from_args(args)
    buildah.ensure_usable()
    announce(BUSYBOX_IMAGE)
    report(ensure_busybox_image(buildah))
    if args.debian:
        announce(DEBIAN_IMAGE)
        report(ensure_debian_image(buildah, mirror=args.mirror))
    return 0


def announce(reference: str) -> None:
    print(f"{reference}: checking", flush=True)


def report(result: BaseImageResult) -> None:
    if result.created:
        print(
            f"{result.reference}: made {result.image_id[:12]} in {result.seconds:.1f} s"
        )
    else:
        print(f"{result.reference}: already present as {result.image_id[:12]}")
