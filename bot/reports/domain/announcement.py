"""What an announcement says (Discord and email alike), and the email's stable Message-ID."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Keep a Changelog headings, in the order people read them (others follow, as written).
HEADING_ORDER = ("breaking", "security", "added", "changed", "deprecated", "removed", "fixed")
HEADINGS = {
    "breaking": "⚠️ Breaking",
    "security": "🔒 Security",
    "added": "Added",
    "changed": "Changed",
    "deprecated": "Deprecated",
    "removed": "Removed",
    "fixed": "Fixed",
}
VERBS = {
    "production_deployed": "is live in production",
    "completed": "is complete (monitoring passed)",
    "rolled_back": "was rolled back",
}
CHECK_ANNOUNCED = "report.announced"
CHECK_TEAM = "report.team_notified"
CHECK_DURATION = "report.duration"
CHECK_ISSUES = "report.issues"
CHECK_FEEDBACK = "report.feedback"
CHECK_RETRO = "report.retrospective"


@dataclass(frozen=True)
class ChangelogSection:
    """The release's section of the service's CHANGELOG.md: (heading, entries) in order."""

    version: str
    date: str | None
    groups: tuple[tuple[str, tuple[str, ...]], ...]

    @classmethod
    def from_parsed(cls, version: str, parsed: Mapping[str, Any]) -> ChangelogSection:
        """Build from keepachangelog's dict of one version (headings lower-cased)."""
        meta = parsed.get("metadata") or {}
        keys = [k for k in parsed if k != "metadata"]
        keys.sort(
            key=lambda k: HEADING_ORDER.index(k) if k in HEADING_ORDER else len(HEADING_ORDER)
        )
        groups = tuple((k, tuple(str(e) for e in parsed[k])) for k in keys if parsed[k])
        return cls(version, meta.get("release_date"), groups)

    def lines(self) -> list[str]:
        """Return the section as Markdown-ish lines (heading, then bullets)."""
        out: list[str] = []
        for heading, entries in self.groups:
            out.append(f"{HEADINGS.get(heading, heading.title())}:")
            out += [f"  • {entry}" for entry in entries]
        return out

    def as_payload(self) -> dict[str, Any]:
        """Return JSON-ready data for the outbox payload."""
        return {
            "version": self.version,
            "date": self.date,
            "groups": [[h, list(e)] for h, e in self.groups],
        }

    @classmethod
    def from_payload(cls, data: Mapping[str, Any] | None) -> ChangelogSection | None:
        """Return the section stored in a payload (None when there was none)."""
        if not data:
            return None
        groups = tuple((str(h), tuple(str(x) for x in e)) for h, e in data.get("groups", []))
        return cls(str(data.get("version", "")), data.get("date"), groups)


@dataclass(frozen=True)
class Announcement:
    """One announcement of a release event (production deployed, completed, rolled back)."""

    release_id: int
    service: str
    version: str
    lead: str
    kind: str
    changelog: ChangelogSection | None
    note: str = ""

    @property
    def subject(self) -> str:
        """Return the email subject / embed title."""
        return f"{self.service} {self.version} {VERBS.get(self.kind, self.kind.replace('_', ' '))}"

    def body_lines(self, thread_url: str | None = None) -> list[str]:
        """Return the text both the email and the Discord message show."""
        lines = [
            f"{self.subject}.",
            f"Release lead: {self.lead}",
        ]
        if self.note:
            lines.append(self.note)
        lines.append("")
        if self.changelog is not None and self.changelog.groups:
            lines.append(f"What changed in {self.version}:")
            lines += self.changelog.lines()
        else:
            lines.append("What changed: no CHANGELOG section was found for this version.")
        if thread_url:
            lines += ["", f"Release thread: {thread_url}"]
        return lines

    def payload(self) -> dict[str, Any]:
        """Return the outbox payload (rendered again, identically, on every retry)."""
        return {
            "release_id": self.release_id,
            "service": self.service,
            "version": self.version,
            "lead": self.lead,
            "kind": self.kind,
            "note": self.note,
            "changelog": None if self.changelog is None else self.changelog.as_payload(),
        }

    @classmethod
    def from_payload(cls, data: Mapping[str, Any]) -> Announcement:
        """Return the announcement an outbox payload holds."""
        return cls(
            int(data["release_id"]), str(data["service"]), str(data["version"]),
            str(data["lead"]), str(data["kind"]),
            ChangelogSection.from_payload(data.get("changelog")), str(data.get("note", "")),
        )  # fmt: skip


def message_id_for(idempotency_key: str, sender: str) -> str:
    """Return the email's Message-ID, derived from the outbox key (the same on every retry).

    Delivery is at-least-once: a crash after the SMTP server accepted the mail but before
    the outbox marked it sent sends it again after the restart, with this same Message-ID,
    so mail clients and list servers that drop repeats by Message-ID show it once.
    """
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    domain = sender.rpartition("@")[2] or "releasebot.invalid"
    return f"<releasebot.{digest}@{domain}>"


def evidence_items(checks: Sequence[str]) -> list[str]:
    """Return the check keys in a stable order (for messages and tests)."""
    return sorted(set(checks))
