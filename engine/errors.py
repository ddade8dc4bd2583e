"""Errors that reach the user as one line of text and a non-zero exit."""

from __future__ import annotations

from pathlib import Path


class StagescopeError(Exception):
    """An error with a message fit to show the user as it is."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ContainerfileError(StagescopeError):
    """Invalid Containerfile input, located at a file and line."""

    def __init__(self, path: Path | str, line: int | None, message: str) -> None:
        location = f"{path}:{line}" if line else str(path)
        super().__init__(f"{location}: {message}")
        self.path = Path(path)
        self.line = line


class BuildahError(StagescopeError):
    """A buildah command failed or buildah itself is unusable."""

    exit_code = 125


class UsageError(StagescopeError):
    """Invalid command-line arguments, such as a malformed breakpoint."""


def read_text_file(path: Path, description: str) -> str:
    """Return a UTF-8 file the user named; raise UsageError naming the file
    and its `description` (such as "the recording") when it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        message = f"{path}: cannot read {description}: {error.strerror}"
        raise UsageError(message) from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: {description} is not UTF-8 text") from None
