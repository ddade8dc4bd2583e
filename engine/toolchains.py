"""Recognise compiler toolchains: toolchain base images and compiler packages.

The pre-flight checks use these to spot a final image that still contains the
tools that built it. Both tests are heuristics on names: an image or package
that is not listed here is not reported.
"""

from __future__ import annotations

import re
import shlex

ALWAYS_TOOLCHAIN_IMAGES = frozenset(
    {"golang", "rust", "gcc", "maven", "gradle", "buildpack-deps", "swift"}
)
"""Official images whose every tag contains a compiler or a build tool."""

JDK_IMAGES = frozenset({"openjdk", "eclipse-temurin", "amazoncorretto", "sapmachine"})
"""Java images that contain a JDK unless the tag names a JRE."""

FULL_IMAGES = frozenset({"node", "python", "ruby"})
"""Images whose default tags are based on buildpack-deps, which has gcc and make,
while their `slim` and `alpine` tags are runtimes only."""

RUNTIME_TAG_WORDS = ("slim", "alpine")

INSTALL_COMMANDS = {
    "apt-get": "install",
    "apt": "install",
    "apk": "add",
    "dnf": "install",
    "yum": "install",
    "microdnf": "install",
}
"""Package managers and the subcommand that installs packages."""

COMPILER_PACKAGES = re.compile(
    r"^(?:"
    r"gcc(?:-\d+)?|g\+\+(?:-\d+)?|gcc-c\+\+|clang(?:-\d+)?|build-essential|build-base"
    r"|golang(?:-go|-\d+(?:\.\d+)?(?:-go)?)?|go|rustc|cargo|default-jdk(?:-headless)?"
    r"|openjdk-\d+-jdk(?:-headless)?|java-\d+-openjdk-devel|maven|gradle|make|cmake"
    r")$"
)
"""Compiler and build-tool package names of Debian, Alpine and Fedora."""

COMMAND_SEPARATOR = re.compile(r"&&|\|\||[;|\n]")


def image_name_and_tag(reference: str) -> tuple[str, str]:
    """Return the last path component of an image reference and its tag.

    `docker.io/library/python:3.12-slim@sha256:...` gives ("python",
    "3.12-slim"); a reference without a tag gives an empty tag.
    """
    reference = reference.split("@", 1)[0]
    path, _, last = reference.rpartition("/")
    name, _, tag = last.partition(":")
    if path.endswith("dotnet") and name == "sdk":
        return "dotnet/sdk", tag
    return name.lower(), tag.lower()


def is_toolchain_image(reference: str) -> bool:
    """Return True for a base image known to contain a compiler toolchain."""
    name, tag = image_name_and_tag(reference)
    if name in ALWAYS_TOOLCHAIN_IMAGES or name == "dotnet/sdk":
        return True
    if name in JDK_IMAGES:
        return "jre" not in tag
    if name in FULL_IMAGES:
        return not any(word in tag for word in RUNTIME_TAG_WORDS)
    return False


def installed_compilers(command: str) -> list[str]:
    """Return the compiler packages that a shell command installs, in order.

    The command is split at `&&`, `||`, `;`, `|` and newlines, and each part is
    read as `MANAGER [options] install|add PACKAGE...`. A `name=version` or
    `name-version` pin keeps its name only when the name itself is listed.
    """
    found: list[str] = []
    for part in COMMAND_SEPARATOR.split(command.replace("\\\n", " ")):
        words = _split_words(part)
        for index, word in enumerate(words):
            subcommand = INSTALL_COMMANDS.get(word.rsplit("/", 1)[-1])
            if subcommand is None:
                continue
            for position in range(index + 1, len(words)):
                if words[position] == subcommand:
                    found += _compiler_packages(words[position + 1 :])
                    break
            break
    return found


def _split_words(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def _compiler_packages(words: list[str]) -> list[str]:
    packages = []
    for word in words:
        if word.startswith("-"):
            continue
        name = word.split("=", 1)[0]
        if COMPILER_PACKAGES.match(name):
            packages.append(name)
    return packages
