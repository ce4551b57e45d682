"""Evidence use-cases: run the checks, tick items as the bot, delete the release branch."""

from bot.evidence.service.checks import (
    NOTICE_KIND,
    OUTBOX_KIND,
    TIMER_KIND,
    BranchPlan,
    EvidenceRun,
    EvidenceService,
    EvidenceSource,
    ItemResult,
    VerifyReport,
)

__all__ = [
    "NOTICE_KIND",
    "OUTBOX_KIND",
    "TIMER_KIND",
    "BranchPlan",
    "EvidenceRun",
    "EvidenceService",
    "EvidenceSource",
    "ItemResult",
    "VerifyReport",
]
