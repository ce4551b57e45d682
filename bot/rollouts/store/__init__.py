"""Rollout operation rows <-> RolloutOperation, and the in-flight guard."""
