"""run_poll concurrency and timeouts, HttpProbe verdicts, the Kubernetes probe, metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bot.monitoring.domain import Measurement, Operator, Verdict
from bot.monitoring.metrics import MonitoringMetrics
from bot.monitoring.probes.base import KubernetesAvailabilityProbe, Probe, ProbeBase, run_poll
from bot.monitoring.probes.http import HttpProbe
from bot.monitoring.probes.prometheus import PrometheusProbe
from tests.monitoring.probes.prometheus_server import free_port
from tests.monitoring.probes.servers import Reply, ScriptedServer

NOW = datetime(2026, 1, 5, 9, 5, tzinfo=UTC)
SECOND = timedelta(seconds=1)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """Yield one shared AsyncClient, closed after the test."""
    async with httpx.AsyncClient() as shared:
        yield shared


@dataclass
class RecordingProbe(ProbeBase):
    """Wrap a real probe and log when it finishes (or is cancelled), to check ordering."""

    inner: Probe
    log: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        """Report the wrapped probe's identity as our own."""
        ProbeBase.__init__(
            self,
            name=self.inner.name,
            condition=self.inner.condition,
            threshold=self.inner.threshold,
            op=self.inner.op,
            query=self.inner.query,
        )

    async def measure(self, now: datetime) -> Measurement:
        """Measure through the wrapped probe, logging the end even when cancelled."""
        try:
            return await self.inner.measure(now)
        finally:
            self.log.append(f"{self.name} ended")


class BrokenProbe:
    """A probe whose measure() raises, as a buggy adapter might."""

    name = "broken"
    condition = "broken"
    threshold = 1.0
    op: Operator = "<"
    query = "nothing"

    async def measure(self, now: datetime) -> Measurement:
        """Raise instead of measuring."""
        raise RuntimeError("bug in probe")


def prom(
    client: httpx.AsyncClient, server: ScriptedServer, path: str, name: str
) -> PrometheusProbe:
    """Return a Prometheus probe whose base URL routes to `path` on the scripted server."""
    base = server.url(path)
    return PrometheusProbe(client, base, "q", 0.01, ">", 30 * SECOND, condition=name)


async def test_one_hanging_probe_delays_no_other(
    client: httpx.AsyncClient, scripted_server: ScriptedServer
) -> None:
    """Finish fast probes before the hanging one is cut off; only it times out."""
    scripted_server.reply("/slow/api/v1/query", Reply(hang=True))
    for fast in ("a", "b", "c"):
        scripted_server.prometheus_success(
            f"/{fast}/api/v1/query", "vector", [{"metric": {}, "value": [0, "0.5"]}]
        )
    log: list[str] = []
    probes = [RecordingProbe(prom(client, scripted_server, "/slow", "slow"), log)] + [
        RecordingProbe(prom(client, scripted_server, f"/{x}", x), log) for x in ("a", "b", "c")
    ]
    results = await run_poll(probes, NOW, per_probe_timeout=0.5 * SECOND)
    assert [m.condition for m in results] == ["slow", "a", "b", "c"]
    assert [m.verdict for m in results] == [Verdict.ERROR] + [Verdict.BREACH] * 3
    assert results[0].error == "timed out after 0.5s"
    assert results[0].query == "q"
    assert [m.value for m in results[1:]] == [0.5] * 3
    # Serial polling would have logged the slow probe's end first.
    assert log[-1] == "prometheus:slow ended"
    assert sorted(log[:3]) == [f"prometheus:{x} ended" for x in ("a", "b", "c")]


async def test_a_raising_probe_becomes_error_and_others_still_measure(
    client: httpx.AsyncClient, scripted_server: ScriptedServer
) -> None:
    """Turn an exception in one probe into its ERROR without losing the other results."""
    scripted_server.reply("/health", Reply(text="ok"))
    healthy = HttpProbe(client, scripted_server.url("/health"))
    results = await run_poll([BrokenProbe(), healthy], NOW)
    assert results[0].verdict is Verdict.ERROR
    assert results[0].error == "probe raised RuntimeError: bug in probe"
    assert results[1].verdict is Verdict.PASS


async def test_run_poll_rejects_duplicate_names_and_bad_timeout(client: httpx.AsyncClient) -> None:
    """Refuse two probes with one name, and a non-positive timeout."""
    probe = HttpProbe(client, "http://127.0.0.1:1/health")
    with pytest.raises(ValueError, match="repeated: http:health_check"):
        await run_poll([probe, probe], NOW)
    with pytest.raises(ValueError, match="per_probe_timeout must be positive"):
        await run_poll([probe], NOW, per_probe_timeout=timedelta(0))


async def test_http_probe_own_timeout_is_breach_but_poll_guard_is_error(
    client: httpx.AsyncClient, scripted_server: ScriptedServer
) -> None:
    """Judge a slow endpoint as BREACH by the probe's timeout, ERROR when the guard cuts first."""
    scripted_server.reply("/hang", Reply(hang=True))
    quick = HttpProbe(client, scripted_server.url("/hang"), timeout=0.2 * SECOND, name="quick")
    patient = HttpProbe(client, scripted_server.url("/hang"), timeout=30 * SECOND, name="patient")
    quick_result, patient_result = await run_poll([quick, patient], NOW, per_probe_timeout=SECOND)
    assert quick_result.verdict is Verdict.BREACH
    assert quick_result.value == 0.0
    assert quick_result.detail == "unavailable: no answer within 0.2s"
    assert patient_result.verdict is Verdict.ERROR
    assert patient_result.error == "timed out after 1s"


@pytest.mark.parametrize(
    ("reply", "body_match", "verdict", "detail"),
    [
        (Reply(text='{"status":"ok"}'), r'"status":\s*"ok"', Verdict.PASS, "HTTP 200"),
        (Reply(text="ok"), None, Verdict.PASS, "HTTP 200"),
        (
            Reply(status=503, text="down"),
            None,
            Verdict.BREACH,
            "unavailable: HTTP 503, expected 200",
        ),
        (Reply(text="degraded"), "^ok$", Verdict.BREACH, "body does not match /^ok$/"),
    ],
)
async def test_http_probe_verdicts(
    client: httpx.AsyncClient,
    scripted_server: ScriptedServer,
    reply: Reply,
    body_match: str | None,
    verdict: Verdict,
    detail: str,
) -> None:
    """Pass on the expected status and body; breach (value 0) on anything else."""
    scripted_server.reply("/health", reply)
    m = await HttpProbe(client, scripted_server.url("/health"), body_match=body_match).measure(NOW)
    assert m.verdict is verdict
    assert m.value == (1.0 if verdict is Verdict.PASS else 0.0)
    assert detail in m.detail
    assert (m.threshold, m.op) == (1.0, "<")
    assert m.query.startswith(f"GET {scripted_server.url('/health')} expect 200")


async def test_http_probe_refused_connection_is_breach(client: httpx.AsyncClient) -> None:
    """Count a refused connection as unavailable (BREACH), not blind."""
    m = await HttpProbe(client, f"http://127.0.0.1:{free_port()}/health").measure(NOW)
    assert m.verdict is Verdict.BREACH
    assert m.detail.startswith("unavailable: unreachable (ConnectError")


@pytest.mark.parametrize(
    ("url", "status", "pattern", "message"),
    [
        ("ftp://x/health", 200, None, "must be an http"),
        ("http://x/health", 42, None, "expect_status"),
        ("http://x/health", 200, "(unclosed", "not a valid regex"),
    ],
)
async def test_http_probe_rejects_bad_config(
    client: httpx.AsyncClient, url: str, status: int, pattern: str | None, message: str
) -> None:
    """Reject a non-HTTP URL, an impossible status and a broken regex at set-up."""
    with pytest.raises(ValueError, match=message):
        HttpProbe(client, url, status, pattern)


async def test_kubernetes_availability_probe() -> None:
    """Pass at full availability, breach below it, ERROR when the reader fails."""
    ratios = iter([1.0, 0.5])

    async def reader() -> float:
        return next(ratios)

    async def failing() -> float:
        raise ConnectionError("apiserver unreachable")

    probe = KubernetesAvailabilityProbe(reader)
    first, second = await probe.measure(NOW), await probe.measure(NOW)
    assert (first.verdict, first.value) == (Verdict.PASS, 1.0)
    assert (second.verdict, second.value, second.query) == (
        Verdict.BREACH,
        0.5,
        "available/desired replicas",
    )
    failed = await KubernetesAvailabilityProbe(failing).measure(NOW)
    assert failed.verdict is Verdict.ERROR
    assert "apiserver unreachable" in (failed.error or "")


async def test_run_poll_records_metrics(
    client: httpx.AsyncClient, scripted_server: ScriptedServer
) -> None:
    """Count polls and verdicts and observe latency in the bot's own registry."""
    scripted_server.reply("/health", Reply(status=500, text="x"))
    metrics = MonitoringMetrics()
    probe = HttpProbe(client, scripted_server.url("/health"), condition="api_health")
    await run_poll([probe], NOW, metrics=metrics)
    await run_poll([probe], NOW, metrics=metrics)
    metrics.record_alert("condition_met")
    metrics.observe_interaction("sign_off", 0.2)
    text = metrics.exposition().decode()
    assert "releasebot_polls_total 2.0" in text
    assert 'releasebot_verdicts_total{condition="api_health",verdict="breach"} 2.0' in text
    assert 'releasebot_probe_latency_seconds_count{condition="api_health"} 2.0' in text
    assert 'releasebot_alerts_sent_total{kind="condition_met"} 1.0' in text
    assert 'releasebot_interaction_latency_seconds_count{kind="sign_off"} 1.0' in text
    assert MonitoringMetrics().registry is not metrics.registry
