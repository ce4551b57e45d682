"""Monitoring rows <-> windows, measurements, condition states and alerts."""
