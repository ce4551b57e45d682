"""Broken configs: each mistake is reported at its exact key path, all of them at once."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, ConfigProblem, load_settings
from tests.config.harness import SERVICE, WriteConfig

STEPS_15_THEN_5 = """
[[escalation.steps]]
target = "oncall"
after = "0m"
[[escalation.steps]]
target = "tech_lead"
after = "15m"
[[escalation.steps]]
target = "eng_manager"
after = "5m"
"""

STAGES_OVERLAP = """
[[monitoring.stages]]
every = "5m"
until = "1h"
[[monitoring.stages]]
every = "30m"
until = "1h"
"""

BROKEN: list[tuple[str, str, str, str]] = [
    # (case id, TOML text, expected key path, expected message or message fragment)
    (
        "wrong-duration",
        '[escalation]\nack_timeout = "30 minutes"\n',
        "escalation.ack_timeout",
        'expected a duration like "15m"',
    ),
    (
        "bare-number-duration",
        '[[escalation.steps]]\ntarget = "oncall"\nafter = "0m"\n'
        '[[escalation.steps]]\ntarget = "tech_lead"\nafter = 900\n',
        "escalation.steps[1].after",
        'expected a duration like "15m"',
    ),
    (
        "late-first-step",
        '[[escalation.steps]]\ntarget = "oncall"\nafter = "5m"\n',
        "escalation.steps[0].after",
        'the first step pages at once: expected "0m"',
    ),
    (
        "business-days-outside-sla",
        '[oncall]\nsecondary_after = "1bd"\n',
        "oncall.secondary_after",
        "business days are only allowed for severity SLAs",
    ),
    (
        "unknown-key-typo",
        "[web]\nprot = 8080\n",
        "web.prot",
        "unknown key (expected one of host, port, enabled, max_alerts_per_push, "
        'max_conditions_per_push, read_timeout_seconds; did you mean "port"?)',
    ),
    (
        "unknown-section",
        '[discrod]\nrelease_channel = "releases"\n',
        "discrod",
        'did you mean "discord"?',
    ),
    (
        "unknown-role-key",
        '[roles]\ntech_lad = "Tech Lead"\n',
        "roles.tech_lad",
        "unknown role key (expected one of release_lead, tech_lead, devops, oncall, "
        'eng_manager, stakeholders, dev_team; did you mean "tech_lead"?)',
    ),
    (
        "unknown-role-in-permission",
        '[permissions]\ntick = ["tech_lead", "devop"]\n',
        "permissions.tick[1]",
        'unknown role key "devop"',
    ),
    (
        "unknown-permission-action",
        '[permissions]\ndeploy_prod = ["devops"]\n',
        "permissions.deploy_prod",
        "unknown permission action (expected one of start, tick,",
    ),
    (
        "decreasing-steps",
        STEPS_15_THEN_5,
        "escalation.steps[2].after",
        "must not be earlier than steps[1].after (15m)",
    ),
    (
        "no-steps",
        "[escalation]\nsteps = []\n",
        "escalation.steps",
        "expected at least 1 item(s)",
    ),
    (
        "bad-escalation-target",
        '[[escalation.steps]]\ntarget = "cto"\nafter = "0m"\n',
        "escalation.steps[0].target",
        'unknown escalation target "cto"',
    ),
    (
        "stage-overlap",
        STAGES_OVERLAP,
        "monitoring.stages[1].until",
        "must be later than stages[0].until (1h)",
    ),
    (
        "stage-poll-longer-than-stage",
        '[[monitoring.stages]]\nevery = "2h"\nuntil = "1h"\n',
        "monitoring.stages[0].every",
        "must not be longer than the stage it belongs to (1h, from 0s to 1h)",
    ),
    (
        "duplicate-service",
        SERVICE + SERVICE,
        "services[1].name",
        'duplicate service name "nexis-gateway" (also services[0].name)',
    ),
    (
        "bad-service-name",
        '[[services]]\nname = "Nexis Gateway"\n',
        "services[0].name",
        'expected lowercase letters, digits and "-"',
    ),
    (
        "missing-namespace",
        '[[services]]\nname = "api"\n[services.kubernetes.production]\ndeployment = "api"\n',
        "services[0].kubernetes.production.namespace",
        "field required",
    ),
    (
        "missing-query",
        '[monitoring.conditions.queue_depth]\nkind = "prometheus"\nthreshold = 100.0\n'
        'breaches = 1\nseverity = "P2"\ntitle = "Queue depth"\n',
        "monitoring.conditions.queue_depth.query",
        'required when kind is "prometheus"',
    ),
    (
        "http-without-url",
        '[monitoring.conditions.health]\nkind = "http"\nbreaches = 1\nseverity = "P0"\n'
        'title = "Health"\n',
        "monitoring.conditions.health.url",
        'required when kind is "http"',
    ),
    (
        "bad-severity",
        '[monitoring.conditions.error_rate]\nseverity = "P5"\n',
        "monitoring.conditions.error_rate.severity",
        "expected 'P0', 'P1', 'P2' or 'P3'",
    ),
    (
        "unknown-severity-table",
        '[severities.P4]\nresponse = "1h"\n',
        "severities.P4",
        "unknown key (expected one of P0, P1, P2, P3, timezone",
    ),
    (
        "bad-sla",
        '[severities.P2]\nresolution = "whenever"\n',
        "severities.P2.resolution",
        'expected a duration like "4h", business days like "1bd", or "next-release"',
    ),
    (
        "bad-notify-target",
        '[severities.P0]\nnotify = ["all"]\n',
        "severities.P0.notify[0]",
        'unknown notify target "all"',
    ),
    (
        "single-table-for-array",
        '[services]\nname = "api"\n',
        "services",
        "expected an array ([...], or one [[services]] table per entry)",
    ),
    (
        "string-for-role-list",
        '[permissions]\ndeploy = "devops"\n',
        "permissions.deploy",
        "expected an array ([...])",
    ),
    ("bad-port", "[web]\nport = 70000\n", "web.port", "must be at most 65535"),
    ("port-as-string", '[web]\nport = "8080"\n', "web.port", "expected a whole number"),
    ("bool-as-string", '[web]\nenabled = "yes"\n', "web.enabled", "expected true or false"),
    (
        "sync-database-driver",
        '[database]\nurl = "sqlite:///data/releasebot.db"\n',
        "database.url",
        'needs an async driver: use "sqlite+aiosqlite"',
    ),
    (
        "secret-in-toml",
        '[discord]\ntoken = "abc.def.ghi"\n',
        "discord.token",
        "secrets must not be in the config file; set RELEASEBOT_DISCORD_TOKEN",
    ),
    (
        "nested-secret-in-toml",
        '[paging.pagerduty]\nrouting_key = "R0UT1NG"\n',
        "paging.pagerduty.routing_key",
        "set RELEASEBOT_PAGERDUTY_ROUTING_KEY",
    ),
    (
        "service-without-prometheus",
        '[[services]]\nname = "api"\n[services.kubernetes.production]\n'
        'namespace = "production"\ndeployment = "api"\n',
        "services[0].prometheus_url",
        "required by conditions error_rate, latency_p95 (to query Prometheus)",
    ),
    (
        "service-without-deployment",
        '[[services]]\nname = "api"\nprometheus_url = "http://127.0.0.1:9090"\n',
        "services[0].kubernetes.production",
        "required by condition availability (to read the production Deployment)",
    ),
    (
        "service-override-breaks-condition",
        SERVICE + '[services.conditions.error_rate]\nop = "!="\n',
        "services[0].conditions.error_rate.op",
        "expected '>', '<', '>=' or '<='",
    ),
    (
        "auto-rollback-unknown-condition",
        '[kubernetes.auto_rollback]\nenabled = true\nconditions = ["error_ratio"]\n',
        "kubernetes.auto_rollback.conditions[0]",
        'unknown condition "error_ratio"',
    ),
    (
        "pagerduty-without-key",
        "[paging.pagerduty]\nenabled = true\n",
        "paging.pagerduty.enabled",
        "RELEASEBOT_PAGERDUTY_ROUTING_KEY (or RELEASEBOT_PAGERDUTY_ROUTING_KEY_FILE) is not set",
    ),
    (
        "step-pages-disabled-pagerduty",
        '[[escalation.steps]]\ntarget = "oncall"\nafter = "0m"\npagerduty = true\n',
        "escalation.steps[0].pagerduty",
        "true, but paging.pagerduty.enabled is false",
    ),
    (
        "backoff-inverted",
        '[paging.outbox]\nbase_backoff = "10m"\nmax_backoff = "5m"\n',
        "paging.outbox.max_backoff",
        "must not be shorter than outbox.base_backoff (10m)",
    ),
    (
        "bad-timezone",
        '[severities]\ntimezone = "Mars/Olympus"\n',
        "severities.timezone",
        'unknown timezone "Mars/Olympus"',
    ),
]


def _problems(write_config: WriteConfig, text: str) -> list[ConfigProblem]:
    """Load `text` expecting failure and return the problems reported."""
    with pytest.raises(ConfigError) as caught:
        load_settings(write_config(text), env={})
    return caught.value.problems


@pytest.mark.parametrize(
    ("text", "path", "message"), [case[1:] for case in BROKEN], ids=[case[0] for case in BROKEN]
)
def test_broken_config_names_its_key_path(
    write_config: WriteConfig, text: str, path: str, message: str
) -> None:
    """Report exactly one problem, at the key path, with a human message."""
    problems = _problems(write_config, text)
    assert [problem.path for problem in problems] == [path], problems
    assert message in problems[0].message
    assert str(problems[0]) == f"{path}: {problems[0].message}"
    assert "Input should" not in problems[0].message  # no raw pydantic wording


def test_secret_values_are_not_echoed(write_config: WriteConfig) -> None:
    """Leave the secret's value out of the problem that rejects it."""
    problems = _problems(write_config, '[discord]\ntoken = "abc.def.ghi"\n')
    assert all("abc.def.ghi" not in str(problem) for problem in problems)


def test_toml_syntax_error_gives_line_and_column(write_config: WriteConfig) -> None:
    """Report a TOML syntax error as one problem carrying its line and column."""
    problems = _problems(write_config, '[web]\nport = 8080\nhost "0.0.0.0"\n')
    assert len(problems) == 1
    problem = problems[0]
    assert (problem.line, problem.column) == (3, 6)
    assert problem.path.endswith("releasebot.toml:3:6")
    assert problem.message.startswith("invalid TOML at line 3, column 6:")


def test_all_problems_are_collected(write_config: WriteConfig) -> None:
    """Report every mistake across sections in one go, not just the first."""
    text = (
        '[web]\nport = 70000\nprot = 1\n[roles]\ntech_lad = "x"\n'
        '[escalation]\nack_timeout = 30\n[discord]\ntoken = "t"\n' + STAGES_OVERLAP
    )
    paths = {problem.path for problem in _problems(write_config, text)}
    assert paths == {
        "web.port",
        "web.prot",
        "roles.tech_lad",
        "escalation.ack_timeout",
        "discord.token",
        "monitoring.stages[1].until",
    }


def test_error_message_lists_every_problem(write_config: WriteConfig) -> None:
    """Render a ConfigError as a count followed by one line per problem."""
    with pytest.raises(ConfigError) as caught:
        load_settings(write_config("[web]\nport = -1\nhost = ''\n"), env={})
    text = str(caught.value)
    assert text.startswith("2 configuration problems:")
    assert "web.port: must be at least 0" in text
    assert "web.host: must not be empty" in text
