"""Command lines that open the app fail fast, with one line on stderr."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tui.conftest import CONTAINERFILE, RECORDINGS
from tui.launch import _replay_plan, build_replay_parser
from tui.main import main


def run(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str]:
    code = main(list(arguments))
    error = capsys.readouterr().err
    return code, error


def test_missing_context_fails(capsys: pytest.CaptureFixture[str]) -> None:
    code, error = run(capsys, "no/such/folder")
    assert code == 2
    assert (
        error == "stagescope: error: no/such/folder: build context folder not found\n"
    )


def test_missing_buildah_fails(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "")
    code, error = run(capsys, str(CONTAINERFILE.parent))
    assert code == 125
    assert error.startswith("stagescope: error: buildah was not found on PATH")
    assert "Traceback" not in error


def test_replay_missing_recording_fails(capsys: pytest.CaptureFixture[str]) -> None:
    code, error = run(capsys, "replay", "missing.jsonl", "-f", str(CONTAINERFILE))
    assert code == 2
    assert error.startswith(
        "stagescope: error: missing.jsonl: cannot read the recording"
    )


def test_replay_other_containerfile_fails(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    other = tmp_path / "Containerfile"
    other.write_text("FROM localhost/busybox\n")
    recording = str(RECORDINGS / "passing.jsonl")
    code, error = run(capsys, "replay", recording, "-f", str(other))
    assert code == 2
    assert "pass the Containerfile the recording was made from" in error
    assert error.count("\n") == 1


def test_replay_bad_breakpoint_fails(capsys: pytest.CaptureFixture[str]) -> None:
    recording = str(RECORDINGS / "passing.jsonl")
    code, error = run(capsys, "replay", recording, "--break", "nosuchstage")
    assert code == 2
    assert "no stage 'nosuchstage'" in error


def test_replay_uses_recorded_containerfile() -> None:
    args = build_replay_parser().parse_args([str(RECORDINGS / "passing.jsonl")])
    from tui.replay import load_recording

    plan = _replay_plan(args, load_recording(Path(args.recording)))
    assert plan.path == CONTAINERFILE


def test_replay_names_missing_recorded_file(tmp_path: Path) -> None:
    recording = tmp_path / "moved.jsonl"
    text = (RECORDINGS / "passing.jsonl").read_text()
    recording.write_text(text.replace(str(CONTAINERFILE), "gone/Containerfile"))
    args = build_replay_parser().parse_args([str(recording)])
    from engine.errors import UsageError
    from tui.replay import load_recording

    with pytest.raises(UsageError, match="recorded from gone/Containerfile"):
        _replay_plan(args, load_recording(recording))


def test_replay_passes_build_args() -> None:
    recording = str(RECORDINGS / "failure.jsonl")
    arguments = [recording, "--build-arg", "FAIL=1", "--target", "build"]
    args = build_replay_parser().parse_args(arguments)
    from tui.replay import load_recording

    plan = _replay_plan(args, load_recording(Path(args.recording)))
    assert plan.build_args == {"FAIL": "1"}
    assert plan.stages[plan.target].label == "build"
