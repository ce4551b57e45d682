"""What `bench_clicks` and its baseline peer share: emitting clicks and timing their edits."""

from __future__ import annotations

import gc
import signal
import statistics
import time
from collections.abc import Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import discord
import simcord
from simcord import Env, MemberActor
from simcord import interactions as sim_interactions
from simcord.backend import serializers
from simcord.enums import ComponentType, InteractionType

__all__ = ["Burst", "Click", "SimCordShare", "emit_select", "freeze_world", "percentile"]

SIMCORD = str(Path(simcord.__file__).resolve().parent)
DISCORD = str(Path(discord.__file__).resolve().parent)
SAMPLE_SECONDS = 0.001  # one sample per millisecond of process CPU


class SimCordShare:
    """Estimate the share of process CPU spent in SimCord, the in-process fake Discord.

    A statistical profiler filtered by file name: a CPU-time timer (`ITIMER_PROF`) interrupts
    the process every millisecond of CPU, and each sample is charged to SimCord if, walking
    the interrupted stack outwards, the first frame from SimCord's or discord.py's package is
    SimCord's. So SimCord's HTTP routes, gateway payload copies, serializers and settle loop
    count as SimCord, while discord.py parsing the events SimCord feeds it (which a bot pays
    on real Discord too) and everything the bot calls count as the bot. Samples with neither
    on the stack (the event loop, the SQLite thread) count as the bot: the estimate errs
    towards charging the bot. The kernel may deliver the timer more coarsely than asked
    (one sample per ~4 ms of CPU was seen): a burst of a few clicks has few samples, and its
    share is rough; the figures over all clicks are the ones to read.
    """

    def __init__(self) -> None:
        self.samples = 0
        self.simcord = 0

    def _sample(self, _signum: int, frame: FrameType | None) -> None:
        self.samples += 1
        while frame is not None:
            name = frame.f_code.co_filename
            if name.startswith(SIMCORD):
                self.simcord += 1
                return
            if name.startswith(DISCORD):
                return
            frame = frame.f_back

    @contextmanager
    def sampling(self) -> Iterator[None]:
        """Sample the process while the block runs."""
        previous = signal.signal(signal.SIGPROF, self._sample)
        signal.setitimer(signal.ITIMER_PROF, SAMPLE_SECONDS, SAMPLE_SECONDS)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0, 0)
            signal.signal(signal.SIGPROF, previous)

    @property
    def fraction(self) -> float:
        """Return the sampled share of CPU that was SimCord's (0 without samples)."""
        return self.simcord / self.samples if self.samples else 0.0


def emit_select(
    env: Env, member: MemberActor, message: discord.Message, custom_id: str, values: Sequence[str]
) -> None:
    """Deliver a select click's gateway event without waiting for the bot to handle it.

    SimCord's actors run one at a time; emitting every event first and settling afterwards
    is how simultaneous clicks reach a bot on Discord.
    """
    backend = env.backend
    stored = backend.get_message(message.channel.id, message.id)
    data = {
        "custom_id": custom_id,
        "component_type": ComponentType.STRING_SELECT,
        "values": list(values),
    }
    _record, payload = sim_interactions.base_payload(
        backend,
        type=InteractionType.MESSAGE_COMPONENT,
        channel_id=message.channel.id,
        guild_id=member.guild.id,
        user_id=member.id,
        data=data,
    )
    payload["message"] = dict(serializers.message_payload(backend, stored))
    backend.emit("INTERACTION_CREATE", payload)


@dataclass(frozen=True)
class Click:
    """One emitted click: what it ticks (`key`) and the message it was made on."""

    key: Hashable
    message_id: int


def percentile(values: list[float], share: float) -> float:
    """Return the `share` percentile of `values` in milliseconds (nearest rank)."""
    ordered = sorted(values) or [0.0]
    if share == 0.5:
        return statistics.median(ordered) * 1000
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] * 1000


@dataclass
class Burst:
    """Clicks of one scenario: when each was emitted and when its edit reached SimCord."""

    clicks: dict[Hashable, Click] = field(default_factory=dict)
    sent: dict[Hashable, float] = field(default_factory=dict)
    done: dict[Hashable, float] = field(default_factory=dict)
    cpu: float = 0.0
    simcord: SimCordShare = field(default_factory=SimCordShare)
    statements: int = 0
    edits: int = 0
    gc: float = 0.0  # CPU seconds of garbage collections inside the measured block

    def emitted(self, click: Click, at: float) -> None:
        """Record that `click`'s gateway event was emitted at `at` (perf_counter)."""
        self.clicks[click.key] = click
        self.sent[click.key] = at

    def edited(self, key: Hashable, at: float) -> None:
        """Record that the first edit showing click `key` reached SimCord at `at`."""
        self.done.setdefault(key, at)

    @contextmanager
    def measuring(self) -> Iterator[None]:
        """Add the process CPU spent in the block to the burst's CPU; sample SimCord's share.

        The CPU of the garbage collections that ran meanwhile is added up too (`gc`): it is
        part of `cpu`, and printed on its own so that a full collection is seen, not guessed.
        """
        started: list[float] = []

        def collecting(phase: str, _info: dict[str, int]) -> None:
            if phase == "start":
                started.append(time.process_time())
            elif started:
                self.gc += time.process_time() - started.pop()

        began = time.process_time()
        gc.callbacks.append(collecting)
        try:
            with self.simcord.sampling():
                yield
        finally:
            gc.callbacks.remove(collecting)
            self.cpu += time.process_time() - began

    @property
    def simcord_cpu(self) -> float:
        """Return the burst's CPU seconds estimated to be SimCord's."""
        return self.cpu * self.simcord.fraction

    @property
    def bot_cpu(self) -> float:
        """Return the burst's CPU seconds that were the bot's own: total minus SimCord."""
        return self.cpu - self.simcord_cpu

    @property
    def latencies(self) -> list[float]:
        """Return emitted-to-edited seconds of every click that got its edit."""
        return [self.done[k] - self.sent[k] for k in self.sent if k in self.done]

    @property
    def missing(self) -> int:
        """Return how many clicks never saw their edit (should be 0)."""
        return sum(1 for k in self.sent if k not in self.done)

    def per_click(self, amount: float) -> float:
        """Return `amount` divided by the number of clicks."""
        return amount / max(1, len(self.sent))

    def summary(self) -> str:
        """Return one line of this burst's own figures."""
        return (
            f"clicks={len(self.sent)} edited p50={percentile(self.latencies, 0.5):.1f} ms "
            f"p99={percentile(self.latencies, 0.99):.1f} ms bot cpu/click="
            f"{self.per_click(self.bot_cpu) * 1000:.2f} ms (total "
            f"{self.per_click(self.cpu) * 1000:.2f}, SimCord {self.simcord.fraction:.0%} of "
            f"{self.simcord.samples} samples) "
            f"sql/click={self.per_click(self.statements):.1f}"
            f" edits/click={self.per_click(self.edits):.2f} "
            f"gc/click={self.per_click(self.gc) * 1000:.2f} ms missing={self.missing}"
        )


def freeze_world() -> None:
    """Collect, then freeze everything alive: the world built before the measured clicks.

    The bot freezes its start-up heap itself (`bot.chat.client.freeze_start_up_heap`); the
    benchmark then builds SimCord's world (guild, members, 100 rooms) and the releases. Left
    in the oldest generation, they would make any full collection during the clicks rescan
    a simulator's world that a deployed bot does not have, and charge it to the bot. Both
    the project and the baseline peer freeze at the same point, and `--no-freeze` shows the
    figures without it.
    """
    gc.collect()
    gc.freeze()
