"""The headless `stagescope` command line: graph, run, shell, diff and more."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from engine.errors import StagescopeError

log = logging.getLogger(__name__)

COMMAND_MODULES = {
    "graph": "engine.commands.graph",
    "run": "engine.commands.run",
    "shell": "engine.commands.shell",
    "diff": "engine.commands.diff",
    "base-images": "engine.commands.base_images",
    "check": "engine.commands.check",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stagescope",
        description="Step through multistage Containerfile builds run by buildah.",
        epilog="Without a command, stagescope opens the app on a build: "
        "stagescope [build options, as for run] [CONTEXT]. "
        "stagescope replay RECORDING [-f CONTAINERFILE] [CONTEXT] shows a "
        "recording made with `stagescope run --json` in the app.",
    )
    parser.add_argument(
        "--debug", action="store_true", help="log what the engine does to stderr"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES.values():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            continue
        module.register(subparsers)
    return parser


def split_extra(argv: list[str]) -> tuple[list[str], list[str]]:
    """Split the arguments at the first `--`; the rest go to buildah or the shell."""
    if "--" in argv:
        index = argv.index("--")
        return argv[:index], argv[index + 1 :]
    return argv, []


def main(argv: list[str] | None = None) -> int:
    own, extra = split_extra(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser()
    args = parser.parse_args(own)
    args.extra = extra
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="stagescope: %(levelname)s: %(name)s: %(message)s",
    )
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.handler(args))
    except StagescopeError as error:
        print(f"stagescope: error: {error.message}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130
