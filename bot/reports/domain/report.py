"""The release report: figures, feedback, lessons and retrospective, as md, JSON and CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from bot.reports.domain.feedback import Tally
from bot.reports.domain.metrics import ReleaseMetrics, duration_text
from bot.reports.domain.ports import Retrospective


@dataclass(frozen=True)
class ReleaseReport:
    """Everything the report shows about one release."""

    metrics: ReleaseMetrics
    tally: Tally
    retrospective: Retrospective | None = None
    previous_release_id: int | None = None
    charts: tuple[str, ...] = field(default_factory=tuple)

    @property
    def title(self) -> str:
        """Return `Release report: gw 1.2.3 (#1)`."""
        m = self.metrics
        return f"Release report: {m.service} {m.version} (#{m.release_id})"

    def figure_lines(self) -> list[str]:
        """Return the headline figures, one per line (the thread shows the same lines)."""
        m = self.metrics
        lines = [
            f"Outcome: {m.outcome.replace('_', ' ')}",
            f"Led by: {m.lead}",
            f"Release duration: {duration_text(m.seconds_total)}",
            f"Start → production: {duration_text(m.lead_time_seconds)}",
            f"Production → close: {duration_text(m.seconds_deploy_to_close)}",
        ]
        lines += [f"Phase {p.key}: {duration_text(p.seconds)}" for p in m.phases]
        by = m.incidents_by_severity()
        lines.append(
            "Incidents: " + (", ".join(f"{sev} × {n}" for sev, n in by.items()) if by else "none")
        )
        for i in m.incidents:
            lines.append(
                f"  {i.incident} ({i.severity}): ack {duration_text(i.seconds_to_ack)}, "
                f"resolved {duration_text(i.seconds_to_resolve)}, pages {i.pages}"
            )
        lines += [
            f"Pages sent: {m.pages}",
            f"Rollbacks: {m.rollbacks}",
            f"Waived items: {len(m.waivers)}",
        ]
        lines += [f"  {w.text or w.item} — {w.reason} ({w.by})" for w in m.waivers]
        lines.append(f"Feedback: {self.tally.line()}")
        lines.append(f"Change failed (DORA): {'yes' if m.failed else 'no'}")
        return lines

    def as_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data (`releasebot report --format json`)."""
        retro = self.retrospective
        return {
            "title": self.title,
            "figures": self.metrics.figures(),
            "lines": self.figure_lines(),
            "feedback": self.tally.as_dict(),
            "lessons": list(self.metrics.notes),
            "retrospective": None
            if retro is None
            else {
                "by": retro.author_name,
                "went_well": retro.went_well,
                "went_badly": retro.went_badly,
                "actions": retro.actions,
                "at": retro.at.isoformat(),
            },
            "previous_release_id": self.previous_release_id,
            "charts": list(self.charts),
        }

    def markdown(self) -> str:
        """Return the report as Markdown."""
        out = [f"# {self.title}", ""]
        out += [f"- {line}" if not line.startswith("  ") else f"  - {line.strip()}"
                for line in self.figure_lines()]  # fmt: skip
        out += ["", "## Lessons learned", ""]
        out += [f"- {note}" for note in self.metrics.notes] or ["- (none noted)"]
        if self.tally.comments:
            out += ["", "## Feedback comments", ""]
            out += [f"- {who}: {text}" for who, text in self.tally.comments]
        out += ["", "## Retrospective", ""]
        retro = self.retrospective
        if retro is None:
            out.append("Not submitted yet.")
        else:
            out += [
                f"By {retro.author_name}, {retro.at:%Y-%m-%d %H:%M} UTC", "",
                f"**Went well:** {retro.went_well}", "",
                f"**Went badly:** {retro.went_badly}", "",
                f"**Actions:** {retro.actions}",
            ]  # fmt: skip
        if self.charts:
            out += ["", "## Charts", ""]
            out += [f"![{name}]({name})" for name in self.charts]
        return "\n".join(out) + "\n"

    def csv(self) -> str:
        """Return the figures as `metric,value` CSV rows (durations in seconds)."""
        m = self.metrics
        rows: list[tuple[str, object]] = [
            ("release_id", m.release_id), ("service", m.service), ("version", m.version),
            ("lead", m.lead), ("outcome", m.outcome), ("started_at", m.started_at.isoformat()),
            ("deployed_at", m.deployed_at.isoformat() if m.deployed_at else ""),
            ("closed_at", m.closed_at.isoformat() if m.closed_at else ""),
            ("seconds_total", m.seconds_total), ("lead_time_seconds", m.lead_time_seconds),
            ("seconds_deploy_to_close", m.seconds_deploy_to_close),
        ]  # fmt: skip
        rows += [(f"phase_seconds.{p.key}", p.seconds) for p in m.phases]
        rows += [(f"incidents.{sev}", n) for sev, n in m.incidents_by_severity().items()]
        rows += [
            ("pages", m.pages), ("rollbacks", m.rollbacks), ("waived_items", len(m.waivers)),
            ("feedback_votes", self.tally.votes), ("feedback_mean", self.tally.mean),
            ("failed", m.failed),
        ]  # fmt: skip
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(("metric", "value"))
        for name, value in rows:
            writer.writerow((name, "" if value is None else value))
        return buffer.getvalue()
