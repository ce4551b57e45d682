"""The one Inbox: an outbox sender that keeps what it was given (the real ones need Discord)."""

from __future__ import annotations

from typing import Any

from bot.runtime.outbox import OutboxMessage


class Inbox:
    """Keep every delivered message (`sent`) and its payload (`got`); answer `detail`."""

    def __init__(self, detail: str | None = None) -> None:
        """Start empty; `send` returns `detail` (what the outbox records as delivered)."""
        self.sent: list[OutboxMessage] = []
        self.detail = detail

    @property
    def got(self) -> list[dict[str, Any]]:
        """Return the payloads delivered so far, oldest first."""
        return [dict(m.payload) for m in self.sent]

    async def send(self, msg: OutboxMessage) -> str | None:
        """Keep the message."""
        self.sent.append(msg)
        return self.detail

    def where(self, **match: Any) -> list[dict[str, Any]]:
        """Return the payloads whose fields equal `match`."""
        return [p for p in self.got if all(p.get(k) == v for k, v in match.items())]
