"""A stand-in for PagerDuty, the signed webhook and Discord that records every delivery.

Used in-process by the fault tests and as a separate process by the kill test
(`python tests/runtime/receiver.py --log FILE --port-file FILE`). Each request it answers
2xx is appended to the log as one JSON line and fsync'd *before* the answer goes out, so a
delivery the bot saw succeed is on disk even if everything is killed right after.
Modes: "up" (202), "down" (503), "throttle" (429, optional Retry-After).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

from aiohttp import web


def describe(path: str, headers: Any, body: bytes) -> dict[str, Any]:
    """Return what a delivery was: channel, key, event and incident."""
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        data = {}
    inner = data.get("payload") if isinstance(data.get("payload"), dict) else {}
    details = inner.get("custom_details") if isinstance(inner.get("custom_details"), dict) else {}
    incident = data.get("incident") if isinstance(data.get("incident"), dict) else {}
    event = data.get("event_action") or data.get("event") or data.get("notice") or "mention"
    return {
        "path": path,
        "key": headers.get("Idempotency-Key"),
        "body_key": data.get("idempotency_key"),
        "nonce": data.get("nonce"),
        "event": event,
        "incident": data.get("incident_id") or incident.get("id") or details.get("incident_id"),
        "dedup_key": data.get("dedup_key"),
        "step": data.get("step") if not isinstance(data.get("step"), dict) else None,
        "fallback": bool(data.get("fallback_for") or data.get("fallback")),
        "content": str(data.get("content") or data.get("text") or "")[:300],
        "sender": headers.get("X-Releasebot-Process"),
        "at": time.time(),
    }


class Receiver:
    """Answer deliveries on 127.0.0.1 and keep (and optionally fsync) what was delivered."""

    def __init__(
        self, log: Path | None = None, *, delay: float = 0.0, begun: Path | None = None
    ) -> None:
        self.delivered: list[dict[str, Any]] = []
        self.refused: list[dict[str, Any]] = []
        self.mode = "up"
        self.retry_after: str | None = None
        self.throttle_left = 0  # in "up" mode: answer this many 429s first
        self.delay = delay  # seconds to wait before answering (a slow receiver)
        self.begun = asyncio.Event()
        self._begun_file = begun
        self._log = log.open("a", encoding="utf-8") if log else None
        self._runner: web.AppRunner | None = None
        self.port = 0

    def url(self, path: str) -> str:
        """Return the URL of `path` on this receiver."""
        return f"http://127.0.0.1:{self.port}{path}"

    async def handle(self, request: web.Request) -> web.Response:
        """Record and answer one delivery."""
        body = await request.read()
        record = describe(request.path, request.headers, body)
        self.begun.set()
        if self._begun_file is not None:  # a request arrived (it may still be answered late)
            with self._begun_file.open("a") as marks:
                marks.write(f"{record['key']}\n")
        if self.delay:
            await asyncio.sleep(self.delay)
        throttled = self.mode == "throttle" or self.throttle_left > 0
        if self.mode == "down" or throttled:
            if self.throttle_left > 0:
                self.throttle_left -= 1
            self.refused.append(record)
            headers = {"Retry-After": self.retry_after} if throttled and self.retry_after else {}
            status = 429 if throttled and self.mode != "down" else 503
            return web.json_response({"status": "refused"}, status=status, headers=headers)
        self.delivered.append(record)
        if self._log is not None:
            self._log.write(json.dumps(record) + "\n")
            self._log.flush()
            os.fsync(self._log.fileno())
        return web.json_response(
            {"status": "success", "dedup_key": record["dedup_key"]}, status=202
        )

    async def start(self, port: int = 0) -> int:
        """Start listening; return the port."""
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self.port

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
        if self._log is not None:
            self._log.close()


def read_log(path: Path) -> list[dict[str, Any]]:
    """Return the deliveries recorded in a receiver log."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def _main(args: argparse.Namespace) -> None:
    begun = Path(args.begun_file) if args.begun_file else None
    receiver = Receiver(Path(args.log), delay=args.delay, begun=begun)
    port = await receiver.start(args.port)
    ready = Path(args.port_file + ".tmp")
    ready.write_text(str(port))  # noqa: ASYNC240 - once, before serving
    ready.replace(args.port_file)  # noqa: ASYNC240 - atomic: readers never see half a number
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--log", required=True)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--begun-file", default=None)
    asyncio.run(_main(parser.parse_args()))
