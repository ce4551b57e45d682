"""Incident lifecycle, escalation, on-call roster and SLA clocks, pure."""
