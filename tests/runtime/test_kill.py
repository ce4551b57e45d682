"""Kill test: SIGKILL the bot at random points, then prove no page was lost (issue 13).

The bot runs as a separate process (tests/runtime/killbot.py) on a persistent SQLite file
with the real timer loop and outbox loop, in real time, escalation steps shortened to
seconds by config. A separate receiver process (tests/runtime/receiver.py) records every
delivery, fsync'd before it answers. The bot is killed KILLS times at random points (a fixed
seed): during start-up and migrations, 0-3 ms after the receiver answered a 2xx (before the
bot can record the delivery: the duplicate window), and at random while running (mid-request,
at step timers, after claims).
Then one last run settles and is stopped with SIGTERM, and the test checks:

- every message the bot stored was delivered (lost = 0) and nothing unknown arrived;
- every incident got its trigger and resolve on PagerDuty and the webhook, triggers first;
- each escalation step paged once (a step timer never fired twice);
- duplicates only repeat a key (at-least-once); they are counted and printed;
- no timer is left overdue; `PRAGMA integrity_check` is ok; SIGTERM exits 0.

It runs twice: on a SQLite file and on a database of the real PostgreSQL test server
(`tests.support.postgres`; there the integrity check is SQLite's alone).
"""

from __future__ import annotations

import asyncio
import collections
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.runtime.receiver import read_log
from tests.support.figures import Figures

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SEED = 1313
KILLS = int(os.environ.get("RELEASEBOT_KILL_TEST_KILLS", "22"))
INCIDENTS, SPACING, RESOLVE_AFTER, STEPS = 8, 9.0, 8.0, "0,3,6"


def _spawn(args: list[str], out: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, *args], cwd=ROOT, env=env, stdout=out.open("ab"), stderr=subprocess.STDOUT
    )


def _wait_for(check, within: float, every: float = 0.05) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every)
    return bool(check())


def _rows(db: Path | str, query: str) -> list[tuple]:  # type: ignore[type-arg]
    if isinstance(db, str):  # a PostgreSQL URL
        import asyncpg

        dsn = db.replace("postgresql+asyncpg://", "postgresql://")

        async def fetch() -> list[tuple]:  # type: ignore[type-arg]
            conn = await asyncpg.connect(dsn)
            try:
                return [tuple(row) for row in await conn.fetch(query)]
            finally:
                await conn.close()

        return asyncio.run(fetch())
    with sqlite3.connect(db, timeout=10) as conn:
        return list(conn.execute(query))


def _settled(db: Path | str, log: Path) -> bool:
    if isinstance(db, Path) and not db.exists():
        return False
    try:
        incidents = _rows(db, "SELECT count(*) FROM incidents WHERE status = 'resolved'")
        waiting = _rows(db, "SELECT count(*) FROM outbox WHERE status != 'delivered'")
    except Exception:  # not created yet (sqlite3.Error, asyncpg's UndefinedTableError)
        return False
    return incidents[0][0] == INCIDENTS and waiting[0][0] == 0 and bool(read_log(log))


@pytest.fixture
def kill_db(database: str, tmp_path: Path, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """Yield the bot's database: a SQLite file, or an empty PostgreSQL database's URL."""
    if database == "postgresql":
        server = request.getfixturevalue("postgres_server")
        name = asyncio.run(server.create_database(template=None))
        yield server.url(name)
        asyncio.run(server.drop_database(name))
    else:
        yield tmp_path / "bot.db"


@pytest.mark.parametrize("database", ["sqlite", "postgresql"], indirect=True)
def test_sigkill_at_random_points_loses_no_page(
    tmp_path: Path, figures: Figures, kill_db: Path | str, database: str
) -> None:
    """Kill the bot KILLS times; every stored page is delivered, none lost, dups counted."""
    rng = random.Random(SEED)
    db, log, port_file = kill_db, tmp_path / "deliveries.jsonl", tmp_path / "port"
    receiver = _spawn(
        [str(HERE / "receiver.py"), "--log", str(log), "--port-file", str(port_file)],
        tmp_path / "receiver.out",
    )
    try:
        assert _wait_for(port_file.exists, 30), "the receiver did not start"
        url = f"http://127.0.0.1:{port_file.read_text()}"
        t0 = time.time() + 2
        where = ["--url", db] if isinstance(db, str) else ["--db", str(db)]
        bot_args = [
            str(HERE / "killbot.py"), *where, "--receiver", url, "--t0", str(t0),
            "--incidents", str(INCIDENTS), "--spacing", str(SPACING),
            "--resolve-after", str(RESOLVE_AFTER), "--steps", STEPS,
        ]  # fmt: skip
        bot_out = tmp_path / "bot.out"
        bot_out.touch()
        kills = 0
        started = time.monotonic()
        for _ in range(KILLS):
            ups = bot_out.read_bytes().count(b"killbot: up")
            bot = _spawn(bot_args, bot_out)
            point = rng.random()
            if point < 0.3:  # during start-up: imports, migrations, the first firing
                time.sleep(rng.uniform(0.0, 2.5))
            else:  # while running: sends, step timers, claims
                _wait_for(lambda ups=ups: bot_out.read_bytes().count(b"killbot: up") > ups, 20)
                if point < 0.65:  # 0-3 ms after the receiver answered a 2xx
                    size = log.stat().st_size if log.exists() else 0
                    _wait_for(lambda s=size: log.exists() and log.stat().st_size > s, 4, 0.0005)
                    time.sleep(rng.uniform(0.0, 0.003))
                else:
                    time.sleep(rng.uniform(0.0, 2.5))
            bot.send_signal(signal.SIGKILL)
            bot.wait(10)
            kills += 1
        chaos = time.monotonic() - started
        # The last run: no more kills; wait until everything is delivered, then SIGTERM.
        ups = bot_out.read_bytes().count(b"killbot: up")
        bot = _spawn(bot_args, bot_out)
        up = _wait_for(lambda: bot_out.read_bytes().count(b"killbot: up") > ups, 30)
        settled = up and _wait_for(lambda: _settled(db, log), 120)
        time.sleep(1.0)  # let the loops reach their idle state (and any late duplicate land)
        bot.send_signal(signal.SIGTERM)
        exit_code = bot.wait(30)
    finally:
        receiver.send_signal(signal.SIGKILL)
        receiver.wait(10)

    deliveries = read_log(log)
    outbox = _rows(db, "SELECT idempotency_key, kind, status FROM outbox")
    stored = {key for key, _, _ in outbox}
    received = collections.Counter(d["key"] for d in deliveries)
    lost = sorted(stored - set(received))
    phantom = sorted(set(received) - stored)
    duplicates = sum(n - 1 for n in received.values())
    undelivered = [(k, kind, s) for k, kind, s in outbox if s != "delivered"]
    now = datetime.now(UTC).replace(tzinfo=None)
    overdue = _rows(
        db,
        "SELECT id, kind, due_at FROM timers WHERE status = 'pending' AND due_at < "
        + (
            f"'{(now - timedelta(seconds=2)).isoformat(sep=' ')}'"
            if database == "sqlite"
            else "now() - interval '2 seconds'"
        ),
    )
    integrity = _rows(db, "PRAGMA integrity_check")[0][0] if database == "sqlite" else "n/a"
    figures(
        f"kill test ({database}): seed {SEED}, {kills} SIGKILLs in {chaos:.0f}s, "
        f"expected {len(stored)} messages, delivered {len(received)} distinct "
        f"({len(deliveries)} deliveries), "
        f"lost {len(lost)}, unknown {len(phantom)}, duplicates {duplicates} "
        f"({duplicates / max(kills, 1):.2f} per kill, {duplicates / max(len(stored), 1):.1%}), "
        f"overdue timers {len(overdue)}, integrity {integrity}, SIGTERM exit {exit_code}"
    )
    assert kills >= 20
    assert settled, f"not settled: undelivered {undelivered[:5]}"
    assert lost == [] and undelivered == []
    assert phantom == []  # every delivery is a stored message: a duplicate repeats its key
    assert overdue == []
    assert integrity == ("ok" if database == "sqlite" else "n/a")
    assert exit_code == 0

    incidents = _rows(db, "SELECT id, title, status FROM incidents ORDER BY id")
    assert sorted(t for _, t, _ in incidents) == sorted(
        f"kill test incident {n}" for n in range(INCIDENTS)
    )  # each opened once, whatever the kills
    assert {s for _, _, s in incidents} == {"resolved"}
    for incident_id, _, _ in incidents:
        dedup = f"-{incident_id}"
        for path, trigger, resolve in (
            ("/pd", "trigger", "resolve"),
            ("/hook", "incident.triggered", "incident.resolved"),
        ):
            mine = [
                d["event"] for d in deliveries
                if d["path"] == path and (
                    d["incident"] == incident_id or str(d["dedup_key"] or "").endswith(dedup)
                )
            ]  # fmt: skip
            assert trigger in mine and resolve in mine, (incident_id, path, mine)
            first_trigger = mine.index(trigger)
            follow_ups = [i for i, e in enumerate(mine) if e in ("acknowledge", resolve)]
            assert all(i > first_trigger for i in follow_ups), (incident_id, path, mine)
        # Each escalation step paged once: one distinct channel page key per step.
        page_keys = collections.defaultdict(set)
        for d in deliveries:
            if (
                d["path"] == "/discord/channel"
                and d["event"] == "page"
                and d["incident"] == incident_id
            ):
                step = d["key"].split(":page:")[1].split("-")[0]
                page_keys[step].add(d["key"])
        assert page_keys and all(len(keys) == 1 for keys in page_keys.values()), page_keys
