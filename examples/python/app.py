"""List the largest files below a folder as a table.

The two third-party packages it imports come from the builder stage's
`pip install --target`; the final image has Python but no pip.
"""

import argparse
import os
import sys
from datetime import datetime
from pathlib import Path

import humanize
from tabulate import tabulate


def largest_files(root: Path, count: int) -> list[tuple[int, float, Path]]:
    """Return (size in bytes, modification time, path) of the largest files."""
    found = []
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder, name)
            try:
                status = path.lstat()
            except OSError:
                continue
            found.append((status.st_size, status.st_mtime, path))
    found.sort(key=lambda entry: entry[0], reverse=True)
    return found[:count]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default="/opt/app", type=Path)
    parser.add_argument("-n", "--count", type=int, default=10, help="rows to show")
    args = parser.parse_args()
    if not args.folder.is_dir():
        print(f"{args.folder} is not a folder", file=sys.stderr)
        return 2

    rows = [
        (
            humanize.naturalsize(size),
            humanize.naturaltime(datetime.fromtimestamp(modified)),
            path.relative_to(args.folder),
        )
        for size, modified, path in largest_files(args.folder, args.count)
    ]
    print(tabulate(rows, headers=["size", "modified", "file"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
