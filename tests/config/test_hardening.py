"""check-config checks everything a start would, in one run, and never crashes (issue 12)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import ConfigError, load_settings
from tests.config.harness import REPO, SERVICE, WriteConfig

TEMPLATE = REPO / "config" / "checklists" / "release.md"


def _check(path: Path) -> tuple[int, list[str]]:
    """Run `releasebot check-config PATH` in-process (the CLI's code path)."""
    out = io.StringIO()
    code = main(["check-config", str(path)], out=out)
    return code, out.getvalue().splitlines()


def _problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load_settings(path, env={})
    return [str(problem) for problem in raised.value.problems]


def _with_template(text: str, template: Path) -> str:
    return f'[checklist]\npath = "{template}"\n{SERVICE}{text}'


# ----- odd values are problems naming their key, never tracebacks ------------------------------


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[severities]\ntimezone = "Europe"\n', 'severities.timezone: unknown timezone "Europe"'),
        (f'[severities]\ntimezone = "{"a" * 300}"\n', "severities.timezone: unknown timezone"),
        ('[severities]\ntimezone = "../../etc/passwd"\n', "severities.timezone: unknown timezone"),
        ('[severities]\ntimezone = "zone1970.tab"\n', "severities.timezone: unknown timezone"),
        (
            f'[checklist]\npath = "{"a" * 300}"\n',
            "checklist.path: expected a usable path: it has a file or folder name of 300 bytes",
        ),
        (
            f'[kubernetes]\nkubeconfig = "/{"b" * 300}/x"\n',
            "kubernetes.kubeconfig: expected a usable path: it has a file or folder name",
        ),
        ('[checklist]\npath = "a\\u0000b"\n', "checklist.path: expected a usable path: it must"),
        (
            '[checklist]\npath = "~no-such-user-here/x.md"\n',
            "checklist.path: cannot expand '~no-such-user-here'",
        ),
        (
            f'[database]\nurl = "sqlite+aiosqlite:///{"c" * 300}/x.db"\n',
            "database.url: expected a usable path",
        ),
        (
            '[monitoring.conditions.error_rate]\nbody_match = "' + "(" * 1000 + ")" * 1000 + '"\n',
            "monitoring.conditions.error_rate.body_match: invalid regular expression",
        ),
        (
            '[monitoring.conditions.error_rate]\nbody_match = "a{99999999999}"\n',
            "monitoring.conditions.error_rate.body_match: invalid regular expression",
        ),
        (
            '[escalation]\nack_timeout = "' + "9" * 5000 + 'w"\n',
            "escalation.ack_timeout: duration is too large",
        ),
        ('[oncall]\nsecondary_after = "99999w"\n', "oncall.secondary_after: must be at most 520w"),
        (
            '[severities.P2]\nresolution = "' + "9" * 30 + 'bd"\n',
            "severities.P2.resolution: business days must be at most 2600bd",
        ),
    ],
    ids=[
        "tz-folder",
        "tz-300",
        "tz-dotdot",
        "tz-file",
        "path-300",
        "kubeconfig-300",
        "path-nul",
        "path-tilde-user",
        "sqlite-300",
        "regex-deep",
        "regex-repeat",
        "duration-digits",
        "duration-huge",
        "sla-huge",
    ],
)
def test_odd_values_are_problems_not_tracebacks(
    write_config: WriteConfig, toml: str, expected: str
) -> None:
    """Report each value as a problem at its key path (several used to raise)."""
    code, lines = _check(write_config(toml))
    assert code == 1
    assert any(line.startswith(expected) for line in lines), lines


def test_a_missing_kubeconfig_is_reported(write_config: WriteConfig, tmp_path: Path) -> None:
    """Fail when the kubeconfig the bot would load at start-up does not exist."""
    code, lines = _check(write_config(f'[kubernetes]\nkubeconfig = "{tmp_path / "nope"}"\n'))
    assert code == 1
    assert f"kubernetes.kubeconfig: file not found: {tmp_path / 'nope'}" in lines


# ----- cross-field rules are reported together with field errors --------------------------------


def test_step_order_is_reported_while_a_step_has_a_bad_target(write_config: WriteConfig) -> None:
    """Report the step order problem next to the bad target (it was hidden until fixed)."""
    path = write_config(
        '[[escalation.steps]]\ntarget = "oncall"\nafter = "0m"\n'
        '[[escalation.steps]]\ntarget = "bogus"\nafter = "15m"\n'
        '[[escalation.steps]]\ntarget = "tech_lead"\nafter = "5m"\n'
    )
    problems = _problems(path)
    assert problems[0].startswith('escalation.steps[1].target: unknown escalation target "bogus"')
    assert "escalation.steps[2].after: must not be earlier than steps[1].after (15m)" in problems
    assert len(problems) == 2


def test_stage_order_is_reported_while_a_field_is_wrong(write_config: WriteConfig) -> None:
    """Report overlapping stages next to a bad `blind_after` in the same table."""
    path = write_config(
        "[monitoring]\nblind_after = 0\n"
        '[[monitoring.stages]]\nevery = "5m"\nuntil = "1h"\n'
        '[[monitoring.stages]]\nevery = "5m"\nuntil = "30m"\n'
    )
    problems = _problems(path)
    assert "monitoring.blind_after: must be at least 1" in problems
    assert "monitoring.stages[1].until: must be later than stages[0].until (1h)" in problems


def test_resolution_before_response_is_reported_with_a_bad_timezone(
    write_config: WriteConfig,
) -> None:
    """Report resolution < response next to an unknown timezone in [severities]."""
    path = write_config(
        '[severities]\ntimezone = "Mars/Olympus"\n[severities.P1]\nresponse = "2h"\n'
        'resolution = "1h"\n[severities.P2]\nnotify = ["nobody"]\n'
    )
    problems = _problems(path)
    assert any(p.startswith("severities.timezone: unknown timezone") for p in problems)
    assert any(p.startswith("severities.P2.notify[0]: unknown notify target") for p in problems)
    assert "severities.P1.resolution: must not be shorter than response (2h)" in problems


def test_a_broken_field_does_not_invent_problems_about_itself(write_config: WriteConfig) -> None:
    """Skip a rule that would read a field that failed (no 'query required' for a bad query)."""
    path = write_config(
        '[monitoring.conditions.error_rate]\nquery = ""\n'
        '[[escalation.steps]]\ntarget = "oncall"\nafter = "soon"\n'
    )
    assert _problems(path) == [
        "monitoring.conditions.error_rate.query: must not be empty",
        'escalation.steps[0].after: expected a duration like "15m"',
    ]


# ----- the checklist template is checked as a start would ------------------------------------


def test_a_template_with_20_errors_fails_check_config(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    """Print the template's 20 file:line errors (check-config said OK, then start failed)."""
    template = tmp_path / "broken.md"
    template.write_text(
        "## P\n" + "".join(f"- [ ] item {n} {{role=nobody}}\n" for n in range(20)),
        encoding="utf-8",
    )
    code, lines = _check(write_config(_with_template("", template)))
    assert code == 1
    assert len(lines) == 20
    assert lines[0] == (
        f"checklist.path: {template}:2: unknown role 'nobody'; expected one of: release_lead, "
        "tech_lead, devops, oncall, eng_manager, stakeholders, dev_team"
    )
    assert lines[-1].startswith(f"checklist.path: {template}:21: ")


def test_template_limits_come_from_the_config(write_config: WriteConfig, tmp_path: Path) -> None:
    """Apply [checklist] max_item_length to the template (here: 30 characters)."""
    template = tmp_path / "t.md"
    template.write_text(
        "## P\n- [ ] " + "x" * 31 + " {marks=production_deployed}\n"
        "- [ ] ok {signoff=go role=tech_lead phase=p}\n",
        encoding="utf-8",
    )
    code, lines = _check(write_config(_with_template("", template)))
    assert code == 0, lines
    code, lines = _check(
        write_config(f'[checklist]\npath = "{template}"\nmax_item_length = 30\n{SERVICE}')
    )
    assert code == 1
    assert lines == [
        f"checklist.path: {template}:2: checkbox text is 31 characters; expected at most 30 "
        "(checklist.max_item_length): put details in a note line below it"
    ]


def test_template_and_settings_problems_are_reported_in_one_run(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    """Report the template's errors while another section is broken too."""
    template = tmp_path / "t.md"
    template.write_text("## P\n- [ ] x {role=devops\n", encoding="utf-8")
    code, lines = _check(write_config(_with_template("[web]\nport = 70000\n", template)))
    assert code == 1
    assert lines == [
        "web.port: must be at most 65535",
        f"checklist.path: {template}:2: unclosed annotation '{{role=devops'; expected "
        "' {key=value ...}' closed with '}' at the end of the line",
    ]


def test_warnings_for_no_service_no_production_mark_no_signoffs(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    """Warn (exit 0) about a template without marks or sign-offs and a config without services."""
    template = tmp_path / "t.md"
    template.write_text("## P\n- [x] x\n", encoding="utf-8")
    code, lines = _check(write_config(f'[checklist]\npath = "{template}"\n'))
    assert code == 0
    assert lines[:4] == [
        "warning: services: no service configured, so /release start has nothing to release "
        "(add a [[services]] table)",
        f"warning: checklist.path: {template}:2: '[x]' does not tick the box: every release "
        "starts with all boxes open; expected '- [ ]'",
        f"warning: checklist.path: {template}: no item has marks=production_deployed, so "
        "post-deploy monitoring never starts (expected it on the 'deployed to production' item)",
        f"warning: checklist.path: {template}: no sign-offs, so no role ever approves a phase "
        "(expected '- [ ] ... {signoff=KEY role=ROLE phase=PHASE}')",
    ]
    assert lines[4].startswith("OK: ")
    assert len(lines) == 5


def test_the_example_config_and_template_pass_without_warnings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Keep the shipped example free of warnings (one OK line)."""
    monkeypatch.chdir(REPO)
    code, lines = _check(REPO / "config" / "releasebot.example.toml")
    assert code == 0
    assert len(lines) == 1 and lines[0].startswith("OK: ")


def test_checklist_limit_defaults_match_the_parser() -> None:
    """Keep [checklist]'s defaults equal to bot.checklist.limits (config may not import it)."""
    from bot.checklist.limits import DEFAULT_LIMITS
    from bot.cli import template_limits
    from bot.config import default_settings

    assert template_limits(default_settings()) == DEFAULT_LIMITS
    assert TEMPLATE.stat().st_size * 10 < (DEFAULT_LIMITS.max_bytes or 0)
