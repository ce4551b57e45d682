"""The release-agnostic kernel: actors, audit, clock, errors, ports, timers, roles, events."""
