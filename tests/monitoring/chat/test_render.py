"""Pure rendering of monitoring alerts and windows: values, rules, mentions, Discord limits."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from PIL import Image

from bot.chat.layout import limit_problems
from bot.monitoring.chat.render import (
    ping_text,
    render_alert,
    render_closing,
    render_window_status,
)
from bot.monitoring.domain import (
    ConditionState,
    Measurement,
    MonitoringWindow,
    format_limit,
    format_measure,
    summarize,
)
from bot.monitoring.domain.records import (
    AlertKind,
    AlertRecord,
    AlertStatus,
    Silence,
    StoredCondition,
    WindowRecord,
)
from bot.monitoring.service.evaluation import adhoc_condition
from bot.monitoring.service.views import AlertView, ConditionLine, WindowView
from tests.monitoring.service.harness import ERROR_RATE

NOW = datetime(2026, 1, 5, 9, 10, tzinfo=UTC)


def mention(key: str) -> str:
    """Return a fake role mention."""
    return f"<@&{key}>"


def measurement(value: float | None, minutes: int = 0, query: str = "q") -> Measurement:
    """Return an error-rate measurement."""
    at = NOW + timedelta(minutes=minutes)
    return Measurement.of("error_rate", at, value, threshold=0.01, op=">", query=query)


def alert_view(
    status: AlertStatus = AlertStatus.FIRING,
    kind: AlertKind = AlertKind.BREACH,
    silence: Silence | None = None,
    query: str = "q",
    series: int = 3,
) -> AlertView:
    """Return an alert view with `series` measurements."""
    points = tuple(measurement(0.05, 5 * i, query) for i in range(series))
    alert = AlertRecord(
        1,
        7,
        "gw",
        "error_rate",
        "Error rate",
        "P1",
        kind,
        status,
        NOW,
        NOW,
        "condition_met",
        points[-1],
        id=3,
        evaluations=series,
    )
    return AlertView(alert, "gw v1.0.0", points, ERROR_RATE, silence, (), NOW)


def test_alert_shows_value_rule_query_time_and_mentions_in_content():
    """Put the value and rule in content with the mentions; the embed has the rest."""
    rendered = render_alert(alert_view(), mention)
    content = rendered.spec.content
    assert content.startswith("<@&oncall> <@&devops> 🔴 **Rollback condition met: Error rate**")
    assert "0.05 (breach if > 0.01)" in content
    (embed,) = rendered.spec.embeds
    assert "<@&" not in embed.description
    fields = {f.name: f.value for f in embed.fields}
    assert fields["Measured at"] == "2026-01-05 09:20:00 UTC"
    assert fields["Query"] == "```\nq\n```"
    assert fields["Verdict history (last 3)"].count("BREACH") == 3
    assert limit_problems(rendered.spec) == []
    assert Image.open(io.BytesIO(rendered.chart)).format == "PNG"


def test_alert_stays_within_discord_limits_with_a_huge_query_and_history():
    """Clip a 5,000-character query and keep 12 history lines: every limit holds."""
    rendered = render_alert(alert_view(query="x" * 5000, series=200), mention)
    assert limit_problems(rendered.spec) == []
    fields = {f.name: f.value for f in rendered.spec.embeds[0].fields}
    assert "Verdict history (last 12)" in fields


def test_blind_alert_says_no_data_never_a_number():
    """Show "no data" for a blind episode."""
    view = alert_view(AlertStatus.BLIND, AlertKind.BLIND)
    blind = AlertView(
        view.alert, view.release_name, (measurement(None),), view.watched, None, (), NOW
    )
    blind.alert.measurement = measurement(None)
    content = render_alert(blind, mention).spec.content
    assert "🙈 **Monitoring blind: Error rate**" in content
    assert "no data" in content


def test_silence_removes_mentions_and_pings_and_says_why():
    """Mention nobody while silenced; say until when, by whom and why."""
    silence = Silence(NOW + timedelta(hours=1), "known canary noise", "4", "Omar")
    view = alert_view(silence=silence)
    content = render_alert(view, mention).spec.content
    assert "<@&" not in content
    assert "Silenced until 2026-01-05 10:10:00 UTC by Omar: known canary noise" in content
    assert ping_text(view, mention, "met") is None
    assert ping_text(alert_view(), mention, "met").startswith("<@&oncall> <@&devops>")
    assert ping_text(alert_view(), mention, "update") is None


def test_acknowledged_alert_disables_its_button():
    """Grey out Acknowledge once someone acknowledged."""
    view = alert_view()
    view.alert.acknowledged_by_name, view.alert.acknowledged_at = "Omar", NOW
    rendered = render_alert(view, mention)
    (row,) = rendered.spec.rows
    assert [(b.label, b.disabled) for b in row] == [
        ("Acknowledged", True),
        ("Roll back", False),
        ("Silence for…", False),
    ]
    assert [b.custom_id for b in row] == ["rb:alert-ack:3", "rb:rollback:7", "rb:alert-silence:3"]
    assert "Acknowledged by Omar at 2026-01-05 09:10:00 UTC" in rendered.spec.content


def window_view(values: list[float | None]) -> WindowView:
    """Return a window view measured `values`."""
    record = WindowRecord(
        7,
        "gw",
        MonitoringWindow(NOW),
        (ERROR_RATE,),
        id=1,
        polls_done=4,
        next_due_at=NOW + timedelta(minutes=5),
        polls_coalesced=2,
    )
    series = [measurement(v, 5 * i) for i, v in enumerate(values)]
    state = ConditionState("error_rate", last=series[-1] if series else None)
    line = ConditionLine("error_rate", "Error rate", StoredCondition(state), ERROR_RATE)
    return WindowView(record, "gw v1.0.0", (line,), summarize(series), (), NOW)


def test_window_status_shows_schedule_next_poll_and_last_verdict():
    """Show stages, the next poll, polls done (with coalesced slots) and the last verdict."""
    embed = render_window_status(window_view([0.001, 0.002]))
    assert "every 5m until 1h, then every 30m until 1d" in embed.description
    assert "**Next poll:** 2026-01-05 09:15:00 UTC" in embed.description
    assert "**Polls done:** 4 (2 missed slots coalesced)" in embed.description
    (field,) = embed.fields
    assert field.name == "Error rate (breach if > 0.01, 2 in a row, P1)"
    assert field.value.startswith("last PASS 0.002 at 2026-01-05 09:15:00 UTC")


def test_closing_summary_asks_oncall_and_never_calls_no_data_healthy():
    """Mention On-call in content; an all-no-data window is not "healthy throughout"."""
    healthy = render_closing(window_view([0.001, 0.002]), mention)
    assert healthy.content.startswith("<@&oncall> Post-release monitoring of gw v1.0.0 is over")
    assert "healthy throughout" in healthy.content
    blind = render_closing(window_view([None, None]), mention)
    assert "healthy" not in blind.content
    assert "worst verdict INCONCLUSIVE" in blind.content
    empty = render_closing(window_view([]), mention)
    assert "never counted as healthy" in empty.embeds[0].description


def test_a_pushed_alert_without_a_value_says_firing_from_alertmanager():
    """An Alertmanager push with no value annotation reads "firing", never "no data"."""
    view = alert_view()
    pushed = AlertView(
        replace(view.alert, source="alertmanager", measurement=measurement(None)),
        view.release_name,
        (measurement(None),),
        view.watched,
        None,
        (),
        NOW,
    )
    rendered = render_alert(pushed, mention)
    assert "Error rate** on gw v1.0.0 — firing (from Alertmanager)" in rendered.spec.content
    assert "no data" not in rendered.spec.content
    fields = {f.name: f.value for f in rendered.spec.embeds[0].fields}
    assert fields["Measured value"] == "firing (from Alertmanager)"


def test_an_alertmanager_only_condition_never_reads_breach_if_above_0():
    """A condition only Alertmanager knows has a stand-in threshold 0: its value is shown with
    "firing (from Alertmanager)", never "(breach if > 0)"."""
    adhoc = adhoc_condition("disk_pressure", "P2", 3)
    pushed_at = Measurement.of("disk_pressure", NOW, 3.0, threshold=0.0, op=">", query="q")
    view = alert_view()
    pushed = AlertView(
        replace(view.alert, source="alertmanager", measurement=pushed_at),
        view.release_name,
        (pushed_at,),
        adhoc,
        None,
        (),
        NOW,
    )
    rendered = render_alert(pushed, mention)
    assert "— 3, firing (from Alertmanager)" in rendered.spec.content
    assert "breach if > 0" not in rendered.spec.content
    fields = {f.name: f.value for f in rendered.spec.embeds[0].fields}
    assert fields["Threshold"] == "Alertmanager's rule"


def test_a_ratio_condition_reads_as_a_percentage_and_seconds_as_ms():
    """5 % errors read "5.0 % (breach if > 1 %)"; a P95 of 0.73 s reads "730 ms"."""
    view = alert_view()
    ratio = AlertView(
        view.alert,
        view.release_name,
        view.series,
        replace(ERROR_RATE, unit="ratio"),
        None,
        (),
        NOW,
    )
    rendered = render_alert(ratio, mention)
    assert "5.0 % (breach if > 1 %)" in rendered.spec.content
    fields = {f.name: f.value for f in rendered.spec.embeds[0].fields}
    assert (fields["Measured value"], fields["Threshold"]) == ("5.0 %", "breach if > 1 %")
    assert "BREACH 5.0 %" in fields["Verdict history (last 3)"]
    assert format_measure(0.73, "seconds") == "730 ms"
    assert format_limit(0.5, "seconds") == "500 ms"
    assert Image.open(io.BytesIO(rendered.chart)).format == "PNG"
