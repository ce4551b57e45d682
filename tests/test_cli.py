"""The `releasebot` command line, run in-process with real files."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from bot.cli import main

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "config" / "checklists" / "release.md"
EXAMPLE = ROOT / "config" / "releasebot.example.toml"


def _run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def test_validate_lists_all_74_items_in_order():
    """List the seed's 74 checkbox items in document order, each with its section path."""
    code, text = _run("checklist", "validate", str(TEMPLATE), "--json")
    assert code == 0
    items = json.loads(text)["items"]
    assert len(items) == 74
    assert [i["line"] for i in items] == sorted(i["line"] for i in items)
    assert items[0]["text"] == "所有计划功能已实现"
    assert items[0]["section_path"] == ["Pre-Release Preparation (发布前准备)", "1. 代码完成度"]
    prod_title = "2. Production Deployment (生产环境部署)"
    production = [i for i in items if prod_title in i["section_path"]]
    assert {tuple(i["section_path"][2:]) for i in production} == {
        ("Pre-deployment",),
        ("Deployment",),
        ("Post-deployment",),
    }
    assert [i["kind"] for i in items].count("signoff") == 4


def test_validate_reports_file_line_errors(tmp_path: Path):
    """Exit 1 and print file:line for an item before any phase and an unclosed fence."""
    bad = tmp_path / "bad.md"
    bad.write_text("# T\n- [ ] orphan item\n## Phase\n```bash\nnever closed\n", encoding="utf-8")
    code, text = _run("checklist", "validate", str(bad))
    assert code == 1
    assert f"{bad}:2:" in text
    assert f"{bad}:4:" in text


def test_check_config_passes_on_the_example():
    """Accept the example configuration."""
    code, text = _run("check-config", str(EXAMPLE))
    assert code == 0
    assert text.startswith("OK:")


def test_check_config_names_the_key_path(tmp_path: Path):
    """Reject a broken config naming the exact key path."""
    broken = tmp_path / "broken.toml"
    broken.write_text('[[escalation.steps]]\ntarget = "oncall"\nafter = "soon"\n', encoding="utf-8")
    code, text = _run("check-config", str(broken))
    assert code == 1
    assert "escalation.steps[0].after" in text


def test_run_without_token_points_to_the_demo(monkeypatch, capsys):
    """Exit 2 with a message that names the token variable and the demo."""
    monkeypatch.delenv("RELEASEBOT_DISCORD_TOKEN", raising=False)
    monkeypatch.delenv("RELEASEBOT_DISCORD_TOKEN_FILE", raising=False)
    code, _ = _run("run", "--config", str(EXAMPLE))
    assert code == 2
    err = capsys.readouterr().err
    assert "RELEASEBOT_DISCORD_TOKEN" in err
    assert "releasebot demo" in err


def test_db_upgrade_and_downgrade(tmp_path: Path):
    """Upgrade a fresh database to head and back to base from the command line."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    code, text = _run("db", "upgrade", "--url", url)
    assert code == 0
    assert "database at revision 0" in text  # any head (helpers add 0010..0012)
    code, text = _run("db", "downgrade", "--url", url)
    assert code == 0
    assert "base" in text


def test_unknown_command_is_a_usage_error():
    """Exit with argparse's usage error for an unknown command."""
    with pytest.raises(SystemExit) as exited:
        main(["frobnicate"])
    assert exited.value.code == 2


def test_validate_refuses_a_5mb_item_with_a_clear_error(tmp_path: Path):
    """Exit 1 naming the byte limit for a 5 MB item (it passed, then /release start hung)."""
    huge = tmp_path / "huge.md"
    huge.write_text("## P\n- [ ] " + "x" * 5_000_000 + "\n", encoding="utf-8")
    code, text = _run("checklist", "validate", str(huge))
    assert code == 1
    assert text == (
        f"{huge}:1: template is 5,000,012 bytes; expected at most 65,536 (checklist.max_bytes): "
        "a release posts the whole checklist to Discord\n"
    )


def test_validate_broken_annotation_fails_and_lenient_warns(tmp_path: Path):
    """Fail on `{role=devops` without its brace; with --lenient, pass with a warning."""
    bad = tmp_path / "bad.md"
    bad.write_text("## P\n- [ ] 回滚 {role=devops\n", encoding="utf-8")
    code, text = _run("checklist", "validate", str(bad))
    assert code == 1
    assert text.startswith(f"{bad}:2: unclosed annotation '{{role=devops'")
    code, text = _run("checklist", "validate", str(bad), "--lenient")
    assert code == 0
    assert f"{bad}:2: warning: unclosed annotation '{{role=devops'" in text
    code, text = _run("checklist", "validate", str(bad), "--lenient", "--json")
    assert code == 0
    assert json.loads(text)["warnings"][0]["line"] == 2


def test_validate_takes_limits_from_a_config(tmp_path: Path):
    """Apply [checklist] max_items_per_phase from --config."""
    config = tmp_path / "releasebot.toml"
    config.write_text("[checklist]\nmax_items_per_phase = 10\n", encoding="utf-8")
    code, text = _run("checklist", "validate", str(TEMPLATE), "--config", str(config))
    assert code == 1
    assert "(checklist.max_items_per_phase)" in text
    assert _run("checklist", "validate", str(TEMPLATE))[0] == 0


def test_check_config_reports_template_errors(tmp_path: Path):
    """Fail check-config with the template's file:line errors (it said OK before)."""
    template = tmp_path / "t.md"
    template.write_text("## P\n- [ ] nospace{role=devops}\n", encoding="utf-8")
    config = tmp_path / "releasebot.toml"
    config.write_text(f'[checklist]\npath = "{template}"\n', encoding="utf-8")
    code, text = _run("check-config", str(config))
    assert code == 1
    assert text == (
        f"checklist.path: {template}:2: annotation '{{role=devops}}' is glued to the text; "
        "expected a space before '{'\n"
    )


def test_demo_without_simcord_says_how_to_install_it(monkeypatch):
    """Name the demo group when SimCord is not installed (as in the runtime image)."""
    import sys

    monkeypatch.setitem(sys.modules, "simcord", None)  # `import simcord` now fails
    for name in [m for m in sys.modules if m == "bot.demo" or m.startswith("bot.demo.")]:
        monkeypatch.delitem(sys.modules, name)  # bot.demo is a package: forget every part
    code, text = _run("demo")
    assert code == 1
    assert "SimCord, which is not installed here" in text
    assert "uv sync --group demo" in text


def test_run_without_a_home_guild_refuses_to_start(monkeypatch, capsys):
    """Exit 2 naming discord.guild_id when the config binds the bot to no server (issue 12)."""
    monkeypatch.setenv("RELEASEBOT_DISCORD_TOKEN", "not-a-real-token")
    code, _ = _run("run", "--config", str(EXAMPLE))
    assert code == 2
    assert "discord.guild_id" in capsys.readouterr().err


def test_check_config_names_the_missing_home_guild():
    """The OK line says `releasebot run` needs discord.guild_id when it is unset."""
    code, text = _run("check-config", str(EXAMPLE))
    assert code == 0
    assert "no discord.guild_id (releasebot run needs it)" in text
