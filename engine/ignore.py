"""Ignore-file rules: the files of a build context that buildah leaves out.

Buildah reads the ignore file from the context folder: `.containerignore`
when it exists, otherwise `.dockerignore` (`--ignorefile` names another). The
rules, as the containerignore(5) manual and buildah's behaviour define them:

- One pattern per line. A line starting with `#` is a comment; surrounding
  whitespace is trimmed and empty lines are skipped.
- Patterns are paths relative to the context root, which is both the working
  and the root folder: a leading `/` or `./` is dropped and the pattern is
  cleaned (`a//b/../c` is `a/c`, a trailing `/` goes).
- `*` matches any run of characters except `/`, `?` one character except
  `/`, `[...]` a character class (`[^...]` negated), `\\` escapes the next
  character, and `**` any number of folders, none included: `**/*.log`
  matches `a.log` and `x/y/a.log`.
- A pattern that matches a folder excludes everything below it.
- A pattern starting with `!` is an exception that puts matching paths back.
  For each path the last pattern that matches it, directly or through one of
  its folders, decides.

So `sub` then `!sub/keep.txt` keeps `sub/keep.txt` alone of `sub`, while
`!sub/keep.txt` then `sub` keeps nothing of it.
"""

from __future__ import annotations

import logging
import os
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

IGNORE_FILE_NAMES = (".containerignore", ".dockerignore")
"""The ignore files buildah looks for in the context root; the first found applies."""


@dataclass(frozen=True)
class IgnorePattern:
    """One cleaned pattern of an ignore file."""

    text: str
    exception: bool
    regex: re.Pattern[str]

    def matches(self, path: str) -> bool:
        """Return True when the pattern matches `path` or one of its folders."""
        if self.regex.fullmatch(path):
            return True
        parts = path.split("/")
        return any(
            self.regex.fullmatch("/".join(parts[:count]))
            for count in range(1, len(parts))
        )


@dataclass(frozen=True)
class IgnoreRules:
    """The ignore patterns of one build context, in file order."""

    patterns: tuple[IgnorePattern, ...] = ()
    source: Path | None = field(default=None, compare=False)
    """The ignore file the rules came from, or None when there was none."""

    @classmethod
    def parse(cls, text: str, source: Path | None = None) -> IgnoreRules:
        """Parse the text of an ignore file; invalid patterns are logged and skipped."""
        patterns = []
        for number, line in enumerate(text.splitlines(), start=1):
            try:
                pattern = parse_pattern(line)
            except ValueError as error:
                where = source or "ignore file"
                log.warning("%s line %d: %s; skipping it", where, number, error)
                continue
            if pattern is not None:
                patterns.append(pattern)
        return cls(tuple(patterns), source)

    @classmethod
    def for_context(cls, context: Path, ignore_file: Path | None = None) -> IgnoreRules:
        """Read the rules that buildah applies to `context`.

        `ignore_file` is the value of `--ignorefile`, if given. A context with
        no ignore file gets empty rules, which ignore nothing.
        """
        candidates = [ignore_file] if ignore_file else ignore_file_paths(context)
        for path in candidates:
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except FileNotFoundError:
                continue
            except OSError as error:
                log.warning(
                    "cannot read %s: %s; ignoring nothing", path, error.strerror
                )
                return cls()
            return cls.parse(text, path)
        return cls()

    @property
    def has_exceptions(self) -> bool:
        return any(pattern.exception for pattern in self.patterns)

    def ignored(self, path: str) -> bool:
        """Return True when buildah leaves `path` (relative, `/`-separated) out."""
        path = clean_path(path)
        if path in ("", "."):
            return False
        ignored = False
        for pattern in self.patterns:
            # Only a pattern that could change the current result needs checking.
            if pattern.exception != ignored:
                continue
            if pattern.matches(path):
                ignored = not pattern.exception
        return ignored

    def included_paths(self, context: Path, folder: str = ".") -> Iterator[str]:
        """Yield every path at or below `folder` of `context` that is not ignored.

        Paths are relative to the context and include folders, so that an
        empty folder, which COPY reproduces, counts too.
        """
        folder = clean_path(folder)
        start = context / folder
        if not start.is_dir():
            if start.exists() and not self.ignored(folder):
                yield folder
            return
        prune = not self.has_exceptions
        for root, folders, files in os.walk(start):
            prefix = posixpath.relpath(root, str(context))
            kept = []
            for name in sorted(folders):
                relative = clean_path(posixpath.join(prefix, name))
                if not self.ignored(relative):
                    yield relative
                    kept.append(name)
                elif not prune:
                    kept.append(name)
            folders[:] = kept
            for name in sorted(files):
                relative = clean_path(posixpath.join(prefix, name))
                if not self.ignored(relative):
                    yield relative


def ignore_file_paths(context: Path) -> list[Path]:
    return [context / name for name in IGNORE_FILE_NAMES]


def parse_pattern(line: str) -> IgnorePattern | None:
    """Turn one line of an ignore file into a pattern, or None for no pattern.

    Raises ValueError for a pattern buildah rejects, such as a lone `!` or an
    unclosed `[`.
    """
    if line.startswith("#"):
        return None
    text = line.strip()
    if not text:
        return None
    exception = text.startswith("!")
    if exception:
        text = text[1:].strip()
        if not text:
            raise ValueError("'!' without a pattern")
    text = clean_path(text)
    return IgnorePattern(text=text, exception=exception, regex=compile_pattern(text))


def clean_path(path: str) -> str:
    """Clean a path as Go's filepath.Clean does, relative to the context root."""
    cleaned = posixpath.normpath(path)
    if cleaned.startswith("//"):
        cleaned = cleaned[1:]
    if len(cleaned) > 1 and cleaned.startswith("/"):
        cleaned = cleaned[1:]
    return cleaned


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """Translate a pattern to a regular expression matching whole paths."""
    parts: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**", index):
            index += 2
            if pattern.startswith("/", index):
                parts.append("(?:.*/)?")
                index += 1
            else:
                parts.append(".*")
            continue
        if char == "*":
            parts.append("[^/]*")
        elif char == "?":
            parts.append("[^/]")
        elif char == "[":
            translated, index = _character_class(pattern, index)
            parts.append(translated)
            continue
        elif char == "\\":
            if index + 1 >= len(pattern):
                raise ValueError(f"pattern {pattern!r} ends with a lone backslash")
            index += 1
            parts.append(re.escape(pattern[index]))
        else:
            parts.append(re.escape(char))
        index += 1
    return re.compile("".join(parts), re.DOTALL)


def _character_class(pattern: str, start: int) -> tuple[str, int]:
    """Translate the `[...]` class at `pattern[start]`; return it and the next index."""
    index = start + 1
    parts = ["["]
    if index < len(pattern) and pattern[index] == "^":
        parts.append("^")
        index += 1
    first = True
    while index < len(pattern):
        char = pattern[index]
        if char == "]" and not first:
            parts.append("]")
            return "".join(parts), index + 1
        if char == "\\" and index + 1 < len(pattern):
            index += 1
            char = pattern[index]
            parts.append(re.escape(char))
        elif char == "-" and not first and pattern[index + 1 : index + 2] != "]":
            parts.append("-")
        else:
            parts.append(re.escape(char))
        first = False
        index += 1
    raise ValueError(f"pattern {pattern!r} has an unclosed '['")
