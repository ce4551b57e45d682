"""check-config: the summary line, problem lines and exit codes."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from bot.config import check_config
from tests.config.harness import EXAMPLE, REPO, WriteConfig


def test_example_passes_check_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """Print an OK summary for the shipped example and return 0."""
    monkeypatch.chdir(REPO)
    out = io.StringIO()
    assert check_config(EXAMPLE, out, env={}) == 0
    text = out.getvalue()
    assert text.startswith("OK: ")
    assert "1 service (nexis-gateway)" in text
    assert "7 roles" in text
    assert "3 escalation steps (oncall@0s -> tech_lead@15m -> eng_manager@30m)" in text
    assert "secrets set: none" in text
    assert text.count("\n") == 1


def test_example_passes_when_copied_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pass from a deployment layout where the checklist sits beside the config file."""
    config_dir = tmp_path / "etc" / "releasebot"
    (config_dir / "config" / "checklists").mkdir(parents=True)
    shutil.copy(REPO / "config" / "checklists" / "release.md", config_dir / "config" / "checklists")
    shutil.copy(EXAMPLE, config_dir / "releasebot.toml")
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    assert check_config(config_dir / "releasebot.toml", out, env={}) == 0, out.getvalue()


def test_summary_names_secrets_but_not_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """List which secrets are set without printing them."""
    monkeypatch.chdir(REPO)
    out = io.StringIO()
    assert check_config(EXAMPLE, out, env={"RELEASEBOT_DISCORD_TOKEN": "sekrit-token"}) == 0
    assert "secrets set: discord_token" in out.getvalue()
    assert "sekrit-token" not in out.getvalue()


def test_problems_print_one_per_line(write_config: WriteConfig) -> None:
    """Print each problem on its own line as "path: message" and return 1."""
    out = io.StringIO()
    code = check_config(write_config('[web]\nport = 70000\n[roles]\ntech_lad = "x"\n'), out)
    lines = out.getvalue().splitlines()
    assert code == 1
    assert lines[0] == "web.port: must be at most 65535"
    assert lines[1].startswith("roles.tech_lad: unknown role key (expected one of release_lead,")
    assert len(lines) == 2


def test_syntax_error_exit_code(write_config: WriteConfig) -> None:
    """Return 1 and a line/column for a file that is not TOML."""
    out = io.StringIO()
    assert check_config(write_config("[web\n"), out, env={}) == 1
    assert "releasebot.toml:1:5: invalid TOML at line 1, column 5" in out.getvalue()


def test_missing_checklist_fails(write_config: WriteConfig, tmp_path: Path) -> None:
    """Fail when the checklist template the bot needs at start-up does not exist."""
    out = io.StringIO()
    path = write_config(f'[checklist]\npath = "{tmp_path / "nope.md"}"\n')
    assert check_config(path, out, env={}) == 1
    assert out.getvalue() == f"checklist.path: file not found: {tmp_path / 'nope.md'}\n"


def test_missing_config_file_fails(tmp_path: Path) -> None:
    """Return 1 naming the file when it does not exist."""
    out = io.StringIO()
    assert check_config(tmp_path / "absent.toml", out, env={}) == 1
    assert "absent.toml: cannot read" in out.getvalue()
