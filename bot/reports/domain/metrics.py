"""A release's figures, computed from its audit timeline only (so anyone can recompute them).

The audit actions read here are the ones the other features write: `start`, `advance`
(target = the phase closed, `to` = the next one), `complete`, `rolled_back`, `abort`,
`waive`, `note`; `monitor_open` (production deployed: the window opens at the deploy),
`monitor_closed|monitor_closed_early|monitor_stopped`; `incident_open|ack|resolve|page`
(target "incident #N", detail `severity`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.core.audit import AuditEvent

FAILING_SEVERITIES = frozenset({"P0", "P1"})
"""An incident of these severities opened inside the monitoring window fails the release."""

OUTCOMES = {"complete": "completed", "rolled_back": "rolled_back", "abort": "aborted"}
WINDOW_ENDS = frozenset({"monitor_closed", "monitor_closed_early", "monitor_stopped"})


@dataclass(frozen=True)
class PhaseSpan:
    """One phase of a release: when it was entered and left (None: still open)."""

    key: str
    started_at: datetime
    ended_at: datetime | None

    @property
    def seconds(self) -> float | None:
        """Return how long the phase lasted."""
        return None if self.ended_at is None else (self.ended_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class IncidentFigures:
    """One incident of the release: severity, opened, acknowledged, resolved, pages."""

    incident: str
    severity: str
    opened_at: datetime
    acked_at: datetime | None = None
    resolved_at: datetime | None = None
    pages: int = 0

    @property
    def seconds_to_ack(self) -> float | None:
        """Return opened -> acknowledged."""
        return None if self.acked_at is None else (self.acked_at - self.opened_at).total_seconds()

    @property
    def seconds_to_resolve(self) -> float | None:
        """Return opened -> resolved (the time to restore)."""
        if self.resolved_at is None:
            return None
        return (self.resolved_at - self.opened_at).total_seconds()


@dataclass(frozen=True)
class Waiver:
    """An item waived, by whom and why."""

    item: str
    text: str
    by: str
    reason: str


@dataclass(frozen=True)
class ReleaseMetrics:
    """Everything the report and DORA need about one release, from its audit timeline."""

    release_id: int
    service: str
    version: str
    lead: str
    started_at: datetime
    outcome: str  # active | completed | rolled_back | aborted
    closed_at: datetime | None
    deployed_at: datetime | None
    window_closed_at: datetime | None
    phases: tuple[PhaseSpan, ...]
    incidents: tuple[IncidentFigures, ...]
    rollbacks: int
    waivers: tuple[Waiver, ...]
    notes: tuple[str, ...]
    feedback_score: float | None = None
    feedback_votes: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds_total(self) -> float | None:
        """Return start -> closed (None while the release runs)."""
        if self.closed_at is None:
            return None
        return (self.closed_at - self.started_at).total_seconds()

    @property
    def lead_time_seconds(self) -> float | None:
        """Return start -> production deploy (the lead time for changes)."""
        if self.deployed_at is None:
            return None
        return (self.deployed_at - self.started_at).total_seconds()

    @property
    def seconds_deploy_to_close(self) -> float | None:
        """Return production deploy -> completion (or rollback/abort)."""
        if self.deployed_at is None or self.closed_at is None:
            return None
        return (self.closed_at - self.deployed_at).total_seconds()

    @property
    def pages(self) -> int:
        """Return the pages sent for the release's incidents."""
        return sum(incident.pages for incident in self.incidents)

    def incidents_by_severity(self) -> dict[str, int]:
        """Return severity -> how many incidents."""
        found: dict[str, int] = {}
        for incident in self.incidents:
            found[incident.severity] = found.get(incident.severity, 0) + 1
        return dict(sorted(found.items()))

    def in_window(self, at: datetime) -> bool:
        """Return whether `at` falls inside the release's monitoring window."""
        if self.deployed_at is None or at < self.deployed_at:
            return False
        end = self.window_closed_at or self.closed_at
        return end is None or at <= end

    @property
    def failed(self) -> bool:
        """Return whether the production release failed (the DORA change-failure rule).

        A release that reached production failed when it was rolled back, or when a P0/P1
        incident opened inside its monitoring window.
        """
        if self.deployed_at is None:
            return False
        if self.outcome == "rolled_back" or self.rollbacks:
            return True
        return any(
            incident.severity in FAILING_SEVERITIES and self.in_window(incident.opened_at)
            for incident in self.incidents
        )

    def figures(self) -> dict[str, Any]:
        """Return the figures as plain JSON-ready data (seconds as numbers, times ISO 8601)."""
        data = asdict(self)
        data = _iso(data)
        data["phases"] = [{**_iso(asdict(p)), "seconds": p.seconds} for p in self.phases]
        data["incidents"] = [
            {
                **_iso(asdict(i)),
                "seconds_to_ack": i.seconds_to_ack,
                "seconds_to_resolve": i.seconds_to_resolve,
            }
            for i in self.incidents
        ]
        data.update(
            seconds_total=self.seconds_total,
            lead_time_seconds=self.lead_time_seconds,
            seconds_deploy_to_close=self.seconds_deploy_to_close,
            pages=self.pages,
            incidents_by_severity=self.incidents_by_severity(),
            failed=self.failed,
        )
        return data


def _iso(data: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in data.items()}


def release_metrics(
    release_id: int,
    service: str,
    version: str,
    lead: str,
    events: Iterable[AuditEvent],
    *,
    first_phase: str | None = None,
    feedback: tuple[float | None, int] = (None, 0),
) -> ReleaseMetrics:
    """Return the figures of release `release_id` from its audit `events` (any order)."""
    ordered = sorted(events, key=lambda e: e.at)
    started_at = next((e.at for e in ordered if e.action == "start"), None)
    if started_at is None:
        started_at = ordered[0].at if ordered else datetime.min.replace(tzinfo=UTC)
    outcome, closed_at = "active", None
    deployed_at = window_closed_at = None
    phases: list[PhaseSpan] = []
    if first_phase is None:
        first_phase = next((e.target for e in ordered if e.action == "advance"), "")
    phase, phase_start = first_phase, started_at
    incidents: dict[str, dict[str, Any]] = {}
    rollbacks = 0
    waivers: list[Waiver] = []
    notes: list[str] = []
    for event in ordered:
        action = event.action
        if action == "advance":
            phases.append(PhaseSpan(event.target, phase_start, event.at))
            phase, phase_start = event.detail.get("to", ""), event.at
        elif action in OUTCOMES and closed_at is None:
            outcome, closed_at = OUTCOMES[action], event.at
            rollbacks += action == "rolled_back"
        elif action == "monitor_open" and deployed_at is None:
            deployed_at = event.at
        elif action in WINDOW_ENDS and window_closed_at is None:
            window_closed_at = event.at
        elif action == "waive":
            waivers.append(
                Waiver(
                    event.target,
                    event.detail.get("text", ""),
                    event.actor_name,
                    event.detail.get("reason", ""),
                )
            )
        elif action == "note":
            notes.append(event.detail.get("text", ""))
        elif action.startswith("incident_"):
            _incident(incidents, event)
    phases.append(PhaseSpan(phase, phase_start, closed_at))
    return ReleaseMetrics(
        release_id=release_id,
        service=service,
        version=version,
        lead=lead,
        started_at=started_at,
        outcome=outcome,
        closed_at=closed_at,
        deployed_at=deployed_at,
        window_closed_at=window_closed_at,
        phases=tuple(phases),
        incidents=tuple(
            IncidentFigures(
                name,
                found["severity"],
                found["opened_at"],
                found.get("acked_at"),
                found.get("resolved_at"),
                found.get("pages", 0),
            )
            for name, found in incidents.items()
            if "opened_at" in found
        ),
        rollbacks=rollbacks,
        waivers=tuple(waivers),
        notes=tuple(notes),
        feedback_score=feedback[0],
        feedback_votes=feedback[1],
    )


def _incident(incidents: dict[str, dict[str, Any]], event: AuditEvent) -> None:
    found = incidents.setdefault(event.target, {})
    severity = event.detail.get("severity")
    if severity:
        found["severity"] = severity
    kind = event.action.removeprefix("incident_")
    if kind == "open":
        found.setdefault("opened_at", event.at)
    elif kind == "ack":
        found.setdefault("acked_at", event.at)
    elif kind == "resolve":
        found.setdefault("resolved_at", event.at)
    elif kind == "page":
        found["pages"] = found.get("pages", 0) + 1
    found.setdefault("severity", "P3")


def incident_events(events: Sequence[AuditEvent]) -> list[AuditEvent]:
    """Return the incident events of a log (for the time to restore)."""
    return [e for e in events if e.action.startswith("incident_")]


def duration_text(seconds: float | None) -> str:
    """Return `1 h 05 min` / `4 min 10 s` / `—` for a duration people read."""
    if seconds is None:
        return "—"
    total = round(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours:02d} h {minutes:02d} min"
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def window_of(metrics: ReleaseMetrics) -> timedelta | None:
    """Return how long the monitoring window was open."""
    if metrics.deployed_at is None:
        return None
    end = metrics.window_closed_at or metrics.closed_at
    return None if end is None else end - metrics.deployed_at
