"""The baseline peer of `bench_clicks`: the least a tick can cost on the project's stack.

A plain discord.py client on SimCord that answers a select click by deferring, recording the
tick as one-row UPDATE with aiosqlite, and editing the one message clicked. No roles, no
audit, no rendering: it is the floor the project's figures are divided by, not a product.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiosqlite
import discord
import simcord

from bench.clicks_common import Burst, Click, emit_select, freeze_world

ITEMS = 30
SELECT_PREFIX = "peer:tick:"


class BaselinePeer(discord.Client):
    """Tick on click: one UPDATE, one message edit, nothing else."""

    def __init__(self, db: Path, burst: Burst) -> None:
        super().__init__(intents=discord.Intents.default())
        self.db_path, self.burst = db, burst
        self.db: aiosqlite.Connection | None = None
        self.statements = 0
        self.writes = asyncio.Lock()  # one connection: one transaction at a time

    async def setup_hook(self) -> None:
        """Open the database and create one row per item of every release."""
        self.db = await aiosqlite.connect(self.db_path)
        await (await self.db.execute("PRAGMA journal_mode=WAL")).close()
        # As the project's engine (bot.store.db): WAL without an fsync per commit.
        await (await self.db.execute("PRAGMA synchronous=NORMAL")).close()
        await (
            await self.db.execute(
                "CREATE TABLE items (release INTEGER, item INTEGER, done TEXT, "
                "PRIMARY KEY (release, item))"
            )
        ).close()
        await self.db.commit()

    async def add_release(self, release: int) -> None:
        """Create the rows of a release's items."""
        assert self.db is not None
        rows = [(release, item) for item in range(ITEMS)]
        await (await self.db.executemany("INSERT INTO items VALUES (?, ?, NULL)", rows)).close()
        await self.db.commit()

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Record the tick and show it on the clicked message."""
        custom_id = str((interaction.data or {}).get("custom_id", ""))
        if not custom_id.startswith(SELECT_PREFIX) or interaction.message is None:
            return
        release = int(custom_id.removeprefix(SELECT_PREFIX))
        item = int(((interaction.data or {}).get("values") or ["0"])[0])  # type: ignore[index]
        await interaction.response.defer()
        assert self.db is not None
        async with self.writes:
            async with self.db.execute(
                "UPDATE items SET done = ? WHERE release = ? AND item = ?",
                (interaction.user.name, release, item),
            ):
                pass
            await self.db.commit()
        self.statements += 1
        await interaction.message.edit(content=f"release {release}: item {item} ticked")
        self.burst.edited((release, item), time.perf_counter())

    async def close(self) -> None:
        """Close the database, then the client."""
        if self.db is not None:
            await self.db.close()
        await super().close()


def _view(release: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    options = [discord.SelectOption(label=f"item {n}", value=str(n)) for n in range(25)]
    view.add_item(discord.ui.Select(custom_id=f"{SELECT_PREFIX}{release}", options=options))
    return view


async def run(
    waves: Sequence[Sequence[tuple[int, int]]], releases: int, burst: Burst, *, freeze: bool = True
) -> Burst:
    """Open `releases` rooms, then emit each wave of (release, item) clicks at once.

    With `freeze`, the world built before the clicks is frozen first, as for the project.
    """
    with tempfile.TemporaryDirectory() as folder:
        peer = BaselinePeer(Path(folder) / "peer.db", burst)
        async with simcord.run(peer, settle_timeout=300) as env:
            guild = env.create_guild("Peer")
            channel = guild.create_text_channel("releases")
            people = [guild.add_member(env.create_user(f"dev{n}")) for n in range(25)]
            messages: dict[int, Any] = {}
            for release in range(releases):
                await peer.add_release(release)
                sent = await peer.get_channel(channel.id).send(  # type: ignore[union-attr]
                    f"release {release}", view=_view(release)
                )
                messages[release] = sent
            if freeze:
                freeze_world()
            with burst.measuring():
                for wave in waves:
                    for n, (release, item) in enumerate(wave):
                        click = Click(key=(release, item), message_id=messages[release].id)
                        burst.emitted(click, time.perf_counter())
                        emit_select(
                            env,
                            people[n % len(people)],
                            messages[release],
                            f"{SELECT_PREFIX}{release}",
                            [str(item)],
                        )
                    await env.settle(timeout=300)
            burst.statements = peer.statements
            burst.edits = sum(1 for r in env.http_requests if r.method == "PATCH")
            await peer.close()
    return burst


def main() -> None:
    """Run one burst of 22 clicks on one release and print its figures."""
    burst = asyncio.run(run([[(0, n) for n in range(22)]], 1, Burst()))
    print(burst.summary())


if __name__ == "__main__":
    main()
