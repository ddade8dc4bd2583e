"""Headless subcommands of the `stagescope` command line.

Each module provides `register(subparsers)`, which adds its parser and sets
`handler` to a function that takes the parsed arguments and returns the exit
status.
"""
