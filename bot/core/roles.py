"""The one home of the role keys and the severity levels every feature and the settings use."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Literal

ROLE_KEYS: tuple[str, ...] = (
    "release_lead",
    "tech_lead",
    "devops",
    "oncall",
    "eng_manager",
    "stakeholders",
    "dev_team",
)
"""The roles a checklist, a permission or an escalation step may name (mapped to Discord roles)."""

ROLE_TITLES: Mapping[str, str] = {
    "release_lead": "Release Lead",
    "tech_lead": "Tech Lead",
    "devops": "DevOps",
    "oncall": "On-call Engineer",
    "eng_manager": "Engineering Manager",
    "stakeholders": "Stakeholders",
    "dev_team": "Developers",
}

SeverityLevel = Literal["P0", "P1", "P2", "P3"]
"""A severity as text (settings fields, slash-command choices)."""


class Severity(StrEnum):
    """Rank an incident: P0 is the most urgent."""

    P0 = "P0"
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"

    @classmethod
    def parse(cls, text: str) -> Severity:
        """Return the severity named by `text` ("p1" and "P1" both work)."""
        try:
            return cls(text.strip().upper())
        except ValueError:
            allowed = ", ".join(s.value for s in cls)
            raise ValueError(f"unknown severity {text!r}: expected one of {allowed}") from None


SEVERITY_LEVELS: tuple[str, ...] = tuple(level.value for level in Severity)
