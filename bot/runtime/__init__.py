"""Background machinery: the wake-up scheduler and the outbox loop."""
