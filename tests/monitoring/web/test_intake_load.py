"""Readers never wait for writers: a burst of pushes, one of 3,000 alerts, while /healthz is polled.

The real aiohttp server over a real migrated SQLite file (and the session's PostgreSQL):
50 concurrent clients send valid authenticated pushes. Counts are bounded for the 2-core
machine (400 pushes here, 2,000 in `bench/bench_intake.py`); latencies are printed, never
asserted (the benchmark measures them at full size).
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.monitoring.service.intake import INTAKE_BATCH
from bot.monitoring.store.tables import ActiveAlertRow
from tests.monitoring.service.harness import build_bench
from tests.monitoring.web.load import run_load

CLIENTS = 50
PUSHES = 400
BIG = 3_000


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
