"""SVG snapshots of the insight and teaching views; update them with
`pytest --snapshot-update`.

The insight recording fixes every image ID, size and duration, and the app
uses a fixed clock, so the pictures change only when the app's look does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.tui import insight_scenes as scenes

SIZE = (150, 44)


def test_findings_and_insight(snap_compare: Any, tmp_path: Path) -> None:
    app = scenes.insight_app(tmp_path)
    assert snap_compare(app, terminal_size=SIZE, run_before=scenes.show_insight)


def test_teaching_panel(snap_compare: Any, tmp_path: Path) -> None:
    app = scenes.insight_app(tmp_path)
    assert snap_compare(app, terminal_size=SIZE, run_before=scenes.show_teaching)
