"""Fire durable timers exactly once, in batches where the handlers allow it.

The database holds every due time; whatever wakes us (APScheduler at run time, a test that moved
a fake clock) just calls `fire_due()`. A timer is claimed with a compare-and-set inside the same
transaction as its handler's effects, so a duplicate wake-up or a crash can neither skip nor
repeat it.

Kinds registered with `in_batch=True` (handlers that only write through the unit of work they
are given, never commit it themselves nor wait on the network) fire several to a transaction:
one claim statement for the batch, the handlers, one commit. That spares a transaction per
timer, which is what made 1,000 steps due at once fire seconds late. A batch is bounded in
size and in wall time so it never holds SQLite's write lock for long: each takes as many
timers as fit in `batch_hold` at what each timer's kind cost per timer so far in this wake-up
(at most `batch_size`; kinds cost very differently), and commits early if it runs over. If
any handler of a batch raises, the whole batch rolls back (claims included) and its timers
are fired again one per transaction: the failing one is postponed, the others' effects are
kept, each once.
A kind may also register a batch handler: a run of its claimed timers is then handed over in
one call, so the handler can read and write them with a few statements instead of a few per
timer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.core.clock import Clock
from bot.core.ports import UnitOfWork, UnitOfWorkFactory
from bot.core.timers import TimerRecord

log = logging.getLogger(__name__)

TimerHandler = Callable[[UnitOfWork, TimerRecord, datetime], Awaitable[None]]
BatchHandler = Callable[[UnitOfWork, Sequence[TimerRecord], datetime], Awaitable[None]]


class _BatchFailed(Exception):
    """A handler inside a batch raised; the batch rolled back and is fired one by one."""


@dataclass
class TimerService:
    """Dispatch due timers to the handler registered for their kind."""

    uow: UnitOfWorkFactory
    clock: Clock
    retry_after: timedelta = timedelta(seconds=30)
    handlers: dict[str, TimerHandler] = field(default_factory=dict)
    progress: Callable[[], None] | None = None  # called after each timer (a loop heartbeat)
    # Most timers per transaction, for kinds that allow batching. A batch costs ~10 statements
    # whatever its size, so bigger batches cost less per timer (100 rather than 50: a fifth
    # less CPU on a burst of 1,000 steps); how many go in the next one is fitted to
    # `batch_hold` from what each kind has cost per timer, so a batch stays about that long.
    batch_size: int = 100
    batch_hold: float = 0.05  # seconds of work a batch aims at, and after which it commits
    batched_kinds: set[str] = field(default_factory=set)
    batch_handlers: dict[str, BatchHandler] = field(default_factory=dict)
    # Seconds per timer of each kind's last batch in this wake-up (`_fit` sizes batches by it).
    _cost: dict[str, float] = field(default_factory=dict, init=False, repr=False)

    def register(
        self,
        kind: str,
        handler: TimerHandler,
        *,
        in_batch: bool = False,
        batch: BatchHandler | None = None,
    ) -> None:
        """Handle timers of `kind` with `handler` (one handler per kind).

        `in_batch`: the handler only writes through the unit of work it is given (no commit of
        its own, no network wait), so its timers may share a transaction with others.
        `batch` (implies `in_batch`): fires a run of claimed timers at once, with the same
        effects as `handler` on each in turn; consecutive timers whose kinds share the same
        `batch` callable are given to it together. `handler` still fires a timer alone (the
        one-by-one retry after a failed batch).
        """
        if kind in self.handlers:
            raise ValueError(f"a handler for timer kind {kind!r} is already registered")
        self.handlers[kind] = handler
        if in_batch or batch is not None:
            self.batched_kinds.add(kind)
        if batch is not None:
            self.batch_handlers[kind] = batch

    async def fire_due(self, limit: int = 200) -> int:
        """Fire every timer due now, earliest first; return how many fired."""
        fired, short_rounds = 0, 0
        self._cost.clear()  # batches are timed afresh on each wake-up
        while True:
            now = self.clock.now()
            async with self.uow() as uow:
                due = await uow.timers.due(now, limit)
            before = fired
            for group in self._groups(due):
                if len(group) == 1:
                    fired += await self._fire(group[0], now)
                    self._beat()
                else:
                    fired += await self._fire_group(group, now)
            # A handler may re-store timers that are already due (an incident re-stores its
            # remaining steps under new rows): read again while a round fired anything, a
            # bounded number of times, so they do not wait for the next wake-up.
            short_rounds += len(due) < limit
            if len(due) < limit and (fired == before or short_rounds >= 20):
                return fired

    def _groups(self, due: Sequence[TimerRecord]) -> list[list[TimerRecord]]:
        """Split `due` (in due order) into runs of batchable timers and single timers."""
        groups: list[list[TimerRecord]] = []
        for timer in due:
            batchable = timer.kind in self.batched_kinds
            last = groups[-1] if groups else None
            if batchable and last is not None and last[-1].kind in self.batched_kinds:
                last.append(timer)
            else:
                groups.append([timer])
        return groups

    async def _fire_group(self, group: list[TimerRecord], now: datetime) -> int:
        """Fire a run of batchable timers in batches sized to `batch_hold`."""
        fired, rest = 0, group
        while rest:
            batch = rest[: self._fit(rest)]
            began = time.perf_counter()
            try:
                done, count = await self._fire_batch(batch, now)
            except _BatchFailed:  # one transaction each, the failing one postponed
                for timer in batch:
                    fired += await self._fire(timer, now)
                    self._beat()
                rest = rest[len(batch) :]
                continue
            per_timer = (time.perf_counter() - began) / max(done, 1)
            self._cost.update((t.kind, per_timer) for t in batch[:done])
            fired, rest = fired + count, rest[done:]
        return fired

    def _fit(self, rest: Sequence[TimerRecord]) -> int:
        """Return how many of `rest` the next batch takes: about `batch_hold` of work.

        At most `batch_size`, at least one; a kind not timed yet in this wake-up counts as if
        half of `batch_size` fitted in `batch_hold`.
        """
        guess = self.batch_hold / max(1, self.batch_size // 2)
        spent, taken = 0.0, 0
        for timer in rest[: self.batch_size]:
            spent += self._cost.get(timer.kind, guess)
            if taken and spent > self.batch_hold:
                break
            taken += 1
        return max(1, taken)

    async def _fire_batch(self, timers: list[TimerRecord], now: datetime) -> tuple[int, int]:
        """Claim `timers` in one statement and run their handlers in one transaction.

        Return how many of `timers` were handled (a prefix, cut by `batch_hold`) and how many
        of those fired (the others were claimed elsewhere first).
        """
        began, handled, fired = time.perf_counter(), 0, 0
        try:
            async with self.uow() as uow:
                claimed = await uow.timers.claim_many([t.id for t in timers], now)
                for run in self._runs(timers):
                    handled += len(run)
                    mine = [t for t in run if t.id in claimed]
                    batch = self.batch_handlers.get(run[0].kind)
                    if batch is not None and mine:
                        await batch(uow, mine, now)
                    elif mine:
                        await self.handlers[run[0].kind](uow, mine[0], now)
                    fired += len(mine)
                    if time.perf_counter() - began > self.batch_hold:
                        break
                if handled < len(timers):  # give back the claims of the timers not reached
                    await uow.timers.unclaim([t.id for t in timers[handled:] if t.id in claimed])
                await uow.commit()
        except Exception as error:  # everything rolled back with the claims
            log.warning(
                "a timer in a batch of %d failed (%r); firing them one by one", len(timers), error
            )
            raise _BatchFailed from error
        for _ in range(handled):
            self._beat()
        return handled, fired

    def _runs(self, timers: list[TimerRecord]) -> list[list[TimerRecord]]:
        """Split `timers` into runs sharing one batch handler, and single timers."""
        runs: list[list[TimerRecord]] = []
        for timer in timers:
            batch = self.batch_handlers.get(timer.kind)
            if runs and batch is not None and self.batch_handlers.get(runs[-1][0].kind) == batch:
                runs[-1].append(timer)
            else:
                runs.append([timer])
        return runs

    def _beat(self) -> None:
        if self.progress is not None:
            self.progress()

    async def _fire(self, timer: TimerRecord, now: datetime) -> int:
        handler = self.handlers.get(timer.kind)
        try:
            async with self.uow() as uow:
                if not await uow.timers.claim(timer.id, now):
                    return 0  # someone else fired or cancelled it first
                if handler is None:
                    log.error(
                        "no handler for timer kind %r (timer %s); dropped", timer.kind, timer.id
                    )
                else:
                    await handler(uow, timer, now)
                await uow.commit()
            return 1
        except Exception as error:  # the handler's effects rolled back with the claim
            log.exception(
                "timer %s (%s) failed; retrying in %s", timer.id, timer.kind, self.retry_after
            )
            async with self.uow() as uow:
                await uow.timers.postpone(timer.id, now + self.retry_after, repr(error))
                await uow.commit()
            return 0

    async def next_due(self) -> datetime | None:
        """Return the earliest pending due time."""
        async with self.uow() as uow:
            return await uow.timers.next_due()
