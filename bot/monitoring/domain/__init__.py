"""Post-deploy monitoring, pure: the poll schedule, verdicts, per-condition tracking, summaries."""

from __future__ import annotations

from bot.core.units import format_limit, format_measure, format_value
from bot.monitoring.domain.schedule import (
    DEFAULT_STAGES,
    CatchUp,
    MonitoringWindow,
    Stage,
    count_polls_between,
    next_poll_after,
    poll_times,
    validate_stages,
)
from bot.monitoring.domain.summary import ConditionSummary, WindowSummary, summarize
from bot.monitoring.domain.tracker import (
    BreachLimitReached,
    ConditionSpec,
    ConditionState,
    FirstBreach,
    MonitoringBlind,
    MonitoringEvent,
    Recovered,
    SightRestored,
    observe,
)
from bot.monitoring.domain.verdicts import (
    DEFAULT_RETRY_AFTER,
    OPERATORS,
    Measurement,
    Operator,
    Verdict,
    check_operator,
    check_threshold,
    classify,
    retry_due,
    worst,
)

__all__ = [
    "DEFAULT_RETRY_AFTER",
    "DEFAULT_STAGES",
    "OPERATORS",
    "BreachLimitReached",
    "CatchUp",
    "ConditionSpec",
    "ConditionState",
    "ConditionSummary",
    "FirstBreach",
    "Measurement",
    "MonitoringBlind",
    "MonitoringEvent",
    "MonitoringWindow",
    "Operator",
    "Recovered",
    "SightRestored",
    "Stage",
    "Verdict",
    "WindowSummary",
    "check_operator",
    "check_threshold",
    "classify",
    "count_polls_between",
    "format_limit",
    "format_measure",
    "format_value",
    "next_poll_after",
    "observe",
    "poll_times",
    "retry_due",
    "summarize",
    "validate_stages",
    "worst",
]
