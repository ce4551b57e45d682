"""Secrets: read from the environment or `_FILE` variables, and never shown."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.config import ConfigError, Secrets, Settings, build_settings, load_settings
from tests.config.harness import WriteConfig

TOKEN = "MTIz.discord-token-value.XYZ"


def test_secrets_come_from_env() -> None:
    """Read every secret from its environment variable, trimming stray whitespace."""
    env = {
        "RELEASEBOT_DISCORD_TOKEN": TOKEN + "\n",
        "RELEASEBOT_ALERTMANAGER_TOKEN": "am-bearer",
        "RELEASEBOT_ALERTMANAGER_HMAC_SECRET": "am-hmac",
        "RELEASEBOT_PAGERDUTY_ROUTING_KEY": "pd-key",
        "RELEASEBOT_WEBHOOK_SECRET": "wh-secret",
    }
    secrets = build_settings({}, env=env).secrets
    assert secrets.discord_token is not None
    assert secrets.discord_token.get_secret_value() == TOKEN
    assert secrets.pagerduty_routing_key is not None
    assert secrets.pagerduty_routing_key.get_secret_value() == "pd-key"
    assert secrets.names_set() == [
        "discord_token",
        "alertmanager_token",
        "alertmanager_hmac_secret",
        "pagerduty_routing_key",
        "webhook_secret",
    ]


def test_secret_from_file(tmp_path: Path) -> None:
    """Read a secret from the file named by `<NAME>_FILE`, stripped."""
    secret_file = tmp_path / "token"
    secret_file.write_text(f"  {TOKEN}\n\n", encoding="utf-8")
    secrets = Secrets.from_env({"RELEASEBOT_DISCORD_TOKEN_FILE": str(secret_file)})
    assert secrets.discord_token is not None
    assert secrets.discord_token.get_secret_value() == TOKEN
    assert secrets.webhook_secret is None


def test_secrets_default_to_os_environ(
    write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Use os.environ when no `env` mapping is given."""
    monkeypatch.setenv("RELEASEBOT_WEBHOOK_SECRET", "from-os-environ")
    settings = load_settings(write_config(""))
    assert settings.secrets.webhook_secret is not None
    assert settings.secrets.webhook_secret.get_secret_value() == "from-os-environ"


@pytest.mark.parametrize(
    ("make_env", "message"),
    [
        (
            lambda d: {"RELEASEBOT_DISCORD_TOKEN_FILE": str(d / "missing")},
            "cannot read",
        ),
        (lambda d: {"RELEASEBOT_DISCORD_TOKEN_FILE": str(d / "empty")}, "is empty"),
        (
            lambda d: {
                "RELEASEBOT_DISCORD_TOKEN": TOKEN,
                "RELEASEBOT_DISCORD_TOKEN_FILE": str(d / "empty"),
            },
            "set either RELEASEBOT_DISCORD_TOKEN or RELEASEBOT_DISCORD_TOKEN_FILE, not both",
        ),
    ],
    ids=["missing-file", "empty-file", "both-set"],
)
def test_bad_secret_sources_are_problems(
    tmp_path: Path, make_env: Callable[[Path], dict[str, str]], message: str
) -> None:
    """Report an unreadable, empty or doubly-set secret under its variable name."""
    (tmp_path / "empty").write_text("\n", encoding="utf-8")
    env = make_env(tmp_path)
    with pytest.raises(ConfigError) as caught:
        build_settings({}, env=env)
    [problem] = caught.value.problems
    assert problem.path.startswith("RELEASEBOT_DISCORD_TOKEN")
    assert message in problem.message
    assert TOKEN not in str(problem)


def test_secrets_never_show(caplog: pytest.LogCaptureFixture) -> None:
    """Keep secret values out of repr, str, JSON dumps and log lines."""
    env = {"RELEASEBOT_DISCORD_TOKEN": TOKEN, "RELEASEBOT_WEBHOOK_SECRET": "wh-secret-value"}
    settings = build_settings({}, env=env)
    logger = logging.getLogger("releasebot.test")
    with caplog.at_level(logging.INFO, logger="releasebot.test"):
        logger.info("settings: %s", settings)
        logger.info("settings repr: %r", settings)
        logger.info("secrets: %s", settings.secrets)
    renderings = [
        repr(settings),
        str(settings),
        repr(settings.secrets),
        settings.model_dump_json(),
        str(settings.model_dump()),
        caplog.text,
    ]
    for text in renderings:
        assert TOKEN not in text
        assert "wh-secret-value" not in text
    assert "**********" in repr(settings.secrets)
    assert len(caplog.records) == 3


def test_require_discord_token() -> None:
    """Return the token when set, else raise a problem naming the variable."""
    assert Settings.defaults().secrets.discord_token is None
    with pytest.raises(ConfigError, match="RELEASEBOT_DISCORD_TOKEN: not set"):
        Settings.defaults().require_discord_token()
    settings = build_settings({}, env={"RELEASEBOT_DISCORD_TOKEN": TOKEN})
    assert settings.require_discord_token().get_secret_value() == TOKEN


def test_pagerduty_enabled_with_key_is_accepted() -> None:
    """Accept PagerDuty paging once its routing key is in the environment."""
    settings = build_settings(
        {"paging": {"pagerduty": {"enabled": True}}},
        env={"RELEASEBOT_PAGERDUTY_ROUTING_KEY": "pd"},
    )
    assert settings.paging.pagerduty.enabled


@pytest.mark.parametrize(
    ("key", "variable"),
    [
        ("[web]\ntoken", "RELEASEBOT_ALERTMANAGER_TOKEN"),
        ("[web]\nhmac_secret", "RELEASEBOT_ALERTMANAGER_HMAC_SECRET"),
        ("[paging.webhook]\nsecret", "RELEASEBOT_WEBHOOK_SECRET"),
        ("[database]\npassword", "RELEASEBOT_"),
        ("secrets", "RELEASEBOT_"),
    ],
)
def test_secret_keys_point_to_their_variable(
    write_config: WriteConfig, key: str, variable: str
) -> None:
    """Name the environment variable to use instead of a secret-looking key."""
    with pytest.raises(ConfigError) as caught:
        load_settings(write_config(f'{key} = "hunter2"\n'), env={})
    [problem] = caught.value.problems
    assert variable in problem.message
    assert "hunter2" not in str(caught.value)


def test_tables_with_secret_words_are_not_secrets(write_config: WriteConfig) -> None:
    """Accept a condition whose name merely contains "token"."""
    path = write_config(
        "[monitoring.conditions.token_expiry]\n"
        'kind = "prometheus"\nquery = "min(token_ttl_seconds)"\nthreshold = 3600.0\n'
        'op = "<"\nbreaches = 1\nseverity = "P2"\ntitle = "Token expiry"\n'
    )
    settings = load_settings(path, env={})
    assert settings.monitoring.conditions["token_expiry"].op == "<"
