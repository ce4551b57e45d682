"""`kill -TERM` during a send: the send completes, the process exits 0 in its grace period.

The bot runtime runs as a process (tests/runtime/killbot.py, shutdown_grace 10 s) against a
receiver that takes 3 s to answer. SIGTERM arrives while requests are in flight: they
finish and are recorded delivered, nothing new starts, and the exit status is 0. A second
SIGTERM exits at once.
"""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import pytest

from tests.runtime.receiver import read_log
from tests.runtime.test_kill import HERE, _spawn, _wait_for
from tests.support.figures import Figures

GRACE = 10.0  # killbot's [paging.outbox] shutdown_grace


def _start(tmp_path: Path, delay: float) -> tuple[object, list[str], Path, Path]:
    log, port_file, begun = tmp_path / "log.jsonl", tmp_path / "port", tmp_path / "begun"
    receiver = _spawn(
        [str(HERE / "receiver.py"), "--log", str(log), "--port-file", str(port_file),
         "--delay", str(delay), "--begun-file", str(begun)],
        tmp_path / "receiver.out",
    )  # fmt: skip
    assert _wait_for(port_file.exists, 30)
    url = f"http://127.0.0.1:{port_file.read_text()}"
    args = [str(HERE / "killbot.py"), "--db", str(tmp_path / "bot.db"), "--receiver", url,
            "--t0", str(time.time()), "--incidents", "1", "--resolve-after", "600"]  # fmt: skip
    return receiver, args, log, begun


@pytest.mark.parametrize("signals", [1, 2])
def test_sigterm_during_a_send_finishes_it_and_exits_0(
    tmp_path: Path, signals: int, figures: Figures
) -> None:
    """One SIGTERM: in-flight sends complete, exit 0 within the grace; two: exit at once."""
    receiver, args, log, begun = _start(tmp_path, delay=3.0)
    try:
        bot = _spawn(args, tmp_path / "bot.out")
        assert _wait_for(lambda: begun.exists() and begun.read_text().strip(), 60)
        time.sleep(0.5)  # every send of this pass has begun (each takes 3 s to answer)
        in_flight = set(begun.read_text().split())
        signalled = time.monotonic()
        for _ in range(signals):
            bot.send_signal(signal.SIGTERM)
            time.sleep(0.1)
        code = bot.wait(GRACE + 10)
        took = time.monotonic() - signalled
        time.sleep(0.2)
    finally:
        receiver.send_signal(signal.SIGKILL)
        receiver.wait(10)
    delivered = {d["key"] for d in read_log(log)}
    with sqlite3.connect(tmp_path / "bot.db") as conn:
        status = dict(conn.execute("SELECT idempotency_key, status FROM outbox"))
    figures(f"SIGTERM x{signals}: exit {code} after {took:.1f}s, {len(in_flight)} in flight")
    if signals == 2:
        assert code == 128 + signal.SIGTERM  # the second signal does not wait for the sends
        return
    assert code == 0
    assert took < GRACE + 5  # within the grace period (plus closing), not killed by a timeout
    assert in_flight <= delivered  # every send in flight at the signal completed...
    assert all(status[key] == "delivered" for key in in_flight)  # ...and was recorded
    assert set(begun.read_text().split()) == in_flight  # nothing new started after the signal
    waiting = [key for key in status if key not in in_flight]
    assert all(status[key] in ("pending", "sending") for key in waiting)  # kept for the restart
