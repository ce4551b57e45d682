"""Monitoring: windows, probes, alerts; domain, use-cases, store, probes, cog, web."""
