"""The seed template's GitHub checks, `checklist validate` and `check-config` about them."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from bot.checklist import load_template
from bot.cli import main
from bot.config import build_settings, load_settings
from bot.evidence.domain import CHECK_KEYS
from bot.evidence.wiring import specs_from_settings

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "config" / "checklists" / "release.md"
EXAMPLE = ROOT / "config" / "releasebot.example.toml"


def _run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def test_at_least_12_seed_items_are_checked_by_github() -> None:
    """Annotate 15 of the seed's items with github.* checks, all of them known keys."""
    template = load_template(TEMPLATE)
    checked = [i for i in template.items() if (i.check or "").startswith("github.")]
    assert len(checked) == 15
    assert {i.check for i in checked} == set(CHECK_KEYS)
    release = [i for i in checked if i.phase_key == "release"]
    assert len(release) == 12  # the Release Process phase opens with these to check


def test_the_example_config_gives_every_check_its_settings() -> None:
    """With the example's [services.github], no github.* check misses a setting."""
    settings = load_settings(EXAMPLE, env={})
    spec = specs_from_settings(settings)["nexis-gateway"]
    assert spec.repository == "nexis/nexis"
    assert spec.branch("v1.4.0") == "release/v1.4.0"
    assert spec.assets == ("nexis-v{version}-linux-x86_64.tar.gz",)
    from bot.evidence.domain import missing_settings

    assert {key: missing_settings(spec, key) for key in CHECK_KEYS} == {k: [] for k in CHECK_KEYS}


def test_validate_lists_the_checked_items_and_what_each_needs() -> None:
    """Print one line per check key with the settings it needs and its item ids."""
    code, text = _run("checklist", "validate", str(TEMPLATE))
    assert code == 0
    # 18 Kubernetes and GitHub items plus the 6 report items (issue 16); every key answered.
    assert "Automatic checks: 24 items carry a check" in text
    assert "unknown check" not in text
    line = next(x for x in text.splitlines() if x.strip().startswith("github.ci "))
    assert "needs [github] enabled; [services.github] repository, required_checks, ci_ref" in line
    assert re.search(r": release/merge-to-main:[0-9a-f]{8}$", line)
    code, text = _run("checklist", "validate", str(TEMPLATE), "--json")
    checks = {c["check"]: c for c in json.loads(text)["checks"]}
    assert len(checks["github.tag"]["items"]) == 2
    assert checks["github.branch_deleted"]["needs"].endswith("repository, branch_pattern")


def test_validate_flags_a_check_nothing_answers(tmp_path: Path) -> None:
    """An unknown check key is listed as ticked by hand, not silently accepted."""
    path = tmp_path / "t.md"
    path.write_text("# T\n\n## Release\n\n- [ ] Thing {check=github.nonsense}\n", encoding="utf-8")
    code, text = _run("checklist", "validate", str(path))
    assert code == 0
    assert "github.nonsense (unknown check: nothing answers it, tick by hand)" in text


def _config(tmp_path: Path, github: str, env_token: bool = True) -> Path:
    (tmp_path / "release.md").write_bytes(TEMPLATE.read_bytes())
    path = tmp_path / "releasebot.toml"
    path.write_text(
        '[checklist]\npath = "release.md"\n'
        "[github]\nenabled = true\n"
        '[[services]]\nname = "nexis-gateway"\nprometheus_url = "http://127.0.0.1:9090"\n'
        "[services.kubernetes.production]\n"
        'namespace = "production"\ndeployment = "nexis-gateway"\n' + github,
        encoding="utf-8",
    )
    return path


def test_check_config_reports_a_github_check_with_missing_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Enabled without a repository: every github.* check names services[0].github.repository."""
    monkeypatch.setenv("RELEASEBOT_GITHUB_TOKEN", "ghp_x")
    code, text = _run("check-config", str(_config(tmp_path, "")))
    assert code == 1
    lines = [x for x in text.splitlines() if x.startswith("services[0].github.repository")]
    assert len(lines) == len(CHECK_KEYS)
    assert any("required by check=github.ci (items release/merge-to-main:" in x for x in lines)


def test_check_config_reports_empty_asset_patterns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A repository but no asset patterns: github.assets misses `assets`, nothing else."""
    monkeypatch.setenv("RELEASEBOT_GITHUB_TOKEN", "ghp_x")
    path = _config(tmp_path, '[services.github]\nrepository = "nexis/nexis"\n')
    code, text = _run("check-config", str(path))
    assert code == 1
    problems = [x for x in text.splitlines() if x.startswith("services[")]
    assert problems == [
        "services[0].github.assets: required by check=github.assets (items "
        "release/build-release-artifacts:1dee89c9, release/create-github-release:a309ea77) "
        "of service nexis-gateway; set it in [services.github]"
    ]


def test_check_config_passes_a_complete_github_section_and_warns_without_a_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Complete settings pass; without a token or App key it warns about the 60/hour limit."""
    monkeypatch.delenv("RELEASEBOT_GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("RELEASEBOT_GITHUB_APP_PRIVATE_KEY", raising=False)
    section = '[services.github]\nrepository = "nexis/nexis"\nassets = ["nexis-v{version}.tgz"]\n'
    code, text = _run("check-config", str(_config(tmp_path, section)))
    assert code == 0, text
    assert "warning: github.enabled: true, but neither RELEASEBOT_GITHUB_TOKEN" in text


def test_github_settings_are_validated() -> None:
    """A repository that is not owner/name and a pattern without {version} are refused."""
    with pytest.raises(Exception, match=r"services\[0\]\.github\.repository: expected owner/name"):
        build_settings(
            {
                "services": [
                    {
                        "name": "x",
                        "prometheus_url": "http://p:9090",
                        "kubernetes": {"production": {"namespace": "p", "deployment": "x"}},
                        "github": {"repository": "no-slash", "tag_pattern": "v1"},
                    }
                ]
            },
            env={},
        )


def test_the_github_token_is_a_secret_from_the_environment() -> None:
    """Read RELEASEBOT_GITHUB_TOKEN; a token in the TOML file is refused, naming the variable."""
    settings = build_settings({}, env={"RELEASEBOT_GITHUB_TOKEN": "ghp_secret"})
    assert settings.secrets.github_token is not None
    assert "ghp_secret" not in repr(settings.secrets)
    with pytest.raises(Exception, match="RELEASEBOT_GITHUB_TOKEN"):
        build_settings({"github": {"token": "ghp_in_file"}}, env={})
