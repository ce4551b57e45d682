"""Failover: two bot processes on one PostgreSQL, one leads, the standby takes over (issue 19).

Modelled on the kill test: each bot is a separate process (tests/runtime/killbot.py with
`--leader`) with the real leader lock (`bot.runtime.leader`: a PostgreSQL advisory lock on a
dedicated session, an epoch fencing every transaction and every send), the real timer loop
and outbox, in real time, escalation steps shortened to seconds. The receiver process records
every delivery with the process that sent it (`X-Releasebot-Process`). The database is a real
PostgreSQL server (`tests.support.postgres`); only Discord is replaced (see killbot.py).

- SIGKILL the leader between two escalation steps: the standby leads within 15 s, the next
  step pages on time (late by at most the takeover), every step is paged under one key,
  nothing stored is lost.
- SIGSTOP the leader, let the standby take over, SIGCONT the old leader just before the next
  step is due (when it would race the new leader for that step's timer): it sends nothing
  after it was paused, notices it lost the lead and exits 3.
"""

from __future__ import annotations

import asyncio
import collections
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.receiver import read_log
from tests.support.figures import Figures
from tests.support.postgres import PostgresServer

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
LEADS = re.compile(rb"killbot: leader epoch (\d+) at ([0-9.]+)")


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


def _led(out: Path) -> tuple[int, float] | None:
    """Return (epoch, wall time) of the process's "leader" line, if it printed one."""
    found = LEADS.search(out.read_bytes()) if out.exists() else None
    return (int(found[1]), float(found[2])) if found else None


def _rows(url: str, query: str) -> list[Any]:
    import asyncpg

    async def fetch() -> list[Any]:
        dsn = url.replace("postgresql+asyncpg://", "postgresql://")
        conn = await asyncpg.connect(dsn)
        try:
            return list(await conn.fetch(query))
        finally:
            await conn.close()

    return asyncio.run(fetch())


def _pages(deliveries: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Return the channel page deliveries by escalation step index ("0", "1", ...)."""
    pages: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for d in deliveries:
        if d["path"] == "/discord/channel" and d["event"] == "page":
            pages[d["key"].split(":page:")[1].split("-")[0]].append(d)
    return pages


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> Any:
    """Yield the URL of a new, empty PostgreSQL database (the bots migrate it)."""
    name = asyncio.run(postgres_server.create_database(template=None))
    yield postgres_server.url(name)
    asyncio.run(postgres_server.drop_database(name))


class Scene:
    """The receiver and two replicas A and B on one database, torn down at the end."""

    def __init__(self, tmp_path: Path, url: str, steps: str, resolve_after: float) -> None:
        self.tmp, self.url = tmp_path, url
        self.log, port_file = tmp_path / "deliveries.jsonl", tmp_path / "port"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.receiver = _spawn(
            [str(HERE / "receiver.py"), "--log", str(self.log), "--port-file", str(port_file)],
            tmp_path / "receiver.out",
        )
        assert _wait_for(port_file.exists, 30), "the receiver did not start"
        self.receiver_url = f"http://127.0.0.1:{port_file.read_text()}"
        self.t0: float | None = None
        self.steps, self.resolve_after = steps, resolve_after

    def bot(self, name: str) -> tuple[subprocess.Popen[bytes], Path]:
        out = self.tmp / f"{name}.out"
        out.touch()
        if self.t0 is None:  # the incident opens once both replicas had time to start
            self.t0 = time.time() + 8
        proc = _spawn(
            [str(HERE / "killbot.py"), "--url", self.url, "--leader", "--name", name,
             "--lost-after", "6", "--receiver", self.receiver_url, "--t0", str(self.t0),
             "--incidents", "1", "--resolve-after", str(self.resolve_after),
             "--resolve-from-open", "--steps", self.steps],
            out,
        )  # fmt: skip
        self.procs.append(proc)
        return proc, out

    def both(self) -> tuple[tuple[subprocess.Popen[bytes], Path], ...]:
        """Start two replicas at once; return (leader, standby) once one leads."""
        first, second = self.bot("A"), self.bot("B")

        def ready() -> bool:
            waiting = all(b"waits to lead" in out.read_bytes() for _, out in (first, second))
            return waiting and any(_led(out) for _, out in (first, second))

        assert _wait_for(ready, 90), first[1].read_text()[-2000:] + second[1].read_text()[-2000:]
        time.sleep(0.5)
        leading = [pair for pair in (first, second) if _led(pair[1])]
        assert len(leading) == 1  # exactly one leads
        standby = second if leading[0] is first else first
        return leading[0], standby

    def deliveries(self) -> list[dict[str, Any]]:
        return read_log(self.log)

    def close(self) -> None:
        for proc in [*self.procs, self.receiver]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)

    def settled(self) -> bool:
        try:
            resolved = _rows(self.url, "SELECT count(*) FROM incidents WHERE status = 'resolved'")
            waiting = _rows(self.url, "SELECT count(*) FROM outbox WHERE status != 'delivered'")
        except Exception:
            return False
        return resolved[0][0] == 1 and waiting[0][0] == 0

    def check_every_step_once(self, steps: int) -> dict[str, list[dict[str, Any]]]:
        """Each step paged under exactly one key; every stored message delivered; no stranger."""
        deliveries = self.deliveries()
        stored = {row[0] for row in _rows(self.url, "SELECT idempotency_key FROM outbox")}
        received = {d["key"] for d in deliveries}
        assert stored - received == set()  # nothing lost
        assert received - stored == set()  # every delivery is a stored message
        pages = _pages(deliveries)
        assert sorted(pages) == [str(n) for n in range(steps)], sorted(pages)
        for step, sent in pages.items():
            assert len({d["key"] for d in sent}) == 1, (step, sent)  # one key per step
        return pages


def test_sigkill_the_leader_between_steps_the_standby_pages_the_next_on_time(
    tmp_path: Path, pg_url: str, figures: Figures
) -> None:
    """SIGKILL the leader after the first step: B leads within 15 s, steps 2, 3 page on time."""
    scene = Scene(tmp_path, pg_url, steps="0,15,24", resolve_after=28)
    try:
        (a, a_out), (b, b_out) = scene.both()  # a leads, b stands by
        a_name, b_name = a_out.stem, b_out.stem
        assert _wait_for(lambda: "0" in _pages(scene.deliveries()), 40), "step 0 never paged"
        time.sleep(2.0)
        assert _led(b_out) is None  # B stood by while A led
        killed_at = time.time()
        a.send_signal(signal.SIGKILL)
        a.wait(10)
        assert _wait_for(lambda: _led(b_out) is not None, 30), b_out.read_text()[-3000:]
        epoch, led_at = _led(b_out)  # type: ignore[misc]
        takeover = led_at - killed_at
        assert _wait_for(scene.settled, 60), "not settled"
        time.sleep(1.0)  # any late duplicate lands
        pages = scene.check_every_step_once(3)
        opened = _rows(pg_url, "SELECT extract(epoch FROM opened_at) FROM incidents")[0][0]
        late = {}
        for step, after in (("1", 15), ("2", 24)):
            due = float(opened) + after
            first = min(d["at"] for d in pages[step])
            late[step] = first - due
            assert {d["sender"] for d in pages[step]} == {b_name}
            assert first >= due - 0.5, (step, first, due)  # never early
            assert first - due <= max(0.0, led_at - due) + 3.0, (step, first - due, takeover)
        assert {d["sender"] for d in pages["0"]} == {a_name}
        b.send_signal(signal.SIGTERM)
        b_exit = b.wait(30)
    finally:
        scene.close()
    figures(
        f"failover (SIGKILL): standby {b_name} led with epoch {epoch} "
        f"{takeover:.2f}s after the kill; "
        f"step 2 paged {late['1']:+.2f}s from due, step 3 {late['2']:+.2f}s; "
        f"{len(scene.deliveries())} deliveries; its SIGTERM exit {b_exit}"
    )
    assert epoch == 2
    assert takeover < 15.0
    assert b_exit == 0


def test_a_paused_leader_that_resumes_after_losing_the_lead_sends_nothing(
    tmp_path: Path, pg_url: str, figures: Figures
) -> None:
    """SIGSTOP the leader; B takes over; SIGCONT A just before step 2: A sends nothing."""
    scene = Scene(tmp_path, pg_url, steps="0,16,22", resolve_after=26)
    try:
        (a, a_out), (b, b_out) = scene.both()  # a leads, b stands by
        a_name, b_name = a_out.stem, b_out.stem
        assert _wait_for(lambda: "0" in _pages(scene.deliveries()), 40), "step 0 never paged"
        time.sleep(1.0)
        opened = float(_rows(pg_url, "SELECT extract(epoch FROM opened_at) FROM incidents")[0][0])
        stopped_at = time.time()
        a.send_signal(signal.SIGSTOP)
        assert _wait_for(lambda: _led(b_out) is not None, 30), b_out.read_text()[-3000:]
        epoch, led_at = _led(b_out)  # type: ignore[misc]
        step2_due = opened + 16
        # Resume A just before step 2 is due: its own timer loop still plans that step, so
        # without the fence it would race B for the timer and the outbox.
        time.sleep(max(0.0, step2_due - 0.3 - time.time()))
        resumed_at = time.time()
        a.send_signal(signal.SIGCONT)
        a_exit = a.wait(30)
        assert _wait_for(scene.settled, 60), "not settled"
        time.sleep(1.0)
        pages = scene.check_every_step_once(3)
        after_pause = [
            d for d in scene.deliveries() if d["sender"] == a_name and d["at"] >= stopped_at
        ]
        b.send_signal(signal.SIGTERM)
        b.wait(30)
    finally:
        scene.close()
    a_text = a_out.read_text()
    figures(
        f"failover (SIGSTOP): {b_name} led with epoch {epoch} {led_at - stopped_at:.2f}s after "
        f"{a_name} was paused; {a_name} resumed {resumed_at - led_at:.2f}s after that, "
        f"sent {len(after_pause)} message(s) after its pause and exited {a_exit}"
    )
    assert led_at < resumed_at  # A really resumed after it had lost the lead
    assert epoch == 2
    assert after_pause == []
    assert {d["sender"] for d in pages["1"]} == {b_name}
    assert {d["sender"] for d in pages["2"]} == {b_name}
    assert "killbot: lost leadership" in a_text
    assert a_exit == 3
