"""The README documents every setting and every command, so it cannot drift from the code."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from bot.cli import build_parser
from bot.config import SETTINGS

REPO = Path(__file__).parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")


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


def readme_examples() -> list[str]:
    """The README's runnable command lines: every line of a bash block that runs .venv/bin/articlebot,
    except the installs (they download) and the ones that need the reader's own token or paths."""
    found = []
    for block in re.findall(r"```bash\n(.*?)```", README, re.DOTALL):
        for line in block.splitlines():
            line = line.strip()
            if ".venv/bin/articlebot" in line and not line.startswith("python3 -m venv") \
                    and "TELEGRAM_BOT_TOKEN" not in line and "path/to" not in line and "…" not in line:
                found.append(line)
    return found


@pytest.fixture(scope="module")
def fresh_venv_checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder laid out like a fresh clone after the quick start: the project's corpus/ and docs/, and a
    new .venv (never activated) with articlebot installed into it by pip. Its dependencies come from
    this test run's environment through a .pth file, so nothing is downloaded."""
    root = tmp_path_factory.mktemp("readme-checkout")
    for name in ("corpus", "docs"):
        (root / name).symlink_to(REPO / name)
    venv = root / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    purelib = subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    (Path(purelib) / "test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--quiet",
                    "--no-deps", "--no-build-isolation", "--no-index", "-e", str(REPO)],
                   check=True, timeout=300, capture_output=True)
    return root


def test_the_readme_has_examples_to_run() -> None:
    assert len(readme_examples()) >= 6


@pytest.mark.parametrize("command", readme_examples())
def test_every_readme_example_runs_as_written_without_activating_the_venv(fresh_venv_checkout: Path,
                                                                          command: str) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ARTICLEBOT_", "VIRTUAL_ENV"))}
    env["PATH"] = "/usr/bin:/bin"  # no virtual environment on PATH: the README's commands name .venv/bin
    result = subprocess.run(["bash", "-c", command], cwd=fresh_venv_checkout, env=env, capture_output=True,
                            text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    assert result.stdout.strip(), command
    assert "Nothing in the articles answers" not in result.stdout, command  # an example shows an answer
    assert "Traceback" not in result.stderr
