"""Fuzz the real webhook server (aiohttp on loopback) with thousands of mutated requests.

Bounded and seeded: a fixed number of mutants from a fixed seed, sent over raw loopback
sockets so headers can carry bytes no HTTP client would send (NUL, non-UTF-8). Asserted:
no response is a 5xx, no refused request changed a row in any table, and no configured
secret appears in anything that was logged. The counts are printed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import text

from bot.config import Secrets, default_settings
from bot.monitoring.metrics import MonitoringMetrics
from bot.monitoring.web import WebServer, make_web_app
from tests.monitoring.service.harness import Bench, build_bench
from tests.monitoring.web.test_server import HMAC_SECRET, TOKEN, alert, body
from tests.support.figures import Figures

SEED = 12
MUTANTS = 2_500
IDLE_TIMEOUT = 1.5
SECRETS = (TOKEN, HMAC_SECRET)


def _sign(content: bytes, secret: str = HMAC_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), content, hashlib.sha256).hexdigest()


def _hostile_bodies() -> list[bytes]:
    """The issue's reproducers, each a body that once answered 500."""
    return [
        b'{"version": "4", "alerts": ' + b"[" * 990 + b"]" * 990 + b"}",
        b'{"version": "4", "status": "firing", "alerts": [' + b"9" * 4_400 + b"]}",
        body({**alert(), "startsAt": "9999-12-31T23:59:59-05:00"}),
        json.dumps(
            json.loads(body(alert())) | {"alerts": [{**alert(), "labels": {"alertname": "\ud800"}}]}
        ).encode(),
        body({**alert(), "labels": {"alertname": "错误率过高", "service": "gw"}}),
        body({**alert(), "labels": {"alertname": "🔥", "service": "gw"}}),
        body(
            *[{**alert(), "labels": {"alertname": f"C{i}", "service": "gw"}} for i in range(3_000)]
        ),
        b"\xff\xfe\x00",
        b"",
        b"null",
    ]


def _mutate(rng: random.Random, content: bytes) -> bytes:
    data = bytearray(content)
    for _ in range(rng.randint(1, 6)):
        choice = rng.random()
        position = rng.randrange(len(data) + 1)
        if choice < 0.3 and data:
            del data[position % len(data)]
        elif choice < 0.6:
            data.insert(position, rng.randrange(256))
        elif choice < 0.8 and data:
            data[position % len(data)] = rng.choice(b'{}[]",:0123456789-\\\x00\xff')
        else:
            data[position:position] = rng.choice(
                [
                    b'"\\ud800"',
                    b"1" * 5_000,
                    b"[" * 200,
                    b"-0",
                    b"1e999",
                    b'"9999-12-31T23:59:59-05:00"',
                ]
            )
    return bytes(data)


def _headers(rng: random.Random, content: bytes) -> list[bytes]:
    """Return header lines: mostly a valid credential, sometimes a hostile one."""
    token = TOKEN.encode()
    choices = [
        b"Authorization: Bearer " + token,
        b"X-Releasebot-Signature: " + _sign(content).encode(),
        b"Authorization: Bearer " + token + b"\x00",
        b"Authorization: Bearer \xff\xfe" + token,
        b"Authorization: Basic " + token,
        b"Authorization: " + token + b"\r\nX-Releasebot-Signature: sha256=zz",
        b"X-Releasebot-Signature: sha256=" + b"0" * 64,
        b"X-Releasebot-Signature: \xff" + _sign(content).encode(),
        b"Authorization:" + b" " * 9_000 + token,
        b"",
    ]
    weights = [40, 20, 6, 6, 4, 4, 4, 4, 2, 10]
    return [rng.choices(choices, weights)[0]]


async def _raw(port: int, head: list[bytes], content: bytes) -> int:
    """Send one request over a raw socket; return the HTTP status (0 when the server hung up)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        lines = [b"POST /alertmanager HTTP/1.1", b"Host: 127.0.0.1", *[h for h in head if h]]
        lines += [b"Content-Type: application/json", b"Content-Length: %d" % len(content)]
        lines += [b"Connection: close"]
        writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + content)
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 20)
        await reader.read()
    except (ConnectionResetError, BrokenPipeError):
        return 0
    finally:
        writer.close()
    parts = status_line.split()
    return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else 0


async def _count_query(bench: Bench) -> str:
    """Return one statement counting the rows of every table."""
    async with bench.engine.connect() as conn:
        listed = "SELECT name FROM sqlite_master WHERE type='table' AND name != 'alembic_version'"
        names = [row[0] for row in await conn.execute(text(listed))]
    return " + ".join(f'(SELECT count(*) FROM "{name}")' for name in names)


async def _row_total(bench: Bench, query: str) -> int:
    """Return the number of rows in every table, in one round trip."""
    async with bench.engine.connect() as conn:
        return int((await conn.execute(text(f"SELECT {query}"))).scalar_one())


@pytest.fixture
async def served(engine, clock) -> AsyncIterator[tuple[Bench, WebServer]]:
    """A bench with an open window behind the real web server, with low limits."""
    bench = build_bench(engine, clock)
    settings = default_settings()
    web = settings.web.model_copy(
        update={
            "max_alerts_per_push": 100,
            "max_conditions_per_push": 10,
            "read_timeout_seconds": 2,
        }
    )
    settings = settings.model_copy(update={"web": web})
    secrets = Secrets(
        alertmanager_token=SecretStr(TOKEN), alertmanager_hmac_secret=SecretStr(HMAC_SECRET)
    )
    server = WebServer(
        make_web_app(bench.monitoring, MonitoringMetrics(), settings, secrets),
        "127.0.0.1",
        0,
        idle_timeout=IDLE_TIMEOUT,
    )
    await server.start()
    try:
        await bench.deploy()
        yield bench, server
    finally:
        await server.stop()


async def test_thousands_of_mutated_requests_never_5xx_change_nothing_and_leak_nothing(
    served: tuple[Bench, WebServer],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """0 responses >= 500, 0 rows changed by a refused request, 0 secrets in the logs."""
    bench, server = served
    assert server.port is not None
    rng = random.Random(SEED)
    hostile = _hostile_bodies()
    seeds = [body(alert()), body(alert(), alert(name="availability")), *hostile[:6], *hostile[7:]]
    first = [seeds[0], seeds[1], *hostile]
    count_query = await _count_query(bench)
    statuses: Counter[int] = Counter()
    changed_by_refused = 0
    with caplog.at_level(logging.DEBUG):
        for number in range(MUTANTS):
            content = first[number] if number < len(first) else _mutate(rng, rng.choice(seeds))
            before = await _row_total(bench, count_query)
            status = await _raw(server.port, _headers(rng, content), content)
            statuses[status] += 1
            if status >= 400 or status == 0:
                changed_by_refused += int(await _row_total(bench, count_query) != before)
    server_errors = sum(n for status, n in statuses.items() if status >= 500)
    leaked = sum(caplog.text.count(secret) for secret in SECRETS)
    with capsys.disabled():
        print(
            f"\nwebhook fuzz: {MUTANTS} requests, statuses {dict(sorted(statuses.items()))}, "
            f">=500: {server_errors}, rows changed by refused: {changed_by_refused}, "
            f"secrets in logs: {leaked}"
        )
    assert server_errors == 0
    assert changed_by_refused == 0
    assert leaked == 0
    assert statuses[200] > 0 and sum(n for s, n in statuses.items() if 400 <= s < 500) > 0


async def test_a_slow_client_is_dropped_after_the_read_timeout(
    served: tuple[Bench, WebServer], capsys: pytest.CaptureFixture[str]
) -> None:
    """A body trickling in a byte at a time is cut off with 408 once the read timeout passes."""
    _bench, server = served
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    head = (
        b"POST /alertmanager HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + TOKEN.encode()
        + b"\r\nContent-Length: 1000\r\n\r\n"
    )
    writer.write(head)
    loop = asyncio.get_running_loop()
    started = loop.time()
    status_line = b""
    for _ in range(40):
        writer.write(b" ")
        await writer.drain()
        try:
            status_line = await asyncio.wait_for(reader.readline(), 0.25)
        except TimeoutError:
            continue
        break
    writer.close()
    with capsys.disabled():
        print(f"\nslow client dropped after {loop.time() - started:.2f} s: {status_line!r}")
    assert status_line.split()[1] == b"408"


async def test_a_client_trickling_its_headers_is_dropped_after_the_idle_timeout(
    served: tuple[Bench, WebServer], figures: Figures
) -> None:
    """Headers sent a byte every 0.25 s never finish a request: the connection is closed."""
    _bench, server = served
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    head = b"POST /alertmanager HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
    loop = asyncio.get_running_loop()
    started = loop.time()
    closed_after = None
    for byte in head:
        try:
            writer.write(bytes([byte]))
            await writer.drain()
            if await asyncio.wait_for(reader.read(1), 0.25) == b"":
                closed_after = loop.time() - started
                break
        except TimeoutError:
            continue
        except ConnectionError:
            closed_after = loop.time() - started
            break
    writer.close()
    figures(f"slow headers dropped after {closed_after} s (idle timeout {IDLE_TIMEOUT} s)")
    assert closed_after is not None, "the server kept a header-trickling client open"
    assert closed_after < IDLE_TIMEOUT * 4


async def test_wrong_credentials_are_refused_before_the_body_is_read(
    served: tuple[Bench, WebServer],
) -> None:
    """Headers announcing 10 MB with a wrong token get 401 without one body byte sent."""
    _bench, server = served
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        b"POST /alertmanager HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\n"
        b"Content-Type: application/json\r\nContent-Length: 10000000\r\n\r\n"
    )
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    assert status_line.split()[1] == b"401"


async def test_a_group_keeps_its_usable_alerts_and_a_flood_is_refused_whole(
    served: tuple[Bench, WebServer],
) -> None:
    """Over HTTP: one bad alert is reported and skipped; 3,000 alertnames are a 422, no rows."""
    bench, server = served
    assert server.port is not None
    count_query = await _count_query(bench)
    mixed = body(
        {**alert(), "labels": {"alertname": "错误率过高", "service": "gw"}},
        {**alert(), "startsAt": "9999-12-31T23:59:59-05:00", "fingerprint": "late"},
    )
    head = [b"Authorization: Bearer " + TOKEN.encode()]
    async with httpx.AsyncClient(timeout=20) as client:
        url = f"{server.url}/alertmanager"
        auth = {"Authorization": f"Bearer {TOKEN}"}
        response = await client.post(url, content=mixed, headers=auth)
        assert response.status_code == 200, response.text
        [reason] = response.json()["rejected"]
        assert reason.startswith("alerts[1].startsAt: time is out of range")
        before = await _row_total(bench, count_query)
        flood = body(
            *[{**alert(), "labels": {"alertname": f"C{i}", "service": "gw"}} for i in range(50)]
        )
        refused = await client.post(url, content=flood, headers=auth)
        assert refused.status_code == 422
        assert "50 distinct conditions" in refused.json()["error"]
        assert await _row_total(bench, count_query) == before
    assert await _raw(server.port, head, b"{}") == 400
