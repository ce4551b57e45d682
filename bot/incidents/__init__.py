"""Incidents: lifecycle, escalation, on-call, SLAs; domain, use-cases, store, paging, cog."""
