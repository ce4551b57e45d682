"""Shared persistence: engine, migrations runner, and the shared tables (audit, timers, outbox)."""
