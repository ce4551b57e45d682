"""Incident rows <-> the Incident value, on-call overrides, incident messages."""
