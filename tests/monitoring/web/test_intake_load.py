"""Readers never wait for writers: a burst of pushes, one of 3,000 alerts, while /healthz is polled.

The real aiohttp server over a real migrated SQLite file (and the session's PostgreSQL):
50 concurrent clients send valid authenticated pushes. Counts are bounded for the 2-core
machine (400 pushes here, 2,000 in `bench/bench_intake.py`); latencies are printed, never
asserted (the benchmark measures them at full size).
"""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from bot.monitoring.service.intake import INTAKE_BATCH
from bot.monitoring.store.tables import ActiveAlertRow
from bot.store.tables import AuditRow
from tests.monitoring.service.harness import build_bench
from tests.monitoring.web.load import TOKEN, alert, push_body, run_load, served
from tests.support.actors import NOW

CLIENTS = 50
PUSHES = 400
BIG = 3_000
DEADLOCK_GUARD = 10  # seconds; a hang fails the test instead of blocking the suite


def _audit_row() -> AuditRow:
    return AuditRow(
        release_id=None, at=NOW, actor_id="1", actor_name="tom", action="note",
        target="-", source="cli", detail={},
    )  # fmt: skip


async def _active_alerts(engine: object) -> int:
    async with engine.connect() as conn:  # type: ignore[attr-defined]
        return int((await conn.execute(select(func.count()).select_from(ActiveAlertRow))).scalar())


@pytest.mark.parametrize("database", ["sqlite", "postgresql"], indirect=True)
async def test_a_burst_of_pushes_never_answers_5xx_and_healthz_stays_up(engine, clock):
    """50 clients, one push of 3,000 alerts: every push 200, every /healthz and /readyz 200."""
    bench = build_bench(engine, clock)
    await bench.deploy()
    result = await run_load(bench, clients=CLIENTS, pushes=PUSHES, big=BIG)
    for line in result.lines():
        print(line)
    assert result.failures() == 0
    assert result.push_statuses == {200: PUSHES}
    assert result.big_status == 200
    assert set(result.health_statuses) == {200} and set(result.ready_statuses) == {200}
    # The big push was stored in bounded transactions, not one: at least 3,000 / batch.
    assert len(result.holds) >= PUSHES + BIG // INTAKE_BATCH - 1
    assert await _active_alerts(engine) >= BIG  # every big-* fingerprint recorded


async def test_probes_answer_200_while_a_writer_holds_the_lock(engine, clock):
    """/healthz and /readyz answer 200 while another writer is mid-transaction (lock held)."""
    bench = build_bench(engine, clock)
    await bench.deploy()
    async with (
        served(bench) as url,
        httpx.AsyncClient(timeout=DEADLOCK_GUARD) as http,
        bench.monitoring.uow() as writer,
    ):
        writer.session.add(_audit_row())  # type: ignore[attr-defined]
        await writer.session.flush()  # type: ignore[attr-defined]
        health = await http.get(f"{url}/healthz")
        ready = await http.get(f"{url}/readyz")
        await writer.commit()
    assert health.status_code == 200 and health.json()["open_windows"] == 1
    assert ready.status_code == 200 and ready.json()["database"] == "ok"


async def test_a_push_the_store_cannot_take_is_503_with_retry_after_then_idempotent(engine, clock):
    """Writers' queue full: 503 + Retry-After (never 500); the retry stores each alert once."""
    bench = build_bench(engine, clock)
    await bench.deploy()
    units = bench.monitoring.uow
    units.queue.timeout = 0.05  # type: ignore[attr-defined]
    content = push_body([alert(f"r-{n}") for n in range(250)], 1)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with served(bench) as url, httpx.AsyncClient(timeout=DEADLOCK_GUARD) as http:
        async with units():  # another writer keeps its turn through the push
            busy = await http.post(f"{url}/alertmanager", content=content, headers=headers)
        retried = await http.post(f"{url}/alertmanager", content=content, headers=headers)
        again = await http.post(f"{url}/alertmanager", content=content, headers=headers)
    assert busy.status_code == 503
    assert busy.headers["Retry-After"] == "5" and "busy" in busy.json()["error"]
    assert retried.status_code == 200 and again.status_code == 200
    assert await _active_alerts(engine) == 250
    assert sum("re-sent" in line for line in again.json()["evaluated"]) == 250
