"""Arrange a filesystem diff as folders of changes, largest first.

Every added, removed or modified path becomes a node under its parent
folders. A folder's size is the sum of its descendants' sizes, which for a
modified file is the larger of its two sizes, so sorting by size puts the
heaviest changes first at every level.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.diff import FilesystemDiff


@dataclass
class ChangeNode:
    name: str
    path: str
    kind: str = ""
    """"added", "removed", "modified", or "" for a folder that only contains changes."""
    file_type: str = "dir"
    size: int = 0
    size_before: int = 0
    changes: tuple[str, ...] = ()
    children: dict[str, ChangeNode] = field(default_factory=dict)
    count: int = 0
    """Changed paths at or below this node."""

    def sorted_children(self) -> list[ChangeNode]:
        return sorted(self.children.values(), key=lambda n: (-n.total, n.name))

    @property
    def total(self) -> int:
        """Bytes of the changes at and below this node."""
        return self.size + sum(child.total for child in self.children.values())


def build_tree(diff: FilesystemDiff) -> ChangeNode:
    root = ChangeNode(name="/", path="/")
    for entry in diff.added:
        _insert(root, entry.path, "added", entry.type, entry.size, 0, ())
    for entry in diff.removed:
        _insert(root, entry.path, "removed", entry.type, entry.size, entry.size, ())
    for change in diff.modified:
        file_type = "file" if "content" in change.changes else "entry"
        size = max(change.size_before, change.size_after)
        _insert(
            root, change.path, "modified", file_type, size, change.size_before,
            change.changes,
        )  # fmt: skip
    return root


def _insert(
    root: ChangeNode,
    path: str,
    kind: str,
    file_type: str,
    size: int,
    size_before: int,
    changes: tuple[str, ...],
) -> None:
    node = root
    node.count += 1
    parts = [part for part in path.split("/") if part]
    if not parts:
        root.kind = kind
        root.changes = changes
        return
    for index, part in enumerate(parts):
        child = node.children.get(part)
        if child is None:
            child_path = "/" + "/".join(parts[: index + 1])
            child = ChangeNode(name=part, path=child_path)
            node.children[part] = child
        child.count += 1
        node = child
    node.kind = kind
    node.file_type = file_type
    node.size = size
    node.size_before = size_before
    node.changes = changes
