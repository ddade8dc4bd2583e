"""Entry point of the `stagescope` command.

With a subcommand (`graph`, `run`, `shell`, `diff`, ...) it runs the headless
command line; without one it opens the app on a build.
"""

from __future__ import annotations

import sys

from engine import cli


def main(argv: list[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    own, _ = cli.split_extra(arguments)
    first = next((word for word in own if not word.startswith("-")), None)
    if first == "replay":
        from tui.launch import replay

        position = arguments.index("replay")
        return replay(arguments[:position] + arguments[position + 1 :])
    wants_help = any(word in ("-h", "--help") for word in own) and first is None
    if first in cli.COMMAND_MODULES or wants_help:
        return cli.main(arguments)
    from tui.launch import launch

    return launch(arguments)


if __name__ == "__main__":
    sys.exit(main())
