"""Loading TOML into Settings: defaults from the seed, the example, merging, paths."""

from __future__ import annotations

import re
import typing
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from bot.config import (
    ConfigError,
    Settings,
    SlaDuration,
    build_settings,
    default_settings,
    load_settings,
)
from tests.config.harness import EXAMPLE, REPO, SERVICE, WriteConfig


def test_defaults_follow_the_seed_escalation_path() -> None:
    """Page on-call at 0m, the Tech Lead at 15m and the Engineering Manager at 30m."""
    steps = Settings.defaults().escalation.steps
    assert [(step.target, step.after) for step in steps] == [
        ("oncall", timedelta(0)),
        ("tech_lead", timedelta(minutes=15)),
        ("eng_manager", timedelta(minutes=30)),
    ]
    assert Settings.defaults().escalation.ack_timeout == timedelta(minutes=30)


def test_defaults_follow_the_seed_severity_table() -> None:
    """Use the seed's P0..P3 response and resolution times and audiences."""
    sev = default_settings().severities
    assert (sev.P0.response, sev.P0.resolution) == (
        SlaDuration.of(timedelta(minutes=15)),
        SlaDuration.of(timedelta(hours=4)),
    )
    assert sev.P0.notify == ["everyone", "stakeholders"]
    assert sev.P1.resolution == SlaDuration.of(timedelta(hours=24))
    assert sev.P1.notify == ["tech_lead", "stakeholders"]
    assert sev.P2.resolution == SlaDuration.of(timedelta(days=3))
    assert sev.P3.response == SlaDuration.days(1)
    assert sev.P3.resolution == SlaDuration.next_release()
    assert sev.policy("P2").notify == ["dev_team"]


def test_defaults_follow_the_seed_monitoring_plan() -> None:
    """Poll every 5m for an hour then every 30m to 24h; roll back above 1% errors."""
    monitoring = Settings.defaults().monitoring
    assert [(stage.every, stage.until) for stage in monitoring.stages] == [
        (timedelta(minutes=5), timedelta(hours=1)),
        (timedelta(minutes=30), timedelta(hours=24)),
    ]
    error_rate = monitoring.conditions["error_rate"]
    assert (error_rate.threshold, error_rate.op, error_rate.breaches) == (0.01, ">", 2)
    assert monitoring.conditions["availability"].breach_rule() == (1.0, "<")
    assert set(monitoring.active_conditions()) == {"error_rate", "latency_p95", "availability"}
    assert set(monitoring.conditions) - set(monitoring.active_conditions()) == {"cpu", "memory"}


def test_defaults_give_roles_and_permissions() -> None:
    """Map role keys to the default Discord roles and let note follow tick."""
    settings = Settings.defaults()
    assert settings.roles.discord_role("eng_manager") == "Engineering Manager"
    assert settings.permissions.roles_for("deploy") == ("devops",)
    assert settings.permissions.note == settings.permissions.tick
    assert settings.discord.alerts_channel == "releases"
    assert settings.web.host == "127.0.0.1"
    assert settings.web.port == 8080
    with pytest.raises(KeyError, match="unknown permission action"):
        settings.permissions.roles_for("launch")


def test_example_config_loads_with_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """Load the example file into the defaults plus the one nexis-gateway service."""
    monkeypatch.chdir(REPO)
    settings = load_settings(EXAMPLE, env={})
    defaults = Settings.defaults()
    for section in ("roles", "permissions", "escalation", "severities", "monitoring", "paging"):
        assert getattr(settings, section) == getattr(defaults, section), section
    service = settings.service("nexis-gateway")
    production = service.kubernetes.production
    assert production is not None
    assert (production.namespace, production.deployment) == ("production", "nexis-gateway")
    assert production.manifests == REPO / "k8s" / "production"
    assert settings.checklist.path == REPO / "config" / "checklists" / "release.md"
    assert set(settings.conditions_for("nexis-gateway")) == {
        "error_rate",
        "latency_p95",
        "availability",
    }


def _setting_keys(annotation: Any) -> set[str]:
    """Return every key name reachable from a settings annotation (models, lists, dicts)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        found: set[str] = set()
        for name, field in annotation.model_fields.items():
            found.add(name)
            found |= _setting_keys(field.annotation)
        return found
    return set().union(*(_setting_keys(arg) for arg in typing.get_args(annotation)))


def test_example_config_documents_every_setting() -> None:
    """Mention every settings key in the example file (set, or commented out when unset)."""
    text = EXAMPLE.read_text(encoding="utf-8")
    keys = set().union(
        *(
            _setting_keys(field.annotation)
            for name, field in Settings.model_fields.items()
            if name != "secrets"
        )
    )
    assert {"namespace", "progress_deadline", "body_match", "pagerduty"} <= keys
    # A key is documented as `key = value` (maybe commented out) or as a [table.key] header.
    pattern = r"^#? ?{0} = |^#? ?\[\[?[a-z_.]*\b{0}\b"
    assert sorted(key for key in keys if not re.search(pattern.format(key), text, re.M)) == []


def test_partial_tables_merge_over_defaults(write_config: WriteConfig) -> None:
    """Change only the keys a table sets for severities and conditions."""
    path = write_config(
        '[severities.P1]\nresponse = "30m"\n'
        "[monitoring.conditions.error_rate]\nthreshold = 0.05\n"
        "[monitoring.conditions.latency_p95]\nenabled = false\n"
    )
    settings = load_settings(path, env={})
    assert settings.severities.P1.response == SlaDuration.of(timedelta(minutes=30))
    assert settings.severities.P1.resolution == SlaDuration.of(timedelta(hours=24))
    error_rate = settings.monitoring.conditions["error_rate"]
    assert error_rate.threshold == 0.05
    assert error_rate.query is not None and "$service" in error_rate.query
    assert set(settings.monitoring.active_conditions()) == {"error_rate", "availability"}


def test_service_overrides_merge_and_disable(write_config: WriteConfig) -> None:
    """Apply a service's condition overrides on top of the global ones."""
    path = write_config(
        SERVICE
        + "[services.conditions.latency_p95]\nthreshold = 0.8\n"
        + "[services.conditions.availability]\nenabled = false\n"
        + '[services.conditions.health]\nkind = "http"\nurl = "http://127.0.0.1:1/healthz"\n'
        + 'title = "Health"\nseverity = "P0"\nbreaches = 2\n'
    )
    settings = load_settings(path, env={})
    conditions = settings.conditions_for("nexis-gateway")
    assert set(conditions) == {"error_rate", "latency_p95", "health"}
    assert conditions["latency_p95"].threshold == 0.8
    assert conditions["latency_p95"].title == "P95 latency"
    assert conditions["health"].breach_rule() == (1.0, "<")
    assert settings.monitoring.conditions["latency_p95"].threshold == 0.5
    with pytest.raises(KeyError, match="unknown service 'web'"):
        settings.conditions_for("web")


def test_relative_paths_prefer_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Resolve a path beside the config file when it exists there, else from the cwd."""
    config_dir = tmp_path / "etc"
    (config_dir / "checklists").mkdir(parents=True)
    (config_dir / "checklists" / "release.md").write_text("# x\n", encoding="utf-8")
    (config_dir / "data").mkdir()
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    path = config_dir / "releasebot.toml"
    path.write_text(
        '[checklist]\npath = "checklists/release.md"\n'
        '[database]\nurl = "sqlite+aiosqlite:///data/bot.db?timeout=5"\n'
        '[kubernetes]\nkubeconfig = "kube/config"\n',
        encoding="utf-8",
    )
    settings = load_settings(path, env={})
    assert settings.checklist.path == config_dir / "checklists" / "release.md"
    assert settings.database.url == f"sqlite+aiosqlite:///{config_dir}/data/bot.db?timeout=5"
    assert settings.kubernetes.kubeconfig == workdir / "kube" / "config"


def test_default_paths_resolve_against_the_working_directory(
    write_config: WriteConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anchor the default checklist and database paths when nothing overrides them."""
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    path = write_config("")
    monkeypatch.chdir(workdir)
    settings = load_settings(path, env={})
    assert settings.checklist.path == workdir / "config" / "checklists" / "release.md"
    assert settings.database.url == f"sqlite+aiosqlite:///{workdir}/data/releasebot.db"


@pytest.mark.parametrize(
    "url",
    [
        "sqlite+aiosqlite:////var/lib/releasebot/bot.db",
        "sqlite+aiosqlite:///:memory:",
        "postgresql+asyncpg://releasebot@db.internal:5432/releasebot",
    ],
)
def test_absolute_and_server_urls_are_kept(url: str) -> None:
    """Leave absolute SQLite files, in-memory SQLite and server URLs unchanged."""
    settings = build_settings({"database": {"url": url}}, env={}, config_dir=Path("/nowhere"))
    assert settings.database.url == url


def test_discord_ids_may_be_numbers() -> None:
    """Accept numeric Discord ids for channels, roles and on-call users."""
    settings = build_settings(
        {
            "discord": {"guild_id": 42, "release_channel": 1234567890123},
            "roles": {"tech_lead": 987654321},
            "oncall": {"primary": 55, "secondary": "bob"},
        },
        env={},
    )
    assert settings.discord.release_channel == "1234567890123"
    assert settings.discord.alerts_channel == "1234567890123"
    assert settings.roles.tech_lead == "987654321"
    assert settings.oncall.primary == "55"


def test_programmatic_settings_are_checked_too() -> None:
    """Refuse rule-breaking settings built without a file, naming the key path."""
    with pytest.raises(ValidationError, match=r"escalation\.steps\[1\]\.after"):
        Settings.model_validate(
            {
                "escalation": {
                    "steps": [
                        {"target": "oncall", "after": "15m"},
                        {"target": "tech_lead", "after": "5m"},
                    ]
                }
            }
        )


def test_settings_are_frozen() -> None:
    """Refuse to change settings after they are built."""
    settings = Settings.defaults()
    with pytest.raises(ValidationError):
        settings.web.port = 1  # type: ignore[misc]


def test_missing_file_is_one_problem(tmp_path: Path) -> None:
    """Report a missing config file as a single problem naming the file."""
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path / "absent.toml", env={})
    assert len(caught.value.problems) == 1
    assert "absent.toml" in str(caught.value.problems[0])
    assert "cannot read" in caught.value.problems[0].message
