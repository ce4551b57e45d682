"""Incidents on Discord: /incident commands, incident buttons, channel and DM delivery."""
