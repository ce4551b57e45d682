"""Secrets never reach outbox.last_error nor the retry WARNING (issue 12)."""

from __future__ import annotations

import logging

import pytest

from bot.core.redaction import MASK, install_redaction
from bot.runtime.outbox import DeliveryFailed, OutboxDispatcher, OutboxMessage
from bot.store.db import make_session_factory
from bot.store.outbox import SqlOutboxStore

ROUTING_KEY = "R0UTING-KEY-a1b2c3d4e5f6"


class EchoingPagerDuty:
    """A sender whose endpoint echoes the request, routing key included, in its error (a fake)."""

    async def send(self, msg: OutboxMessage) -> str | None:
        """Fail the way PagerDuty's 400 answer does when it quotes the event back."""
        raise DeliveryFailed(
            True,
            f'HTTP 400: {{"routing_key": "{ROUTING_KEY}", "message": "Event object is invalid"}}',
        )


async def test_an_echoed_routing_key_is_redacted_in_last_error_and_logs(
    engine, clock, caplog: pytest.LogCaptureFixture
):
    """The stored error and every retry WARNING show [redacted] instead of the routing key."""
    install_redaction([ROUTING_KEY])
    store = SqlOutboxStore(make_session_factory(engine))
    await store.enqueue("pagerduty", {"n": 1}, "page-1", clock.now())
    dispatcher = OutboxDispatcher(store, {"pagerduty": EchoingPagerDuty()}, clock)
    with caplog.at_level(logging.DEBUG):
        await dispatcher.dispatch_due()
    [(message, last_error)] = await store.messages()
    assert message.status == "pending"
    assert last_error is not None and MASK in last_error
    assert ROUTING_KEY not in last_error
    assert any("retry" in record.getMessage() for record in caplog.records)
    assert ROUTING_KEY not in caplog.text
