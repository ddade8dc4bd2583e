"""Compare the filesystems of two images: a tree of changes and a file diff.

The comparison runs in a thread worker, as does the text diff of the file
selected in the tree. Folders are filled in when they are first expanded,
so a diff of tens of thousands of paths opens at once.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from rich.syntax import Syntax
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Header, Label, LoadingIndicator, Static, Tree
from textual.worker import Worker, WorkerState

from engine.buildah import Buildah
from engine.diff import FilesystemDiff, diff_images
from tui.difftree import ChangeNode, build_tree
from tui.filediff import file_diff
from tui.format import format_size
from tui.screens.actions import ImageSide
from tui.widgets.steady import KeyFooter

KIND_MARKS = {"added": "+", "removed": "-", "modified": "~", "": " "}
KIND_COLORS = {"added": "success", "removed": "error", "modified": "warning"}


class DiffScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="stagescope.diff.back",
                tooltip="Return to the build screen"),
        Binding("e", "expand_all", "Expand", id="stagescope.diff.expand",
                tooltip="Expand the selected folder and everything below it"),
    ]  # fmt: skip

    def __init__(
        self,
        buildah: Buildah | None,
        before: ImageSide,
        after: ImageSide,
        *,
        compare: Callable[[str, str], FilesystemDiff] | None = None,
        compare_file: Callable[[str, str, str], str] | None = None,
    ) -> None:
        """Compare two images of `buildah`; `compare` and `compare_file` replace
        the engine's comparisons, for tests and screenshots without images."""
        super().__init__()
        if compare is None or compare_file is None:
            if buildah is None:
                raise ValueError("a DiffScreen without buildah needs compare functions")
            compare = compare or partial(diff_images, buildah)
            compare_file = compare_file or partial(file_diff, buildah)
        self.compare = compare
        self.compare_file = compare_file
        self.before = before
        self.after = after
        self.result: FilesystemDiff | None = None
        self.file_diff_text = ""
        """The unified diff shown for the selected file."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Label(self._heading(), id="diff-heading")
        yield Label("", id="diff-summary")
        with Horizontal(id="diff-panels"):
            yield LoadingIndicator(id="diff-loading")
            tree: Tree[ChangeNode] = Tree("/", id="diff-tree")
            tree.show_root = False
            tree.guide_depth = 2
            yield tree
            with VerticalScroll(id="diff-file"):
                yield Static(
                    "Select a file to see how its content changed.", id="diff-text"
                )
        yield KeyFooter()

    def _heading(self) -> str:
        before, after = self.before, self.after
        return (
            f" {before.label} ({before.image[:12]})"
            f"  →  {after.label} ({after.image[:12]})"
        )

    def on_mount(self) -> None:
        self.query_one("#diff-tree").display = False
        self.run_worker(
            partial(self.compare, self.before.image, self.after.image),
            name="diff",
            group="diff",
            thread=True,
            exit_on_error=False,
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if event.state is WorkerState.ERROR:
            self.app.report_worker_error(worker)  # type: ignore[attr-defined]
            if worker.group == "diff":
                self.query_one("#diff-loading").display = False
                self.query_one("#diff-summary", Label).update(
                    "The comparison failed; see the notification."
                )
            return
        if event.state is not WorkerState.SUCCESS:
            return
        if worker.group == "diff":
            result = worker.result
            assert isinstance(result, FilesystemDiff)
            self._show_result(result)
        elif worker.group == "file-diff":
            text = worker.result
            assert isinstance(text, str)
            self._show_file_diff(text)

    # The tree

    def _show_result(self, result: FilesystemDiff) -> None:
        self.result = result
        self.query_one("#diff-loading").display = False
        summary = result.summary
        self.query_one("#diff-summary", Label).update(
            f" {summary.added} added ({format_size(summary.bytes_added)})  ·  "
            f"{summary.removed} removed ({format_size(summary.bytes_removed)})  ·  "
            f"{summary.modified} modified"
        )
        tree: Tree[ChangeNode] = self.query_one("#diff-tree", Tree)
        tree.display = True
        if result.empty:
            self.query_one("#diff-text", Static).update(
                "The two filesystems are equal."
            )
            return
        root = build_tree(result)
        tree.root.data = root
        self._fill(tree.root, root)
        tree.root.expand()
        tree.focus()

    def _fill(self, tree_node: Tree.NodeType, change: ChangeNode) -> None:  # type: ignore[name-defined]
        for child in change.sorted_children():
            label = self._label(child)
            if child.children:
                tree_node.add(label, data=child, allow_expand=True)
            else:
                tree_node.add_leaf(label, data=child)

    def _label(self, node: ChangeNode) -> Text:
        colors = self.app.theme_variables
        mark = KIND_MARKS.get(node.kind, " ")
        name = node.name + ("/" if node.children else "")
        style = colors.get(KIND_COLORS.get(node.kind, ""), "") if node.kind else ""
        text = Text(f"{mark} ", style=style)
        text.append(name, style=style)
        size = node.total
        details = format_size(size) if size else ""
        if node.children:
            noun = "change" if node.count == 1 else "changes"
            details = f"{details}  {node.count} {noun}".strip()
        if node.kind == "modified" and node.changes:
            details = f"{details}  {', '.join(node.changes)}".strip()
        if details:
            text.append(f"  {details}", style=colors.get("text-muted", "dim"))
        return text

    @on(Tree.NodeExpanded, "#diff-tree")
    def _expanded(self, event: Tree.NodeExpanded[ChangeNode]) -> None:
        node = event.node
        if node.data is not None and not node.children:
            self._fill(node, node.data)

    def action_expand_all(self) -> None:
        tree: Tree[ChangeNode] = self.query_one("#diff-tree", Tree)
        node = tree.cursor_node
        if node is None:
            return
        pending = [node]
        while pending:
            current = pending.pop()
            if (
                current.data is not None
                and current.allow_expand
                and not current.children
            ):
                self._fill(current, current.data)
            current.expand()
            pending.extend(current.children)

    # The file diff

    @on(Tree.NodeHighlighted, "#diff-tree")
    def _highlighted(self, event: Tree.NodeHighlighted[ChangeNode]) -> None:
        change = event.node.data
        text = self.query_one("#diff-text", Static)
        if change is None or change.children or not change.kind:
            where = (change.path if change else "") or "/"
            text.update(f"{where}: a folder with changes below it.")
            return
        if change.file_type not in ("file",):
            text.update(f"{change.path}: {change.kind} {change.file_type}.")
            return
        text.update(f"Comparing {change.path}…")
        self.run_worker(
            partial(
                self.compare_file, self.before.image, self.after.image, change.path
            ),
            name=change.path,
            group="file-diff",
            thread=True,
            exclusive=True,
            exit_on_error=False,
        )

    def _show_file_diff(self, diff_text: str) -> None:
        self.file_diff_text = diff_text
        widget = self.query_one("#diff-text", Static)
        if diff_text.startswith("---"):
            widget.update(Syntax(diff_text, "diff", theme="ansi_dark", word_wrap=False))
        else:
            widget.update(diff_text)
