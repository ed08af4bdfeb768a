"""The README documents every setting and every command, so it cannot drift from the code."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import build_parser
from bot.config import SETTINGS

README = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_every_setting_is_in_the_settings_table(setting) -> None:  # type: ignore[no-untyped-def]
    row = next((line for line in README.splitlines() if line.startswith(f"| {setting.name} |")), None)
    assert row is not None, f"README's settings table lacks {setting.name}"
    assert f"`{setting.env}`" in row


def test_every_command_is_documented() -> None:
    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name in commands:
        assert f"`articlebot {name}" in README, f"README does not document `articlebot {name}`"


def test_quick_start_is_two_commands() -> None:
    quick_start = README.split("## Quick start", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    assert [line for line in quick_start.strip().splitlines() if line.strip()] == [
        "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/articlebot chat",
        "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/python -m pytest",
    ]
