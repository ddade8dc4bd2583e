"""The key file: reading it, its errors, and remapped keys in the app."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.breakpoints import Position
from engine.errors import UsageError
from engine.runner import State
from tests.tui.conftest import MakeApp
from tests.tui.test_app import settle
from tui.keys import action_names, load_keymap
from tui.launch import launch
from tui.widgets.steady import KeyFooter


def key_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "keys.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_key_file_maps_actions_to_binding_ids(tmp_path: Path) -> None:
    path = key_file(tmp_path, 'continue = "f5"\n"search.next" = "ctrl+n, down"\n')

    assert load_keymap(path) == {
        "stagescope.continue": "f5",
        "stagescope.search.next": "ctrl+n,down",
    }


def test_action_names_cover_every_screen() -> None:
    names = action_names()

    for name in ("continue", "next", "quit", "diff.back", "search.next", "help.quit"):
        assert name in names


def test_unknown_action_names_the_line(tmp_path: Path) -> None:
    path = key_file(tmp_path, '# mine\nnext = "f10"\ncontineu = "f5"\n')

    with pytest.raises(UsageError, match=r"keys.toml:3: unknown action 'contineu'"):
        load_keymap(path)


@pytest.mark.parametrize(
    "value",
    ["5", '"ctrl+"', '""', '"f5 f6"', '["f5"]', '"F5"', '"f55"', '"?"', '"cmd+a"'],
)
def test_bad_key_names_the_line(tmp_path: Path, value: str) -> None:
    path = key_file(tmp_path, f"continue = {value}\n")

    with pytest.raises(UsageError, match=r"keys.toml:1: continue = .* is not a key"):
        load_keymap(path)


def test_bad_toml_names_the_file(tmp_path: Path) -> None:
    path = key_file(tmp_path, "continue: f5\n")

    with pytest.raises(UsageError, match=r"keys.toml: not a TOML key file"):
        load_keymap(path)


def test_default_key_file_is_optional(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert load_keymap(None) == {}

    (tmp_path / "stagescope").mkdir()
    key_file(tmp_path / "stagescope", 'stop = "ctrl+x"\n')
    assert load_keymap(None) == {"stagescope.stop": "ctrl+x"}


def test_launch_rejects_a_bad_key_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = key_file(tmp_path, 'contineu = "f5"\n')
    context = tmp_path / "context"
    context.mkdir()
    (context / "Containerfile").write_text("FROM localhost/busybox\n")

    code = launch(["--keys", str(path), "--pull", "never", str(context)])

    assert code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "keys.toml:1: unknown action 'contineu'" in error


async def test_remapped_key_continues(tmp_path: Path, make_app: MakeApp) -> None:
    keymap = load_keymap(key_file(tmp_path, 'continue = "f5"\n'))
    app = make_app("passing", breakpoints=("build:4",), keymap=keymap)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(app, pilot)
        assert app.model.paused_at == Position(1, 4)
        await pilot.press("c")
        await settle(app, pilot)
        assert app.model.state is State.PAUSED
        await pilot.press("f5")
        await settle(app, pilot)
        assert app.model.state is State.FINISHED


def test_key_file_dotted_names_and_bom(tmp_path: Path) -> None:
    path = key_file(tmp_path, '\ufeffsearch.next = "ctrl+n"\nhelp = "question_mark"\n')

    assert load_keymap(path) == {
        "stagescope.search.next": "ctrl+n",
        "stagescope.help": "question_mark",
    }


async def test_footer_shows_two_keys_once(tmp_path: Path, make_app: MakeApp) -> None:
    keymap = load_keymap(key_file(tmp_path, 'quit = "ctrl+q,Q"\n'))
    app = make_app("passing", keymap=keymap)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(app, pilot)
        text = str(app.build_screen.query_one(KeyFooter).render())
        assert text.count("Quit") == 1
