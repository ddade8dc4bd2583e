"""Ignore-file rules: parsing, matching, and agreement with buildah's COPY."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from engine.buildah import Buildah
from engine.events import Event, LogBlock
from engine.ignore import IgnoreRules, clean_path, compile_pattern, parse_pattern
from engine.runner import BuildRequest, BuildSession, State


def rules(*lines: str) -> IgnoreRules:
    return IgnoreRules.parse("\n".join(lines))


def make_files(root: Path, *paths: str) -> None:
    for path in paths:
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path + "\n")


# Parsing


def test_comment_and_blank_lines_are_not_patterns() -> None:
    parsed = rules("# comment", "", "   ", "*.log")
    assert [p.text for p in parsed.patterns] == ["*.log"]


def test_pattern_whitespace_is_trimmed() -> None:
    assert rules("  build  ").ignored("build")


def test_hash_after_column_one_is_part_of_the_pattern() -> None:
    assert rules(" #x").ignored("#x")


def test_leading_slash_and_dot_slash_are_stripped() -> None:
    parsed = rules("/top.txt", "./other.txt")
    assert parsed.ignored("top.txt")
    assert parsed.ignored("other.txt")


def test_patterns_are_cleaned() -> None:
    assert parse_pattern("a//b/../c/") is not None
    assert clean_path("a//b/../c/") == "a/c"
    assert rules("a//b/../c/").ignored("a/c/file")


def test_lone_exclamation_mark_is_skipped_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        parsed = rules("!", "*.log")
    assert [p.text for p in parsed.patterns] == ["*.log"]
    assert "line 1" in caplog.text


def test_unclosed_bracket_is_skipped_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        parsed = rules("[abc", "x")
    assert [p.text for p in parsed.patterns] == ["x"]
    assert "unclosed" in caplog.text


# Matching


def test_star_does_not_cross_folders() -> None:
    parsed = rules("*.log")
    assert parsed.ignored("a.log")
    assert not parsed.ignored("sub/a.log")


def test_star_in_a_folder_part() -> None:
    parsed = rules("*/temp*")
    assert parsed.ignored("somedir/temporary.txt")
    assert not parsed.ignored("temporary.txt")
    assert not parsed.ignored("a/b/temp.txt")


def test_double_star_matches_any_depth_including_none() -> None:
    parsed = rules("**/*.log")
    assert parsed.ignored("a.log")
    assert parsed.ignored("x/a.log")
    assert parsed.ignored("x/y/z/a.log")
    assert not parsed.ignored("a.txt")


def test_double_star_inside_a_pattern() -> None:
    parsed = rules("src/**/test_*.py")
    assert parsed.ignored("src/test_a.py")
    assert parsed.ignored("src/x/y/test_a.py")
    assert not parsed.ignored("lib/test_a.py")


def test_double_star_alone_ignores_everything() -> None:
    assert rules("**").ignored("any/path/at/all")


def test_question_mark_matches_one_character() -> None:
    parsed = rules("temp?")
    assert parsed.ignored("temp1")
    assert not parsed.ignored("temp12")
    assert not parsed.ignored("temp")


def test_character_classes_and_negation() -> None:
    parsed = rules("file[0-9].txt", "log[^a].txt")
    assert parsed.ignored("file3.txt")
    assert not parsed.ignored("fileA.txt")
    assert parsed.ignored("logb.txt")
    assert not parsed.ignored("loga.txt")


def test_backslash_escapes_a_special_character() -> None:
    parsed = rules(r"star\*.txt")
    assert parsed.ignored("star*.txt")
    assert not parsed.ignored("starry.txt")


def test_regex_characters_are_literal() -> None:
    assert compile_pattern("a+b(c).txt").fullmatch("a+b(c).txt")
    assert not compile_pattern("a.b").fullmatch("axb")


def test_folder_pattern_excludes_everything_below_it() -> None:
    parsed = rules("node_modules")
    assert parsed.ignored("node_modules")
    assert parsed.ignored("node_modules/pkg/index.js")
    assert not parsed.ignored("src/node_modules/x")


def test_pattern_is_relative_to_the_context_root() -> None:
    parsed = rules("foo/bar")
    assert parsed.ignored("foo/bar")
    assert not parsed.ignored("x/foo/bar")


def test_exception_puts_a_file_back() -> None:
    parsed = rules("*.md", "!README.md")
    assert parsed.ignored("CHANGES.md")
    assert not parsed.ignored("README.md")


def test_exception_inside_an_ignored_folder() -> None:
    parsed = rules("docs", "!docs/keep.txt")
    assert parsed.ignored("docs/other.txt")
    assert not parsed.ignored("docs/keep.txt")


def test_last_matching_pattern_wins() -> None:
    parsed = rules("!README.md", "*.md")
    assert parsed.ignored("README.md")


def test_later_folder_pattern_overrides_an_earlier_exception() -> None:
    parsed = rules("sub", "!sub/deep/y.txt", "**/deep")
    assert parsed.ignored("sub/deep/y.txt")


def test_exception_below_a_double_star_folder_pattern() -> None:
    parsed = rules("**/deep", "!a/b/deep/f.txt")
    assert not parsed.ignored("a/b/deep/f.txt")
    assert parsed.ignored("a/b/deep/g.txt")


def test_context_root_is_never_ignored() -> None:
    assert not rules("**").ignored(".")


# Which file applies


def test_containerignore_wins_over_dockerignore(tmp_path: Path) -> None:
    (tmp_path / ".containerignore").write_text("*.log\n")
    (tmp_path / ".dockerignore").write_text("*.txt\n")
    found = IgnoreRules.for_context(tmp_path)
    assert found.source == tmp_path / ".containerignore"
    assert found.ignored("a.log")
    assert not found.ignored("a.txt")


def test_dockerignore_applies_without_containerignore(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("*.txt\n")
    assert IgnoreRules.for_context(tmp_path).ignored("a.txt")


def test_no_ignore_file_ignores_nothing(tmp_path: Path) -> None:
    found = IgnoreRules.for_context(tmp_path)
    assert found.source is None
    assert not found.ignored("anything")


def test_ignorefile_option_replaces_the_context_files(tmp_path: Path) -> None:
    (tmp_path / ".containerignore").write_text("*.log\n")
    other = tmp_path / "other.ignore"
    other.write_text("*.txt\n")
    found = IgnoreRules.for_context(tmp_path, other)
    assert found.ignored("a.txt")
    assert not found.ignored("a.log")


def test_rules_compare_by_patterns() -> None:
    assert rules("a", "!b") == rules("a", "!b")
    assert rules("a", "!b") != rules("!b", "a")


# Listing the context

TREE = (
    "top.txt",
    "keep.md",
    "notes.md",
    "sub/deep/y.txt",
    "sub/s.txt",
    "a/b/deep/f.txt",
    "a/b/deep/g.txt",
    "a/b/g.txt",
    "x/one.go",
    "x/two.txt",
    "logs/build.log",
    "logs/keep/important.log",
)
TREE_RULES = (
    "# rules that exercise folders, exceptions and both anchors\n"
    "sub\n!sub/deep/y.txt\n**/deep\n!a/b/deep/f.txt\n/x/*.go\n./top.txt\n"
    "*.md\n!keep.md\nlogs\n!logs/keep\n"
)


def test_included_paths_lists_files_and_folders(tmp_path: Path) -> None:
    make_files(tmp_path, *TREE)
    (tmp_path / ".containerignore").write_text(TREE_RULES)
    included = set(IgnoreRules.for_context(tmp_path).included_paths(tmp_path))
    assert included == {
        ".containerignore", "keep.md", "a", "a/b", "a/b/g.txt", "a/b/deep/f.txt",
        "x", "x/two.txt", "logs/keep", "logs/keep/important.log",
    }  # fmt: skip


@pytest.mark.buildah
def test_included_files_are_what_buildah_copies(
    tmp_path: Path, buildah: Buildah, busybox_image: str
) -> None:
    make_files(tmp_path, *TREE)
    (tmp_path / ".containerignore").write_text(TREE_RULES)
    (tmp_path / "Containerfile").write_text(
        f"FROM {busybox_image}\n"
        f"COPY . /c/\n"
        f"RUN echo {tmp_path.name} && cd /c && find . -type f | sort\n"
    )
    lines: list[str] = []

    def on_event(event: Event) -> None:
        if isinstance(event, LogBlock):
            lines.extend(event.lines())

    request = BuildRequest(
        context=tmp_path,
        containerfile=tmp_path / "Containerfile",
        buildah=buildah,
        pull="never",
    )
    session = BuildSession(request, request.load_plan(), on_event=on_event)
    assert session.start() is State.FINISHED

    copied = {line[2:] for line in lines if re.match(r"^\./\S", line)}
    rules = IgnoreRules.for_context(tmp_path)
    expected = {p for p in rules.included_paths(tmp_path) if (tmp_path / p).is_file()}
    assert copied == expected
