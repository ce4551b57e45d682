"""MonitoringService on SQLite with durable timers and the outbox; probes are scripted fakes."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest

from bot.core.actors import Source
from bot.core.errors import InvalidInput, InvalidTransition, NotAuthorized, UnknownTarget
from bot.monitoring.alertmanager import parse_alertmanager_webhook
from bot.monitoring.domain import DEFAULT_STAGES, Verdict, poll_times
from bot.monitoring.domain.records import AlertKind, AlertStatus, WindowStatus
from bot.monitoring.service.config import POLL_TIMER, RETRY_TIMER
from tests.monitoring.service.harness import ERROR, build_bench, minutes
from tests.support.actors import DEV, LEAD, NOW, ONCALL, STRANGER


@pytest.fixture
def bench(engine, clock):
    """Return a running bench on the migrated database."""
    return build_bench(engine, clock)


async def _pending(bench, kind):
    async with bench.monitoring.uow() as uow:
        return list(await uow.timers.pending(kind=kind))


async def test_production_deploy_opens_window_and_schedules_first_poll(bench):
    """Open a window in the deploy tick's transaction; the first poll is due 5 minutes later."""
    release_id = await bench.deploy()
    view = await bench.monitoring.window_view(release_id=release_id)
    assert view.record.status is WindowStatus.OPEN
    assert view.record.window.opened_at == NOW
    assert view.record.window.closes_at == NOW + timedelta(hours=24)
    assert [c.name for c in view.conditions] == ["error_rate", "availability"]
    assert [t.due_at for t in await _pending(bench, POLL_TIMER)] == [NOW + minutes(5)]
    await bench.pump()
    assert bench.windows.got == [{"window_id": view.record.key, "event": "opened"}]
    actions = [e.action for e in await bench.releases.timeline(release_id)]
    assert "monitor_open" in actions


async def test_polls_every_5_minutes_for_an_hour_then_every_30_minutes_to_24h(bench):
    """Run exactly the seed's 58 polls at their times through the timers, then close."""
    release_id = await bench.deploy()
    await bench.run_until(NOW + timedelta(hours=25))
    times = bench.script.times("error_rate")
    first_hour = [t for t in times if t <= NOW + timedelta(hours=1)]
    assert first_hour == [NOW + minutes(5 * k) for k in range(1, 13)]
    assert times[12:] == [NOW + minutes(60 + 30 * k) for k in range(1, 47)]
    assert times == poll_times(NOW, DEFAULT_STAGES)
    assert len(times) == 58
    view = await bench.monitoring.window_view(release_id=release_id)
    assert view.record.status is WindowStatus.CLOSED
    assert view.record.polls_done == 58
    assert view.record.closed_at == NOW + timedelta(hours=24)
    assert view.summary.healthy
    assert {"window_id": view.record.key, "event": "closed"} in bench.windows.got
    assert await _pending(bench, POLL_TIMER) == []


async def test_two_breaches_meet_the_condition_and_update_one_alert(bench):
    """Warn at the first breach, alert and hand off at the second, edit the same alert after."""
    release_id = await bench.deploy()
    bench.script.values["error_rate"] = 0.05
    await bench.run_until(NOW + minutes(5))
    assert [p["event"] for p in bench.alerts.got] == ["first_breach"]
    assert bench.met == []
    await bench.run_until(NOW + minutes(10))
    assert [p["event"] for p in bench.alerts.got] == ["first_breach", "met"]
    (met,) = bench.met
    assert (met.release_id, met.service, met.condition, met.severity) == (
        release_id,
        "gw",
        "error_rate",
        "P1",
    )
    assert (met.value, met.threshold, met.source) == (0.05, 0.01, "poll")
    assert met.at == NOW + minutes(10)
    assert "http_requests_total" in met.query
    await bench.run_until(NOW + minutes(15))
    assert [p["event"] for p in bench.alerts.got][-1] == "update"
    assert {p["alert_id"] for p in bench.alerts.got} == {met.alert_id}
    view = await bench.monitoring.alert_view(met.alert_id)
    assert (view.alert.status, view.alert.evaluations) == (AlertStatus.FIRING, 3)
    assert [m.verdict for m in view.series] == [Verdict.BREACH] * 3
    bench.script.values["error_rate"] = 0.001
    await bench.run_until(NOW + minutes(20))
    assert bench.alerts.got[-1] == {"alert_id": met.alert_id, "event": "recovered"}
    assert [r.condition for r in bench.recovered] == ["error_rate"]
    assert (await bench.monitoring.alert_view(met.alert_id)).alert.status is AlertStatus.RECOVERED


async def test_availability_is_met_at_the_first_breach(bench):
    """Meet a one-breach condition at once, with no warning first."""
    await bench.deploy()
    bench.script.values["availability"] = 0.5
    await bench.run_until(NOW + minutes(5))
    assert [p["event"] for p in bench.alerts.got] == ["met"]
    assert [(e.condition, e.severity, e.value) for e in bench.met] == [("availability", "P0", 0.5)]


async def test_no_data_goes_blind_after_blind_after_polls_and_is_never_healthy(bench):
    """Alert "monitoring blind" at the third empty poll; the summary is not healthy."""
    release_id = await bench.deploy()
    bench.script.values["error_rate"] = None
    await bench.run_until(NOW + minutes(10))
    assert bench.alerts.got == []
    await bench.run_until(NOW + minutes(15))
    assert [p["event"] for p in bench.alerts.got] == ["blind"]
    view = await bench.monitoring.window_view(release_id=release_id)
    assert not view.summary.healthy
    assert view.summary.for_condition("error_rate").worst is Verdict.INCONCLUSIVE
    (alert,) = view.alerts
    assert (alert.kind, alert.status) == (AlertKind.BLIND, AlertStatus.BLIND)
    bench.script.values["error_rate"] = 0.001
    await bench.run_until(NOW + minutes(20))
    assert bench.alerts.got[-1]["event"] == "restored"


async def test_errored_probe_is_retried_after_10_seconds_until_blind(bench):
    """Retry only the errored condition 10 s later, at most blind_after times a slot."""
    await bench.deploy()
    bench.script.values["error_rate"] = ERROR
    await bench.run_until(NOW + minutes(5))
    retries = await _pending(bench, RETRY_TIMER)
    assert [t.due_at for t in retries] == [NOW + minutes(5) + timedelta(seconds=10)]
    await bench.run_until(NOW + minutes(6))
    slot = NOW + minutes(5)
    assert bench.script.times("error_rate") == [
        slot + timedelta(seconds=s) for s in (0, 10, 20, 30)
    ]
    assert bench.script.times("availability") == [slot]
    assert [p["event"] for p in bench.alerts.got] == ["blind", "update"]
    assert await _pending(bench, RETRY_TIMER) == []


async def test_restart_mid_window_resumes_without_duplicates_or_gaps(engine, clock):
    """Stop the bot after 20 minutes, start a new one on the same database, keep the schedule."""
    first = build_bench(engine, clock)
    await first.deploy()
    await first.run_until(NOW + minutes(22))
    second = build_bench(engine, clock)
    await second.run_until(NOW + timedelta(hours=2))
    times = first.script.times("error_rate") + second.script.times("error_rate")
    expected = [t for t in poll_times(NOW, DEFAULT_STAGES) if t <= NOW + timedelta(hours=2)]
    assert times == expected
    assert first.script.times("error_rate")[-1] == NOW + minutes(20)


async def test_downtime_over_several_slots_runs_one_coalesced_poll_at_start(engine, clock):
    """Run one poll at start-up for the slots missed while down, then the next slot."""
    first = build_bench(engine, clock)
    release_id = await first.deploy()
    await first.run_until(NOW + minutes(12))
    clock.set(NOW + minutes(32))
    second = build_bench(engine, clock)
    await second.pump()
    assert second.script.times("error_rate") == [NOW + minutes(32)]
    await second.run_until(NOW + minutes(40))
    assert second.script.times("error_rate") == [NOW + minutes(m) for m in (32, 35, 40)]
    view = await second.monitoring.window_view(release_id=release_id)
    assert view.record.polls_coalesced == 3
    assert view.record.polls_done == 2 + 3


async def test_crash_mid_probe_reruns_that_poll_once_at_the_next_start(engine, clock):
    """Re-run a claimed but unfinished poll from its lease timer; store it exactly once."""
    first = build_bench(engine, clock)
    await first.deploy()
    first.script.values["error_rate"] = "hang"
    clock.set(NOW + minutes(5))
    task = asyncio.create_task(first.pump())
    await first.script.entered.wait()
    task.cancel()  # the process dies while the probe is out on the network
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await first.measurement_rows() == 0
    clock.set(NOW + minutes(7))
    second = build_bench(engine, clock)
    await second.pump()
    assert second.script.times("error_rate") == [NOW + minutes(7)]
    assert await second.measurement_rows() == 2  # error_rate and availability, once each
    await second.run_until(NOW + minutes(10))
    assert second.script.times("error_rate") == [NOW + minutes(7), NOW + minutes(10)]
    assert await second.measurement_rows() == 4


async def test_second_crash_of_the_same_poll_gives_the_slot_up(engine, clock):
    """Abandon a slot whose poll died twice, audit it, and carry on at the next slot."""
    bench = build_bench(engine, clock)
    release_id = await bench.deploy()
    bench.script.values["error_rate"] = "hang"
    clock.set(NOW + minutes(5))
    for at in (minutes(5), minutes(7)):
        clock.set(NOW + at)
        bench.script.entered.clear()
        bench = build_bench(engine, clock, bench.script)
        task = asyncio.create_task(bench.pump())
        await bench.script.entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    clock.set(NOW + minutes(9))
    bench.script.values["error_rate"] = 0.001
    bench = build_bench(engine, clock, bench.script)
    await bench.pump()
    assert await bench.measurement_rows() == 0
    assert [t.due_at for t in await _pending(bench, POLL_TIMER)] == [NOW + minutes(10)]
    actions = [e.action for e in await bench.releases.timeline(release_id)]
    assert "monitor_poll_abandoned" in actions


async def test_pause_resume_extend_need_the_monitor_role_and_are_audited(bench):
    """Deny a stranger (audited); pause skips slots, resume picks the next, extend moves the end."""
    release_id = await bench.deploy()
    with pytest.raises(NotAuthorized, match="monitor"):
        await bench.monitoring.pause(release_id, STRANGER, Source.BUTTON)
    await bench.run_until(NOW + minutes(6))
    await bench.monitoring.pause(release_id, ONCALL, Source.SLASH)
    with pytest.raises(InvalidTransition, match="already paused"):
        await bench.monitoring.pause(release_id, ONCALL, Source.SLASH)
    await bench.run_until(NOW + minutes(31))
    assert bench.script.times("error_rate") == [NOW + minutes(5)]
    resumed = await bench.monitoring.resume(release_id, ONCALL, Source.SLASH)
    assert resumed.next_due_at == NOW + minutes(35)
    extended = await bench.monitoring.extend(release_id, timedelta(hours=2), ONCALL, Source.SLASH)
    assert extended.window.closes_at == NOW + timedelta(hours=26)
    await bench.run_until(NOW + minutes(40))
    assert bench.script.times("error_rate") == [NOW + minutes(m) for m in (5, 35, 40)]
    with pytest.raises(InvalidInput, match="positive"):
        await bench.monitoring.extend(release_id, timedelta(0), ONCALL, Source.SLASH)
    events = await bench.releases.timeline(release_id)
    denied = [e for e in events if e.action == "denied"]
    assert denied[0].actor_name == "Sam" and denied[0].detail["attempted"] == "monitor"
    actions = [e.action for e in events]
    assert [a for a in actions if a.startswith("monitor_")][1:] == [
        "monitor_pause",
        "monitor_resume",
        "monitor_extend",
    ]


async def test_paused_window_closes_at_its_end(bench):
    """Close a window left paused when its end comes, with the closing message."""
    release_id = await bench.deploy()
    await bench.monitoring.pause(release_id, ONCALL, Source.SLASH)
    await bench.run_until(NOW + timedelta(hours=24, minutes=1))
    view = await bench.monitoring.window_view(release_id=release_id)
    assert view.record.status is WindowStatus.CLOSED
    assert bench.windows.got[-1] == {"window_id": view.record.key, "event": "closed"}


async def test_acknowledge_marks_the_alert_and_tells_the_hooks(bench):
    """Deny a developer (audited), record an on-call ack once, and run the ack hooks."""
    release_id = await bench.deploy()
    bench.script.values["availability"] = 0.0
    await bench.run_until(NOW + minutes(5))
    alert_id = bench.met[0].alert_id
    with pytest.raises(NotAuthorized):
        await bench.monitoring.acknowledge(alert_id, DEV, Source.BUTTON)
    alert = await bench.monitoring.acknowledge(alert_id, ONCALL, Source.BUTTON)
    assert (alert.acknowledged_by_name, alert.acknowledged_at) == ("Omar", NOW + minutes(5))
    assert bench.acks == [(release_id, "availability", "Omar")]
    with pytest.raises(InvalidTransition, match="already acknowledged by Omar"):
        await bench.monitoring.acknowledge(alert_id, ONCALL, Source.BUTTON)
    await bench.pump()
    assert bench.alerts.got[-1] == {"alert_id": alert_id, "event": "acknowledged"}
    with pytest.raises(UnknownTarget):
        await bench.monitoring.acknowledge(999, ONCALL, Source.BUTTON)


async def test_silence_needs_a_reason_and_a_role_and_expires(bench):
    """Silence a condition for 30 minutes with a reason (audited); it lapses by itself."""
    release_id = await bench.deploy()
    bench.script.values["availability"] = 0.0
    await bench.run_until(NOW + minutes(5))
    alert_id = bench.met[0].alert_id
    with pytest.raises(InvalidInput, match="reason"):
        await bench.monitoring.silence(alert_id, minutes(30), "", ONCALL, Source.MODAL)
    with pytest.raises(InvalidInput, match="duration"):
        await bench.monitoring.silence(alert_id, timedelta(days=30), "known", ONCALL, Source.MODAL)
    with pytest.raises(NotAuthorized):
        await bench.monitoring.silence(alert_id, minutes(30), "known issue", LEAD, Source.MODAL)
    silence = await bench.monitoring.silence(
        alert_id, minutes(30), "known issue", ONCALL, Source.MODAL
    )
    assert silence.until == NOW + minutes(35)
    assert (await bench.monitoring.alert_view(alert_id)).silenced
    bench.clock.advance(minutes(30))
    assert not (await bench.monitoring.alert_view(alert_id)).silenced
    events = await bench.releases.timeline(release_id)
    silenced = [e for e in events if e.action == "alert_silence"]
    assert silenced[0].detail["reason"] == "known issue"


async def test_abort_stops_the_window_and_its_timers(bench):
    """Stop watching an aborted release: window stopped, no poll pending."""
    release_id = await bench.deploy()
    await bench.releases.abort(release_id, "bad build", LEAD, Source.SLASH)
    view = await bench.monitoring.window_view(release_id=release_id)
    assert view.record.status is WindowStatus.STOPPED
    assert await _pending(bench, POLL_TIMER) == []
    with pytest.raises(InvalidTransition, match="stopped"):
        await bench.monitoring.pause(release_id, ONCALL, Source.SLASH)


async def test_no_window_before_the_production_deploy(bench):
    """Say that a release without a production deploy has no window."""
    release = await bench.releases.start(LEAD, service="gw", version="v9.0.0")
    with pytest.raises(UnknownTarget, match="no monitoring window yet"):
        await bench.monitoring.pause(release.id, ONCALL, Source.SLASH)


async def test_push_during_a_poll_in_flight_is_kept_and_the_poll_builds_on_it(bench):
    """Evaluate a push while a poll probes; the poll's results then build on the pushed state."""
    release_id = await bench.deploy()
    bench.script.values["error_rate"] = "hang"
    bench.clock.set(NOW + minutes(5))
    task = asyncio.create_task(bench.pump())
    await bench.script.entered.wait()
    report = await bench.monitoring.receive_alertmanager(pushed("error_rate"))
    assert report.evaluated == (f"release #{release_id} error_rate: firing",)
    bench.script.release.set()
    await task
    assert await bench.measurement_rows() == 3  # the push, then the poll's two conditions
    view = await bench.monitoring.window_view(release_id=release_id)
    line = next(c for c in view.conditions if c.name == "error_rate")
    assert line.last is not None and line.last.verdict is Verdict.PASS  # the poll came last
    assert [e.condition for e in bench.met] == ["error_rate"]
    assert [e.condition for e in bench.recovered] == ["error_rate"]
    assert view.record.polls_done == 1


def pushed(condition: str, status: str = "firing"):
    """Return a parsed Alertmanager payload for service gw."""
    body = {
        "version": "4",
        "groupKey": "{}",
        "status": status,
        "receiver": "releasebot",
        "alerts": [
            {
                "status": status,
                "labels": {"releasebot_condition": condition, "service": "gw"},
                "annotations": {"value": "0.07"},
                "startsAt": "2026-03-02T10:04:00Z",
                "fingerprint": "fp1",
            }
        ],
    }
    return parse_alertmanager_webhook(json.dumps(body).encode())
