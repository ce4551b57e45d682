"""Fixtures for paging adapters: a loopback receiver, an httpx client, an in-memory outbox."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.loopback import LoopbackReceiver
from tests.support.memory_outbox import MemoryOutbox


@pytest.fixture
async def receiver() -> AsyncIterator[LoopbackReceiver]:
    """Run a loopback HTTP receiver for the test."""
    server = LoopbackReceiver()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """Return an httpx client that ignores proxy settings (loopback only)."""
    async with httpx.AsyncClient(trust_env=False, timeout=5.0) as client:
        yield client


@pytest.fixture
def store() -> MemoryOutbox:
    """Return an empty in-memory outbox (a fake store, not a mock)."""
    return MemoryOutbox()
