"""`stagescope diff`: compare the filesystems of two images, or one file in both."""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import sys
from dataclasses import dataclass, field
from typing import Any, TextIO

from engine.commands.common import add_storage_options, buildah_from_args
from engine.diff import (
    Entry,
    FileDiff,
    FilesystemDiff,
    Modification,
    diff_image_file,
    diff_images,
    human_size,
)
from engine.errors import UsageError
from engine.termination import exit_on_termination_signals

DEFAULT_LIMIT = 20


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "diff",
        help="compare the filesystems of two images",
        description=(
            "List the paths added, removed and modified from image A to image B. "
            "A path is modified when its content, mode, owner (uid/gid), file "
            "type or symlink target differs; modification times are ignored. "
            "Each image is mounted through a throwaway container that is removed "
            "afterwards. Exits with 0 whether or not the images differ."
        ),
    )
    parser.add_argument("image_a", metavar="A", help="image to compare from")
    parser.add_argument("image_b", metavar="B", help="image to compare to")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print every change and a summary as one JSON object",
    )
    parser.add_argument(
        "--path",
        metavar="PATH",
        help=(
            "compare one file, given by its absolute path inside the images: a "
            "unified diff for text, sizes for binary files"
        ),
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=(
            "maximum entries listed per folder in the tree, largest changes "
            f"first (default {DEFAULT_LIMIT}; 0 lists all)"
        ),
    )
    add_storage_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.json and args.path:
        raise UsageError("--json and --path cannot be combined: leave one out")
    buildah = buildah_from_args(args)
    labels = (args.image_a, args.image_b)
    output = io.StringIO()
    with exit_on_termination_signals():
        if args.path:
            file_diff = diff_image_file(buildah, args.image_a, args.image_b, args.path)
            print_file_diff(file_diff, labels, output)
        else:
            result = diff_images(buildah, args.image_a, args.image_b)
            if args.json:
                json.dump(result.to_json(), output, indent=2)
                output.write("\n")
            else:
                print_report(result, labels, args.limit, output)
    return write_stdout(output.getvalue())


def write_stdout(text: str) -> int:
    """Write to stdout; return 0, or 141 (as if killed by SIGPIPE) if it closed.

    A reader such as `head` may close the pipe early. Python would then raise
    BrokenPipeError here and again when it flushes stdout at exit, so stdout
    is pointed at /dev/null before returning.
    """
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 128 + signal.SIGPIPE
    return 0


# One file


def print_file_diff(diff: FileDiff, labels: tuple[str, str], out: TextIO) -> None:
    """Print metadata changes, then a unified diff or a description of the data."""
    if diff.identical:
        out.write(f"{diff.path}: no differences\n")
        return
    before, after = diff.before, diff.after
    if before and after and before.mode != after.mode:
        out.write(f"{diff.path}: mode {before.mode:04o} -> {after.mode:04o}\n")
    if before and after and (before.uid, before.gid) != (after.uid, after.gid):
        owners = f"{before.uid}:{before.gid} -> {after.uid}:{after.gid}"
        out.write(f"{diff.path}: owner {owners}\n")
    if diff.same_content:
        return
    if diff.unified:
        out.write(diff.unified + "\n")
    elif diff.unified == "":
        out.write(
            f"{diff.path}: the text differs only in line endings or in the "
            "newline at the end of the file\n"
        )
    else:
        out.write(f"{diff.path}: {_describe_data(diff, labels)}\n")


def _describe_data(diff: FileDiff, labels: tuple[str, str]) -> str:
    """Describe two sides that cannot be shown as text."""
    before, after = diff.before, diff.after
    reason = diff.not_text or "not text"
    if before is None and after is not None:
        return f"{reason}, only in {labels[1]}: {after.type}, {human_size(after.size)}"
    if after is None and before is not None:
        return (
            f"{reason}, only in {labels[0]}: {before.type}, {human_size(before.size)}"
        )
    assert before is not None and after is not None
    if before.type != after.type:
        return f"{reason}; {before.type} in {labels[0]}, {after.type} in {labels[1]}"
    if before.size == after.size:
        return f"{reason}; same size ({human_size(after.size)}), different bytes"
    sizes = f"{human_size(before.size)} -> {human_size(after.size)}"
    return f"{reason}; {sizes} ({_signed_size(after.size - before.size)})"


def _signed_size(delta: int) -> str:
    sign = "+" if delta >= 0 else "-"
    return f"{sign}{human_size(abs(delta))}"


# Whole images


def print_report(
    diff: FilesystemDiff, labels: tuple[str, str], limit: int, out: TextIO
) -> None:
    """Print the summary, then the changed paths as a tree, largest first."""
    summary = diff.summary
    out.write(f"Changes from {labels[0]} to {labels[1]}:\n")
    out.write(
        f"  added:    {_paths(summary.added)}, "
        f"{human_size(summary.bytes_added)} in files\n"
        f"  removed:  {_paths(summary.removed)}, "
        f"{human_size(summary.bytes_removed)} in files\n"
        f"  modified: {_paths(summary.modified)}\n"
    )
    if diff.empty:
        out.write("The filesystems are identical.\n")
        return
    out.write("\n+ added, - removed, ~ modified; sizes are bytes changed\n")
    for line in render_tree(build_tree(diff), limit):
        out.write(line + "\n")


def _paths(count: int) -> str:
    return f"{count} path" if count == 1 else f"{count} paths"


@dataclass
class _Node:
    """A path in the change tree with the change to it, if any."""

    name: str
    marker: str = " "
    detail: str = ""
    weight: int = 0
    """Bytes changed at this path and below, used to order siblings."""
    entries: int = 0
    """Changed paths at this path and below."""
    children: dict[str, _Node] = field(default_factory=dict)

    def child(self, name: str) -> _Node:
        if name not in self.children:
            self.children[name] = _Node(name)
        return self.children[name]


def build_tree(diff: FilesystemDiff) -> _Node:
    root = _Node("/")
    for entry in diff.added:
        _insert(root, entry.path, "+", _describe_entry(entry), entry.size)
    for entry in diff.removed:
        _insert(root, entry.path, "-", _describe_entry(entry), entry.size)
    for change in diff.modified:
        _insert(
            root, change.path, "~", _describe_change(change), _change_weight(change)
        )
    return root


def _insert(root: _Node, path: str, marker: str, detail: str, weight: int) -> None:
    node = root
    node.weight += weight
    node.entries += 1
    parts = [part for part in path.split("/") if part]
    for part in parts:
        node = node.child(part)
        node.weight += weight
        node.entries += 1
    node.marker = marker
    node.detail = detail


def _describe_entry(entry: Entry) -> str:
    if entry.type in ("file", "symlink"):
        return f"{entry.type}, {human_size(entry.size)}"
    return entry.type


def _describe_change(change: Modification) -> str:
    text = ", ".join(change.changes)
    if change.size_before != change.size_after or "content" in change.changes:
        before = human_size(change.size_before)
        after = human_size(change.size_after)
        text += f", {before} -> {after}"
    return text


def _change_weight(change: Modification) -> int:
    if "content" not in change.changes:
        return abs(change.size_after - change.size_before)
    return max(change.size_before, change.size_after)


def render_tree(root: _Node, limit: int) -> list[str]:
    """Return one line per listed node: marker column, indentation, name, detail."""
    lines = []
    if root.marker != " ":
        lines.append(f"{root.marker} /  {root.detail}")
    lines += _render_children(root, 0, limit)
    return lines


def _render_children(node: _Node, depth: int, limit: int) -> list[str]:
    children = sorted(node.children.values(), key=lambda n: (-n.weight, n.name))
    visible = children if limit <= 0 else children[:limit]
    lines: list[str] = []
    indent = "    " * depth
    prefix = "/" if depth == 0 else ""
    for child in visible:
        name, child = _compress(child)
        detail = _node_detail(child)
        lines.append(f"{child.marker} {indent}{prefix}{name}  {detail}")
        if not _whole_subtree(child):
            lines += _render_children(child, depth + 1, limit)
    hidden = children[len(visible) :]
    if hidden:
        weight = sum(n.weight for n in hidden)
        entries = sum(n.entries for n in hidden)
        lines.append(
            f"  {indent}... {len(hidden)} more with {_paths(entries)} changed, "
            f"{human_size(weight)}; --limit 0 shows all"
        )
    return lines


def _compress(node: _Node) -> tuple[str, _Node]:
    """Join unchanged folders with one child into one name, like usr/local/bin."""
    name = node.name
    while node.marker == " " and len(node.children) == 1:
        node = next(iter(node.children.values()))
        name += "/" + node.name
    if node.children:
        name += "/"
    return name, node


def _whole_subtree(node: _Node) -> bool:
    """Return whether `node` is an added or removed folder.

    Everything below such a folder is added or removed with it, so the tree
    shows it as one line.
    """
    return node.marker in "+-" and bool(node.children)


def _node_detail(node: _Node) -> str:
    if node.marker == " ":
        return f"{_paths(node.entries)} changed, {human_size(node.weight)}"
    if _whole_subtree(node):
        below = _paths(node.entries - 1)
        return f"dir with {below} below, {human_size(node.weight)}"
    return node.detail
