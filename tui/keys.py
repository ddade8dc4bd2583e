"""The user's key file: other keys for the app's actions.

`~/.config/stagescope/keys.toml` (or the file that `--keys` names) maps
action names to keys, in Textual's key names:

    continue = "f5"
    next = "f10"
    "search.next" = "ctrl+n,down"

An action's name is its binding id without the `stagescope.` prefix. The
help screen (`?`) lists every action with its name and current keys. A
wrong name is reported with the list of names.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import tomllib
from pathlib import Path

from textual.binding import Binding

from engine.errors import UsageError, read_text_file

PREFIX = "stagescope."
KEY_NAME = re.compile(r"^[A-Za-z0-9_]+(?:\+[A-Za-z0-9_]+)*$")
"""A Textual key name, such as `f5`, `ctrl+n` or `question_mark`."""


def default_key_file() -> Path:
    """Return $XDG_CONFIG_HOME/stagescope/keys.toml, or ~/.config/...."""
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "stagescope" / "keys.toml"


def shown_path(path: Path) -> str:
    """Return `path` with the home folder written as `~`."""
    try:
        return "~/" + str(path.relative_to(Path.home()))
    except ValueError:
        return str(path)


def action_names() -> list[str]:
    """Return the name of every action that has a binding id, sorted."""
    for package in ("tui.screens", "tui.widgets"):
        folder = Path(importlib.import_module(package).__path__[0])
        for source in sorted(folder.glob("*.py")):
            importlib.import_module(f"{package}.{source.stem}")
    importlib.import_module("tui.app")
    names = set()
    for name, module in list(sys.modules.items()):
        if not name.startswith("tui.") or module is None:
            continue
        for value in vars(module).values():
            for binding in getattr(value, "BINDINGS", None) or ():
                if isinstance(binding, Binding) and (binding.id or "").startswith(
                    PREFIX
                ):
                    names.add(binding.id.removeprefix(PREFIX))  # type: ignore[union-attr]
    return sorted(names)


def load_keymap(path: Path | None) -> dict[str, str]:
    """Read a key file into a Textual keymap (binding id to keys).

    `path` None reads the default file if it exists. Raises UsageError with
    the file and line of a mistake.
    """
    if path is None:
        path = default_key_file()
        if not path.is_file():
            return {}
    text = read_text_file(path, "the key file")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise UsageError(
            f"{path}: not a TOML key file ({error}); write lines such as "
            'continue = "f5"'
        ) from None
    known = action_names()
    keymap = {}
    for name, keys in data.items():
        where = f"{path}:{_line_of(text, name)}"
        if name not in known:
            raise UsageError(
                f"{where}: unknown action {name!r}; the actions are {', '.join(known)}"
            )
        parts = (
            [part.strip() for part in keys.split(",")] if isinstance(keys, str) else []
        )
        if not parts or not all(KEY_NAME.match(part) for part in parts):
            raise UsageError(
                f"{where}: {name} = {keys!r} is not a key; give Textual key names "
                'in quotes, comma-separated, such as "f5" or "ctrl+n,down"'
            )
        keymap[PREFIX + name] = ",".join(parts)
    return keymap


def _line_of(text: str, name: str) -> int:
    """Return the line that sets `name`, or 1 when it cannot be found."""
    pattern = re.compile(rf"^\s*(?:{re.escape(name)}|[\"']{re.escape(name)}[\"'])\s*=")
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.match(line):
            return number
    return 1
