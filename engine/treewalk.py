"""The walk behind `engine.diff.diff_trees`: two trees compared folder by folder.

Every folder is opened relative to its parent's descriptor with O_NOFOLLOW and
every entry is examined with lstat semantics, so the walk never follows a
symlink and never leaves either root. The work is split into units, one per
folder; a unit's subfolders become new units. `diff_trees` processes the first
units itself and hands the rest to forked worker processes (`run_in_workers`).

Regular files present on both sides are the bulk of the work. They are opened
without a prior lstat, because files of equal size have to be read anyway and
fstat on an open file costs less than a second lookup by name.
"""

from __future__ import annotations

import logging
import mmap
import multiprocessing
import multiprocessing.synchronize
import os
import pickle
import signal
import stat
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, NoReturn, Protocol

from engine.errors import StagescopeError

log = logging.getLogger(__name__)

FILE_TYPES = {
    stat.S_IFREG: "file",
    stat.S_IFDIR: "dir",
    stat.S_IFLNK: "symlink",
    stat.S_IFIFO: "fifo",
    stat.S_IFSOCK: "socket",
    stat.S_IFCHR: "char",
    stat.S_IFBLK: "block",
}
CHANGE_KINDS = ("content", "mode", "owner", "type", "target")
"""Change kinds of a modified entry, in the order they are listed."""

READ_CHUNK = 1 << 20
"""Bytes read per call when comparing files of equal size."""

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
"""O_NONBLOCK keeps open() from waiting if a fifo replaced a file mid-walk."""


class DiffError(StagescopeError):
    """A folder or file could not be read while comparing two trees."""


Unit = tuple[Literal["both", "a", "b"], str]
"""A folder to process: "both" compares a folder present in trees A and B,
"a" lists a folder found only in A as removed, "b" lists one found only in B
as added. The string is the folder's path relative to the roots ("" for the
roots)."""

Found = tuple[str, str, int]
"""(path, type, size) of an added or removed entry."""

Changed = tuple[str, tuple[str, ...], int, int]
"""(path, change kinds, size before, size after) of a modified entry."""


@dataclass
class Changes:
    """Changes collected so far by one process; merged at the end."""

    added: list[Found] = field(default_factory=list)
    removed: list[Found] = field(default_factory=list)
    modified: list[Changed] = field(default_factory=list)

    def merge(self, other: Changes) -> None:
        self.added += other.added
        self.removed += other.removed
        self.modified += other.modified


class UnitSink(Protocol):
    """A list or deque that collects units still to process."""

    def append(self, unit: Unit, /) -> None: ...


@dataclass(frozen=True)
class _Pair:
    """A folder present in both trees, open in each."""

    relative: str
    fd_a: int
    fd_b: int


class TreeWalk:
    """Processes units of two trees and collects their changes."""

    def __init__(self, roots: tuple[str, str]) -> None:
        self.roots = roots
        self.changes = Changes()

    def compare_roots(self) -> None:
        """Record a mode or owner change of the root folders themselves."""
        status_a = _lstat(self.roots[0])
        status_b = _lstat(self.roots[1])
        kinds = changes_between(status_a, status_b, lambda: True, lambda: True)
        if kinds:
            self.changes.modified.append(("/", kinds, 0, 0))

    def run_unit(self, unit: Unit, pending: UnitSink) -> None:
        """Process one folder and append its subfolders to `pending`."""
        side, relative = unit
        if side == "both":
            self._compare_folder(relative, pending)
        else:
            self._list_folder(side, relative, pending)

    def run_subtree(self, unit: Unit) -> None:
        """Process a folder and everything below it, depth first."""
        stack = [unit]
        while stack:
            self.run_unit(stack.pop(), stack)

    def _compare_folder(self, relative: str, pending: UnitSink) -> None:
        fd_a = open_folder(self.roots[0], relative)
        try:
            fd_b = open_folder(self.roots[1], relative)
            try:
                self._compare_entries(_Pair(relative, fd_a, fd_b), pending)
            finally:
                os.close(fd_b)
        finally:
            os.close(fd_a)

    def _compare_entries(self, pair: _Pair, pending: UnitSink) -> None:
        entries_a = _scan(pair.fd_a, self.roots[0], pair.relative)
        entries_b = _scan(pair.fd_b, self.roots[1], pair.relative)
        regular_files = []
        for name, entry_a in entries_a.items():
            entry_b = entries_b.get(name)
            if entry_b is None:
                self._found("a", pair.relative, entry_a, pending)
            elif entry_a.is_file(follow_symlinks=False) and entry_b.is_file(
                follow_symlinks=False
            ):
                regular_files.append(name)
            else:
                status_a = self._stat("a", entry_a, pair.relative)
                status_b = self._stat("b", entry_b, pair.relative)
                self._compare_other(pair, name, status_a, status_b, pending)
        for name, entry_b in entries_b.items():
            if name not in entries_a:
                self._found("b", pair.relative, entry_b, pending)
        if regular_files:
            self._compare_regular_files(pair, regular_files)

    def _compare_regular_files(self, pair: _Pair, names: list[str]) -> None:
        """Compare files that d_type reports as regular on both sides.

        This loop runs for nearly every file in a tree, so it keeps the
        os functions in local variables and handles the usual outcome (same
        metadata, same bytes) without further calls.
        """
        open_file, fstat, close = os.open, os.fstat, os.close
        fd_a, fd_b = pair.fd_a, pair.fd_b
        for name in names:
            try:
                file_a = open_file(name, FILE_FLAGS, dir_fd=fd_a)
            except OSError as error:
                raise self._read_error(0, pair.relative, name, error) from None
            try:
                try:
                    file_b = open_file(name, FILE_FLAGS, dir_fd=fd_b)
                except OSError as error:
                    raise self._read_error(1, pair.relative, name, error) from None
                try:
                    status_a = fstat(file_a)
                    status_b = fstat(file_b)
                    size = status_a.st_size
                    same_content = size == status_b.st_size and (
                        not size or same_bytes(file_a, file_b, size)
                    )
                    if (
                        same_content
                        and status_a.st_mode == status_b.st_mode
                        and status_a.st_uid == status_b.st_uid
                        and status_a.st_gid == status_b.st_gid
                    ):
                        continue
                    kinds = changes_between(
                        status_a, status_b, _known(same_content), _known(True)
                    )
                finally:
                    close(file_b)
            finally:
                close(file_a)
            path = "/" + join(pair.relative, name)
            sizes = entry_size(status_a), entry_size(status_b)
            self.changes.modified.append((path, kinds, *sizes))

    def _compare_other(
        self,
        pair: _Pair,
        name: str,
        status_a: os.stat_result,
        status_b: os.stat_result,
        pending: UnitSink,
    ) -> None:
        """Compare a pair of entries that are not both regular files."""
        kinds = changes_between(
            status_a,
            status_b,
            lambda: self._same_content(pair, name, status_a.st_size),
            lambda: _readlink(pair.fd_a, name) == _readlink(pair.fd_b, name),
        )
        relative = join(pair.relative, name)
        if kinds:
            sizes = entry_size(status_a), entry_size(status_b)
            self.changes.modified.append(("/" + relative, kinds, *sizes))
        dir_a = stat.S_ISDIR(status_a.st_mode)
        dir_b = stat.S_ISDIR(status_b.st_mode)
        if dir_a and dir_b:
            pending.append(("both", relative))
            return
        # A folder replaced by another type: what was below it is gone, and
        # the other way round, what is below the new folder is new.
        if dir_a:
            pending.append(("a", relative))
        if dir_b:
            pending.append(("b", relative))

    def _list_folder(
        self, side: Literal["a", "b"], relative: str, pending: UnitSink
    ) -> None:
        """List everything in a folder that exists on one side only."""
        root = self.roots[0 if side == "a" else 1]
        fd = open_folder(root, relative)
        try:
            # DirEntry.stat() runs relative to `fd`, so it stays open until then.
            for entry in _scan(fd, root, relative).values():
                self._found(side, relative, entry, pending)
        finally:
            os.close(fd)

    def _found(
        self,
        side: Literal["a", "b"],
        relative: str,
        entry: os.DirEntry[str],
        pending: UnitSink,
    ) -> None:
        """Record an entry of one side only, and queue its folder's contents."""
        status = self._stat(side, entry, relative)
        path = join(relative, entry.name)
        target = self.changes.removed if side == "a" else self.changes.added
        target.append(("/" + path, entry_type(status.st_mode), entry_size(status)))
        if stat.S_ISDIR(status.st_mode):
            pending.append((side, path))

    def _same_content(self, pair: _Pair, name: str, size: int) -> bool:
        file_a = self._open_file(0, pair.fd_a, pair.relative, name)
        try:
            file_b = self._open_file(1, pair.fd_b, pair.relative, name)
            try:
                return same_bytes(file_a, file_b, size)
            finally:
                os.close(file_b)
        finally:
            os.close(file_a)

    def _open_file(self, side: int, fd: int, relative: str, name: str) -> int:
        try:
            return os.open(name, FILE_FLAGS, dir_fd=fd)
        except OSError as error:
            raise self._read_error(side, relative, name, error) from None

    def _read_error(
        self, side: int, relative: str, name: str, error: OSError
    ) -> DiffError:
        path = os.path.join(self.roots[side], relative, name)
        return DiffError(
            f"cannot read {path}: {error.strerror}; run as root or as the "
            "owner of both trees, and do not change them while they are compared"
        )

    def _stat(
        self, side: Literal["a", "b"], entry: os.DirEntry[str], relative: str
    ) -> os.stat_result:
        try:
            return entry.stat(follow_symlinks=False)
        except OSError as error:
            root = self.roots[0 if side == "a" else 1]
            path = os.path.join(root, relative, entry.name)
            raise DiffError(
                f"cannot read {path}: {error.strerror}; was the tree changed "
                "while it was compared?"
            ) from None


def changes_between(
    status_a: os.stat_result,
    status_b: os.stat_result,
    same_content: Callable[[], bool],
    same_target: Callable[[], bool],
) -> tuple[str, ...]:
    """Return the change kinds between two lstat results, in CHANGE_KINDS order.

    `same_content` and `same_target` are called only when the result depends
    on reading the files or the symlinks. Device nodes with different device
    numbers count as a content change.
    """
    mode_a, mode_b = status_a.st_mode, status_b.st_mode
    same_type = stat.S_IFMT(mode_a) == stat.S_IFMT(mode_b)
    content_changed = False
    target_changed = False
    if same_type and stat.S_ISREG(mode_a):
        content_changed = status_a.st_size != status_b.st_size or not same_content()
    elif same_type and (stat.S_ISCHR(mode_a) or stat.S_ISBLK(mode_a)):
        content_changed = status_a.st_rdev != status_b.st_rdev
    elif same_type and stat.S_ISLNK(mode_a):
        target_changed = status_a.st_size != status_b.st_size or not same_target()
    flags = {
        "content": content_changed,
        "mode": stat.S_IMODE(mode_a) != stat.S_IMODE(mode_b),
        "owner": (status_a.st_uid, status_a.st_gid)
        != (status_b.st_uid, status_b.st_gid),
        "type": not same_type,
        "target": target_changed,
    }
    return tuple(kind for kind in CHANGE_KINDS if flags[kind])


def _known(answer: bool) -> Callable[[], bool]:
    return lambda: answer


def same_bytes(file_a: int, file_b: int, size: int) -> bool:
    """Compare two open files that both have `size` bytes, chunk by chunk."""
    if size <= READ_CHUNK:
        # Most files take one read each; short reads fall through to the loop.
        data_a = os.read(file_a, size)
        data_b = os.read(file_b, size)
        if len(data_a) == size and len(data_b) == size:
            return data_a == data_b
        os.lseek(file_a, 0, os.SEEK_SET)
        os.lseek(file_b, 0, os.SEEK_SET)
    remaining = size
    while remaining > 0:
        chunk_size = min(remaining, READ_CHUNK)
        data_a = _read_up_to(file_a, chunk_size)
        if data_a != _read_up_to(file_b, chunk_size):
            return False
        if len(data_a) < chunk_size:
            # Both files ended early because they shrank after they were listed.
            return True
        remaining -= chunk_size
    return True


def _read_up_to(fd: int, count: int) -> bytes:
    """Read `count` bytes, fewer only at end of file (reads may return short)."""
    parts = []
    received = 0
    while received < count:
        data = os.read(fd, count - received)
        if not data:
            break
        parts.append(data)
        received += len(data)
    return b"".join(parts)


def open_folder(root: str, relative: str) -> int:
    """Open `relative` below `root` one component at a time, never via a symlink.

    `root` itself may be reached through symlinks: it is the caller's choice.
    """
    try:
        fd = os.open(root, DIR_FLAGS & ~os.O_NOFOLLOW)
    except OSError as error:
        raise DiffError(f"cannot open folder {root}: {error.strerror}") from None
    if not relative:
        return fd
    try:
        for part in relative.split("/"):
            child = os.open(part, DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
    except OSError as error:
        os.close(fd)
        raise DiffError(
            f"cannot open folder {os.path.join(root, relative)}: {error.strerror}; "
            "was the tree changed while it was compared?"
        ) from None
    return fd


def _scan(fd: int, root: str, relative: str) -> dict[str, os.DirEntry[str]]:
    """Return a folder's entries by name; their lstat runs relative to `fd`."""
    try:
        with os.scandir(fd) as entries:
            return {entry.name: entry for entry in entries}
    except OSError as error:
        raise DiffError(
            f"cannot list {os.path.join(root, relative)}: {error.strerror}; "
            "run as root or as the owner of both trees"
        ) from None


def _readlink(fd: int, name: str) -> str:
    return os.readlink(name, dir_fd=fd)


def _lstat(path: str) -> os.stat_result:
    try:
        return os.lstat(path)
    except OSError as error:
        raise DiffError(f"cannot read {path}: {error.strerror}") from None


def join(relative: str, name: str) -> str:
    return f"{relative}/{name}" if relative else name


def entry_type(mode: int) -> str:
    return FILE_TYPES.get(stat.S_IFMT(mode), "unknown")


def entry_size(status: os.stat_result) -> int:
    """Return st_size for files and symlinks (target length), else 0."""
    mode = status.st_mode
    return status.st_size if stat.S_ISREG(mode) or stat.S_ISLNK(mode) else 0


# Worker processes


def run_in_workers(
    roots: tuple[str, str], units: Sequence[Unit], workers: int
) -> Changes:
    """Process each unit's whole subtree in `workers` forked processes.

    Each worker takes the next unit from a counter in shared memory, so a
    worker that finishes early takes more units. Each one sends its changes
    back through a pipe when no units are left. If this process is
    interrupted, the workers are killed and reaped before the error goes on.

    NOTE: workers are forked, not spawned, because they must start within
    milliseconds to pay off. A caller whose other threads may hold C-level
    locks (not Python's own) should call diff_trees with workers=1.
    """
    counter = mmap.mmap(-1, 8)
    lock = multiprocessing.get_context("fork").Lock()
    children: dict[int, int] = {}
    try:
        for _ in range(workers):
            read_fd, write_fd = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(read_fd)
                _worker_main(roots, units, counter, lock, write_fd)
            os.close(write_fd)
            children[pid] = read_fd
        total = Changes()
        for pid, read_fd in list(children.items()):
            total.merge(_receive(read_fd))
            os.close(read_fd)
            del children[pid]
            os.waitpid(pid, 0)
        return total
    finally:
        for pid, read_fd in children.items():
            os.close(read_fd)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        counter.close()


def _worker_main(
    roots: tuple[str, str],
    units: Sequence[Unit],
    counter: mmap.mmap,
    lock: multiprocessing.synchronize.Lock,
    write_fd: int,
) -> NoReturn:
    """Run in a forked child: process units until none are left, then exit."""
    status = 1
    try:
        # The parent stops the workers on Ctrl-C and termination; handlers
        # inherited from it must not run its cleanup here.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for number in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(number, signal.SIG_DFL)
        walk = TreeWalk(roots)
        while (index := _next_index(counter, lock)) < len(units):
            walk.run_subtree(units[index])
        payload = pickle.dumps(walk.changes)
        status = 0
    except DiffError as error:
        payload = pickle.dumps(error.message)
    except BaseException as error:  # the child must reach os._exit below
        payload = pickle.dumps(f"worker process failed: {error!r}")
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(write_fd, view) :]
    finally:
        os._exit(status)


def _next_index(counter: mmap.mmap, lock: multiprocessing.synchronize.Lock) -> int:
    with lock:
        (index,) = struct.unpack_from("Q", counter)
        struct.pack_into("Q", counter, 0, index + 1)
    return int(index)


def _receive(read_fd: int) -> Changes:
    """Read one worker's pickled result; raise the error it reported."""
    parts = []
    while data := os.read(read_fd, 1 << 16):
        parts.append(data)
    if not parts:
        raise DiffError(
            "a diff worker process ended without sending its result (was it "
            "killed?); run the diff again"
        )
    # The payload comes from a child forked from this process, never from
    # outside, so unpickling it is safe.
    result = pickle.loads(b"".join(parts))
    if isinstance(result, str):
        raise DiffError(result)
    if not isinstance(result, Changes):
        raise DiffError(f"a diff worker process sent {type(result).__name__}")
    return result
