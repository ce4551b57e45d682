"""Monitoring on Discord: window and alert messages, their buttons, /release monitor."""
