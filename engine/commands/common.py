"""Options shared by several subcommands."""

from __future__ import annotations

import argparse

from engine.buildah import Buildah, StorageOptions


def add_storage_options(parser: argparse.ArgumentParser) -> None:
    """Add buildah's storage and isolation options, passed through unchanged."""
    group = parser.add_argument_group("buildah storage and isolation")
    group.add_argument("--root", help="buildah storage root folder")
    group.add_argument("--runroot", help="buildah storage state folder")
    group.add_argument("--storage-driver", help="buildah storage driver, e.g. overlay")
    group.add_argument(
        "--isolation",
        help="how RUN steps and shells are isolated: oci, chroot or rootless",
    )
    group.add_argument("--runtime", help="OCI runtime for RUN steps, e.g. runc")


def buildah_from_args(args: argparse.Namespace) -> Buildah:
    storage = StorageOptions(
        root=args.root, runroot=args.runroot, storage_driver=args.storage_driver
    )
    return Buildah(storage=storage, isolation=args.isolation, runtime=args.runtime)
