"""Build-argument expansion as Containerfile FROM lines do it.

Supports `$NAME`, `${NAME}`, `${NAME:-default}`, `${NAME-default}`,
`${NAME:+alt}` and `${NAME+alt}`; a backslash escapes `$`. The default and
alternative words are expanded in turn. Quotes are removed as buildah removes
them from ARG values and FROM words: `"..."` still expands references inside,
`'...'` keeps its content literally.
"""

from __future__ import annotations

import platform
import re

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_MACHINE_TO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}


def platform_args() -> dict[str, str]:
    """Return the platform ARGs that buildah predefines in every build."""
    arch = _MACHINE_TO_ARCH.get(platform.machine(), platform.machine())
    values = {"OS": "linux", "ARCH": arch, "PLATFORM": f"linux/{arch}"}
    args: dict[str, str] = {}
    for prefix in ("TARGET", "BUILD"):
        for key, value in values.items():
            args[prefix + key] = value
    return args


def expand(text: str, values: dict[str, str]) -> str:
    """Expand variable references in `text`; unset names become empty."""
    result: list[str] = []
    index = 0
    in_double_quotes = False
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text) and text[index + 1] in "$\"'":
            result.append(text[index + 1])
            index += 2
        elif char == '"':
            in_double_quotes = not in_double_quotes
            index += 1
        elif char == "'" and not in_double_quotes:
            end = text.find("'", index + 1)
            end = len(text) if end < 0 else end
            result.append(text[index + 1 : end])
            index = end + 1
        elif char == "$":
            expanded, index = _expand_reference(text, index, values)
            result.append(expanded)
        else:
            result.append(char)
            index += 1
    return "".join(result)


def _expand_reference(text: str, start: int, values: dict[str, str]) -> tuple[str, int]:
    """Expand the reference at text[start] == '$' and return it and the next index."""
    if start + 1 < len(text) and text[start + 1] == "{":
        end = _closing_brace(text, start + 2)
        if end < 0:
            return text[start:], len(text)
        return _expand_braced(text[start + 2 : end], values), end + 1

    match = NAME.match(text, start + 1)
    if not match:
        return "$", start + 1
    return values.get(match.group(), ""), match.end()


def _closing_brace(text: str, start: int) -> int:
    depth = 1
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    return -1


def _expand_braced(body: str, values: dict[str, str]) -> str:
    match = NAME.match(body)
    if not match:
        return ""
    name = match.group()
    operator = body[match.end() :]
    value = values.get(name)

    for prefix, needs_nonempty in ((":-", True), ("-", False)):
        if operator.startswith(prefix):
            missing = value is None or (needs_nonempty and value == "")
            return expand(operator[len(prefix) :], values) if missing else value or ""
    for prefix, needs_nonempty in ((":+", True), ("+", False)):
        if operator.startswith(prefix):
            present = value is not None and (value != "" or not needs_nonempty)
            return expand(operator[len(prefix) :], values) if present else ""
    return value or ""
