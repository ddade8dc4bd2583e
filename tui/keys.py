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

import functools
import importlib
import os
import re
import string
import sys
import tomllib
from pathlib import Path

import textual.keys
from textual.binding import Binding
from textual.keys import Keys

from engine.errors import UsageError, read_text_file

PREFIX = "stagescope."
MODIFIERS = frozenset({"ctrl", "shift", "alt", "meta", "super", "hyper"})


@functools.cache
def key_names() -> frozenset[str]:
    """Return the names Textual gives keys: `f5`, `up`, `question_mark`, `a`..."""
    named = {key.value for key in Keys if "+" not in key.value}
    # Textual names a printable key with this function, which is private.
    to_name = getattr(textual.keys, "_character_to_key", None)
    if to_name is None:
        return frozenset(named | set(string.ascii_letters + string.digits))
    printable = {to_name(c) for c in string.printable if c.isprintable()}
    return frozenset(named | printable)


def is_key(text: str) -> bool:
    """Tell whether `text`, such as `ctrl+n`, names a key Textual can bind."""
    *modifiers, key = text.split("+")
    return all(m in MODIFIERS for m in modifiers) and key in key_names()


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
    text = read_text_file(path, "the key file").removeprefix("\ufeff")
    try:
        data = _flatten(tomllib.loads(text))
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
        if not parts or not all(is_key(part) for part in parts):
            raise UsageError(
                f"{where}: {name} = {keys!r} is not a key; give Textual key names "
                'in quotes, comma-separated, such as "f5", "ctrl+n,down" or '
                '"question_mark" for ?'
            )
        keymap[PREFIX + name] = ",".join(parts)
    return keymap


def _flatten(data: dict[str, object], prefix: str = "") -> dict[str, object]:
    """Return TOML data with tables as dotted names: `search.next = "x"`
    written without quotes is the table `search` in TOML."""
    flat: dict[str, object] = {}
    for name, value in data.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{name}."))
        else:
            flat[prefix + name] = value
    return flat


def _line_of(text: str, name: str) -> int:
    """Return the line that sets `name`, or 1 when it cannot be found."""
    quoted = "|".join(
        re.escape(variant)
        for variant in (name, f'"{name}"', f"'{name}'", name.replace(".", " . "))
    )
    pattern = re.compile(rf"^\s*(?:{quoted})\s*=")
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.match(line):
            return number
    return 1
