"""A small incident world on real SQLite: services, timers, outbox, fake chat directory.

Only the chat platform is replaced (by `FakeDirectory`, a plain dict-backed fake: nothing
Discord-like can run in a service test); everything else is the real store, timer service,
outbox store and dispatcher.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.config import Settings, build_settings
from bot.core.actors import AccessPolicy, Actor
from bot.core.clock import FakeClock
from bot.incidents.service.oncall import OncallService
from bot.incidents.service.use_cases import IncidentService
from bot.releases.service import ReleaseService
from tests.support.store import backbone

PRIMARY, SECONDARY, TECH, MANAGER, STRANGER, LEAD = "100", "200", "300", "400", "900", "500"
STAKEHOLDER, DEV = "600", "700"
TECH_LEAD = Actor(TECH, "Tom", frozenset({"tech_lead"}))
EM = Actor(MANAGER, "Emma", frozenset({"eng_manager"}))
ONCALL_PERSON = Actor(PRIMARY, "Omar", frozenset())  # paged, but holds no incident role
NOBODY = Actor(STRANGER, "Sam", frozenset({"dev_team"}))
RELEASE_LEAD = Actor(LEAD, "Ann", frozenset({"release_lead"}))


class FakeDirectory:
    """Answer role membership and member names from dicts (a fake of the chat platform)."""

    def __init__(
        self, roles: Mapping[str, Sequence[str]], names: Mapping[str, str] | None = None
    ) -> None:
        self.roles = {key: list(ids) for key, ids in roles.items()}
        self.names = dict(names or {})

    async def role_members(self, role_key: str) -> Sequence[str]:
        """Return the ids holding `role_key`."""
        return tuple(self.roles.get(role_key, ()))

    async def user_id(self, ref: str) -> str | None:
        """Return the id of a member name."""
        return self.names.get(ref)


def default_directory() -> FakeDirectory:
    """Return the cast: on-call 100 (secondary 200), Tech Lead 300, EM 400, stakeholders 600."""
    return FakeDirectory(
        {
            "tech_lead": [TECH],
            "eng_manager": [MANAGER],
            "stakeholders": [STAKEHOLDER],
            "dev_team": [DEV, STRANGER],
        },
        {"omar": PRIMARY, "sid": SECONDARY},
    )


def make_settings(raw: Mapping[str, Any] | None = None, **env: str) -> Settings:
    """Return settings from a TOML-like mapping (on-call primary "omar" unless given)."""
    given = dict(raw or {})
    given.setdefault("oncall", {"primary": "omar"})
    return build_settings(given, env=env)


@dataclass
class World:
    """Everything an incident test drives, wired as the app wires it."""

    engine: Any
    clock: FakeClock
    settings: Settings
    directory: FakeDirectory = field(default_factory=default_directory)

    def __post_init__(self) -> None:
        base = backbone(self.engine, self.clock)
        self.uow, self.timers, self.outbox = base.uow, base.timers, base.outbox
        self.background = base.background
        access = AccessPolicy()
        self.oncall = OncallService(self.uow, self.clock, access, self.settings, self.directory)
        self.incidents = IncidentService(self.uow, self.clock, access, self.settings, self.oncall)
        self.incidents.register_timers(self.timers)
        self.channel, self.dm = base.inbox("channel", "kept"), base.inbox("dm", "kept")
        self.pump = base.pump

    def pages_to(self, user_id: str) -> list[dict[str, Any]]:
        """Return the page DMs delivered to `user_id`."""
        return [p for p in self.dm.where(user_id=user_id) if p["notice"] in ("page", "repage")]

    async def pending_kinds(self, incident_id: int) -> list[tuple[str, datetime]]:
        """Return the pending durable timers of an incident as (kind, due)."""
        async with self.uow() as uow:
            records = await uow.timers.pending(ref_id=incident_id)
        return [(r.kind, r.due_at) for r in records if r.kind.startswith("incident.")]


@dataclass(frozen=True)
class Measured:
    """A measurement as monitoring reports it."""

    value: float | None
    threshold: float | None
    query: str | None
    at: datetime


@dataclass(frozen=True)
class Met:
    """A "condition met" event with the fields the monitoring hand-off agreed on."""

    release_id: int
    service: str
    condition: str
    severity: str
    measurement: Measured
    source: str = "poll"
    unit: str = ""
    op: str = ">"


def met(
    release_id: int, at: datetime, condition: str = "error_rate", value: float = 0.034,
    severity: str = "P1",
) -> Met:  # fmt: skip
    """Return an error-rate (by default) breach of `release_id` measured at `at`."""
    query = "sum(rate(http_requests_total{code=~'5..'}[5m]))"
    return Met(release_id, "gw", condition, severity, Measured(value, 0.01, query, at))


async def start_release(service: ReleaseService) -> int:
    """Start release gw v1.2.3 and return its id."""
    release = await service.start(RELEASE_LEAD, service="gw", version="v1.2.3")
    assert release.id is not None
    return release.id
