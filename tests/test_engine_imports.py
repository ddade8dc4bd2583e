"""The engine must stay usable without Textual: the headless command line,
scripts and the tests import it on machines that have no terminal app."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent

IMPORT_ALL = """
import importlib, json, pkgutil, sys
import engine
names = sorted(
    info.name for info in pkgutil.walk_packages(engine.__path__, "engine.")
)
for name in names:
    importlib.import_module(name)
textual = sorted(m for m in sys.modules if m == "textual" or m.startswith("textual."))
print(json.dumps({"modules": names, "textual": textual}))
"""


def imported() -> dict[str, list[str]]:
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    data: dict[str, list[str]] = json.loads(result.stdout)
    return data


def test_engine_no_textual() -> None:
    assert imported()["textual"] == []


def test_engine_modules_found() -> None:
    modules = imported()["modules"]
    assert {"engine.plan", "engine.runner", "engine.commands.run"} <= set(modules)
